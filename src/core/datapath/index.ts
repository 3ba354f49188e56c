/**
 * Datapath planners (pure): pick the plan for an allocation, and re-export the pieces.
 *
 * `datapathv2` is the veth policy-routing plan plus the eBPF redirect program on the host veth
 * (v2.ts; Terway's datapathv2 also keeps PolicyRoute underneath), when terwayd pinned the
 * programs (`alloc.datapathv2`); otherwise the `veth` plan with a note saying why. `ipvlan`
 * configs are mapped to them by the plugin (the kernel here has no ipvlan).
 */
import { exclusivePlan } from "./exclusive.ts";
import type { DatapathInput, Plan } from "./types.ts";
import { v2Plan } from "./v2.ts";
import { vethPlan } from "./veth.ts";

export { mergeBandwidth, tbfParams } from "./bandwidth.ts";
export { checkPlan } from "./check.ts";
export { exclusivePlan } from "./exclusive.ts";
export { teardownPlanFromResult } from "./fallback.ts";
export { formatOp } from "./format.ts";
export {
	type GcPlan,
	gcPlan,
	type HostView,
	hostPrefixOf,
	isPodVethName,
	type PodView,
	podRuleIp,
	recoverPodIps,
} from "./leftovers.ts";
export * from "./names.ts";
export { nodePlan } from "./node.ts";
export { resultFor } from "./result.ts";
export type * from "./types.ts";
export { V2_IN_PROGRAM, V2_OUT_PROGRAM, v2Ops, v2Plan } from "./v2.ts";
export { eniSharedOps, vethPlan } from "./veth.ts";

export function planFor(datapath: "veth" | "datapathv2" | "exclusive", input: DatapathInput): Plan {
	if (datapath === "exclusive") return exclusivePlan(input);
	if (datapath === "datapathv2" && input.alloc.datapathv2) return v2Plan(input);
	const plan = vethPlan(input);
	if (datapath === "datapathv2")
		plan.notes.push(
			"datapathv2: terwayd has not pinned the eBPF redirect programs (kernel without TCX or the helpers, see its log): using the veth datapath",
		);
	return plan;
}
