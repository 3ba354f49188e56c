import { describe, expect, test } from "bun:test";
import {
	backoffBounds,
	backoffDelay,
	canonicalJson,
	DEFAULT_BACKOFFS,
	DEFAULT_RATE_LIMITS,
	IdempotencyTokens,
	RateLimiter,
	resolveBackoffs,
	retry,
	StopRetryError,
	shouldRetry,
	type Timer,
	TokenBucket,
} from "./retry.ts";
import {
	type BackoffSpec,
	CloudApiError,
	isEniLimit,
	isIpNotEnough,
	isNotFound,
	isQuota,
	isRetryable,
	isThrottling,
} from "./types.ts";

/** Virtual time: sleep advances the clock at once and records the delay. */
function virtualTimer(): Timer & { t: number; slept: number[] } {
	const v = {
		t: 1_000_000,
		slept: [] as number[],
		now: () => v.t,
		sleep: async (ms: number, signal?: AbortSignal) => {
			if (signal?.aborted) throw signal.reason;
			v.slept.push(ms);
			v.t += ms;
		},
	};
	return v;
}

const err = (code: string, status = 400) =>
	new CloudApiError({ code, status, action: "X", message: code, requestId: "REQ-1" });

const fast: BackoffSpec = { initialDelayMs: 0, durationMs: 1, factor: 2, jitter: 0, steps: 5 };

describe("retry decisions by Code", () => {
	const cases: [string, string, boolean][] = [
		["CreateNetworkInterface", "Throttling", true],
		["CreateNetworkInterface", "Throttling.User", true],
		["CreateNetworkInterface", "Throttling.Api", true],
		["CreateNetworkInterface", "InternalError", true],
		["CreateNetworkInterface", "ServiceUnavailable", true],
		["CreateNetworkInterface", "NetworkError", true],
		["CreateNetworkInterface", "Timeout", true],
		["CreateNetworkInterface", "Operation.Conflict", false],
		["AssignPrivateIpAddresses", "Operation.Conflict", true],
		["UnassignPrivateIpAddresses", "Operation.Conflict", true],
		["AssignIpv6Addresses", "Operation.Conflict", true],
		["UnassignIpv6Addresses", "Operation.Conflict", true],
		["AttachNetworkInterface", "Operation.Conflict", false],
		["CreateNetworkInterface", "InvalidVSwitchId.IpNotEnough", false],
		["AssignPrivateIpAddresses", "InvalidVSwitchId.IpNotEnough", false],
		["CreateNetworkInterface", "QuotaExceeded.PrivateIpAddress", false],
		["AttachNetworkInterface", "EniPerInstanceLimitExceeded", false],
		["AssignPrivateIpAddresses", "InvalidOperation.Ipv4CountExceeded", false],
		["CreateNetworkInterface", "InvalidParameter", false],
		["CreateNetworkInterface", "MissingParameter", false],
		["DeleteNetworkInterface", "InvalidEniId.NotFound", false],
		["DeleteNetworkInterface", "InvalidOperation.InvalidEniState", false],
		["UnassignPrivateIpAddresses", "Forbidden.RAM", false],
		["CreateNetworkInterface", "IdempotentFailed", false],
		["CreateNetworkInterface", "IdempotentParameterMismatch", false],
		["CreateNetworkInterface", "WaitTimeout", false],
	];
	for (const [action, code, want] of cases) {
		test(`${action} ${code} → ${want ? "retry" : "final"}`, () => {
			expect(shouldRetry(action, err(code))).toBe(want);
		});
	}
	test("non-CloudApiError is never retried", () => {
		expect(shouldRetry("CreateNetworkInterface", new TypeError("bug"))).toBe(false);
	});
	test("metadata statuses: 429 and 5xx retryable, other 4xx not", () => {
		expect([429, 500, 503, 404, 403, 400].map((s) => isRetryable(err(`Metadata.${s}`)))).toEqual([
			true,
			true,
			true,
			false,
			false,
			false,
		]);
	});
	test("predicates", () => {
		expect({
			throttling: isThrottling(err("Throttling.User")),
			ipNotEnough: isIpNotEnough(err("InvalidVSwitchId.IpNotEnough")),
			quota: isQuota(err("QuotaExceeded.PrivateIpAddress")),
			eniLimit: isEniLimit(err("EniPerInstanceLimitExceeded")),
			notFoundEni: isNotFound(err("InvalidEniId.NotFound")),
			notFoundKey: isNotFound(err("InvalidAccessKeyId.NotFound")),
			plainError: isThrottling(new Error("Throttling")),
		}).toEqual({
			throttling: true,
			ipNotEnough: true,
			quota: true,
			eniLimit: true,
			notFoundEni: true,
			notFoundKey: false,
			plainError: false,
		});
	});
	test("CloudApiError keeps Code and RequestId in JSON", () => {
		expect(err("Throttling").toJSON()).toMatchObject({ code: "Throttling", requestId: "REQ-1", status: 400 });
	});
});

