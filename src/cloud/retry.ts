/**
 * @module cloud/retry
 *
 * The daemon's side of talking to an API that neither retries nor rate-limits for us
 * (DESIGN.md "Cloud"): per-action token buckets with Terway's numbers, Terway's named
 * backoffs with jitter, the retry decision by error `Code`, and ClientToken reuse.
 *
 * What it must not do: know about the SDK or HTTP. It sees functions that either resolve or
 * throw (normally `CloudApiError`), and an optional `AbortSignal` that stops any wait.
 *
 * Sources: Terway `pkg/aliyun/client/ratelimit.go`, `pkg/backoff/backoff.go`, `token.go`
 * (terway-features.md §3.10, cloud-sim.md §1.1, §1.4, §1.5).
 */
import { createHash, randomUUID } from "node:crypto";
import {
	type BackoffKey,
	type BackoffSpec,
	CloudApiError,
	isConflict,
	isIdempotentFailed,
	isRetryable,
	type RateLimits,
} from "./types.ts";

// ---------------------------------------------------------------------------------------
// Time
// ---------------------------------------------------------------------------------------

/** Time source + abortable sleep; tests inject a fake or simply pass tiny backoffs. */
export interface Timer {
	now(): number;
	/** Resolves after `ms`, or rejects with `signal.reason` when aborted. */
	sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** Throws `signal.reason` if the signal has already fired. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
	if (signal?.aborted) throw signal.reason ?? new DOMException("aborted", "AbortError");
}

/** setTimeout-based sleep that rejects with `signal.reason` on abort (and clears its timer). */
export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
	throwIfAborted(signal);
	if (ms <= 0) return Promise.resolve();
	return new Promise<void>((resolve, reject) => {
		const onAbort = () => {
			clearTimeout(t);
			reject(signal?.reason ?? new DOMException("aborted", "AbortError"));
		};
		const t = setTimeout(() => {
			signal?.removeEventListener("abort", onAbort);
			resolve();
		}, ms);
		signal?.addEventListener("abort", onAbort, { once: true });
	});
}

export const realTimer: Timer = { now: () => Date.now(), sleep: abortableSleep };

/**
 * Races `p` against the signal: rejects with `signal.reason` as soon as it fires. The
 * underlying work (an SDK request) is not cancelled, only abandoned: the SDK has no abort.
 */
export function raceAbort<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
	if (!signal) return p;
	throwIfAborted(signal);
	return new Promise<T>((resolve, reject) => {
		const onAbort = () => reject(signal.reason ?? new DOMException("aborted", "AbortError"));
		signal.addEventListener("abort", onAbort, { once: true });
		p.then(
			(v) => {
				signal.removeEventListener("abort", onAbort);
				resolve(v);
			},
			(e) => {
				signal.removeEventListener("abort", onAbort);
				reject(e);
			},
		);
	});
}

// ---------------------------------------------------------------------------------------
// Rate limiting
// ---------------------------------------------------------------------------------------

/**
 * Terway's per-API limits in calls per minute (`ratelimit.go`); burst = the same number,
 * refill = n/60 per second. Key `""` applies to any action not listed.
 */
export const DEFAULT_RATE_LIMITS: Readonly<RateLimits> = Object.freeze({
	"": 500,
	AttachNetworkInterface: 500,
	CreateNetworkInterface: 500,
	DeleteNetworkInterface: 500,
	DescribeNetworkInterfaces: 800,
	DescribeNetworkInterfaceAttribute: 2000,
	DetachNetworkInterface: 400,
	AssignPrivateIpAddresses: 400,
	UnassignPrivateIpAddresses: 400,
	AssignIpv6Addresses: 400,
	UnassignIpv6Addresses: 400,
	DescribeInstanceTypes: 400,
	DescribeVSwitches: 300,
});

/**
 * A token bucket: `capacity` tokens, refilled continuously at `perMs` tokens per ms. Waiters
 * are served in FIFO order, each reserving a token (so a burst of callers queues fairly).
 */
export class TokenBucket {
	readonly capacity: number;
	readonly perMs: number;
	#tokens: number;
	#last: number;
	readonly #timer: Timer;

