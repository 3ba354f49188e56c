import { describe, expect, test } from "bun:test";
import { inhibitOnError, sufficientIpCondition } from "./inhibit.ts";
import { countIps, demandForAlloc, planPool, shrinkCount } from "./pool.ts";
import { cfg, eni, kinds, LIMITS, runToFixedPoint, snap } from "./testkit.ts";
import type { PoolAction } from "./types.ts";

const rng0 = () => 0;
const NOW = 1_000_000;
const MIN = 60_000;

const batchesOk = (as: PoolAction[]) =>
	as.every((a) =>
		a.kind === "assign"
			? a.count <= 10 && a.ipv6Count <= 10
			: a.kind === "createEni"
				? a.ipCount <= 10 && a.ipv6Count <= 10
				: a.kind === "unassign"
					? a.ips.length <= 20
					: true,
	);

describe("grow", () => {
	const cases: { name: string; s: Parameters<typeof planPool>[0]; want: PoolAction[] }[] = [
		{
			name: "cold start fills to min with one new ENI",
			s: snap({ config: cfg({ min: 5, max: 10 }) }),
			want: [{ kind: "createEni", ipCount: 5, ipv6Count: 0, vswitchId: "vsw-1" }],
		},
		{
			name: "cold start, min above one batch: several ENIs of ≤ 10",
			s: snap({ config: cfg({ min: 25, max: 30 }) }),
			want: [
				{ kind: "createEni", ipCount: 10, ipv6Count: 0, vswitchId: "vsw-1" },
				{ kind: "createEni", ipCount: 10, ipv6Count: 0, vswitchId: "vsw-1" },
				{ kind: "createEni", ipCount: 5, ipv6Count: 0, vswitchId: "vsw-1" },
			],
		},
		{
			name: "existing ENI with room is filled first, in batches of 10",
			s: snap({ waiting: 35, enis: [eni("eni-1", 1, 0)] }),
			want: [
				{ kind: "assign", eniId: "eni-1", count: 10, ipv6Count: 0 },
				{ kind: "createEni", ipCount: 10, ipv6Count: 0, vswitchId: "vsw-1" },
				{ kind: "createEni", ipCount: 10, ipv6Count: 0, vswitchId: "vsw-1" },
			],
		},
		{
			name: "full ENI and adapters remain: new ENI",
			s: snap({ waiting: 1, enis: [eni("eni-1", 20, 0)] }),
			want: [{ kind: "createEni", ipCount: 1, ipv6Count: 0, vswitchId: "vsw-1" }],
		},
		{
			name: "idle IPs cover the waiters: nothing to do",
			s: snap({ waiting: 3, enis: [eni("eni-1", 2, 3)] }),
			want: [],
		},
		{
			name: "in-flight assign counts: no second call",
			s: snap({
				waiting: 5,
				enis: [eni("eni-1", 2, 0)],
				pending: {
					assign: [{ eniId: "eni-1", count: 5, ipv6Count: 0 }],
					createEni: [],
					unassign: [],
					deleteEni: [],
				},
			}),
			want: [],
		},
		{
			name: "ENI with a call in flight gets no second one; the rest goes to a new ENI",
			s: snap({
				waiting: 12,
				enis: [eni("eni-1", 2, 0)],
				pending: {
					assign: [{ eniId: "eni-1", count: 10, ipv6Count: 0 }],
					createEni: [],
					unassign: [],
					deleteEni: [],
				},
			}),
			want: [{ kind: "createEni", ipCount: 2, ipv6Count: 0, vswitchId: "vsw-1" }],
		},
		{
			name: "in-flight create counts toward demand and ENI slots",
			s: snap({
				waiting: 10,
				config: cfg({ maxEni: 1 }),
				pending: {
					assign: [],
					createEni: [{ ipCount: 10, ipv6Count: 0, vswitchId: "vsw-1" }],
					unassign: [],
					deleteEni: [],
				},
			}),
			want: [],
		},
		{
			name: "IPs on an attaching ENI count as incoming",
			s: snap({ waiting: 3, enis: [eni("eni-1", 0, 3, { status: "attaching" })] }),
			want: [],
		},
		{
			name: "ENI limit reached: no create, exhausted with the unserved count",
			s: snap({ waiting: 2, enis: [eni("eni-1", 20, 0), eni("eni-2", 20, 0), eni("eni-3", 20, 0)] }),
			want: [{ kind: "exhausted", reason: "EniLimitReached", unserved: 2 }],
		},
		{
			name: "demand beyond capacity: fill what fits, report the rest",
			s: snap({ waiting: 25, config: cfg({ maxEni: 1 }), enis: [eni("eni-1", 5, 0)] }),
			want: [
				{ kind: "assign", eniId: "eni-1", count: 10, ipv6Count: 0 },
				{ kind: "exhausted", reason: "EniLimitReached", unserved: 10 },
			],
		},
		{
			name: "no vSwitch with IPs: exhausted NoVSwitch",
			s: snap({ waiting: 2, vswitches: [{ vswitchId: "vsw-1", availableIpCount: 0 }] }),
			want: [{ kind: "exhausted", reason: "NoVSwitch", unserved: 2 }],
		},
		{
			name: "the primary ENI is never used",
			s: snap({ waiting: 1, enis: [eni("eni-0", 0, 5, { primary: true })] }),
			want: [{ kind: "createEni", ipCount: 1, ipv6Count: 0, vswitchId: "vsw-1" }],
		},
		{
			name: "ERDMA ENIs do not serve ordinary pods",
			s: snap({ waiting: 1, config: cfg({ maxEni: 2 }), enis: [eni("eni-1", 0, 5, { erdma: true })] }),
			want: [{ kind: "createEni", ipCount: 1, ipv6Count: 0, vswitchId: "vsw-1" }],
		},
		{
			name: "reserved (sticky) idle IPs are not free",
			s: snap({
				waiting: 1,
				enis: [
					{
						...eni("eni-1", 1, 0),
						ips: [{ ip: "10.1.0.1", state: "idle", idleSinceMs: 0, podId: "ns/sts-0" }],
					},
				],
			}),
			want: [{ kind: "assign", eniId: "eni-1", count: 1, ipv6Count: 0 }],
		},
		{
			name: "least_ips fills the emptiest ENI first",
			s: snap({
				waiting: 3,
				config: cfg({ eniSelectionPolicy: "least_ips" }),
				enis: [eni("eni-1", 10, 0), eni("eni-2", 4, 0)],
			}),
			want: [{ kind: "assign", eniId: "eni-2", count: 3, ipv6Count: 0 }],
		},
		{
			name: "most_ips fills the fullest ENI first",
			s: snap({ waiting: 3, enis: [eni("eni-1", 4, 0), eni("eni-2", 10, 0)] }),
			want: [{ kind: "assign", eniId: "eni-2", count: 3, ipv6Count: 0 }],
		},
	];
	for (const c of cases) {
		test(c.name, () => {
			const got = planPool(c.s, rng0);
			expect(got).toEqual(c.want);
			expect(batchesOk(got)).toBe(true);
		});
	}

	test("the same snapshot gives the same plan", () => {
		const s = snap({
			waiting: 40,
			config: cfg({ vswitchPolicy: "random" }),
			vswitches: [
				{ vswitchId: "vsw-1", availableIpCount: 100 },
				{ vswitchId: "vsw-2", availableIpCount: 100 },
			],
		});
		let i = 0;
		const seq = [0.1, 0.9, 0.5, 0.7];
		const rngA = () => seq[i++ % seq.length] as number;
		const a = planPool(s, rngA);
		i = 0;
		expect(planPool(s, rngA)).toEqual(a);
	});

	test("createEni spreads over vSwitches under 'most' as availability drops", () => {
		const s = snap({
			waiting: 30,
			config: cfg({ vswitchPolicy: "most" }),
			vswitches: [
				{ vswitchId: "vsw-a", availableIpCount: 15 },
				{ vswitchId: "vsw-b", availableIpCount: 12 },
			],
		});
		expect(planPool(s, rng0).map((a) => (a.kind === "createEni" ? a.vswitchId : a.kind))).toEqual([
			"vsw-a",
			"vsw-b",
			"vsw-a",
		]);
	});

	test("warm-up adds IPs up to the target until completed, independent of min", () => {
		const s = snap({ config: cfg({ warmUpSize: 15 }), warmUpCompleted: false });
		expect(planPool(s, rng0)).toEqual([
			{ kind: "createEni", ipCount: 10, ipv6Count: 0, vswitchId: "vsw-1" },
			{ kind: "createEni", ipCount: 5, ipv6Count: 0, vswitchId: "vsw-1" },
		]);
		expect(planPool({ ...s, warmUpCompleted: true }, rng0)).toEqual([]);
		// held IPs count toward the target
		expect(planPool({ ...s, enis: [eni("eni-1", 2, 10)] }, rng0)).toEqual([
			{ kind: "assign", eniId: "eni-1", count: 3, ipv6Count: 0 },
		]);
	});

	test("demandForAlloc reports free, incoming, room and unserved", () => {
		const s = snap({
			waiting: 70,
			config: cfg({ min: 2 }),
			enis: [eni("eni-1", 5, 3), eni("eni-2", 0, 4, { status: "attaching" })],
			pending: {
				assign: [{ eniId: "eni-1", count: 2, ipv6Count: 0 }],
				createEni: [],
				unassign: [],
				deleteEni: [],
			},
		});
		// capacity 3×20 = 60; held 12; in flight 2 ⇒ room 46
		expect(demandForAlloc(s)).toEqual({ ipv4: 46, free: 3, incoming: 6, room: 46, unserved: 15 });
	});
});