describe("backoff", () => {
	test("Terway's numbers", () => {
		expect(DEFAULT_BACKOFFS.ENICreate).toEqual({
			initialDelayMs: 0,
			durationMs: 10_000,
			factor: 2,
			jitter: 0.3,
			steps: 2,
		});
		expect(DEFAULT_BACKOFFS.WaitENIStatus.initialDelayMs).toBe(3000);
		expect(DEFAULT_BACKOFFS.MetaAssignPrivateIP.durationMs).toBe(1100);
	});
	test("bounds: exponential, jitter in [d, d(1+j)], cap before jitter", () => {
		const b = DEFAULT_BACKOFFS.ENIOps; // 5 s ×2, jitter 0.3
		expect(backoffBounds(b, 0)).toEqual([5000, 6500]);
		expect(backoffBounds(b, 2)).toEqual([20_000, 26_000]);
		const c = DEFAULT_BACKOFFS.ENIDeleteConfirm; // 2 s ×1.5 cap 4 s
		expect([0, 1, 2, 3].map((i) => backoffDelay(c, i))).toEqual([2000, 3000, 4000, 4000]);
		for (let i = 0; i < 200; i++) {
			const d = backoffDelay(b, 1);
			expect(d).toBeGreaterThanOrEqual(10_000);
			expect(d).toBeLessThanOrEqual(13_000);
		}
	});
	test("overrides merge per field and are validated", () => {
		const r = resolveBackoffs({ ENICreate: { durationMs: 5, steps: 4 } });
		expect(r.ENICreate).toEqual({ initialDelayMs: 0, durationMs: 5, factor: 2, jitter: 0.3, steps: 4 });
		expect(() => resolveBackoffs({ ENIOps: { steps: 0 } })).toThrow(/ENIOps\.steps/);
	});
});

describe("retry()", () => {
	test("retries retryable codes to success, counting attempts and sleeping the backoff", async () => {
		const timer = virtualTimer();
		let n = 0;
		const v = await retry(
			async () => {
				if (++n < 3) throw err("Throttling");
				return "ok";
			},
			{ backoff: fast, retryable: (e) => shouldRetry("CreateNetworkInterface", e), timer },
		);
		expect({ v, n, slept: timer.slept }).toEqual({ v: "ok", n: 3, slept: [1, 2] });
	});
	test("a final code stops at once; attempts recorded on the error", async () => {
		const timer = virtualTimer();
		let n = 0;
		const e = await retry(
			async () => {
				n++;
				throw err("InvalidVSwitchId.IpNotEnough", 403);
			},
			{ backoff: fast, retryable: (x) => shouldRetry("CreateNetworkInterface", x), timer },
		).catch((x) => x);
		expect(e).toBeInstanceOf(CloudApiError);
		expect({ n, attempts: e.attempts, code: e.code, slept: timer.slept }).toEqual({
			n: 1,
			attempts: 1,
			code: "InvalidVSwitchId.IpNotEnough",
			slept: [],
		});
	});
	test("steps bound the attempts", async () => {
		const timer = virtualTimer();
		let n = 0;
		const e = await retry(
			async () => {
				n++;
				throw err("InternalError", 500);
			},
			{ backoff: { ...fast, steps: 3 }, retryable: () => true, timer },
		).catch((x) => x);
		expect({ n, attempts: e.attempts }).toEqual({ n: 3, attempts: 3 });
	});
	test("StopRetryError unwraps and stops", async () => {
		let n = 0;
		const e = await retry(
			async () => {
				n++;
				throw new StopRetryError(err("Throttling"));
			},
			{ backoff: fast, retryable: () => true, timer: virtualTimer() },
		).catch((x) => x);
		expect({ n, code: e.code }).toEqual({ n: 1, code: "Throttling" });
	});
	test("an abort during the backoff sleep rejects with the signal's reason", async () => {
		const ac = new AbortController();
		const reason = new Error("shutting down");
		let n = 0;
		const p = retry(
			async () => {
				n++;
				if (n === 1) setTimeout(() => ac.abort(reason), 5);
				throw err("Throttling");
			},
			{ backoff: { ...fast, durationMs: 10_000 }, retryable: () => true, signal: ac.signal },
		);
		expect(await p.catch((x) => x)).toBe(reason);
		expect(n).toBe(1);
	});
	test("an already-aborted signal makes no attempt", async () => {
		let n = 0;
		const e = await retry(
			async () => {
				n++;
			},
			{ backoff: fast, signal: AbortSignal.abort(new Error("no")) },
		).catch((x) => x);
		expect({ n, msg: (e as Error).message }).toEqual({ n: 0, msg: "no" });
	});
});

