/**
 * The PolicyRoute (veth) datapath, Terway's default for shared-ENI pods (terway-features §2.7),
 * as a pure plan. For each family the pod has:
 *
 * pod netns                                  host netns
 *   eth0 (veth peer)  <------------------->    cali<hash> (mac ee:ee:ee:ee:ee:ee, no address)
 *   podIP/32 (/128 nodad)                      podIP/32 dev cali<hash> scope link      (main)
 *   neigh 169.254.1.1 -> ee:.. permanent       rule 512  to   podIP lookup main
 *   default via 169.254.1.1 dev eth0 onlink    rule 2048 from podIP lookup <ENI table>
 *   (v6: fe80::1 likewise)                     table <ENI table>: default via <vSwitch gw> dev <ENI> onlink
 *                                              (v6 also <gw6>/128 dev <ENI> in that table)
 *
 * So pod traffic leaves by the ENI that owns its address, and replies come back through main.
 * The ENI-table routes are `shared` (every pod on that ENI needs them): ensured, never undone.
 * Host veth sysctls: forwarding, proxy_arp (v4), and for v6 disable_ipv6=0, forwarding=1,
 * accept_dad=0 (its link-local is usable at once for NDP towards the pod); pod eth0 v6:
 * disable_ipv6=0, accept_ra=0, accept_dad=0.
 * Bandwidth: ingress tbf on the host veth, egress tbf on the pod's eth0 (see bandwidth.ts).
 * NetworkPolicy (when the allocation says terwayd enforces it): terway_pol_from on the host
 * veth's tc ingress and terway_pol_to on its tc egress, pinned programs (see policyOps).
 */
import { tbfParams } from "./bandwidth.ts";
import {
	GATEWAY_V4,
	GATEWAY_V6,
	HOST_VETH_MAC,
	hostVethName,
	MAIN_TABLE,
	PRIO_FROM_CONTAINER,
	PRIO_TO_CONTAINER,
} from "./names.ts";
import type { DatapathInput, IpAlloc, Op, Plan } from "./types.ts";

/** `net/ipv4/conf/<link>/<key>` (slash form: link names may contain dots). */
export const conf = (family: 4 | 6, link: string, key: string): string =>
	`net/ipv${family}/conf/${link}/${key}`;

export const hostPrefix = (ip: string): string => (ip.includes(":") ? `${ip}/128` : `${ip}/32`);

/** The families the allocation has, v4 first. */
export function families(input: DatapathInput): [4 | 6, IpAlloc][] {
	const out: [4 | 6, IpAlloc][] = [];
	if (input.alloc.ipv4) out.push([4, input.alloc.ipv4]);
	if (input.alloc.ipv6) out.push([6, input.alloc.ipv6]);
	if (out.length === 0) throw new Error("allocation has neither ipv4 nor ipv6");
	return out;
}

/** Routes on the node shared by all pods of one ENI, in its table: the default route (and the v6 gateway's /128). */
export function eniSharedOps(input: DatapathInput): Op[] {
	const { eni, routeTable } = input.alloc;
	const ops: Op[] = [];
	for (const [family, a] of families(input)) {
		if (family === 6) {
			ops.push({
				op: "route",
				side: "host",
				family,
				dst: hostPrefix(a.gateway),
				dev: eni.link,
				// in the ENI's table, not main: ENIs of one vSwitch share the v6 gateway, and one
				// main-table /128 could name only one of them (CHECK saw drift on the others)
				table: routeTable,
				shared: true,
			});
		}
		ops.push({
			op: "route",
			side: "host",
			family,
			dst: "default",
			gateway: a.gateway,
			dev: eni.link,
			onlink: true,
			table: routeTable,
			shared: true,
		});
	}
	return ops;
}

/**
 * The host<->pod veth pair both planners start from: the pair (host side MAC HOST_VETH_MAC), the
 * host side's forwarding/proxy sysctls (and v6 ones before it is up: accept_dad must be set before
 * the link-local appears), the pod addresses before any route (an onlink v4 route needs a local v4
 * address), then per family the static neighbour for the pod's gateway and `podRoutes`.
 */
