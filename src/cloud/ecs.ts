/**
 * @module cloud/ecs
 *
 * `EcsApi` over the official SDKs (`@alicloud/ecs20140526`, `@alicloud/vpc20160428`).
 *
 * What the SDK does not do and this module does (cloud-sim.md §0.3, §2.3):
 * - passes `RegionId` on every call (the SDK does not add it);
 * - sets BOTH `readTimeout` and `connectTimeout` (default 20 s like Terway; the SDK's 3 s
 *   otherwise wins);
 * - rate-limits per action, retries by error Code with Terway's named backoffs, and reuses
 *   one ClientToken for every retry of a logical mutation (retry.ts);
 * - turns every failure into `CloudApiError` with the ECS `Code` and `RequestId`;
 * - maps responses to the plain types of types.ts (no SDK model escapes);
 * - rebuilds its SDK clients when the credential triple changes (STS refresh).
 *
 * Which backoff each call uses (Terway legacy factory, terway-features.md §3.10–3.11):
 * Create `ENICreate`; Attach `ENIOps`; Detach/Delete `ENIRelease`; Assign* `ENIOps`;
 * Unassign* `ENIIPOps`; describes `Default`; `waitEniStatus` `WaitENIStatus` unless told.
 *
 * Must not: sleep Terway's fixed delays (the daemon owns the sequence and its timing), or
 * retry what the Code says is final (IpNotEnough, quotas, ENI limit, InvalidParameter, …).
 */
import EcsMod, * as $Ecs from "@alicloud/ecs20140526";
import * as $OpenApi from "@alicloud/openapi-core";
import VpcMod, * as $Vpc from "@alicloud/vpc20160428";
import type { CredentialProvider, Credentials } from "./credentials.ts";
import { type Endpoints, type Env, resolveEndpoints } from "./endpoints.ts";
import {
	type BackoffOverrides,
	backoffDelay,
	IdempotencyTokens,
	RateLimiter,
	raceAbort,
	realTimer,
	resolveBackoffs,
	retry,
	shouldRetry,
	type Timer,
	throwIfAborted,
} from "./retry.ts";
import {
	type AttachEniOptions,
	type BackoffKey,
	type BackoffSpec,
	type CallOptions,
	CloudApiError,
	CloudErrorCode,
	type CreateEniSpec,
	type DescribeEnisFilter,
	type DetachEniOptions,
	type EcsApi,
	type Eni,
	type EniStatus,
	type EniType,
	type EniWaitTarget,
	type InstanceLimits,
	isNotFound,
	isRetryable,
	type MutationOptions,
	type RateLimits,
	type VSwitch,
	type WaitEniOptions,
} from "./types.ts";

// Under Bun a default import of these CJS packages yields the class or its module: take either.
const EcsSdk = (EcsMod as unknown as { default?: typeof EcsMod }).default ?? EcsMod;
const VpcSdk = (VpcMod as unknown as { default?: typeof VpcMod }).default ?? VpcMod;
type EcsSdkClient = InstanceType<typeof EcsSdk>;
type VpcSdkClient = InstanceType<typeof VpcSdk>;

/** Terway caches DescribeInstanceTypes for 15 days. */
export const INSTANCE_TYPE_CACHE_MS = 15 * 24 * 3600_000;
/** DescribeNetworkInterfaces page size (Terway). */
export const DESCRIBE_PAGE = 500;
/** ECS takes at most 100 NetworkInterfaceId values per DescribeNetworkInterfaces. */
const IDS_PER_DESCRIBE = 100;

/** One SDK call as seen by `onCall` (logging, metrics). */
export type CloudCallEvent = {
	action: string;
	attempt: number;
	durationMs: number;
	/** The ms this attempt waited for its rate-limit token. */
	rateLimitWaitMs: number;
	requestId?: string;
	clientToken?: string;
	error?: CloudApiError;
};

