/**
 * libnl-route-3 traffic control: qdiscs (clsact, tbf, htb) and htb classes, as plain data.
 *
 * For src/linux/tc.ts only (through ../libnl/index.ts). It must not decide policy (idempotency,
 * defaults, unit conversion from bits): it translates typed requests into libnl objects, sends
 * them on a namespace-bound NlSocket and copies dumps out. No pointer leaves this file.
 *
 * Units are libnl's, stated once here and converted by the caller:
 * - rates are **bytes per second** (`rtnl_qdisc_tbf_set_rate`, `rtnl_htb_set_rate`), carried by the
 *   kernel in the 32-bit `tc_ratespec.rate`; libnl 3.7 sends no TCA_*_RATE64 for tbf, so a rate must
 *   stay below 2^32 bytes/s (~34.3 Gbit/s). `TC_MAX_RATE_BYTES` is that bound.
 * - tbf bucket (burst), tbf limit, htb rbuffer/cbuffer are **bytes**. libnl turns buckets into
 *   kernel ticks (bucket/rate) on the way in and back into bytes on the way out, so a value read
 *   back can differ from the one written by a rounding step (callers compare with a tolerance).
 * - handles are the kernel's u32 `maj:min` (TC_H_MAKE); see src/core/net/tc-handle.ts.
 *
 * libnl facts this relies on (libnl 3.7 lib/route/tc.c, qdisc.c, class.c, qdisc/{tbf,htb}.c):
 * - `rtnl_tc_msg_build` copies ifindex/handle/parent straight into `struct tcmsg` and adds
 *   TCA_KIND when set; a kind libnl has no module for (clsact) is sent with no TCA_OPTIONS, which
 *   is exactly what `tc qdisc add dev X clsact` sends (parent TC_H_CLSACT, handle ffff:0).
 * - The tbf and htb setters `BUG()` (abort the process) when the object has no kind data, so the
 *   kind is always set first; htb's class builder also BUG()s without a rate, so rate is required.
 * - `rtnl_qdisc_alloc` / `rtnl_class_alloc` objects are put in `finally`; objects reached through a
 *   cache are borrowed and freed with the cache (`readCache`).
 * - `rtnl_qdisc_add`/`rtnl_class_add` send only the flags given (see NLM_F_CREATE below).
 */
import { CString, FFIType, type Pointer, ptr } from "bun:ffi";
import { AF_UNSPEC, createFlags, cstr, type NlSocket, nlAlloc, nlCheck, openLib, readCache } from "./core.ts";

const { i32, u32, ptr: P, void: V } = FFIType;

const defs = {
	rtnl_qdisc_alloc: { args: [], returns: P },
	rtnl_qdisc_put: { args: [P], returns: V },
	rtnl_qdisc_add: { args: [P, P, i32], returns: i32 },
	rtnl_qdisc_delete: { args: [P, P], returns: i32 },
	rtnl_qdisc_alloc_cache: { args: [P, P], returns: i32 },
	rtnl_class_alloc: { args: [], returns: P },
	rtnl_class_put: { args: [P], returns: V },
	rtnl_class_add: { args: [P, P, i32], returns: i32 },
	rtnl_class_delete: { args: [P, P], returns: i32 },
	rtnl_class_alloc_cache: { args: [P, i32, P], returns: i32 },
	rtnl_tc_set_ifindex: { args: [P, i32], returns: V },
	rtnl_tc_get_ifindex: { args: [P], returns: i32 },
	rtnl_tc_set_parent: { args: [P, u32], returns: V },
	rtnl_tc_get_parent: { args: [P], returns: u32 },
	rtnl_tc_set_handle: { args: [P, u32], returns: V },
	rtnl_tc_get_handle: { args: [P], returns: u32 },
	rtnl_tc_set_kind: { args: [P, P], returns: i32 },
	rtnl_tc_get_kind: { args: [P], returns: P },
	rtnl_qdisc_tbf_set_limit: { args: [P, i32], returns: V },
	rtnl_qdisc_tbf_get_limit: { args: [P], returns: i32 },
	rtnl_qdisc_tbf_set_rate: { args: [P, i32, i32, i32], returns: V },
	rtnl_qdisc_tbf_get_rate: { args: [P], returns: i32 },
	rtnl_qdisc_tbf_get_rate_bucket: { args: [P], returns: i32 },
	rtnl_htb_set_defcls: { args: [P, u32], returns: i32 },
	rtnl_htb_get_defcls: { args: [P], returns: u32 },
	rtnl_htb_set_rate2quantum: { args: [P, u32], returns: i32 },
	rtnl_htb_get_rate2quantum: { args: [P], returns: u32 },
	rtnl_htb_set_rate: { args: [P, u32], returns: i32 },
	rtnl_htb_get_rate: { args: [P], returns: u32 },
	rtnl_htb_set_ceil: { args: [P, u32], returns: i32 },
	rtnl_htb_get_ceil: { args: [P], returns: u32 },
	rtnl_htb_set_rbuffer: { args: [P, u32], returns: i32 },
	rtnl_htb_get_rbuffer: { args: [P], returns: u32 },
	rtnl_htb_set_cbuffer: { args: [P, u32], returns: i32 },
	rtnl_htb_get_cbuffer: { args: [P], returns: u32 },
	rtnl_htb_set_prio: { args: [P, u32], returns: i32 },
	rtnl_htb_get_prio: { args: [P], returns: u32 },
	rtnl_link_alloc_cache: { args: [P, i32, P], returns: i32 },
	rtnl_link_get_ifindex: { args: [P], returns: i32 },
	rtnl_link_get_name: { args: [P], returns: P },
} as const;