export function vethPairOps(
	p: { host: string; peer: string; mtu: number; fams: [4 | 6, IpAlloc][]; allV6: boolean },
	podRoutes: (family: 4 | 6, gateway: string) => Op[],
): Op[] {
	const { host, peer, fams } = p;
	const ops: Op[] = [
		{
			op: "veth",
			side: "host",
			name: host,
			mac: HOST_VETH_MAC,
			mtu: p.mtu,
			peer: { side: "pod", name: peer, mtu: p.mtu },
		},
		{ op: "sysctl", side: "host", key: conf(4, host, "forwarding"), value: "1" },
		{ op: "sysctl", side: "host", key: conf(4, host, "proxy_arp"), value: "1" },
	];
	if (fams.some(([f]) => f === 6)) {
		ops.push({ op: "sysctl", side: "host", key: conf(6, host, "disable_ipv6"), value: "0" });
		ops.push({ op: "sysctl", side: "host", key: conf(6, host, "accept_dad"), value: "0" });
		ops.push({ op: "sysctl", side: "host", key: conf(6, host, "forwarding"), value: "1" });
		if (p.allV6) ops.push({ op: "sysctl", side: "pod", key: conf(6, "all", "disable_ipv6"), value: "0" });
		ops.push({ op: "sysctl", side: "pod", key: conf(6, peer, "disable_ipv6"), value: "0" });
		ops.push({ op: "sysctl", side: "pod", key: conf(6, peer, "accept_ra"), value: "0" });
		ops.push({ op: "sysctl", side: "pod", key: conf(6, peer, "accept_dad"), value: "0" });
	}
	ops.push({ op: "up", side: "host", name: host });
	for (const [family, a] of fams) {
		ops.push({
			op: "addr",
			side: "pod",
			link: peer,
			cidr: hostPrefix(a.ip),
			nodad: family === 6 ? true : undefined,
		});
	}
	ops.push({ op: "up", side: "pod", name: peer });
	for (const [family] of fams) {
		const gw = family === 4 ? GATEWAY_V4 : GATEWAY_V6;
		ops.push({ op: "neigh", side: "pod", link: peer, ip: gw, mac: HOST_VETH_MAC });
		ops.push(...podRoutes(family, gw));
	}
	return ops;
}

/** The veth policy-routing plan for one pod interface. */
export function vethPlan(input: DatapathInput): Plan {
	const fams = families(input);
	const host = hostVethName(input.containerId, input.ifName, input.vethPrefix);
	const pod = input.ifName;
	const ops: Op[] = [];

	ops.push(
		...vethPairOps({ host, peer: pod, mtu: input.mtu, fams, allV6: true }, (family, gw) => [
			{ op: "route", side: "pod", family, dst: "default", gateway: gw, dev: pod, onlink: true },
		]),
	);

	// host side: route to the pod, then policy rules, then the ENI's table
	for (const [family, a] of fams) {
		ops.push({ op: "route", side: "host", family, dst: hostPrefix(a.ip), dev: host, scope: "link" });
	}
	for (const [family, a] of fams) {
		ops.push({
			op: "rule",
			side: "host",
			family,
			priority: PRIO_TO_CONTAINER,
			to: hostPrefix(a.ip),
			table: MAIN_TABLE,
		});
		ops.push({
			op: "rule",
			side: "host",
			family,
			priority: PRIO_FROM_CONTAINER,
			from: hostPrefix(a.ip),
			table: input.alloc.routeTable,
		});
	}
	ops.push(...eniSharedOps(input));

	const bw = input.bandwidth;
	if (bw?.ingressBps) {
		ops.push({
			op: "tbf",
			side: "host",
			link: host,
			...tbfParams(bw.ingressBps, bw.ingressBurstBits, input.mtu),
		});
	}
	if (bw?.egressBps) {
		ops.push({
			op: "tbf",
			side: "pod",
			link: pod,
			...tbfParams(bw.egressBps, bw.egressBurstBits, input.mtu),
		});
	}
	ops.push(...policyOps(input, host));
	const plan: Plan = { datapath: "veth", ops, hostLink: host, podLink: pod, notes: [] };
	if (input.alloc.policy) plan.pinRoot = input.alloc.policy.pinRoot;
	return plan;
}

/**
 * NetworkPolicy on the host veth (bpf/include/terway_policy.h), when terwayd enforces it: its
 * tc ingress sees what the pod sends (the pod's egress policy), its tc egress what the pod
 * receives (its ingress policy). Last in the plan, after the link is up; programs another
 * datapath adds to the same link run after these.
 */
export function policyOps(input: DatapathInput, hostLink: string): Op[] {
	if (!input.alloc.policy) return [];
	return [
		{ op: "bpf", side: "host", link: hostLink, direction: "ingress", program: "terway_pol_from" },
		{ op: "bpf", side: "host", link: hostLink, direction: "egress", program: "terway_pol_to" },
	];
}
