/**
 * libnl-route-3 object API for links, addresses, routes, policy rules and neighbours.
 *
 * For: src/linux/netlink/, which validates and names things; this file only turns plain data
 * (numbers, strings, byte arrays) into libnl objects, sends them on an `NlSocket`, and copies
 * dumps back into plain data. It must not: let a Pointer escape, decide policy (idempotency,
 * "already exists is fine"), or inspect a return code itself — every int return goes through
 * `nlCheck`, every allocation through `nlAlloc`.
 *
 * Ownership (ffi-probe Q1 pitfalls): every *_alloc / get_kernel / veth_get_peer result is put in
 * a `finally` by the function that got it; nl_addr setters take their own reference (we put ours
 * through `withAddr`); `rtnl_route_add_nexthop` takes ownership of the nexthop; getters return
 * borrowed pointers that are copied before the owning object is put.
 */
import { CString, type Pointer, read as peek, ptr, toArrayBuffer } from "bun:ffi";
import {
	AF_INET,
	AF_INET6,
	AF_LLC,
	AF_UNSPEC,
	addrRead,
	createFlags,
	cstr,
	NLM_F_CREATE,
	NLM_F_EXCL,
	type NlSocket,
	nlAlloc,
	nlCheck,
	openLib,
	outPtr,
	readCache,
	withAddr,
} from "./core.ts";

