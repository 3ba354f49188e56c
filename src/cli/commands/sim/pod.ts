/** `terwayctl sim pod add|del|list`: pods through the world's scheduler and kubelet stand-in. */
import { SimClient } from "../../../sim/control/client.ts";
import { validatePrefix } from "../../../sim/layout.ts";
import { ExitError } from "../../errors.ts";
import { printJson, table } from "../../output.ts";

type Common = { prefix: string; namespace: string };

export async function simPodAdd(
	opts: Common & { name: string; node?: string; json: boolean },
): Promise<void> {
	const client = new SimClient(validatePrefix(opts.prefix));
	const pod = await client.addPod({
		namespace: opts.namespace,
		name: opts.name,
		...(opts.node ? { node: opts.node } : {}),
	});
	if (opts.json) printJson(pod);
	else console.log(`pod ${pod.namespace}/${pod.name} bound to ${pod.node}`);
}

export async function simPodDel(opts: Common & { name: string }): Promise<void> {
	const client = new SimClient(validatePrefix(opts.prefix));
	const { deleted } = await client.deletePod(opts.namespace, opts.name).catch((e) => {
		throw new ExitError((e as Error).message);
	});
	if (!deleted) throw new ExitError(`no pod ${opts.namespace}/${opts.name}`);
	console.log(`pod ${opts.namespace}/${opts.name} deleting`);
}

export async function simPodList(opts: { prefix: string; json: boolean }): Promise<void> {
	const pods = await new SimClient(validatePrefix(opts.prefix)).pods();
	if (opts.json) printJson(pods);
	else
		console.log(
			table(
				["namespace", "name", "node", "phase", "ip"],
				pods.map((p) => [p.namespace, p.name, p.node, p.phase, p.podIP]),
			),
		);
}
