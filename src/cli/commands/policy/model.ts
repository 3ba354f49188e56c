/**
 * `terwayctl policy dump`, the model: the pinned maps' content (a MapState plus counters,
 * connection-tracking entries and drop events) -> one stable document that speaks NetworkPolicy
 * ("ingress from pod prod/role=frontend on TCP 8080 (prod/allow-fe ingress[0])"), not bytes.
 * Pure: no I/O. The JSON schema is this file's `DumpDoc` (documented in docs/cli/policy.md);
 * change it only compatibly (add fields).
 *
 * What the maps cannot say and this module therefore infers:
 * - which host veth (ifindex) serves which pod: from connection-tracking entries and drop
 *   events (the pod's side of a flow seen at that ifindex); an interface nobody talked through
 *   yet has no address;
 * - an ipBlock's `except`: the compiler writes a rule for its CIDR and for every more specific
 *   CIDR identity inside it that is not excepted (the LPM picks the longest prefix), so the
 *   CIDR identities inside a rule's CIDR that have no entry for that rule are its excepts, and
 *   the more specific ones that do are folded back into it.
 */
import {
	formatCIDR,
	type IpPrefix,
	networkOf,
	parseCIDR,
	parseIP,
	prefixContains,
} from "../../../core/net/ip.ts";
import { isolationRuleId, parseIsolationName } from "../../../core/policy/compile.ts";
import {
	type Direction,
	EP,
	ID,
	type IpEntry,
	type MapState,
	type PolicyEntry,
} from "../../../core/policy/types.ts";

/** Counters of one (interface, direction) as terway_pstats holds them. */
export type Counters = { allowed: number; allowedBytes: number; dropped: number; droppedBytes: number };

/** terway_pstats, decoded. */
export type StatsRow = { ifindex: number; direction: Direction } & Counters;

/** The part of a terway_ct entry the dump uses (addresses as text). */
export type CtRow = { ifindex: number; saddr: string; daddr: string; direction: Direction };

/** A terway_drops event, decoded. `tsNs` is bpf_ktime_get_ns(); `time` the wall clock if known. */
export type DropRow = {
	tsNs: bigint;
	time?: Date;
	saddr: string;
	daddr: string;
	sport: number;
	dport: number;
	proto: number;
	direction: Direction;
	/** "policy-ingress" | "policy-egress" (DROP_REASON words). */
	reason: string;
	ifindex: number;
	endpoint: number;
	peer: number;
};

/** A link of the namespace the dump runs in (the node's): its name and the /32, /128 routes via it. */
export type LinkRow = { ifindex: number; name: string; routes: string[] };

export type DumpInput = {
	pinRoot: string;
	state: MapState;
	stats: StatsRow[];
	ct: CtRow[];
	drops: DropRow[];
	/** The node's links; a host veth is known by its pod routes even before any traffic. */
	links?: LinkRow[];
	/** terwayd's GET /v1/policy when it answered (policy statuses), else null. */
	agent?: AgentDoc | null;
};

/** What terwayd's policy agent says (GET /v1/policy), when it is reachable. */
export type AgentDoc = {
	socket: string;
	enabled: boolean;
	reason: string | null;
	/** Every NetworkPolicy and how it compiled for this node. */
	policies: { policy: string; ok: boolean; message: string }[];
	lastSync: string | null;
	lastError: string | null;
};