const defs = {
	// links (netlink/route/link.h, link/{veth,macvlan,ipvlan,vlan}.h)
	rtnl_link_alloc: { args: [], returns: "ptr" },
	rtnl_link_put: { args: ["ptr"], returns: "void" },
	rtnl_link_alloc_cache: { args: ["ptr", "i32", "ptr"], returns: "i32" },
	rtnl_link_get_kernel: { args: ["ptr", "i32", "ptr", "ptr"], returns: "i32" },
	rtnl_link_add: { args: ["ptr", "ptr", "i32"], returns: "i32" },
	rtnl_link_change: { args: ["ptr", "ptr", "ptr", "i32"], returns: "i32" },
	rtnl_link_delete: { args: ["ptr", "ptr"], returns: "i32" },
	rtnl_link_build_add_request: { args: ["ptr", "i32", "ptr"], returns: "i32" },
	rtnl_link_set_name: { args: ["ptr", "ptr"], returns: "void" },
	rtnl_link_get_name: { args: ["ptr"], returns: "ptr" },
	rtnl_link_set_ifindex: { args: ["ptr", "i32"], returns: "void" },
	rtnl_link_get_ifindex: { args: ["ptr"], returns: "i32" },
	rtnl_link_set_addr: { args: ["ptr", "ptr"], returns: "void" },
	rtnl_link_get_addr: { args: ["ptr"], returns: "ptr" },
	rtnl_link_set_mtu: { args: ["ptr", "u32"], returns: "void" },
	rtnl_link_get_mtu: { args: ["ptr"], returns: "u32" },
	rtnl_link_set_flags: { args: ["ptr", "u32"], returns: "void" },
	rtnl_link_unset_flags: { args: ["ptr", "u32"], returns: "void" },
	rtnl_link_get_flags: { args: ["ptr"], returns: "u32" },
	rtnl_link_set_link: { args: ["ptr", "i32"], returns: "void" },
	rtnl_link_get_link: { args: ["ptr"], returns: "i32" },
	rtnl_link_get_master: { args: ["ptr"], returns: "i32" },
	rtnl_link_get_operstate: { args: ["ptr"], returns: "u8" },
	rtnl_link_set_ns_fd: { args: ["ptr", "i32"], returns: "void" },
	rtnl_link_set_type: { args: ["ptr", "ptr"], returns: "i32" },
	rtnl_link_get_type: { args: ["ptr"], returns: "ptr" },
	rtnl_link_veth_alloc: { args: [], returns: "ptr" },
	rtnl_link_veth_get_peer: { args: ["ptr"], returns: "ptr" },
	rtnl_link_macvlan_alloc: { args: [], returns: "ptr" },
	rtnl_link_macvlan_set_mode: { args: ["ptr", "u32"], returns: "i32" },
	rtnl_link_ipvlan_alloc: { args: [], returns: "ptr" },
	rtnl_link_ipvlan_set_mode: { args: ["ptr", "u16"], returns: "i32" },
	rtnl_link_vlan_alloc: { args: [], returns: "ptr" },
	rtnl_link_vlan_set_id: { args: ["ptr", "u16"], returns: "i32" },
	rtnl_link_vlan_set_protocol: { args: ["ptr", "u16"], returns: "i32" },
	// addresses (addr.h)
	rtnl_addr_alloc: { args: [], returns: "ptr" },
	rtnl_addr_put: { args: ["ptr"], returns: "void" },
	rtnl_addr_alloc_cache: { args: ["ptr", "ptr"], returns: "i32" },
	rtnl_addr_add: { args: ["ptr", "ptr", "i32"], returns: "i32" },
	rtnl_addr_delete: { args: ["ptr", "ptr", "i32"], returns: "i32" },
	rtnl_addr_set_ifindex: { args: ["ptr", "i32"], returns: "void" },
	rtnl_addr_get_ifindex: { args: ["ptr"], returns: "i32" },
	rtnl_addr_get_family: { args: ["ptr"], returns: "i32" },
	rtnl_addr_set_local: { args: ["ptr", "ptr"], returns: "i32" },
	rtnl_addr_get_local: { args: ["ptr"], returns: "ptr" },
	rtnl_addr_set_scope: { args: ["ptr", "i32"], returns: "void" },
	rtnl_addr_get_scope: { args: ["ptr"], returns: "i32" },
	rtnl_addr_set_flags: { args: ["ptr", "u32"], returns: "void" },
	rtnl_addr_get_flags: { args: ["ptr"], returns: "u32" },
	rtnl_addr_get_prefixlen: { args: ["ptr"], returns: "i32" },
	rtnl_addr_get_label: { args: ["ptr"], returns: "ptr" },
	// routes (route.h, nexthop.h)
	rtnl_route_alloc: { args: [], returns: "ptr" },
	rtnl_route_put: { args: ["ptr"], returns: "void" },
	rtnl_route_alloc_cache: { args: ["ptr", "i32", "i32", "ptr"], returns: "i32" },
	rtnl_route_add: { args: ["ptr", "ptr", "i32"], returns: "i32" },
	rtnl_route_delete: { args: ["ptr", "ptr", "i32"], returns: "i32" },
	rtnl_route_set_family: { args: ["ptr", "u8"], returns: "i32" },
	rtnl_route_get_family: { args: ["ptr"], returns: "u8" },
	rtnl_route_set_dst: { args: ["ptr", "ptr"], returns: "i32" },
	rtnl_route_get_dst: { args: ["ptr"], returns: "ptr" },
	rtnl_route_set_pref_src: { args: ["ptr", "ptr"], returns: "i32" },
	rtnl_route_get_pref_src: { args: ["ptr"], returns: "ptr" },
	rtnl_route_set_table: { args: ["ptr", "u32"], returns: "void" },
	rtnl_route_get_table: { args: ["ptr"], returns: "u32" },
	rtnl_route_set_scope: { args: ["ptr", "u8"], returns: "void" },
	rtnl_route_get_scope: { args: ["ptr"], returns: "u8" },
	rtnl_route_set_protocol: { args: ["ptr", "u8"], returns: "void" },
	rtnl_route_get_protocol: { args: ["ptr"], returns: "u8" },
	rtnl_route_set_type: { args: ["ptr", "u8"], returns: "i32" },
	rtnl_route_get_type: { args: ["ptr"], returns: "u8" },
	rtnl_route_set_priority: { args: ["ptr", "u32"], returns: "void" },
	rtnl_route_get_priority: { args: ["ptr"], returns: "u32" },
	rtnl_route_get_flags: { args: ["ptr"], returns: "u32" },
	rtnl_route_add_nexthop: { args: ["ptr", "ptr"], returns: "void" },
	rtnl_route_get_nnexthops: { args: ["ptr"], returns: "i32" },
	rtnl_route_nexthop_n: { args: ["ptr", "i32"], returns: "ptr" },
	rtnl_route_nh_alloc: { args: [], returns: "ptr" },
	rtnl_route_nh_free: { args: ["ptr"], returns: "void" },
	rtnl_route_nh_set_ifindex: { args: ["ptr", "i32"], returns: "void" },
	rtnl_route_nh_get_ifindex: { args: ["ptr"], returns: "i32" },
	rtnl_route_nh_set_gateway: { args: ["ptr", "ptr"], returns: "void" },
	rtnl_route_nh_get_gateway: { args: ["ptr"], returns: "ptr" },
	rtnl_route_nh_set_flags: { args: ["ptr", "u32"], returns: "void" },
	rtnl_route_nh_get_flags: { args: ["ptr"], returns: "u32" },
	// policy rules (rule.h)
	rtnl_rule_alloc: { args: [], returns: "ptr" },
	rtnl_rule_put: { args: ["ptr"], returns: "void" },
	rtnl_rule_alloc_cache: { args: ["ptr", "i32", "ptr"], returns: "i32" },
	rtnl_rule_add: { args: ["ptr", "ptr", "i32"], returns: "i32" },
	rtnl_rule_delete: { args: ["ptr", "ptr", "i32"], returns: "i32" },
	rtnl_rule_set_family: { args: ["ptr", "i32"], returns: "void" },
	rtnl_rule_get_family: { args: ["ptr"], returns: "i32" },
	rtnl_rule_set_prio: { args: ["ptr", "u32"], returns: "void" },
	rtnl_rule_get_prio: { args: ["ptr"], returns: "u32" },
	rtnl_rule_set_mark: { args: ["ptr", "u32"], returns: "void" },
	rtnl_rule_get_mark: { args: ["ptr"], returns: "u32" },
	rtnl_rule_set_mask: { args: ["ptr", "u32"], returns: "void" },
	rtnl_rule_get_mask: { args: ["ptr"], returns: "u32" },
	rtnl_rule_set_table: { args: ["ptr", "u32"], returns: "void" },
	rtnl_rule_get_table: { args: ["ptr"], returns: "u32" },
	rtnl_rule_set_src: { args: ["ptr", "ptr"], returns: "i32" },
	rtnl_rule_get_src: { args: ["ptr"], returns: "ptr" },
	rtnl_rule_set_dst: { args: ["ptr", "ptr"], returns: "i32" },
	rtnl_rule_get_dst: { args: ["ptr"], returns: "ptr" },
	rtnl_rule_set_action: { args: ["ptr", "u8"], returns: "void" },
	rtnl_rule_get_action: { args: ["ptr"], returns: "u8" },
	rtnl_rule_set_iif: { args: ["ptr", "ptr"], returns: "i32" },
	rtnl_rule_get_iif: { args: ["ptr"], returns: "ptr" },
	rtnl_rule_set_oif: { args: ["ptr", "ptr"], returns: "i32" },
	rtnl_rule_get_oif: { args: ["ptr"], returns: "ptr" },
	rtnl_rule_set_goto: { args: ["ptr", "u32"], returns: "void" },
	rtnl_rule_get_goto: { args: ["ptr"], returns: "u32" },
	// neighbours (neighbour.h)
	rtnl_neigh_alloc: { args: [], returns: "ptr" },
	rtnl_neigh_put: { args: ["ptr"], returns: "void" },
	rtnl_neigh_alloc_cache: { args: ["ptr", "ptr"], returns: "i32" },
	rtnl_neigh_add: { args: ["ptr", "ptr", "i32"], returns: "i32" },
	rtnl_neigh_delete: { args: ["ptr", "ptr", "i32"], returns: "i32" },
	rtnl_neigh_set_ifindex: { args: ["ptr", "i32"], returns: "void" },
	rtnl_neigh_get_ifindex: { args: ["ptr"], returns: "i32" },
	rtnl_neigh_set_family: { args: ["ptr", "i32"], returns: "void" },
	rtnl_neigh_get_family: { args: ["ptr"], returns: "i32" },
	rtnl_neigh_set_dst: { args: ["ptr", "ptr"], returns: "i32" },
	rtnl_neigh_get_dst: { args: ["ptr"], returns: "ptr" },
	rtnl_neigh_set_lladdr: { args: ["ptr", "ptr"], returns: "void" },
	rtnl_neigh_get_lladdr: { args: ["ptr"], returns: "ptr" },
	rtnl_neigh_set_state: { args: ["ptr", "i32"], returns: "void" },
	rtnl_neigh_get_state: { args: ["ptr"], returns: "i32" },
	rtnl_neigh_set_flags: { args: ["ptr", "u32"], returns: "void" },
	rtnl_neigh_get_flags: { args: ["ptr"], returns: "u32" },
} as const;

