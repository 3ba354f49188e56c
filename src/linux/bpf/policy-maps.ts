/**
 * The NetworkPolicy maps (bpf/include/terway_policy.h) from TypeScript: one codec per C struct,
 * conversions between the map entries and the core/policy types (IpEntry, PolicyEntry,
 * MapState, MapDiff), `PolicyMaps` (apply a diff, read the state back, counters, connection
 * tracking) and `DropReader` (the drop events of the ring buffer, decoded).
 *
 * Sync note: the codecs mirror terway_policy.h; policy-maps.test.ts compares every size and
 * offset with the BTF of bpf/build/policy.bpf.o. No object import here: `PolicyMaps.openPinned`
 * works in a process that never loaded the object (`terwayctl policy dump` with the daemon down).
 */

import { formatIP, networkOf, parseCIDR } from "../../core/net/ip.ts";
import {
	DIR,
	type Direction,
	DROP_REASON,
	type IpEntry,
	ipKey,
	type MapDiff,
	type MapState,
	type PolicyEntry,
	policyKey,
} from "../../core/policy/types.ts";
import { objGet, RingBuffer } from "../../ffi/libbpf/index.ts";
import type { Fd } from "../../ffi/libc/index.ts";
import { LinuxError } from "../errors.ts";
import { DEFAULT_PIN_ROOT, PinLayout } from "./bpffs.ts";
import { type Codec, struct, u32 } from "./codec.ts";
import { type MapSpec, TypedMap } from "./typed-map.ts";

// ---------------------------------------------------------------------------------------------
// codecs

const utf8 = new TextEncoder();

/** struct terway_ip_key (LPM: prefixlen = 32 family bits + address bits). */
export const ipKeyCodec = struct("terway_ip_key", 24, {
	prefixlen: { offset: 0, type: "u32" },
	family: { offset: 4, type: "u32" },
	addr: { offset: 8, type: "bytes", len: 16 },
});
export const ipInfoCodec = struct("terway_ip_info", 8, {
	identity: { offset: 0, type: "u32" },
	flags: { offset: 4, type: "u32" },
});
/** struct terway_policy_key; `dport` is the port number (stored in network order). */
export const policyKeyCodec = struct("terway_policy_key", 16, {
	prefixlen: { offset: 0, type: "u32" },
	endpoint: { offset: 4, type: "u32" },
	peer: { offset: 8, type: "u32" },
	direction: { offset: 12, type: "u8" },
	proto: { offset: 13, type: "u8" },
	dport: { offset: 14, type: "be16" },
});
export const policyValueCodec = struct("terway_policy_value", 8, {
	rule: { offset: 0, type: "u32" },
	pad: { offset: 4, type: "u32" },
});
/** struct terway_ct_key; ports as numbers (network order in the map). */
export const ctKeyCodec = struct("terway_ct_key", 48, {
	saddr: { offset: 0, type: "bytes", len: 16 },
	daddr: { offset: 16, type: "bytes", len: 16 },
	sport: { offset: 32, type: "be16" },
	dport: { offset: 34, type: "be16" },
	proto: { offset: 36, type: "u8" },
	family: { offset: 37, type: "u8" },
	pad: { offset: 38, type: "bytes", len: 2 },
	ifindex: { offset: 40, type: "u32" },
	pad2: { offset: 44, type: "u32" },
});
export const ctValueCodec = struct("terway_ct_value", 16, {
	last_seen_ns: { offset: 0, type: "u64" },
	direction: { offset: 8, type: "u32" },
	pad: { offset: 12, type: "u32" },
});
export const pstatsKeyCodec = struct("terway_pstats_key", 8, {
	ifindex: { offset: 0, type: "u32" },
	direction: { offset: 4, type: "u32" },
});
export const pstatsCodec = struct("terway_pstats", 32, {
	allowed: { offset: 0, type: "u64" },
	allowed_bytes: { offset: 8, type: "u64" },
	dropped: { offset: 16, type: "u64" },
	dropped_bytes: { offset: 24, type: "u64" },
});
/** struct terway_drop_event (ring buffer record). */
export const dropEventCodec = struct("terway_drop_event", 64, {
	ts_ns: { offset: 0, type: "u64" },
	saddr: { offset: 8, type: "bytes", len: 16 },
	daddr: { offset: 24, type: "bytes", len: 16 },
	sport: { offset: 40, type: "be16" },
	dport: { offset: 42, type: "be16" },
	proto: { offset: 44, type: "u8" },
	family: { offset: 45, type: "u8" },
	direction: { offset: 46, type: "u8" },
	reason: { offset: 47, type: "u8" },
	ifindex: { offset: 48, type: "u32" },
	endpoint: { offset: 52, type: "u32" },
	peer: { offset: 56, type: "u32" },
	pad: { offset: 60, type: "u32" },
});
export const TERWAY_NAME_LEN = 120;
export const nameCodec = struct("terway_name", TERWAY_NAME_LEN, {
	name: { offset: 0, type: "cstr", len: TERWAY_NAME_LEN },
});
export const idCodec = u32;

