/**
 * The policy codecs against the BTF of bpf/build/policy.bpf.o (every struct of
 * bpf/include/terway_policy.h: size and each field's offset and size; each map's key/value
 * sizes), and the pure conversions between map entries and the core/policy types.
 * The BTF part needs `make -C bpf` and bpftool; it skips with the reason otherwise.
 */
import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { ID } from "../../core/policy/types.ts";
import {
	decodeDropEvent,
	dropEventCodec,
	ipEntryKey,
	ipKeyCidr,
	ipKeyCodec,
	type LayoutCodec,
	POLICY_MAPS,
	policyEntryKey,
	policyKeyCodec,
	policyKeyEntry,
} from "./policy-maps.ts";

const OBJ = `${import.meta.dir}/../../../bpf/build/policy.bpf.o`;

type BtfType = {
	id: number;
	kind: string;
	name: string;
	size?: number;
	type_id?: number;
	nr_elems?: number;
	members?: { name: string; type_id: number; bits_offset: number }[];
};

function loadBtf(): BtfType[] | string {
	if (!existsSync(OBJ)) return "bpf/build/policy.bpf.o not built (make -C bpf)";
	if (!Bun.which("bpftool")) return "bpftool not installed";
	const r = Bun.spawnSync(["bpftool", "-j", "btf", "dump", "file", OBJ, "format", "raw"], { stderr: "pipe" });
	if (r.exitCode !== 0) throw new Error(`bpftool btf dump failed: ${r.stderr.toString()}`);
	return (JSON.parse(r.stdout.toString()) as { types: BtfType[] }).types;
}

const btf = loadBtf();
if (typeof btf === "string") console.warn(`SKIP policy map BTF check: ${btf}`);

/** Byte size of a BTF type, following typedefs/modifiers and multiplying arrays. */
function sizeOf(types: BtfType[], id: number): number {
	const t = types.find((x) => x.id === id);
	if (!t) throw new Error(`BTF type ${id} missing`);
	if (t.kind === "ARRAY") return (t.nr_elems ?? 0) * sizeOf(types, t.type_id!);
	if (t.size !== undefined) return t.size;
	if (t.type_id !== undefined) return sizeOf(types, t.type_id);
	throw new Error(`BTF type ${id} (${t.kind}) has no size`);
}

type Layout = { size: number | undefined; fields: Record<string, { offset: number; size: number }> };

function btfLayout(types: BtfType[], name: string): Layout {
	const s = types.find((t) => t.kind === "STRUCT" && t.name === name);
	if (!s) throw new Error(`BTF has no struct ${name}`);
	return {
		size: s.size,
		fields: Object.fromEntries(
			(s.members ?? []).map((m) => [m.name, { offset: m.bits_offset / 8, size: sizeOf(types, m.type_id) }]),
		),
	};
}

const codecLayout = (c: LayoutCodec<unknown>): Layout => ({ size: c.size, fields: { ...c.layout } });

/** Key and value sizes BTF records for a map definition (`__type(key, ...)`). */
function mapKV(types: BtfType[], mapName: string): { key: number; value: number } {
	const v = types.find((t) => t.kind === "VAR" && t.name === mapName);
	const def = types.find((t) => t.id === v?.type_id);
	const member = (n: string) => {
		const m = def?.members?.find((x) => x.name === n);
		const p = types.find((t) => t.id === m?.type_id);
		if (!p?.type_id) throw new Error(`map ${mapName} has no ${n} in BTF`);
		return sizeOf(types, p.type_id);
	};
	return { key: member("key"), value: member("value") };
}

describe.skipIf(typeof btf === "string")("policy codecs match the object's BTF", () => {
	const types = btf as BtfType[];
	const structs = new Set<LayoutCodec<unknown>>([dropEventCodec as LayoutCodec<unknown>]);
	for (const spec of Object.values(POLICY_MAPS)) {
		structs.add(spec.key as LayoutCodec<unknown>);
		structs.add(spec.value as LayoutCodec<unknown>);
	}

	test("every struct of terway_policy.h: size, field offsets and field sizes", () => {
		const checked: string[] = [];
		for (const c of structs) {
			if (c.cName === "__u32") continue;
			expect({ name: c.cName, ...codecLayout(c) }).toEqual({ name: c.cName, ...btfLayout(types, c.cName) });
			checked.push(c.cName);
		}
		expect(checked.sort()).toEqual(
			[
				"terway_ct_key",
				"terway_ct_value",
				"terway_drop_event",
				"terway_ip_info",
				"terway_ip_key",
				"terway_name",
				"terway_policy_key",
				"terway_policy_value",
				"terway_pstats",
				"terway_pstats_key",
			].sort(),
		);
	});

	test("each map's declared key/value sizes equal its codecs'", () => {
		for (const spec of Object.values(POLICY_MAPS)) {
			expect({ name: spec.name, ...mapKV(types, spec.name) }).toEqual({
				name: spec.name,
				key: spec.key.size,
				value: spec.value.size,
			});
		}
	});
});

