/**
 * @module cloud/types
 *
 * The contract between terwayd and Alibaba Cloud: the capability interfaces the daemon
 * codes against (`EcsApi`, `MetadataApi`), the plain data they return (`Eni`, `VSwitch`,
 * `InstanceLimits`, `MetadataEni`) and the one error type (`CloudApiError`) with its
 * predicates.
 *
 * What this module must not do: import an SDK, do I/O, or expose SDK model classes. Every
 * value crossing this boundary is a plain object, so the daemon and its fakes never see
 * `@alicloud/*` types. Changes here are additive only (another engineer codes against it).
 *
 * Semantics follow Go Terway (`pkg/aliyun/client`, `pkg/aliyun/metadata`); see
 * `/work/shared/reference/cloud-sim.md` §1–§3 and `terway-features.md` §3.10–3.13.
 */

// ---------------------------------------------------------------------------------------
// ENIs
// ---------------------------------------------------------------------------------------

/**
 * ENI lifecycle states (cloud-sim.md §1.3). Create is synchronous (`Available` at once);
 * attach, detach and delete are asynchronous. A status the cloud reports that is not in
 * this list is passed through unchanged (the daemon treats it as "not the one I wait for").
 */
export type EniStatus = "Available" | "Attaching" | "InUse" | "Detaching" | "Deleting" | "CreateFailed";

/** The status `waitEniStatus` can wait for: a real status, or "the ENI is gone". */
export type EniWaitTarget = EniStatus | "absent";

/** ECS `Type` of an ENI. Terway assumes `Secondary` when the cloud leaves it empty. */
export type EniType = "Primary" | "Secondary" | "Trunk" | "Member";

/** A live ENI as the ECS API describes it (Create or DescribeNetworkInterfaces). */
export type Eni = {
	eniId: string;
	status: EniStatus;
	type: EniType;
	/** Lower-case MAC, `00:16:3e:…`; the key that joins API, metadata and Linux link. */
	mac: string;
	/** The instance it is attached to (falls back to `Attachment.InstanceId`); absent when detached. */
	instanceId?: string;
	vswitchId: string;
	vpcId?: string;
	zoneId: string;
	primaryIp: string;
	/** All private IPv4 addresses, primary first. */
	ipv4s: string[];
	/** All IPv6 addresses (order as the cloud returned them). */
	ipv6s: string[];
	ipv4Prefixes: string[];
	ipv6Prefixes: string[];
	securityGroupIds: string[];
	tags: Record<string, string>;
	/** `Attachment.DeviceIndex`; for `Member` ENIs Terway uses it as the VLAN id. */
	deviceIndex?: number;
	networkCardIndex?: number;
	/** `Attachment.TrunkNetworkInterfaceId` for member ENIs. */
	trunkEniId?: string;
	/** `NetworkInterfaceTrafficMode` (`Standard`, `HighPerformance` for eRDMA). */
	trafficMode?: string;
	resourceGroupId?: string;
	description?: string;
	/** ISO-8601 UTC, as the cloud returned it. */
	creationTime?: string;
};

/** Options every call accepts. */
export type CallOptions = {
	/** Aborts rate-limit waits, backoff sleeps and the in-flight attempt; the call rejects with `signal.reason`. */
	signal?: AbortSignal;
};

/**
 * Options of an idempotent mutation (Create, AssignPrivateIpAddresses, AssignIpv6Addresses).
 * Every retry of one logical call reuses the same `ClientToken` (cloud-sim.md §1.4). Pass
 * your own `clientToken` to journal it before the call, so a crash-and-replay reuses it and
 * the cloud returns the original result instead of acting twice.
 */
export type MutationOptions = CallOptions & {
	/** Max 64 ASCII chars. When absent a UUID is generated once per logical call. */
	clientToken?: string;
};

