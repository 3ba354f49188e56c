/**
 * `--pod NS/NAME` for `policy dump`: the maps know addresses and label identities, not pod
 * names, so the pod's addresses come from terwayd's own record of its allocations: the state
 * database read-only (works while terwayd is down), else terwayd's /v1/mapping. A pod IP is
 * accepted as is. A malformed value is a usage error (exit 2), an unknown pod exit 1.
 */
import { Database } from "bun:sqlite";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { formatIP, parseIP } from "../../../core/net/ip.ts";
import type { MappingRow } from "../../../daemon/api-types.ts";
import { DaemonApi, socketPath } from "../../daemon-api.ts";
import { EXIT, ExitError } from "../../errors.ts";

export const DEFAULT_STATE_DIR = "/var/lib/terway";

const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

export type PodRef = { kind: "ip"; ip: string } | { kind: "name"; namespace: string; name: string };

/** Parse `--pod`: "ns/name" or an IP address; anything else is a usage error naming the value. */
export function parsePodRef(s: string): PodRef {
	try {
		return { kind: "ip", ip: formatIP(parseIP(s).bytes) };
	} catch {
		// not an address: a name
	}
	const [ns, name, ...rest] = s.split("/");
	if (rest.length === 0 && ns && name && NAMESPACE.test(ns) && NAME.test(name)) {
		return { kind: "name", namespace: ns, name };
	}
	throw new ExitError(
		`--pod ${JSON.stringify(s)}: expected NAMESPACE/NAME (e.g. prod/db-0) or a pod IP address`,
		EXIT.usage,
	);
}

/** The pod's addresses from a terwayd state database, opened read-only; undefined without one. */
export function addressesFromState(dbPath: string, namespace: string, name: string): string[] | undefined {
	if (!existsSync(dbPath)) return undefined;
	const db = new Database(dbPath, { readonly: true });
	try {
		const rows = db
			.query<{ ipv4: string | null; ipv6: string | null }, [string, string]>(
				"SELECT ipv4, ipv6 FROM allocations WHERE namespace = ? AND name = ?",
			)
			.all(namespace, name);
		return [...new Set(rows.flatMap((r) => [r.ipv4, r.ipv6].filter((x): x is string => Boolean(x))))];
	} finally {
		db.close();
	}
}

/** Resolve `--pod` to its addresses (never empty: an unknown pod throws, exit 1). */
export async function resolvePod(
	raw: string,
	opts: { stateDir?: string; socket?: string },
): Promise<{ ref: string; addresses: string[] }> {
	const ref = parsePodRef(raw);
	if (ref.kind === "ip") return { ref: ref.ip, addresses: [ref.ip] };
	const key = `${ref.namespace}/${ref.name}`;
	const dbPath = join(opts.stateDir ?? DEFAULT_STATE_DIR, "state.db");
	let addresses = addressesFromState(dbPath, ref.namespace, ref.name);
	let where = dbPath;
	if (addresses === undefined) {
		const socket = socketPath(opts.socket);
		try {
			const rows = await new DaemonApi(socket, 2_000).get<MappingRow[]>("/v1/mapping");
			addresses = rows.filter((r) => r.pod === key).map((r) => r.ip);
			where = `terwayd on ${socket}`;
		} catch (e) {
			throw new ExitError(
				`cannot resolve pod ${key}: no terwayd state at ${dbPath} and ${(e as Error).message}; pass the pod's IP to --pod instead`,
			);
		}
	}
	if (addresses.length === 0)
		throw new ExitError(`pod ${key} has no addresses in ${where}: is it on this node?`);
	return { ref: key, addresses };
}