export type EcsClientOptions = {
	regionId: string;
	credentials: CredentialProvider;
	/** Default `resolveEndpoints(regionId, env)` (ECS_ENDPOINT, VPC_ENDPOINT, ALICLOUD_CLIENT_SCHEME…). */
	endpoints?: Endpoints;
	env?: Env;
	/** Both SDK timeouts, connect and read (default 20 000 ms like Terway). */
	timeoutMs?: number;
	/** Calls per minute per action over Terway's defaults (`rate_limit`). */
	rateLimits?: Partial<RateLimits>;
	/** Per-key overrides of Terway's backoffs (`backoff_override`); tests pass tiny ones. */
	backoffs?: BackoffOverrides;
	/** ClientToken cache (default: one per client, size from `IDEMPOTENT_KEY_CACHE_SIZE`). */
	tokens?: IdempotencyTokens;
	timer?: Timer;
	random?: () => number;
	userAgent?: string;
	instanceTypeCacheMs?: number;
	onCall?: (e: CloudCallEvent) => void;
};

/** Turns whatever the SDK (or the network) threw into a `CloudApiError`. */
export function toCloudApiError(action: string, e: unknown, clientToken?: string): CloudApiError {
	if (e instanceof CloudApiError) {
		if (clientToken && !e.clientToken) e.clientToken = clientToken;
		return e;
	}
	const x = (e ?? {}) as {
		name?: unknown;
		code?: unknown;
		statusCode?: unknown;
		requestId?: unknown;
		retryAfter?: unknown;
		data?: unknown;
		message?: unknown;
		syscall?: unknown;
	};
	const msg = typeof x.message === "string" ? x.message : String(e);
	const base = { action, ...(clientToken ? { clientToken } : {}), cause: e };
	if (typeof x.statusCode === "number" && typeof x.code === "string" && x.code !== "") {
		const data = (x.data ?? {}) as Record<string, unknown>;
		const requestId =
			typeof x.requestId === "string" && x.requestId
				? x.requestId
				: typeof data.RequestId === "string"
					? data.RequestId
					: undefined;
		const message = typeof data.Message === "string" ? data.Message : msg;
		return new CloudApiError({
			...base,
			code: x.code,
			status: x.statusCode,
			message: `${action}: ${x.code}: ${message}${requestId ? ` (RequestId ${requestId})` : ""}`,
			...(requestId ? { requestId } : {}),
			...(typeof x.retryAfter === "number" && x.retryAfter > 0 ? { retryAfterMs: x.retryAfter * 1000 } : {}),
		});
	}
	const name = typeof x.name === "string" ? x.name : "";
	if (/timeout/i.test(name) || /^(ReadTimeout|ConnectTimeout)\(/.test(msg) || x.code === "ETIMEDOUT")
		return new CloudApiError({ ...base, code: CloudErrorCode.Timeout, message: `${action}: ${msg}` });
	if ((typeof x.code === "string" && /^E[A-Z]+$/.test(x.code)) || typeof x.syscall === "string")
		return new CloudApiError({ ...base, code: CloudErrorCode.NetworkError, message: `${action}: ${msg}` });
	return new CloudApiError({ ...base, code: "SdkError", message: `${action}: ${msg}` });
}

// ---------------------------------------------------------------------------------------
// Response mapping (SDK models are read structurally; nothing of them escapes)
// ---------------------------------------------------------------------------------------

type SdkEni = {
	networkInterfaceId?: string;
	status?: string;
	type?: string;
	macAddress?: string;
	instanceId?: string;
	vSwitchId?: string;
	vpcId?: string;
	zoneId?: string;
	privateIpAddress?: string;
	privateIpSets?: { privateIpSet?: { privateIpAddress?: string; primary?: boolean }[] };
	ipv6Sets?: { ipv6Set?: { ipv6Address?: string }[] };
	ipv4PrefixSets?: { ipv4PrefixSet?: { ipv4Prefix?: string }[] };
	ipv6PrefixSets?: { ipv6PrefixSet?: { ipv6Prefix?: string }[] };
	securityGroupIds?: { securityGroupId?: string[] };
	tags?: { tag?: { tagKey?: string; tagValue?: string }[] };
	attachment?: {
		instanceId?: string;
		deviceIndex?: number;
		networkCardIndex?: number;
		trunkNetworkInterfaceId?: string;
	};
	networkInterfaceTrafficMode?: string;
	resourceGroupId?: string;
	description?: string;
	creationTime?: string;
};

const nonEmpty = (xs: (string | undefined)[] | undefined): string[] =>
	(xs ?? []).filter((x): x is string => typeof x === "string" && x !== "");

/** An SDK ENI (Create or Describe item) as a plain `Eni`. */
export function toEni(x: SdkEni): Eni {
	const primary =
		x.privateIpAddress || x.privateIpSets?.privateIpSet?.find((p) => p.primary)?.privateIpAddress || "";
	const others = nonEmpty(x.privateIpSets?.privateIpSet?.map((p) => p.privateIpAddress)).filter(
		(ip) => ip !== primary,
	);
	const tags: Record<string, string> = {};
	for (const t of x.tags?.tag ?? []) if (t.tagKey) tags[t.tagKey] = t.tagValue ?? "";
	const instanceId = x.instanceId || x.attachment?.instanceId || undefined;
	const eni: Eni = {
		eniId: x.networkInterfaceId ?? "",
		status: (x.status ?? "") as EniStatus,
		type: (x.type || "Secondary") as EniType,
		mac: (x.macAddress ?? "").toLowerCase(),
		vswitchId: x.vSwitchId ?? "",
		zoneId: x.zoneId ?? "",
		primaryIp: primary,
		ipv4s: primary ? [primary, ...others] : others,
		ipv6s: nonEmpty(x.ipv6Sets?.ipv6Set?.map((s) => s.ipv6Address)),
		ipv4Prefixes: nonEmpty(x.ipv4PrefixSets?.ipv4PrefixSet?.map((s) => s.ipv4Prefix)),
		ipv6Prefixes: nonEmpty(x.ipv6PrefixSets?.ipv6PrefixSet?.map((s) => s.ipv6Prefix)),
		securityGroupIds: nonEmpty(x.securityGroupIds?.securityGroupId),
		tags,
	};
	if (instanceId) eni.instanceId = instanceId;
	if (x.vpcId) eni.vpcId = x.vpcId;
	if (x.attachment?.deviceIndex !== undefined) eni.deviceIndex = x.attachment.deviceIndex;
	if (x.attachment?.networkCardIndex !== undefined) eni.networkCardIndex = x.attachment.networkCardIndex;
	if (x.attachment?.trunkNetworkInterfaceId) eni.trunkEniId = x.attachment.trunkNetworkInterfaceId;
	if (x.networkInterfaceTrafficMode) eni.trafficMode = x.networkInterfaceTrafficMode;
	if (x.resourceGroupId) eni.resourceGroupId = x.resourceGroupId;
	if (x.description) eni.description = x.description;
	if (x.creationTime) eni.creationTime = x.creationTime;
	return eni;
}

type SdkInstanceType = {
	instanceTypeId?: string;
	eniQuantity?: number;
	eniTotalQuantity?: number;
	eniPrivateIpAddressQuantity?: number;
	eniIpv6AddressQuantity?: number;
	eniTrunkSupported?: boolean;
	eriQuantity?: number;
	instanceBandwidthRx?: number;
	instanceBandwidthTx?: number;
	networkCards?: { networkCardInfo?: { networkCardIndex?: number }[] };
};

/** DescribeInstanceTypes item → `InstanceLimits` (Terway `limit.go`). */
export function toInstanceLimits(x: SdkInstanceType): InstanceLimits {
	const adapters = x.eniQuantity ?? 0;
	const total = x.eniTotalQuantity ?? adapters;
	const trunk = x.eniTrunkSupported === true;
	const out: InstanceLimits = {
		instanceType: x.instanceTypeId ?? "",
		adapters,
		totalAdapters: total,
		ipv4PerAdapter: x.eniPrivateIpAddressQuantity ?? 0,
		ipv6PerAdapter: x.eniIpv6AddressQuantity ?? 0,
		trunkSupported: trunk,
		memberAdapterLimit: trunk ? Math.max(0, total - adapters) : 0,
		maxMemberAdapterLimit: trunk ? Math.max(0, total - 2) : 0,
		erdmaAdapters: x.eriQuantity ?? 0,
		networkCards: (x.networkCards?.networkCardInfo ?? [])
			.map((n) => n.networkCardIndex)
			.filter((n): n is number => typeof n === "number"),
	};
	if (x.instanceBandwidthRx !== undefined) out.bandwidthRx = x.instanceBandwidthRx;
	if (x.instanceBandwidthTx !== undefined) out.bandwidthTx = x.instanceBandwidthTx;
	return out;
}

// ---------------------------------------------------------------------------------------
// The client
// ---------------------------------------------------------------------------------------

type Sdk = { ecs: EcsSdkClient; vpc: VpcSdkClient; creds: Credentials };

type SdkResult = { body?: unknown };

type CallSpec = {
	action: string;
	backoff: BackoffKey;
	run: (sdk: Sdk) => Promise<SdkResult>;
	signal?: AbortSignal | undefined;
	clientToken?: string;
	/** Codes that count as success for this call (e.g. NotFound on Delete). */
	successIf?: (e: CloudApiError) => boolean;
	/** Make a single attempt (used inside polls, which have their own budget). */
	once?: boolean;
};

/** `EcsApi` over the official SDKs. */
export class AliyunEcs implements EcsApi {
	readonly regionId: string;
	readonly endpoints: Endpoints;
	readonly limiter: RateLimiter;
	readonly backoffs: Record<BackoffKey, BackoffSpec>;
	readonly tokens: IdempotencyTokens;
	readonly #creds: CredentialProvider;
	readonly #timeoutMs: number;
	readonly #timer: Timer;
	readonly #random: () => number;
	readonly #userAgent: string;
	readonly #onCall: ((e: CloudCallEvent) => void) | undefined;
	readonly #typeCacheMs: number;
	readonly #types = new Map<string, { at: number; limits: Promise<InstanceLimits> }>();
	#sdk: Sdk | undefined;

	constructor(opts: EcsClientOptions) {
		if (!opts.regionId) throw new RangeError("AliyunEcs: regionId is required (the SDK does not add it)");
		this.regionId = opts.regionId;
		this.endpoints = opts.endpoints ?? resolveEndpoints(opts.regionId, opts.env ?? process.env);
		this.#creds = opts.credentials;
		this.#timeoutMs = opts.timeoutMs ?? 20_000;
		this.#timer = opts.timer ?? realTimer;
		this.#random = opts.random ?? Math.random;
		this.limiter = new RateLimiter(opts.rateLimits ?? {}, this.#timer);
		this.backoffs = resolveBackoffs(opts.backoffs ?? {});
		this.tokens = opts.tokens ?? new IdempotencyTokens();
		this.#userAgent = opts.userAgent ?? "terwayctl";
		this.#onCall = opts.onCall;
		this.#typeCacheMs = opts.instanceTypeCacheMs ?? INSTANCE_TYPE_CACHE_MS;
	}

	/** SDK clients for the current credentials; rebuilt when the triple changes (STS refresh). */
	async #clients(signal?: AbortSignal): Promise<Sdk> {
		const creds = await this.#creds.get(signal ? { signal } : {});
		const cur = this.#sdk;
		if (
			cur &&
			cur.creds.accessKeyId === creds.accessKeyId &&
			cur.creds.accessKeySecret === creds.accessKeySecret &&
			cur.creds.securityToken === creds.securityToken
		)
			return cur;
		const config = (endpoint: string) =>
			new $OpenApi.$OpenApiUtil.Config({
				accessKeyId: creds.accessKeyId,
				accessKeySecret: creds.accessKeySecret,
				...(creds.securityToken ? { securityToken: creds.securityToken } : {}),
				endpoint,
				protocol: this.endpoints.protocol,
				regionId: this.regionId,
				// Both, or the SDK's 3 s connect (socket idle) timeout still applies (cloud-sim.md §2.3).
				readTimeout: this.#timeoutMs,
				connectTimeout: this.#timeoutMs,
				userAgent: this.#userAgent,
			});
		const sdk: Sdk = {
			ecs: new EcsSdk(config(this.endpoints.ecs)),
			vpc: new VpcSdk(config(this.endpoints.vpc)),
			creds,
		};
		this.#sdk = sdk;
		return sdk;
	}

	/** One logical call: rate limit → SDK → error mapping, retried per Code and backoff. */
	async #call(spec: CallSpec): Promise<SdkResult> {
		const { action, signal } = spec;
		const backoff = spec.once
			? { ...this.backoffs[spec.backoff], initialDelayMs: 0, steps: 1 }
			: this.backoffs[spec.backoff];
		return retry(
			async (attempt) => {
				const waited = await this.limiter.wait(action, signal);
				const started = performance.now();
				try {
					const sdk = await this.#clients(signal);
					const res = await raceAbort(spec.run(sdk), signal);
					const body = (res.body ?? {}) as { requestId?: string };
					this.#onCall?.({
						action,
						attempt,
						durationMs: performance.now() - started,
						rateLimitWaitMs: waited,
						...(body.requestId ? { requestId: body.requestId } : {}),
						...(spec.clientToken ? { clientToken: spec.clientToken } : {}),
					});
					return res;
				} catch (e) {
					throwIfAborted(signal);
					const err = toCloudApiError(action, e, spec.clientToken);
					this.#onCall?.({
						action,
						attempt,
						durationMs: performance.now() - started,
						rateLimitWaitMs: waited,
						error: err,
						...(err.requestId ? { requestId: err.requestId } : {}),
						...(spec.clientToken ? { clientToken: spec.clientToken } : {}),
					});
					if (spec.successIf?.(err)) return {};
					throw err;
				}
			},
			{
				backoff,
				retryable: (e) => shouldRetry(action, e),
				timer: this.#timer,
				random: this.#random,
				...(signal ? { signal } : {}),
			},
		);
	}

	/**
	 * An idempotent mutation: one ClientToken for all retries (the caller's, else one from
	 * the token cache for these arguments); on final failure the cached token is given back so
	 * a later identical call reuses it (Terway token.go).
	 */
	async #mutation(
		action: string,
		args: unknown,
		opts: MutationOptions,
		body: (token: string) => Omit<CallSpec, "action" | "clientToken" | "signal">,
	): Promise<SdkResult> {
		const own = opts.clientToken;
		if (own !== undefined && (own === "" || own.length > 64 || !/^[\x20-\x7e]+$/.test(own)))
			throw new RangeError(`${action}: clientToken must be 1..64 printable ASCII characters`);
		const hash = IdempotencyTokens.hash(action, args);
		const token = own ?? this.tokens.take(hash);
		try {
			return await this.#call({ ...body(token), action, clientToken: token, signal: opts.signal });
		} catch (e) {
			if (own === undefined) this.tokens.giveBack(hash, token, e);
			throw e;
		}
	}

	async createEni(spec: CreateEniSpec, opts: MutationOptions = {}): Promise<Eni> {
		const secondary = Math.max(0, (spec.ipv4Count ?? 1) - 1);
		const tags = Object.entries(spec.tags ?? {}).map(([key, value]) => ({ key, value }));
		const args = {
			regionId: this.regionId,
			vSwitchId: spec.vswitchId,
			securityGroupIds: spec.securityGroupIds,
			instanceType: spec.type ?? "Secondary",
			description: spec.description ?? "interface create by terway",
			deleteOnRelease: spec.deleteOnRelease ?? true,
			sourceDestCheck: spec.sourceDestCheck ?? false,
			...(secondary > 0 ? { secondaryPrivateIpAddressCount: secondary } : {}),
			...(spec.ipv6Count > 0 ? { ipv6AddressCount: spec.ipv6Count } : {}),
			...(spec.ipv4PrefixCount ? { ipv4PrefixCount: spec.ipv4PrefixCount } : {}),
			...(spec.ipv6PrefixCount ? { ipv6PrefixCount: spec.ipv6PrefixCount } : {}),
			...(spec.resourceGroupId ? { resourceGroupId: spec.resourceGroupId } : {}),
			...(spec.trafficMode ? { networkInterfaceTrafficMode: spec.trafficMode } : {}),
			...(tags.length ? { tag: tags } : {}),
		};
		const action = "CreateNetworkInterface";
		const res = await this.#mutation(action, args, opts, (clientToken) => ({
			backoff: "ENICreate",
			run: (sdk) =>
				sdk.ecs.createNetworkInterface(new $Ecs.CreateNetworkInterfaceRequest({ ...args, clientToken })),
		}));
		const body = res.body as SdkEni | undefined;
		if (!body?.networkInterfaceId)
			throw new CloudApiError({
				code: CloudErrorCode.BadResponse,
				action,
				message: `${action}: the response has no NetworkInterfaceId`,
			});
		return toEni(body);
	}

	async attachEni(eniId: string, instanceId: string, opts: AttachEniOptions = {}): Promise<void> {
		await this.#call({
			action: "AttachNetworkInterface",
			backoff: "ENIOps",
			signal: opts.signal,
			run: (sdk) =>
				sdk.ecs.attachNetworkInterface(
					new $Ecs.AttachNetworkInterfaceRequest({
						regionId: this.regionId,
						networkInterfaceId: eniId,
						instanceId,
						...(opts.trunkEniId ? { trunkNetworkInstanceId: opts.trunkEniId } : {}),
						...(opts.networkCardIndex !== undefined ? { networkCardIndex: opts.networkCardIndex } : {}),
					}),
				),
		});
	}

	async detachEni(eniId: string, instanceId: string, opts: DetachEniOptions = {}): Promise<void> {
		await this.#call({
			action: "DetachNetworkInterface",
			backoff: "ENIRelease",
			signal: opts.signal,
			successIf: (e) => e.code === CloudErrorCode.EniNotFound || e.code === CloudErrorCode.EcsNotFound,
			run: (sdk) =>
				sdk.ecs.detachNetworkInterface(
					new $Ecs.DetachNetworkInterfaceRequest({
						regionId: this.regionId,
						networkInterfaceId: eniId,
						instanceId,
						...(opts.trunkEniId ? { trunkNetworkInstanceId: opts.trunkEniId } : {}),
					}),
				),
		});
	}

	async deleteEni(eniId: string, opts: CallOptions = {}): Promise<void> {
		await this.#call({
			action: "DeleteNetworkInterface",
			backoff: "ENIRelease",
			signal: opts.signal,
			successIf: (e) => e.code === CloudErrorCode.EniNotFound,
			run: (sdk) =>
				sdk.ecs.deleteNetworkInterface(
					new $Ecs.DeleteNetworkInterfaceRequest({ regionId: this.regionId, networkInterfaceId: eniId }),
				),
		});
	}

	async #describe(filter: DescribeEnisFilter, opts: CallOptions, once: boolean): Promise<Eni[]> {
		const ids = filter.ids;
		if (ids !== undefined && ids.length === 0) return [];
		const chunks: (string[] | undefined)[] = [];
		if (ids)
			for (let i = 0; i < ids.length; i += IDS_PER_DESCRIBE) chunks.push(ids.slice(i, i + IDS_PER_DESCRIBE));
		else chunks.push(undefined);
		const tags = Object.entries(filter.tags ?? {}).map(([key, value]) => ({ key, value }));
		const out: Eni[] = [];
		for (const chunk of chunks) {
			let nextToken: string | undefined;
			for (;;) {
				const res = await this.#call({
					action: "DescribeNetworkInterfaces",
					backoff: "Default",
					signal: opts.signal,
					once,
					run: (sdk) =>
						sdk.ecs.describeNetworkInterfaces(
							new $Ecs.DescribeNetworkInterfacesRequest({
								regionId: this.regionId,
								maxResults: DESCRIBE_PAGE,
								...(chunk ? { networkInterfaceId: chunk } : {}),
								...(filter.instanceId ? { instanceId: filter.instanceId } : {}),
								...(filter.vpcId ? { vpcId: filter.vpcId } : {}),
								...(filter.status ? { status: filter.status } : {}),
								...(filter.type ? { type: filter.type } : {}),
								...(tags.length ? { tag: tags } : {}),
								...(nextToken ? { nextToken } : {}),
							}),
						),
				});
				const body = res.body as
					| { networkInterfaceSets?: { networkInterfaceSet?: SdkEni[] }; nextToken?: string }
					| undefined;
				const page = body?.networkInterfaceSets?.networkInterfaceSet ?? [];
				for (const x of page) out.push(toEni(x));
				nextToken = body?.nextToken || undefined;
				// Terway stops on a short page or an empty NextToken.
				if (page.length < DESCRIBE_PAGE || !nextToken) break;
			}
		}
		return out;
	}

	describeEnis(filter: DescribeEnisFilter, opts: CallOptions = {}): Promise<Eni[]> {
		return this.#describe(filter, opts, false);
	}

	async describeEni(eniId: string, opts: CallOptions = {}): Promise<Eni | undefined> {
		return (await this.#describe({ ids: [eniId] }, opts, false)).find((e) => e.eniId === eniId);
	}

	async assignIpv4(eniId: string, count: number, opts: MutationOptions = {}): Promise<string[]> {
		if (!Number.isInteger(count) || count < 1)
			throw new RangeError(`assignIpv4: count ${count} must be >= 1`);
		const args = {
			regionId: this.regionId,
			networkInterfaceId: eniId,
			secondaryPrivateIpAddressCount: count,
		};
		const res = await this.#mutation("AssignPrivateIpAddresses", args, opts, (clientToken) => ({
			backoff: "ENIOps",
			run: (sdk) =>
				sdk.ecs.assignPrivateIpAddresses(new $Ecs.AssignPrivateIpAddressesRequest({ ...args, clientToken })),
		}));
		const body = res.body as
			| { assignedPrivateIpAddressesSet?: { privateIpSet?: { privateIpAddress?: string[] } } }
			| undefined;
		return nonEmpty(body?.assignedPrivateIpAddressesSet?.privateIpSet?.privateIpAddress);
	}

	async assignIpv6(eniId: string, count: number, opts: MutationOptions = {}): Promise<string[]> {
		if (!Number.isInteger(count) || count < 1)
			throw new RangeError(`assignIpv6: count ${count} must be >= 1`);
		const args = { regionId: this.regionId, networkInterfaceId: eniId, ipv6AddressCount: count };
		const res = await this.#mutation("AssignIpv6Addresses", args, opts, (clientToken) => ({
			backoff: "ENIOps",
			run: (sdk) =>
				sdk.ecs.assignIpv6Addresses(new $Ecs.AssignIpv6AddressesRequest({ ...args, clientToken })),
		}));
		const body = res.body as { ipv6Sets?: { ipv6Address?: string[] } } | undefined;
		return nonEmpty(body?.ipv6Sets?.ipv6Address);
	}

	async unassignIpv4(eniId: string, ips: string[], opts: CallOptions = {}): Promise<void> {
		if (ips.length === 0) return;
		await this.#call({
			action: "UnassignPrivateIpAddresses",
			backoff: "ENIIPOps",
			signal: opts.signal,
			successIf: (e) => e.code === CloudErrorCode.IpUnassigned || e.code === CloudErrorCode.EniNotFound,
			run: (sdk) =>
				sdk.ecs.unassignPrivateIpAddresses(
					new $Ecs.UnassignPrivateIpAddressesRequest({
						regionId: this.regionId,
						networkInterfaceId: eniId,
						privateIpAddress: ips,
					}),
				),
		});
	}

	async unassignIpv6(eniId: string, ips: string[], opts: CallOptions = {}): Promise<void> {
		if (ips.length === 0) return;
		await this.#call({
			action: "UnassignIpv6Addresses",
			backoff: "ENIIPOps",
			signal: opts.signal,
			successIf: (e) => e.code === CloudErrorCode.IpUnassigned || e.code === CloudErrorCode.EniNotFound,
			run: (sdk) =>
				sdk.ecs.unassignIpv6Addresses(
					new $Ecs.UnassignIpv6AddressesRequest({
						regionId: this.regionId,
						networkInterfaceId: eniId,
						ipv6Address: ips,
					}),
				),
		});
	}

	async waitEniStatus(
		eniId: string,
		status: EniWaitTarget,
		opts: WaitEniOptions = {},
	): Promise<Eni | undefined> {
		const b: BackoffSpec = { ...this.backoffs[opts.backoff ?? "WaitENIStatus"] };
		if (opts.initialDelayMs !== undefined) b.initialDelayMs = opts.initialDelayMs;
		const { signal } = opts;
		const started = this.#timer.now();
		const deadline = opts.timeoutMs === undefined ? Number.POSITIVE_INFINITY : started + opts.timeoutMs;
		const action = `waitEniStatus(${status})`;
		if (b.initialDelayMs > 0) await this.#timer.sleep(Math.min(b.initialDelayMs, deadline - started), signal);
		let last = "not polled yet";
		for (let i = 0; ; i++) {
			throwIfAborted(signal);
			try {
				const eni = (await this.#describe({ ids: [eniId] }, signal ? { signal } : {}, true)).find(
					(e) => e.eniId === eniId,
				);
				if (status === "absent" ? eni === undefined : eni?.status === status) return eni;
				last = eni ? `status ${eni.status}` : "absent";
			} catch (e) {
				throwIfAborted(signal);
				if (!isRetryable(e)) throw e;
				last = e instanceof Error ? e.message : String(e);
			}
			const now = this.#timer.now();
			if (i + 1 >= b.steps || now >= deadline)
				throw new CloudApiError({
					code: CloudErrorCode.WaitTimeout,
					action,
					attempts: i + 1,
					message: `${eniId}: not ${status} after ${i + 1} polls in ${Math.round(now - started)} ms (last: ${last})`,
				});
			await this.#timer.sleep(Math.min(backoffDelay(b, i, this.#random), deadline - now), signal);
		}
	}

	instanceLimits(instanceType: string, opts: CallOptions = {}): Promise<InstanceLimits> {
		const hit = this.#types.get(instanceType);
		if (hit && this.#timer.now() - hit.at < this.#typeCacheMs) return raceAbort(hit.limits, opts.signal);
		const action = "DescribeInstanceTypes";
		const limits = this.#call({
			action,
			backoff: "Default",
			run: (sdk) =>
				sdk.ecs.describeInstanceTypes(
					new $Ecs.DescribeInstanceTypesRequest({
						regionId: this.regionId,
						instanceTypes: [instanceType],
						maxResults: 100,
					}),
				),
		}).then((res) => {
			const body = res.body as { instanceTypes?: { instanceType?: SdkInstanceType[] } } | undefined;
			const item = body?.instanceTypes?.instanceType?.find((t) => t.instanceTypeId === instanceType);
			if (!item)
				throw new CloudApiError({
					code: "InvalidInstanceType.NotFound",
					action,
					message: `${action}: instance type ${JSON.stringify(instanceType)} is not in the answer`,
				});
			return toInstanceLimits(item);
		});
		const entry = { at: this.#timer.now(), limits };
		this.#types.set(instanceType, entry);
		// A failure is not cached.
		limits.catch(() => {
			if (this.#types.get(instanceType) === entry) this.#types.delete(instanceType);
		});
		return raceAbort(limits, opts.signal);
	}

	/** Seeds the instance-type cache (e.g. from the node annotation `alibabacloud.com/instance-type-info`). */
	primeInstanceLimits(limits: InstanceLimits): void {
		this.#types.set(limits.instanceType, { at: this.#timer.now(), limits: Promise.resolve(limits) });
	}

	async describeVSwitches(ids: string[], opts: CallOptions = {}): Promise<VSwitch[]> {
		const found = await Promise.all(
			[...new Set(ids)].map(async (id) => {
				try {
					const res = await this.#call({
						action: "DescribeVSwitches",
						backoff: "Default",
						signal: opts.signal,
						run: (sdk) =>
							sdk.vpc.describeVSwitches(
								new $Vpc.DescribeVSwitchesRequest({ regionId: this.regionId, vSwitchId: id }),
							),
					});
					const body = res.body as
						| {
								vSwitches?: {
									vSwitch?: {
										vSwitchId?: string;
										vpcId?: string;
										zoneId?: string;
										cidrBlock?: string;
										ipv6CidrBlock?: string;
										availableIpAddressCount?: number;
									}[];
								};
						  }
						| undefined;
					return (body?.vSwitches?.vSwitch ?? [])
						.filter((v) => v.vSwitchId === id)
						.map((v) => {
							const out: VSwitch = {
								vswitchId: id,
								zoneId: v.zoneId ?? "",
								cidr: v.cidrBlock ?? "",
								availableIpCount: v.availableIpAddressCount ?? 0,
							};
							if (v.vpcId) out.vpcId = v.vpcId;
							if (v.ipv6CidrBlock) out.ipv6Cidr = v.ipv6CidrBlock;
							return out;
						});
				} catch (e) {
					if (isNotFound(e)) return [];
					throw e;
				}
			}),
		);
		return found.flat();
	}
}
