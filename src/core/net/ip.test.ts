import { describe, expect, test } from "bun:test";
import {
	bytesEqual,
	formatCIDR,
	formatIP,
	formatIPv6,
	formatMAC,
	networkOf,
	parseCIDR,
	parseIP,
	parseIPv4,
	parseIPv6,
	parseMAC,
	prefixContains,
} from "./ip.ts";

describe("IPv4", () => {
	test("parses and formats", () => {
		expect(Array.from(parseIPv4("198.18.0.1"))).toEqual([198, 18, 0, 1]);
		expect(formatIP(parseIPv4("0.0.0.0"))).toBe("0.0.0.0");
		expect(formatIP(parseIPv4("255.255.255.255"))).toBe("255.255.255.255");
	});
	test.each([
		"",
		"1.2.3",
		"1.2.3.4.5",
		"256.1.1.1",
		"01.2.3.4",
		"1.2.3.-1",
		"a.b.c.d",
		" 1.2.3.4",
		"1.2.3.4/24",
	])("rejects %p naming the value", (bad) => {
		expect(() => parseIP(bad)).toThrow(bad === "" ? "invalid IP address" : JSON.stringify(bad));
	});
});

describe("IPv6", () => {
	test.each([
		["::", "::"],
		["::1", "::1"],
		["fd00::1", "fd00::1"],
		["FD00:0:0:0:0:0:0:1", "fd00::1"],
		["fe80::", "fe80::"],
		["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
		["2001:0db8:0000:0000:0000:ff00:0042:8329", "2001:db8::ff00:42:8329"],
		["1:0:1:1:1:1:1:1", "1:0:1:1:1:1:1:1"],
		["::ffff:198.18.0.1", "::ffff:c612:1"],
		["1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"],
		["fdf0:0:0:1::10", "fdf0:0:0:1::10"],
	])("%s -> %s (RFC 5952)", (input, canonical) => {
		expect(formatIPv6(parseIPv6(input))).toBe(canonical);
	});
	test.each([
		":::",
		"1::2::3",
		"1:2:3:4:5:6:7",
		"1:2:3:4:5:6:7:8:9",
		"1:2:3:4:5:6:7::8",
		"12345::",
		"g::1",
		"fe80::1%eth0",
		"1.2.3.4::",
		"::1.2.3",
	])("rejects %p", (bad) => {
		expect(() => parseIP(bad)).toThrow(JSON.stringify(bad));
	});
});

describe("CIDR", () => {
	test("keeps host bits, networkOf clears them", () => {
		const p = parseCIDR("198.18.0.5/24");
		expect(formatCIDR(p)).toBe("198.18.0.5/24");
		expect(formatCIDR(networkOf(p))).toBe("198.18.0.0/24");
		expect(formatCIDR(networkOf(parseCIDR("fd00::f001:2/100")))).toBe("fd00::f000:0/100");
		expect(formatCIDR(networkOf(parseCIDR("0.0.0.0/0")))).toBe("0.0.0.0/0");
	});
	test("bare address only when allowed", () => {
		expect(() => parseCIDR("198.18.0.1")).toThrow('invalid CIDR "198.18.0.1": missing "/prefix-length"');
		expect(parseCIDR("198.18.0.1", { allowBare: true }).prefixlen).toBe(32);
		expect(parseCIDR("fd00::1", { allowBare: true }).prefixlen).toBe(128);
	});
	test.each(["198.18.0.0/33", "fd00::/129", "1.2.3.4/", "1.2.3.4/-1", "1.2.3.4/08", "1.2.3.4/2x", "x/24"])(
		"rejects %p",
		(bad) => {
			expect(() => parseCIDR(bad)).toThrow(/invalid/);
		},
	);
	test("contains", () => {
		expect(prefixContains(parseCIDR("198.18.0.0/15"), parseIP("198.19.255.1"))).toBe(true);
		expect(prefixContains(parseCIDR("198.18.0.0/15"), parseIP("198.20.0.1"))).toBe(false);
		expect(prefixContains(parseCIDR("fd00::/8"), parseIP("fd12::1"))).toBe(true);
		expect(prefixContains(parseCIDR("fd00::/8"), parseIP("198.18.0.1"))).toBe(false);
	});
});

describe("MAC", () => {
	test("round trip, lowercase", () => {
		expect(formatMAC(parseMAC("02:F0:00:00:00:10"))).toBe("02:f0:00:00:00:10");
		expect(bytesEqual(parseMAC("02:00:00:00:00:01"), Uint8Array.of(2, 0, 0, 0, 0, 1))).toBe(true);
	});
	test.each([
		"",
		"02:00:00:00:00",
		"02:00:00:00:00:00:00",
		"02-00-00-00-00-01",
		"0g:00:00:00:00:01",
		"2:0:0:0:0:1",
	])("rejects %p", (bad) => {
		expect(() => parseMAC(bad)).toThrow(`invalid MAC address ${JSON.stringify(bad)}`);
	});
});