export type IdentityRef = { identity: number; name: string };
/** One port range of a rule; `port` null = every port of `protocol`; protocol "any" = everything. */
export type PortDoc = { protocol: string; port: number | null; endPort: number | null };
export type RuleDoc = {
	direction: Direction;
	peer: IdentityRef;
	/** ipBlock excepts of a CIDR peer (maximal CIDRs inside it with no entry for this rule). */
	except: string[];
	/** Empty: any protocol and port. */
	ports: PortDoc[];
	/** "prod/allow-fe ingress[0]" (terway_rules), null when the name is missing. */
	policyRule: string | null;
	text: string;
};
export type EndpointDoc = {
	identity: number;
	name: string;
	/** The local pods' addresses with this identity (narrowed to the pod with --pod). */
	addresses: string[];
	isolation: { ingress: boolean; egress: boolean };
	/** The policies that isolate it, per direction (the compiler's isolation records). */
	isolatedBy: { ingress: string[]; egress: string[] };
	rules: RuleDoc[];
	/** Summed over `interfaces`. */
	counters: { ingress: Counters; egress: Counters };
	interfaces: number[];
};
export type InterfaceDoc = {
	ifindex: number;
	/** The host veth's name in the namespace the dump ran in, null when not found there. */
	name: string | null;
	/** Local endpoint identity seen on it, null when unknown. */
	endpoint: number | null;
	addresses: string[];
	ingress: Counters;
	egress: Counters;
	/** Connection-tracking entries of this enforcement point (allowed flows remembered). */
	ctEntries: number;
};
export type DropDoc = {
	/** ISO wall-clock time, null when unknown. */
	time: string | null;
	src: string;
	sport: number;
	dst: string;
	dport: number;
	protocol: string;
	direction: Direction;
	reason: string;
	ifindex: number;
	endpoint: IdentityRef;
	peer: IdentityRef;
	text: string;
};
export type DumpDoc = {
	pinRoot: string;
	/** With --pod: the pod and the addresses it was narrowed to. */
	pod: { ref: string; addresses: string[] } | null;
	/** terwayd's view of the policies (GET /v1/policy); null when it did not answer. */
	agent: AgentDoc | null;
	identities: { identity: number; name: string; addresses: string[] }[];
	endpoints: EndpointDoc[];
	interfaces: InterfaceDoc[];
	drops: DropDoc[];
};

const ZERO: Counters = { allowed: 0, allowedBytes: 0, dropped: 0, droppedBytes: 0 };

const PROTO_NAMES: Record<number, string> = { 1: "ICMP", 6: "TCP", 17: "UDP", 58: "ICMPv6", 132: "SCTP" };

export const protoName = (p: number): string => PROTO_NAMES[p] ?? `proto ${p}`;

/** The identity's name from terway_idnames, else a fallback that still says what it is. */
export function identityName(state: MapState, id: number): string {
	const n = state.idNames.get(id);
	if (n) return n;
	if (id === ID.ANY) return "any peer";
	if (id === ID.HOST) return "host";
	if (id === ID.WORLD) return "world";
	return `identity ${id}`;
}

const ref = (state: MapState, id: number): IdentityRef => ({ identity: id, name: identityName(state, id) });

/** A host address (no prefix) from "10.0.0.5/32" entries, or the CIDR as written. */
const hostAddr = (cidr: string): string => (/\/(32|128)$/.test(cidr) ? cidr.replace(/\/\d+$/, "") : cidr);

const byAddr = (a: string, b: string) => a.localeCompare(b, "en", { numeric: true });

/** Port prefixes (port, bits) -> merged ranges per protocol, in order. */
export function portRanges(entries: Pick<PolicyEntry, "proto" | "port" | "bits">[]): PortDoc[] {
	if (entries.some((e) => e.proto === 0)) return [];
	const byProto = new Map<number, [number, number][]>();
	for (const e of entries) {
		const list = byProto.get(e.proto) ?? [];
		if (e.bits === 0) list.push([0, 65535]);
		else {
			const size = 2 ** (16 - e.bits);
			const start = e.port - (e.port % size);
			list.push([start, start + size - 1]);
		}
		byProto.set(e.proto, list);
	}
	const out: PortDoc[] = [];
	for (const proto of [...byProto.keys()].sort((a, b) => a - b)) {
		const ranges = byProto.get(proto)!.sort((a, b) => a[0] - b[0]);
		const merged: [number, number][] = [];
		for (const r of ranges) {
			const last = merged.at(-1);
			if (last && r[0] <= last[1] + 1) last[1] = Math.max(last[1], r[1]);
			else merged.push([...r]);
		}
		for (const [lo, hi] of merged) {
			const all = lo === 0 && hi === 65535;
			out.push({ protocol: protoName(proto), port: all ? null : lo, endPort: all ? null : hi });
		}
	}
	return out;
}

