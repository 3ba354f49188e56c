/**
 * @module daemon/store/errors
 *
 * One error class for the store, with a semantic `code` so callers branch without
 * parsing messages. SQLite's own errors (constraint, busy, I/O) are wrapped only where
 * the store can say what they mean; the rest pass through unchanged as `cause`.
 */

export type StoreErrorCode =
	/** A referenced ENI, IP or intent does not exist. */
	| "NOT_FOUND"
	/** The request contradicts stored state (IP held elsewhere, token reused with other params, ...). */
	| "CONFLICT"
	/** An ENI or IP is still used by a live allocation. */
	| "IN_USE"
	/** Malformed input (bad IP text, wrong family, missing ClientToken for a token op, ...). */
	| "INVALID"
	/** The database was written by a newer terwayd; refuse rather than guess. */
	| "SCHEMA_TOO_NEW"
	/** The intent is terminal (done/failed/rolledback) and cannot move again. */
	| "INTENT_CLOSED";

export class StoreError extends Error {
	override readonly name = "StoreError";
	readonly code: StoreErrorCode;
	constructor(code: StoreErrorCode, message: string, options?: { cause?: unknown }) {
		super(message, options);
		this.code = code;
	}
}

export const isStoreError = (e: unknown, code?: StoreErrorCode): e is StoreError =>
	e instanceof StoreError && (code === undefined || e.code === code);

/** SQLite constraint violation (UNIQUE, FOREIGN KEY, CHECK, or a RAISE from a guard trigger). */
export const isConstraintError = (e: unknown): boolean => {
	if (!(e instanceof Error)) return false;
	const code = (e as Error & { code?: unknown }).code;
	return typeof code === "string" ? code.startsWith("SQLITE_CONSTRAINT") : /constraint/i.test(e.message);
};
