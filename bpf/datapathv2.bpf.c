// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * datapathv2: the eBPF-accelerated veth datapath. The pod is wired exactly like the `veth`
 * policy-routing datapath (src/core/datapath/veth.ts: host veth cali<hash> with MAC
 * ee:ee:ee:ee:ee:ee, `podIP dev cali.. scope link` in main, rule 512 `to podIP lookup main`,
 * rule 2048 `from podIP lookup <ENI table>`); these two programs only shortcut the host stack:
 *
 *   terway_v2_out  tc ingress of the pod's host veth (after the policy program terway_pol_from,
 *                  which returns TCX_NEXT on allow): bpf_fib_lookup as a forwarding lookup from
 *                  the host veth (so the fib rules apply and `from podIP` picks the ENI's table),
 *                  TTL/hop limit decremented, then bpf_redirect_neigh to the result's device with
 *                  the result's next hop (the kernel resolves the MAC).
 *   terway_v2_in   tc ingress of the ENI: bpf_fib_lookup of the destination; when the route is a
 *                  pod's host veth (the result's source MAC is the host veth MAC) and the pod's
 *                  neighbour entry is known, the pod's ingress policy is checked for that host veth
 *                  (bpf_redirect_peer skips its tc egress, where terway_pol_to would run), MACs
 *                  are rewritten and the packet goes bpf_redirect_peer straight into the pod's
 *                  namespace.
 *
 * Pod IP -> host veth for the inbound side comes from the FIB (the routes the plugin already
 * installs), not from a map the plugin would have to keep in sync: nothing extra to write or
 * clean up per pod, and a pod being torn down stops matching the moment its route goes.
 *
 * Anything else returns TC_ACT_UNSPEC (= TCX_NEXT: the host stack handles it as in `veth`):
 * non-IP, fragments, link-local and multicast destinations, TTL <= 1, local destinations (NOT_FWDED), an
 * unresolved neighbour on the way in, a packet needing fragmentation, a destination in
 * terway_v2_skip (the service CIDRs: kube-proxy's DNAT lives in the host stack), and TCP/UDP
 * packets of a connection the node's conntrack NATs (bpf_skb_ct_lookup: the replies of a
 * service connection must be un-NATed by the stack, wherever they come from). Needs the
 * nf_conntrack kfuncs (Linux 6.0+, conntrack built in or loaded): without them the object does
 * not load and the node keeps the veth datapath.
 *
 * Counters: terway_v2_stats, per-CPU array indexed by TERWAY_V2_STAT_* (read by
 * src/linux/bpf/datapathv2.ts). Return codes: TC_ACT_UNSPEC (-1) = TCX_NEXT, TC_ACT_SHOT = drop,
 * TC_ACT_REDIRECT from the redirect helpers.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "terway_policy.h"

/* The NetworkPolicy check (terway_policy_check) comes from the policy implementation header;
 * without it (a build before it exists) inbound traffic is not policy-checked here. */
#if __has_include("terway_policy_impl.h")
#include "terway_policy_impl.h"
#define TERWAY_V2_HAS_POLICY 1
#else
#define TERWAY_V2_HAS_POLICY 0
#endif

#ifndef AF_INET
#define AF_INET 2
#endif

/* nf_conntrack kfuncs (net/netfilter/nf_conntrack_bpf.c). The 12-byte opts layout is accepted by
 * every kernel that has them; only `status` of struct nf_conn is read (CO-RE relocated). */
struct bpf_ct_opts {
	__s32 netns_id;
	__s32 error;
	__u8 l4proto;
	__u8 dir;
	__u8 reserved[2];
};

struct nf_conn {
	unsigned long status;
} __attribute__((preserve_access_index));

extern struct nf_conn *bpf_skb_ct_lookup(struct __sk_buff *skb, struct bpf_sock_tuple *tuple, __u32 tuple_sz,
					 struct bpf_ct_opts *opts, __u32 opts_sz) __ksym;
extern void bpf_ct_release(struct nf_conn *ct) __ksym;

#define TERWAY_CT_NETNS_CURRENT (-1) /* BPF_F_CURRENT_NETNS */
#define TERWAY_IPS_NAT_MASK 0x30     /* IPS_SRC_NAT | IPS_DST_NAT */
#ifndef AF_INET6
#define AF_INET6 10
#endif

/* terway_v2_stats slots (mirrored in src/linux/bpf/datapathv2.ts V2_STATS). */
#define TERWAY_V2_STAT_OUT_REDIRECT 0 /* host veth -> ENI (or another pod's veth) redirected */
#define TERWAY_V2_STAT_OUT_PASS 1     /* left to the host stack */
#define TERWAY_V2_STAT_IN_REDIRECT 2  /* ENI -> pod redirected to the peer */
#define TERWAY_V2_STAT_IN_PASS 3      /* left to the host stack */
#define TERWAY_V2_STAT_IN_DROP 4      /* dropped by the pod's ingress policy */
#define TERWAY_V2_STAT_MAX 8

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TERWAY_V2_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} terway_v2_stats SEC(".maps");

