/**
 * datapathv2 from user space, the parts that need no kernel: skip-list keys from CIDRs (and the
 * one-line errors for bad ones), the key codec, and the key layout against the BTF of
 * bpf/build/datapathv2.bpf.o (struct terway_ip_key, shared with the policy maps).
 */
import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { skipKey, V2_MAPS, v2SkipKey } from "./datapathv2.ts";

const OBJ = `${import.meta.dir}/../../../bpf/build/datapathv2.bpf.o`;

type BtfType = {
	id: number;
	kind: string;
	name: string;
	size?: number;
	members?: { name: string; bits_offset: number }[];
	vlen?: number;
};

function loadBtf(): BtfType[] | string {
	if (!existsSync(OBJ)) return "bpf/build/datapathv2.bpf.o not built (make -C bpf)";
	if (!Bun.which("bpftool")) return "bpftool not installed";
	const r = Bun.spawnSync(["bpftool", "-j", "btf", "dump", "file", OBJ, "format", "raw"], { stderr: "pipe" });
	if (r.exitCode !== 0) throw new Error(`bpftool btf dump failed: ${r.stderr.toString()}`);
	return (JSON.parse(r.stdout.toString()) as { types: BtfType[] }).types;
}

const btf = loadBtf();
if (typeof btf === "string") console.warn(`SKIP datapathv2 BTF check: ${btf}`);

describe("datapathv2 skip list", () => {
	test("v4 and v6 CIDRs -> terway_ip_key (prefixlen counts the 32 family bits)", () => {
		expect(skipKey("10.96.0.0/12")).toEqual({
			prefixlen: 44,
			family: 4,
			addr: Uint8Array.from([10, 96, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
		});
		const v6 = skipKey("fd00:96::/108");
		expect(v6.prefixlen).toBe(140);
		expect(v6.family).toBe(6);
		expect([...v6.addr.subarray(0, 4)]).toEqual([0xfd, 0x00, 0x00, 0x96]);
		expect(skipKey("198.19.0.5").prefixlen).toBe(64);
		expect(skipKey("::1").addr[15]).toBe(1);
	});

	test("a bad CIDR is a one-line error naming it", () => {
		for (const bad of ["10.300.0.0/16", "10.0.0.0/33", "fd00::1::2/64", "fd00::/129", "web", ""]) {
			expect(() => skipKey(bad)).toThrow(`skip CIDR ${JSON.stringify(bad)} is not an IPv4 or IPv6 CIDR`);
		}
	});

	test("the key codec round-trips", () => {
		const k = skipKey("fd00:96::/108");
		const b = v2SkipKey.encode(k);
		expect(b.length).toBe(24);
		expect(v2SkipKey.decode(b)).toEqual(k);
		expect(v2SkipKey.encodeMany([k, k]).length).toBe(48);
	});
});

describe.skipIf(typeof btf === "string")("datapathv2 object BTF", () => {
	const types = btf as BtfType[];

	test("struct terway_ip_key is 24 bytes: prefixlen @0, family @4, addr @8", () => {
		const t = types.find((x) => x.kind === "STRUCT" && x.name === v2SkipKey.cName)!;
		expect(t.size).toBe(v2SkipKey.size);
		expect(Object.fromEntries((t.members ?? []).map((m) => [m.name, m.bits_offset / 8]))).toEqual({
			prefixlen: 0,
			family: 4,
			addr: 8,
		});
	});

	test("its maps and programs are named as the TS side expects", () => {
		const vars = types.filter((x) => x.kind === "VAR").map((x) => x.name);
		expect(vars).toContain(V2_MAPS.stats);
		expect(vars).toContain(V2_MAPS.skip);
		const funcs = types.filter((x) => x.kind === "FUNC").map((x) => x.name);
		expect(funcs).toContain("terway_v2_out");
		expect(funcs).toContain("terway_v2_in");
	});
});
