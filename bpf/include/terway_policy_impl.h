/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * NetworkPolicy enforcement, the implementation shared by bpf/policy.bpf.c and the datapathv2
 * programs that carry the policy: the map definitions (pinned by name, so every object that
 * includes this header resolves to the same maps under the loader's pin root) and
 * terway_policy_check(), which does all the work for one packet at one enforcement point.
 * The layouts and the semantics are specified in terway_policy.h.
 *
 * Include after <linux/bpf.h>, <linux/pkt_cls.h> and <bpf/bpf_helpers.h>.
 *
 * Verdict: TC_ACT_UNSPEC (-1 = TCX_NEXT) lets the packet go on to the next program (or the
 * default action), TC_ACT_SHOT drops it.
 *
 * Parsing (bpf_skb_load_bytes from the start of the Ethernet header, so it works the same on
 * linear and paged skbs and under BPF_PROG_TEST_RUN):
 *   - non-IP frames pass (ARP included); 802.1Q-tagged frames pass (pods send untagged ones);
 *   - IPv4: options skipped by IHL; a non-first fragment has no L4 header and is checked as
 *     its protocol with ports 0 (an any-port rule allows it, a port rule does not);
 *   - IPv6: up to TERWAY_V6_MAX_EXT extension headers (hop-by-hop, routing, destination
 *     options, fragment) are skipped; more than that, AH/ESP or any other next header is
 *     checked as that protocol with ports 0; a non-first fragment likewise;
 *   - TCP, UDP, SCTP: source and destination port; ICMP / ICMPv6 echo request and reply: the
 *     echo id as both ports (so a reply matches the request's CT entry);
 *   - ICMP errors (dest unreachable, source quench, redirect, time exceeded, parameter problem)
 *     and ICMPv6 errors (types < 128) pass as related traffic, without a CT check;
 *   - ICMPv6 neighbour discovery and MLD (types 130-137, 143) always pass.
 *
 * Accounting: terway_pstats counts the packets whose endpoint is a LOCAL pod (allowed or
 * dropped); packets that pass before the endpoint lookup (non-IP, ND, ICMP errors, other
 * nodes' pods) are not counted. Every pass of a local endpoint's flow that missed CT inserts its
 * tuple (so replies pass even when only the other direction is isolated). A drop with a full
 * ring buffer is still counted.
 */
#ifndef TERWAY_POLICY_IMPL_H
#define TERWAY_POLICY_IMPL_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "terway_policy.h"

#define TERWAY_DROPS_BYTES (256 * 1024)
#define TERWAY_V6_MAX_EXT 4

/* ---------------------------------------------------------------------------------------- */
/* maps (names, types and sizes as in terway_policy.h) */

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, TERWAY_IPID_MAX);
	__type(key, struct terway_ip_key);
	__type(value, struct terway_ip_info);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} terway_ipid SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, TERWAY_POLICY_MAX);
	__type(key, struct terway_policy_key);
	__type(value, struct terway_policy_value);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} terway_policy SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, TERWAY_CT_MAX);
	__type(key, struct terway_ct_key);
	__type(value, struct terway_ct_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} terway_ct SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TERWAY_PSTATS_MAX);
	__type(key, struct terway_pstats_key);
	__type(value, struct terway_pstats);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} terway_pstats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, TERWAY_DROPS_BYTES);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} terway_drops SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TERWAY_NAMES_MAX);
	__type(key, __u32);
	__type(value, struct terway_name);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} terway_idnames SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TERWAY_NAMES_MAX);
	__type(key, __u32);
	__type(value, struct terway_name);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} terway_rules SEC(".maps");

/*
 * BTF anchor: terway_drop_event reaches the ring buffer only through a void pointer, so clang
 * would leave it out of the object's BTF and user space could not check its codec against it.
 * One instance in a section libbpf skips (no map is created for it) keeps the type in BTF.
 */
struct terway_drop_event terway_drop_event_btf SEC(".terway_btf");

/* ---------------------------------------------------------------------------------------- */
/* parsing */

#define TERWAY_ETH_P_IP 0x0800
#define TERWAY_ETH_P_IPV6 0x86DD
#define TERWAY_ETH_HLEN 14

