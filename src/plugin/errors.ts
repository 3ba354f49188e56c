/**
 * Errors the plugin's own parts throw before main.ts classifies them: the daemon could not be
 * reached, or it answered with an error body. (The daemon client of the wiring pass throws
 * these; the codes mirror src/daemon/api-types.ts ApiErrorCode, copied because plugin/ must not
 * import daemon/.)
 */

/** terwayd is not reachable (socket missing, refused, timed out). */
export class DaemonUnavailableError extends Error {
	override readonly name = "DaemonUnavailableError";
}

/** Keep in sync with src/daemon/api-types.ts ApiErrorCode. */
export type DaemonErrorCode =
	| "BadRequest"
	| "NotFound"
	| "Conflict"
	| "NotReady"
	| "IPExhausted"
	| "Internal";

/** terwayd answered with an ApiErrorBody. */
export class DaemonApiError extends Error {
	override readonly name = "DaemonApiError";
	constructor(
		readonly code: DaemonErrorCode,
		message: string,
		readonly field?: string,
	) {
		super(message);
	}
}

/** A datapath operation failed (after rollback); carries the op that failed. */
export class DatapathError extends Error {
	override readonly name = "DatapathError";
	constructor(
		message: string,
		readonly op: string,
		options?: { cause?: unknown },
	) {
		super(message, options);
	}
}

/** CHECK found drift between the plan and the live state. */
export class DriftError extends Error {
	override readonly name = "DriftError";
	constructor(readonly drifts: string[]) {
		super(`datapath drift: ${drifts.join("; ")}`);
	}
}
