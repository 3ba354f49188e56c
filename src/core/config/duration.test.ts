import { describe, expect, test } from "bun:test";
import { formatDuration, parseGoDuration } from "./duration.ts";
import { editDistance, suggestKey } from "./suggest.ts";

describe("parseGoDuration (Go time.ParseDuration syntax)", () => {
	const ok: [string, number][] = [
		["0", 0],
		["30s", 30_000],
		["10m", 600_000],
		["1h30m", 5_400_000],
		["1.5h", 5_400_000],
		["250ms", 250],
		["1500us", 1.5],
		["2µs", 0.002],
		["1000000ns", 1],
		["+5s", 5000],
		["-1m", -60_000],
		[".5s", 500],
		["1h0m0s", 3_600_000],
	];
	for (const [s, ms] of ok) test(s, () => expect(parseGoDuration(s)).toBe(ms));
	for (const s of ["", "30", "1d", "m", "1 h", "1h 30m", "abc", "1.2.3s", "-"]) {
		test(`rejects ${JSON.stringify(s)}`, () => expect(parseGoDuration(s)).toBeUndefined());
	}
	test("formatDuration", () => {
		expect([0, 250, 30_000, 600_000, 5_400_000, 3_661_000].map(formatDuration)).toEqual([
			"0s",
			"250ms",
			"30s",
			"10m",
			"1h30m",
			"1h1m1s",
		]);
	});
});

describe("suggestKey", () => {
	const known = ["max_pool_size", "min_pool_size", "vswitches", "security_groups"];
	test("edit distance", () => {
		expect(editDistance("kitten", "sitting")).toBe(3);
		expect(editDistance("", "abc")).toBe(3);
		expect(editDistance("same", "same")).toBe(0);
	});
	test("near misses", () => {
		expect(suggestKey("max_pool_sise", known)).toBe("max_pool_size");
		expect(suggestKey("MAX-POOL-SIZE", known)).toBe("max_pool_size");
		expect(suggestKey("vswitch", known)).toBe("vswitches");
	});
	test("ties pick the alphabetically first", () => {
		expect(suggestKey("mxx_pool_size", known)).toBe("max_pool_size");
	});
	test("nothing close", () => {
		expect(suggestKey("kubeconfig", known)).toBeUndefined();
		expect(suggestKey("x", known)).toBeUndefined();
	});
});