/** What to create. Mirrors Terway's `CreateNetworkInterface` parameters (cloud-sim.md §1.2). */
export type CreateEniSpec = {
	vswitchId: string;
	securityGroupIds: string[];
	/**
	 * Total private IPv4 addresses on the new ENI, primary included (Terway's IPCount). The
	 * call sends `SecondaryPrivateIpAddressCount = ipv4Count − 1` when that is > 0. 0 or 1 = primary only.
	 */
	ipv4Count: number;
	/** IPv6 addresses to assign at create time (`Ipv6AddressCount`), 0 = none. */
	ipv6Count: number;
	/** Sent as `Tag.N.Key/Value`; Terway tags with e.g. `creator=terway`. */
	tags: Record<string, string>;
	/** Default `interface create by terway`. */
	description?: string;
	/** `InstanceType`: `Secondary` (default) or `Trunk`. */
	type?: "Secondary" | "Trunk";
	resourceGroupId?: string;
	/** `NetworkInterfaceTrafficMode`, e.g. `HighPerformance` for eRDMA. */
	trafficMode?: string;
	/** Prefix mode instead of single IPs (never mixed with `ipv4Count > 1` in one call). */
	ipv4PrefixCount?: number;
	ipv6PrefixCount?: number;
	/** Default true (Terway). */
	deleteOnRelease?: boolean;
	/** Default false (Terway sends SourceDestCheck=false). */
	sourceDestCheck?: boolean;
};

/** Filters of `describeEnis`; combined with AND. Unknown IDs yield no entry, never an error. */
export type DescribeEnisFilter = {
	ids?: string[];
	instanceId?: string;
	vpcId?: string;
	/** Exact key=value AND. */
	tags?: Record<string, string>;
	status?: EniStatus;
	type?: EniType;
};

export type AttachEniOptions = CallOptions & {
	/** Member ENI on a trunk: `TrunkNetworkInstanceId`. */
	trunkEniId?: string;
	networkCardIndex?: number;
};

export type DetachEniOptions = CallOptions & {
	trunkEniId?: string;
};

/**
 * How `waitEniStatus` polls DescribeNetworkInterfaces. Defaults come from the
 * `WaitENIStatus` backoff (3 s initial, 3 s ×1.5, 8 steps) unless overridden.
 */
export type WaitEniOptions = CallOptions & {
	/** Named backoff to poll with (see `BackoffKey`); default `WaitENIStatus`. */
	backoff?: BackoffKey;
	/** Overrides the chosen backoff's initial delay before the first poll (ms). */
	initialDelayMs?: number;
	/** Hard upper bound on the whole wait (ms); reached → `CloudApiError` code `WaitTimeout`. */
	timeoutMs?: number;
};

// ---------------------------------------------------------------------------------------
// Instance types and vSwitches
// ---------------------------------------------------------------------------------------

/** Per-instance-type limits (Terway `limit.go`, cloud-sim.md §1.6). */
export type InstanceLimits = {
	instanceType: string;
	/** `EniQuantity`, primary ENI included. */
	adapters: number;
	/** `EniTotalQuantity`. */
	totalAdapters: number;
	/** `EniPrivateIpAddressQuantity`, primary IP included. */
	ipv4PerAdapter: number;
	/** `EniIpv6AddressQuantity`. */
	ipv6PerAdapter: number;
	trunkSupported: boolean;
	/** `EniTotalQuantity − EniQuantity` when trunking is supported, else 0. */
	memberAdapterLimit: number;
	/** `EniTotalQuantity − 2` when trunking is supported, else 0. */
	maxMemberAdapterLimit: number;
	/** `EriQuantity`. */
	erdmaAdapters: number;
	/** `NetworkCards.NetworkCardInfo[].NetworkCardIndex`. */
	networkCards: number[];
	/** Kbit/s, when the cloud reports them. */
	bandwidthRx?: number;
	bandwidthTx?: number;
};

/** A vSwitch as VPC `DescribeVSwitches` reports it. */
export type VSwitch = {
	vswitchId: string;
	vpcId?: string;
	zoneId: string;
	/** IPv4 CIDR, e.g. `10.0.1.0/24`. */
	cidr: string;
	/** IPv6 CIDR when the vSwitch has one. */
	ipv6Cidr?: string;
	availableIpCount: number;
};