#define TERWAY_IPPROTO_ICMPV6 58
#define TERWAY_IPPROTO_SCTP 132
#define TERWAY_NEXTHDR_HOP 0
#define TERWAY_NEXTHDR_ROUTING 43
#define TERWAY_NEXTHDR_FRAGMENT 44
#define TERWAY_NEXTHDR_DEST 60

/* What the check needs to know about one packet. */
struct terway_flow {
	__u8 saddr[16];
	__u8 daddr[16];
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 family;           /* 4 or 6 */
	__u8 always;           /* ND, MLD, ICMP errors: pass without any lookup */
	__u8 pad;
};

/* Ports of the L4 header at `off` (TCP/UDP/SCTP ports, ICMP echo id). */
static __always_inline int terway_parse_l4(struct __sk_buff *skb, __u32 off, struct terway_flow *f)
{
	__u8 icmp[6];

	switch (f->proto) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
	case TERWAY_IPPROTO_SCTP: {
		__be16 ports[2];

		if (bpf_skb_load_bytes(skb, off, ports, sizeof(ports)) < 0)
			return -1;
		f->sport = ports[0];
		f->dport = ports[1];
		return 0;
	}
	case IPPROTO_ICMP:
		if (bpf_skb_load_bytes(skb, off, icmp, sizeof(icmp)) < 0)
			return -1;
		/* 0 echo reply, 8 echo request; 3, 4, 5, 11, 12 errors and redirect: related */
		if (icmp[0] == 0 || icmp[0] == 8) {
			__builtin_memcpy(&f->sport, &icmp[4], 2);
			f->dport = f->sport;
		} else if (icmp[0] == 3 || icmp[0] == 4 || icmp[0] == 5 || icmp[0] == 11 || icmp[0] == 12) {
			f->always = 1;
		}
		return 0;
	case TERWAY_IPPROTO_ICMPV6:
		if (bpf_skb_load_bytes(skb, off, icmp, sizeof(icmp)) < 0)
			return -1;
		/* < 128 errors; 128/129 echo; 130-132, 143 MLD; 133-137 ND */
		if (icmp[0] == 128 || icmp[0] == 129) {
			__builtin_memcpy(&f->sport, &icmp[4], 2);
			f->dport = f->sport;
		} else if (icmp[0] < 128 || (icmp[0] >= 130 && icmp[0] <= 137) || icmp[0] == 143) {
			f->always = 1;
		}
		return 0;
	}
	return 0;
}

/* 0: IPv4 parsed into f; -1: truncated. */
static __always_inline int terway_parse_v4(struct __sk_buff *skb, struct terway_flow *f)
{
	__u8 h[20];
	__u32 ihl;

	if (bpf_skb_load_bytes(skb, TERWAY_ETH_HLEN, h, sizeof(h)) < 0)
		return -1;
	ihl = (h[0] & 0x0f) * 4;
	if (ihl < 20)
		return -1;
	f->family = 4;
	f->proto = h[9];
	__builtin_memcpy(f->saddr, &h[12], 4);
	__builtin_memcpy(f->daddr, &h[16], 4);
	/* fragment offset (13 bits): a later fragment carries no L4 header */
	if (((h[6] & 0x1f) | h[7]) != 0)
		return 0;
	return terway_parse_l4(skb, TERWAY_ETH_HLEN + ihl, f);
}

