/**
 * Data types of the netlink API in iproute2's vocabulary: what a link, address, route, policy
 * rule or neighbour looks like when listed (`Link`, `Addr`, ...) and what a caller asks for
 * (`LinkAddSpec`, `AddrSpec`, ...). Addresses are text ("198.18.0.10/24", "fd00::1"), MACs are
 * lowercase "02:00:00:00:00:01", so values compare with `===` and print as `ip` prints them.
 *
 * Types only: no I/O and no imports of src/ffi/ (the layer's plumbing stays behind handle.ts).
 */
import type { Netns } from "../netns.ts";

/** 4 or 6 (AF_INET / AF_INET6). */
export type Family = 4 | 6;

/** RFC 2863 operational state as iproute2 prints it. */
export type OperState = "UNKNOWN" | "NOTPRESENT" | "DOWN" | "LOWERLAYERDOWN" | "TESTING" | "DORMANT" | "UP";

/** A network interface as dumped by RTM_GETLINK. */
export type Link = {
	index: number;
	name: string;
	/** IFLA_INFO_KIND ("veth", "macvlan", ...); undefined for devices without one (lo, physical NICs). */
	kind: string | undefined;
	/** IFLA_LINK: the parent of a macvlan/vlan, or a veth's peer ifindex (in the peer's netns). */
	parentIndex: number | undefined;
	/** IFLA_MASTER (bridge/bond) ifindex. */
	masterIndex: number | undefined;
	/** IFF_* flags as the kernel reports them. */
	flags: number;
	/** IFF_UP is set (administratively up). */
	up: boolean;
	mac: string | undefined;
	mtu: number;
	operstate: OperState;
};

/** macvlan modes (`ip link add ... type macvlan mode X`). */
export type MacvlanMode = "private" | "vepa" | "bridge" | "passthru" | "source";
/** ipvlan modes (`type ipvlan mode X`). */
export type IpvlanMode = "l2" | "l3" | "l3s";

type LinkCommon = {
	/** Interface name: 1..15 bytes, no '/', ':' or whitespace (kernel dev_valid_name). */
	name: string;
	mac?: string;
	mtu?: number;
	/** Bring the link up in the same request. */
	up?: boolean;
};

/** What `linkAdd`/`ensureLink` create. One RTM_NEWLINK each, so a failure leaves nothing. */
export type LinkAddSpec =
	| (LinkCommon & {
			kind: "veth";
			peerName: string;
			/** Create the peer directly in this namespace (IFLA_NET_NS_FD inside VETH_INFO_PEER). */
			peerNetns?: Netns;
			peerMac?: string;
			peerMtu?: number;
			// No peerUp: IFF_UP on the nested peer ifinfomsg makes this kernel answer ENOTCONN
			// (the peer opens before its partner is registered); bring it up through a handle in
			// the peer's namespace instead.
	  })
	| (LinkCommon & { kind: "macvlan"; parent: string; mode?: MacvlanMode; netns?: Netns })
	| (LinkCommon & { kind: "ipvlan"; parent: string; mode?: IpvlanMode; netns?: Netns })
	| (LinkCommon & {
			kind: "vlan";
			parent: string;
			id: number;
			protocol?: "802.1Q" | "802.1ad";
			netns?: Netns;
	  });

/** What `linkSet` changes (one request). */
export type LinkSetSpec = {
	name?: string;
	mac?: string;
	mtu?: number;
	up?: boolean;
	/** Move the link into this namespace (IFLA_NET_NS_FD). */
	netns?: Netns;
};

/** iproute2 scope names; numbers for the rest (rtnetlink.h rt_scope_t). */
export type Scope = "global" | "site" | "link" | "host" | "nowhere" | number;

/** An interface address as dumped by RTM_GETADDR. */
export type Addr = {
	/** Name of the link it is on. */
	link: string;
	index: number;
	family: Family;
	/** "198.18.0.10/24" (the local address with its prefix length). */
	cidr: string;
	/** Just the address ("198.18.0.10"). */
	ip: string;
	prefixlen: number;
	scope: Scope;
	/** IFA_F_* bits (IFA_F_NODAD = 0x02, IFA_F_PERMANENT = 0x80, ...). */
	flags: number;
	nodad: boolean;
	label: string | undefined;
};

/** What `addrAdd`/`addrDel`/`ensureAddr` take. */
export type AddrSpec = {
	link: string;
	/** "198.18.0.10/24"; a bare address means /32 or /128. */
	cidr: string;
	scope?: Scope;
	/** IFA_F_NODAD: skip IPv6 duplicate address detection (the address is usable at once). */
	nodad?: boolean;
};

