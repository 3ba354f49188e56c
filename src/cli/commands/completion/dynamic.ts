/**
 * `terwayctl __complete pods|enis`: the ids a completion script offers, asked from terwayd over
 * its socket (GET /v1/mapping for pod names as NAMESPACE/NAME, GET /v1/enis for ENI ids), one per
 * line. Prints nothing, and exits 0, when the daemon is down or slow: a completion must never
 * print errors into the user's command line.
 */
import type { EniInfo, MappingRow } from "../../../daemon/api-types.ts";
import { DaemonApi, socketPath } from "../../daemon-api.ts";

export type CompleteWhat = "pods" | "enis";

/** Sorted, de-duplicated ids; [] on any failure. */
export async function completeIds(what: CompleteWhat, socket?: string): Promise<string[]> {
	const api = new DaemonApi(socketPath(socket), 1_500);
	try {
		if (what === "enis") {
			const enis = await api.get<EniInfo[]>("/v1/enis");
			return [...new Set(enis.map((e) => e.id))].sort();
		}
		const rows = await api.get<MappingRow[]>("/v1/mapping");
		return [...new Set(rows.flatMap((r) => (r.pod ? [r.pod] : [])))].sort();
	} catch {
		return [];
	}
}

export async function completeCommand(what: CompleteWhat, socket?: string): Promise<void> {
	const ids = await completeIds(what, socket);
	if (ids.length > 0) process.stdout.write(`${ids.join("\n")}\n`);
}
