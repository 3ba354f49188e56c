/** `terwayctl sim serve` (hidden): the world in the foreground; `sim up` starts it detached. */
import { validatePrefix, type WorldMode } from "../../../sim/layout.ts";
import type { SimCni } from "../../../sim/node-cni.ts";
import { runWorld } from "../../../sim/server.ts";
import { ExitError } from "../../errors.ts";
import { selfArgv } from "./self.ts";

export async function simServe(opts: {
	prefix: string;
	mode: WorldMode;
	nodes?: string;
	scenario?: string;
	state?: string;
	cni?: SimCni;
}): Promise<void> {
	const nodes = opts.nodes === undefined ? undefined : Number(opts.nodes);
	if (nodes !== undefined && (!Number.isInteger(nodes) || nodes < 1))
		throw new ExitError(`--nodes ${JSON.stringify(opts.nodes)}: expected a number >= 1`, 2);
	await runWorld({
		prefix: validatePrefix(opts.prefix),
		mode: opts.mode,
		...(nodes !== undefined ? { nodes } : {}),
		...(opts.scenario ? { scenarioFile: opts.scenario } : {}),
		...(opts.state ? { stateFile: opts.state } : {}),
		...(opts.cni && opts.mode === "netns" ? { cni: opts.cni, self: selfArgv() } : {}),
	});
	process.exit(0);
}
