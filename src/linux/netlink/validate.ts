/**
 * Boundary checks and vocabulary for the netlink API: turns iproute2-style specs (text
 * addresses, names, mode words) into the byte/number records src/ffi/libnl sends, and numbers
 * from dumps back into words. Every failure is a LinuxError that says what and where
 * ("link veth0 in netns tw1a-x: name longer than 15 bytes"), raised before any request is sent.
 *
 * Pure: no FFI, no I/O, so all of it is unit-tested without root. Name -> ifindex resolution
 * needs the kernel and lives in handle.ts.
 */
import { formatIP, type IpAddr, type IpPrefix, parseCIDR, parseIP, parseMAC } from "../../core/net/ip.ts";
import { LinuxError } from "../errors.ts";
import type {
	Family,
	IpvlanMode,
	MacvlanMode,
	NeighState,
	OperState,
	RouteSpec,
	RuleAction,
	RuleSpec,
	Scope,
} from "./types.ts";

/** IFNAMSIZ - 1 (include/uapi/linux/if.h). */
export const MAX_IFNAME_BYTES = 15;

/** "link veth0 in netns x: why" with op and cause kept. */
export function fault(op: string, subject: string, where: string, why: string, cause?: unknown): LinuxError {
	return new LinuxError(op, `${subject} in netns ${where}: ${why}`, cause);
}

/** Kernel dev_valid_name (net/core/dev.c): 1..15 bytes, not "." or "..", no '/', ':' or whitespace. */
export function checkLinkName(op: string, name: string, where: string, what = "link"): void {
	const subject = `${what} ${JSON.stringify(name)}`;
	if (typeof name !== "string" || name.length === 0) throw fault(op, `${what} ""`, where, "name is empty");
	if (Buffer.byteLength(name) > MAX_IFNAME_BYTES) {
		throw fault(op, subject, where, `name longer than ${MAX_IFNAME_BYTES} bytes`);
	}
	if (name === "." || name === "..") throw fault(op, subject, where, 'name may not be "." or ".."');
	if (/[/:\s\0]/.test(name))
		throw fault(op, subject, where, "name may not contain '/', ':', NUL or whitespace");
}

/** Re-throw a core/net parse error as a LinuxError naming the object and netns. */
function parsed<T>(op: string, subject: string, where: string, fn: () => T): T {
	try {
		return fn();
	} catch (e) {
		if (e instanceof LinuxError) throw e;
		throw fault(op, subject, where, (e as Error).message, e);
	}
}

export const parseIpAt = (op: string, subject: string, where: string, s: string): IpAddr =>
	parsed(op, subject, where, () => parseIP(s));
export const parseCidrAt = (
	op: string,
	subject: string,
	where: string,
	s: string,
	allowBare = true,
): IpPrefix => parsed(op, subject, where, () => parseCIDR(s, { allowBare }));
export const parseMacAt = (op: string, subject: string, where: string, s: string): Uint8Array =>
	parsed(op, subject, where, () => parseMAC(s));

export function checkMtu(op: string, subject: string, where: string, mtu: number | undefined): void {
	if (mtu !== undefined && (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535)) {
		throw fault(op, subject, where, `mtu ${mtu} is not an integer in 68..65535`);
	}
}

function checkU32(op: string, subject: string, where: string, what: string, v: number | undefined): void {
	if (v !== undefined && (!Number.isInteger(v) || v < 0 || v > 0xffffffff)) {
		throw fault(op, subject, where, `${what} ${v} is not a u32`);
	}
}

/** AF_INET / AF_INET6 values (linux/socket.h). */
export const afOf = (f: Family): number => (f === 4 ? 2 : 10);
export const familyOf = (af: number): Family | undefined => (af === 2 ? 4 : af === 10 ? 6 : undefined);

const SCOPES: Record<string, number> = {
	global: 0,
	universe: 0,
	site: 200,
	link: 253,
	host: 254,
	nowhere: 255,
};
/** Scope word or number -> rt_scope_t. */
export function scopeNum(op: string, subject: string, where: string, s: Scope): number {
	const n = typeof s === "number" ? s : SCOPES[s];
	if (n === undefined || !Number.isInteger(n) || n < 0 || n > 255)
		throw fault(op, subject, where, `unknown scope ${s}`);
	return n;
}
/** rt_scope_t -> iproute2 word (or the number). */
export function scopeName(n: number): Scope {
	return n === 0
		? "global"
		: n === 200
			? "site"
			: n === 253
				? "link"
				: n === 254
					? "host"
					: n === 255
						? "nowhere"
						: n;
}

