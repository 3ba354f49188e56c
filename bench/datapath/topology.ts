/**
 * bench/datapath topology: pod A on node 1 talks to pod B on node 2 through a VPC namespace, one
 * copy per datapath (same addresses: every copy lives in its own namespaces):
 *
 *   <p><k>a  eth0 198.18.60.21/32 -- <p><k>n1: hv (ee:..:ee) | e1 "ENI" 198.18.60.11/32 -- <p><k>v: p1
 *   <p><k>b  eth0 198.18.60.22/32 -- <p><k>n2: hv (ee:..:ee) | e2 "ENI" 198.18.60.12/32 -- <p><k>v: p2
 *
 * The VPC namespace routes each pod IP (and node IP) to its node's port with a permanent
 * neighbour (the ENI's MAC), as the sim's VPC does. Per datapath:
 *   plain       a plain routed veth (the limit): node main table only, `podIP dev h`, default via the gateway
 *   veth        Terway's policy routing (src/core/datapath/veth.ts): rules 512 to / 2048 from, table 1001
 *   datapathv2  the same as veth plus the eBPF redirect programs (host veth and ENI tc ingress)
 * Built with `ip` (a benchmark may spawn it; src/ never does), through the namespace and veth
 * helpers the root suites use (tests/helpers/veth.ts). IPv4 only.
 */
import {
	addNetns,
	addVeth,
	HOST_VETH_MAC,
	ipIn as ip,
	podGateway,
	sysctlIn as sysctl,
} from "../../tests/helpers/veth.ts";
import { run } from "../lib/measure.ts";

export const POD_A = "198.18.60.21";
export const POD_B = "198.18.60.22";
const GW = "198.18.60.1";
const NODE_IP = ["198.18.60.11", "198.18.60.12"] as const;
const ENI_MAC = ["02:16:3e:60:00:11", "02:16:3e:60:00:12"] as const;

export type Kind = "plain" | "veth" | "datapathv2";

export type Copy = {
	kind: Kind;
	pod: [string, string];
	node: [string, string];
	vpc: string;
	hostVeth: string;
	eni: [string, string];
};

export function copyFor(prefix: string, k: number, kind: Kind): Copy {
	const p = `${prefix}${k}`;
	return {
		kind,
		pod: [`${p}a`, `${p}b`],
		node: [`${p}n1`, `${p}n2`],
		vpc: `${p}v`,
		hostVeth: "hv",
		eni: ["e1", "e2"],
	};
}

/** Build one copy (namespaces, links, addresses, routes, rules); programs are attached by the caller. */
export function build(c: Copy): void {
	addNetns(...c.pod, ...c.node, c.vpc);
	sysctl(
		c.vpc,
		"net.ipv4.ip_forward=1",
		"net.ipv4.conf.all.rp_filter=0",
		"net.ipv4.conf.default.rp_filter=0",
	);
	for (const i of [0, 1] as const) {
		const node = c.node[i];
		const pod = c.pod[i];
		const podIp = i === 0 ? POD_A : POD_B;
		const port = `p${i + 1}`;
		const eni = c.eni[i];
		sysctl(
			node,
			"net.ipv4.ip_forward=1",
			"net.ipv4.conf.all.rp_filter=0",
			"net.ipv4.conf.default.rp_filter=0",
		);
		// node <-> VPC
		addVeth({ ns: node, name: eni, mac: ENI_MAC[i] }, { ns: c.vpc, name: port });
		ip(node, "addr", "add", `${NODE_IP[i]}/32`, "dev", eni);
		ip(node, "link", "set", eni, "up");
		ip(c.vpc, "addr", "add", `${GW}/32`, "dev", port);
		ip(c.vpc, "link", "set", port, "up");
		for (const a of [podIp, NODE_IP[i]]) {
			ip(c.vpc, "neigh", "replace", a, "lladdr", ENI_MAC[i], "dev", port, "nud", "permanent");
			ip(c.vpc, "route", "replace", a, "dev", port);
		}
		// node <-> pod
		addVeth({ ns: node, name: c.hostVeth, mac: HOST_VETH_MAC }, { ns: pod, name: "eth0" });
		sysctl(node, `net.ipv4.conf.${c.hostVeth}.proxy_arp=1`, `net.ipv4.conf.${c.hostVeth}.forwarding=1`);
		ip(node, "link", "set", c.hostVeth, "up");
		ip(pod, "addr", "add", `${podIp}/32`, "dev", "eth0");
		ip(pod, "link", "set", "eth0", "up");
		podGateway(pod, "eth0");
		ip(node, "route", "add", podIp, "dev", c.hostVeth, "scope", "link");
		if (c.kind === "plain") {
			ip(node, "route", "add", "default", "via", GW, "dev", eni, "onlink");
		} else {
			ip(node, "route", "add", "default", "via", GW, "dev", eni, "onlink", "table", "1001");
			ip(node, "rule", "add", "to", podIp, "lookup", "main", "priority", "512");
			ip(node, "rule", "add", "from", podIp, "lookup", "1001", "priority", "2048");
		}
	}
}

/** IPv4 datagrams the node namespaces' host stacks forwarded (both nodes). */
export function forwarded(c: Copy): number {
	let n = 0;
	for (const node of c.node) {
		const snmp = run(["ip", "netns", "exec", node, "cat", "/proc/net/snmp"]).split("\n");
		const head = snmp.find((l) => l.startsWith("Ip: Forwarding"))?.split(/\s+/) ?? [];
		const vals = snmp.filter((l) => l.startsWith("Ip: "))[1]?.split(/\s+/) ?? [];
		n += Number(vals[head.indexOf("ForwDatagrams")] ?? 0);
	}
	return n;
}
