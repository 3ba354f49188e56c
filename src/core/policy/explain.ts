/**
 * Why a flow is allowed or dropped, from the map contents alone (so `policy dump` can answer from
 * the pinned maps while the daemon is down): the same lookups terway_policy_check() does
 * (bpf/include/terway_policy_impl.h), told in NetworkPolicy words. A flow crosses up to two
 * enforcement points on this node: the source pod's egress and the destination pod's ingress.
 * Pure.
 */
import { formatCIDR, parseIP } from "../net/ip.ts";
import { ISOLATION_RULE_BASE, isolationRuleId, parseIsolationName } from "./compile.ts";
import {
	type Direction,
	EP,
	ID,
	type IpEntry,
	type MapState,
	type PolicyEntry,
	PROTO,
	type Protocol,
} from "./types.ts";

/** IP protocols a flow may name (ICMP echo: `port` is the echo id, as the datapath keys it). */
export const FLOW_PROTO = { ...PROTO, ICMP: 1, ICMPv6: 58 } as const;
export type FlowProtocol = Protocol | "ICMP" | "ICMPv6";

export type Flow = {
	src: string;
	dst: string;
	proto: FlowProtocol | number;
	/** Destination port (TCP/UDP/SCTP); ICMP echo id. */
	port?: number;
	/** Only this enforcement point: the source's egress or the destination's ingress. */
	direction?: Direction;
};

/** One side of the flow as the identity map sees it. */
export type FlowSide = {
	ip: string;
	/** The terway_ipid entry that matched (longest prefix), if any. */
	cidr?: string;
	identity: number;
	name: string;
	flags: number;
};

export type Verdict = "allowed" | "dropped";

export type Check = {
	direction: Direction;
	endpoint: FlowSide;
	peer: FlowSide;
	verdict: Verdict;
	reason: string;
	/** The allowing entry, when a rule allowed it. */
	entry?: PolicyEntry;
	/** Policies isolating the endpoint in this direction (from the isolation record). */
	isolatedBy?: string[];
};

export type Explanation = {
	verdict: Verdict;
	reason: string;
	src: FlowSide;
	dst: FlowSide;
	/** The enforcement points on this node, in packet order (egress of src, ingress of dst). */
	checks: Check[];
};

const protoNumber = (p: FlowProtocol | number): number => {
	if (typeof p === "number") return p;
	const n = (FLOW_PROTO as Record<string, number>)[p];
	if (n === undefined)
		throw new Error(`invalid protocol ${JSON.stringify(p)}: must be TCP, UDP, SCTP, ICMP or ICMPv6`);
	return n;
};

/** "TCP 5432", "UDP", "ICMP", "proto 47". */
export function describeTraffic(proto: number, port?: number): string {
	const name = Object.entries(FLOW_PROTO).find(([, n]) => n === proto)?.[0] ?? `proto ${proto}`;
	const ported = proto === PROTO.TCP || proto === PROTO.UDP || proto === PROTO.SCTP;
	return ported && port !== undefined ? `${name} ${port}` : name;
}

/**
 * The identity map's longest-prefix match for `ip` (undefined: WORLD), as the datapath's LPM
 * lookup: the keys are canonical CIDRs (IpEntry.cidr), so it tries each prefix length from the
 * longest down.
 */
export function lookupIp(state: MapState, ip: string): IpEntry | undefined {
	const bytes = new Uint8Array(parseIP(ip).bytes);
	for (let len = bytes.length * 8; len >= 0; len--) {
		// bytes holds the address with the bits from `len` on cleared
		const e = state.ips.get(formatCIDR({ bytes, prefixlen: len }));
		if (e) return e;
		if (len > 0) bytes[(len - 1) >> 3]! &= ~(0x80 >> ((len - 1) & 7));
	}
	return undefined;
}

/** The terway_policy entry the datapath would hit for (endpoint, peer): exact peer first, then any. */
export function lookupPolicy(
	state: MapState,
	endpoint: number,
	peer: number,
	direction: Direction,
	proto: number,
	port: number,
): PolicyEntry | undefined {
	const at = (p: number) => {
		let best: PolicyEntry | undefined;
		let bestLen = -1;
		for (const e of state.policy.values()) {
			if (e.endpoint !== endpoint || e.peer !== p || e.direction !== direction) continue;
			let len: number;
			if (e.proto === 0 && e.bits === 0) len = 72;
			else if (e.proto !== proto) continue;
			else if (e.bits === 0) len = 80;
			else if ((e.port ^ port) >> (16 - e.bits) !== 0) continue;
			else len = 80 + e.bits;
			if (len > bestLen) {
				best = e;
				bestLen = len;
			}
		}
		return best;
	};
	return at(peer) ?? (peer === ID.ANY ? undefined : at(ID.ANY));
}

const nameOf = (state: MapState, id: number) =>
	state.idNames.get(id) ?? (id === ID.WORLD ? "world" : id === ID.HOST ? "host" : `identity ${id}`);