type Lib = ReturnType<typeof openLib<typeof defs>>;
let lib: Lib | undefined;

/** libnl-route-3.so.200 with the tc symbols, opened on first use. */
function rt(): Lib {
	if (!lib) lib = openLib("libnl-route-3.so.200", defs);
	return lib;
}

/** pkt_sched.h special handles. */
export const TC_H_ROOT = 0xffffffff;
export const TC_H_UNSPEC = 0;
/** TC_H_CLSACT == TC_H_INGRESS: the pseudo parent clsact/ingress qdiscs hang off. */
export const TC_H_CLSACT = 0xfffffff1;
/** The only handle the kernel gives clsact/ingress (ffff:0). */
export const TC_H_CLSACT_HANDLE = 0xffff0000;

/** The largest rate (bytes/s) the 32-bit ratespec carries; see the module header. */
export const TC_MAX_RATE_BYTES = 0xffffffff;

/** What every qdisc and class has. Handles/parents are u32; ifindex is in the socket's netns. */
export type TcObject = { ifindex: number; kind: string; handle: number; parent: number };

/** tbf parameters in libnl units: rate bytes/s, bucket (burst) bytes, limit (queue) bytes. */
export type TbfParams = { rate: number; bucket: number; limit: number };
/** htb qdisc parameters: the default class minor (0 = unclassified traffic goes direct) and r2q. */
export type HtbQdiscParams = { defcls: number; r2q: number };
/** htb class parameters: rates bytes/s, buffers bytes. Missing ceil/buffers take libnl's defaults. */
export type HtbClassParams = {
	rate: number;
	ceil?: number;
	rbuffer?: number;
	cbuffer?: number;
	prio?: number;
};

export type QdiscInfo = TcObject & { tbf?: TbfParams; htb?: HtbQdiscParams };
export type ClassInfo = TcObject & { htb?: Required<HtbClassParams> };

/** A qdisc to send: clsact (no options), tbf or htb. */
export type QdiscRequest =
	| { ifindex: number; parent: number; handle: number; kind: "clsact" }
	| { ifindex: number; parent: number; handle: number; kind: "tbf"; tbf: TbfParams }
	| { ifindex: number; parent: number; handle: number; kind: "htb"; htb: { defcls: number; r2q?: number } };

/** An htb class to send. */
export type ClassRequest = {
	ifindex: number;
	parent: number;
	handle: number;
	kind: "htb";
	htb: HtbClassParams;
};

function kindOf(obj: Pointer): string {
	const k = rt().rtnl_tc_get_kind(obj);
	return k ? new CString(k).toString() : ""; // copied, borrowed from obj
}