const PROTOS: Record<number, string> = {
	0: "unspec",
	1: "redirect",
	2: "kernel",
	3: "boot",
	4: "static",
	16: "dhcp",
};
export const protocolName = (n: number): string => PROTOS[n] ?? String(n);
const RTN: Record<number, string> = {
	1: "unicast",
	2: "local",
	3: "broadcast",
	4: "anycast",
	5: "multicast",
	6: "blackhole",
	7: "unreachable",
	8: "prohibit",
	9: "throw",
	10: "nat",
};
export const routeTypeName = (n: number): string => RTN[n] ?? String(n);
const FR_ACT: Record<number, string> = {
	1: "to-table",
	2: "goto",
	3: "nop",
	6: "blackhole",
	7: "unreachable",
	8: "prohibit",
};
export const ruleActionName = (n: number): string => FR_ACT[n] ?? String(n);
const RULE_ACTIONS: readonly RuleAction[] = ["lookup", "goto", "blackhole", "unreachable", "prohibit"];
/** FR_ACT_* of a RuleAction (fib_rules.h). */
export const RULE_ACTION_NUM: Record<RuleAction, number> = {
	lookup: 1,
	goto: 2,
	blackhole: 6,
	unreachable: 7,
	prohibit: 8,
};

const OPER: OperState[] = ["UNKNOWN", "NOTPRESENT", "DOWN", "LOWERLAYERDOWN", "TESTING", "DORMANT", "UP"];
export const operstateName = (n: number): OperState => OPER[n] ?? "UNKNOWN";

const NUD: [number, NeighState][] = [
	[0x01, "INCOMPLETE"],
	[0x02, "REACHABLE"],
	[0x04, "STALE"],
	[0x08, "DELAY"],
	[0x10, "PROBE"],
	[0x20, "FAILED"],
	[0x40, "NOARP"],
	[0x80, "PERMANENT"],
];
export const nudNames = (state: number): NeighState[] => {
	const names = NUD.filter(([bit]) => state & bit).map(([, n]) => n);
	return names.length ? names : ["NONE"];
};

/** linux/if_link.h MACVLAN_MODE_* */
export const MACVLAN_MODES: Record<MacvlanMode, number> = {
	private: 1,
	vepa: 2,
	bridge: 4,
	passthru: 8,
	source: 16,
};
/** linux/if_link.h IPVLAN_MODE_* */
export const IPVLAN_MODES: Record<IpvlanMode, number> = { l2: 0, l3: 1, l3s: 2 };
/** Ethertypes for IFLA_VLAN_PROTOCOL. */
export const VLAN_PROTOCOLS = { "802.1Q": 0x8100, "802.1ad": 0x88a8 } as const;

export function checkVlanId(op: string, subject: string, where: string, id: number): void {
	if (!Number.isInteger(id) || id < 1 || id > 4094)
		throw fault(op, subject, where, `vlan id ${id} is not in 1..4094`);
}

/** A route spec with every address parsed; names still names. */
export type ParsedRoute = {
	family: Family;
	dst: Uint8Array;
	dstLen: number;
	gateway: Uint8Array | undefined;
	src: Uint8Array | undefined;
	scope: number | undefined;
	table: number;
	priority: number | undefined;
	onlink: boolean;
	dev: string | undefined;
	/** "198.18.1.0/24 table 100" for messages. */
	label: string;
};

/** Parse a RouteSpec; all families must agree. A delete (`forDelete`) may omit gateway and dev. */
export function parseRoute(op: string, spec: RouteSpec, where: string, forDelete = false): ParsedRoute {
	const table = spec.table ?? 254;
	const label = `route ${spec.dst}${table !== 254 ? ` table ${table}` : ""}`;
	const gw = spec.gateway !== undefined ? parseIpAt(op, label, where, spec.gateway) : undefined;
	const src = spec.src !== undefined ? parseIpAt(op, label, where, spec.src) : undefined;
	let family: Family;
	let dst: Uint8Array;
	let dstLen: number;
	if (spec.dst === "default") {
		family = spec.family ?? gw?.family ?? src?.family ?? 4;
		dst = new Uint8Array(family === 4 ? 4 : 16);
		dstLen = 0;
	} else {
		const p = parseCidrAt(op, label, where, spec.dst);
		family = p.family;
		dst = p.bytes;
		dstLen = p.prefixlen;
	}
	for (const [what, a] of [
		["gateway", gw],
		["src", src],
	] as const) {
		if (a && a.family !== family)
			throw fault(op, label, where, `${what} ${formatIP(a.bytes)} is not IPv${family}`);
	}
	if (spec.family !== undefined && spec.family !== family)
		throw fault(op, label, where, `dst is not IPv${spec.family}`);
	if (!Number.isInteger(table) || table < 1 || table > 0xffffffff) {
		throw fault(op, label, where, `table ${table} is not a routing table id (1..4294967295)`);
	}
	checkU32(op, label, where, "metric", spec.priority);
	if (spec.dev !== undefined) checkLinkName(op, spec.dev, where, "dev");
	if (!forDelete && gw === undefined && spec.dev === undefined)
		throw fault(op, label, where, "needs a gateway or a dev");
	if (spec.onlink && gw === undefined) throw fault(op, label, where, "onlink needs a gateway");
	return {
		family,
		dst,
		dstLen,
		gateway: gw?.bytes,
		src: src?.bytes,
		scope: spec.scope !== undefined ? scopeNum(op, label, where, spec.scope) : undefined,
		table,
		priority: spec.priority,
		onlink: spec.onlink === true,
		dev: spec.dev,
		label,
	};
}

