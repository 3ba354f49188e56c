/**
 * CNI error codes and `CniError`, the one error type the plugin prints (CNI SPEC.md "Error",
 * libcni pkg/types/types.go). Pure: no I/O. The codes are a const object (not a TS enum) so
 * `erasableSyntaxOnly` holds; every code is documented once, here.
 *
 * 0-99 are reserved by the spec; 100 and up are ours. Which error becomes which code is decided
 * in exactly one place, src/plugin/main.ts; everything below it throws typed errors.
 */

export const CNI_CODES = {
	/** 1: the config's cniVersion is not one we support, or the command needs a newer one. */
	IncompatibleCniVersion: 1,
	/** 2: a field we do not support; the message names the key and the value. */
	UnsupportedField: 2,
	/** 3: the container is unknown or does not exist: tells the runtime no DEL is needed. */
	UnknownContainer: 3,
	/** 4: a CNI_* environment variable is missing or invalid (the message names it). */
	InvalidEnvironmentVariables: 4,
	/** 5: reading stdin or writing stdout failed. */
	IOFailure: 5,
	/** 6: stdin is not JSON (or not an object). */
	DecodingFailure: 6,
	/** 7: the network config is invalid (the message names the field and value). */
	InvalidNetworkConfig: 7,
	/** 8: CNI_NETNS is not a network namespace, or is the plugin's own (libcni, not in the spec table). */
	InvalidNetNS: 8,
	/** 11: transient: the daemon is unreachable, starting or warming its pool; retry later. */
	TryAgainLater: 11,
	/** 50 (STATUS): the plugin cannot serve ADD now (daemon down, pool exhausted with no way to grow). */
	PluginNotAvailable: 50,
	/** 51 (STATUS): not available, and existing pods may have limited connectivity (datapath missing). */
	PluginNotAvailableLimitedConnectivity: 51,
	/** 100: no IP can be had: vSwitch exhausted, ENI/IP quota reached (the daemon said IPExhausted). */
	IPExhausted: 100,
	/** 101: the daemon answered with an error we cannot classify (its message is carried). */
	DaemonRpcFailed: 101,
	/** 102: the ENI the daemon named has no link on this node (not attached yet or wrong MAC). */
	EniNotFound: 102,
	/** 103: programming the datapath (links, addresses, routes, rules, qdiscs) failed; rolled back. */
	DatapathFailed: 103,
	/** 104: CHECK found the live datapath differs from what ADD made (details list every drift). */
	DatapathDrift: 104,
	/** 105: an ENI attach did not finish in time (cold pool). */
	EniAttachTimeout: 105,
	/** 999: an internal error (a bug); the stack goes to the log, never to stdout. */
	Internal: 999,
} as const;

export type CniCodeName = keyof typeof CNI_CODES;
export type CniCode = (typeof CNI_CODES)[CniCodeName];

/** The error JSON of the spec: `{cniVersion, code, msg, details}` (details only when non-empty). */
export type CniErrorJSON = { cniVersion: string; code: number; msg: string; details?: string };

/**
 * An error with a CNI code. `msg` is the one-line message; `details` the longer explanation (a
 * list of drifts, the daemon's answer). Throw it anywhere below the plugin's main.
 *
 * @example throw new CniError(CNI_CODES.InvalidEnvironmentVariables, "CNI_IFNAME is missing")
 */
export class CniError extends Error {
	override readonly name = "CniError";
	constructor(
		readonly code: number,
		readonly msg: string,
		readonly details = "",
		options?: { cause?: unknown },
	) {
		super(details ? `${msg}: ${details}` : msg, options);
	}

	/** The spec's error object for `cniVersion` (the config's version, or ours when unknown). */
	toJSON(cniVersion: string): CniErrorJSON {
		return errorJSON(this.code, this.msg, this.details, cniVersion);
	}
}

export const isCniError = (e: unknown): e is CniError => e instanceof CniError;

/** Build the spec's error object (one place decides the field order and when details appear). */
export function errorJSON(code: number, msg: string, details: string, cniVersion: string): CniErrorJSON {
	const out: CniErrorJSON = { cniVersion, code, msg };
	if (details) out.details = details;
	return out;
}

/** Serialize an error for stdout: one line of JSON and a newline. */
export function serializeError(e: CniError, cniVersion: string): string {
	return JSON.stringify(e.toJSON(cniVersion));
}