/** "TCP 8080", "TCP 8000-8100, UDP 53", "all TCP ports", "any port". */
export function portsText(ports: PortDoc[]): string {
	if (ports.length === 0) return "any port";
	return ports
		.map((p) =>
			p.port === null
				? `all ${p.protocol} ports`
				: p.endPort === p.port
					? `${p.protocol} ${p.port}`
					: `${p.protocol} ${p.port}-${p.endPort}`,
		)
		.join(", ");
}

export function ruleText(r: Omit<RuleDoc, "text">): string {
	const peer = r.peer.identity === ID.ANY ? "any peer" : r.peer.name;
	const except = r.except.length ? ` except ${r.except.join(", ")}` : "";
	const why = r.policyRule ? ` (${r.policyRule})` : "";
	return `${r.direction} ${r.direction === "ingress" ? "from" : "to"} ${peer}${except} on ${portsText(r.ports)}${why}`;
}

type CidrId = { identity: number; prefix: IpPrefix; cidr: string };

/** The CIDR identities (ipBlocks) with their prefixes. */
function cidrIdentities(state: MapState): Map<number, CidrId> {
	const out = new Map<number, CidrId>();
	for (const e of state.ips.values()) {
		if (e.identity < ID.FIRST_CIDR) continue;
		try {
			const prefix = networkOf(parseCIDR(e.cidr));
			out.set(e.identity, { identity: e.identity, prefix, cidr: formatCIDR(prefix) });
		} catch {
			// An unparsable key is shown as a plain identity.
		}
	}
	return out;
}

const inside = (outer: IpPrefix, inner: IpPrefix) =>
	outer.family === inner.family && inner.prefixlen > outer.prefixlen && prefixContains(outer, inner);

/** Same ports (as text) for two entry lists. */
const portKey = (es: PolicyEntry[]) => JSON.stringify(portRanges(es));

/** Rules of one endpoint, in the NetworkPolicy vocabulary. */
export function endpointRules(state: MapState, endpoint: number): RuleDoc[] {
	const cidrs = cidrIdentities(state);
	// (direction, rule) -> peer -> entries
	const groups = new Map<string, { direction: Direction; rule: number; peers: Map<number, PolicyEntry[]> }>();
	for (const e of state.policy.values()) {
		if (e.endpoint !== endpoint) continue;
		const k = `${e.direction}/${e.rule}`;
		const g = groups.get(k) ?? { direction: e.direction, rule: e.rule, peers: new Map() };
		g.peers.set(e.peer, [...(g.peers.get(e.peer) ?? []), e]);
		groups.set(k, g);
	}
	const out: RuleDoc[] = [];
	for (const g of groups.values()) {
		const policyRule = state.ruleNames.get(g.rule) ?? null;
		for (const [peer, entries] of g.peers) {
			const c = cidrs.get(peer);
			let except: string[] = [];
			if (c) {
				// Folded into a wider CIDR of the same rule with the same ports: not a rule of its own.
				const folded = [...g.peers].some(([p, es]) => {
					const o = cidrs.get(p);
					return o && p !== peer && inside(o.prefix, c.prefix) && portKey(es) === portKey(entries);
				});
				if (folded) continue;
				// (a host prefix has nothing inside it: skip the scan, 10,000 /32 ipBlocks stay linear)
				const host = c.prefix.prefixlen === c.prefix.bytes.length * 8;
				const missing = host
					? []
					: [...cidrs.values()].filter((x) => inside(c.prefix, x.prefix) && !g.peers.has(x.identity));
				except = missing
					.filter((x) => !missing.some((y) => y !== x && inside(y.prefix, x.prefix)))
					.map((x) => x.cidr)
					.sort(byAddr);
			}
			const doc = {
				direction: g.direction,
				peer: c ? { identity: peer, name: state.idNames.get(peer) ?? `cidr ${c.cidr}` } : ref(state, peer),
				except,
				ports: portRanges(entries),
				policyRule,
			};
			out.push({ ...doc, text: ruleText(doc) });
		}
	}
	return out.sort(
		(a, b) =>
			a.direction.localeCompare(b.direction) ||
			(a.policyRule ?? "").localeCompare(b.policyRule ?? "", "en", { numeric: true }) ||
			a.peer.identity - b.peer.identity,
	);
}