/* 0: IPv6 parsed into f; -1: truncated. */
static __always_inline int terway_parse_v6(struct __sk_buff *skb, struct terway_flow *f)
{
	__u8 h[40];
	__u8 ext[2];
	__u32 off = TERWAY_ETH_HLEN + 40;
	__u8 nh;
	int i;

	if (bpf_skb_load_bytes(skb, TERWAY_ETH_HLEN, h, sizeof(h)) < 0)
		return -1;
	f->family = 6;
	__builtin_memcpy(f->saddr, &h[8], 16);
	__builtin_memcpy(f->daddr, &h[24], 16);
	nh = h[6];

#pragma unroll
	for (i = 0; i < TERWAY_V6_MAX_EXT; i++) {
		if (nh == TERWAY_NEXTHDR_FRAGMENT) {
			__u8 frag[8];

			if (bpf_skb_load_bytes(skb, off, frag, sizeof(frag)) < 0)
				return -1;
			nh = frag[0];
			off += 8;
			/* offset (13 bits) in bytes 2-3: a later fragment carries no L4 header */
			if ((frag[2] | (frag[3] & 0xf8)) != 0) {
				f->proto = nh;
				return 0;
			}
			continue;
		}
		if (nh != TERWAY_NEXTHDR_HOP && nh != TERWAY_NEXTHDR_ROUTING && nh != TERWAY_NEXTHDR_DEST)
			break;
		if (bpf_skb_load_bytes(skb, off, ext, sizeof(ext)) < 0)
			return -1;
		nh = ext[0];
		off += ((__u32)ext[1] + 1) * 8;
	}
	f->proto = nh;
	if (nh == TERWAY_NEXTHDR_HOP || nh == TERWAY_NEXTHDR_ROUTING || nh == TERWAY_NEXTHDR_DEST ||
	    nh == TERWAY_NEXTHDR_FRAGMENT)
		return 0; /* too many extension headers: checked with ports 0 */
	return terway_parse_l4(skb, off, f);
}

/* ---------------------------------------------------------------------------------------- */
/* lookups and accounting */

static __always_inline struct terway_ip_info *terway_ipid_lookup(const __u8 *addr, __u8 family)
{
	struct terway_ip_key k = {};

	k.family = family;
	if (family == 4) {
		k.prefixlen = 32 + 32;
		__builtin_memcpy(k.addr, addr, 4);
	} else {
		k.prefixlen = 32 + 128;
		__builtin_memcpy(k.addr, addr, 16);
	}
	return bpf_map_lookup_elem(&terway_ipid, &k);
}

static __always_inline void terway_ct_fill(struct terway_ct_key *k, const struct terway_flow *f,
					   __u32 ifindex, int reverse)
{
	__builtin_memset(k, 0, sizeof(*k));
	if (reverse) {
		__builtin_memcpy(k->saddr, f->daddr, 16);
		__builtin_memcpy(k->daddr, f->saddr, 16);
		k->sport = f->dport;
		k->dport = f->sport;
	} else {
		__builtin_memcpy(k->saddr, f->saddr, 16);
		__builtin_memcpy(k->daddr, f->daddr, 16);
		k->sport = f->sport;
		k->dport = f->dport;
	}
	k->proto = f->proto;
	k->family = f->family;
	k->ifindex = ifindex;
}

/* A live CT entry for the tuple or its reverse at this point: refresh it and return 1. */
static __always_inline int terway_ct_hit(const struct terway_flow *f, __u32 ifindex, __u64 now)
{
	struct terway_ct_key k;
	struct terway_ct_value *v;

	terway_ct_fill(&k, f, ifindex, 0);
	v = bpf_map_lookup_elem(&terway_ct, &k);
	if (!v) {
		terway_ct_fill(&k, f, ifindex, 1);
		v = bpf_map_lookup_elem(&terway_ct, &k);
	}
	if (!v || now - v->last_seen_ns > TERWAY_CT_LIFETIME_NS)
		return 0;
	v->last_seen_ns = now;
	return 1;
}

static __always_inline void terway_ct_insert(const struct terway_flow *f, __u32 ifindex, __u32 dir,
					     __u64 now)
{
	struct terway_ct_key k;
	struct terway_ct_value v = { .last_seen_ns = now, .direction = dir, .pad = 0 };

	terway_ct_fill(&k, f, ifindex, 0);
	bpf_map_update_elem(&terway_ct, &k, &v, BPF_ANY);
}

static __always_inline void terway_account(__u32 ifindex, __u32 dir, __u32 len, int dropped)
{
	struct terway_pstats_key k = { .ifindex = ifindex, .direction = dir };
	struct terway_pstats *st;

	st = bpf_map_lookup_elem(&terway_pstats, &k);
	if (!st) {
		struct terway_pstats init = {};

		/* BPF_NOEXIST: another CPU may have created it first; then look it up again. */
		bpf_map_update_elem(&terway_pstats, &k, &init, BPF_NOEXIST);
		st = bpf_map_lookup_elem(&terway_pstats, &k);
		if (!st)
			return;
	}
	if (dropped) {
		__sync_fetch_and_add(&st->dropped, 1);
		__sync_fetch_and_add(&st->dropped_bytes, len);
	} else {
		__sync_fetch_and_add(&st->allowed, 1);
		__sync_fetch_and_add(&st->allowed_bytes, len);
	}
}

