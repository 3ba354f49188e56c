/**
 * portRangePrefixes exhaustively on small ranges and at the edges of the port space: the
 * prefixes cover exactly the range, are aligned and disjoint, and are as few as an independent
 * trie cover needs. Then parsePort's defaults.
 */
import { describe, expect, test } from "bun:test";
import { type PortPrefix, parsePort, portRangePrefixes } from "./ports.ts";

const size = (p: PortPrefix) => 2 ** (16 - p.bits);

/** The minimal number of aligned blocks covering [a, b], by descending the 16-bit port trie. */
function minimalCover(a: number, b: number, base = 0, span = 65536): number {
	const end = base + span - 1;
	if (end < a || base > b) return 0;
	if (a <= base && end <= b) return 1;
	return minimalCover(a, b, base, span / 2) + minimalCover(a, b, base + span / 2, span / 2);
}

function check(a: number, b: number): string | undefined {
	const ps = portRangePrefixes(a, b);
	let next = a;
	for (const p of ps) {
		if (p.bits < 0 || p.bits > 16) return `${a}-${b}: bits ${p.bits}`;
		if (p.port % size(p) !== 0) return `${a}-${b}: ${p.port}/${p.bits} not aligned`;
		if (p.port !== next) return `${a}-${b}: gap or overlap at ${next} (${p.port}/${p.bits})`;
		next = p.port + size(p);
	}
	if (next !== b + 1) return `${a}-${b}: ends at ${next - 1}`;
	const min = minimalCover(a, b);
	if (ps.length !== min) return `${a}-${b}: ${ps.length} prefixes, ${min} suffice`;
	return undefined;
}

describe("portRangePrefixes", () => {
	test("every range within 0..511 is covered exactly and minimally", () => {
		const bad: string[] = [];
		for (let a = 0; a < 512; a++)
			for (let b = a; b < 512; b++) {
				const e = check(a, b);
				if (e) bad.push(e);
			}
		expect(bad).toEqual([]);
	});
	test("every range starting or ending at the edges of the port space", () => {
		const bad: string[] = [];
		for (let x = 0; x <= 65535; x++) {
			for (const e of [check(x, 65535), check(1, Math.max(1, x)), check(x, x)]) if (e) bad.push(e);
		}
		expect(bad).toEqual([]);
	});
	test("ranges around every power of two", () => {
		const bad: string[] = [];
		for (let k = 1; k <= 16; k++) {
			const p = 2 ** k;
			for (let da = -3; da <= 3; da++)
				for (let db = -3; db <= 3; db++) {
					const a = p + da;
					const b = p * 2 + db;
					if (a < 0 || b > 65535 || b < a) continue;
					const e = check(a, b);
					if (e) bad.push(e);
				}
		}
		expect(bad).toEqual([]);
	});
	test("known shapes", () => {
		expect(portRangePrefixes(80, 80)).toEqual([{ port: 80, bits: 16 }]);
		expect(portRangePrefixes(0, 65535)).toEqual([{ port: 0, bits: 0 }]);
		expect(portRangePrefixes(32768, 65535)).toEqual([{ port: 32768, bits: 1 }]);
		expect(portRangePrefixes(1, 65535)).toHaveLength(16);
		expect(portRangePrefixes(1024, 2047)).toEqual([{ port: 1024, bits: 6 }]);
		expect(portRangePrefixes(32000, 32768)).toEqual([
			{ port: 32000, bits: 8 }, // 32000-32255
			{ port: 32256, bits: 7 }, // 32256-32767
			{ port: 32768, bits: 16 },
		]);
	});
	test("an inverted or out-of-range range throws", () => {
		expect(() => portRangePrefixes(10, 9)).toThrow("invalid port range 10-9");
		expect(() => portRangePrefixes(1, 65536)).toThrow(RangeError);
		expect(() => portRangePrefixes(-1, 5)).toThrow(RangeError);
		expect(() => portRangePrefixes(1.5, 5)).toThrow(RangeError);
	});
});

describe("parsePort", () => {
	test("defaults and shapes", () => {
		expect(parsePort({}, "p")).toEqual({ kind: "proto", proto: 6 });
		expect(parsePort({ protocol: "UDP" }, "p")).toEqual({ kind: "proto", proto: 17 });
		expect(parsePort({ port: 53 }, "p")).toEqual({
			kind: "numbers",
			proto: 6,
			prefixes: [{ port: 53, bits: 16 }],
			text: "53",
		});
		expect(parsePort({ protocol: "SCTP", port: "diameter" }, "p")).toEqual({
			kind: "named",
			proto: 132,
			protocol: "SCTP",
			name: "diameter",
		});
	});
	test("port names follow IANA_SVC_NAME", () => {
		for (const ok of ["http", "h2c", "dns-tcp", "a", "x1234567890abcd"])
			expect(parsePort({ port: ok }, "p").kind).toBe("named");
		for (const bad of ["", "80", "-a", "a-", "a--b", "Http", "x1234567890abcde", "a_b"])
			expect(() => parsePort({ port: bad }, "p")).toThrow(`p.port ${JSON.stringify(bad)}`);
	});
});
