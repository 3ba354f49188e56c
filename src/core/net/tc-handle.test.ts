import { describe, expect, test } from "bun:test";
import {
	formatTcHandle,
	parseTcHandle,
	TC_H_CLSACT,
	TC_H_ROOT,
	tcHandle,
	tcMajor,
	tcMinor,
} from "./tc-handle.ts";
import { InvalidValueError } from "./value-error.ts";

describe("parseTcHandle", () => {
	test.each([
		["1:", 0x0001_0000],
		["1:0", 0x0001_0000],
		["1:10", 0x0001_0010],
		[":10", 0x0000_0010],
		["ffff:", 0xffff_0000],
		["FFFF:FFF1", 0xffff_fff1],
		["ffff:fff1", TC_H_CLSACT],
		["root", TC_H_ROOT],
		["ingress", 0xffff_fff1],
		["clsact", 0xffff_fff1],
		["none", 0],
		["0:", 0],
	])("%s -> %d", (s, want) => {
		expect(parseTcHandle(s)).toBe(want);
	});

	test.each(["", "1", "10", ":", "1:2:3", "10000:", "1:10000", "g:", "1:x", "-1:", " :1 2", "0x1:"])(
		"rejects %p with InvalidValueError naming it",
		(s) => {
			let err: unknown;
			try {
				parseTcHandle(s);
			} catch (e) {
				err = e;
			}
			expect(err).toBeInstanceOf(InvalidValueError);
			expect((err as Error).message).toContain(JSON.stringify(s));
		},
	);
});

describe("formatTcHandle", () => {
	test.each([
		[0x0001_0000, "1:"],
		[0x0001_0010, "1:10"],
		[0x0000_0010, ":10"],
		[0xffff_0000, "ffff:"],
		[0xffff_fff1, "ffff:fff1"],
		[TC_H_ROOT, "root"],
		[0, "0:"],
	])("%d -> %s", (h, want) => {
		expect(formatTcHandle(h)).toBe(want);
	});

	test("round-trips every formatted handle", () => {
		for (const h of [0x10000, 0x10010, 0x10, 0xffff0000, 0xfffffff1, 0xabcd1234, TC_H_ROOT, 0]) {
			expect(parseTcHandle(formatTcHandle(h))).toBe(h);
		}
	});
});

test("tcHandle / tcMajor / tcMinor", () => {
	expect(tcHandle(1, 0x10)).toBe(0x10010);
	expect(tcHandle(0xffff, 0)).toBe(0xffff0000);
	expect(tcMajor(0xffff0010)).toBe(0xffff);
	expect(tcMinor(0xffff0010)).toBe(0x10);
	expect(() => tcHandle(0x10000)).toThrow(InvalidValueError);
	expect(() => tcHandle(1, -1)).toThrow(InvalidValueError);
});