describe("dual stack", () => {
	const dual = cfg({ dual: true, min: 0 });
	test("new ENI gets as many IPv6 as IPv4", () => {
		expect(planPool(snap({ config: dual, waiting: 4 }), rng0)).toEqual([
			{ kind: "createEni", ipCount: 4, ipv6Count: 4, vswitchId: "vsw-1" },
		]);
	});
	test("assign carries IPv6 alongside IPv4", () => {
		expect(
			planPool(snap({ config: dual, waiting: 3, enis: [eni("eni-1", 2, 0, { v6: true })] }), rng0),
		).toEqual([{ kind: "assign", eniId: "eni-1", count: 3, ipv6Count: 3 }]);
	});
	test("an ENI short of IPv6 is topped up even with no IPv4 demand", () => {
		const e = eni("eni-1", 2, 2);
		e.ips.push({ ip: "fd00:1::1", ipv6: true, state: "allocated", idleSinceMs: 0, podId: "ns/p-eni-1-0" });
		expect(planPool(snap({ config: dual, enis: [e] }), rng0)).toEqual([
			{ kind: "assign", eniId: "eni-1", count: 0, ipv6Count: 3 },
		]);
	});
	test("the loop serves every waiter a v4+v6 pair from one ENI", () => {
		const { s, served } = runToFixedPoint(snap({ config: dual, waiting: 25 }));
		expect(served).toBe(25);
		for (const e of s.enis) {
			expect(countIps([e], 6).total).toBe(countIps([e], 4).total);
		}
	});
	test("shrink removes IPv6 with the IPv4", () => {
		const s = snap({
			config: cfg({ dual: true, max: 2 }),
			enis: [eni("eni-1", 3, 4, { v6: true, ours: false })],
		});
		const got = planPool(s, rng0);
		expect(got).toEqual([
			{ kind: "unassign", eniId: "eni-1", ips: ["10.1.0.4", "10.1.0.5", "fd00:1::4", "fd00:1::5"] },
		]);
	});
});