function setCommon(obj: Pointer, r: { ifindex: number; parent: number; handle: number; kind: string }): void {
	const l = rt();
	const kind = cstr(r.kind);
	// Kind first: the kind-specific setters need its data block (they BUG() without it).
	nlCheck("rtnl_tc_set_kind", l.rtnl_tc_set_kind(obj, ptr(kind)), r.kind);
	l.rtnl_tc_set_ifindex(obj, r.ifindex);
	l.rtnl_tc_set_parent(obj, r.parent >>> 0);
	l.rtnl_tc_set_handle(obj, r.handle >>> 0);
}

const i32of = (n: number): number => n | 0; // libnl takes rates as int and casts to u32

/**
 * How a create request treats an existing object: "add" = NLM_F_CREATE|NLM_F_EXCL (EEXIST if
 * there), "replace" = NLM_F_CREATE|NLM_F_REPLACE (create or change in place).
 */
export type TcMode = "add" | "replace";
// with NLM_F_CREATE the clsact request equals `tc qdisc add dev X clsact` byte for byte
const modeFlags = (m: TcMode): number => createFlags(m === "replace");

/** RTM_NEWQDISC (see TcMode). */
export function qdiscAdd(sk: NlSocket, r: QdiscRequest, mode: TcMode): void {
	const l = rt();
	const q = nlAlloc("rtnl_qdisc_alloc", l.rtnl_qdisc_alloc());
	try {
		setCommon(q, r);
		if (r.kind === "tbf") {
			l.rtnl_qdisc_tbf_set_rate(q, i32of(r.tbf.rate), i32of(r.tbf.bucket), 0);
			l.rtnl_qdisc_tbf_set_limit(q, i32of(r.tbf.limit));
		} else if (r.kind === "htb") {
			nlCheck("rtnl_htb_set_defcls", l.rtnl_htb_set_defcls(q, r.htb.defcls >>> 0));
			if (r.htb.r2q !== undefined)
				nlCheck("rtnl_htb_set_rate2quantum", l.rtnl_htb_set_rate2quantum(q, r.htb.r2q));
		}
		nlCheck("rtnl_qdisc_add", l.rtnl_qdisc_add(sk.raw, q, modeFlags(mode)), r.kind);
	} finally {
		l.rtnl_qdisc_put(q);
	}
}

/** RTM_DELQDISC. With `kind` set the kernel refuses (EINVAL) to delete a qdisc of another kind. */
export function qdiscDelete(
	sk: NlSocket,
	r: { ifindex: number; parent: number; handle?: number; kind?: string },
): void {
	const l = rt();
	const q = nlAlloc("rtnl_qdisc_alloc", l.rtnl_qdisc_alloc());
	try {
		if (r.kind) {
			const kind = cstr(r.kind);
			nlCheck("rtnl_tc_set_kind", l.rtnl_tc_set_kind(q, ptr(kind)), r.kind);
		}
		l.rtnl_tc_set_ifindex(q, r.ifindex);
		l.rtnl_tc_set_parent(q, r.parent >>> 0);
		if (r.handle !== undefined) l.rtnl_tc_set_handle(q, r.handle >>> 0);
		nlCheck("rtnl_qdisc_delete", l.rtnl_qdisc_delete(sk.raw, q));
	} finally {
		l.rtnl_qdisc_put(q);
	}
}

/** Every qdisc in the socket's namespace (RTM_GETQDISC dump), copied out. */
export function qdiscDump(sk: NlSocket): QdiscInfo[] {
	const l = rt();
	return readCache(
		"rtnl_qdisc_alloc_cache",
		(out) => l.rtnl_qdisc_alloc_cache(sk.raw, out),
		(q) => {
			const info: QdiscInfo = {
				ifindex: l.rtnl_tc_get_ifindex(q),
				kind: kindOf(q),
				handle: l.rtnl_tc_get_handle(q) >>> 0,
				parent: l.rtnl_tc_get_parent(q) >>> 0,
			};
			if (info.kind === "tbf") {
				info.tbf = {
					rate: nlCheck("rtnl_qdisc_tbf_get_rate", l.rtnl_qdisc_tbf_get_rate(q)) >>> 0,
					bucket: nlCheck("rtnl_qdisc_tbf_get_rate_bucket", l.rtnl_qdisc_tbf_get_rate_bucket(q)),
					limit: nlCheck("rtnl_qdisc_tbf_get_limit", l.rtnl_qdisc_tbf_get_limit(q)),
				};
			} else if (info.kind === "htb") {
				info.htb = { defcls: l.rtnl_htb_get_defcls(q) >>> 0, r2q: l.rtnl_htb_get_rate2quantum(q) >>> 0 };
			}
			return info;
		},
	);
}

