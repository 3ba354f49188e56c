/**
 * Datapath planners (pure): pick the plan for an allocation, and re-export the pieces.
 *
 * `veth` and `datapathv2` both get the veth policy-routing plan today: datapathv2's eBPF
 * redirect programs are not written yet, and the plan is the same underneath (Terway's
 * datapathv2 also uses PolicyRoute). `ipvlan` configs are mapped to them by the plugin (the
 * kernel here has no ipvlan).
 */
import { exclusivePlan } from "./exclusive.ts";
import type { DatapathInput, Plan } from "./types.ts";
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
export { eniSharedOps, vethPlan } from "./veth.ts";

export function planFor(datapath: "veth" | "datapathv2" | "exclusive", input: DatapathInput): Plan {
	if (datapath === "exclusive") return exclusivePlan(input);
	const plan = vethPlan(input);
	if (datapath === "datapathv2")
		plan.notes.push("datapathv2 eBPF acceleration not available yet: plain veth policy routing");
	return plan;
}