type Of<C> = C extends Codec<infer T> ? T : never;
export type IpKeyRaw = Of<typeof ipKeyCodec>;
export type IpInfoRaw = Of<typeof ipInfoCodec>;
export type PolicyKeyRaw = Of<typeof policyKeyCodec>;
export type PolicyValueRaw = Of<typeof policyValueCodec>;
export type CtKeyRaw = Of<typeof ctKeyCodec>;
export type CtValueRaw = Of<typeof ctValueCodec>;
export type DropEventRaw = Of<typeof dropEventCodec>;

/** Map names, key and value codecs (names as in terway_policy.h; pinned by name). */
export const POLICY_MAPS = {
	ipid: { name: "terway_ipid", key: ipKeyCodec, value: ipInfoCodec },
	policy: { name: "terway_policy", key: policyKeyCodec, value: policyValueCodec },
	ct: { name: "terway_ct", key: ctKeyCodec, value: ctValueCodec },
	pstats: { name: "terway_pstats", key: pstatsKeyCodec, value: pstatsCodec },
	idNames: { name: "terway_idnames", key: idCodec, value: nameCodec },
	ruleNames: { name: "terway_rules", key: idCodec, value: nameCodec },
} as const satisfies Record<string, MapSpec<unknown, unknown>>;

/** The ring buffer of drop events (no key/value: records are terway_drop_event). */
export const POLICY_DROPS_MAP = "terway_drops";

/** The two tc programs of bpf/policy.bpf.c. */
export const POLICY_PROGRAMS = {
	/** tc ingress of the host veth: packets from the pod (its egress policy). */
	from: "terway_pol_from",
	/** tc egress of the host veth: packets to the pod (its ingress policy). */
	to: "terway_pol_to",
} as const;

// ---------------------------------------------------------------------------------------------
// entries <-> keys

const DIR_NAME: Record<number, Direction> = { 0: "ingress", 1: "egress" };

const bad = (what: string, value: unknown, why: string): never => {
	throw new LinuxError("bpf.policy", `invalid ${what} ${JSON.stringify(value)}: ${why}`);
};

/** terway_ipid key of an IpEntry ("10.0.0.0/8" -> prefixlen 40, family 4, host bits cleared). */
export function ipEntryKey(e: Pick<IpEntry, "cidr">): IpKeyRaw {
	let p: ReturnType<typeof parseCIDR>;
	try {
		p = parseCIDR(e.cidr);
	} catch (err) {
		return bad("IpEntry cidr", e.cidr, (err as Error).message);
	}
	const addr = new Uint8Array(16);
	addr.set(networkOf(p).bytes);
	return { prefixlen: 32 + p.prefixlen, family: p.family, addr };
}

/** The canonical cidr of a terway_ipid key. */
export function ipKeyCidr(k: IpKeyRaw): string {
	const bytes = k.family === 4 ? k.addr.subarray(0, 4) : k.addr;
	return `${formatIP(bytes)}/${k.prefixlen - 32}`;
}

const portMask = (bits: number): number => (bits === 0 ? 0 : (0xffff << (16 - bits)) & 0xffff);

/**
 * terway_policy key of a PolicyEntry: prefixlen 72 when proto is 0 (any protocol and port),
 * else 80 + bits; dport = port with the bits past the prefix cleared.
 */
export function policyEntryKey(e: Omit<PolicyEntry, "rule">): PolicyKeyRaw {
	if (!(e.direction in DIR)) bad("PolicyEntry direction", e.direction, "expected ingress or egress");
	if (!Number.isInteger(e.proto) || e.proto < 0 || e.proto > 255) bad("PolicyEntry proto", e.proto, "0..255");
	if (!Number.isInteger(e.bits) || e.bits < 0 || e.bits > 16) bad("PolicyEntry bits", e.bits, "0..16");
	if (!Number.isInteger(e.port) || e.port < 0 || e.port > 0xffff) bad("PolicyEntry port", e.port, "0..65535");
	if (e.proto === 0 && e.bits !== 0) bad("PolicyEntry bits", e.bits, "a port needs a protocol (proto 0)");
	for (const [k, v] of [
		["endpoint", e.endpoint],
		["peer", e.peer],
	] as const) {
		if (!Number.isInteger(v) || v < 0 || v > 0xffff_ffff) bad(`PolicyEntry ${k}`, v, "a u32 identity");
	}
	return {
		prefixlen: e.proto === 0 ? 72 : 80 + e.bits,
		endpoint: e.endpoint,
		peer: e.peer,
		direction: DIR[e.direction],
		proto: e.proto,
		dport: e.port & portMask(e.bits),
	};
}

