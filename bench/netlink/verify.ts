/**
 * Proof that the three methods build the same thing: `ip -j` dumps of links (with details),
 * addresses, routes (every table, both families) and rules of both namespaces, normalised only
 * where the kernel is not deterministic (ifindexes, the host veth's random MAC and the IPv6
 * link-local address derived from it, address lifetimes) and compared field by field.
 */
import { IP, type Topology } from "./topology.ts";

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function ipJson(ns: string, args: string[]): Json {
	const argv = [IP, "-n", ns, "-j", ...args];
	const r = Bun.spawnSync(argv, { stdout: "pipe", stderr: "pipe" });
	if (r.exitCode !== 0) {
		const how = r.exitCode === null ? `killed by ${r.signalCode}` : `exited ${r.exitCode}`;
		throw new Error(`${argv.join(" ")} ${how}: ${r.stderr.toString().trim()}`);
	}
	const out = r.stdout.toString().trim();
	return out ? (JSON.parse(out) as Json) : [];
}

const SECTIONS: [string, string[]][] = [
	["links", ["-d", "link", "show"]],
	["addrs", ["addr", "show"]],
	["routes4", ["-4", "route", "show", "table", "all"]],
	["routes6", ["-6", "route", "show", "table", "all"]],
	["rules4", ["-4", "rule", "show"]],
	["rules6", ["-6", "rule", "show"]],
];

const MAC = /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/;
const LINK_LOCAL = /^fe80::[0-9a-f:]+$/;
const DROP_KEYS = new Set(["ifindex", "link_index", "valid_life_time", "preferred_life_time", "expires"]);

function normalise(v: Json, t: Topology): Json {
	if (Array.isArray(v)) return v.map((x) => normalise(x, t));
	if (v !== null && typeof v === "object") {
		const out: { [k: string]: Json } = {};
		for (const k of Object.keys(v).sort()) {
			if (DROP_KEYS.has(k)) out[k] = "<n>";
			else out[k] = normalise(v[k] as Json, t);
		}
		return out;
	}
	if (typeof v === "string") {
		const keep = [t.podMac, "00:00:00:00:00:00", "ff:ff:ff:ff:ff:ff"];
		if (MAC.test(v) && !keep.includes(v)) return "<random-mac>";
		if (LINK_LOCAL.test(v) && v !== "fe80::1") return "<eui64-link-local>";
	}
	return v;
}

export type Snapshot = Record<string, Json>;

/** Normalised dumps of both namespaces, keyed "node.links", "pod.routes6", ... */
export function snapshot(t: Topology): Snapshot {
	const snap: Snapshot = {};
	for (const [role, ns] of [
		["node", t.node],
		["pod", t.pod],
	] as const) {
		for (const [name, args] of SECTIONS) snap[`${role}.${name}`] = normalise(ipJson(ns, args), t);
	}
	return snap;
}

/**
 * Wait (up to `timeoutMs`) until the state stops moving on its own: both veth ends report
 * operstate UP (linkwatch is asynchronous) and no address is still tentative (IPv6 DAD of the
 * link-local addresses). Dumping earlier would compare timing, not topology.
 */
export async function settle(t: Topology, timeoutMs = 5000): Promise<void> {
	const deadline = performance.now() + timeoutMs;
	for (;;) {
		const links = [
			...(ipJson(t.node, ["link", "show", t.hostIf]) as Json[]),
			...(ipJson(t.pod, ["link", "show", t.podIf]) as Json[]),
		];
		const up = links.every((l) => (l as { operstate?: string }).operstate === "UP");
		const addrs = [
			...(ipJson(t.node, ["addr", "show"]) as Json[]),
			...(ipJson(t.pod, ["addr", "show"]) as Json[]),
		];
		const tentative = JSON.stringify(addrs).includes('"tentative":true');
		if ((up && !tentative) || performance.now() > deadline) return;
		await Bun.sleep(100);
	}
}

/** Paths where two snapshots differ ("pod.routes6[2].gateway: a != b"), at most `limit`. */
export function diff(a: Json, b: Json, path = "", out: string[] = [], limit = 20): string[] {
	if (out.length >= limit) return out;
	if (Array.isArray(a) && Array.isArray(b)) {
		if (a.length !== b.length) out.push(`${path}: ${a.length} entries != ${b.length} entries`);
		for (let i = 0; i < Math.min(a.length, b.length); i++)
			diff(a[i] as Json, b[i] as Json, `${path}[${i}]`, out, limit);
		return out;
	}
	if (
		a !== null &&
		b !== null &&
		typeof a === "object" &&
		typeof b === "object" &&
		!Array.isArray(a) &&
		!Array.isArray(b)
	) {
		for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
			if (!(k in a)) out.push(`${path}.${k}: missing != ${JSON.stringify(b[k])}`);
			else if (!(k in b)) out.push(`${path}.${k}: ${JSON.stringify(a[k])} != missing`);
			else diff(a[k] as Json, b[k] as Json, `${path}.${k}`, out, limit);
		}
		return out;
	}
	if (JSON.stringify(a) !== JSON.stringify(b))
		out.push(`${path}: ${JSON.stringify(a)} != ${JSON.stringify(b)}`);
	return out;
}

/** A short summary of what a snapshot contains, so the report shows what was compared. */
export function describe(s: Snapshot): string {
	return Object.entries(s)
		.map(([k, v]) => `${k}=${Array.isArray(v) ? v.length : "?"}`)
		.join(" ");
}