// ---------------------------------------------------------------------------------------
// Retry / backoff settings (implemented in retry.ts)
// ---------------------------------------------------------------------------------------

/**
 * Terway's named backoffs (`pkg/backoff/backoff.go`, terway-features.md §3.10). Injectable
 * so tests run in milliseconds.
 */
export type BackoffKey =
	| "ENICreate"
	| "ENIOps"
	| "ENIRelease"
	| "ENIIPOps"
	| "ENIDeleteConfirm"
	| "WaitENIStatus"
	| "MetaAssignPrivateIP"
	| "MetaUnassignPrivateIP"
	| "WaitStsTokenReady"
	| "WaitMemberENIStatus"
	| "Default";

/**
 * One backoff, k8s `wait.Backoff` semantics plus Terway's `ExtendedBackoff.InitialDelay`:
 * sleep `initialDelayMs` before the first attempt (0 = none); make at most `steps` attempts
 * in total; between attempt i and i+1 sleep `d = min(durationMs × factor^i, capMs)`
 * stretched by a random factor in [1, 1 + jitter] (jitter applies after the cap, as in k8s).
 */
export type BackoffSpec = {
	initialDelayMs: number;
	durationMs: number;
	factor: number;
	jitter: number;
	steps: number;
	capMs?: number;
};

/** Calls per minute per ECS/VPC action (burst = that number). Key `""` = any other action. */
export type RateLimits = Record<string, number>;

// ---------------------------------------------------------------------------------------
// The ECS/VPC capability
// ---------------------------------------------------------------------------------------

/**
 * Everything terwayd asks of ECS and VPC. Implementations pass `RegionId` on every call,
 * rate-limit per action, retry retryable failures with backoff and a stable ClientToken,
 * and throw only `CloudApiError` (or `signal.reason` when aborted).
 */
export interface EcsApi {
	/** The region every call is made in. */
	readonly regionId: string;
	/** CreateNetworkInterface; retried with `ENICreate`. IpNotEnough/Quota are thrown, never retried. */
	createEni(spec: CreateEniSpec, opts?: MutationOptions): Promise<Eni>;
	/** AttachNetworkInterface (asynchronous: follow with `waitEniStatus(id, "InUse")`). */
	attachEni(eniId: string, instanceId: string, opts?: AttachEniOptions): Promise<void>;
	/** DetachNetworkInterface; `InvalidEniId.NotFound`/`InvalidEcsId.NotFound` count as success. */
	detachEni(eniId: string, instanceId: string, opts?: DetachEniOptions): Promise<void>;
	/**
	 * DeleteNetworkInterface; `InvalidEniId.NotFound` counts as success. Does not wait: follow
	 * with `waitEniStatus(id, "absent", {backoff: "ENIDeleteConfirm"})` like Terway.
	 */
	deleteEni(eniId: string, opts?: CallOptions): Promise<void>;
	/** DescribeNetworkInterfaces, paging internally (MaxResults 500, NextToken). */
	describeEnis(filter: DescribeEnisFilter, opts?: CallOptions): Promise<Eni[]>;
	/** One ENI by id, or undefined when it does not exist. */
	describeEni(eniId: string, opts?: CallOptions): Promise<Eni | undefined>;
	/** AssignPrivateIpAddresses(count); returns the new addresses. */
	assignIpv4(eniId: string, count: number, opts?: MutationOptions): Promise<string[]>;
	/** UnassignPrivateIpAddresses; `InvalidIp.IpUnassigned`/`InvalidEniId.NotFound` count as success. */
	unassignIpv4(eniId: string, ips: string[], opts?: CallOptions): Promise<void>;
	/** AssignIpv6Addresses(count); returns the new addresses. */
	assignIpv6(eniId: string, count: number, opts?: MutationOptions): Promise<string[]>;
	/** UnassignIpv6Addresses; same "already gone = success" rule. */
	unassignIpv6(eniId: string, ips: string[], opts?: CallOptions): Promise<void>;
	/**
	 * Polls DescribeNetworkInterfaces until the ENI has `status` (returns it) or, for
	 * `"absent"`, until it is gone (returns undefined). Gives up with `CloudApiError`
	 * code `WaitTimeout` when the backoff is exhausted.
	 */
	waitEniStatus(eniId: string, status: EniWaitTarget, opts?: WaitEniOptions): Promise<Eni | undefined>;
	/** DescribeInstanceTypes for one type, cached (Terway: 15 days). */
	instanceLimits(instanceType: string, opts?: CallOptions): Promise<InstanceLimits>;
	/** VPC DescribeVSwitches; unknown ids are missing from the result (callers decide). */
	describeVSwitches(ids: string[], opts?: CallOptions): Promise<VSwitch[]>;
}