/** A route as dumped by RTM_GETROUTE. */
export type Route = {
	family: Family;
	/** "default" or "198.18.1.0/24". */
	dst: string;
	gateway: string | undefined;
	/** Output device name, if any. */
	dev: string | undefined;
	onlink: boolean;
	scope: Scope;
	table: number;
	/** RTA_PRIORITY (iproute2 "metric"); 0 when absent for IPv4. */
	priority: number;
	/** RTA_PREFSRC (iproute2 "src"). */
	src: string | undefined;
	/** "kernel", "boot", "static", ... or the number. */
	protocol: string;
	/** "unicast", "local", "broadcast", "blackhole", ... or the number. */
	type: string;
	/** Only for multipath routes (more than one nexthop). */
	nexthops?: { gateway: string | undefined; dev: string | undefined; onlink: boolean }[];
};

/** What `routeAdd`/`routeReplace`/`routeDel`/`ensureRoute` take (iproute2 words). */
export type RouteSpec = {
	/** "default" or a CIDR; host routes may be written without "/32". */
	dst: string;
	/** Needed only when dst is "default" and there is no gateway or src to tell (default 4). */
	family?: Family;
	gateway?: string;
	dev?: string;
	/** RTNH_F_ONLINK: the gateway is on the link even without a matching prefix (169.254.1.1). */
	onlink?: boolean;
	/** Default: link when there is no gateway, global otherwise (as iproute2). */
	scope?: Scope;
	/** Default 254 (main); tables above 255 are fine. */
	table?: number;
	/** iproute2 "metric". */
	priority?: number;
	/** iproute2 "src" (preferred source). */
	src?: string;
};

/** Filter for `routeList`. */
export type RouteFilter = {
	/** A table id, or "all"; default 254 (main), like `ip route show`. */
	table?: number | "all";
	family?: Family;
	dev?: string;
};

/** A policy routing rule as dumped by RTM_GETRULE. */
export type Rule = {
	family: Family;
	priority: number;
	table: number;
	/** "to-table", "goto", "nop", "blackhole", "unreachable", "prohibit" or the FR_ACT_* number. */
	action: string;
	/** Target priority of a "goto" rule. */
	goto: number | undefined;
	from: string | undefined;
	to: string | undefined;
	iif: string | undefined;
	oif: string | undefined;
	fwmark: number | undefined;
	fwmask: number | undefined;
};

/** Rule actions as iproute2 spells them (`ip rule add ... lookup T | goto P | blackhole | ...`). */
export type RuleAction = "lookup" | "goto" | "blackhole" | "unreachable" | "prohibit";

/**
 * What `ruleAdd`/`ruleDel`/`ensureRule` take. The action defaults to "lookup <table>"; "goto"
 * needs `goto` (a higher priority to continue at); blackhole/unreachable/prohibit take neither.
 */
export type RuleSpec = (
	| { action?: "lookup"; table: number; goto?: undefined }
	| { action: "goto"; goto: number; table?: undefined }
	| { action: "blackhole" | "unreachable" | "prohibit"; table?: undefined; goto?: undefined }
) & {
	/** Default: from `from`/`to`, else 4. */
	family?: Family;
	priority?: number;
	from?: string;
	to?: string;
	iif?: string;
	oif?: string;
	fwmark?: number;
	fwmask?: number;
};

/** Neighbour states (NUD_*) as iproute2 prints them. */
export type NeighState =
	| "INCOMPLETE"
	| "REACHABLE"
	| "STALE"
	| "DELAY"
	| "PROBE"
	| "FAILED"
	| "NOARP"
	| "PERMANENT"
	| "NONE";

/** A neighbour (ARP / NDP) entry. */
export type Neigh = {
	link: string;
	index: number;
	family: Family;
	ip: string;
	mac: string | undefined;
	/** Every state bit set, iproute2 style. */
	state: NeighState[];
	permanent: boolean;
};

/** A permanent neighbour to add (`ip neigh add IP lladdr MAC dev LINK nud permanent`). */
export type NeighSpec = { link: string; ip: string; mac: string };

/** A proxy neighbour (`ip neigh add proxy IP dev LINK`): answer ARP/NS for IP on LINK. */
export type NeighProxySpec = { link: string; ip: string };

/** What every ensure* returns: whether it had to change the kernel state. */
export type Ensured = { changed: boolean };