describe("back-off", () => {
	test("vSwitch exhaustion: inhibit, block the vSwitch, SufficientIP=False, recover after 10 min", () => {
		const inhibit = inhibitOnError(
			"InvalidVSwitchId.IpNotEnough",
			{ nowMs: NOW, vswitchId: "vsw-1" },
			{
				blockedVSwitches: {},
			},
		);
		expect(inhibit.blockedVSwitches).toEqual({ "vsw-1": NOW + 10 * MIN });
		expect(sufficientIpCondition(inhibit, NOW).status).toBe("False");
		const s = snap({ waiting: 2, inhibit, enis: [eni("eni-1", 5, 0)] });
		expect(planPool(s, rng0)).toEqual([
			{ kind: "waitInhibited", untilMs: NOW + 10 * MIN, reason: "InsufficientVSwitchIP" },
		]);
		// still blocked one ms before the end
		expect(kinds(planPool({ ...s, nowMs: NOW + 10 * MIN - 1 }, rng0))).toEqual(["waitInhibited"]);
		// recovered at the end of the window
		const after = { ...s, nowMs: NOW + 10 * MIN };
		expect(planPool(after, rng0)).toEqual([{ kind: "assign", eniId: "eni-1", count: 2, ipv6Count: 0 }]);
		expect(sufficientIpCondition(inhibit, NOW + 10 * MIN).status).toBe("True");
	});
	test("a blocked vSwitch is skipped when another is usable", () => {
		const inhibit = inhibitOnError(
			"InvalidVSwitchId.IpNotEnough",
			{ nowMs: NOW, vswitchId: "vsw-1" },
			{
				blockedVSwitches: {},
			},
		);
		const s = snap({
			waiting: 2,
			inhibit,
			enis: [eni("eni-1", 20, 0)],
			vswitches: [
				{ vswitchId: "vsw-1", availableIpCount: 100 },
				{ vswitchId: "vsw-2", availableIpCount: 5 },
			],
		});
		expect(planPool(s, rng0)).toEqual([{ kind: "createEni", ipCount: 2, ipv6Count: 0, vswitchId: "vsw-2" }]);
	});
	test("ENIs in a blocked vSwitch get no assign; a new ENI goes elsewhere", () => {
		const inhibit = inhibitOnError(
			"InvalidVSwitchId.IpNotEnough",
			{ nowMs: NOW, vswitchId: "vsw-1" },
			{
				blockedVSwitches: {},
			},
		);
		const s = snap({
			waiting: 2,
			inhibit,
			enis: [eni("eni-1", 5, 0)],
			vswitches: [
				{ vswitchId: "vsw-1", availableIpCount: 100 },
				{ vswitchId: "vsw-2", availableIpCount: 50 },
			],
		});
		expect(planPool(s, rng0)).toEqual([
			{ kind: "createEni", ipCount: 2, ipv6Count: 0, vswitchId: "vsw-2" },
			{ kind: "waitInhibited", untilMs: NOW + 10 * MIN, reason: "InsufficientVSwitchIP" },
		]);
	});
	test("IP quota: all allocation paused 10 min", () => {
		const inhibit = inhibitOnError(
			"QuotaExceeded.PrivateIpAddress",
			{ nowMs: NOW },
			{ blockedVSwitches: {} },
		);
		const s = snap({ waiting: 1, inhibit, enis: [eni("eni-1", 5, 0)] });
		expect(planPool(s, rng0)).toEqual([
			{ kind: "waitInhibited", untilMs: NOW + 10 * MIN, reason: "QuotaExceeded" },
		]);
		expect(kinds(planPool({ ...s, nowMs: NOW + 10 * MIN }, rng0))).toEqual(["assign"]);
	});
	test("ENI-per-instance limit: no create for 1 min, assigns continue", () => {
		const inhibit = inhibitOnError("EniPerInstanceLimitExceeded", { nowMs: NOW }, { blockedVSwitches: {} });
		const s = snap({ waiting: 20, inhibit, enis: [eni("eni-1", 15, 0)] });
		expect(planPool(s, rng0)).toEqual([
			{ kind: "assign", eniId: "eni-1", count: 5, ipv6Count: 0 },
			{ kind: "waitInhibited", untilMs: NOW + MIN, reason: "EniPerInstanceLimitExceeded" },
		]);
		// after the minute: 5 on eni-1, the other 15 on two new ENIs (10 + 5)
		expect(kinds(planPool({ ...s, nowMs: NOW + MIN }, rng0))).toEqual(["assign", "createEni", "createEni"]);
	});
	test("an idle-only pool under back-off still shrinks", () => {
		const inhibit = inhibitOnError(
			"QuotaExceeded.PrivateIpAddress",
			{ nowMs: NOW },
			{ blockedVSwitches: {} },
		);
		const s = snap({ inhibit, config: cfg({ max: 1 }), enis: [eni("eni-1", 1, 3, { ours: false })] });
		expect(planPool(s, rng0)).toEqual([{ kind: "unassign", eniId: "eni-1", ips: ["10.1.0.2", "10.1.0.3"] }]);
	});
});

