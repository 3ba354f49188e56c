/**
 * libnl-3 core: the netlink socket bound to a namespace, the one return-code check for
 * libnl's `-NLE_*` convention, nl_addr conversion and cache iteration.
 *
 * Module-private to src/ffi/libnl (the folder's index.ts is the public face). Object files for
 * links/addresses/routes/rules/neighbours and for tc sit beside this one and share it.
 * Ownership rule (ffi-probe Q1 pitfalls): every *_alloc / *_get_kernel / veth_get_peer result is
 * put by the code that got it, in a `finally`; setters that take an nl_addr take their own ref.
 */
import { dlopen, type FFIFunction, type Pointer, read as peek, ptr, toArrayBuffer } from "bun:ffi";
import { ERRNO, NlError, NotSupportedError } from "../errno.ts";
import { track, untrack } from "../handles.ts";
import { type Fd, withNetns } from "../libc/index.ts";

const defs = {
	nl_socket_alloc: { args: [], returns: "ptr" },
	nl_socket_free: { args: ["ptr"], returns: "void" },
	nl_connect: { args: ["ptr", "i32"], returns: "i32" },
	nl_geterror: { args: ["i32"], returns: "cstring" },
	nl_addr_parse: { args: ["ptr", "i32", "ptr"], returns: "i32" },
	nl_addr_build: { args: ["i32", "ptr", "u32"], returns: "ptr" },
	nl_addr_put: { args: ["ptr"], returns: "void" },
	nl_addr_get_family: { args: ["ptr"], returns: "i32" },
	nl_addr_get_len: { args: ["ptr"], returns: "u32" },
	nl_addr_get_prefixlen: { args: ["ptr"], returns: "u32" },
	nl_addr_set_prefixlen: { args: ["ptr", "i32"], returns: "void" },
	nl_addr_get_binary_addr: { args: ["ptr"], returns: "ptr" },
	nl_cache_free: { args: ["ptr"], returns: "void" },
	nl_cache_get_first: { args: ["ptr"], returns: "ptr" },
	nl_cache_get_next: { args: ["ptr"], returns: "ptr" },
	nl_object_put: { args: ["ptr"], returns: "void" },
} as const;

type Lib = ReturnType<typeof dlopen<typeof defs>>["symbols"];
let lib: Lib | undefined;

/** libnl-3.so.200, opened on first use (so importing costs nothing). */
export function nl(): Lib {
	if (!lib) lib = openLib("libnl-3.so.200", defs);
	return lib;
}

/** dlopen a libnl soname with a clear NotSupportedError when the package is missing. */
export function openLib<D extends Record<string, FFIFunction>>(soname: string, table: D) {
	try {
		return dlopen(soname, table).symbols;
	} catch (e) {
		const pkg = soname.startsWith("libnl-route") ? "libnl-route-3-200" : "libnl-3-200";
		throw new NotSupportedError(soname, `install the Debian package ${pkg} (${(e as Error).message})`);
	}
}

// netlink/errno.h (libnl 3.7): NLE_* -> the errno it stands for, so callers branch the same
// way on libnl and libc errors. Codes without a clean errno map to EIO.
const NLE_ERRNO: Record<number, number> = {
	2: ERRNO.EINTR,
	3: ERRNO.EBADF,
	4: ERRNO.EAGAIN,
	5: ERRNO.ENOMEM,
	6: ERRNO.EEXIST,
	7: ERRNO.EINVAL,
	8: ERRNO.ERANGE,
	9: ERRNO.EMSGSIZE,
	10: ERRNO.EOPNOTSUPP,
	11: ERRNO.EAFNOSUPPORT,
	12: ERRNO.ENOENT,
	13: ERRNO.ENODATA,
	14: ERRNO.EINVAL,
	15: ERRNO.EAFNOSUPPORT,
	19: ERRNO.EADDRNOTAVAIL,
	22: ERRNO.EOPNOTSUPP,
	25: ERRNO.EBUSY,
	27: ERRNO.EACCES,
	28: ERRNO.EPERM,
	30: ERRNO.EINVAL,
	31: ERRNO.ENODEV,
	33: ERRNO.EINTR,
	34: ERRNO.ERANGE,
};

/** Build the typed error for a negative libnl return. */
export function nlError(fn: string, ret: number, context?: string): NlError {
	const nle = -ret;
	const text = String(nl().nl_geterror(nle) ?? `NLE ${nle}`);
	return new NlError(fn, nle, NLE_ERRNO[nle] ?? ERRNO.EIO, text, context);
}

/** The chokepoint for libnl's `-NLE_*` convention: returns ret when >= 0. */
export function nlCheck(fn: string, ret: number, context?: string): number {
	if (ret < 0) throw nlError(fn, ret, context);
	return ret;
}

/** The chokepoint for libnl allocators: NULL means out of memory. */
export function nlAlloc(fn: string, p: Pointer | bigint | null): Pointer {
	if (!p) throw new NlError(fn, 5, ERRNO.ENOMEM, "Out of memory");
	return p as Pointer;
}

const NETLINK_ROUTE = 0;

/**
 * netlink.h request flags. libnl 3.7's *_add calls send exactly the flags given (no implicit
 * NLM_F_CREATE, measured with strace), so every create request names them itself.
 */
export const NLM_F_REPLACE = 0x100;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;

