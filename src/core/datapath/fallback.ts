/**
 * A teardown-only plan for when the allocation is not known (the daemon is unreachable or has
 * forgotten the container): the host veth's name follows from the container id, and the pod's
 * addresses from the runtime's prevResult and/or what the node still shows of them
 * (`recoverPodIps` in leftovers.ts: the host veth's /32 and /128 routes), which is enough to
 * delete the veth (its routes go with it) and the policy rules of those addresses. Rules are
 * matched by priority and address whatever their table (teardown ignores the table). An
 * exclusive ENI cannot be returned this way (its node name is unknown); the daemon finds it by
 * MAC. Pure.
 */
import type { Result } from "../cni/types.ts";
import { hostLinkDelOp, hostPrefixOf, podRuleOps } from "./leftovers.ts";
import { hostVethName } from "./names.ts";
import type { Op, Plan } from "./types.ts";

/**
 * @param recovered the pod's addresses as found on the node (host prefixes), added to
 *   prevResult's; either may be empty.
 */
export function teardownPlanFromResult(
	containerId: string,
	ifName: string,
	prev: Result | undefined,
	vethPrefix = "cali",
	recovered: string[] = [],
): Plan {
	const host = hostVethName(containerId, ifName, vethPrefix);
	const ops: Op[] = [hostLinkDelOp(host, ifName)];
	const ips = new Set<string>();
	for (const ip of prev?.ips ?? []) {
		const p = hostPrefixOf(ip.address.split("/")[0] ?? "");
		if (p) ips.add(p);
	}
	const fromResult = ips.size;
	for (const ip of recovered) {
		const p = hostPrefixOf(ip);
		if (p) ips.add(p);
	}
	for (const ip of ips) ops.push(...podRuleOps(ip));
	const notes = [
		recovered.length === 0
			? "teardown from prevResult"
			: fromResult === 0
				? "teardown from the node's routes of the pod (no prevResult)"
				: "teardown from prevResult and the node's routes of the pod",
	];
	return { datapath: "veth", ops, hostLink: host, podLink: ifName, notes };
}