/** RTM_NEWTCLASS (see TcMode; for classes the kernel changes an existing one unless EXCL). */
export function classAdd(sk: NlSocket, r: ClassRequest, mode: TcMode): void {
	const l = rt();
	const c = nlAlloc("rtnl_class_alloc", l.rtnl_class_alloc());
	try {
		setCommon(c, r);
		const h = r.htb;
		nlCheck("rtnl_htb_set_rate", l.rtnl_htb_set_rate(c, h.rate >>> 0));
		if (h.ceil !== undefined) nlCheck("rtnl_htb_set_ceil", l.rtnl_htb_set_ceil(c, h.ceil >>> 0));
		if (h.rbuffer !== undefined) nlCheck("rtnl_htb_set_rbuffer", l.rtnl_htb_set_rbuffer(c, h.rbuffer >>> 0));
		if (h.cbuffer !== undefined) nlCheck("rtnl_htb_set_cbuffer", l.rtnl_htb_set_cbuffer(c, h.cbuffer >>> 0));
		if (h.prio !== undefined) nlCheck("rtnl_htb_set_prio", l.rtnl_htb_set_prio(c, h.prio >>> 0));
		nlCheck("rtnl_class_add", l.rtnl_class_add(sk.raw, c, modeFlags(mode)), r.kind);
	} finally {
		l.rtnl_class_put(c);
	}
}

/** RTM_DELTCLASS for the class `handle` on `ifindex`. */
export function classDelete(sk: NlSocket, r: { ifindex: number; handle: number; parent?: number }): void {
	const l = rt();
	const c = nlAlloc("rtnl_class_alloc", l.rtnl_class_alloc());
	try {
		l.rtnl_tc_set_ifindex(c, r.ifindex);
		l.rtnl_tc_set_handle(c, r.handle >>> 0);
		if (r.parent !== undefined) l.rtnl_tc_set_parent(c, r.parent >>> 0);
		nlCheck("rtnl_class_delete", l.rtnl_class_delete(sk.raw, c));
	} finally {
		l.rtnl_class_put(c);
	}
}

/** The classes on one link (RTM_GETTCLASS dump), copied out. */
export function classDump(sk: NlSocket, ifindex: number): ClassInfo[] {
	const l = rt();
	return readCache(
		"rtnl_class_alloc_cache",
		(out) => l.rtnl_class_alloc_cache(sk.raw, ifindex, out),
		(c) => {
			const info: ClassInfo = {
				ifindex: l.rtnl_tc_get_ifindex(c),
				kind: kindOf(c),
				handle: l.rtnl_tc_get_handle(c) >>> 0,
				parent: l.rtnl_tc_get_parent(c) >>> 0,
			};
			if (info.kind === "htb") {
				info.htb = {
					rate: l.rtnl_htb_get_rate(c) >>> 0,
					ceil: l.rtnl_htb_get_ceil(c) >>> 0,
					rbuffer: l.rtnl_htb_get_rbuffer(c) >>> 0,
					cbuffer: l.rtnl_htb_get_cbuffer(c) >>> 0,
					prio: l.rtnl_htb_get_prio(c) >>> 0,
				};
			}
			return info;
		},
	);
}

/** ifindex -> name for every link in the socket's namespace (for dumps not filtered by link). */
export function linkNames(sk: NlSocket): Map<number, string> {
	const l = rt();
	const pairs = readCache(
		"rtnl_link_alloc_cache",
		(out) => l.rtnl_link_alloc_cache(sk.raw, AF_UNSPEC, out),
		(link): [number, string] => {
			const name = l.rtnl_link_get_name(link);
			return [l.rtnl_link_get_ifindex(link), name ? new CString(name).toString() : ""]; // copied
		},
	);
	return new Map(pairs);
}