/** Flags of a create request: EXCL (EEXIST on a duplicate) or, with `replace`, REPLACE. */
export const createFlags = (replace: boolean): number =>
	NLM_F_CREATE | (replace ? NLM_F_REPLACE : NLM_F_EXCL);

/**
 * A NETLINK_ROUTE socket created inside one network namespace (setns -> nl_connect -> back).
 * Every request made through it acts in that namespace while the thread stays home.
 */
export class NlSocket {
	#sk: Pointer | null;
	#token: number;

	private constructor(sk: Pointer, what: string) {
		this.#sk = sk;
		const p = sk;
		this.#token = track("nl_sock", what, this, () => nl().nl_socket_free(p));
	}

	/** Connect a route socket in the namespace behind `ns` (or the current one). */
	static open(ns?: Fd, what = "rtnetlink"): NlSocket {
		const sk = nlAlloc("nl_socket_alloc", nl().nl_socket_alloc());
		try {
			const connect = () => nlCheck("nl_connect", nl().nl_connect(sk, NETLINK_ROUTE));
			if (ns) withNetns(ns, connect);
			else connect();
		} catch (e) {
			nl().nl_socket_free(sk);
			throw e;
		}
		return new NlSocket(sk, what);
	}

	/** @internal the raw socket pointer, for the object files in this folder only. */
	get raw(): Pointer {
		if (!this.#sk) throw new NlError("nl_sock", 3, ERRNO.EBADF, "Bad socket (closed)");
		return this.#sk;
	}

	close(): void {
		if (!this.#sk) return;
		const sk = this.#sk;
		this.#sk = null;
		untrack(this.#token, this);
		nl().nl_socket_free(sk); // closes the fd too
	}

	[Symbol.dispose](): void {
		this.close();
	}
}

export const AF_UNSPEC = 0;
export const AF_INET = 2;
export const AF_INET6 = 10;
export const AF_LLC = 26; // libnl's family for MAC addresses

const enc = new TextEncoder();
/** NUL-terminated bytes for a C string argument; keep it referenced across the call. */
export function cstr(s: string): Uint8Array {
	const b = new Uint8Array(Buffer.byteLength(s) + 1);
	enc.encodeInto(s, b);
	return b;
}

/**
 * Build an nl_addr from raw bytes. Caller owns it: pass to a setter (which takes its own ref)
 * and then `nl_addr_put` it, or use `withAddr`.
 */
export function addrBuild(family: number, bytes: Uint8Array, prefixlen?: number): Pointer {
	const a = nlAlloc("nl_addr_build", nl().nl_addr_build(family, ptr(bytes), bytes.length));
	if (prefixlen !== undefined) nl().nl_addr_set_prefixlen(a, prefixlen);
	return a;
}

/** Run fn with a temporary nl_addr built from bytes; always put afterwards. */
export function withAddr<T>(
	family: number,
	bytes: Uint8Array,
	prefixlen: number | undefined,
	fn: (a: Pointer) => T,
): T {
	const a = addrBuild(family, bytes, prefixlen);
	try {
		return fn(a);
	} finally {
		nl().nl_addr_put(a);
	}
}

/** Copy an nl_addr (not owned: getters return borrowed pointers) into plain data. */
export function addrRead(a: Pointer | null): { family: number; bytes: Uint8Array; prefixlen: number } | null {
	if (!a) return null;
	const len = nl().nl_addr_get_len(a);
	const family = nl().nl_addr_get_family(a);
	const prefixlen = nl().nl_addr_get_prefixlen(a);
	if (len === 0) return { family, bytes: new Uint8Array(0), prefixlen };
	const bin = nl().nl_addr_get_binary_addr(a);
	// copied, safe after the owning object is put
	const bytes = new Uint8Array(toArrayBuffer(bin!, 0, len).slice(0));
	return { family, bytes, prefixlen };
}

/**
 * Iterate a libnl cache made by `alloc(out)` (an rtnl_*_alloc_cache call writing the cache
 * pointer to `out`), mapping each object with `map` (borrowed object, copy what you need).
 * The cache is freed before returning.
 */
export function readCache<T>(
	fn: string,
	alloc: (out: Pointer) => number,
	map: (obj: Pointer) => T | undefined,
): T[] {
	const out = new BigUint64Array(1);
	nlCheck(fn, alloc(ptr(out)));
	const cache = Number(out[0]) as unknown as Pointer;
	const items: T[] = [];
	try {
		for (
			let o = nl().nl_cache_get_first(cache) as Pointer | null;
			o;
			o = nl().nl_cache_get_next(o) as Pointer | null
		) {
			const v = map(o);
			if (v !== undefined) items.push(v);
		}
	} finally {
		nl().nl_cache_free(cache);
	}
	return items;
}

/** Read a pointer-sized out-parameter written by C. */
export function outPtr(out: BigUint64Array): Pointer | null {
	const v = out[0];
	return v ? (Number(v) as unknown as Pointer) : null;
}

/** Read a u32 from C memory (for getters that fill an out-parameter). */
export const peekU32 = (p: Pointer, off = 0): number => peek.u32(p, off);

/** Check that both libnl sonames load on this node; returns what was loaded. */
export function libnlAvailable(): string {
	nl();
	openLib("libnl-route-3.so.200", { rtnl_link_alloc: { args: [], returns: "ptr" } });
	return "libnl-3.so.200, libnl-route-3.so.200";
}