/** The policies isolating `endpoint` in `direction`, from its isolation record in terway_rules. */
export function isolatedBy(state: MapState, endpoint: number, direction: Direction): string[] {
	const record = state.ruleNames.get(isolationRuleId(endpoint, direction));
	return (record && parseIsolationName(record)?.policies) || [];
}

/** ifindex -> the local pod addresses seen on it (the pod's side of CT entries and drops). */
function interfaceAddresses(input: DumpInput): Map<number, Set<string>> {
	const local = (addr: string) => {
		const e = lookupHost(input.state, addr);
		return e && e.flags & EP.LOCAL ? hostAddr(e.cidr) : undefined;
	};
	const out = new Map<number, Set<string>>();
	const note = (ifindex: number, addr: string | undefined) => {
		if (addr === undefined) return;
		out.set(ifindex, (out.get(ifindex) ?? new Set()).add(addr));
	};
	for (const l of input.links ?? []) for (const r of l.routes) note(l.ifindex, local(r));
	for (const c of input.ct) note(c.ifindex, local(c.direction === "egress" ? c.saddr : c.daddr));
	for (const d of input.drops) note(d.ifindex, local(d.direction === "egress" ? d.saddr : d.daddr));
	return out;
}

/** The terway_ipid host entry of an address ("10.0.0.5" -> its /32 entry). */
export function lookupHost(state: MapState, addr: string): IpEntry | undefined {
	try {
		const a = parseIP(addr);
		return state.ips.get(formatCIDR({ bytes: a.bytes, prefixlen: a.bytes.length * 8 }));
	} catch {
		return undefined;
	}
}

const add = (a: Counters, b: Counters): Counters => ({
	allowed: a.allowed + b.allowed,
	allowedBytes: a.allowedBytes + b.allowedBytes,
	dropped: a.dropped + b.dropped,
	droppedBytes: a.droppedBytes + b.droppedBytes,
});

const counters = (r: StatsRow | undefined): Counters =>
	r
		? { allowed: r.allowed, allowedBytes: r.allowedBytes, dropped: r.dropped, droppedBytes: r.droppedBytes }
		: { ...ZERO };

export function interfaces(input: DumpInput): InterfaceDoc[] {
	const addrs = interfaceAddresses(input);
	const ids = new Set([
		...input.stats.map((s) => s.ifindex),
		...input.ct.map((c) => c.ifindex),
		...addrs.keys(),
	]);
	const dropEndpoint = new Map(input.drops.map((d) => [d.ifindex, d.endpoint]));
	return [...ids]
		.sort((a, b) => a - b)
		.map((ifindex) => {
			const addresses = [...(addrs.get(ifindex) ?? [])].sort(byAddr);
			const first = addresses[0];
			const endpoint =
				(first !== undefined ? lookupHost(input.state, first)?.identity : undefined) ??
				dropEndpoint.get(ifindex) ??
				null;
			const row = (dir: Direction) =>
				counters(input.stats.find((s) => s.ifindex === ifindex && s.direction === dir));
			const ctEntries = input.ct.filter((c) => c.ifindex === ifindex).length;
			const name = input.links?.find((l) => l.ifindex === ifindex)?.name ?? null;
			return {
				ifindex,
				name,
				endpoint,
				addresses,
				ingress: row("ingress"),
				egress: row("egress"),
				ctEntries,
			};
		});
}