/** PolicyEntry of a terway_policy key and value. */
export function policyKeyEntry(k: PolicyKeyRaw, v: PolicyValueRaw): PolicyEntry {
	const bits = Math.max(0, k.prefixlen - 80);
	return {
		endpoint: k.endpoint,
		peer: k.peer,
		direction: DIR_NAME[k.direction] ?? "ingress",
		proto: k.prefixlen >= 80 ? k.proto : 0,
		port: k.dport & portMask(bits),
		bits,
		rule: v.rule,
	};
}

const addrText = (family: number, b: Uint8Array): string => formatIP(family === 4 ? b.subarray(0, 4) : b);

const PROTO_NAME: Record<number, string> = { 1: "icmp", 6: "tcp", 17: "udp", 58: "icmpv6", 132: "sctp" };
export const protoName = (p: number): string => PROTO_NAME[p] ?? String(p);

// ---------------------------------------------------------------------------------------------
// PolicyMaps

/** From this many entries on, apply() writes a map with one bpf_map_update_batch (about 2x faster). */
const BATCH_MIN = 32;

/** Counters of one enforcement point and direction. */
export type PolicyStats = {
	ifindex: number;
	direction: Direction;
	allowed: bigint;
	allowedBytes: bigint;
	dropped: bigint;
	droppedBytes: bigint;
};

/** One connection-tracking entry, addresses as text. */
export type CtEntry = {
	ifindex: number;
	family: 4 | 6;
	proto: number;
	saddr: string;
	daddr: string;
	sport: number;
	dport: number;
	lastSeenNs: bigint;
	direction: Direction;
};

type Maps = {
	ipid: TypedMap<IpKeyRaw, IpInfoRaw>;
	policy: TypedMap<PolicyKeyRaw, PolicyValueRaw>;
	ct: TypedMap<CtKeyRaw, CtValueRaw>;
	pstats: TypedMap<Of<typeof pstatsKeyCodec>, Of<typeof pstatsCodec>>;
	idNames: TypedMap<Of<typeof idCodec>, Of<typeof nameCodec>>;
	ruleNames: TypedMap<Of<typeof idCodec>, Of<typeof nameCodec>>;
};

/** The policy maps (borrowed from a loaded object, or opened from their pins). */
export class PolicyMaps {
	private constructor(readonly maps: Maps) {}

	/** Borrow the maps of a loaded policy-carrying object (`fd(name)` = obj.mapFd). */
	static borrow(fd: (name: string) => number): PolicyMaps {
		const m = Object.fromEntries(
			Object.entries(POLICY_MAPS).map(([k, spec]) => [
				k,
				TypedMap.borrow(fd(spec.name), spec as MapSpec<unknown, unknown>),
			]),
		) as unknown as Maps;
		return new PolicyMaps(m);
	}

	/** Open the maps pinned under `pinRoot` (no object loaded in this process). Close after use. */
	static openPinned(pinRoot: string = DEFAULT_PIN_ROOT): PolicyMaps {
		const pins = new PinLayout(pinRoot);
		const opened: TypedMap<unknown, unknown>[] = [];
		try {
			const m: Record<string, TypedMap<unknown, unknown>> = {};
			for (const [k, spec] of Object.entries(POLICY_MAPS)) {
				const t = TypedMap.openPinned(pins.map(spec.name), spec as MapSpec<unknown, unknown>);
				opened.push(t);
				m[k] = t;
			}
			return new PolicyMaps(m as unknown as Maps);
		} catch (e) {
			for (const t of opened) t.close();
			throw e;
		}
	}