	constructor(capacity: number, perMs: number, timer: Timer = realTimer) {
		if (!(capacity >= 1) || !(perMs > 0))
			throw new RangeError(`token bucket: capacity ${capacity}, rate ${perMs}`);
		this.capacity = capacity;
		this.perMs = perMs;
		this.#tokens = capacity;
		this.#timer = timer;
		this.#last = timer.now();
	}

	/** Bucket for `n` calls per minute, burst `n` (Terway's convention). */
	static perMinute(n: number, timer: Timer = realTimer): TokenBucket {
		return new TokenBucket(n, n / 60_000, timer);
	}

	#refill(): void {
		const now = this.#timer.now();
		if (now > this.#last) {
			this.#tokens = Math.min(this.capacity, this.#tokens + (now - this.#last) * this.perMs);
			this.#last = now;
		}
	}

	/** Tokens available now (may be negative while waiters hold reservations). */
	get available(): number {
		this.#refill();
		return this.#tokens;
	}

	/**
	 * Takes one token without waiting; returns the ms the caller must wait before it is
	 * really theirs (0 = go now). The token is reserved either way.
	 */
	reserve(): number {
		this.#refill();
		this.#tokens -= 1;
		return this.#tokens >= 0 ? 0 : Math.ceil(-this.#tokens / this.perMs);
	}

	/** Waits for a token. On abort the reservation is returned and `signal.reason` thrown. */
	async take(signal?: AbortSignal): Promise<number> {
		throwIfAborted(signal);
		const wait = this.reserve();
		if (wait > 0) {
			try {
				await this.#timer.sleep(wait, signal);
			} catch (e) {
				this.#tokens += 1;
				throw e;
			}
		}
		return wait;
	}
}

/** One bucket per action, built lazily from `limits` (Terway's defaults, overridable per key). */
export class RateLimiter {
	readonly limits: Readonly<RateLimits>;
	readonly #buckets = new Map<string, TokenBucket>();
	readonly #timer: Timer;

	constructor(overrides: Partial<RateLimits> = {}, timer: Timer = realTimer) {
		const merged: RateLimits = { ...DEFAULT_RATE_LIMITS };
		for (const [k, v] of Object.entries(overrides)) if (v !== undefined) merged[k] = v;
		this.limits = Object.freeze(merged);
		this.#timer = timer;
	}

	/** Calls per minute for `action` (its own key, else `""`). */
	limitOf(action: string): number {
		return this.limits[action] ?? this.limits[""] ?? DEFAULT_RATE_LIMITS[""]!;
	}