export function dropDoc(state: MapState, d: DropRow): DropDoc {
	const reason = d.reason;
	const protocol = protoName(d.proto);
	const endpoint = ref(state, d.endpoint);
	const peer = ref(state, d.peer);
	const src = d.saddr.includes(":") ? `[${d.saddr}]` : d.saddr;
	const dst = d.daddr.includes(":") ? `[${d.daddr}]` : d.daddr;
	const ports = d.proto === 6 || d.proto === 17 || d.proto === 132;
	const text = `${ports ? `${src}:${d.sport}` : d.saddr} -> ${ports ? `${dst}:${d.dport}` : d.daddr} ${protocol} dropped by ${reason} of ${endpoint.name} (peer ${peer.name}, if ${d.ifindex})`;
	return {
		time: d.time ? d.time.toISOString() : null,
		src: d.saddr,
		sport: d.sport,
		dst: d.daddr,
		dport: d.dport,
		protocol,
		direction: d.direction,
		reason,
		ifindex: d.ifindex,
		endpoint,
		peer,
		text,
	};
}

/** Identity -> its terway_ipid addresses (hosts without /32, /128). */
function addressesById(state: MapState): Map<number, string[]> {
	const out = new Map<number, string[]>();
	for (const e of state.ips.values()) out.set(e.identity, [...(out.get(e.identity) ?? []), hostAddr(e.cidr)]);
	for (const v of out.values()) v.sort(byAddr);
	return out;
}

/**
 * The whole document. With `pod`, only that pod's endpoint (narrowed to its addresses), its
 * interfaces, the drops it is a side of, and the identities those mention.
 */
export function buildDump(input: DumpInput, pod?: { ref: string; addresses: string[] }): DumpDoc {
	const { state } = input;
	const byId = addressesById(state);
	const ifs = interfaces(input);
	const podAddrs = pod ? new Set(pod.addresses) : undefined;

	const local = new Map<number, IpEntry[]>();
	for (const e of state.ips.values()) {
		if (!(e.flags & EP.LOCAL)) continue;
		if (podAddrs && !podAddrs.has(hostAddr(e.cidr))) continue;
		local.set(e.identity, [...(local.get(e.identity) ?? []), e]);
	}
	const endpoints: EndpointDoc[] = [...local.entries()]
		.sort((a, b) => a[0] - b[0])
		.map(([identity, entries]) => {
			const addresses = entries.map((e) => hostAddr(e.cidr)).sort(byAddr);
			const mine = ifs.filter((i) => i.addresses.some((a) => addresses.includes(a)));
			return {
				identity,
				name: identityName(state, identity),
				addresses,
				isolation: {
					ingress: entries.some((e) => e.flags & EP.ISO_INGRESS),
					egress: entries.some((e) => e.flags & EP.ISO_EGRESS),
				},
				isolatedBy: {
					ingress: isolatedBy(state, identity, "ingress"),
					egress: isolatedBy(state, identity, "egress"),
				},
				rules: endpointRules(state, identity),
				counters: {
					ingress: mine.reduce((s, i) => add(s, i.ingress), { ...ZERO }),
					egress: mine.reduce((s, i) => add(s, i.egress), { ...ZERO }),
				},
				interfaces: mine.map((i) => i.ifindex),
			};
		});

	const drops = input.drops
		.filter((d) => !podAddrs || podAddrs.has(d.direction === "egress" ? d.saddr : d.daddr))
		.map((d) => dropDoc(state, d));

	let ids = [...new Set([...state.idNames.keys(), ...byId.keys()])].filter((i) => i !== ID.ANY);
	if (pod) {
		const wanted = new Set<number>();
		for (const ep of endpoints) {
			wanted.add(ep.identity);
			for (const r of ep.rules) wanted.add(r.peer.identity);
		}
		for (const d of drops) wanted.add(d.endpoint.identity).add(d.peer.identity);
		wanted.delete(ID.ANY);
		ids = ids.filter((i) => wanted.has(i));
	}
	return {
		pinRoot: input.pinRoot,
		pod: pod ? { ref: pod.ref, addresses: [...pod.addresses].sort(byAddr) } : null,
		agent: input.agent ?? null,
		identities: ids
			.sort((a, b) => a - b)
			.map((id) => ({ identity: id, name: identityName(state, id), addresses: byId.get(id) ?? [] })),
		endpoints,
		interfaces: pod ? ifs.filter((i) => i.addresses.some((a) => podAddrs!.has(a))) : ifs,
		drops,
	};
}
