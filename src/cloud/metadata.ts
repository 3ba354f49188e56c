/**
 * @module cloud/metadata
 *
 * `MetadataApi` over the ECS instance metadata service (Go Terway
 * `pkg/aliyun/metadata/metadata.go`, cloud-sim.md §3), with Bun's own `fetch`.
 *
 * - **Base URL**: env `TERWAY_METADATA_URL` (default `http://100.100.100.200`), see
 *   endpoints.ts. Reads go to `<base>/latest/meta-data/<path>`.
 * - **Token protocol**: `PUT <base>/latest/api/token` with
 *   `X-aliyun-ecs-metadata-token-ttl-seconds: 21600`; the token is sent as
 *   `X-aliyun-ecs-metadata-token` and cached for half its TTL (Terway). On a 401 the cached
 *   token is dropped, a new one fetched and the read retried once.
 * - **Retries**: transport errors, timeouts, 429 and 5xx, with 500 ms ×1.2, 4 attempts
 *   (Terway); any other 4xx is final. 30 s per request (Terway's HTTP timeout).
 * - **Formats**: values are the first line with `/` trimmed; listings split on newlines;
 *   `private-ipv4s` is a JSON array; `ipv6s` is `[a,b]` (bracketed, not JSON) and a 404
 *   means "none".
 * - **`X-Sim-Instance-Id`**: sent only when env `TERWAY_SIM_INSTANCE_ID` is set (or the
 *   `simInstanceId` option is given). It exists for the offline cloud's *shared* loopback
 *   listener (`terwayctl sim`, src/sim/metadata README "Telling instances apart"), where one
 *   127.0.0.1 port serves every simulated node and the header says which node is asking. The
 *   real service, and the sim in netns mode, tell instances apart by source address and never
 *   see it.
 *
 * Must not: use node:http, cache values other than the token (metadata changes under us as
 * ENIs are attached), or throw anything but `CloudApiError` (or `signal.reason`).
 */
import { type Env, metadataBaseUrl } from "./endpoints.ts";
import { backoffDelay, raceAbort, realTimer, type Timer, throwIfAborted } from "./retry.ts";
import {
	type BackoffSpec,
	type CallOptions,
	CloudApiError,
	CloudErrorCode,
	isRetryable,
	type MetadataApi,
	type MetadataEni,
	type StsCredentials,
	type WaitIpsOptions,
} from "./types.ts";

export const METADATA_TOKEN_HEADER = "X-aliyun-ecs-metadata-token";
export const METADATA_TOKEN_TTL_HEADER = "X-aliyun-ecs-metadata-token-ttl-seconds";
/** The offline cloud's instance header (shared loopback listener only; see the module header). */
export const SIM_INSTANCE_HEADER = "X-Sim-Instance-Id";

/** Terway's metadata retry policy: 500 ms ×1.2, 4 attempts. */
export const METADATA_RETRY: Readonly<BackoffSpec> = Object.freeze({
	initialDelayMs: 0,
	durationMs: 500,
	factor: 1.2,
	jitter: 0,
	steps: 4,
});

export type MetadataClientOptions = {
	/** Origin (+ optional prefix) of the service; default from `TERWAY_METADATA_URL`. */
	baseUrl?: string;
	/** Where env settings are read from (default `process.env`). */
	env?: Env;
	/** `X-Sim-Instance-Id` value; default env `TERWAY_SIM_INSTANCE_ID`; unset → header not sent. */
	simInstanceId?: string;
	/** Requested token TTL (default 21600 s, Terway). */
	tokenTtlSeconds?: number;
	/** Per-request timeout (default 30 000 ms, Terway). */
	timeoutMs?: number;
	/** Retry policy for 5xx/429/transport errors (default `METADATA_RETRY`). */
	retry?: Partial<BackoffSpec>;
	/** Default poll interval/timeout of `waitForIps`/`waitForMac` (Terway: 1 s / 10 s). */
	waitIntervalMs?: number;
	waitTimeoutMs?: number;
	timer?: Timer;
	/** Injected for tests; default the global (Bun) fetch. */
	fetch?: typeof fetch;
};

