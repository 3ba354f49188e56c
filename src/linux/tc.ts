/**
 * Traffic control on a link inside a network namespace: clsact (for eBPF), tbf (pod bandwidth
 * limits from kubernetes.io/ingress-bandwidth / egress-bandwidth) and htb qdiscs plus htb classes.
 *
 * Every function takes a `Netns` and a link *name*; the ifindex is resolved inside that namespace
 * and a netlink socket bound to it carries the request, so the JS thread never stays there. Rates
 * here are **bits per second** (Kubernetes' unit); libnl wants bytes/s, so they are divided by 8
 * and rounded down (a rate must be a whole number of bytes/s: 8 bit/s .. 2^32-1 bytes/s, the
 * 32-bit tc_ratespec limit libnl 3.7 can send, ~34.3 Gbit/s). Bursts and limits are bytes.
 * Handles are iproute2 strings ("1:", "1:10", "root", "ffff:fff1").
 *
 * Input is validated before anything is sent: a bad handle, rate or link name throws LinuxError
 * (with the InvalidValueError / ErrnoError as `cause`) and changes nothing. It never spawns `tc`.
 */

import { tbfLimitForLatency } from "../core/net/bandwidth.ts";
import {
	formatTcHandle as fmt,
	parseTcHandle,
	TC_H_CLSACT,
	TC_H_ROOT,
	tcMajor,
	tcMinor,
} from "../core/net/tc-handle.ts";
import { InvalidValueError } from "../core/net/value-error.ts";
import { ERRNO, ErrnoError } from "../ffi/errno.ts";
import { ifNameToIndex } from "../ffi/libc/index.ts";
import {
	type ClassInfo,
	classDump,
	linkNames,
	NlSocket,
	classAdd as nlClassAdd,
	classDelete as nlClassDelete,
	qdiscAdd as nlQdiscAdd,
	qdiscDelete as nlQdiscDelete,
	type QdiscInfo,
	type QdiscRequest,
	qdiscDump,
	TC_H_CLSACT_HANDLE,
	TC_MAX_RATE_BYTES,
	type TcMode,
} from "../ffi/libnl/index.ts";
import { LinuxError } from "./errors.ts";
import type { Netns } from "./netns.ts";

/** clsact: the ingress/egress hook for tc eBPF programs (parent ffff:fff1, handle ffff:). */
export type ClsactSpec = { kind: "clsact" };

/** tbf on `parent` (default root) with `handle` (default "1:"). Give exactly one of latencyMs/limit. */
export type TbfSpec = {
	kind: "tbf";
	/** bits/s */
	rate: number;
	/** bucket size, bytes (tc "burst") */
	burst: number;
	/** max queueing delay, ms (tc "latency"); the limit becomes rate*latency+burst */
	latencyMs?: number;
	/** queue size, bytes (tc "limit") */
	limit?: number;
	handle?: string;
	parent?: string;
};

/** htb on `parent` (default root) with `handle` (default "1:"). */
export type HtbSpec = {
	kind: "htb";
	/** Class unclassified traffic goes to: "1:10" or a minor in hex like tc ("10"), or a number. 0 = none. */
	defaultClass: string | number;
	/** rate-to-quantum divisor (tc "r2q"), default 10 */
	r2q?: number;
	handle?: string;
	parent?: string;
};

export type QdiscSpec = ClsactSpec | TbfSpec | HtbSpec;

/** A qdisc as the kernel reports it. Rates in bits/s, sizes in bytes. */
export type Qdisc = {
	link: string;
	ifindex: number;
	kind: string;
	handle: string;
	parent: string;
	tbf?: { rate: number; burst: number; limit: number };
	htb?: { defaultClass: string; r2q: number };
};

/** Which qdisc to delete: clsact, or by parent (default root) and optionally handle and kind. */
export type QdiscRef = { kind?: string; parent?: string; handle?: string };

/** An htb class `classid` ("1:10") under `parent` (default: the qdisc, "<major>:"). Rates bits/s. */
export type HtbClassSpec = {
	classid: string;
	parent?: string;
	rate: number;
	/** default: rate (no borrowing) */
	ceil?: number;
	/** bytes; default libnl's (rate/HZ + MTU) */
	burst?: number;
	/** bytes; default libnl's (ceil/HZ + MTU) */
	cburst?: number;
	prio?: number;
};