// ---------------------------------------------------------------------------------------
// The metadata capability
// ---------------------------------------------------------------------------------------

/** One attached ENI as this instance's metadata service sees it (`network/interfaces/macs/<mac>/…`). */
export type MetadataEni = {
	eniId: string;
	mac: string;
	primaryIp: string;
	/** `private-ipv4s` (JSON array), primary included. */
	ips: string[];
	/** `ipv6s` (bracketed list); empty when the service answers 404. */
	ipv6s: string[];
	gateway: string;
	/** `vswitch-cidr-block`. */
	cidr: string;
	/** Only when the vSwitch has IPv6. */
	ipv6Gateway?: string;
	ipv6Cidr?: string;
	vswitchId: string;
};

/** STS credentials of an ECS RAM role (`ram/security-credentials/<role>`). */
export type StsCredentials = {
	accessKeyId: string;
	accessKeySecret: string;
	securityToken: string;
	/** Epoch ms of `Expiration`. */
	expiration: number;
};

export type WaitIpsOptions = CallOptions & {
	/** Default 10 000 ms (Terway). */
	timeoutMs?: number;
	/** Default 1 000 ms (Terway). */
	intervalMs?: number;
};

/**
 * The ECS instance metadata service (cloud-sim.md §3). Token protocol, format parsing and
 * 5xx/429 retries are internal. Errors are `CloudApiError` with `code` `Metadata.<status>`
 * (e.g. `Metadata.404`) or `NetworkError`/`Timeout`.
 */
export interface MetadataApi {
	instanceId(opts?: CallOptions): Promise<string>;
	regionId(opts?: CallOptions): Promise<string>;
	zoneId(opts?: CallOptions): Promise<string>;
	instanceType(opts?: CallOptions): Promise<string>;
	vpcId(opts?: CallOptions): Promise<string>;
	vpcCidr(opts?: CallOptions): Promise<string>;
	/** The primary ENI's vSwitch. */
	vswitchId(opts?: CallOptions): Promise<string>;
	/** MAC of the primary ENI. */
	primaryMac(opts?: CallOptions): Promise<string>;
	/** All attached ENIs' MACs (an ENI appears only after attach, and after the metadata lag). */
	macs(opts?: CallOptions): Promise<string[]>;
	/** Everything about one attached ENI. */
	eni(mac: string, opts?: CallOptions): Promise<MetadataEni>;
	/** `private-ipv4s` of one ENI. */
	ipv4s(mac: string, opts?: CallOptions): Promise<string[]>;
	/** `ipv6s` of one ENI ([] on 404). */
	ipv6s(mac: string, opts?: CallOptions): Promise<string[]>;
	/**
	 * Polls `private-ipv4s`/`ipv6s` (chosen per address family) until every address in
	 * `ips` is present (or all absent). Times out with `CloudApiError` code `WaitTimeout`.
	 */
	waitForIps(mac: string, ips: string[], want: "present" | "absent", opts?: WaitIpsOptions): Promise<void>;
	/** Polls `network/interfaces/macs/` until `mac` is listed. */
	waitForMac(mac: string, opts?: WaitIpsOptions): Promise<void>;
	/** The RAM role attached to the instance, or undefined when none (404 / empty). */
	ramRole(opts?: CallOptions): Promise<string | undefined>;
	/** STS credentials of `role`; throws `CloudApiError` code `Metadata.CredentialsNotReady` unless Code=Success. */
	ramCredentials(role: string, opts?: CallOptions): Promise<StsCredentials>;
	/** Raw text of any path under `/latest/meta-data/` (for `terwayctl metadata`). */
	get(path: string, opts?: CallOptions): Promise<string>;
}

