/**
 * Namespaces joined by veth pairs, for root suites and benches (built with `ip`: tests and
 * benches may spawn it, src/ never does). The pieces every topology repeats: fresh namespaces
 * with lo up, a veth pair between two of them (optionally with fixed MACs), and the pod side of
 * the veth datapath (the gateway 169.254.1.1 / fe80::1 on the host veth's MAC, default routes).
 * Names come from the caller (prefixFor(tag) in tests); `resetRun` removes exactly one prefix's
 * namespaces and pin root.
 */
import { rmSync } from "node:fs";
import { cleanupNetns, sh } from "./env.ts";

/** The host veth's MAC in the veth datapath (src/core/datapath/veth.ts): the pod's gateway. */
export const HOST_VETH_MAC = "ee:ee:ee:ee:ee:ee";

/** `ip -n <ns> ...`; stdout. */
export const ipIn = (ns: string, ...args: string[]): string => sh(["ip", "-n", ns, ...args]).out;

/** `sysctl -qw` inside a namespace. */
export const sysctlIn = (ns: string, ...kv: string[]): void => {
	sh(["ip", "netns", "exec", ns, "sysctl", "-qw", ...kv]);
};

/** Remove the namespaces named `<prefix>*` and the pin root /sys/fs/bpf/<prefix> (before and after a run). */
export function resetRun(prefix: string): void {
	cleanupNetns(prefix);
	rmSync(`/sys/fs/bpf/${prefix}`, { recursive: true, force: true });
}

/** Create namespaces, each with lo up. */
export function addNetns(...names: string[]): void {
	for (const ns of names) {
		sh(["ip", "netns", "add", ns]);
		ipIn(ns, "link", "set", "lo", "up");
	}
}

/** One end of a veth pair: its namespace, name and (optionally) MAC. */
export type VethEnd = { ns: string; name: string; mac?: string };

/** A veth pair from `a` to `b` (both ends stay down: set sysctls and addresses, then bring them up). */
export function addVeth(a: VethEnd, b: VethEnd): void {
	const mac = (e: VethEnd) => (e.mac ? ["address", e.mac] : []);
	ipIn(
		a.ns,
		"link",
		"add",
		a.name,
		...mac(a),
		"type",
		"veth",
		"peer",
		"name",
		b.name,
		...mac(b),
		"netns",
		b.ns,
	);
}

/**
 * The pod side of the veth datapath on `dev` (its addresses already set): the gateway
 * 169.254.1.1 (and fe80::1 with `v6`) as a permanent neighbour on HOST_VETH_MAC, default routes
 * through it.
 */
export function podGateway(ns: string, dev: string, opts: { v6?: boolean } = {}): void {
	const gws = opts.v6 ? ["169.254.1.1", "fe80::1"] : ["169.254.1.1"];
	for (const gw of gws) {
		ipIn(ns, "neigh", "replace", gw, "lladdr", HOST_VETH_MAC, "dev", dev, "nud", "permanent");
	}
	ipIn(ns, "route", "add", "default", "via", "169.254.1.1", "dev", dev, "onlink");
	if (opts.v6) ipIn(ns, "-6", "route", "add", "default", "via", "fe80::1", "dev", dev);
}