/** A class as the kernel reports it (top-level htb classes report parent "root"). */
export type TcClass = {
	link: string;
	ifindex: number;
	kind: string;
	classid: string;
	parent: string;
	htb?: { rate: number; ceil: number; burst: number; cburst: number; prio: number };
};

export type Changed = { changed: boolean };

// ---------------------------------------------------------------------------------------------
// validation (pure, before any request)

const nsLabel = (ns: Netns): string => ns.name ?? ns.path;

function bad(op: string, field: string, value: unknown, reason: string): never {
	const cause = new InvalidValueError(field, value, reason);
	throw new LinuxError(op, cause.message, cause);
}

function handleOf(op: string, field: string, s: string): number {
	try {
		return parseTcHandle(s);
	} catch (e) {
		throw new LinuxError(op, `${op} ${field}: ${(e as Error).message}`, e);
	}
}

/** bits/s -> bytes/s for libnl, checked. */
function rateBytes(op: string, field: string, bits: number): number {
	if (!Number.isSafeInteger(bits) || bits < 8) bad(op, field, bits, "must be a whole number of bits/s >= 8");
	const bytes = Math.floor(bits / 8);
	if (bytes > TC_MAX_RATE_BYTES)
		bad(op, field, bits, `above ${TC_MAX_RATE_BYTES * 8} bits/s (32-bit tc rate)`);
	return bytes;
}

function bytesField(op: string, field: string, v: number, min = 1): number {
	if (!Number.isSafeInteger(v) || v < min || v > 0x7fffffff)
		bad(op, field, v, `must be a whole number of bytes >= ${min}`);
	return v;
}

function qdiscHandle(op: string, s: string | undefined): number {
	const h = handleOf(op, "handle", s ?? "1:");
	if (tcMinor(h) !== 0 || h === TC_H_ROOT || h === 0)
		bad(op, "qdisc handle", s, 'must be "major:" with a non-zero major');
	return h;
}

function defaultClassOf(op: string, v: string | number): number {
	if (typeof v === "number") {
		if (!Number.isInteger(v) || v < 0 || v > 0xffff) bad(op, "defaultClass", v, "must be a minor 0..0xffff");
		return v;
	}
	if (v.includes(":")) return tcMinor(handleOf(op, "defaultClass", v));
	if (!/^[0-9a-fA-F]{1,4}$/.test(v))
		bad(op, "defaultClass", v, 'must be a classid like "1:10" or a hex minor like "10"');
	return Number.parseInt(v, 16);
}

/** Spec -> libnl request (ifindex filled later). Throws before anything is sent. */
export function qdiscRequest(op: string, spec: QdiscSpec): QdiscRequest {
	switch (spec.kind) {
		case "clsact":
			return { ifindex: 0, kind: "clsact", parent: TC_H_CLSACT, handle: TC_H_CLSACT_HANDLE };
		case "tbf": {
			const rate = rateBytes(op, "rate", spec.rate);
			const bucket = bytesField(op, "burst", spec.burst);
			if ((spec.latencyMs === undefined) === (spec.limit === undefined)) {
				bad(
					op,
					"tbf",
					{ latencyMs: spec.latencyMs, limit: spec.limit },
					"give exactly one of latencyMs or limit",
				);
			}
			let limit: number;
			if (spec.latencyMs !== undefined) {
				if (!Number.isFinite(spec.latencyMs) || spec.latencyMs < 0 || spec.latencyMs > 60_000) {
					bad(op, "latencyMs", spec.latencyMs, "must be 0..60000 ms");
				}
				limit = bytesField(op, "limit", tbfLimitForLatency(rate, bucket, spec.latencyMs));
			} else {
				limit = bytesField(op, "limit", spec.limit as number);
			}
			return {
				ifindex: 0,
				kind: "tbf",
				parent: handleOf(op, "parent", spec.parent ?? "root"),
				handle: qdiscHandle(op, spec.handle),
				tbf: { rate, bucket, limit },
			};
		}
		case "htb": {
			const r2q = spec.r2q ?? 10;
			if (!Number.isInteger(r2q) || r2q < 1 || r2q > 0xffffffff)
				bad(op, "r2q", spec.r2q, "must be a positive integer");
			return {
				ifindex: 0,
				kind: "htb",
				parent: handleOf(op, "parent", spec.parent ?? "root"),
				handle: qdiscHandle(op, spec.handle),
				htb: { defcls: defaultClassOf(op, spec.defaultClass), r2q },
			};
		}
		default:
			return bad(op, "qdisc kind", (spec as { kind: unknown }).kind, "supported: clsact, tbf, htb");
	}
}