/* Destinations that always take the host stack (service CIDRs): key as terway_ipid's. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 64);
	__type(key, struct terway_ip_key);
	__type(value, __u32);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} terway_v2_skip SEC(".maps");

/* The host veth MAC (src/core/datapath/names.ts HOST_VETH_MAC): ee:ee:ee:ee:ee:ee. */
static __always_inline int is_host_veth_mac(const __u8 *m)
{
	return m[0] == 0xee && m[1] == 0xee && m[2] == 0xee && m[3] == 0xee && m[4] == 0xee && m[5] == 0xee;
}

static __always_inline void count(__u32 slot)
{
	__u64 *v = bpf_map_lookup_elem(&terway_v2_stats, &slot);

	if (v)
		*v += 1;
}

static __always_inline int pass(__u32 slot)
{
	count(slot);
	return TC_ACT_UNSPEC;
}

static __always_inline int skipped(__u32 family, const void *addr, __u32 len)
{
	struct terway_ip_key k = { .prefixlen = 32 + len * 8, .family = family };

	__builtin_memcpy(k.addr, addr, 16);
	return bpf_map_lookup_elem(&terway_v2_skip, &k) != NULL;
}

/* ip_decrease_ttl (include/net/ip.h): incremental checksum update. */
static __always_inline void dec_ttl4(struct iphdr *ip)
{
	__u32 check = (__u32)ip->check;

	check += (__u32)bpf_htons(0x0100);
	ip->check = (__sum16)(check + (check >= 0xffff));
	ip->ttl--;
}

/*
 * Fill a forwarding FIB lookup for the IP packet behind the Ethernet header. Returns the
 * family (AF_INET/AF_INET6) or 0 when the packet is not ours to shortcut.
 */
static __always_inline int parse(struct __sk_buff *skb, struct bpf_fib_lookup *p, __u32 ifindex)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > end)
		return 0;
	/* tot_len stays 0: the kernel then checks the skb against the output device's MTU itself,
	 * GSO-aware (a TCP super-packet's IP length is far above the MTU but it is forwardable). */
	p->ifindex = ifindex;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);
		__u8 a0;

		/* fragments: the stack reassembles what conntrack needs to see whole */
		if ((void *)(ip + 1) > end || ip->ttl <= 1 || (ip->frag_off & bpf_htons(0x3fff)))
			return 0;
		a0 = ((__u8 *)&ip->daddr)[0];
		if (a0 >= 224 || (a0 == 169 && ((__u8 *)&ip->daddr)[1] == 254) || a0 == 127)
			return 0;
		p->family = AF_INET;
		p->tos = ip->tos;
		p->l4_protocol = ip->protocol;
		p->ipv4_src = ip->saddr;
		p->ipv4_dst = ip->daddr;
		return AF_INET;
	}
	if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);
		__u8 a0, a1;

		if ((void *)(ip6 + 1) > end || ip6->hop_limit <= 1 || ip6->nexthdr == 44 /* fragment */)
			return 0;
		a0 = ip6->daddr.in6_u.u6_addr8[0];
		a1 = ip6->daddr.in6_u.u6_addr8[1];
		if (a0 == 0xff || (a0 == 0xfe && (a1 & 0xc0) == 0x80))
			return 0;
		p->family = AF_INET6;
		p->flowinfo = *(__be32 *)ip6 & bpf_htonl(0x0fffffff);
		p->l4_protocol = ip6->nexthdr;
		__builtin_memcpy(p->ipv6_src, &ip6->saddr, 16);
		__builtin_memcpy(p->ipv6_dst, &ip6->daddr, 16);
		return AF_INET6;
	}
	return 0;
}

/*
 * Whether the node's conntrack NATs this TCP/UDP packet's connection (either direction): such a
 * packet must go through the stack. ICMP and other protocols: no (ping to a service IP is not
 * answered by kube-proxy anyway).
 */