	bucket(action: string): TokenBucket {
		const key = action in this.limits ? action : "";
		let b = this.#buckets.get(key);
		if (!b) {
			b = TokenBucket.perMinute(this.limitOf(action), this.#timer);
			this.#buckets.set(key, b);
		}
		return b;
	}

	/** Waits for the action's bucket; returns the ms waited. */
	wait(action: string, signal?: AbortSignal): Promise<number> {
		return this.bucket(action).take(signal);
	}
}

// ---------------------------------------------------------------------------------------
// Backoff
// ---------------------------------------------------------------------------------------

/**
 * Terway's named backoffs (`pkg/backoff/backoff.go`, July 2026). `ENIDeleteConfirm` is the
 * hard-coded delete-confirm poll of the legacy factory (1 s, then 2 s ×1.5 capped at 4 s, 4 steps).
 */
export const DEFAULT_BACKOFFS: Readonly<Record<BackoffKey, Readonly<BackoffSpec>>> = Object.freeze({
	Default: { initialDelayMs: 0, durationMs: 2000, factor: 1.5, jitter: 0.3, steps: 6 },
	ENICreate: { initialDelayMs: 0, durationMs: 10_000, factor: 2, jitter: 0.3, steps: 2 },
	ENIOps: { initialDelayMs: 0, durationMs: 5000, factor: 2, jitter: 0.3, steps: 6 },
	ENIRelease: { initialDelayMs: 0, durationMs: 4000, factor: 2, jitter: 0.5, steps: 8 },
	ENIIPOps: { initialDelayMs: 0, durationMs: 5000, factor: 1, jitter: 1.3, steps: 6 },
	ENIDeleteConfirm: { initialDelayMs: 1000, durationMs: 2000, factor: 1.5, jitter: 0, steps: 4, capMs: 4000 },
	WaitENIStatus: { initialDelayMs: 3000, durationMs: 3000, factor: 1.5, jitter: 0.5, steps: 8 },
	WaitMemberENIStatus: { initialDelayMs: 2000, durationMs: 1000, factor: 1.5, jitter: 0.5, steps: 8 },
	MetaAssignPrivateIP: { initialDelayMs: 0, durationMs: 1100, factor: 1, jitter: 0.2, steps: 10 },
	MetaUnassignPrivateIP: { initialDelayMs: 0, durationMs: 1100, factor: 1, jitter: 0.2, steps: 10 },
	WaitStsTokenReady: { initialDelayMs: 0, durationMs: 1000, factor: 1, jitter: 0.2, steps: 60 },
});

export type BackoffOverrides = Partial<Record<BackoffKey, Partial<BackoffSpec>>>;

/** The effective table: defaults with per-key field overrides (Terway `backoff_override`). */
export function resolveBackoffs(overrides: BackoffOverrides = {}): Record<BackoffKey, BackoffSpec> {
	const out = {} as Record<BackoffKey, BackoffSpec>;
	for (const key of Object.keys(DEFAULT_BACKOFFS) as BackoffKey[]) {
		const spec: BackoffSpec = { ...DEFAULT_BACKOFFS[key], ...overrides[key] };
		validateBackoff(key, spec);
		out[key] = spec;
	}
	return out;
}

function validateBackoff(key: string, b: BackoffSpec): void {
	const bad = (f: string, v: unknown) => {
		throw new RangeError(`backoff ${key}.${f}: invalid value ${JSON.stringify(v)}`);
	};
	if (!(b.initialDelayMs >= 0)) bad("initialDelayMs", b.initialDelayMs);
	if (!(b.durationMs >= 0)) bad("durationMs", b.durationMs);
	if (!(b.factor >= 0)) bad("factor", b.factor);
	if (!(b.jitter >= 0)) bad("jitter", b.jitter);
	if (!Number.isInteger(b.steps) || b.steps < 1) bad("steps", b.steps);
	if (b.capMs !== undefined && !(b.capMs >= 0)) bad("capMs", b.capMs);
}

/**
 * Sleep before attempt `i + 2` (after the `i`-th retry slot, 0-based): the k8s `Step()`:
 * `min(duration × factor^i, cap)`, then stretched by `random() × jitter`.
 */
export function backoffDelay(b: BackoffSpec, i: number, random: () => number = Math.random): number {
	let d = b.durationMs * (b.factor === 0 ? 1 : b.factor ** i);
	if (b.capMs !== undefined && d > b.capMs) d = b.capMs;
	if (b.jitter > 0) d += random() * b.jitter * d;
	return d;
}

/** Bounds of `backoffDelay(b, i)`: [low, high]. */
export function backoffBounds(b: BackoffSpec, i: number): [number, number] {
	return [backoffDelay(b, i, () => 0), backoffDelay(b, i, () => 1)];
}

// ---------------------------------------------------------------------------------------
// Retry
// ---------------------------------------------------------------------------------------

/**
 * Thrown (or used to wrap an error) inside a retried function to stop retrying at once and
 * reject with `cause` (p-retry's `AbortError` idea, STYLE.md §2.4).
 */
export class StopRetryError extends Error {
	override readonly name = "StopRetryError";
	constructor(readonly error: unknown) {
		super(error instanceof Error ? error.message : String(error));
	}
}

const ASSIGN_ACTIONS = new Set([
	"AssignPrivateIpAddresses",
	"UnassignPrivateIpAddresses",
	"AssignIpv6Addresses",
	"UnassignIpv6Addresses",
]);

/**
 * Terway's decision by error Code for `action`: retry throttling, `InternalError`,
 * `ServiceUnavailable`, transport errors and timeouts everywhere; `Operation.Conflict`
 * only for (Un)Assign*; never IpNotEnough, quotas, ENI/IP limits, InvalidParameter,
 * NotFound, Forbidden, idempotency failures or anything that is not a `CloudApiError`.
 */
export function shouldRetry(action: string, e: unknown): boolean {
	if (!(e instanceof CloudApiError)) return false;
	if (isRetryable(e)) return true;
	if (isConflict(e)) return ASSIGN_ACTIONS.has(action);
	return false;
}

export type RetryOptions = {
	backoff: BackoffSpec;
	/** Default: never retry (pass `(e) => shouldRetry(action, e)`). */
	retryable?: (e: unknown, attempt: number) => boolean;
	signal?: AbortSignal;
	timer?: Timer;
	random?: () => number;
	/** Called before each retry sleep (logging, metrics). */
	onRetry?: (e: unknown, attempt: number, delayMs: number) => void;
};

/**
 * Runs `fn(attempt)` (attempt is 1-based) until it resolves, a failure is not retryable, the
 * backoff's steps run out, or the signal fires. The last error is rethrown; a
 * `CloudApiError` gets `attempts` set. Aborts reject with `signal.reason`.
 */
export async function retry<T>(fn: (attempt: number) => Promise<T>, opts: RetryOptions): Promise<T> {
	const timer = opts.timer ?? realTimer;
	const { backoff, signal } = opts;
	if (backoff.initialDelayMs > 0) await timer.sleep(backoff.initialDelayMs, signal);
	for (let attempt = 1; ; attempt++) {
		throwIfAborted(signal);
		try {
			return await fn(attempt);
		} catch (e) {
			throwIfAborted(signal);
			const stop = e instanceof StopRetryError;
			const err = stop ? e.error : e;
			if (err instanceof CloudApiError) err.attempts = attempt;
			if (stop || attempt >= backoff.steps || !(opts.retryable?.(err, attempt) ?? false)) throw err;
			const delay = backoffDelay(backoff, attempt - 1, opts.random);
			opts.onRetry?.(err, attempt, delay);
			await timer.sleep(delay, signal);
		}
	}
}

// ---------------------------------------------------------------------------------------
// Idempotency tokens
// ---------------------------------------------------------------------------------------

/** A fresh ClientToken (UUID v4, 36 chars: within ECS's 64 ASCII limit). */
export function newClientToken(): string {
	return randomUUID();
}

/**
 * Terway's `token.go`: request hash → stack of ClientTokens (LRU of `size`, env
 * `IDEMPOTENT_KEY_CACHE_SIZE`, default 500). A logical call `take`s a token for its
 * arguments (a cached one if an earlier identical call failed, else a new UUID), uses it on
 * every retry, and on failure `giveBack`s it (unless `IdempotentFailed`), so the next call
 * with the same arguments reuses it: if the failed call did succeed in the cloud (lost
 * response), the cloud then answers with that original result instead of acting twice.
 */
export class IdempotencyTokens {
	readonly size: number;
	readonly #map = new Map<string, string[]>();