// ---------------------------------------------------------------------------------------------
// plumbing

function resolveLink(op: string, ns: Netns, link: string): number {
	if (typeof link !== "string" || link.length === 0 || link.length > 15 || link.includes("/")) {
		bad(op, "link name", link, "must be 1-15 bytes without '/'");
	}
	const idx = ns.run(() => ifNameToIndex(link));
	if (idx === 0) {
		throw new LinuxError(
			op,
			`link ${link} in netns ${nsLabel(ns)}: no such device`,
			new ErrnoError("if_nametoindex", ERRNO.ENODEV, link),
		);
	}
	return idx;
}

/** Run a libnl call and turn its error into a LinuxError saying what and where. */
function kernel<T>(op: string, what: string, ns: Netns, fn: () => T): T {
	try {
		return fn();
	} catch (e) {
		if (e instanceof LinuxError) throw e;
		throw new LinuxError(op, `${op} ${what} in netns ${nsLabel(ns)}: ${(e as Error).message}`, e);
	}
}

function withSocket<T>(ns: Netns, fn: (sk: NlSocket) => T): T {
	using sk = NlSocket.open(ns.fd, `tc socket in ${nsLabel(ns)}`);
	return fn(sk);
}

function toQdisc(q: QdiscInfo, name: string): Qdisc {
	const out: Qdisc = {
		link: name,
		ifindex: q.ifindex,
		kind: q.kind,
		handle: fmt(q.handle),
		parent: fmt(q.parent),
	};
	if (q.tbf) out.tbf = { rate: q.tbf.rate * 8, burst: q.tbf.bucket, limit: q.tbf.limit };
	if (q.htb) out.htb = { defaultClass: fmt(((q.handle & 0xffff0000) | q.htb.defcls) >>> 0), r2q: q.htb.r2q };
	return out;
}

function toClass(c: ClassInfo, name: string): TcClass {
	const out: TcClass = {
		link: name,
		ifindex: c.ifindex,
		kind: c.kind,
		classid: fmt(c.handle),
		parent: fmt(c.parent),
	};
	if (c.htb) {
		out.htb = {
			rate: c.htb.rate * 8,
			ceil: c.htb.ceil * 8,
			burst: c.htb.rbuffer,
			cburst: c.htb.cbuffer,
			prio: c.htb.prio,
		};
	}
	return out;
}

// ---------------------------------------------------------------------------------------------
// qdiscs

/** Qdiscs in `ns`, on `link` only when given (default ones such as noqueue included). */
export function qdiscList(ns: Netns, link?: string): Qdisc[] {
	const op = "qdisc.list";
	const idx = link === undefined ? undefined : resolveLink(op, ns, link);
	return kernel(op, link ? `on ${link}` : "", ns, () =>
		withSocket(ns, (sk) => {
			const all = qdiscDump(sk);
			if (idx !== undefined)
				return all.filter((q) => q.ifindex === idx).map((q) => toQdisc(q, link as string));
			const names = linkNames(sk);
			return all.map((q) => toQdisc(q, names.get(q.ifindex) ?? ""));
		}),
	);
}

function sendQdisc(op: string, ns: Netns, link: string, spec: QdiscSpec, mode: TcMode): void {
	const req = qdiscRequest(op, spec);
	const ifindex = resolveLink(op, ns, link);
	kernel(op, `${spec.kind} on ${link}`, ns, () =>
		withSocket(ns, (sk) => nlQdiscAdd(sk, { ...req, ifindex }, mode)),
	);
}

/** Add a qdisc; fails (EEXIST) when one with that handle/parent is there (a default one is not counted). */
export function qdiscAdd(ns: Netns, link: string, spec: QdiscSpec): void {
	sendQdisc("qdisc.add", ns, link, spec, "add");
}

/**
 * Create or replace (`tc qdisc replace`). Changing the parameters of a qdisc of the same kind and
 * handle is done in place; the kernel refuses (EINVAL) to turn a qdisc of another kind with the same
 * handle into this one: delete it first (the ensure* functions do).
 */
export function qdiscReplace(ns: Netns, link: string, spec: QdiscSpec): void {
	sendQdisc("qdisc.replace", ns, link, spec, "replace");
}

