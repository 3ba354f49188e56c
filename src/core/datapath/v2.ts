/**
 * datapathv2, the eBPF-accelerated veth datapath (Terway's datapathv2; `eniip_virtual_type:
 * IPVlan` migrates to it), as a pure plan: exactly the `veth` policy-routing plan (veth.ts: same
 * addresses, routes, rules, so the host stack can always take over) plus one `bpf` op that
 * attaches terwayd's pinned `terway_v2_out` to the host veth's tc ingress, after the policy
 * program when NetworkPolicy is on (TCX runs them in attach order; the policy one passes with
 * TCX_NEXT). The inbound half, `terway_v2_in` on the ENI's tc ingress, is terwayd's (per ENI,
 * daemon/links.ts), not per pod.
 *
 * pod netns            host netns                                  VPC
 *   eth0  <------->  cali<hash>  --[terway_v2_out: fib lookup, redirect_neigh]-->  ENI  --> gw
 *         <-----------[terway_v2_in on the ENI: fib lookup, policy, redirect_peer]--  ENI  <--
 *
 * Only when the allocation says terwayd pinned the programs (`alloc.datapathv2`); otherwise the
 * caller plans `veth` (see index.ts planFor) and says so.
 */
import type { DatapathInput, Op, Plan } from "./types.ts";
import { vethPlan } from "./veth.ts";

/** The pinned programs (bpf/datapathv2.bpf.c; src/linux/bpf/datapathv2.ts V2_PROGRAMS). */
export const V2_OUT_PROGRAM = "terway_v2_out";
export const V2_IN_PROGRAM = "terway_v2_in";

/** The host veth's redirect program op (after the policy ops: attach order is run order). */
export function v2Ops(hostLink: string): Op[] {
	return [{ op: "bpf", side: "host", link: hostLink, direction: "ingress", program: V2_OUT_PROGRAM }];
}

/** The datapathv2 plan; `input.alloc.datapathv2` must say where the programs are pinned. */
export function v2Plan(input: DatapathInput): Plan {
	const v2 = input.alloc.datapathv2;
	if (!v2)
		throw new Error(
			"datapathv2: the allocation has no datapathv2 pin root (terwayd did not pin the programs)",
		);
	const policyRoot = input.alloc.policy?.pinRoot;
	if (policyRoot !== undefined && policyRoot !== v2.pinRoot)
		throw new Error(
			`datapathv2: pin root ${v2.pinRoot} differs from the policy pin root ${policyRoot} (one terwayd pins both)`,
		);
	const plan = vethPlan(input);
	const host = plan.hostLink as string;
	return { ...plan, datapath: "datapathv2", ops: [...plan.ops, ...v2Ops(host)], pinRoot: v2.pinRoot };
}