// ---------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------

/** ECS/VPC error codes terwayd reacts to (cloud-sim.md §1.5), plus our transport codes. */
export const CloudErrorCode = {
	Throttling: "Throttling",
	InternalError: "InternalError",
	ServiceUnavailable: "ServiceUnavailable",
	OperationConflict: "Operation.Conflict",
	IpNotEnough: "InvalidVSwitchId.IpNotEnough",
	QuotaPrivateIp: "QuotaExceeded.PrivateIpAddress",
	EniPerInstanceLimitExceeded: "EniPerInstanceLimitExceeded",
	Ipv4CountExceeded: "InvalidOperation.Ipv4CountExceeded",
	Ipv6CountExceeded: "InvalidOperation.Ipv6CountExceeded",
	EniNotFound: "InvalidEniId.NotFound",
	EcsNotFound: "InvalidEcsId.NotFound",
	VSwitchNotFound: "InvalidVSwitchId.NotFound",
	IpUnassigned: "InvalidIp.IpUnassigned",
	InvalidEniState: "InvalidOperation.InvalidEniState",
	IdempotentFailed: "IdempotentFailed",
	IdempotentParameterMismatch: "IdempotentParameterMismatch",
	ForbiddenRam: "Forbidden.RAM",
	InvalidParameter: "InvalidParameter",
	MissingParameter: "MissingParameter",
	/** Ours: connection refused/reset, DNS, TLS (Terway's "URL error"). Retryable. */
	NetworkError: "NetworkError",
	/** Ours: the SDK's connect/read timeout fired. Retryable. */
	Timeout: "Timeout",
	/** Ours: a `waitEniStatus`/`waitForIps` poll budget ran out. */
	WaitTimeout: "WaitTimeout",
	/** Ours: a response did not have the expected shape. */
	BadResponse: "BadResponse",
} as const;

/**
 * A failed cloud call. Keeps the ECS `Code` and `RequestId` (Terway `ErrorCodeIs`,
 * `ErrRequestID`) so logs and decisions never parse messages.
 */
export class CloudApiError extends Error {
	override readonly name = "CloudApiError";
	/** ECS/VPC `Code` (e.g. `InvalidVSwitchId.IpNotEnough`) or one of our transport codes. */
	readonly code: string;
	/** ECS `RequestId`, when the cloud answered. */
	readonly requestId: string | undefined;
	/** HTTP status, when there was a response (0 otherwise). Never used for decisions. */
	readonly status: number;
	/** The API action (`CreateNetworkInterface`) or metadata path. */
	readonly action: string;
	/** The ClientToken used, for idempotent mutations. */
	clientToken: string | undefined;
	/** Attempts made before giving up (set by the retry layer). */
	attempts: number;
	/** `x-acs-retry-after` in ms, when the cloud sent one with a throttling error. */
	readonly retryAfterMs: number | undefined;

	constructor(init: {
		code: string;
		message: string;
		action: string;
		requestId?: string;
		status?: number;
		clientToken?: string;
		retryAfterMs?: number;
		attempts?: number;
		cause?: unknown;
	}) {
		super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
		this.code = init.code;
		this.action = init.action;
		this.requestId = init.requestId;
		this.status = init.status ?? 0;
		this.clientToken = init.clientToken;
		this.retryAfterMs = init.retryAfterMs;
		this.attempts = init.attempts ?? 1;
	}

	toJSON(): Record<string, unknown> {
		return {
			name: this.name,
			code: this.code,
			message: this.message,
			action: this.action,
			requestId: this.requestId,
			status: this.status,
			clientToken: this.clientToken,
			attempts: this.attempts,
		};
	}
}

function codeOf(e: unknown): string | undefined {
	return e instanceof CloudApiError ? e.code : undefined;
}

