/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * NetworkPolicy enforcement: the maps and structs shared by bpf/policy.bpf.c (and the datapathv2
 * programs that carry the policy) and user space (src/linux/bpf/policy-maps.ts codecs; its test
 * compares them with the object's BTF). Explicit padding, no holes, sizes multiples of 8 where
 * a struct is a map value. Map names "terway_*" <= 15 bytes, pinned by name under the pin root
 * (/sys/fs/bpf/terway by default).
 *
 * Enforcement happens on each pod's host-side veth:
 *   tc ingress of the host veth = packets FROM the pod = the pod's EGRESS policy
 *   tc egress  of the host veth = packets TO the pod   = the pod's INGRESS policy
 * A program returns TC_ACT_UNSPEC (-1, = TCX_NEXT) when it lets a packet pass, so a program
 * attached after it (datapathv2's redirect) still runs; TC_ACT_SHOT when it drops.
 */
#ifndef TERWAY_POLICY_H
#define TERWAY_POLICY_H

#include <linux/types.h>

/* Identities. Pods with the same namespace, namespace labels, pod labels and container ports
 * share one; each distinct ipBlock CIDR (and each except) gets one. */
#define TERWAY_ID_ANY 0        /* in a policy key: any peer. Never an IP's identity. */
#define TERWAY_ID_HOST 1       /* this node's own addresses: always allowed (kubelet probes) */
#define TERWAY_ID_WORLD 2      /* an address with no entry in terway_ipid */
#define TERWAY_ID_FIRST_POD 256
#define TERWAY_ID_FIRST_CIDR (1u << 24)

#define TERWAY_DIR_INGRESS 0   /* traffic into the endpoint */
#define TERWAY_DIR_EGRESS 1    /* traffic out of the endpoint */

/* terway_ipid: LPM trie, address -> identity. prefixlen counts the 32 bits of `family` plus the
 * address bits (so a v4 /24 is prefixlen 32 + 24). v4 addresses fill addr[0..3], rest zero. */
struct terway_ip_key {
	__u32 prefixlen;
	__u32 family;          /* 4 or 6 */
	__u8 addr[16];
};

#define TERWAY_EP_LOCAL 0x1          /* a pod on this node (its endpoint rules are in terway_policy) */
#define TERWAY_EP_ISO_INGRESS 0x2    /* selected by a policy with Ingress: default deny in */
#define TERWAY_EP_ISO_EGRESS 0x4     /* selected by a policy with Egress: default deny out */

struct terway_ip_info {
	__u32 identity;
	__u32 flags;           /* TERWAY_EP_* */
};

/* terway_policy: LPM trie. Data = endpoint(32) peer(32) direction(8) proto(8) dport(16, network
 * order) = 96 bits. prefixlen 72 = any protocol and port; 80 = this protocol, any port;
 * 80 + n = the ports sharing the top n bits of dport (a port range is a few such prefixes).
 * The datapath looks up (endpoint, peer) first and then (endpoint, TERWAY_ID_ANY). */
struct terway_policy_key {
	__u32 prefixlen;
	__u32 endpoint;
	__u32 peer;
	__u8 direction;
	__u8 proto;            /* IPPROTO_TCP / UDP / SCTP */
	__be16 dport;
};

struct terway_policy_value {
	__u32 rule;            /* terway_rules key: which policy rule allowed this (for `policy dump`) */
	__u32 pad;
};

/* terway_ct: LRU hash of allowed flows, per enforcement point (the host veth's ifindex), keyed
 * as first seen there (saddr -> daddr). At that point a packet whose tuple or reverse tuple is
 * present (and seen within TERWAY_CT_LIFETIME_NS) passes without a policy lookup: replies and the
 * rest of an allowed flow. Per point, so pod A -> pod B on one node is still checked against B's
 * ingress after A's egress allowed it. ICMP echo uses the echo id as both ports (type ignored). */
struct terway_ct_key {
	__u8 saddr[16];
	__u8 daddr[16];
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 family;           /* 4 or 6 */
	__u8 pad[2];
	__u32 ifindex;         /* enforcement point: the pod's host-side veth */
	__u32 pad2;
};

struct terway_ct_value {
	__u64 last_seen_ns;    /* bpf_ktime_get_ns() */
	__u32 direction;       /* TERWAY_DIR_* of the endpoint when first allowed */
	__u32 pad;
};

#define TERWAY_CT_LIFETIME_NS (120ull * 1000000000ull)

/* terway_pstats: hash (ifindex, direction) -> counters, direction as TERWAY_DIR_* of the pod. */
struct terway_pstats_key {
	__u32 ifindex;
	__u32 direction;
};

struct terway_pstats {
	__u64 allowed;
	__u64 allowed_bytes;
	__u64 dropped;
	__u64 dropped_bytes;
};

#define TERWAY_DROP_POLICY_INGRESS 1  /* no rule of the destination pod's ingress policies allows it */
#define TERWAY_DROP_POLICY_EGRESS 2   /* no rule of the source pod's egress policies allows it */

/* terway_drops: ring buffer (256 KiB) of these. */
struct terway_drop_event {
	__u64 ts_ns;
	__u8 saddr[16];
	__u8 daddr[16];
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 family;
	__u8 direction;
	__u8 reason;           /* TERWAY_DROP_* */
	__u32 ifindex;
	__u32 endpoint;        /* identity of the pod whose policy dropped it */
	__u32 peer;            /* identity of the other side */
	__u32 pad;
};

/* terway_idnames (hash identity -> name) and terway_rules (hash rule -> name): written by the
 * agent so `terwayctl policy dump` speaks NetworkPolicy when the daemon is down.
 * Identity names: "pod default/app=web,tier=fe", "cidr 10.0.0.0/8", "host", "world".
 * Rule names: "default/allow-web ingress[0]". */
#define TERWAY_NAME_LEN 120
struct terway_name {
	char name[TERWAY_NAME_LEN];
};

#define TERWAY_IPID_MAX 65536
#define TERWAY_POLICY_MAX 65536
#define TERWAY_CT_MAX 131072
#define TERWAY_PSTATS_MAX 4096
#define TERWAY_NAMES_MAX 16384

#endif /* TERWAY_POLICY_H */
