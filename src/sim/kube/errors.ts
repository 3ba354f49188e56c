/**
 * Kubernetes `Status` failures for the fake apiserver: one error class carrying the HTTP code
 * and reason, and the constructors for the reasons the store produces. The wire shape follows
 * k8s.io/apimachinery/pkg/apis/meta/v1 `Status` (cloud-sim.md §4.4 "Error body").
 */

export type StatusReason =
	| "NotFound"
	| "AlreadyExists"
	| "Conflict"
	| "Invalid"
	| "BadRequest"
	| "Expired"
	| "Gone"
	| "UnsupportedMediaType"
	| "MethodNotAllowed"
	| "NotAcceptable"
	| "Unauthorized"
	| "Forbidden"
	| "TooManyRequests"
	| "InternalError"
	| "ServiceUnavailable"
	| "Timeout"
	| (string & {});

export type StatusDetails = { name?: string; group?: string; kind?: string; causes?: unknown[] };

/** The `Status` object the apiserver answers failures with. */
export type KubeStatus = {
	kind: "Status";
	apiVersion: "v1";
	metadata: Record<string, never>;
	status: "Failure" | "Success";
	message: string;
	reason: StatusReason;
	details?: StatusDetails;
	code: number;
};

/** A failed apiserver call: thrown by the store, rendered as a `Status` body by the handler. */
export class KubeApiError extends Error {
	override readonly name = "KubeApiError";
	constructor(
		readonly code: number,
		readonly reason: StatusReason,
		message: string,
		readonly details?: StatusDetails,
	) {
		super(message);
	}

	toStatus(): KubeStatus {
		return {
			kind: "Status",
			apiVersion: "v1",
			metadata: {},
			status: "Failure",
			message: this.message,
			reason: this.reason,
			...(this.details ? { details: this.details } : {}),
			code: this.code,
		};
	}
}

export function isKubeApiError(e: unknown, reason?: StatusReason): e is KubeApiError {
	return e instanceof KubeApiError && (reason === undefined || e.reason === reason);
}

/** `<resource>.<group>` as the apiserver prints a group resource ("pods", "podenis.network.alibabacloud.com"). */
function qualified(group: string, resource: string): string {
	return group ? `${resource}.${group}` : resource;
}

export const kubeErrors = {
	notFound: (group: string, resource: string, name: string) =>
		new KubeApiError(404, "NotFound", `${qualified(group, resource)} "${name}" not found`, {
			name,
			...(group ? { group } : {}),
			kind: resource,
		}),
	alreadyExists: (group: string, resource: string, name: string) =>
		new KubeApiError(409, "AlreadyExists", `${qualified(group, resource)} "${name}" already exists`, {
			name,
			...(group ? { group } : {}),
			kind: resource,
		}),
	conflict: (group: string, resource: string, name: string) =>
		new KubeApiError(
			409,
			"Conflict",
			`Operation cannot be fulfilled on ${qualified(group, resource)} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
			{ name, ...(group ? { group } : {}), kind: resource },
		),
	invalid: (group: string, kind: string, name: string, field: string, message: string) =>
		new KubeApiError(422, "Invalid", `${kind} "${name}" is invalid: ${field}: ${message}`, {
			name,
			...(group ? { group } : {}),
			kind,
			causes: [{ reason: "FieldValueInvalid", message, field }],
		}),
	/** A patch that cannot be applied (failed `test`, missing path): the apiserver answers 422. */
	unprocessable: (message: string) => new KubeApiError(422, "Invalid", message),
	notFoundKind: (apiVersion: string, kind: string) =>
		new KubeApiError(404, "NotFound", `no matches for kind "${kind}" in version "${apiVersion}"`),
	/** The generic 404 for a path that names no resource. */
	notFoundPath: () =>
		new KubeApiError(404, "NotFound", "the server could not find the requested resource", {}),
	badRequest: (message: string) => new KubeApiError(400, "BadRequest", message),
	expired: (message: string) => new KubeApiError(410, "Expired", message),
	unsupportedMediaType: (contentType: string) =>
		new KubeApiError(
			415,
			"UnsupportedMediaType",
			`the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml${contentType ? ` (got ${contentType})` : ""}`,
		),
	methodNotAllowed: (method: string, what: string) =>
		new KubeApiError(
			405,
			"MethodNotAllowed",
			`the server does not allow this method on the requested resource (${method} ${what})`,
		),
};
