/**
 * Typed errors for every C return convention behind src/ffi/.
 *
 * One class per convention, all carrying the C function name, the raw code and a readable
 * message, so callers branch on meaning (`isNotFound(e)`) and logs still show the number.
 * Modelled on cilium/ebpf `sys.Error` (semantic sentinel + raw errno in one value).
 * This module has no FFI: it is safe to import from anywhere above src/ffi/.
 */

/** errno values (asm-generic/errno-base.h, errno.h; x86-64 Linux) and their names. */
export const ERRNO = {
	EPERM: 1,
	ENOENT: 2,
	ESRCH: 3,
	EINTR: 4,
	EIO: 5,
	ENXIO: 6,
	E2BIG: 7,
	EBADF: 9,
	EAGAIN: 11,
	ENOMEM: 12,
	EACCES: 13,
	EFAULT: 14,
	EBUSY: 16,
	EEXIST: 17,
	EXDEV: 18,
	ENODEV: 19,
	ENOTDIR: 20,
	EISDIR: 21,
	EINVAL: 22,
	ENFILE: 23,
	EMFILE: 24,
	ENOSPC: 28,
	EROFS: 30,
	ERANGE: 34,
	ENAMETOOLONG: 36,
	ENOSYS: 38,
	ENOTEMPTY: 39,
	ELOOP: 40,
	ENODATA: 61,
	EPROTO: 71,
	EBADMSG: 74,
	EOVERFLOW: 75,
	EMSGSIZE: 90,
	EPROTONOSUPPORT: 93,
	EOPNOTSUPP: 95,
	EAFNOSUPPORT: 97,
	EADDRINUSE: 98,
	EADDRNOTAVAIL: 99,
	ENETDOWN: 100,
	ENETUNREACH: 101,
	ENOBUFS: 105,
	ETIMEDOUT: 110,
	EHOSTUNREACH: 113,
	EALREADY: 114,
	ENOTSUPP: 524,
} as const;

export type ErrnoName = keyof typeof ERRNO;

const NAMES = new Map<number, ErrnoName>(
	Object.entries(ERRNO).map(([name, value]) => [value, name as ErrnoName]),
);

const MESSAGES: Partial<Record<ErrnoName, string>> = {
	EPERM: "operation not permitted",
	ENOENT: "no such file or directory",
	ESRCH: "no such process",
	EBADF: "bad file descriptor",
	EAGAIN: "resource temporarily unavailable",
	ENOMEM: "out of memory",
	EACCES: "permission denied",
	EBUSY: "device or resource busy",
	EEXIST: "already exists",
	ENODEV: "no such device",
	EINVAL: "invalid argument",
	ENOSPC: "no space left",
	ERANGE: "result out of range",
	ENAMETOOLONG: "name too long",
	ENOSYS: "function not implemented",
	EOPNOTSUPP: "operation not supported",
	ENOTSUPP: "operation not supported",
	EAFNOSUPPORT: "address family not supported",
	EADDRNOTAVAIL: "cannot assign requested address",
	ENETUNREACH: "network is unreachable",
	ETIMEDOUT: "timed out",
};

/** The symbolic name of an errno value ("ENOENT"), or "E<n>" for one we do not list. */
export function errnoName(errno: number): string {
	return NAMES.get(errno) ?? `E${errno}`;
}

function errnoMessage(errno: number): string {
	const name = NAMES.get(errno);
	return (name && MESSAGES[name]) ?? `error ${errno}`;
}

/** A C call failed with an errno (libc `-1`+errno, libbpf `-errno`, or libnl mapped to errno). */
export class ErrnoError extends Error {
	override readonly name: string = "ErrnoError";
	/** Positive errno value. */
	readonly errno: number;
	/** Symbolic errno ("EEXIST"). */
	readonly code: string;
	/** The C function that failed. */
	readonly fn: string;

	constructor(fn: string, errno: number, context?: string, detail?: string) {
		const what = detail ?? errnoMessage(errno);
		super(`${fn}${context ? ` ${context}` : ""}: ${what} (${errnoName(errno)})`);
		this.errno = errno;
		this.code = errnoName(errno);
		this.fn = fn;
	}
}

/**
 * libnl failed with a negative NLE_* code (netlink/errno.h, libnl 3.7). Keeps the NLE code and
 * also the errno it stands for, so `isExists`/`isNotFound` work the same for every backend.
 */
export class NlError extends ErrnoError {
	override readonly name = "NlError";
	/** Positive NLE_* value. */
	readonly nle: number;

	constructor(fn: string, nle: number, errno: number, nlMessage: string, context?: string) {
		super(fn, errno, context, `${nlMessage.toLowerCase()} (NLE ${nle})`);
		this.nle = nle;
	}
}

/** A native library or a kernel feature is missing on this machine. */
export class NotSupportedError extends Error {
	override readonly name = "NotSupportedError";
	constructor(
		readonly feature: string,
		readonly hint: string,
	) {
		super(`${feature} is not available: ${hint}`);
	}
}

const errnoOf = (e: unknown): number | undefined => (e instanceof ErrnoError ? e.errno : undefined);

export const isNotFound = (e: unknown): boolean => {
	const n = errnoOf(e);
	return n === ERRNO.ENOENT || n === ERRNO.ENODEV || n === ERRNO.ESRCH || n === ERRNO.ENXIO;
};
export const isExists = (e: unknown): boolean => errnoOf(e) === ERRNO.EEXIST;
export const isPermission = (e: unknown): boolean => {
	const n = errnoOf(e);
	return n === ERRNO.EPERM || n === ERRNO.EACCES;
};
export const isNotSupported = (e: unknown): boolean => {
	if (e instanceof NotSupportedError) return true;
	const n = errnoOf(e);
	return n === ERRNO.EOPNOTSUPP || n === ERRNO.ENOTSUPP || n === ERRNO.EAFNOSUPPORT;
};