static __always_inline int natted(struct __sk_buff *skb, int family, __u8 proto)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct bpf_ct_opts opts = { .netns_id = TERWAY_CT_NETNS_CURRENT, .l4proto = proto };
	struct bpf_sock_tuple t = {};
	struct nf_conn *ct;
	__u32 size;
	__be16 *ports;
	int nat;

	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP)
		return 0;
	if (family == AF_INET) {
		struct iphdr *ip = data + sizeof(struct ethhdr);

		if ((void *)(ip + 1) > end || ip->ihl < 5)
			return 0;
		ports = (void *)ip + ip->ihl * 4;
		if ((void *)(ports + 2) > end)
			return 0;
		t.ipv4.saddr = ip->saddr;
		t.ipv4.daddr = ip->daddr;
		t.ipv4.sport = ports[0];
		t.ipv4.dport = ports[1];
		size = sizeof(t.ipv4);
	} else {
		struct ipv6hdr *ip6 = data + sizeof(struct ethhdr);

		if ((void *)(ip6 + 1) > end)
			return 0;
		ports = (void *)(ip6 + 1);
		if ((void *)(ports + 2) > end)
			return 0;
		__builtin_memcpy(t.ipv6.saddr, &ip6->saddr, 16);
		__builtin_memcpy(t.ipv6.daddr, &ip6->daddr, 16);
		t.ipv6.sport = ports[0];
		t.ipv6.dport = ports[1];
		size = sizeof(t.ipv6);
	}
	ct = bpf_skb_ct_lookup(skb, &t, size, &opts, sizeof(opts));
	if (!ct)
		return 0;
	nat = (ct->status & TERWAY_IPS_NAT_MASK) != 0;
	bpf_ct_release(ct);
	return nat;
}

/* Decrement TTL / hop limit (the packet is routed, as the host stack would). 0 on success. */
static __always_inline int dec_hops(struct __sk_buff *skb, int family)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;

	if (family == AF_INET) {
		struct iphdr *ip = data + sizeof(struct ethhdr);

		if ((void *)(ip + 1) > end)
			return -1;
		dec_ttl4(ip);
		return 0;
	}
	struct ipv6hdr *ip6 = data + sizeof(struct ethhdr);

	if ((void *)(ip6 + 1) > end)
		return -1;
	ip6->hop_limit--;
	return 0;
}

SEC("tc")
int terway_v2_out(struct __sk_buff *skb)
{
	struct bpf_fib_lookup p = {};
	struct bpf_redir_neigh nh = {};
	__u32 in = skb->ingress_ifindex;
	int family, rc;

	family = parse(skb, &p, in);
	if (!family)
		return pass(TERWAY_V2_STAT_OUT_PASS);
	if (family == AF_INET ? skipped(4, &p.ipv4_dst, 4) : skipped(6, p.ipv6_dst, 16))
		return pass(TERWAY_V2_STAT_OUT_PASS);

	rc = bpf_fib_lookup(skb, &p, sizeof(p), 0);
	if ((rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NO_NEIGH) || p.ifindex == in)
		return pass(TERWAY_V2_STAT_OUT_PASS);
	if (natted(skb, family, p.l4_protocol))
		return pass(TERWAY_V2_STAT_OUT_PASS);

	nh.nh_family = p.family;
	if (p.family == AF_INET)
		nh.ipv4_nh = p.ipv4_dst;
	else
		__builtin_memcpy(nh.ipv6_nh, p.ipv6_dst, 16);
	if (dec_hops(skb, family))
		return pass(TERWAY_V2_STAT_OUT_PASS);
	count(TERWAY_V2_STAT_OUT_REDIRECT);
	return bpf_redirect_neigh(p.ifindex, &nh, sizeof(nh), 0);
}

SEC("tc")
int terway_v2_in(struct __sk_buff *skb)
{
	struct bpf_fib_lookup p = {};
	int family, rc;

	family = parse(skb, &p, skb->ifindex);
	if (!family)
		return pass(TERWAY_V2_STAT_IN_PASS);

	rc = bpf_fib_lookup(skb, &p, sizeof(p), 0);
	/* only a resolved pod veth: the route's device carries the host veth MAC */
	if (rc != BPF_FIB_LKUP_RET_SUCCESS || !is_host_veth_mac(p.smac))
		return pass(TERWAY_V2_STAT_IN_PASS);
	if (natted(skb, family, p.l4_protocol))
		return pass(TERWAY_V2_STAT_IN_PASS);

#if TERWAY_V2_HAS_POLICY
	if (terway_policy_check(skb, TERWAY_DIR_INGRESS, p.ifindex) == TC_ACT_SHOT) {
		count(TERWAY_V2_STAT_IN_DROP);
		return TC_ACT_SHOT;
	}
#endif
	if (dec_hops(skb, family))
		return pass(TERWAY_V2_STAT_IN_PASS);
	if (bpf_skb_store_bytes(skb, 0, p.dmac, ETH_ALEN, 0) ||
	    bpf_skb_store_bytes(skb, ETH_ALEN, p.smac, ETH_ALEN, 0))
		return TC_ACT_SHOT;
	count(TERWAY_V2_STAT_IN_REDIRECT);
	return bpf_redirect_peer(p.ifindex, 0);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