// nl_msg accessors live in libnl-3; core.ts's table does not declare them, so this file opens
// its own (tiny) view of the same library for the byte-capture helper.
const msgDefs = {
	nlmsg_hdr: { args: ["ptr"], returns: "ptr" },
	nlmsg_free: { args: ["ptr"], returns: "void" },
} as const;

type Lib = ReturnType<typeof openLib<typeof defs>>;
let lib: Lib | undefined;
/** libnl-route-3.so.200, opened on first use. */
function rt(): Lib {
	if (!lib) lib = openLib("libnl-route-3.so.200", defs);
	return lib;
}
let msgLib: ReturnType<typeof openLib<typeof msgDefs>> | undefined;
function msg() {
	if (!msgLib) msgLib = openLib("libnl-3.so.200", msgDefs);
	return msgLib;
}

/** if.h */
export const IFF_UP = 0x1;
/** if_addr.h */
export const IFA_F_NODAD = 0x02;
/** rtnetlink.h / fib_rules.h / neighbour.h constants used by callers. */
export const RTNH_F_ONLINK = 0x4;
export const RT_SCOPE_UNIVERSE = 0;
export const RT_SCOPE_LINK = 253;
export const RT_SCOPE_HOST = 254;
export const RT_SCOPE_NOWHERE = 255;
export const RT_TABLE_MAIN = 254;
export const RTPROT_UNSPEC = 0;
export const RTPROT_BOOT = 3;
export const RTPROT_STATIC = 4;
export const RTN_UNICAST = 1;
export const FR_ACT_TO_TBL = 1;
export const FR_ACT_GOTO = 2;
export const FR_ACT_BLACKHOLE = 6;
export const FR_ACT_UNREACHABLE = 7;
export const FR_ACT_PROHIBIT = 8;
/** neighbour.h: a proxy (pneigh) entry: answer ARP/NS for dst on this link (proxy_arp/proxy_ndp). */
export const NTF_PROXY = 0x08;
export const NUD_PERMANENT = 0x80;
export { AF_INET, AF_INET6, AF_UNSPEC };

/** bun types pointer returns as `Pointer | bigint | null`; on x86-64 they are numbers. */
const asPtr = (p: Pointer | bigint | null): Pointer | null => (p ? (p as Pointer) : null);
/** Copy a borrowed C string (NULL -> undefined). */
const str = (p: Pointer | bigint | null): string | undefined => {
	const q = asPtr(p);
	return q ? new CString(q).toString() : undefined;
};
/** Copy a borrowed nl_addr. */
const rd = (p: Pointer | bigint | null) => addrRead(asPtr(p));

function putLink(l: Pointer | null): void {
	if (l) rt().rtnl_link_put(l);
}

// ----------------------------------------------------------------------------------------------
// links

/** What a link looks like in a dump (plain data, copied out of libnl). */
export type LinkRecord = {
	index: number;
	name: string;
	/** IFLA_INFO_KIND ("veth", "macvlan"...); undefined for devices without link info (lo). */
	kind: string | undefined;
	/** IFLA_LINK: the parent (macvlan/vlan) or the veth peer's ifindex (in its own netns); 0 if none. */
	link: number;
	/** IFLA_MASTER, 0 if none. */
	master: number;
	flags: number;
	mac: Uint8Array | undefined;
	mtu: number;
	/** IF_OPER_* (RFC 2863): 0 unknown, 2 down, 6 up... */
	operstate: number;
};