static __always_inline void terway_emit_drop(const struct terway_flow *f, __u32 ifindex, __u32 dir,
					     __u32 endpoint, __u32 peer, __u64 now)
{
	struct terway_drop_event *e;

	e = bpf_ringbuf_reserve(&terway_drops, sizeof(*e), 0);
	if (!e)
		return; /* ring full: the counter still counts it */
	e->ts_ns = now;
	__builtin_memcpy(e->saddr, f->saddr, 16);
	__builtin_memcpy(e->daddr, f->daddr, 16);
	e->sport = f->sport;
	e->dport = f->dport;
	e->proto = f->proto;
	e->family = f->family;
	e->direction = dir;
	e->reason = dir == TERWAY_DIR_INGRESS ? TERWAY_DROP_POLICY_INGRESS : TERWAY_DROP_POLICY_EGRESS;
	e->ifindex = ifindex;
	e->endpoint = endpoint;
	e->peer = peer;
	e->pad = 0;
	bpf_ringbuf_submit(e, 0);
}

/* An allow rule for (endpoint, peer) or (endpoint, any peer). */
static __always_inline int terway_policy_allows(__u32 endpoint, __u32 peer, __u32 dir,
						const struct terway_flow *f)
{
	struct terway_policy_key k = {
		.prefixlen = 96,
		.endpoint = endpoint,
		.peer = peer,
		.direction = dir,
		.proto = f->proto,
		.dport = f->dport,
	};

	if (bpf_map_lookup_elem(&terway_policy, &k))
		return 1;
	k.peer = TERWAY_ID_ANY;
	return bpf_map_lookup_elem(&terway_policy, &k) != NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* the check */

/*
 * The verdict for one packet at enforcement point `ifindex` (the pod's host-side veth), `dir`
 * the pod's direction (TERWAY_DIR_EGRESS for packets from the pod, INGRESS for packets to it).
 */
static __always_inline int terway_policy_check(struct __sk_buff *skb, __u32 dir, __u32 ifindex)
{
	struct terway_flow f = {};
	struct terway_ip_info *ep, *peer;
	__u32 ep_id, ep_flags, peer_id;
	__u64 now;
	int r;

	if (skb->protocol == bpf_htons(TERWAY_ETH_P_IP))
		r = terway_parse_v4(skb, &f);
	else if (skb->protocol == bpf_htons(TERWAY_ETH_P_IPV6))
		r = terway_parse_v6(skb, &f);
	else
		return TC_ACT_UNSPEC; /* ARP, other non-IP */
	if (r < 0 || f.always)
		return TC_ACT_UNSPEC; /* truncated: the stack drops it; ND, MLD, ICMP errors */

	ep = terway_ipid_lookup(dir == TERWAY_DIR_EGRESS ? f.saddr : f.daddr, f.family);
	if (!ep || !(ep->flags & TERWAY_EP_LOCAL))
		return TC_ACT_UNSPEC;
	ep_id = ep->identity;
	ep_flags = ep->flags;
	peer = terway_ipid_lookup(dir == TERWAY_DIR_EGRESS ? f.daddr : f.saddr, f.family);
	peer_id = peer ? peer->identity : TERWAY_ID_WORLD;

	now = bpf_ktime_get_ns();
	if (peer_id != TERWAY_ID_HOST && !terway_ct_hit(&f, ifindex, now)) {
		__u32 iso = dir == TERWAY_DIR_EGRESS ? TERWAY_EP_ISO_EGRESS : TERWAY_EP_ISO_INGRESS;

		if ((ep_flags & iso) && !terway_policy_allows(ep_id, peer_id, dir, &f)) {
			terway_account(ifindex, dir, skb->len, 1);
			terway_emit_drop(&f, ifindex, dir, ep_id, peer_id, now);
			return TC_ACT_SHOT;
		}
		terway_ct_insert(&f, ifindex, dir, now);
	}
	terway_account(ifindex, dir, skb->len, 0);
	return TC_ACT_UNSPEC;
}

#endif /* TERWAY_POLICY_IMPL_H */
