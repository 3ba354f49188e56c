/** `terwayctl sim log`: the world's request log; `--follow` polls the control API. */
import type { RequestLogEntry } from "../../../sim/contracts.ts";
import { SimClient } from "../../../sim/control/client.ts";
import { validatePrefix } from "../../../sim/layout.ts";
import { ExitError } from "../../errors.ts";
import { style } from "../../output.ts";

export function formatEntry(e: RequestLogEntry): string {
	const status =
		e.status === undefined ? "" : e.status >= 400 ? style.red(String(e.status)) : String(e.status);
	const ids = [e.instanceId, e.eniId].filter(Boolean).join(" ");
	const extra = [
		e.code,
		e.fault ? `fault ${e.fault}` : "",
		e.durationMs !== undefined ? `${e.durationMs}ms` : "",
	]
		.filter(Boolean)
		.join(" ");
	return `${String(e.seq).padStart(6)} ${e.time.slice(11, 23)} ${e.face.padEnd(8)} ${e.what} ${status} ${ids} ${style.dim(extra)}`.trimEnd();
}

export async function simLog(o: {
	prefix: string;
	since: string;
	face?: string;
	follow?: boolean;
	json: boolean;
}): Promise<void> {
	const client = new SimClient(validatePrefix(o.prefix));
	let since = Number(o.since);
	if (!Number.isInteger(since) || since < 0)
		throw new ExitError(`--since ${JSON.stringify(o.since)}: expected a sequence number`, 2);
	for (;;) {
		const entries = await client.log(since, o.face);
		for (const e of entries) console.log(o.json ? JSON.stringify(e) : formatEntry(e));
		since = entries.at(-1)?.seq ?? since;
		if (!o.follow) return;
		await Bun.sleep(250);
	}
}
