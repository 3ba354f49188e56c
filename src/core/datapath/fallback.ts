/**
 * A teardown-only plan for when the allocation is not known (the daemon is unreachable or has
 * forgotten the container): the host veth's name follows from the container id, and the pod's
 * addresses from the runtime's prevResult, which is enough to delete the veth and the policy
 * rules of those addresses. Rules are matched by priority and address whatever their table
 * (teardown ignores the table). An exclusive ENI cannot be returned this way (its node name is
 * unknown); the daemon finds it by MAC. Pure.
 */
import type { Result } from "../cni/types.ts";
import { HOST_VETH_MAC, hostVethName, MAIN_TABLE, PRIO_FROM_CONTAINER, PRIO_TO_CONTAINER } from "./names.ts";
import type { Op, Plan } from "./types.ts";

export function teardownPlanFromResult(
	containerId: string,
	ifName: string,
	prev: Result | undefined,
	vethPrefix = "cali",
): Plan {
	const host = hostVethName(containerId, ifName, vethPrefix);
	const ops: Op[] = [
		{
			op: "veth",
			side: "host",
			name: host,
			mac: HOST_VETH_MAC,
			mtu: 0,
			peer: { side: "pod", name: ifName, mtu: 0 },
		},
	];
	for (const ip of prev?.ips ?? []) {
		const addr = ip.address.split("/")[0] ?? "";
		const family = addr.includes(":") ? 6 : 4;
		const cidr = family === 6 ? `${addr}/128` : `${addr}/32`;
		ops.push({ op: "rule", side: "host", family, priority: PRIO_TO_CONTAINER, to: cidr, table: MAIN_TABLE });
		// table 0: unknown here; teardown matches rules by priority and address only
		ops.push({ op: "rule", side: "host", family, priority: PRIO_FROM_CONTAINER, from: cidr, table: 0 });
	}
	return { datapath: "veth", ops, hostLink: host, podLink: ifName, notes: ["teardown from prevResult"] };
}