describe("shrink", () => {
	test("idle above max is released now, longest idle first, never the primary", () => {
		const e = eni("eni-1", 0, 15, { ours: false });
		e.ips.forEach((ip, i) => {
			ip.idleSinceMs = 100 - i; // later IPs idle longer
		});
		const got = planPool(snap({ config: cfg({ max: 10 }), enis: [e] }), rng0);
		expect(got).toEqual([
			{
				kind: "unassign",
				eniId: "eni-1",
				ips: ["10.1.0.15", "10.1.0.14", "10.1.0.13", "10.1.0.12", "10.1.0.11"],
			},
		]);
	});
	test("idle reclaim waits until the pool is quiet, then releases a batch, never below min", () => {
		const base = snap({
			config: cfg({ min: 2, max: 10, idleReclaimAfterMs: 5 * MIN, idleReclaimBatchSize: 5 }),
			lastModifiedMs: NOW,
		});
		expect(shrinkCount({ ...base, nowMs: NOW + 4 * MIN }, 15)).toBe(5); // only the excess over max
		expect(shrinkCount({ ...base, nowMs: NOW + 5 * MIN }, 15)).toBe(10); // excess + one batch
		expect(shrinkCount({ ...base, nowMs: NOW + 5 * MIN }, 5)).toBe(3); // down to min
		expect(shrinkCount({ ...base, nowMs: NOW + 5 * MIN }, 2)).toBe(0); // at min
		expect(shrinkCount({ ...base, nowMs: NOW + 5 * MIN, nextReclaimAtMs: NOW + 6 * MIN }, 8)).toBe(0); // not yet
		expect(
			shrinkCount(
				{ ...base, config: { ...base.config, idleReclaimAfterMs: undefined }, nowMs: NOW + 60 * MIN },
				8,
			),
		).toBe(0);
	});
	test("reclaim runs to min over repeated rounds and stops there", () => {
		const { s } = runToFixedPoint(
			snap({
				config: cfg({ min: 3, max: 10, idleReclaimAfterMs: MIN, idleReclaimBatchSize: 2 }),
				enis: [eni("eni-1", 4, 16, { ours: false })],
				lastModifiedMs: NOW - 2 * MIN,
			}),
		);
		expect(countIps(s.enis).idle).toBe(3);
		expect(countIps(s.enis).allocated).toBe(4);
	});
	test("whole idle ENIs go first (smallest first), then single IPs from the least-used ENI", () => {
		const s = snap({
			config: cfg({ max: 2 }),
			enis: [eni("eni-1", 10, 5), eni("eni-2", 0, 3), eni("eni-3", 0, 4)],
		});
		// idle 12, toDel 10: eni-2 (3) and eni-3 (4) whole, then 3 IPs from eni-1
		expect(planPool(s, rng0)).toEqual([
			{ kind: "deleteEni", eniId: "eni-2" },
			{ kind: "deleteEni", eniId: "eni-3" },
			{ kind: "unassign", eniId: "eni-1", ips: ["10.1.0.11", "10.1.0.12", "10.1.0.13"] },
		]);
	});
	test("not ours, trunk or partly used ENIs are never deleted whole", () => {
		const s = snap({
			config: cfg({ max: 0, maxEni: 4 }),
			enis: [eni("eni-1", 0, 2, { ours: false }), eni("eni-2", 0, 2, { trunk: true }), eni("eni-3", 1, 1)],
		});
		expect(kinds(planPool(s, rng0))).not.toContain("deleteEni");
		// only non-primary IPs go: one each from eni-1 and eni-2; eni-3's idle one is its 2nd
		expect(planPool(s, rng0)).toEqual([
			{ kind: "unassign", eniId: "eni-1", ips: ["10.1.0.2"] },
			{ kind: "unassign", eniId: "eni-2", ips: ["10.2.0.2"] },
			{ kind: "unassign", eniId: "eni-3", ips: ["10.3.0.2"] },
		]);
	});
	test("sticky reserved idle IPs stay", () => {
		const e = eni("eni-1", 1, 2, { ours: false });
		(e.ips[2] as { podId?: string }).podId = "ns/sts-0";
		expect(planPool(snap({ enis: [e] }), rng0)).toEqual([
			{ kind: "unassign", eniId: "eni-1", ips: ["10.1.0.2"] },
		]);
	});
	test("no shrink while pods wait or calls are in flight", () => {
		const enis = [eni("eni-1", 1, 5, { ours: false })];
		expect(planPool(snap({ enis, config: cfg({ max: 5 }), waiting: 1 }), rng0)).toEqual([]);
		expect(
			planPool(
				snap({
					enis,
					pending: {
						assign: [],
						createEni: [{ ipCount: 1, ipv6Count: 0, vswitchId: "vsw-1" }],
						unassign: [],
						deleteEni: [],
					},
				}),
				rng0,
			),
		).toEqual([]);
	});
	test("leftovers: deleting ENIs are deleted, releasing IPs unassigned in batches of 10", () => {
		const rel = eni("eni-1", 0, 25, { ours: false });
		for (const ip of rel.ips) if (!ip.primary) ip.state = "releasing";
		const s = snap({ config: cfg({ maxEni: 5 }), enis: [rel, eni("eni-2", 0, 2, { status: "deleting" })] });
		const got = planPool(s, rng0);
		expect(got[0]).toEqual({
			kind: "unassign",
			eniId: "eni-1",
			ips: Array.from({ length: 10 }, (_, i) => `10.1.0.${i + 2}`),
		});
		expect(got[1]).toEqual({ kind: "deleteEni", eniId: "eni-2" });
		// a pending unassign on the ENI holds back the next batch
		expect(
			planPool(
				{
					...s,
					pending: { ...s.pending, unassign: [{ eniId: "eni-1", ips: ["10.1.0.2"] }], deleteEni: ["eni-2"] },
				},
				rng0,
			),
		).toEqual([]);
	});
});

