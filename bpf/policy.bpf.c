// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * policy: NetworkPolicy enforcement on a pod's host-side veth (tc / TCX classifiers).
 *
 *   terway_pol_from  tc ingress of the host veth: packets from the pod, the pod's EGRESS policy
 *   terway_pol_to    tc egress of the host veth: packets to the pod, the pod's INGRESS policy
 *
 * All the work is terway_policy_check() in terway_policy_impl.h (shared with datapathv2); the
 * maps are pinned by name under the loader's pin root. Return codes: TC_ACT_UNSPEC (-1, =
 * TCX_NEXT) to let the packet on, TC_ACT_SHOT to drop it.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#include "terway_policy_impl.h"

SEC("tc")
int terway_pol_from(struct __sk_buff *skb)
{
	return terway_policy_check(skb, TERWAY_DIR_EGRESS, skb->ifindex);
}

SEC("tc")
int terway_pol_to(struct __sk_buff *skb)
{
	return terway_policy_check(skb, TERWAY_DIR_INGRESS, skb->ifindex);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