/** A link to create: common attributes plus the kind-specific ones. */
export type LinkCreate = {
	name: string;
	kind: "veth" | "macvlan" | "ipvlan" | "vlan";
	/** IFLA_LINK for macvlan/ipvlan/vlan. */
	parentIndex?: number;
	mac?: Uint8Array;
	mtu?: number;
	up?: boolean;
	/** Create the (first) link directly in the namespace behind this fd (IFLA_NET_NS_FD). */
	nsFd?: number;
	peer?: { name: string; nsFd?: number; mac?: Uint8Array; mtu?: number };
	/** MACVLAN_MODE_* bit (1 private, 2 vepa, 4 bridge, 8 passthru, 16 source). */
	macvlanMode?: number;
	/** IPVLAN_MODE_* (0 l2, 1 l3, 2 l3s). */
	ipvlanMode?: number;
	vlanId?: number;
	/** Ethertype in host order (0x8100 802.1Q, 0x88a8 802.1ad). */
	vlanProtocol?: number;
};

/** The attributes a change may carry (IFLA_IFNAME, IFLA_ADDRESS, IFLA_MTU, flags, IFLA_NET_NS_FD). */
export type LinkChange = { name?: string; mac?: Uint8Array; mtu?: number; up?: boolean; nsFd?: number };

function setCommon(
	l: Pointer,
	c: { name?: string; mac?: Uint8Array; mtu?: number; up?: boolean; nsFd?: number },
) {
	const r = rt();
	if (c.name !== undefined) r.rtnl_link_set_name(l, cstr(c.name));
	if (c.mac) withAddr(AF_LLC, c.mac, undefined, (a) => r.rtnl_link_set_addr(l, a)); // takes its own ref
	if (c.mtu !== undefined) r.rtnl_link_set_mtu(l, c.mtu);
	if (c.up === true) r.rtnl_link_set_flags(l, IFF_UP);
	if (c.up === false) r.rtnl_link_unset_flags(l, IFF_UP);
	if (c.nsFd !== undefined) r.rtnl_link_set_ns_fd(l, c.nsFd);
}

/** Allocate and fill the rtnl_link for a create request; caller puts it. */
function buildLink(spec: LinkCreate): Pointer {
	const r = rt();
	let l: Pointer;
	switch (spec.kind) {
		case "veth":
			l = nlAlloc("rtnl_link_veth_alloc", r.rtnl_link_veth_alloc());
			break;
		case "macvlan":
			l = nlAlloc("rtnl_link_macvlan_alloc", r.rtnl_link_macvlan_alloc());
			break;
		case "ipvlan":
			l = nlAlloc("rtnl_link_ipvlan_alloc", r.rtnl_link_ipvlan_alloc());
			break;
		case "vlan":
			l = nlAlloc("rtnl_link_vlan_alloc", r.rtnl_link_vlan_alloc());
			break;
	}
	try {
		setCommon(l, spec);
		if (spec.parentIndex !== undefined) r.rtnl_link_set_link(l, spec.parentIndex);
		if (spec.kind === "macvlan" && spec.macvlanMode !== undefined) {
			nlCheck("rtnl_link_macvlan_set_mode", r.rtnl_link_macvlan_set_mode(l, spec.macvlanMode));
		}
		if (spec.kind === "ipvlan" && spec.ipvlanMode !== undefined) {
			nlCheck("rtnl_link_ipvlan_set_mode", r.rtnl_link_ipvlan_set_mode(l, spec.ipvlanMode));
		}
		if (spec.kind === "vlan") {
			if (spec.vlanId !== undefined)
				nlCheck("rtnl_link_vlan_set_id", r.rtnl_link_vlan_set_id(l, spec.vlanId));
			if (spec.vlanProtocol !== undefined) {
				// libnl writes the u16 as given (NLA_PUT_U16, host order) while the kernel reads
				// IFLA_VLAN_PROTOCOL as __be16: pass it byte-swapped (htons) so 0x8100 is on the wire as 81 00.
				const be = ((spec.vlanProtocol & 0xff) << 8) | ((spec.vlanProtocol >> 8) & 0xff);
				nlCheck("rtnl_link_vlan_set_protocol", r.rtnl_link_vlan_set_protocol(l, be));
			}
		}
		if (spec.kind === "veth" && spec.peer) {
			// new reference to the peer object owned by l: put ours when done
			const peer = nlAlloc("rtnl_link_veth_get_peer", r.rtnl_link_veth_get_peer(l));
			try {
				setCommon(peer, spec.peer);
			} finally {
				putLink(peer);
			}
		}
	} catch (e) {
		putLink(l);
		throw e;
	}
	return l;
}

/**
 * Send one freshly built libnl object and put it afterwards, whatever happens: the ownership
 * rule in one place (the caller built `obj`; nothing else holds it).
 */
function request(fn: string, obj: Pointer, send: (o: Pointer) => number, put: (o: Pointer) => void): void {
	try {
		nlCheck(fn, send(obj));
	} finally {
		put(obj);
	}
}

/** RTM_NEWLINK with NLM_F_CREATE|NLM_F_EXCL: one message, so the kernel makes all of it or nothing. */
export function linkAdd(sk: NlSocket, spec: LinkCreate): void {
	request(
		"rtnl_link_add",
		buildLink(spec),
		(o) => rt().rtnl_link_add(sk.raw, o, NLM_F_CREATE | NLM_F_EXCL),
		(o) => putLink(o),
	);
}

