/**
 * Typed libc: file descriptors, setns/unshare, bind mounts and raw file I/O on the JS thread.
 *
 * Every call goes through `check` (the one place that reads errno), so callers get an
 * ErrnoError naming the function, the path and the errno. No pointer leaves this module.
 *
 * Namespaces (ffi-probe Q1): setns moves only the calling OS thread, and Bun runs all JS on
 * the main thread. `withNetns` therefore switches, runs a *synchronous* function, and switches
 * back in `finally`; it refuses a function that returns a Promise, because its continuation
 * would run after we left (or, worse, let unrelated callbacks run inside the namespace).
 */
import { read as peek, ptr } from "bun:ffi";
import { ERRNO, ErrnoError } from "../errno.ts";
import { track, untrack } from "../handles.ts";
import { libc } from "./symbols.ts";

export const O_RDONLY = 0;
export const O_WRONLY = 1;
export const O_RDWR = 2;
export const O_CREAT = 0o100;
export const O_EXCL = 0o200;
export const O_TRUNC = 0o1000;
export const O_CLOEXEC = 0o2000000;

export const CLONE_NEWNET = 0x40000000;

export const MS_BIND = 4096;
export const MS_REC = 16384;
export const MS_SHARED = 1 << 20;
export const MNT_DETACH = 2;

const encoder = new TextEncoder();

/** NUL-terminated copy of a JS string; keep the returned array referenced across the call. */
function cstr(s: string): Uint8Array {
	const b = new Uint8Array(Buffer.byteLength(s) + 1);
	encoder.encodeInto(s, b);
	return b;
}

function errno(): number {
	// Read right after the failing call, before any other FFI call (ffi-probe Q3 pitfall).
	return peek.i32(libc().__errno_location()!, 0);
}

/**
 * errno of the calling thread, for libraries whose failure is "NULL + errno" (libbpf's pointer
 * APIs). Call it in the very next statement after the failing call, before any other FFI call.
 */
export function lastErrno(): number {
	return errno();
}

/** The chokepoint for libc's `-1 + errno` convention. */
function check(fn: string, ret: number | bigint, context?: string): number {
	const n = Number(ret);
	if (n < 0) throw new ErrnoError(fn, errno(), context);
	return n;
}

/** An owned file descriptor. Close it (or `using` it); `disown()` hands the number over. */
export class Fd {
	#fd: number;
	#token: number;

	constructor(fd: number, what: string) {
		this.#fd = fd;
		const n = fd;
		this.#token = track("fd", what, this, () => libc().close(n));
	}

	/** The descriptor number; throws once closed. */
	get fd(): number {
		if (this.#fd < 0) throw new ErrnoError("fd", ERRNO.EBADF, "(already closed)");
		return this.#fd;
	}

	get closed(): boolean {
		return this.#fd < 0;
	}

	/** Give up ownership: the caller now closes the returned number. */
	disown(): number {
		const n = this.fd;
		untrack(this.#token, this);
		this.#fd = -1;
		return n;
	}

	close(): void {
		if (this.#fd < 0) return;
		const n = this.#fd;
		untrack(this.#token, this);
		this.#fd = -1;
		libc().close(n);
	}

	[Symbol.dispose](): void {
		this.close();
	}
}

/** open(2) with O_CLOEXEC. */
export function openFd(path: string, flags = O_RDONLY, mode = 0): Fd {
	const p = cstr(path);
	const fd = check("open", libc().open(p, flags | O_CLOEXEC, mode), path);
	return new Fd(fd, path);
}

/** Read a whole (small) file through one fd, on the calling thread (procfs/sysfs friendly). */
export function readFileSyncFd(path: string, max = 65536): string {
	using f = openFd(path, O_RDONLY);
	const buf = new Uint8Array(max);
	let off = 0;
	for (;;) {
		const n = check("read", libc().read(f.fd, ptr(buf, off), max - off), path);
		if (n === 0 || off + n >= max) {
			off += n;
			break;
		}
		off += n;
	}
	return new TextDecoder().decode(buf.subarray(0, off));
}

/** Write a whole string to an existing file in one write(2) (the sysctl contract). */
export function writeFileSyncFd(path: string, data: string): void {
	using f = openFd(path, O_WRONLY);
	const b = encoder.encode(data);
	check("write", libc().write(f.fd, b.length ? ptr(b) : null, b.length), path);
}

/** setns(2): move the calling thread into the namespace behind `fd`. */
export function setns(fd: Fd, nstype = CLONE_NEWNET, context?: string): void {
	check("setns", libc().setns(fd.fd, nstype), context);
}

/** unshare(2) on the calling thread. */
export function unshare(flags: number): void {
	check("unshare", libc().unshare(flags));
}

/** mount(2); null arguments stay NULL. */
export function mount(source: string | null, target: string, fstype: string | null, flags: number): void {
	const s = source === null ? null : cstr(source);
	const t = cstr(target);
	const f = fstype === null ? null : cstr(fstype);
	check(
		"mount",
		libc().mount(s ? ptr(s) : null, ptr(t), f ? ptr(f) : null, BigInt(flags), null),
		`${source ?? "none"} on ${target}`,
	);
}

export function umount2(target: string, flags = 0): void {
	const t = cstr(target);
	check("umount2", libc().umount2(ptr(t), flags), target);
}

const NS_GET_NSTYPE = 0xb703; // linux/nsfs.h _IO(0xb7, 0x3)

/** ioctl(NS_GET_NSTYPE): the CLONE_NEW* type of the namespace behind `fd`. */
export function namespaceType(fd: Fd, context?: string): number {
	return check("ioctl(NS_GET_NSTYPE)", libc().ioctl(fd.fd, BigInt(NS_GET_NSTYPE)), context);
}

/** if_nametoindex(3) in the calling thread's netns; 0 when there is no such link. */
export function ifNameToIndex(name: string): number {
	const n = cstr(name);
	return libc().if_nametoindex(ptr(n));
}

/** The calling thread's current network namespace. */
export function currentNetns(): Fd {
	return openFd("/proc/thread-self/ns/net");
}

/**
 * Run `fn` with the JS thread inside the network namespace `ns`, then return to where it was.
 * `fn` must be synchronous; anything it opens (sockets) stays bound to `ns`.
 */
export function withNetns<T>(ns: Fd, fn: () => T): T {
	using home = currentNetns();
	setns(ns, CLONE_NEWNET, "(enter)");
	let out: T;
	try {
		out = fn();
	} finally {
		// Returning home must not fail silently: a thread left in the wrong netns corrupts
		// everything after it, so let this throw through whatever fn threw.
		setns(home, CLONE_NEWNET, "(return)");
	}
	if (out && typeof (out as { then?: unknown }).then === "function") {
		throw new TypeError("withNetns: the function returned a Promise; namespace sections must be synchronous");
	}
	return out;
}
