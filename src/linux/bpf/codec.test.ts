import { describe, expect, test } from "bun:test";
import { struct, u32 } from "./codec.ts";
import { ifKey, ifStats } from "./counter-maps.ts";

describe("struct codecs", () => {
	test("round trip, little endian, fixed size", () => {
		const v = { packets: 3n, bytes: 2n ** 63n + 5n, drops: 0n };
		const b = ifStats.encode(v);
		expect(b.length).toBe(24);
		expect(ifStats.decode(b)).toEqual(v);
		expect([...ifKey.encode({ ifindex: 0x01020304, pad: 0 })]).toEqual([4, 3, 2, 1, 0, 0, 0, 0]);
		expect(u32.decode(u32.encode({ value: 0xffffffff }))).toEqual({ value: 0xffffffff });
	});

	test("decode reads at the view's offset and rejects short buffers", () => {
		const big = new Uint8Array(12);
		big.set(ifKey.encode({ ifindex: 9, pad: 0 }), 4);
		expect(ifKey.decode(big.subarray(4))).toEqual({ ifindex: 9, pad: 0 });
		expect(() => ifKey.decode(new Uint8Array(7))).toThrow(RangeError);
	});

	test("encodeMany packs values back to back", () => {
		const b = ifKey.encodeMany([
			{ ifindex: 1, pad: 0 },
			{ ifindex: 2, pad: 0 },
		]);
		expect(b.length).toBe(16);
		expect(ifKey.decode(b.subarray(8))).toEqual({ ifindex: 2, pad: 0 });
	});

	test("a misdeclared layout fails at declaration", () => {
		expect(() => struct("bad", 8, { x: { offset: 2, type: "u32" } })).toThrow(/offset 2/);
		expect(() => struct("bad", 8, { x: { offset: 4, type: "u64" } })).toThrow(/does not fit/);
	});

	test("be16, bytes and cstr fields: network order, fixed arrays, NUL-terminated strings", () => {
		const c = struct("mixed", 12, {
			port: { offset: 0, type: "be16" },
			addr: { offset: 2, type: "bytes", len: 4 },
			name: { offset: 6, type: "cstr", len: 6 },
		});
		const b = c.encode({ port: 0x1f90, addr: new Uint8Array([10, 0, 0, 1]), name: "abcdefgh" });
		expect([...b]).toEqual([0x1f, 0x90, 10, 0, 0, 1, 97, 98, 99, 100, 101, 0]);
		expect(c.decode(b)).toEqual({ port: 8080, addr: new Uint8Array([10, 0, 0, 1]), name: "abcde" });
		expect(c.layout).toEqual({
			port: { offset: 0, size: 2 },
			addr: { offset: 2, size: 4 },
			name: { offset: 6, size: 6 },
		});
		expect(() => struct("bad", 4, { x: { offset: 1, type: "be16" } })).toThrow(/offset 1/);
		expect(() => struct("bad", 4, { x: { offset: 1, type: "bytes", len: 4 } })).toThrow(/does not fit/);
	});
});