type Token = { value: string; refreshAt: number };

/** Lines of a listing, `/` trimmed from each, empties dropped (Terway `getArray`). */
export function parseList(body: string): string[] {
	return body
		.split("\n")
		.map((l) => l.trim().replace(/^\/+|\/+$/g, ""))
		.filter((l) => l !== "");
}

/** First line, `/` trimmed (Terway `getValue`). */
export function parseValue(body: string): string {
	return (body.split("\n")[0] ?? "").trim().replace(/^\/+|\/+$/g, "");
}

/** `private-ipv4s`: a JSON array of strings, e.g. `["10.0.1.30","10.0.1.11"]`. */
export function parseIpv4s(body: string, path = "private-ipv4s"): string[] {
	let v: unknown;
	try {
		v = JSON.parse(body.trim());
	} catch {
		throw badResponse(path, `not a JSON array: ${JSON.stringify(body.slice(0, 80))}`);
	}
	if (!Array.isArray(v) || !v.every((x) => typeof x === "string"))
		throw badResponse(path, `not an array of strings: ${JSON.stringify(body.slice(0, 80))}`);
	return v.map((x) => x.trim()).filter((x) => x !== "");
}

/**
 * `ipv6s`: bracketed and comma-separated, NOT JSON (`[fd00:1::a,fd00:1::b]`). Quoted entries
 * (a JSON array) are tolerated. `[]` or an empty body → none.
 */
export function parseIpv6s(body: string, path = "ipv6s"): string[] {
	const s = body.trim();
	if (s === "") return [];
	if (!s.startsWith("[") || !s.endsWith("]"))
		throw badResponse(path, `not a bracketed list: ${JSON.stringify(s.slice(0, 80))}`);
	return s
		.slice(1, -1)
		.split(",")
		.map((x) => x.trim().replace(/^"|"$/g, ""))
		.filter((x) => x !== "");
}

/** The RAM-role STS document; `Code` must be `Success` (as `@alicloud/credentials` requires). */
export function parseStsDocument(body: string, path = "ram/security-credentials"): StsCredentials {
	let v: unknown;
	try {
		v = JSON.parse(body);
	} catch {
		throw badResponse(path, "STS document is not JSON");
	}
	const o = (v ?? {}) as Record<string, unknown>;
	if (o.Code !== undefined && o.Code !== "Success")
		throw new CloudApiError({
			code: "Metadata.CredentialsNotReady",
			action: path,
			message: `metadata ${path}: Code ${JSON.stringify(o.Code)}, not Success`,
		});
	const str = (k: string) => {
		const x = o[k];
		if (typeof x !== "string" || x === "") throw badResponse(path, `STS document has no ${k}`);
		return x;
	};
	const expiration = Date.parse(str("Expiration"));
	if (Number.isNaN(expiration))
		throw badResponse(path, `Expiration ${JSON.stringify(o.Expiration)} is not a time`);
	return {
		accessKeyId: str("AccessKeyId"),
		accessKeySecret: str("AccessKeySecret"),
		securityToken: str("SecurityToken"),
		expiration,
	};
}

function badResponse(path: string, why: string): CloudApiError {
	return new CloudApiError({
		code: CloudErrorCode.BadResponse,
		action: path,
		message: `metadata ${path}: ${why}`,
	});
}

const isV6 = (ip: string) => ip.includes(":");
const normMac = (mac: string) => mac.trim().toLowerCase();

/** MetadataApi over HTTP. One instance per daemon; safe for concurrent use. */
export class MetadataClient implements MetadataApi {
	readonly baseUrl: string;
	readonly simInstanceId: string | undefined;
	readonly #ttl: number;
	readonly #timeoutMs: number;
	readonly #retry: BackoffSpec;
	readonly #timer: Timer;
	readonly #fetch: typeof fetch;
	readonly #waitIntervalMs: number;
	readonly #waitTimeoutMs: number;
	#token: Token | undefined;
	#tokenInflight: Promise<string> | undefined;

