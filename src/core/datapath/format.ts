/**
 * An operation as one iproute2-like line ("host: ip route add 10.0.1.5/32 dev cali... scope
 * link"), for logs, `diagnose` and readable plan snapshots in tests. Pure.
 */
import type { Op } from "./types.ts";

export function formatOp(o: Op): string {
	const s = `${o.side}:`;
	switch (o.op) {
		case "veth":
			return `${s} ip link add ${o.name} address ${o.mac} mtu ${o.mtu} type veth peer name ${o.peer.name} mtu ${o.peer.mtu} netns ${o.peer.side}`;
		case "move":
			return `${s} ip link set ${o.name} down; ip link set ${o.name} netns ${o.to} name ${o.newName}  # ${o.mac}`;
		case "up":
			return `${s} ip link set ${o.name}${o.mtu ? ` mtu ${o.mtu}` : ""} up`;
		case "addr":
			return `${s} ip addr add ${o.cidr} dev ${o.link}${o.nodad ? " nodad" : ""}`;
		case "neigh":
			return `${s} ip neigh add ${o.ip} lladdr ${o.mac} dev ${o.link} nud permanent`;
		case "route":
			return (
				`${s} ip -${o.family} route add ${o.dst}${o.gateway ? ` via ${o.gateway}` : ""} dev ${o.dev}` +
				`${o.onlink ? " onlink" : ""}${o.scope ? ` scope ${o.scope}` : ""}${o.table ? ` table ${o.table}` : ""}` +
				`${o.shared ? "  # shared" : ""}`
			);
		case "rule":
			return `${s} ip -${o.family} rule add prio ${o.priority}${o.from ? ` from ${o.from}` : ""}${o.to ? ` to ${o.to}` : ""} lookup ${o.table === 254 ? "main" : o.table}`;
		case "sysctl":
			return `${s} sysctl ${o.key}=${o.value}${o.shared ? "  # shared" : ""}`;
		case "tbf":
			return `${s} tc qdisc add dev ${o.link} root tbf rate ${o.rate}bit burst ${o.burst} latency ${o.latencyMs}ms`;
		case "bpf":
			return `${s} tc filter add dev ${o.link} ${o.direction} bpf pinned progs/${o.program}  # tcx, pinned link`;
	}
}