/**
 * The exact RTM_NEWLINK bytes libnl would send for `spec` (nlmsghdr included; seq/pid are 0
 * until the socket fills them in). For golden tests of kinds this kernel cannot create.
 */
export function linkAddRequestBytes(spec: LinkCreate): Uint8Array {
	const flags = NLM_F_CREATE | NLM_F_EXCL;
	const l = buildLink(spec);
	try {
		const out = new BigUint64Array(1);
		nlCheck("rtnl_link_build_add_request", rt().rtnl_link_build_add_request(l, flags, ptr(out)));
		const m = nlAlloc("rtnl_link_build_add_request", outPtr(out));
		try {
			const hdr = nlAlloc("nlmsg_hdr", msg().nlmsg_hdr(m));
			const len = peek.u32(hdr, 0);
			return new Uint8Array(toArrayBuffer(hdr, 0, len).slice(0)); // copied, safe after nlmsg_free
		} finally {
			msg().nlmsg_free(m);
		}
	} finally {
		putLink(l);
	}
}

function readLink(l: Pointer): LinkRecord {
	const r = rt();
	const mac = rd(r.rtnl_link_get_addr(l));
	return {
		index: r.rtnl_link_get_ifindex(l),
		name: str(r.rtnl_link_get_name(l)) ?? "",
		kind: str(r.rtnl_link_get_type(l)),
		link: r.rtnl_link_get_link(l),
		master: r.rtnl_link_get_master(l),
		flags: r.rtnl_link_get_flags(l),
		mac: mac && mac.bytes.length > 0 ? mac.bytes : undefined,
		mtu: r.rtnl_link_get_mtu(l),
		operstate: r.rtnl_link_get_operstate(l),
	};
}

/** RTM_GETLINK for one link by name or index (ifindex 0 + name). Throws NlError (isNotFound) if absent. */
export function linkGet(sk: NlSocket, by: { name: string } | { index: number }): LinkRecord {
	const out = new BigUint64Array(1);
	const name = "name" in by ? cstr(by.name) : null;
	const index = "index" in by ? by.index : 0;
	const what = "name" in by ? by.name : `ifindex ${by.index}`;
	nlCheck("rtnl_link_get_kernel", rt().rtnl_link_get_kernel(sk.raw, index, name, ptr(out)), what);
	const l = nlAlloc("rtnl_link_get_kernel", outPtr(out));
	try {
		return readLink(l);
	} finally {
		putLink(l);
	}
}

/** Dump all links of the socket's namespace. */
export function linkList(sk: NlSocket): LinkRecord[] {
	return readCache(
		"rtnl_link_alloc_cache",
		(o) => rt().rtnl_link_alloc_cache(sk.raw, AF_UNSPEC, o),
		readLink,
	);
}

/** Change one link (by ifindex): rename, MAC, MTU, up/down, move to another netns. */
export function linkChange(sk: NlSocket, index: number, change: LinkChange): void {
	const r = rt();
	const orig = nlAlloc("rtnl_link_alloc", r.rtnl_link_alloc());
	try {
		r.rtnl_link_set_ifindex(orig, index);
		const ch = nlAlloc("rtnl_link_alloc", r.rtnl_link_alloc());
		try {
			setCommon(ch, change);
			nlCheck("rtnl_link_change", r.rtnl_link_change(sk.raw, orig, ch, 0), `ifindex ${index}`);
		} finally {
			putLink(ch);
		}
	} finally {
		putLink(orig);
	}
}

/** RTM_DELLINK by ifindex (a veth takes its peer with it). */
export function linkDelete(sk: NlSocket, index: number): void {
	const r = rt();
	const l = nlAlloc("rtnl_link_alloc", r.rtnl_link_alloc());
	try {
		r.rtnl_link_set_ifindex(l, index);
		nlCheck("rtnl_link_delete", r.rtnl_link_delete(sk.raw, l), `ifindex ${index}`);
	} finally {
		putLink(l);
	}
}

// ----------------------------------------------------------------------------------------------
// addresses

/** An interface address; `local` is raw bytes (4 or 16). */
export type AddrRecord = {
	index: number;
	family: number;
	local: Uint8Array;
	prefixlen: number;
	scope: number;
	/** IFA_F_* (IFA_FLAGS when present, else ifa_flags). */
	flags: number;
	label: string | undefined;
};

/** What addrAdd/addrDelete need. */
export type AddrSpec = {
	index: number;
	family: number;
	local: Uint8Array;
	prefixlen: number;
	scope?: number;
	flags?: number;
};

function buildAddr(spec: AddrSpec): Pointer {
	const r = rt();
	const a = nlAlloc("rtnl_addr_alloc", r.rtnl_addr_alloc());
	try {
		r.rtnl_addr_set_ifindex(a, spec.index);
		// set_local also sets the family and prefix length from the nl_addr; takes its own ref
		withAddr(spec.family, spec.local, spec.prefixlen, (na) =>
			nlCheck("rtnl_addr_set_local", r.rtnl_addr_set_local(a, na)),
		);
		if (spec.scope !== undefined) r.rtnl_addr_set_scope(a, spec.scope);
		if (spec.flags) r.rtnl_addr_set_flags(a, spec.flags);
	} catch (e) {
		r.rtnl_addr_put(a);
		throw e;
	}
	return a;
}