/** A rule spec with prefixes parsed. */
export type ParsedRule = {
	family: Family;
	priority: number | undefined;
	action: RuleAction;
	/** Only for "lookup". */
	table: number | undefined;
	/** Only for "goto". */
	goto: number | undefined;
	from: IpPrefix | undefined;
	to: IpPrefix | undefined;
	iif: string | undefined;
	oif: string | undefined;
	fwmark: number | undefined;
	fwmask: number | undefined;
	label: string;
};

export function parseRule(op: string, spec: RuleSpec, where: string): ParsedRule {
	const action: RuleAction = spec.action ?? "lookup";
	const parts = [
		spec.priority !== undefined ? `prio ${spec.priority}` : "",
		spec.from ? `from ${spec.from}` : "",
		spec.to ? `to ${spec.to}` : "",
		spec.iif ? `iif ${spec.iif}` : "",
		spec.oif ? `oif ${spec.oif}` : "",
		spec.fwmark !== undefined ? `fwmark ${spec.fwmark}` : "",
		action === "lookup" ? `lookup ${spec.table}` : action === "goto" ? `goto ${spec.goto}` : action,
	];
	const label = `rule ${parts.filter(Boolean).join(" ")}`;
	const from = spec.from !== undefined ? parseCidrAt(op, label, where, spec.from) : undefined;
	const to = spec.to !== undefined ? parseCidrAt(op, label, where, spec.to) : undefined;
	const family = spec.family ?? from?.family ?? to?.family ?? 4;
	for (const [what, p] of [
		["from", from],
		["to", to],
	] as const) {
		if (p && p.family !== family) throw fault(op, label, where, `${what} is not IPv${family}`);
	}
	if (!RULE_ACTIONS.includes(action)) throw fault(op, label, where, `unknown rule action ${action}`);
	if (action === "lookup") {
		const t = spec.table;
		if (t === undefined || !Number.isInteger(t) || t < 1 || t > 0xffffffff) {
			throw fault(op, label, where, `table ${t} is not a routing table id`);
		}
	} else if (spec.table !== undefined) {
		throw fault(op, label, where, `a ${action} rule takes no table`);
	}
	if (action === "goto") {
		checkU32(op, label, where, "goto", spec.goto);
		if (spec.goto === undefined) throw fault(op, label, where, "goto needs a target priority");
		if (spec.priority !== undefined && spec.goto <= spec.priority)
			throw fault(op, label, where, "goto must jump to a higher priority (the kernel has no backward goto)");
	} else if (spec.goto !== undefined) {
		throw fault(op, label, where, `a ${action} rule takes no goto`);
	}
	checkU32(op, label, where, "priority", spec.priority);
	checkU32(op, label, where, "fwmark", spec.fwmark);
	checkU32(op, label, where, "fwmask", spec.fwmask);
	if (spec.fwmask !== undefined && spec.fwmark === undefined)
		throw fault(op, label, where, "fwmask needs a fwmark");
	if (spec.iif !== undefined) checkLinkName(op, spec.iif, where, "iif");
	if (spec.oif !== undefined) checkLinkName(op, spec.oif, where, "oif");
	return {
		family,
		priority: spec.priority,
		action,
		table: action === "lookup" ? spec.table : undefined,
		goto: action === "goto" ? spec.goto : undefined,
		from,
		to,
		iif: spec.iif,
		oif: spec.oif,
		fwmark: spec.fwmark,
		fwmask: spec.fwmask,
		label,
	};
}
