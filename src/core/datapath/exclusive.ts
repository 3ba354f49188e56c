/**
 * The ExclusiveENI datapath (terway-features §2.9) as a pure plan: the ENI link itself moves into
 * the pod as CNI_IFNAME with the pod's addresses (/32, /128) and a default route via the vSwitch
 * gateway (onlink; v6 also `<gw6>/128` on the link); plus, for eth0 and unless
 * `disableHostPeer`, a small veth "host peer" (host cali<hash> <-> pod veth1) that carries
 * service-CIDR, node and host-stack traffic through the host:
 *
 * pod veth1: the pod IP(s) again, `169.254.1.1/32 scope link`, `<serviceCIDR> via 169.254.1.1
 * onlink`, `<nodeIP>/32 via 169.254.1.1`, each host-stack CIDR likewise, and the permanent
 * neighbour 169.254.1.1 -> ee:ee:ee:ee:ee:ee (v6 twins with fe80::1);
 * host: `podIP/32 dev cali<hash> scope link` so replies find the pod.
 *
 * DEL moves the ENI back to the node under its own name (apply.ts teardown). Bandwidth: egress
 * tbf on the ENI in the pod; ingress is not supported here (a note says so).
 */
import { tbfParams } from "./bandwidth.ts";
import { HOST_PEER_POD_NAME, hostVethName } from "./names.ts";
import type { DatapathInput, Op, Plan } from "./types.ts";
import { conf, families, hostPrefix, vethPairOps } from "./veth.ts";

export function exclusivePlan(input: DatapathInput): Plan {
	const fams = families(input);
	const { eni } = input.alloc;
	const pod = input.ifName;
	const hasV6 = fams.some(([f]) => f === 6);
	const notes: string[] = [];
	const ops: Op[] = [];

	ops.push({ op: "move", side: "host", name: eni.link, mac: eni.mac, to: "pod", newName: pod });
	if (hasV6) {
		ops.push({ op: "sysctl", side: "pod", key: conf(6, "all", "disable_ipv6"), value: "0" });
		ops.push({ op: "sysctl", side: "pod", key: conf(6, pod, "disable_ipv6"), value: "0" });
		ops.push({ op: "sysctl", side: "pod", key: conf(6, pod, "accept_ra"), value: "0" });
	}
	for (const [family, a] of fams) {
		ops.push({
			op: "addr",
			side: "pod",
			link: pod,
			cidr: hostPrefix(a.ip),
			nodad: family === 6 ? true : undefined,
		});
	}
	ops.push({ op: "up", side: "pod", name: pod, mtu: input.mtu });
	for (const [family, a] of fams) {
		if (family === 6) {
			ops.push({ op: "route", side: "pod", family, dst: hostPrefix(a.gateway), dev: pod, scope: "link" });
		}
		ops.push({
			op: "route",
			side: "pod",
			family,
			dst: "default",
			gateway: a.gateway,
			dev: pod,
			onlink: true,
		});
	}

	let hostLink: string | undefined;
	if (pod === "eth0" && !input.disableHostPeer) {
		const host = hostVethName(input.containerId, pod, input.vethPrefix);
		const peer = HOST_PEER_POD_NAME;
		hostLink = host;
		ops.push(
			...vethPairOps({ host, peer, mtu: input.mtu, fams, allV6: false }, (family, gw) => {
				const via = (dst: string): Op => ({
					op: "route",
					side: "pod",
					family,
					dst,
					gateway: gw,
					dev: peer,
					onlink: true,
				});
				const mine = (cidr: string) => cidr.includes(":") === (family === 6);
				const nodeIp = family === 4 ? input.nodeIps?.ipv4 : input.nodeIps?.ipv6;
				return [
					{ op: "route", side: "pod", family, dst: hostPrefix(gw), dev: peer, scope: "link" },
					...input.alloc.serviceCidrs.filter(mine).map(via),
					...(nodeIp ? [via(hostPrefix(nodeIp))] : []),
					...(input.hostStackCidrs ?? []).filter(mine).map(via),
				];
			}),
		);
		for (const [family, a] of fams) {
			ops.push({ op: "route", side: "host", family, dst: hostPrefix(a.ip), dev: host, scope: "link" });
		}
	}

	const bw = input.bandwidth;
	if (bw?.egressBps) {
		ops.push({
			op: "tbf",
			side: "pod",
			link: pod,
			...tbfParams(bw.egressBps, bw.egressBurstBits, input.mtu),
		});
	}
	if (bw?.ingressBps) notes.push("ingress bandwidth is not supported on an exclusive ENI: not applied");
	const plan: Plan = { datapath: "exclusive", ops, podLink: pod, notes };
	if (hostLink) plan.hostLink = hostLink;
	return plan;
}