describe("policy entries <-> map keys", () => {
	test("ip keys: prefixlen counts the 32 family bits, host bits are cleared, cidr comes back canonical", () => {
		const k = ipEntryKey({ cidr: "10.1.2.3/8" });
		expect(k.prefixlen).toBe(40);
		expect(k.family).toBe(4);
		expect([...k.addr]).toEqual([10, ...new Array(15).fill(0)]);
		expect(ipKeyCidr(k)).toBe("10.0.0.0/8");
		const k6 = ipEntryKey({ cidr: "fd00::5/128" });
		expect(k6.prefixlen).toBe(160);
		expect(ipKeyCidr(ipKeyCodec.decode(ipKeyCodec.encode(k6)))).toBe("fd00::5/128");
	});

	test("a bad cidr is refused naming it", () => {
		expect(() => ipEntryKey({ cidr: "10.0.0.1" })).toThrow(/"10\.0\.0\.1"/);
		expect(() => ipEntryKey({ cidr: "fd00::/129" })).toThrow(/fd00::\/129/);
	});

	test("policy keys: prefixlen 72 for any protocol, 80 + bits for a port prefix, dport in network order", () => {
		const base = { endpoint: ID.FIRST_POD, peer: ID.ANY, direction: "egress" as const };
		expect(policyEntryKey({ ...base, proto: 0, port: 0, bits: 0 }).prefixlen).toBe(72);
		expect(policyEntryKey({ ...base, proto: 6, port: 0, bits: 0 }).prefixlen).toBe(80);
		const k = policyEntryKey({ ...base, proto: 17, port: 53, bits: 16 });
		expect(k).toEqual({ prefixlen: 96, endpoint: 256, peer: 0, direction: 1, proto: 17, dport: 53 });
		const bytes = policyKeyCodec.encode(k);
		expect([...bytes.subarray(12, 16)]).toEqual([1, 17, 0, 53]);
		expect(policyKeyEntry(policyKeyCodec.decode(bytes), { rule: 9, pad: 0 })).toEqual({
			...base,
			proto: 17,
			port: 53,
			bits: 16,
			rule: 9,
		});
		// 8000/13: the port bits past the prefix are cleared
		expect(policyEntryKey({ ...base, proto: 6, port: 8005, bits: 13 }).dport).toBe(8000);
	});

	test("bad policy entries are refused naming the field and value", () => {
		const base = { endpoint: 256, peer: 2, direction: "ingress" as const, proto: 6, port: 80, bits: 16 };
		expect(() => policyEntryKey({ ...base, bits: 17 })).toThrow(/bits 17/);
		expect(() => policyEntryKey({ ...base, port: 70000 })).toThrow(/port 70000/);
		expect(() => policyEntryKey({ ...base, proto: 0 })).toThrow(/bits 16/);
		expect(() => policyEntryKey({ ...base, direction: "sideways" as "ingress" })).toThrow(/sideways/);
	});

	test("drop events decode addresses, ports, protocol and reason into words", () => {
		const raw = dropEventCodec.encode({
			ts_ns: 5n,
			saddr: new Uint8Array([10, 1, 0, 3, ...new Array(12).fill(0)]),
			daddr: new Uint8Array([10, 0, 0, 1, ...new Array(12).fill(0)]),
			sport: 40000,
			dport: 80,
			proto: 6,
			family: 4,
			direction: 0,
			reason: 1,
			ifindex: 7,
			endpoint: 256,
			peer: ID.WORLD,
			pad: 0,
		});
		expect([...raw.subarray(40, 44)]).toEqual([0x9c, 0x40, 0, 80]);
		expect(decodeDropEvent(raw)).toEqual({
			tsNs: 5n,
			family: 4,
			saddr: "10.1.0.3",
			daddr: "10.0.0.1",
			sport: 40000,
			dport: 80,
			proto: 6,
			protoName: "tcp",
			direction: "ingress",
			reason: "policy-ingress",
			ifindex: 7,
			endpoint: 256,
			peer: 2,
		});
	});
});
