/**
 * Errors raised by the typed OS API when the request itself is wrong or the object named is
 * not there: they say what and where ("link veth0 in netns tw-a: no such device"). Errors
 * from the kernel keep their ErrnoError as `cause` so callers can still ask `isNotFound`.
 */
import { isExists, isNotFound, isNotSupported, isPermission } from "../ffi/errno.ts";

export class LinuxError extends Error {
	override readonly name = "LinuxError";
	constructor(
		/** The operation, iproute2-style ("link.add", "route.replace"). */
		readonly op: string,
		message: string,
		override readonly cause?: unknown,
	) {
		super(message);
	}
}

/** Predicates that look through LinuxError to the errno behind it. */
const through =
	(pred: (e: unknown) => boolean) =>
	(e: unknown): boolean =>
		pred(e) || (e instanceof LinuxError && e.cause !== undefined && pred(e.cause));

export const isNotFoundError = through(isNotFound);
export const isExistsError = through(isExists);
export const isPermissionError = through(isPermission);
export const isNotSupportedError = through(isNotSupported);