/** Delete a qdisc: `{kind: "clsact"}`, or by parent (default root), optional handle and kind check. */
export function qdiscDel(ns: Netns, link: string, ref: QdiscRef = {}): void {
	const op = "qdisc.del";
	const clsact = ref.kind === "clsact";
	const parent =
		ref.parent !== undefined ? handleOf(op, "parent", ref.parent) : clsact ? TC_H_CLSACT : TC_H_ROOT;
	const handle = ref.handle !== undefined ? handleOf(op, "handle", ref.handle) : undefined;
	if (ref.kind !== undefined && !/^[a-z_]{1,15}$/.test(ref.kind))
		bad(op, "qdisc kind", ref.kind, "not a qdisc kind");
	const ifindex = resolveLink(op, ns, link);
	kernel(op, `${ref.kind ?? "qdisc"} ${fmt(parent)} on ${link}`, ns, () =>
		withSocket(ns, (sk) => nlQdiscDelete(sk, { ifindex, parent, handle, kind: ref.kind })),
	);
}

/** Make sure the clsact qdisc is on `link`. Throws if an `ingress` qdisc holds that slot. */
export function ensureClsact(ns: Netns, link: string): Changed {
	const cur = qdiscList(ns, link).find((q) => q.parent === fmt(TC_H_CLSACT));
	if (cur?.kind === "clsact") return { changed: false };
	if (cur) {
		throw new LinuxError(
			"qdisc.ensure",
			`link ${link} in netns ${nsLabel(ns)} has a ${cur.kind} qdisc where clsact goes`,
		);
	}
	qdiscAdd(ns, link, { kind: "clsact" });
	return { changed: true };
}

// libnl turns buckets into kernel ticks and back, which may cost a byte or so of rounding; a
// difference this small is the same setting (the probe read 32768 and 20000 back exactly).
const sameBytes = (a: number, b: number): boolean => Math.abs(a - b) <= Math.max(2, Math.ceil(b / 1000));

function ensureRootQdisc(
	ns: Netns,
	link: string,
	spec: TbfSpec | HtbSpec,
	same: (q: Qdisc, req: ReturnType<typeof qdiscRequest>) => boolean,
): Changed {
	const op = "qdisc.ensure";
	const req = qdiscRequest(op, spec);
	const parent = fmt(req.parent);
	const cur = qdiscList(ns, link).find((q) => q.parent === parent);
	if (cur && cur.kind === spec.kind && cur.handle === fmt(req.handle) && same(cur, req))
		return { changed: false };
	// Another kind in the slot: the kernel will not morph it in place (EINVAL), so remove it. A
	// default qdisc (handle 0, e.g. noqueue/pfifo_fast) cannot be deleted and need not be.
	if (cur && cur.handle !== "0:" && (cur.kind !== spec.kind || cur.handle !== fmt(req.handle))) {
		qdiscDel(ns, link, { parent, handle: cur.handle, kind: cur.kind });
	}
	qdiscReplace(ns, link, spec);
	return { changed: true };
}

/** Make sure `link` has exactly this tbf (replacing another root qdisc). Second call: unchanged. */
export function ensureTbf(ns: Netns, link: string, spec: Omit<TbfSpec, "kind">): Changed {
	return ensureRootQdisc(ns, link, { ...spec, kind: "tbf" }, (q, req) => {
		const want = (req as Extract<QdiscRequest, { kind: "tbf" }>).tbf;
		return (
			q.tbf !== undefined &&
			q.tbf.rate === want.rate * 8 &&
			q.tbf.limit === want.limit &&
			sameBytes(q.tbf.burst, want.bucket)
		);
	});
}

/** Make sure `link` has this htb qdisc (classes untouched unless the qdisc had to be recreated). */
export function ensureHtb(ns: Netns, link: string, spec: Omit<HtbSpec, "kind">): Changed {
	return ensureRootQdisc(ns, link, { ...spec, kind: "htb" }, (q, req) => {
		const want = (req as Extract<QdiscRequest, { kind: "htb" }>).htb;
		return (
			q.htb !== undefined &&
			tcMinor(parseTcHandle(q.htb.defaultClass)) === want.defcls &&
			q.htb.r2q === want.r2q
		);
	});
}

// ---------------------------------------------------------------------------------------------
// htb classes

