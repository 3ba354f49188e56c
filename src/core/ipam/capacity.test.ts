import { describe, expect, test } from "bun:test";
import { parseEniConf } from "../config/eni-config.ts";
import {
	capacity,
	dualStackUsable,
	isWarmUpComplete,
	maxEniFor,
	nextReclaimAt,
	poolConfigFrom,
} from "./capacity.ts";

const L = { adapters: 4, ipv4PerAdapter: 15, ipv6PerAdapter: 15 };
const conf = (o: object) => parseEniConf(o).config;

describe("capacity math", () => {
	test("shared = (adapters − 1) × ipv4PerAdapter; exclusive = adapters − 1", () => {
		expect(capacity(L, "shared")).toBe(45);
		expect(capacity(L, "exclusive")).toBe(3);
		expect(capacity({ adapters: 32, ipv4PerAdapter: 15, ipv6PerAdapter: 1 }, "shared")).toBe(465);
		expect(capacity({ adapters: 1, ipv4PerAdapter: 10, ipv6PerAdapter: 0 }, "shared")).toBe(0);
	});
	const cases: [string, Parameters<typeof maxEniFor>[1], number][] = [
		["defaults", { eniCapRatio: 1, eniCapShift: 0, maxEni: 0 }, 3],
		["ratio 0.5 floors", { eniCapRatio: 0.5, eniCapShift: 0, maxEni: 0 }, 1],
		["shift +2", { eniCapRatio: 1, eniCapShift: 2, maxEni: 0 }, 5],
		["max_eni caps", { eniCapRatio: 1, eniCapShift: 0, maxEni: 2 }, 2],
		["never negative", { eniCapRatio: 1, eniCapShift: -9, maxEni: 0 }, 0],
	];
	for (const [name, cfg, want] of cases)
		test(`maxEniFor: ${name}`, () => expect(maxEniFor(L, cfg)).toBe(want));

	test("dual stack needs v6 == v4 per adapter and > 0", () => {
		expect(dualStackUsable(L)).toBe(true);
		expect(dualStackUsable({ ...L, ipv6PerAdapter: 0 })).toBe(false);
		expect(dualStackUsable({ ...L, ipv6PerAdapter: 1 })).toBe(false);
	});
});

describe("poolConfigFrom", () => {
	test("passes sizes and policies through", () => {
		const d = poolConfigFrom(
			conf({
				max_pool_size: 10,
				min_pool_size: 2,
				vswitch_selection_policy: "ordered",
				eni_selection_policy: "least_ips",
				idle_ip_reclaim_after: "5m",
				idle_ip_reclaim_batch_size: 3,
				ip_warm_up_size: 7,
			}),
			L,
		);
		expect(d).toEqual({
			config: {
				min: 2,
				max: 10,
				dual: false,
				maxEni: 3,
				eniSelectionPolicy: "least_ips",
				vswitchPolicy: "most",
				idleReclaimAfterMs: 300_000,
				idleReclaimBatchSize: 3,
				warmUpSize: 7,
			},
			capacity: 45,
			maxEni: 3,
			warnings: [],
		});
	});
	test("max clipped to capacity, min follows", () => {
		const d = poolConfigFrom(conf({ max_pool_size: 100, min_pool_size: 50 }), L);
		expect([d.config.min, d.config.max]).toEqual([45, 45]);
		expect(d.warnings).toEqual([
			"max_pool_size 100 clipped to the node's capacity 45",
			"min_pool_size 50 clipped to max_pool_size 45",
		]);
	});
	test("min_eni replaces min_pool_size (min_eni × ipPerENI), clipped to max", () => {
		expect(poolConfigFrom(conf({ max_pool_size: 40, min_eni: 2 }), L).config.min).toBe(30);
		expect(poolConfigFrom(conf({ max_pool_size: 20, min_eni: 2 }), L).config.min).toBe(20);
	});
	test("max_eni and cap ratio shrink capacity", () => {
		const d = poolConfigFrom(conf({ max_pool_size: 40, max_eni: 1 }), L);
		expect([d.maxEni, d.capacity, d.config.max]).toEqual([1, 15, 15]);
	});
	test("exclusive mode keeps no pool", () => {
		const d = poolConfigFrom(
			conf({ max_pool_size: 5, min_pool_size: 1, ip_warm_up_size: 3 }),
			L,
			"exclusive",
		);
		expect([d.config.min, d.config.max, d.config.warmUpSize, d.capacity]).toEqual([0, 0, 0, 3]);
	});
	test("dual stack falls back to IPv4 with a warning when the instance cannot", () => {
		expect(poolConfigFrom(conf({ ip_stack: "dual" }), L).config.dual).toBe(true);
		const d = poolConfigFrom(conf({ ip_stack: "dual" }), { ...L, ipv6PerAdapter: 1 });
		expect(d.config.dual).toBe(false);
		expect(d.warnings).toEqual([
			"ip_stack dual disabled: the instance has 1 IPv6 per ENI and 15 IPv4 per ENI (needs equal, > 0)",
		]);
	});
	test("warm-up target clipped to capacity", () => {
		expect(poolConfigFrom(conf({ ip_warm_up_size: 100 }), L).config.warmUpSize).toBe(45);
	});
});

describe("warm-up and reclaim timing", () => {
	test("warm-up completes once the node held the target", () => {
		expect(isWarmUpComplete(10, 9)).toBe(false);
		expect(isWarmUpComplete(10, 10)).toBe(true);
		expect(isWarmUpComplete(0, 0)).toBe(true);
	});
	test("next reclaim = now + interval × (1 + jitter × rng)", () => {
		expect(nextReclaimAt(1000, 600_000, 0.1, () => 0)).toBe(601_000);
		expect(nextReclaimAt(1000, 600_000, 0.1, () => 0.5)).toBe(631_000);
	});
});