	/**
	 * Write a diff so that no packet allowed before and after it is dropped in between:
	 * names, then new allow rules, then identities (a new isolation flag or identity only takes
	 * effect once its rules are in), then removed identities, then removed rules, then removed
	 * names. An entry both set and deleted (same key) is set. Every entry is validated before
	 * anything is written.
	 */
	apply(diff: MapDiff): { written: number; deleted: number } {
		const m = this.maps;
		const ipSet = diff.ips.set.map((e) => {
			for (const [k, v] of [
				["identity", e.identity],
				["flags", e.flags],
			] as const) {
				if (!Number.isInteger(v) || v < 0 || v > 0xffff_ffff) bad(`IpEntry ${k} of ${e.cidr}`, v, "a u32");
			}
			return [ipEntryKey(e), { identity: e.identity, flags: e.flags }] as const;
		});
		const ipSetKeys = new Set(diff.ips.set.map((e) => ipKeyCidr(ipEntryKey(e))));
		const ipDel = diff.ips.del.map(ipEntryKey).filter((k) => !ipSetKeys.has(ipKeyCidr(k)));
		const polSet = diff.policy.set.map((e) => [policyEntryKey(e), { rule: e.rule, pad: 0 }] as const);
		const polSetKeys = new Set(
			diff.policy.set.map((e) => policyKey(policyKeyEntry(policyEntryKey(e), { rule: 0, pad: 0 }))),
		);
		const polDel = diff.policy.del
			.map(policyEntryKey)
			.filter((k) => !polSetKeys.has(policyKey(policyKeyEntry(k, { rule: 0, pad: 0 }))));
		const names = (set: [number, string][]) =>
			set.map(([id, name]) => {
				if (utf8.encode(name).length >= TERWAY_NAME_LEN)
					bad("name", name, `longer than ${TERWAY_NAME_LEN - 1} bytes`);
				return [{ value: id }, { name }] as const;
			});
		const idSet = names(diff.idNames.set);
		const ruleSet = names(diff.ruleNames.set);
		const idSetKeys = new Set(diff.idNames.set.map((x) => x[0]));
		const ruleSetKeys = new Set(diff.ruleNames.set.map((x) => x[0]));

		let written = 0;
		let deleted = 0;
		const setAll = <K, V>(t: TypedMap<K, V>, es: readonly (readonly [K, V])[]) => {
			written += es.length;
			if (es.length >= BATCH_MIN) {
				try {
					t.setMany(es as [K, V][]);
					return;
				} catch {
					// no batch ops for this map type here: the loop below writes them (BPF_ANY: idempotent)
				}
			}
			for (const [k, v] of es) t.set(k, v);
		};
		const delAll = <K, V>(t: TypedMap<K, V>, ks: K[]) => {
			for (const k of ks) if (t.delete(k)) deleted++;
		};
		setAll(m.idNames, idSet);
		setAll(m.ruleNames, ruleSet);
		setAll(m.policy, polSet);
		setAll(m.ipid, ipSet);
		delAll(m.ipid, ipDel);
		delAll(m.policy, polDel);
		delAll(
			m.idNames,
			diff.idNames.del.filter((id) => !idSetKeys.has(id)).map((value) => ({ value })),
		);
		delAll(
			m.ruleNames,
			diff.ruleNames.del.filter((id) => !ruleSetKeys.has(id)).map((value) => ({ value })),
		);
		return { written, deleted };
	}

	/** Everything in the identity, policy and name maps, as the core/policy types. */
	readState(): MapState {
		const state: MapState = { ips: new Map(), policy: new Map(), idNames: new Map(), ruleNames: new Map() };
		for (const [k, v] of this.maps.ipid.entries()) {
			const e: IpEntry = { cidr: ipKeyCidr(k), identity: v.identity, flags: v.flags };
			state.ips.set(ipKey(e), e);
		}
		for (const [k, v] of this.maps.policy.entries()) {
			const e = policyKeyEntry(k, v);
			state.policy.set(policyKey(e), e);
		}
		for (const [k, v] of this.maps.idNames.entries()) state.idNames.set(k.value, v.name);
		for (const [k, v] of this.maps.ruleNames.entries()) state.ruleNames.set(k.value, v.name);
		return state;
	}

	/** Counters per (enforcement point, direction), sorted by ifindex then direction. */
	stats(): PolicyStats[] {
		const out: PolicyStats[] = [];
		for (const [k, v] of this.maps.pstats.entries()) {
			out.push({
				ifindex: k.ifindex,
				direction: DIR_NAME[k.direction] ?? "ingress",
				allowed: v.allowed,
				allowedBytes: v.allowed_bytes,
				dropped: v.dropped,
				droppedBytes: v.dropped_bytes,
			});
		}
		return out.sort((a, b) => a.ifindex - b.ifindex || DIR[a.direction] - DIR[b.direction]);
	}

