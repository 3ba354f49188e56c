/**
 * Node-wide settings the pod datapaths rely on, ensured once per node (at daemon start or the
 * first ADD), never per pod and never undone: forwarding on, and rp_filter off for all/default
 * (and the ENI), as Terway's EnsureHostNsConfig does for the links that matter. Pure.
 */
import type { Op, Plan } from "./types.ts";
import { conf } from "./veth.ts";

export function nodePlan(input: { ipv4: boolean; ipv6: boolean; eniLinks?: string[] }): Plan {
	const ops: Op[] = [];
	const set = (key: string, value: string) =>
		ops.push({ op: "sysctl", side: "host", key, value, shared: true });
	if (input.ipv4) {
		set("net/ipv4/ip_forward", "1");
		for (const l of ["all", "default", ...(input.eniLinks ?? [])]) set(conf(4, l, "rp_filter"), "0");
	}
	if (input.ipv6) {
		set(conf(6, "all", "disable_ipv6"), "0");
		set(conf(6, "all", "forwarding"), "1");
		for (const l of input.eniLinks ?? []) set(conf(6, l, "disable_ipv6"), "0");
	}
	return { datapath: "node", ops, podLink: "", notes: [] };
}
