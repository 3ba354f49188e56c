import { afterEach, describe, expect, test } from "bun:test";
import type { PoolSummary, StatusResponse } from "../../src/daemon/api-types.ts";
import { type Harness, startDaemon } from "./harness.ts";

let h: Harness | undefined;
afterEach(async () => {
	await h?.stop();
	h = undefined;
});

describe("terwayd against the loopback sim", () => {
	test("cold start fills the pool to min_pool_size", async () => {
		h = await startDaemon({ eniConf: { min_pool_size: 3, max_pool_size: 5 } });
		const st = await h.call<StatusResponse>("GET", "/v1/status");
		expect(st.status).toBe(200);
		expect(st.body.phase).toBe("ready");
		expect(st.body.pool.idle).toBeGreaterThanOrEqual(3);
		expect(st.body.pool.idle).toBeLessThanOrEqual(10);
		expect(st.body.pool.enis).toBe(1);
	});
});

describe("allocation", () => {
	test("100 concurrent allocs on a cold node all succeed with ≤ ceil(100/10)+ENIs Assign+Create calls", async () => {
		h = await startDaemon({ eniConf: { min_pool_size: 0, max_pool_size: 0 } });
		const hh = h;
		const res = await Promise.all(Array.from({ length: 100 }, (_, i) => hh.alloc(`p${i}`)));
		const bad = res.filter((r) => r.status !== 200);
		expect(bad).toEqual([]);
		const ips = new Set(res.map((r) => r.body.ipv4?.ip));
		expect(ips.size).toBe(100);
		const enis = hh.store.enis().length;
		const calls = hh.calls("AssignPrivateIpAddresses") + hh.calls("CreateNetworkInterface");
		console.log(
			`100 allocs: ${hh.calls("AssignPrivateIpAddresses")} Assign + ${hh.calls("CreateNetworkInterface")} Create, ${enis} ENIs`,
		);
		expect(calls).toBeLessThanOrEqual(Math.ceil(100 / 10) + enis);
		expect(hh.store.checkInvariants()).toEqual([]);
		// idempotent per pod + containerId
		const again = await hh.alloc("p7");
		expect(again.body.existing).toBe(true);
		expect(again.body.ipv4?.ip).toBe(res[7]?.body.ipv4?.ip);
	}, 60_000);

	test("release + idle reclaim shrink the pool to max_pool_size", async () => {
		h = await startDaemon({ eniConf: { min_pool_size: 2, max_pool_size: 4 } });
		const hh = h;
		const res = await Promise.all(Array.from({ length: 20 }, (_, i) => hh.alloc(`r${i}`)));
		expect(res.every((r) => r.status === 200)).toBe(true);
		for (let i = 0; i < 20; i++) {
			const r = await hh.call("POST", "/v1/release", { pod: { namespace: "default", name: `r${i}` } });
			expect(r.body.released).toBe(true);
		}
		const deadline = Date.now() + 15_000;
		let idle = 99;
		while (Date.now() < deadline) {
			await hh.daemon.pool.idle();
			idle = (await hh.call<{ pool: PoolSummary }>("GET", "/v1/pool")).body.pool.idle;
			if (idle <= 4) break;
			await Bun.sleep(50);
		}
		expect(idle).toBeLessThanOrEqual(4);
		expect(idle).toBeGreaterThanOrEqual(2);
		expect(hh.calls("UnassignPrivateIpAddresses") + hh.calls("DeleteNetworkInterface")).toBeGreaterThan(0);
		expect(hh.store.checkInvariants()).toEqual([]);
	}, 60_000);

	test("30% Throttling/InternalError faults: every alloc eventually succeeds", async () => {
		h = await startDaemon({ eniConf: { min_pool_size: 0, max_pool_size: 5 } });
		const hh = h;
		hh.sim.faults.add({ match: { face: "openapi", probability: 0.15 }, effect: { kind: "throttle" } });
		hh.sim.faults.add({
			match: { face: "openapi", probability: 0.15 },
			effect: { kind: "error", code: "InternalError", status: 500 },
		});
		const res = await Promise.all(Array.from({ length: 40 }, (_, i) => hh.alloc(`f${i}`)));
		expect(res.filter((r) => r.status !== 200).map((r) => r.body)).toEqual([]);
		expect(new Set(res.map((r) => r.body.ipv4?.ip)).size).toBe(40);
		expect(hh.store.checkInvariants()).toEqual([]);
	}, 60_000);

	test("metadata lag is waited out", async () => {
		h = await startDaemon({
			mutate: (s) => {
				s.metadataLagMs = 400;
			},
			eniConf: { min_pool_size: 0 },
		});
		const r = await h.alloc("lag");
		expect(r.status).toBe(200);
		const md = await fetch(
			`${h.sim.metadataUrl}/latest/meta-data/network/interfaces/macs/${r.body.eni.mac}/private-ipv4s`,
		);
		expect(await md.text()).toContain(String(r.body.ipv4?.ip));
	}, 30_000);

	test("dual stack: every pod gets an IPv4 and an IPv6 from the same ENI", async () => {
		h = await startDaemon({ eniConf: { ip_stack: "dual", min_pool_size: 0 } });
		const hh = h;
		const res = await Promise.all(Array.from({ length: 12 }, (_, i) => hh.alloc(`d${i}`)));
		expect(res.every((r) => r.status === 200)).toBe(true);
		for (const r of res) {
			expect(r.body.ipv6?.ip).toContain(":");
			expect(hh.store.ip(String(r.body.ipv6?.ip))?.eniId).toBe(r.body.eni.id);
		}
		expect(hh.calls("AssignIpv6Addresses") + hh.calls("CreateNetworkInterface")).toBeGreaterThan(0);
	}, 30_000);
});

describe("exhaustion and limits", () => {
	test("IP exhaustion → clear 507 with the reason, inhibit, recovery when IPs return", async () => {
		h = await startDaemon({ eniConf: { min_pool_size: 0, max_pool_size: 0 }, allocWaitMs: 3000 });
		const hh = h;
		const rule = hh.sim.faults.add({
			match: { face: "openapi", action: "CreateNetworkInterface" },
			effect: { kind: "ipExhausted" },
		});
		const r = await hh.alloc("x1");
		expect(r.status).toBe(507);
		expect(r.body.error?.code).toBe("IPExhausted");
		expect(r.body.error?.message).toContain("IpNotEnough");
		const st = await hh.call<StatusResponse>("GET", "/v1/status");
		expect(st.body.inhibit?.reason).toContain("IpNotEnough");
		expect(hh.store.allocations()).toEqual([]);
		// IPs come back: the fault goes and the block expires
		hh.sim.faults.remove(rule.id);
		hh.daemon.pool.clearInhibit();
		const ok = await hh.alloc("x1");
		expect(ok.status).toBe(200);
	}, 30_000);

	test("ENI limit reached → clear 507 EniLimitReached", async () => {
		h = await startDaemon({
			mutate: (s) => {
				s.nodes.instanceType = "ecs.g7.large";
			},
			eniConf: { min_pool_size: 0, max_pool_size: 0 },
			allocWaitMs: 5000,
		});
		const hh = h;
		const res = await Promise.all(Array.from({ length: 14 }, (_, i) => hh.alloc(`l${i}`)));
		const ok = res.filter((r) => r.status === 200);
		const refused = res.filter((r) => r.status === 507);
		expect(ok.length).toBe(12); // (3-1) ENIs × 6 IPs
		expect(refused.length).toBe(2);
		expect(refused[0]?.body.error?.message).toContain("EniLimitReached");
	}, 30_000);
});
