/**
 * The pod-like topology the netlink bench builds, and the three ways to build it. All three
 * send the same operations in the same order (node netns first, then pod netns), so the only
 * difference is the transport: in-process netlink, one `ip` process per command, or one
 * `ip -batch -` process per namespace.
 *
 * node netns: veth <host> (mtu 1450, up) whose peer <pod> is created directly in the pod netns
 *             route <podV4>/32 dev <host> scope link              (main)
 *             route default dev <host> scope link table 1000     (what the rule points at)
 *             rule from <podV4> lookup 1000 priority 2000
 * pod netns:  lo up, <pod> up (mac fixed, mtu 1450)
 *             addr <podV4>/32, addr <podV6>/128 nodad
 *             route default via 169.254.1.1 dev <pod> onlink
 *             route default via fe80::1 dev <pod>                 (link-local gateway: valid without onlink)
 *
 * Routes carry `proto static` in the `ip` forms because that is what the library (libnl's
 * default) sends; `ip route add` would otherwise say `proto boot` and the built state would differ.
 */
import { Netlink } from "../../src/linux/netlink/handle.ts";
import { Netns } from "../../src/linux/netns.ts";

export type Topology = {
	/** `ip netns` names. */
	node: string;
	pod: string;
	/** Host-side veth name (<= 15 bytes) and pod-side name. */
	hostIf: string;
	podIf: string;
	podMac: string;
	mtu: number;
	podV4: string;
	podV6: string;
	table: number;
	rulePriority: number;
};

/** Names and addresses for one run; `prefix` is `tw` + 4 hex + `b`. */
export function topologyFor(prefix: string): Topology {
	return {
		node: `${prefix}-node`,
		pod: `${prefix}-pod`,
		hostIf: `${prefix}h0`,
		podIf: "eth0",
		podMac: "02:00:c6:12:00:0a",
		mtu: 1450,
		podV4: "198.18.0.10",
		podV6: "fd00:198:18::10",
		table: 1000,
		rulePriority: 2000,
	};
}

/** The `ip` commands (without `ip -n <ns>`) per namespace, in the order every method uses. */
export function ipCommands(t: Topology): { ns: string; args: string[] }[] {
	const node = (...args: string[]) => ({ ns: t.node, args });
	const pod = (...args: string[]) => ({ ns: t.pod, args });
	const mtu = String(t.mtu);
	// biome-ignore format: one command per line, as it would be typed
	return [
		node(
			"link", "add", t.hostIf, "mtu", mtu, "up", "type", "veth",
			"peer", "name", t.podIf, "address", t.podMac, "mtu", mtu, "netns", t.pod,
		),
		node("route", "add", `${t.podV4}/32`, "dev", t.hostIf, "scope", "link", "proto", "static"),
		node(
			"route", "add", "default", "dev", t.hostIf, "scope", "link", "table", String(t.table),
			"proto", "static",
		),
		node("rule", "add", "from", t.podV4, "lookup", String(t.table), "priority", String(t.rulePriority)),
		pod("link", "set", "lo", "up"),
		pod("link", "set", t.podIf, "up"),
		pod("addr", "add", `${t.podV4}/32`, "dev", t.podIf),
		pod("addr", "add", `${t.podV6}/128`, "dev", t.podIf, "nodad"),
		pod("route", "add", "default", "via", "169.254.1.1", "dev", t.podIf, "onlink", "proto", "static"),
		pod("route", "add", "::/0", "via", "fe80::1", "dev", t.podIf, "proto", "static"),
	];
}

/** Method "library": open both namespaces and their netlink sockets, then the same 10 requests. */
export function buildWithLibrary(t: Topology): void {
	using nodeNs = Netns.open(t.node);
	using podNs = Netns.open(t.pod);
	using node = Netlink.at(nodeNs);
	using pod = Netlink.at(podNs);

	node.linkAdd({
		kind: "veth",
		name: t.hostIf,
		mtu: t.mtu,
		up: true,
		peerName: t.podIf,
		peerNetns: podNs,
		peerMac: t.podMac,
		peerMtu: t.mtu,
	});
	node.routeAdd({ dst: `${t.podV4}/32`, dev: t.hostIf, scope: "link" });
	node.routeAdd({ dst: "default", family: 4, dev: t.hostIf, scope: "link", table: t.table });
	node.ruleAdd({ from: t.podV4, table: t.table, priority: t.rulePriority });

	pod.linkSet("lo", { up: true });
	pod.linkSet(t.podIf, { up: true });
	pod.addrAdd({ link: t.podIf, cidr: `${t.podV4}/32` });
	pod.addrAdd({ link: t.podIf, cidr: `${t.podV6}/128`, nodad: true });
	pod.routeAdd({ dst: "default", gateway: "169.254.1.1", dev: t.podIf, onlink: true });
	pod.routeAdd({ dst: "default", family: 6, gateway: "fe80::1", dev: t.podIf });
}

/** Resolved once so no method pays a PATH search per spawn. */
export const IP: string = Bun.which("ip") ?? "/usr/sbin/ip";

function run(argv: string[], stdin?: string): void {
	const r = Bun.spawnSync(argv, {
		stdin: stdin === undefined ? "ignore" : Buffer.from(stdin),
		stdout: "ignore",
		stderr: "pipe",
	});
	if (r.exitCode !== 0) {
		const how = r.exitCode === null ? `killed by ${r.signalCode}` : `exited ${r.exitCode}`;
		throw new Error(`${argv.join(" ")} ${how}: ${r.stderr.toString().trim()}`);
	}
}

/** Method "ip": one `ip -n <ns> ...` process per command (10 spawns). */
export function buildWithIp(t: Topology): void {
	for (const c of ipCommands(t)) run([IP, "-n", c.ns, ...c.args]);
}

/** Method "ip -batch": one `ip -n <ns> -batch -` per namespace (2 spawns), commands on stdin. */
export function buildWithIpBatch(t: Topology): void {
	const cmds = ipCommands(t);
	for (const ns of [t.node, t.pod]) {
		const lines = cmds.filter((c) => c.ns === ns).map((c) => `${c.args.join(" ")}\n`);
		run([IP, "-n", ns, "-batch", "-"], lines.join(""));
	}
}

/** How many operations each method performs (for the report). */
export const OPERATIONS = 10;
