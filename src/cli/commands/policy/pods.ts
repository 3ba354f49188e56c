/**
 * `--pod NS/NAME` for `policy dump`: the maps know addresses and label identities, not pod
 * names, so the pod's addresses come from terwayd's own record of its allocations: terwayd's
 * /v1/mapping, else its state database read-only (works while terwayd is down; asked first when
 * --state-dir is given). A pod IP is
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
	const fromState = () => {
		const a = addressesFromState(dbPath, ref.namespace, ref.name);
		return a && { addresses: a, where: dbPath };
	};
	const socket = socketPath(opts.socket);
	const fromDaemon = async () => {
		const rows = await new DaemonApi(socket, 2_000).get<MappingRow[]>("/v1/mapping");
		return { addresses: rows.filter((r) => r.pod === key).map((r) => r.ip), where: `terwayd on ${socket}` };
	};
	// An explicit --state-dir is asked first; else the running terwayd (its socket is how a sim node
	// or a custom install is found), then the default state file (terwayd down).
	let found = opts.stateDir ? fromState() : undefined;
	let daemonError: Error | undefined;
	if (!found) {
		try {
			found = await fromDaemon();
		} catch (e) {
			daemonError = e as Error;
		}
	}
	found ??= opts.stateDir ? undefined : fromState();
	if (!found) {
		throw new ExitError(
			`cannot resolve pod ${key}: ${daemonError?.message ?? "terwayd did not answer"}, and no terwayd state at ${dbPath}; pass the pod's IP to --pod instead`,
		);
	}
	if (found.addresses.length === 0) {
		throw new ExitError(`pod ${key} has no addresses in ${found.where}: is it on this node?`);
	}
	const addresses = found.addresses;
	return { ref: key, addresses };
}
