/**
 * EcsApi (src/cloud/ecs.ts) against the offline cloud over loopback HTTP, through the real
 * SDKs: every method's happy path, the ENI state machine, typed non-retryable errors, and
 * retries with the SAME ClientToken under injected Throttling / InternalError / reset faults
 * (asserted through the sim's request log and its idempotency replay). No root needed.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { AliyunEcs } from "../../src/cloud/ecs.ts";
import { type CloudCallEvent, StaticCredentials } from "../../src/cloud/index.ts";
import {
	CloudApiError,
	isEniLimit,
	isIpNotEnough,
	isNotFound,
	isQuota,
	isRetryable,
} from "../../src/cloud/types.ts";
import { FAST_BACKOFFS, POD_VSW, POD_VSW_J, REGION, type Sim, type SimOptions, startSim } from "./sim.ts";

const running: Sim[] = [];
afterEach(() => {
	for (const s of running.splice(0)) s.stop();
});

function setup(opts: SimOptions = {}) {
	const sim = startSim(opts);
	running.push(sim);
	const calls: CloudCallEvent[] = [];
	const ecs = new AliyunEcs({
		regionId: REGION,
		credentials: new StaticCredentials("config", {
			accessKeyId: sim.accessKey.id,
			accessKeySecret: sim.accessKey.secret,
		}),
		endpoints: { regionId: REGION, ecs: sim.openapi, vpc: sim.openapi, protocol: "HTTP" },
		timeoutMs: 5000,
		backoffs: FAST_BACKOFFS,
		onCall: (e) => calls.push(e),
	});
	const sg = sim.scenario.securityGroups[0]!;
	const spec = (extra: Partial<Parameters<AliyunEcs["createEni"]>[0]> = {}) => ({
		vswitchId: POD_VSW,
		securityGroupIds: [sg],
		ipv4Count: 3,
		ipv6Count: 0,
		tags: { creator: "terway", node: "n1" },
		...extra,
	});
	const apiLog = (action: string) => sim.log.since(0, (e) => e.face === "openapi" && e.what === action);
	return { sim, ecs, calls, spec, apiLog, sg };
}

async function failure(p: Promise<unknown>): Promise<CloudApiError> {
	try {
		await p;
	} catch (e) {
		if (e instanceof CloudApiError) return e;
		throw e;
	}
	throw new Error("expected the call to fail");
}

describe("happy paths", () => {
	test("create → describe → attach (Attaching → InUse) → assign/unassign v4+v6 → detach → delete → absent", async () => {
		const { sim, ecs, spec } = setup();
		const eni = await ecs.createEni(spec({ ipv6Count: 1 }));
		expect({
			status: eni.status,
			type: eni.type,
			vswitchId: eni.vswitchId,
			ipv4s: eni.ipv4s.length,
			ipv6s: eni.ipv6s.length,
			primaryFirst: eni.ipv4s[0] === eni.primaryIp,
			tags: eni.tags,
			mac: /^00:16:3e(:[0-9a-f]{2}){3}$/.test(eni.mac),
		}).toEqual({
			status: "Available",
			type: "Secondary",
			vswitchId: POD_VSW,
			ipv4s: 3,
			ipv6s: 1,
			primaryFirst: true,
			tags: { creator: "terway", node: "n1" },
			mac: true,
		});

		// Describe adds what Create does not return (CreationTime, traffic mode).
		expect(await ecs.describeEni(eni.eniId)).toEqual({
			...eni,
			creationTime: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
			trafficMode: "Standard",
		});
		const tagged = await ecs.describeEnis({ tags: { node: "n1" } });
		expect(tagged.map((e) => e.eniId)).toEqual([eni.eniId]);
		expect(await ecs.describeEnis({ ids: [eni.eniId, "eni-doesnotexist00000000"] })).toHaveLength(1);

		await ecs.attachEni(eni.eniId, sim.instanceId);
		expect((await ecs.describeEni(eni.eniId))?.status).toBe("Attaching");
		const inUse = await ecs.waitEniStatus(eni.eniId, "InUse");
		expect({ status: inUse?.status, instanceId: inUse?.instanceId }).toEqual({
			status: "InUse",
			instanceId: sim.instanceId,
		});
		const onNode = await ecs.describeEnis({ instanceId: sim.instanceId });
		expect(onNode.map((e) => e.type).sort()).toEqual(["Primary", "Secondary"]);

		const v4 = await ecs.assignIpv4(eni.eniId, 2);
		const v6 = await ecs.assignIpv6(eni.eniId, 2);
		expect([v4.length, v6.length]).toEqual([2, 2]);
		let now = await ecs.describeEni(eni.eniId);
		expect(now?.ipv4s).toEqual(expect.arrayContaining(v4));
		expect(now?.ipv6s).toEqual(expect.arrayContaining(v6));
		await ecs.unassignIpv4(eni.eniId, v4);
		await ecs.unassignIpv6(eni.eniId, v6);
		// Already gone: IpUnassigned counts as success.
		await ecs.unassignIpv4(eni.eniId, v4);
		now = await ecs.describeEni(eni.eniId);
		expect({ v4: now?.ipv4s.length, v6: now?.ipv6s.length }).toEqual({ v4: 3, v6: 1 });

		await ecs.detachEni(eni.eniId, sim.instanceId);
		await ecs.waitEniStatus(eni.eniId, "Available");
		await ecs.deleteEni(eni.eniId);
		expect(await ecs.waitEniStatus(eni.eniId, "absent", { backoff: "ENIDeleteConfirm" })).toBeUndefined();
		// NotFound on detach/delete/unassign counts as success.
		await ecs.detachEni(eni.eniId, sim.instanceId);
		await ecs.deleteEni(eni.eniId);
		await ecs.unassignIpv4(eni.eniId, ["198.18.16.99"]);

		// Every call carried RegionId (the sim rejects calls without it).
		const api = sim.log.since(0, (e) => e.face === "openapi");
		expect(api.filter((e) => e.code === "MissingParameter")).toEqual([]);
	});

	test("instanceLimits maps DescribeInstanceTypes and is cached", async () => {
		const { ecs, apiLog } = setup();
		const big = await ecs.instanceLimits("ecs.sim.big");
		expect(big).toMatchObject({
			instanceType: "ecs.sim.big",
			adapters: 8,
			totalAdapters: 64,
			ipv4PerAdapter: 20,
			ipv6PerAdapter: 20,
			trunkSupported: true,
			memberAdapterLimit: 56,
			maxMemberAdapterLimit: 62,
		});
		const g7 = await ecs.instanceLimits("ecs.g7.large");
		expect(g7).toMatchObject({
			adapters: 3,
			ipv4PerAdapter: 6,
			trunkSupported: false,
			memberAdapterLimit: 0,
		});
		await ecs.instanceLimits("ecs.sim.big");
		expect(apiLog("DescribeInstanceTypes")).toHaveLength(2);
		const e = await failure(ecs.instanceLimits("ecs.nope"));
		expect(e.code).toBe("InvalidInstanceType.NotFound");
	});

	test("describeVSwitches: known ids mapped, unknown skipped", async () => {
		const { ecs } = setup();
		const v = await ecs.describeVSwitches([POD_VSW, POD_VSW_J, "vsw-unknown00000000000000"]);
		expect(v.map((x) => ({ id: x.vswitchId, zone: x.zoneId, cidr: x.cidr, v6: x.ipv6Cidr }))).toEqual([
			{ id: POD_VSW, zone: "cn-hangzhou-i", cidr: "198.18.16.0/20", v6: "fd00:198:18:1::/64" },
			{ id: POD_VSW_J, zone: "cn-hangzhou-j", cidr: "198.18.32.0/20", v6: "fd00:198:18:2::/64" },
		]);
		expect(v[0]!.availableIpCount).toBeGreaterThan(1000);
	});

	test("describeEnis pages through more than one page", async () => {
		const { sim, ecs, spec } = setup({ mutate: (s) => (s.privateIpQuota = 100_000) });
		// 501 ENIs through the world directly (fast), then one paged describe.
		for (let i = 0; i < 501; i++)
			sim.world.createEni({
				vswitchId: POD_VSW,
				securityGroupIds: spec().securityGroupIds,
				tags: { bulk: "1" },
			});
		const all = await ecs.describeEnis({ tags: { bulk: "1" } });
		expect(new Set(all.map((e) => e.eniId)).size).toBe(501);
		expect(
			sim.log.since(0, (e) => e.face === "openapi" && e.what === "DescribeNetworkInterfaces"),
		).toHaveLength(2);
	});
});

describe("typed, non-retryable errors", () => {
	test("IpNotEnough on create: thrown once, with Code and RequestId", async () => {
		const { sim, ecs, spec, apiLog } = setup();
		sim.faults.add({
			match: { face: "openapi", action: "CreateNetworkInterface" },
			effect: { kind: "ipExhausted" },
		});
		const e = await failure(ecs.createEni(spec()));
		expect({
			code: e.code,
			ipNotEnough: isIpNotEnough(e),
			retryable: isRetryable(e),
			attempts: e.attempts,
			requestId: /^[0-9A-F-]{36}$/.test(e.requestId ?? ""),
			action: e.action,
			token: typeof e.clientToken,
		}).toEqual({
			code: "InvalidVSwitchId.IpNotEnough",
			ipNotEnough: true,
			retryable: false,
			attempts: 1,
			requestId: true,
			action: "CreateNetworkInterface",
			token: "string",
		});
		expect(apiLog("CreateNetworkInterface")).toHaveLength(1);
	});

	test("quota exhaustion: QuotaExceeded.PrivateIpAddress is final", async () => {
		const { ecs, spec, apiLog } = setup({ mutate: (s) => (s.privateIpQuota = 8) });
		const e = await failure(ecs.createEni(spec({ ipv4Count: 20 })));
		expect({ quota: isQuota(e) || isIpNotEnough(e), attempts: e.attempts }).toEqual({
			quota: true,
			attempts: 1,
		});
		expect(apiLog("CreateNetworkInterface")).toHaveLength(1);
	});

	test("EniPerInstanceLimitExceeded on attach beyond EniQuantity", async () => {
		const { sim, ecs, spec, apiLog } = setup();
		// ecs.g7.large: 3 ENIs, the primary included.
		const enis = await Promise.all([1, 2, 3].map(() => ecs.createEni(spec())));
		for (const eni of enis.slice(0, 2)) {
			await ecs.attachEni(eni.eniId, sim.instanceId);
			await ecs.waitEniStatus(eni.eniId, "InUse");
		}
		const e = await failure(ecs.attachEni(enis[2]!.eniId, sim.instanceId));
		expect({ code: e.code, limit: isEniLimit(e), retryable: isRetryable(e), attempts: e.attempts }).toEqual({
			code: "EniPerInstanceLimitExceeded",
			limit: true,
			retryable: false,
			attempts: 1,
		});
		expect(apiLog("AttachNetworkInterface").filter((x) => x.code)).toHaveLength(1);
	});

	test("NotFound and invalid state surface typed (not retried)", async () => {
		const { ecs, spec, sim } = setup();
		const e1 = await failure(ecs.attachEni("eni-doesnotexist00000000", sim.instanceId));
		expect([e1.code, isNotFound(e1), e1.attempts]).toEqual(["InvalidEniId.NotFound", true, 1]);
		const eni = await ecs.createEni(spec());
		await ecs.attachEni(eni.eniId, sim.instanceId);
		const e2 = await failure(ecs.deleteEni(eni.eniId));
		expect([e2.code, e2.attempts]).toEqual(["InvalidOperation.InvalidEniState", 1]);
	});

	test("bad credentials: the SDK's signature error keeps its Code", async () => {
		const { sim } = setup();
		const bad = new AliyunEcs({
			regionId: REGION,
			credentials: new StaticCredentials("config", {
				accessKeyId: sim.accessKey.id,
				accessKeySecret: "wrong",
			}),
			endpoints: { regionId: REGION, ecs: sim.openapi, vpc: sim.openapi, protocol: "HTTP" },
			backoffs: FAST_BACKOFFS,
		});
		const e = await failure(bad.describeEnis({}));
		expect([e.code, e.attempts]).toEqual(["SignatureDoesNotMatch", 1]);
	});
});

describe("retries with the same ClientToken", () => {
	test("Throttling with probability 0.3 on Create: every call succeeds, one ENI per logical call, one token per call", async () => {
		const { sim, ecs, spec, calls, apiLog } = setup({ seed: 11 });
		sim.faults.add({
			match: { face: "openapi", action: "CreateNetworkInterface", probability: 0.3 },
			effect: { kind: "throttle", retryAfterMs: 0 },
		});
		const before = sim.world.enis().length;
		const made = [];
		for (let i = 0; i < 12; i++) made.push(await ecs.createEni(spec({ description: `n${i}` })));
		expect(sim.world.enis().length - before).toBe(12);
		expect(new Set(made.map((e) => e.eniId)).size).toBe(12);
		const throttled = apiLog("CreateNetworkInterface").filter((e) => e.code === "Throttling");
		expect(throttled.length).toBeGreaterThan(0);
		// Per logical call (one description each), all attempts used one token; tokens differ across calls.
		const creates = calls.filter((c) => c.action === "CreateNetworkInterface");
		expect(creates).toHaveLength(12 + throttled.length);
		const tokens = new Set(creates.map((c) => c.clientToken));
		expect(tokens.size).toBe(12);
		for (const c of creates.filter((x) => x.error)) {
			expect(c.error?.code).toBe("Throttling");
			const next = creates.find((x) => x.attempt === c.attempt + 1 && x.clientToken === c.clientToken);
			expect(next).toBeDefined();
		}
	});

	test("InternalError on the 1st Assign: retried with the same token, IPs assigned once", async () => {
		const { sim, ecs, spec, calls, apiLog } = setup();
		const eni = await ecs.createEni(spec({ ipv4Count: 1 }));
		sim.faults.add({
			match: { face: "openapi", action: "AssignPrivateIpAddresses", nth: 1 },
			effect: { kind: "error", code: "InternalError", status: 500 },
		});
		const ips = await ecs.assignIpv4(eni.eniId, 2);
		expect(ips).toHaveLength(2);
		expect((await ecs.describeEni(eni.eniId))?.ipv4s).toHaveLength(3);
		const attempts = calls.filter((c) => c.action === "AssignPrivateIpAddresses");
		expect(attempts.map((c) => [c.attempt, c.error?.code])).toEqual([
			[1, "InternalError"],
			[2, undefined],
		]);
		expect(attempts[0]!.clientToken).toBe(attempts[1]!.clientToken!);
		expect(apiLog("AssignPrivateIpAddresses").map((e) => e.status)).toEqual([500, 200]);
	});

	test("Operation.Conflict is retried for Assign, not for Attach", async () => {
		const { sim, ecs, spec } = setup();
		const eni = await ecs.createEni(spec({ ipv4Count: 1 }));
		sim.faults.add({
			match: { face: "openapi", action: "AssignIpv6Addresses", nth: 1 },
			effect: { kind: "error", code: "Operation.Conflict", status: 400 },
		});
		expect(await ecs.assignIpv6(eni.eniId, 1)).toHaveLength(1);
		sim.faults.add({
			match: { face: "openapi", action: "AttachNetworkInterface", nth: 1 },
			effect: { kind: "error", code: "Operation.Conflict", status: 400 },
		});
		const e = await failure(ecs.attachEni(eni.eniId, sim.instanceId));
		expect([e.code, e.attempts]).toEqual(["Operation.Conflict", 1]);
	});

	test("a reset drops the first Create response after the work: the retry replays it, exactly one ENI", async () => {
		const { sim, ecs, spec, calls, apiLog } = setup();
		sim.faults.add({
			match: { face: "openapi", action: "CreateNetworkInterface", nth: 1 },
			effect: { kind: "reset" },
		});
		const before = sim.world.enis().length;
		const eni = await ecs.createEni(spec(), { clientToken: "daemon-journal-token-1" });
		expect(sim.world.enis().length - before).toBe(1);
		expect(sim.world.enis().some((e) => e.eniId === eni.eniId)).toBe(true);
		const attempts = calls.filter((c) => c.action === "CreateNetworkInterface");
		expect(attempts.map((c) => [c.attempt, c.error?.code, c.clientToken])).toEqual([
			[1, "NetworkError", "daemon-journal-token-1"],
			[2, undefined, "daemon-journal-token-1"],
		]);
		const log = apiLog("CreateNetworkInterface");
		expect(log.map((e) => [e.status, e.detail?.replayed ?? false])).toEqual([
			[200, false],
			[200, true],
		]);
	});

	test("retries exhausted on lost responses: the next identical call reuses the cached token and gets the original ENI", async () => {
		const { sim, ecs, spec, calls } = setup();
		sim.faults.add({
			match: { face: "openapi", action: "CreateNetworkInterface" },
			effect: { kind: "reset" },
			times: 8, // every attempt of the first logical call (ENICreate steps = 8 here)
		});
		const before = sim.world.enis().length;
		const e = await failure(ecs.createEni(spec()));
		expect([e.code, e.attempts]).toEqual(["NetworkError", 8]);
		const again = await ecs.createEni(spec());
		expect(sim.world.enis().length - before).toBe(1);
		const tokens = new Set(
			calls.filter((c) => c.action === "CreateNetworkInterface").map((c) => c.clientToken),
		);
		expect(tokens.size).toBe(1);
		expect(sim.log.since(0, (x) => x.what === "CreateNetworkInterface").at(-1)?.detail?.replayed).toBe(true);
		expect(again.eniId).toBe(sim.world.enis().at(-1)!.eniId);
	});

	test("a caller token with different parameters is refused (IdempotentParameterMismatch), not retried", async () => {
		const { ecs, spec } = setup();
		await ecs.createEni(spec(), { clientToken: "tok-A" });
		const e = await failure(ecs.createEni(spec({ ipv4Count: 2 }), { clientToken: "tok-A" }));
		expect([e.code, e.attempts, e.clientToken]).toEqual(["IdempotentParameterMismatch", 1, "tok-A"]);
	});

	test("abort: a hung call is abandoned with the signal's reason", async () => {
		const { sim, ecs } = setup();
		sim.faults.add({
			match: { face: "openapi", action: "DescribeNetworkInterfaces" },
			effect: { kind: "hang" },
		});
		const ac = new AbortController();
		const reason = new Error("daemon stopping");
		setTimeout(() => ac.abort(reason), 50);
		const t0 = performance.now();
		expect(await ecs.describeEnis({}, { signal: ac.signal }).catch((x) => x)).toBe(reason);
		expect(performance.now() - t0).toBeLessThan(2000);
	});

	test("timeouts: a hang past the SDK's read timeout is a retryable Timeout", async () => {
		const { sim } = setup();
		sim.faults.add({
			match: { face: "openapi", action: "DescribeNetworkInterfaces", nth: 1 },
			effect: { kind: "hang" },
		});
		const ecs = new AliyunEcs({
			regionId: REGION,
			credentials: new StaticCredentials("config", {
				accessKeyId: sim.accessKey.id,
				accessKeySecret: sim.accessKey.secret,
			}),
			endpoints: { regionId: REGION, ecs: sim.openapi, vpc: sim.openapi, protocol: "HTTP" },
			timeoutMs: 200,
			backoffs: FAST_BACKOFFS,
		});
		const calls: string[] = [];
		const enis = await ecs.describeEnis({ instanceId: sim.instanceId });
		calls.push(
			...sim.log.since(0, (x) => x.what === "DescribeNetworkInterfaces").map((x) => String(x.status)),
		);
		expect(enis).toHaveLength(1);
		expect(calls).toContain("200");
	});
});
