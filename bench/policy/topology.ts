/**
 * bench/policy topology: a node namespace `<p>h` and three pod namespaces, `<p>a` (the client),
 * `<p>b` (the server the rules protect) and `<p>c` (a client no rule allows: proof that a
 * configuration enforces), each joined to the node by a veth (`<p>ha`/`<p>hb`/`<p>hc` on the
 * node side, eth0 in the pod), routed like Terway's veth datapath (pod /32, default via
 * 169.254.1.1, the node routes each pod's /32 to its veth and forwards). Pod-to-pod traffic
 * crosses two host veths, where the policy programs sit. Made with `ip` (a bench may spawn it;
 * product code never does).
 */
import { run } from "../lib/measure.ts";

export const POD_A = "198.19.1.1";
export const POD_B = "198.19.1.2";
export const POD_C = "198.19.1.3";
const GW = "169.254.1.1";

export type Pod = { ns: string; veth: string; addr: string };

export type Topology = {
	prefix: string;
	node: string;
	client: Pod;
	server: Pod;
	denied: Pod;
};

export function topologyFor(prefix: string): Topology {
	const pod = (x: string, addr: string): Pod => ({ ns: `${prefix}${x}`, veth: `${prefix}h${x}`, addr });
	return {
		prefix,
		node: `${prefix}h`,
		client: pod("a", POD_A),
		server: pod("b", POD_B),
		denied: pod("c", POD_C),
	};
}

export const pods = (t: Topology): Pod[] => [t.client, t.server, t.denied];

const ip = (ns: string, ...args: string[]) => run(["ip", "-n", ns, ...args]);

export function build(t: Topology): void {
	for (const ns of [t.node, ...pods(t).map((p) => p.ns)]) run(["ip", "netns", "add", ns]);
	run(["ip", "netns", "exec", t.node, "sysctl", "-qw", "net.ipv4.ip_forward=1"]);
	ip(t.node, "link", "set", "lo", "up");
	for (const { ns: pod, veth, addr } of pods(t)) {
		ip(t.node, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", pod);
		ip(t.node, "addr", "add", `${GW}/32`, "dev", veth);
		ip(t.node, "link", "set", veth, "up");
		ip(t.node, "route", "add", `${addr}/32`, "dev", veth);
		ip(pod, "link", "set", "lo", "up");
		ip(pod, "addr", "add", `${addr}/32`, "dev", "eth0");
		ip(pod, "link", "set", "eth0", "up");
		ip(pod, "route", "add", GW, "dev", "eth0", "scope", "link");
		ip(pod, "route", "add", "default", "via", GW, "dev", "eth0");
	}
}

/** ifindex of a link inside a namespace. */
export function ifindex(ns: string, dev: string): number {
	return (JSON.parse(run(["ip", "-n", ns, "-j", "link", "show", dev])) as { ifindex: number }[])[0]!.ifindex;
}