function classRequest(op: string, spec: HtbClassSpec) {
	const handle = handleOf(op, "classid", spec.classid);
	if (tcMinor(handle) === 0 || tcMajor(handle) === 0 || handle === TC_H_ROOT) {
		bad(op, "classid", spec.classid, 'must be "major:minor" with both non-zero');
	}
	const parent =
		spec.parent !== undefined ? handleOf(op, "parent", spec.parent) : (handle & 0xffff0000) >>> 0;
	if (tcMajor(parent) !== tcMajor(handle))
		bad(op, "parent", spec.parent, `must belong to qdisc ${tcMajor(handle).toString(16)}:`);
	const rate = rateBytes(op, "rate", spec.rate);
	const ceil = spec.ceil === undefined ? rate : rateBytes(op, "ceil", spec.ceil);
	if (ceil < rate) bad(op, "ceil", spec.ceil, "must be >= rate");
	const htb = {
		rate,
		ceil,
		rbuffer: spec.burst === undefined ? undefined : bytesField(op, "burst", spec.burst),
		cbuffer: spec.cburst === undefined ? undefined : bytesField(op, "cburst", spec.cburst),
		prio: spec.prio === undefined ? undefined : spec.prio,
	};
	if (htb.prio !== undefined && (!Number.isInteger(htb.prio) || htb.prio < 0 || htb.prio > 7)) {
		bad(op, "prio", spec.prio, "must be 0..7");
	}
	return { ifindex: 0, kind: "htb" as const, parent, handle, htb };
}

/** Classes on `link`, or on every link in `ns` that has a qdisc. */
export function classList(ns: Netns, link?: string): TcClass[] {
	const op = "class.list";
	const idx = link === undefined ? undefined : resolveLink(op, ns, link);
	return kernel(op, link ? `on ${link}` : "", ns, () =>
		withSocket(ns, (sk) => {
			if (idx !== undefined) return classDump(sk, idx).map((c) => toClass(c, link as string));
			const names = linkNames(sk);
			const ifindexes = [...new Set(qdiscDump(sk).map((q) => q.ifindex))];
			return ifindexes.flatMap((i) => classDump(sk, i).map((c) => toClass(c, names.get(i) ?? "")));
		}),
	);
}

function sendClass(op: string, ns: Netns, link: string, spec: HtbClassSpec, mode: TcMode): void {
	const req = classRequest(op, spec);
	const ifindex = resolveLink(op, ns, link);
	kernel(op, `htb class ${spec.classid} on ${link}`, ns, () =>
		withSocket(ns, (sk) => nlClassAdd(sk, { ...req, ifindex }, mode)),
	);
}

/** Add an htb class; EEXIST if that classid exists. The htb qdisc must be there. */
export function classAdd(ns: Netns, link: string, spec: HtbClassSpec): void {
	sendClass("class.add", ns, link, spec, "add");
}

/** Create or change an htb class in place. */
export function classReplace(ns: Netns, link: string, spec: HtbClassSpec): void {
	sendClass("class.replace", ns, link, spec, "replace");
}

/** Delete the class `classid` ("1:10") from `link`. */
export function classDel(ns: Netns, link: string, classid: string): void {
	const op = "class.del";
	const handle = handleOf(op, "classid", classid);
	if (tcMinor(handle) === 0) bad(op, "classid", classid, 'must be "major:minor"');
	const ifindex = resolveLink(op, ns, link);
	kernel(op, `class ${classid} on ${link}`, ns, () =>
		withSocket(ns, (sk) => nlClassDelete(sk, { ifindex, handle })),
	);
}

/** Make sure the htb class exists with these settings (unspecified bursts are not compared). */
export function ensureHtbClass(ns: Netns, link: string, spec: HtbClassSpec): Changed {
	const op = "class.ensure";
	const req = classRequest(op, spec);
	const cur = classList(ns, link).find((c) => c.classid === fmt(req.handle));
	const h = cur?.htb;
	if (
		cur?.kind === "htb" &&
		h &&
		h.rate === req.htb.rate * 8 &&
		h.ceil === req.htb.ceil * 8 &&
		h.prio === (req.htb.prio ?? 0) &&
		(req.htb.rbuffer === undefined || sameBytes(h.burst, req.htb.rbuffer)) &&
		(req.htb.cbuffer === undefined || sameBytes(h.cburst, req.htb.cbuffer))
	) {
		return { changed: false };
	}
	classReplace(ns, link, spec);
	return { changed: true };
}