/** `Throttling`, `Throttling.User`, `Throttling.Api`, … */
export function isThrottling(e: unknown): boolean {
	const c = codeOf(e);
	return c !== undefined && (c === "Throttling" || c.startsWith("Throttling."));
}

/** The vSwitch has no free address: block it and pick another. */
export function isIpNotEnough(e: unknown): boolean {
	return codeOf(e) === CloudErrorCode.IpNotEnough;
}

/** An account/VPC quota (Terway handles `QuotaExceeded.PrivateIpAddress` like IpNotEnough). */
export function isQuota(e: unknown): boolean {
	const c = codeOf(e);
	return c !== undefined && (c === "QuotaExceeded" || c.startsWith("QuotaExceeded."));
}

/** The instance cannot take another ENI (`EniPerInstanceLimitExceeded`). */
export function isEniLimit(e: unknown): boolean {
	return codeOf(e) === CloudErrorCode.EniPerInstanceLimitExceeded;
}

/** The ENI cannot take more addresses (`InvalidOperation.Ipv4CountExceeded`/`Ipv6CountExceeded`). */
export function isIpCountExceeded(e: unknown): boolean {
	const c = codeOf(e);
	return c === CloudErrorCode.Ipv4CountExceeded || c === CloudErrorCode.Ipv6CountExceeded;
}

/** A referenced resource does not exist: ENI, instance, vSwitch, security group. */
export function isNotFound(e: unknown): boolean {
	const c = codeOf(e);
	return (
		c === CloudErrorCode.EniNotFound ||
		c === CloudErrorCode.EcsNotFound ||
		c === CloudErrorCode.VSwitchNotFound ||
		c === "InvalidInstanceId.NotFound" ||
		c === "InvalidSecurityGroupId.NotFound" ||
		c === "Metadata.404"
	);
}

/** The ENI is not in a state that allows the operation (e.g. Delete while InUse). */
export function isInvalidState(e: unknown): boolean {
	return codeOf(e) === CloudErrorCode.InvalidEniState;
}

/** Concurrent mutation of the same ENI; retryable for Assign/Unassign only. */
export function isConflict(e: unknown): boolean {
	return codeOf(e) === CloudErrorCode.OperationConflict;
}

/** `IdempotentFailed`: the ClientToken must not be reused. */
export function isIdempotentFailed(e: unknown): boolean {
	return codeOf(e) === CloudErrorCode.IdempotentFailed;
}

/** `Forbidden.*` (RAM permission): stops retries. */
export function isForbidden(e: unknown): boolean {
	const c = codeOf(e);
	return c !== undefined && (c === "Forbidden" || c.startsWith("Forbidden."));
}

/** A poll budget (`waitEniStatus`, `waitForIps`) ran out. */
export function isWaitTimeout(e: unknown): boolean {
	return codeOf(e) === CloudErrorCode.WaitTimeout;
}

/**
 * Worth retrying for any API: throttling, `InternalError`, `ServiceUnavailable`, transport
 * errors and timeouts (Terway's "URL error"), metadata 429/5xx. `Operation.Conflict` is
 * retryable only for Assign/Unassign, which the retry layer decides per action. Never:
 * IpNotEnough, quota, ENI limit, InvalidParameter, NotFound, Forbidden.
 */
export function isRetryable(e: unknown): boolean {
	const c = codeOf(e);
	if (c === undefined) return false;
	if (isThrottling(e)) return true;
	if (
		c === CloudErrorCode.InternalError ||
		c.startsWith("InternalError.") ||
		c === CloudErrorCode.ServiceUnavailable ||
		c.startsWith("ServiceUnavailable.") ||
		c === CloudErrorCode.NetworkError ||
		c === CloudErrorCode.Timeout
	) {
		return true;
	}
	// Metadata service: 429 and 5xx (cloud-sim.md §3.1).
	const m = /^Metadata\.(\d{3})$/.exec(c);
	if (m) {
		const s = Number(m[1]);
		return s === 429 || s >= 500;
	}
	return false;
}