function side(state: MapState, ip: string): FlowSide {
	const e = lookupIp(state, ip);
	if (!e) return { ip, identity: ID.WORLD, name: nameOf(state, ID.WORLD), flags: 0 };
	return { ip, cidr: e.cidr, identity: e.identity, name: nameOf(state, e.identity), flags: e.flags };
}

/** "default/app=db" for a pod identity's name, the name itself otherwise. */
const short = (name: string) => name.replace(/^pod /, "");

function check(
	state: MapState,
	direction: Direction,
	endpoint: FlowSide,
	peer: FlowSide,
	proto: number,
	port: number,
): Check {
	const base = { direction, endpoint, peer };
	const traffic = describeTraffic(proto, port);
	if (peer.identity === ID.HOST) {
		return {
			...base,
			verdict: "allowed",
			reason: "allowed: the node's own addresses (host) are always allowed",
		};
	}
	const iso = direction === "ingress" ? EP.ISO_INGRESS : EP.ISO_EGRESS;
	if (!(endpoint.flags & iso)) {
		return {
			...base,
			verdict: "allowed",
			reason: `allowed: ${short(endpoint.name)} is not selected by any policy for ${direction}`,
		};
	}
	const entry = lookupPolicy(state, endpoint.identity, peer.identity, direction, proto, port);
	if (entry) {
		const rule = state.ruleNames.get(entry.rule) ?? `rule ${entry.rule}`;
		return { ...base, verdict: "allowed", reason: `allowed by ${rule}`, entry };
	}
	const record = state.ruleNames.get(isolationRuleId(endpoint.identity, direction));
	const isolatedBy = record ? parseIsolationName(record)?.policies : undefined;
	const who =
		isolatedBy && isolatedBy.length > 0
			? `${isolatedBy.join(", ")} ${isolatedBy.length === 1 ? "isolates" : "isolate"} ${short(endpoint.name)}`
			: `a policy isolates ${short(endpoint.name)}`;
	const out: Check = {
		...base,
		verdict: "dropped",
		reason: `dropped: ${who} for ${direction} and no rule allows ${peer.name} on ${traffic}`,
	};
	if (isolatedBy) out.isolatedBy = isolatedBy;
	return out;
}

/**
 * Explain a flow against `state`. Checks the source's egress when it is a local pod and the
 * destination's ingress when it is one (or just `flow.direction`'s point); host peers, ICMP
 * errors and replies of allowed flows (CT) pass in the datapath regardless.
 */
export function explain(state: MapState, flow: Flow): Explanation {
	const proto = protoNumber(flow.proto);
	const port = flow.port ?? 0;
	const src = side(state, flow.src);
	const dst = side(state, flow.dst);
	const checks: Check[] = [];
	const local = (s: FlowSide) => (s.flags & EP.LOCAL) !== 0;
	if (flow.direction !== "ingress" && local(src)) checks.push(check(state, "egress", src, dst, proto, port));
	if (flow.direction !== "egress" && local(dst)) checks.push(check(state, "ingress", dst, src, proto, port));
	if (checks.length === 0) {
		const which =
			flow.direction === "egress"
				? `the source ${flow.src} (${src.name}) is not a pod on this node`
				: flow.direction === "ingress"
					? `the destination ${flow.dst} (${dst.name}) is not a pod on this node`
					: `neither ${flow.src} (${src.name}) nor ${flow.dst} (${dst.name}) is a pod on this node`;
		return { verdict: "allowed", reason: `not enforced here: ${which}`, src, dst, checks };
	}
	const dropped = checks.find((c) => c.verdict === "dropped");
	if (dropped) return { verdict: "dropped", reason: dropped.reason, src, dst, checks };
	return { verdict: "allowed", reason: checks.map((c) => c.reason).join("; "), src, dst, checks };
}

/** "any protocol", "UDP" (any port), "TCP 5432", "TCP 1024-2047": an entry's traffic. */
export function describePorts(e: Pick<PolicyEntry, "proto" | "port" | "bits">): string {
	if (e.proto === 0 && e.bits === 0) return "any protocol";
	const name = describeTraffic(e.proto);
	if (e.bits === 0) return name;
	if (e.bits >= 16) return `${name} ${e.port}`;
	return `${name} ${e.port}-${e.port + 2 ** (16 - e.bits) - 1}`;
}

/** One entry in words: "default/app=db: ingress from pod default/app=web on TCP 5432 (default/allow-web ingress[0])". */
export function describeEntry(state: MapState, e: PolicyEntry): string {
	const peer = e.peer === ID.ANY ? "anyone" : nameOf(state, e.peer);
	const rule = state.ruleNames.get(e.rule) ?? `rule ${e.rule}`;
	const way = e.direction === "ingress" ? "from" : "to";
	return `${short(nameOf(state, e.endpoint))}: ${e.direction} ${way} ${peer} on ${describePorts(e)} (${rule})`;
}

/** Whether a terway_rules id is an isolation record rather than a rule. */
export const isIsolationRule = (id: number): boolean => id >= ISOLATION_RULE_BASE;
