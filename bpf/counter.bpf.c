// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * counter: a tc classifier (clsact or TCX) that counts packets and bytes per interface and,
 * when the drop switch is set, drops every packet and counts the drop.
 *
 * It is the smallest real program of the project: it exercises loading from embedded bytes,
 * pinned maps (LIBBPF_PIN_BY_NAME under the caller's pin root), TCX links and clsact.
 * Return codes: TC_ACT_OK (0) / TC_ACT_SHOT (2), numerically equal to TCX_PASS / TCX_DROP.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#include "terway_common.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TERWAY_IFSTATS_MAX);
	__type(key, struct terway_if_key);
	__type(value, struct terway_if_stats);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} terway_ifstats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} terway_dropsw SEC(".maps");

SEC("tc")
int terway_counter(struct __sk_buff *skb)
{
	struct terway_if_key key = { .ifindex = skb->ifindex, .pad = 0 };
	struct terway_if_stats *st;
	__u32 zero = TERWAY_DROPSW_KEY;
	__u32 *drop;
	int shot;

	drop = bpf_map_lookup_elem(&terway_dropsw, &zero);
	shot = drop && *drop != 0;

	st = bpf_map_lookup_elem(&terway_ifstats, &key);
	if (!st) {
		struct terway_if_stats init = {};

		/* BPF_NOEXIST: a concurrent CPU may have created it first; then look it up again. */
		bpf_map_update_elem(&terway_ifstats, &key, &init, BPF_NOEXIST);
		st = bpf_map_lookup_elem(&terway_ifstats, &key);
		if (!st)
			return shot ? TC_ACT_SHOT : TC_ACT_OK;
	}
	__sync_fetch_and_add(&st->packets, 1);
	__sync_fetch_and_add(&st->bytes, skb->len);
	if (shot) {
		__sync_fetch_and_add(&st->drops, 1);
		return TC_ACT_SHOT;
	}
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