describe("token bucket", () => {
	test("burst = capacity, then waits at the refill rate", async () => {
		const timer = virtualTimer();
		const b = TokenBucket.perMinute(60, timer); // 1 per second
		for (let i = 0; i < 60; i++) expect(await b.take()).toBe(0);
		expect(await b.take()).toBe(1000);
		expect(await b.take()).toBe(1000); // the previous waiter moved time on
		timer.t += 5000;
		expect(Math.round(b.available)).toBe(5);
	});
	test("queued reservations: the n-th waiter waits n intervals", () => {
		const timer = virtualTimer();
		const b = new TokenBucket(2, 1 / 100, timer); // 1 token per 100 ms
		expect([b.reserve(), b.reserve(), b.reserve(), b.reserve(), b.reserve()]).toEqual([0, 0, 100, 200, 300]);
	});
	test("abort while waiting returns the reservation", async () => {
		const b = new TokenBucket(1, 1 / 60_000); // real timer, 1 per minute
		await b.take();
		const ac = new AbortController();
		const p = b.take(ac.signal);
		ac.abort(new Error("stop"));
		expect(((await p.catch((x) => x)) as Error).message).toBe("stop");
		expect(b.available).toBeGreaterThan(-0.5);
	});
	test("limiter: Terway's per-API numbers, overrides, shared default bucket", () => {
		const l = new RateLimiter({ CreateNetworkInterface: 5 }, virtualTimer());
		expect({
			create: l.limitOf("CreateNetworkInterface"),
			describe: l.limitOf("DescribeNetworkInterfaces"),
			vsw: l.limitOf("DescribeVSwitches"),
			assign: l.limitOf("AssignPrivateIpAddresses"),
			other: l.limitOf("SomethingElse"),
		}).toEqual({ create: 5, describe: 800, vsw: 300, assign: 400, other: 500 });
		expect(DEFAULT_RATE_LIMITS.DescribeNetworkInterfaceAttribute).toBe(2000);
		expect(l.bucket("Foo")).toBe(l.bucket("Bar"));
		expect(l.bucket("CreateNetworkInterface")).not.toBe(l.bucket("Foo"));
		const b = l.bucket("CreateNetworkInterface");
		expect([1, 2, 3, 4, 5, 6].map(() => b.reserve())).toEqual([0, 0, 0, 0, 0, 12_000]);
	});
});

describe("ClientToken reuse", () => {
	test("same arguments: a failed call's token is handed to the next identical call", () => {
		const t = new IdempotencyTokens(10);
		const h = IdempotencyTokens.hash("CreateNetworkInterface", { a: 1, b: [1, 2] });
		expect(IdempotencyTokens.hash("CreateNetworkInterface", { b: [1, 2], a: 1 })).toBe(h);
		const first = t.take(h);
		t.giveBack(h, first, new CloudApiError({ code: "InternalError", action: "x", message: "x" }));
		expect(t.take(h)).toBe(first);
		expect(t.take(h)).not.toBe(first); // consumed on success: a new logical call gets a new token
	});
	test("IdempotentFailed: the token is not reused", () => {
		const t = new IdempotencyTokens(10);
		const first = t.take("h");
		t.giveBack("h", first, new CloudApiError({ code: "IdempotentFailed", action: "x", message: "x" }));
		expect(t.peek("h")).toEqual([]);
	});
	test("concurrent identical calls get different tokens; LRU bound", () => {
		const t = new IdempotencyTokens(2);
		expect(t.take("h")).not.toBe(t.take("h"));
		t.giveBack("a", "ta");
		t.giveBack("b", "tb");
		t.giveBack("c", "tc");
		expect([t.peek("a"), t.peek("b"), t.peek("c")]).toEqual([[], ["tb"], ["tc"]]);
	});
	test("canonical JSON ignores key order and undefined", () => {
		expect(canonicalJson({ b: 1, a: { d: undefined, c: [2, "x"] } })).toBe('{"a":{"c":[2,"x"]},"b":1}');
	});
});
