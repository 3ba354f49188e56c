import { describe, expect, test } from "bun:test";
import { formatBandwidth, parseBandwidth, tbfLimitForLatency } from "./bandwidth.ts";
import { InvalidValueError } from "./value-error.ts";

describe("parseBandwidth", () => {
	test.each([
		["1M", 1_000_000],
		["10M", 10_000_000],
		["500k", 500_000],
		["1G", 1_000_000_000],
		["1Mi", 1_048_576],
		["1Ki", 1024],
		["1.5M", 1_500_000],
		[".5M", 500_000],
		["2.M", 2_000_000],
		["1000", 1000],
		["+1M", 1_000_000],
		["1e6", 1_000_000],
		["1E6", 1_000_000],
		["1P", 1e15],
		["1000000m", 1000], // milli-bits: 1e6 m = 1000 bits
		["1000.0001", 1001], // rounds up, like Quantity.Value()
	])("%s -> %d bits/s", (s, want) => {
		expect(parseBandwidth(s)).toBe(want);
	});

	test.each(["", "M", "10 M", " 10M", "10MB", "10mbit", "1.2.3M", "0x10", "1Mi1", "abc", "1e", "--1M"])(
		"rejects %p, naming the value",
		(s) => {
			let err: unknown;
			try {
				parseBandwidth(s);
			} catch (e) {
				err = e;
			}
			expect(err).toBeInstanceOf(InvalidValueError);
			expect((err as Error).message).toContain(JSON.stringify(s));
		},
	);

	test("rejects negative, too small and too large values", () => {
		expect(() => parseBandwidth("-1M")).toThrow(/"-1M".*negative/);
		expect(() => parseBandwidth("999")).toThrow(/unreasonably small/);
		expect(() => parseBandwidth("0")).toThrow(/unreasonably small/);
		expect(() => parseBandwidth("2P")).toThrow(/unreasonably large/);
		expect(() => parseBandwidth("1E")).toThrow(/unreasonably large/);
		expect(() => parseBandwidth("1e99")).toThrow(/exponent out of range/);
	});
});

test("formatBandwidth", () => {
	expect(formatBandwidth(1_000_000)).toBe("1Mbit");
	expect(formatBandwidth(500_000)).toBe("500Kbit");
	expect(formatBandwidth(2_000_000_000)).toBe("2Gbit");
	expect(formatBandwidth(1500)).toBe("1500bit");
});

test("tbfLimitForLatency matches tc's rate*latency+burst", () => {
	// 1mbit = 125000 B/s, 50 ms -> 6250 B of queue + 32 KiB burst
	expect(tbfLimitForLatency(125_000, 32_768, 50)).toBe(6250 + 32_768);
	expect(tbfLimitForLatency(125_000, 1500, 0)).toBe(1500);
});