/** RTM_NEWADDR with NLM_F_CREATE (libnl does not add it) and EXCL (EEXIST on a duplicate) or, with `replace`, NLM_F_REPLACE. */
export function addrAdd(sk: NlSocket, spec: AddrSpec, replace = false): void {
	const flags = createFlags(replace);
	request(
		"rtnl_addr_add",
		buildAddr(spec),
		(o) => rt().rtnl_addr_add(sk.raw, o, flags),
		(o) => rt().rtnl_addr_put(o),
	);
}

/** RTM_DELADDR. */
export function addrDelete(sk: NlSocket, spec: AddrSpec): void {
	request(
		"rtnl_addr_delete",
		buildAddr({ ...spec, flags: 0 }),
		(o) => rt().rtnl_addr_delete(sk.raw, o, 0),
		(o) => rt().rtnl_addr_put(o),
	);
}

function readAddr(a: Pointer): AddrRecord | undefined {
	const r = rt();
	const local = rd(r.rtnl_addr_get_local(a));
	if (!local) return undefined;
	return {
		index: r.rtnl_addr_get_ifindex(a),
		family: r.rtnl_addr_get_family(a),
		local: local.bytes,
		prefixlen: r.rtnl_addr_get_prefixlen(a),
		scope: r.rtnl_addr_get_scope(a),
		flags: r.rtnl_addr_get_flags(a),
		label: str(r.rtnl_addr_get_label(a)),
	};
}

/** Dump all addresses (both families) of the socket's namespace. */
export function addrList(sk: NlSocket): AddrRecord[] {
	return readCache("rtnl_addr_alloc_cache", (o) => rt().rtnl_addr_alloc_cache(sk.raw, o), readAddr);
}

// ----------------------------------------------------------------------------------------------
// routes

export type NexthopSpec = { index?: number; gateway?: Uint8Array; flags?: number };

/** A route as sent or as dumped. `dst` of length 0 bytes never occurs: default = all-zero bytes, len 0. */
export type RouteSpec = {
	family: number;
	dst: Uint8Array;
	dstLen: number;
	table: number;
	/** RT_SCOPE_*; undefined lets libnl guess (link if no gateway, else universe) on add. */
	scope?: number;
	protocol?: number;
	type?: number;
	priority?: number;
	prefSrc?: Uint8Array;
	nexthops: NexthopSpec[];
};

export type RouteRecord = Required<Omit<RouteSpec, "prefSrc" | "nexthops">> & {
	prefSrc: Uint8Array | undefined;
	flags: number;
	nexthops: { index: number; gateway: Uint8Array | undefined; flags: number }[];
};

function buildRoute(spec: RouteSpec): Pointer {
	const r = rt();
	const ro = nlAlloc("rtnl_route_alloc", r.rtnl_route_alloc());
	try {
		nlCheck("rtnl_route_set_family", r.rtnl_route_set_family(ro, spec.family));
		withAddr(spec.family, spec.dst, spec.dstLen, (a) =>
			nlCheck("rtnl_route_set_dst", r.rtnl_route_set_dst(ro, a)),
		);
		r.rtnl_route_set_table(ro, spec.table);
		if (spec.scope !== undefined) r.rtnl_route_set_scope(ro, spec.scope);
		if (spec.protocol !== undefined) r.rtnl_route_set_protocol(ro, spec.protocol);
		if (spec.type !== undefined) nlCheck("rtnl_route_set_type", r.rtnl_route_set_type(ro, spec.type));
		if (spec.priority !== undefined) r.rtnl_route_set_priority(ro, spec.priority);
		const src = spec.prefSrc;
		if (src)
			withAddr(spec.family, src, undefined, (a) =>
				nlCheck("rtnl_route_set_pref_src", r.rtnl_route_set_pref_src(ro, a)),
			);
		for (const n of spec.nexthops) {
			const nh = nlAlloc("rtnl_route_nh_alloc", r.rtnl_route_nh_alloc());
			try {
				if (n.index !== undefined) r.rtnl_route_nh_set_ifindex(nh, n.index);
				const gw = n.gateway;
				if (gw)
					withAddr(gw.length === 16 ? AF_INET6 : AF_INET, gw, undefined, (a) =>
						r.rtnl_route_nh_set_gateway(nh, a),
					);
				if (n.flags) r.rtnl_route_nh_set_flags(nh, n.flags);
			} catch (e) {
				r.rtnl_route_nh_free(nh);
				throw e;
			}
			r.rtnl_route_add_nexthop(ro, nh); // the route owns nh from here on
		}
	} catch (e) {
		r.rtnl_route_put(ro);
		throw e;
	}
	return ro;
}

/** RTM_NEWROUTE with NLM_F_CREATE (libnl does not add it) and EXCL or, with `replace`, NLM_F_REPLACE. */
export function routeAdd(sk: NlSocket, spec: RouteSpec, replace = false): void {
	const flags = createFlags(replace);
	request(
		"rtnl_route_add",
		buildRoute(spec),
		(o) => rt().rtnl_route_add(sk.raw, o, flags),
		(o) => rt().rtnl_route_put(o),
	);
}

/**
 * RTM_DELROUTE. Unset scope/protocol are sent as wildcards (RT_SCOPE_NOWHERE, RTPROT_UNSPEC)
 * because libnl would otherwise send its defaults (guessed scope, RTPROT_STATIC), which the
 * kernel's fib_table_delete treats as filters.
 */
