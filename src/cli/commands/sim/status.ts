/** `terwayctl sim status`: the world file plus live counts from the control API. */
import { SimClient } from "../../../sim/control/client.ts";
import { validatePrefix } from "../../../sim/layout.ts";
import { printJson, style, table } from "../../output.ts";

export async function simStatus(opts: { prefix: string; json: boolean }): Promise<void> {
	const client = new SimClient(validatePrefix(opts.prefix));
	const info = client.info();
	const st = await client.status();
	if (opts.json) {
		printJson({ ...info, status: st });
		return;
	}
	console.log(
		`world ${style.bold(info.prefix)}: ${st.phase}, ${info.mode} mode, pid ${info.pid}, up since ${info.startedAt}`,
	);
	console.log(
		table(
			["node", "instance", "primary ip", "enis", "ips", "pods", "netns"],
			st.nodes.map((n) => {
				const i = info.nodes.find((x) => x.name === n.name);
				return [n.name, n.instanceId, i?.primaryIp, n.enis, n.ips, n.pods, i?.netns];
			}),
		),
	);
	console.log(`pods ${st.pods}, active faults ${st.faults}, requests logged ${st.requests}`);
	console.log(
		`openapi http://${info.endpoints.openapi}  apiserver ${info.endpoints.apiserver}  metadata ${info.endpoints.metadata}`,
	);
	console.log(`kubeconfig ${client.paths.kubeconfig}`);
}