	constructor(size = envCacheSize()) {
		this.size = size;
	}

	/** MD5 of the canonical JSON of `(action, args)` (Terway hashes the request's JSON). */
	static hash(action: string, args: unknown): string {
		return createHash("md5")
			.update(`${action}\u0000${canonicalJson(args)}`)
			.digest("hex");
	}

	take(hash: string): string {
		const stack = this.#map.get(hash);
		const tok = stack?.pop();
		if (stack && stack.length === 0) this.#map.delete(hash);
		return tok ?? newClientToken();
	}

	/** Return a token after a failed call, unless the cloud said it must not be reused. */
	giveBack(hash: string, token: string, error?: unknown): void {
		if (isIdempotentFailed(error)) return;
		const stack = this.#map.get(hash) ?? [];
		this.#map.delete(hash); // re-insert: most recently used last
		stack.push(token);
		this.#map.set(hash, stack);
		while (this.#map.size > this.size) {
			const oldest = this.#map.keys().next().value;
			if (oldest === undefined) break;
			this.#map.delete(oldest);
		}
	}

	/** Tokens held for `hash` (tests, diagnostics). */
	peek(hash: string): readonly string[] {
		return this.#map.get(hash) ?? [];
	}
}

function envCacheSize(): number {
	const raw = process.env.IDEMPOTENT_KEY_CACHE_SIZE;
	const n = raw === undefined ? Number.NaN : Number(raw);
	return Number.isInteger(n) && n > 0 ? n : 500;
}

/** JSON with object keys sorted (so hashes do not depend on property order). */
export function canonicalJson(v: unknown): string {
	if (Array.isArray(v)) return `[${v.map(canonicalJson).join(",")}]`;
	if (v !== null && typeof v === "object") {
		const o = v as Record<string, unknown>;
		return `{${Object.keys(o)
			.filter((k) => o[k] !== undefined)
			.sort()
			.map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
			.join(",")}}`;
	}
	return JSON.stringify(v) ?? "null";
}