	constructor(opts: MetadataClientOptions = {}) {
		const env = opts.env ?? process.env;
		this.baseUrl = (opts.baseUrl ?? metadataBaseUrl(env)).replace(/\/+$/, "");
		const sim = opts.simInstanceId ?? env.TERWAY_SIM_INSTANCE_ID?.trim();
		this.simInstanceId = sim ? sim : undefined;
		this.#ttl = opts.tokenTtlSeconds ?? 21600;
		this.#timeoutMs = opts.timeoutMs ?? 30_000;
		this.#retry = { ...METADATA_RETRY, ...opts.retry };
		this.#timer = opts.timer ?? realTimer;
		this.#fetch = opts.fetch ?? fetch;
		this.#waitIntervalMs = opts.waitIntervalMs ?? 1000;
		this.#waitTimeoutMs = opts.waitTimeoutMs ?? 10_000;
	}

	#headers(extra: Record<string, string> = {}): Record<string, string> {
		return { ...(this.simInstanceId ? { [SIM_INSTANCE_HEADER]: this.simInstanceId } : {}), ...extra };
	}

	/** One HTTP exchange, errors mapped; no retries here. */
	async #send(
		path: string,
		url: string,
		init: { method: string; headers: Record<string, string> },
		signal?: AbortSignal,
	): Promise<{ status: number; body: string }> {
		throwIfAborted(signal);
		const timeout = AbortSignal.timeout(this.#timeoutMs);
		const sig = signal ? AbortSignal.any([signal, timeout]) : timeout;
		try {
			const res = await this.#fetch(url, { ...init, signal: sig });
			return { status: res.status, body: await res.text() };
		} catch (e) {
			throwIfAborted(signal);
			if (timeout.aborted)
				throw new CloudApiError({
					code: CloudErrorCode.Timeout,
					action: path,
					message: `metadata ${path}: no answer within ${this.#timeoutMs} ms`,
					cause: e,
				});
			throw new CloudApiError({
				code: CloudErrorCode.NetworkError,
				action: path,
				message: `metadata ${path}: ${e instanceof Error ? e.message : String(e)}`,
				cause: e,
			});
		}
	}

	async #retrying<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
		for (let attempt = 1; ; attempt++) {
			try {
				return await fn();
			} catch (e) {
				throwIfAborted(signal);
				if (e instanceof CloudApiError) e.attempts = attempt;
				if (attempt >= this.#retry.steps || !isRetryable(e)) throw e;
				await this.#timer.sleep(backoffDelay(this.#retry, attempt - 1), signal);
			}
		}
	}

	/**
	 * A valid token, from cache or a fresh `PUT /latest/api/token` (shared by concurrent callers).
	 * One attempt: reads retry the whole exchange, token included.
	 */
	async token(signal?: AbortSignal): Promise<string> {
		const t = this.#token;
		if (t && this.#timer.now() < t.refreshAt) return t.value;
		if (!this.#tokenInflight) {
			const p = this.#fetchToken().finally(() => {
				this.#tokenInflight = undefined;
			});
			this.#tokenInflight = p;
		}
		return raceAbort(this.#tokenInflight, signal);
	}

	async #fetchToken(): Promise<string> {
		const path = "api/token";
		const r = await this.#send(path, `${this.baseUrl}/latest/api/token`, {
			method: "PUT",
			headers: this.#headers({ [METADATA_TOKEN_TTL_HEADER]: String(this.#ttl) }),
		});
		if (r.status !== 200) throw httpError(path, r);
		const value = r.body.trim();
		if (value === "") throw badResponse(path, "empty token");
		// Terway caches the token for half its TTL.
		this.#token = { value, refreshAt: this.#timer.now() + (this.#ttl * 1000) / 2 };
		return value;
	}

	/** Drops the cached token (next read fetches a new one). */
	invalidateToken(): void {
		this.#token = undefined;
	}

	/**
	 * GET `<base>/latest/meta-data/<path>`; resolves with the body, or `undefined` on 404
	 * when `allow404`. Retries per policy; one token refresh on 401.
	 */
	async #get(path: string, signal: AbortSignal | undefined, allow404: true): Promise<string | undefined>;
	async #get(path: string, signal: AbortSignal | undefined, allow404?: false): Promise<string>;
	async #get(path: string, signal: AbortSignal | undefined, allow404 = false): Promise<string | undefined> {
		const url = `${this.baseUrl}/latest/meta-data/${path}`;
		return this.#retrying(async () => {
			let refreshed = false;
			for (;;) {
				const token = await this.token(signal);
				const r = await this.#send(
					path,
					url,
					{ method: "GET", headers: this.#headers({ [METADATA_TOKEN_HEADER]: token }) },
					signal,
				);
				if (r.status === 200) return r.body;
				if (r.status === 401 && !refreshed) {
					refreshed = true;
					this.invalidateToken();
					continue;
				}
				if (r.status === 404 && allow404) return undefined;
				throw httpError(path, r);
			}
		}, signal);
	}

	/** Raw text of `path` under `/latest/meta-data/`. */
	get(path: string, opts: CallOptions = {}): Promise<string> {
		return this.#get(path.replace(/^\/+/, ""), opts.signal);
	}

	async #value(path: string, opts: CallOptions): Promise<string> {
		return parseValue(await this.#get(path, opts.signal));
	}

	instanceId(opts: CallOptions = {}) {
		return this.#value("instance-id", opts);
	}
	regionId(opts: CallOptions = {}) {
		return this.#value("region-id", opts);
	}
	zoneId(opts: CallOptions = {}) {
		return this.#value("zone-id", opts);
	}
	instanceType(opts: CallOptions = {}) {
		return this.#value("instance/instance-type", opts);
	}
	vpcId(opts: CallOptions = {}) {
		return this.#value("vpc-id", opts);
	}
	vpcCidr(opts: CallOptions = {}) {
		return this.#value("vpc-cidr-block", opts);
	}
	vswitchId(opts: CallOptions = {}) {
		return this.#value("vswitch-id", opts);
	}
	async primaryMac(opts: CallOptions = {}) {
		return normMac(await this.#value("mac", opts));
	}

	async macs(opts: CallOptions = {}): Promise<string[]> {
		return parseList(await this.#get("network/interfaces/macs/", opts.signal)).map(normMac);
	}

	async ipv4s(mac: string, opts: CallOptions = {}): Promise<string[]> {
		const path = `network/interfaces/macs/${normMac(mac)}/private-ipv4s`;
		return parseIpv4s(await this.#get(path, opts.signal), path);
	}

	async ipv6s(mac: string, opts: CallOptions = {}): Promise<string[]> {
		const path = `network/interfaces/macs/${normMac(mac)}/ipv6s`;
		const body = await this.#get(path, opts.signal, true);
		return body === undefined ? [] : parseIpv6s(body, path);
	}

	async eni(mac: string, opts: CallOptions = {}): Promise<MetadataEni> {
		const m = normMac(mac);
		const p = (leaf: string) => `network/interfaces/macs/${m}/${leaf}`;
		const s = opts.signal;
		const opt = async (leaf: string) => {
			const b = await this.#get(p(leaf), s, true);
			return b === undefined ? undefined : parseValue(b) || undefined;
		};
		const [eniId, primaryIp, ips, ipv6s, gateway, cidr, vswitchId, ipv6Gateway, ipv6Cidr] = await Promise.all(
			[
				this.#get(p("network-interface-id"), s).then(parseValue),
				this.#get(p("primary-ip-address"), s).then(parseValue),
				this.ipv4s(m, opts),
				this.ipv6s(m, opts),
				this.#get(p("gateway"), s).then(parseValue),
				this.#get(p("vswitch-cidr-block"), s).then(parseValue),
				this.#get(p("vswitch-id"), s).then(parseValue),
				opt("ipv6-gateway"),
				opt("vswitch-ipv6-cidr-block"),
			],
		);
		return {
			eniId,
			mac: m,
			primaryIp,
			ips,
			ipv6s,
			gateway,
			cidr,
			vswitchId,
			...(ipv6Gateway ? { ipv6Gateway } : {}),
			...(ipv6Cidr ? { ipv6Cidr } : {}),
		};
	}

	async #poll(
		what: string,
		check: () => Promise<{ done: boolean; detail: string }>,
		opts: WaitIpsOptions,
	): Promise<void> {
		const timeoutMs = opts.timeoutMs ?? this.#waitTimeoutMs;
		const intervalMs = opts.intervalMs ?? this.#waitIntervalMs;
		const deadline = this.#timer.now() + timeoutMs;
		let last = "not checked yet";
		let lastErr: unknown;
		for (;;) {
			throwIfAborted(opts.signal);
			try {
				const r = await check();
				if (r.done) return;
				last = r.detail;
				lastErr = undefined;
			} catch (e) {
				throwIfAborted(opts.signal);
				// Terway: any read error means "not yet" while the budget lasts.
				lastErr = e;
				last = e instanceof Error ? e.message : String(e);
			}
			const left = deadline - this.#timer.now();
			if (left <= 0)
				throw new CloudApiError({
					code: CloudErrorCode.WaitTimeout,
					action: what,
					message: `metadata: ${what} not reached within ${timeoutMs} ms (last: ${last})`,
					...(lastErr !== undefined ? { cause: lastErr } : {}),
				});
			await this.#timer.sleep(Math.min(intervalMs, left), opts.signal);
		}
	}

	waitForIps(
		mac: string,
		ips: string[],
		want: "present" | "absent",
		opts: WaitIpsOptions = {},
	): Promise<void> {
		const m = normMac(mac);
		const v4 = ips.filter((ip) => !isV6(ip));
		const v6 = ips.filter(isV6).map((ip) => ip.toLowerCase());
		return this.#poll(
			`${want === "present" ? "ips present" : "ips absent"} on ${m}`,
			async () => {
				const [have4, have6] = await Promise.all([
					v4.length ? this.ipv4s(m, opts) : Promise.resolve([]),
					v6.length ? this.ipv6s(m, opts) : Promise.resolve([]),
				]);
				const have = new Set([...have4, ...have6.map((x) => x.toLowerCase())]);
				const wanted = [...v4, ...v6];
				const off = wanted.filter((ip) => (want === "present" ? !have.has(ip) : have.has(ip)));
				return {
					done: off.length === 0,
					detail: `${want === "present" ? "missing" : "still there"}: ${off.join(",")}`,
				};
			},
			opts,
		);
	}

	waitForMac(mac: string, opts: WaitIpsOptions = {}): Promise<void> {
		const m = normMac(mac);
		return this.#poll(
			`mac ${m} listed`,
			async () => {
				const macs = await this.macs(opts);
				return { done: macs.includes(m), detail: `listed: ${macs.join(",")}` };
			},
			opts,
		);
	}

	async ramRole(opts: CallOptions = {}): Promise<string | undefined> {
		const body = await this.#get("ram/security-credentials/", opts.signal, true);
		if (body === undefined) return undefined;
		return parseList(body)[0];
	}

	async ramCredentials(role: string, opts: CallOptions = {}): Promise<StsCredentials> {
		const path = `ram/security-credentials/${role}`;
		return parseStsDocument(await this.#get(path, opts.signal), path);
	}
}

function httpError(path: string, r: { status: number; body: string }): CloudApiError {
	const title = /<title>([^<]*)<\/title>/i.exec(r.body)?.[1];
	return new CloudApiError({
		code: `Metadata.${r.status}`,
		status: r.status,
		action: path,
		message: `metadata ${path}: HTTP ${r.status}${title ? ` (${title.trim()})` : ""}`,
	});
}