describe("100 concurrent allocations on a cold node", () => {
	const shapes = [
		{ adapters: 11, ipv4PerAdapter: 10, ipv6PerAdapter: 0 },
		{ adapters: 6, ipv4PerAdapter: 20, ipv6PerAdapter: 20 },
		{ adapters: 3, ipv4PerAdapter: 50, ipv6PerAdapter: 50 },
	];
	for (const limits of shapes) {
		for (const dual of [false, true]) {
			if (dual && limits.ipv6PerAdapter === 0) continue;
			test(`${limits.adapters} adapters × ${limits.ipv4PerAdapter} IPs${dual ? ", dual" : ""}`, () => {
				const { log, served, s } = runToFixedPoint(
					snap({ limits, config: cfg({ maxEni: limits.adapters - 1, dual }), waiting: 100 }),
				);
				expect(served).toBe(100);
				const enis = log.filter((a) => a.kind === "createEni").length;
				const calls = log.filter((a) => a.kind === "assign" || a.kind === "createEni").length;
				expect(calls).toBeLessThanOrEqual(Math.ceil(100 / 10) + enis);
				expect(batchesOk(log)).toBe(true);
				expect(countIps(s.enis).total).toBe(100);
			});
		}
	}
	test("the first decision already covers every waiter it can", () => {
		const got = planPool(snap({ limits: LIMITS, config: cfg({ maxEni: 3 }), waiting: 100 }), rng0);
		// 3 slots × 10 per create; the rest is exhausted beyond capacity 60
		expect(got).toEqual([
			{ kind: "createEni", ipCount: 10, ipv6Count: 0, vswitchId: "vsw-1" },
			{ kind: "createEni", ipCount: 10, ipv6Count: 0, vswitchId: "vsw-1" },
			{ kind: "createEni", ipCount: 10, ipv6Count: 0, vswitchId: "vsw-1" },
			{ kind: "exhausted", reason: "EniLimitReached", unserved: 40 },
		]);
	});
});

describe("unmanaged ENIs", () => {
	const foreign = eni("eni-9", 0, 5, { unmanaged: true, ours: false, status: "deleting" });
	const attached = eni("eni-8", 0, 5, { unmanaged: true, ours: false });
	test("take an adapter slot, give no IPs, are never touched", () => {
		const s = snap({ waiting: 1, config: cfg({ maxEni: 1 }), enis: [attached] });
		expect(planPool(s, rng0)).toEqual([{ kind: "exhausted", reason: "EniLimitReached", unserved: 1 }]);
		expect(planPool(snap({ config: cfg({ maxEni: 2 }), enis: [attached, foreign] }), rng0)).toEqual([]);
		expect(countIps([attached]).total).toBe(0);
	});
});
