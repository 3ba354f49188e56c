/**
 * @module daemon/errors
 *
 * `ApiError`: an error the local API answers with its `ApiErrorBody` and HTTP status
 * (api-types.ts). Everything else thrown inside a handler becomes 500 Internal.
 */
import type { ApiErrorBody, ApiErrorCode } from "./api-types.ts";

export const STATUS_OF: Record<ApiErrorCode, number> = {
	BadRequest: 400,
	NotFound: 404,
	Conflict: 409,
	NotReady: 503,
	IPExhausted: 507,
	Internal: 500,
};

export class ApiError extends Error {
	override readonly name = "ApiError";
	readonly code: ApiErrorCode;
	readonly field: string | undefined;

	constructor(code: ApiErrorCode, message: string, opts: { field?: string; cause?: unknown } = {}) {
		super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
		this.code = code;
		this.field = opts.field;
	}

	get status(): number {
		return STATUS_OF[this.code];
	}

	body(): ApiErrorBody {
		return {
			error: {
				code: this.code,
				message: this.message,
				...(this.field !== undefined ? { field: this.field } : {}),
			},
		};
	}
}

export const isApiError = (e: unknown): e is ApiError => e instanceof ApiError;

export const badRequest = (field: string, message: string): ApiError =>
	new ApiError("BadRequest", `${field}: ${message}`, { field });
