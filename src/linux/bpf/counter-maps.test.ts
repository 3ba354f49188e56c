/**
 * The TS codecs against the BTF of the compiled object (cilium's bpf_alignchecker idea): a C
 * struct change in bpf/include/terway_common.h without the matching codec change fails here.
 * Needs `make -C bpf` and bpftool (both part of `make setup`); skips with the reason otherwise.
 */
import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import type { Codec, FieldSpec } from "./codec.ts";
import { COUNTER_MAPS } from "./counter-maps.ts";

const OBJ = `${import.meta.dir}/../../../bpf/build/counter.bpf.o`;

type BtfType = {
	id: number;
	kind: string;
	name: string;
	size?: number;
	type_id?: number;
	members?: { name: string; type_id: number; bits_offset: number }[];
};

function loadBtf(): BtfType[] | string {
	if (!existsSync(OBJ)) return "bpf/build/counter.bpf.o not built (make -C bpf)";
	if (!Bun.which("bpftool")) return "bpftool not installed";
	const r = Bun.spawnSync(["bpftool", "-j", "btf", "dump", "file", OBJ, "format", "raw"], { stderr: "pipe" });
	if (r.exitCode !== 0) throw new Error(`bpftool btf dump failed: ${r.stderr.toString()}`);
	return (JSON.parse(r.stdout.toString()) as { types: BtfType[] }).types;
}

const btf = loadBtf();
if (typeof btf === "string") console.warn(`SKIP counter map BTF check: ${btf}`);

/** Size of a BTF type id, following typedefs/const/volatile. */
function sizeOf(types: BtfType[], id: number): number {
	const t = types.find((x) => x.id === id);
	if (!t) throw new Error(`BTF type ${id} missing`);
	if (t.size !== undefined) return t.size;
	if (t.type_id !== undefined) return sizeOf(types, t.type_id);
	throw new Error(`BTF type ${id} (${t.kind}) has no size`);
}

/** The layout of the BTF struct named `name`: size and member offsets/sizes. */
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

const WIDTH = { u8: 1, u16: 2, u32: 4, s32: 4, u64: 8 } as const;

type Layout = { size: number | undefined; fields: Record<string, { offset: number; size: number }> };

function codecLayout(c: Codec<unknown> & { fields?: Record<string, FieldSpec> }): Layout {
	return {
		size: c.size,
		fields: Object.fromEntries(
			Object.entries(c.fields ?? {}).map(([n, f]) => [n, { offset: f.offset, size: WIDTH[f.type] }]),
		),
	};
}

/** The key/value type names BTF records for a map definition (`__type(key, ...)`). */
function mapKV(types: BtfType[], mapName: string): { key: number; value: number } {
	const v = types.find((t) => t.kind === "VAR" && t.name === mapName);
	const def = types.find((t) => t.id === v?.type_id);
	const member = (n: string) => {
		const m = def?.members?.find((x) => x.name === n);
		const p = types.find((t) => t.id === m?.type_id); // PTR to the type
		if (!p?.type_id) throw new Error(`map ${mapName} has no ${n} in BTF`);
		return sizeOf(types, p.type_id);
	};
	return { key: member("key"), value: member("value") };
}

describe.skipIf(typeof btf === "string")("counter map codecs match the object's BTF", () => {
	const types = btf as BtfType[];

	test("terway_if_key and terway_if_stats: size and every field offset", () => {
		for (const codec of [COUNTER_MAPS.stats.key, COUNTER_MAPS.stats.value]) {
			expect(codecLayout(codec)).toEqual(btfLayout(types, codec.cName));
		}
	});

	test("each map's declared key/value sizes equal its codecs'", () => {
		for (const spec of Object.values(COUNTER_MAPS)) {
			expect({ name: spec.name, ...mapKV(types, spec.name) }).toEqual({
				name: spec.name,
				key: spec.key.size,
				value: spec.value.size,
			});
		}
	});
});