	/** Connection-tracking entries (optionally of one enforcement point). */
	ctEntries(ifindex?: number): CtEntry[] {
		const out: CtEntry[] = [];
		for (const [k, v] of this.maps.ct.entries()) {
			if (ifindex !== undefined && k.ifindex !== ifindex) continue;
			out.push({
				ifindex: k.ifindex,
				family: k.family === 6 ? 6 : 4,
				proto: k.proto,
				saddr: addrText(k.family, k.saddr),
				daddr: addrText(k.family, k.daddr),
				sport: k.sport,
				dport: k.dport,
				lastSeenNs: v.last_seen_ns,
				direction: DIR_NAME[v.direction] ?? "ingress",
			});
		}
		return out;
	}

	/** Delete connection-tracking entries (all, or those of one enforcement point); returns how many. */
	flushCt(ifindex?: number): number {
		const doomed = [...this.maps.ct.keys()].filter((k) => ifindex === undefined || k.ifindex === ifindex);
		let n = 0;
		for (const k of doomed) if (this.maps.ct.delete(k)) n++;
		return n;
	}

	/** Forget the counters (all, or of one enforcement point: a deleted pod's veth). */
	clearStats(ifindex?: number): number {
		const doomed = [...this.maps.pstats.keys()].filter((k) => ifindex === undefined || k.ifindex === ifindex);
		let n = 0;
		for (const k of doomed) if (this.maps.pstats.delete(k)) n++;
		return n;
	}

	/** Closes the fds this instance owns (openPinned); borrowed ones stay with their object. */
	close(): void {
		for (const t of Object.values(this.maps)) t.close();
	}

	[Symbol.dispose](): void {
		this.close();
	}
}

// ---------------------------------------------------------------------------------------------
// drop events

/** A decoded terway_drop_event. */
export type DropEvent = {
	tsNs: bigint;
	family: 4 | 6;
	saddr: string;
	daddr: string;
	sport: number;
	dport: number;
	proto: number;
	/** "tcp", "udp", "sctp", "icmp", "icmpv6" or the number. */
	protoName: string;
	direction: Direction;
	/** "policy-ingress" | "policy-egress" (or "reason N" for an unknown code). */
	reason: string;
	ifindex: number;
	endpoint: number;
	peer: number;
};

export function decodeDropEvent(b: Uint8Array): DropEvent {
	const r = dropEventCodec.decode(b);
	return {
		tsNs: r.ts_ns,
		family: r.family === 6 ? 6 : 4,
		saddr: addrText(r.family, r.saddr),
		daddr: addrText(r.family, r.daddr),
		sport: r.sport,
		dport: r.dport,
		proto: r.proto,
		protoName: protoName(r.proto),
		direction: DIR_NAME[r.direction] ?? "ingress",
		reason: DROP_REASON[r.reason as keyof typeof DROP_REASON] ?? `reason ${r.reason}`,
		ifindex: r.ifindex,
		endpoint: r.endpoint,
		peer: r.peer,
	};
}

/**
 * Reads drop events from the terway_drops ring buffer. Each reader consumes: two readers of the
 * same ring split the events between them (a ring buffer has one consumer position).
 */
export class DropReader {
	readonly #rb: RingBuffer;
	readonly #fd: Fd | undefined;

	private constructor(rb: RingBuffer, fd: Fd | undefined) {
		this.#rb = rb;
		this.#fd = fd;
	}

	/** On a ring buffer fd the caller keeps open (a loaded object's `mapFd("terway_drops")`). */
	static borrow(mapFd: number): DropReader {
		return new DropReader(RingBuffer.open(mapFd), undefined);
	}

	/** Open the pinned ring under `pinRoot`. */
	static openPinned(pinRoot: string = DEFAULT_PIN_ROOT): DropReader {
		const path = new PinLayout(pinRoot).map(POLICY_DROPS_MAP);
		let fd: Fd;
		try {
			fd = objGet(path);
		} catch (e) {
			throw new LinuxError("bpf.map.open", `pinned map ${path} cannot be opened`, e);
		}
		try {
			return new DropReader(RingBuffer.open(fd.fd), fd);
		} catch (e) {
			fd.close();
			throw e;
		}
	}

	/** Wait up to `timeoutMs` (blocking this thread) for events; returns all available. */
	poll(timeoutMs: number): DropEvent[] {
		return this.#rb.poll(timeoutMs).map(decodeDropEvent);
	}

	/** The events available now, without waiting. */
	read(): DropEvent[] {
		return this.#rb.consume().map(decodeDropEvent);
	}

	/** Readable when events are waiting (for an event loop): borrowed, valid until close(). */
	get epollFd(): number {
		return this.#rb.epollFd;
	}

	close(): void {
		this.#rb.close();
		this.#fd?.close();
	}

	[Symbol.dispose](): void {
		this.close();
	}
}