export function routeDelete(sk: NlSocket, spec: RouteSpec): void {
	request(
		"rtnl_route_delete",
		buildRoute({
			...spec,
			scope: spec.scope ?? RT_SCOPE_NOWHERE,
			protocol: spec.protocol ?? RTPROT_UNSPEC,
		}),
		(o) => rt().rtnl_route_delete(sk.raw, o, 0),
		(o) => rt().rtnl_route_put(o),
	);
}

function readRoute(ro: Pointer): RouteRecord | undefined {
	const r = rt();
	const family = r.rtnl_route_get_family(ro);
	const dst = rd(r.rtnl_route_get_dst(ro));
	const width = family === AF_INET6 ? 16 : 4;
	const nexthops: RouteRecord["nexthops"] = [];
	const n = r.rtnl_route_get_nnexthops(ro);
	for (let i = 0; i < n; i++) {
		const nh = r.rtnl_route_nexthop_n(ro, i); // borrowed
		if (!nh) continue;
		const gw = rd(r.rtnl_route_nh_get_gateway(nh));
		nexthops.push({
			index: r.rtnl_route_nh_get_ifindex(nh),
			gateway: gw?.bytes.length ? gw.bytes : undefined,
			flags: r.rtnl_route_nh_get_flags(nh),
		});
	}
	const src = rd(r.rtnl_route_get_pref_src(ro));
	const dstBytes = dst && dst.bytes.length === width ? dst.bytes : new Uint8Array(width);
	return {
		family,
		dst: dstBytes,
		dstLen: dst ? dst.prefixlen : 0,
		table: r.rtnl_route_get_table(ro),
		scope: r.rtnl_route_get_scope(ro),
		protocol: r.rtnl_route_get_protocol(ro),
		type: r.rtnl_route_get_type(ro),
		priority: r.rtnl_route_get_priority(ro),
		prefSrc: src?.bytes.length ? src.bytes : undefined,
		flags: r.rtnl_route_get_flags(ro),
		nexthops,
	};
}

/** Dump the routes of one family (AF_UNSPEC for both). The kernel answers with every table. */
export function routeList(sk: NlSocket, family: number): RouteRecord[] {
	return readCache(
		"rtnl_route_alloc_cache",
		(o) => rt().rtnl_route_alloc_cache(sk.raw, family, 0, o),
		readRoute,
	);
}

// ----------------------------------------------------------------------------------------------
// policy rules

export type RuleSpec = {
	family: number;
	priority?: number;
	table?: number;
	/** FR_ACT_* (1 = to table, 2 = goto, 6 = blackhole, ...). */
	action: number;
	/** FRA_GOTO: the priority a goto rule jumps to. */
	goto?: number;
	src?: { bytes: Uint8Array; len: number };
	dst?: { bytes: Uint8Array; len: number };
	iif?: string;
	oif?: string;
	mark?: number;
	mask?: number;
};

export type RuleRecord = {
	family: number;
	priority: number;
	table: number;
	action: number;
	/** FRA_GOTO target priority (0 unless a goto rule). */
	goto: number;
	src: { bytes: Uint8Array; len: number } | undefined;
	dst: { bytes: Uint8Array; len: number } | undefined;
	iif: string | undefined;
	oif: string | undefined;
	mark: number;
	mask: number;
};

function buildRule(spec: RuleSpec): Pointer {
	const r = rt();
	const ru = nlAlloc("rtnl_rule_alloc", r.rtnl_rule_alloc());
	try {
		r.rtnl_rule_set_family(ru, spec.family);
		r.rtnl_rule_set_action(ru, spec.action);
		if (spec.priority !== undefined) r.rtnl_rule_set_prio(ru, spec.priority);
		if (spec.table !== undefined) r.rtnl_rule_set_table(ru, spec.table);
		if (spec.goto !== undefined) r.rtnl_rule_set_goto(ru, spec.goto);
		const { src, dst } = spec;
		if (src)
			withAddr(spec.family, src.bytes, src.len, (a) =>
				nlCheck("rtnl_rule_set_src", r.rtnl_rule_set_src(ru, a)),
			);
		if (dst)
			withAddr(spec.family, dst.bytes, dst.len, (a) =>
				nlCheck("rtnl_rule_set_dst", r.rtnl_rule_set_dst(ru, a)),
			);
		if (spec.iif !== undefined) nlCheck("rtnl_rule_set_iif", r.rtnl_rule_set_iif(ru, cstr(spec.iif)));
		if (spec.oif !== undefined) nlCheck("rtnl_rule_set_oif", r.rtnl_rule_set_oif(ru, cstr(spec.oif)));
		if (spec.mark !== undefined) r.rtnl_rule_set_mark(ru, spec.mark);
		if (spec.mask !== undefined) r.rtnl_rule_set_mask(ru, spec.mask);
	} catch (e) {
		r.rtnl_rule_put(ru);
		throw e;
	}
	return ru;
}

/** RTM_NEWRULE with NLM_F_CREATE | `flags` (NLM_F_EXCL: the kernel answers EEXIST for a duplicate). */
export function ruleAdd(sk: NlSocket, spec: RuleSpec): void {
	const flags = NLM_F_CREATE | NLM_F_EXCL;
	request(
		"rtnl_rule_add",
		buildRule(spec),
		(o) => rt().rtnl_rule_add(sk.raw, o, flags),
		(o) => rt().rtnl_rule_put(o),
	);
}

