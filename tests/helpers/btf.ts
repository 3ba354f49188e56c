/**
 * Test-only helpers for the BTF layout checks of the map codecs (cilium's bpf_alignchecker idea):
 * read a compiled object's BTF with bpftool, then compare each struct codec's size, field offsets
 * and field sizes, and each map's declared key/value sizes, with it. Used by counter-maps.test.ts
 * and policy-maps.test.ts; lives under tests/ because it spawns bpftool, which src/ never
 * does.
 */
import { expect } from "bun:test";
import { existsSync } from "node:fs";
import type { Codec, Layout } from "../../src/linux/bpf/codec.ts";

export type BtfType = {
	id: number;
	kind: string;
	name: string;
	size?: number;
	type_id?: number;
	nr_elems?: number;
	members?: { name: string; type_id: number; bits_offset: number }[];
};

/** A codec with its layout (every struct() codec). */
export type LayoutCodec = Codec<unknown> & { readonly layout: Layout };

/**
 * The BTF types of bpf/build/<object>, or undefined after printing a visible SKIP line naming
 * `what` and the reason (object not built, or no bpftool).
 */
export function loadBtf(object: string, what: string): BtfType[] | undefined {
	const path = `${import.meta.dir}/../../bpf/build/${object}`;
	const missing = !existsSync(path)
		? `bpf/build/${object} not built (make -C bpf)`
		: !Bun.which("bpftool")
			? "bpftool not installed"
			: undefined;
	if (missing) {
		console.warn(`SKIP ${what} BTF check: ${missing}`);
		return undefined;
	}
	const r = Bun.spawnSync(["bpftool", "-j", "btf", "dump", "file", path, "format", "raw"], {
		stderr: "pipe",
	});
	if (r.exitCode !== 0) throw new Error(`bpftool btf dump failed: ${r.stderr.toString()}`);
	return (JSON.parse(r.stdout.toString()) as { types: BtfType[] }).types;
}

/** Byte size of a BTF type, following typedefs/modifiers and multiplying arrays. */
function sizeOf(types: BtfType[], id: number): number {
	const t = types.find((x) => x.id === id);
	if (!t) throw new Error(`BTF type ${id} missing`);
	if (t.kind === "ARRAY") return (t.nr_elems ?? 0) * sizeOf(types, t.type_id!);
	if (t.size !== undefined) return t.size;
	if (t.type_id !== undefined) return sizeOf(types, t.type_id);
	throw new Error(`BTF type ${id} (${t.kind}) has no size`);
}

type StructLayout = { name: string; size: number | undefined; fields: Layout };

/** The layout of the BTF struct named `name`: size and member offsets/sizes. */
function btfLayout(types: BtfType[], name: string): StructLayout {
	const s = types.find((t) => t.kind === "STRUCT" && t.name === name);
	if (!s) throw new Error(`BTF has no struct ${name}`);
	return {
		name,
		size: s.size,
		fields: Object.fromEntries(
			(s.members ?? []).map((m) => [m.name, { offset: m.bits_offset / 8, size: sizeOf(types, m.type_id) }]),
		),
	};
}

/** Key and value sizes BTF records for a map definition (`__type(key, ...)`). */
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

/** Each codec's size and field offsets/sizes equal its BTF struct's; plain __u32 codecs skipped. */
export function expectStructsMatch(types: BtfType[], codecs: Iterable<LayoutCodec>): string[] {
	const checked: string[] = [];
	for (const c of codecs) {
		if (c.cName === "__u32") continue;
		const mine: StructLayout = { name: c.cName, size: c.size, fields: { ...c.layout } };
		expect(mine).toEqual(btfLayout(types, c.cName));
		checked.push(c.cName);
	}
	return checked;
}

/** Each map's BTF key/value sizes equal its codecs'. */
export function expectMapSizesMatch(
	types: BtfType[],
	maps: Iterable<{ name: string; key: Codec<unknown>; value: Codec<unknown> }>,
): void {
	for (const spec of maps) {
		expect({ name: spec.name, ...mapKV(types, spec.name) }).toEqual({
			name: spec.name,
			key: spec.key.size,
			value: spec.value.size,
		});
	}
}