/** RTM_DELRULE: the kernel deletes the first rule matching every attribute given. */
export function ruleDelete(sk: NlSocket, spec: RuleSpec): void {
	request(
		"rtnl_rule_delete",
		buildRule(spec),
		(o) => rt().rtnl_rule_delete(sk.raw, o, 0),
		(o) => rt().rtnl_rule_put(o),
	);
}

function readRule(ru: Pointer): RuleRecord {
	const r = rt();
	const pfx = (p: Pointer | bigint | null) => {
		const a = rd(p);
		return a?.bytes.length ? { bytes: a.bytes, len: a.prefixlen } : undefined;
	};
	return {
		family: r.rtnl_rule_get_family(ru),
		priority: r.rtnl_rule_get_prio(ru),
		table: r.rtnl_rule_get_table(ru),
		action: r.rtnl_rule_get_action(ru),
		goto: r.rtnl_rule_get_goto(ru),
		src: pfx(r.rtnl_rule_get_src(ru)),
		dst: pfx(r.rtnl_rule_get_dst(ru)),
		iif: str(r.rtnl_rule_get_iif(ru)),
		oif: str(r.rtnl_rule_get_oif(ru)),
		mark: r.rtnl_rule_get_mark(ru),
		mask: r.rtnl_rule_get_mask(ru),
	};
}

/** Dump the rules of one family (AF_UNSPEC for both). */
export function ruleList(sk: NlSocket, family: number): RuleRecord[] {
	return readCache("rtnl_rule_alloc_cache", (o) => rt().rtnl_rule_alloc_cache(sk.raw, family, o), readRule);
}

// ----------------------------------------------------------------------------------------------
// neighbours

export type NeighSpec = {
	index: number;
	family: number;
	dst: Uint8Array;
	lladdr?: Uint8Array;
	state: number;
	/** NTF_* flags (NTF_PROXY for a proxy entry). */
	flags?: number;
};
export type NeighRecord = {
	index: number;
	family: number;
	dst: Uint8Array;
	lladdr: Uint8Array | undefined;
	state: number;
	flags: number;
};

function buildNeigh(spec: NeighSpec): Pointer {
	const r = rt();
	const n = nlAlloc("rtnl_neigh_alloc", r.rtnl_neigh_alloc());
	try {
		r.rtnl_neigh_set_ifindex(n, spec.index);
		r.rtnl_neigh_set_family(n, spec.family);
		withAddr(spec.family, spec.dst, undefined, (a) =>
			nlCheck("rtnl_neigh_set_dst", r.rtnl_neigh_set_dst(n, a)),
		);
		const ll = spec.lladdr;
		if (ll) withAddr(AF_LLC, ll, undefined, (a) => r.rtnl_neigh_set_lladdr(n, a));
		r.rtnl_neigh_set_state(n, spec.state);
		if (spec.flags) r.rtnl_neigh_set_flags(n, spec.flags);
	} catch (e) {
		r.rtnl_neigh_put(n);
		throw e;
	}
	return n;
}

/** RTM_NEWNEIGH with NLM_F_CREATE (explicit: rtnl_neigh_add does not add it) and (EXCL for add; `replace`: NLM_F_REPLACE). */
export function neighAdd(sk: NlSocket, spec: NeighSpec, replace = false): void {
	const flags = createFlags(replace);
	request(
		"rtnl_neigh_add",
		buildNeigh(spec),
		(o) => rt().rtnl_neigh_add(sk.raw, o, flags),
		(o) => rt().rtnl_neigh_put(o),
	);
}

/** RTM_DELNEIGH (by ifindex + destination; `flags: NTF_PROXY` deletes a proxy entry). */
export function neighDelete(sk: NlSocket, spec: Omit<NeighSpec, "lladdr" | "state">): void {
	const r = rt();
	const n = nlAlloc("rtnl_neigh_alloc", r.rtnl_neigh_alloc());
	try {
		r.rtnl_neigh_set_ifindex(n, spec.index);
		r.rtnl_neigh_set_family(n, spec.family);
		withAddr(spec.family, spec.dst, undefined, (a) =>
			nlCheck("rtnl_neigh_set_dst", r.rtnl_neigh_set_dst(n, a)),
		);
		if (spec.flags) r.rtnl_neigh_set_flags(n, spec.flags);
		nlCheck("rtnl_neigh_delete", r.rtnl_neigh_delete(sk.raw, n, 0));
	} finally {
		r.rtnl_neigh_put(n);
	}
}

function readNeigh(n: Pointer): NeighRecord | undefined {
	const r = rt();
	const dst = rd(r.rtnl_neigh_get_dst(n));
	if (!dst) return undefined;
	const ll = rd(r.rtnl_neigh_get_lladdr(n));
	return {
		index: r.rtnl_neigh_get_ifindex(n),
		family: r.rtnl_neigh_get_family(n),
		dst: dst.bytes,
		lladdr: ll?.bytes.length ? ll.bytes : undefined,
		state: r.rtnl_neigh_get_state(n),
		flags: r.rtnl_neigh_get_flags(n),
	};
}

/** Dump the neighbour tables (all families) of the socket's namespace. */
export function neighList(sk: NlSocket): NeighRecord[] {
	return readCache("rtnl_neigh_alloc_cache", (o) => rt().rtnl_neigh_alloc_cache(sk.raw, o), readNeigh);
}
