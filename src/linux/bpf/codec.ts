/**
 * Fixed-layout struct codecs for BPF map keys and values, declared once per C struct. The field
 * table is the layout: `layout` gives each field's offset and byte size for the BTF check
 * (cilium bpf_alignchecker idea), `encode`/`decode` use the same table.
 *
 * Field kinds: little-endian integers (u8, u16, u32, s32, u64), `be16` (a port in network order,
 * read and written as its number), `bytes` (a fixed byte array, e.g. an address) and `cstr`
 * (a NUL-terminated UTF-8 string in a fixed buffer; at most len - 1 bytes are written).
 */

type ScalarType = "u8" | "u16" | "be16" | "u32" | "u64" | "s32";

const WIDTH: Record<ScalarType, number> = { u8: 1, u16: 2, be16: 2, u32: 4, u64: 8, s32: 4 };

export type FieldSpec =
	| { readonly offset: number; readonly type: ScalarType }
	| { readonly offset: number; readonly type: "bytes" | "cstr"; readonly len: number };

type JsOf<F extends FieldSpec> = F["type"] extends "u64"
	? bigint
	: F["type"] extends "bytes"
		? Uint8Array
		: F["type"] extends "cstr"
			? string
			: number;

export type Value<F extends Record<string, FieldSpec>> = { [K in keyof F]: JsOf<F[K]> };

/** Bytes <-> T for one fixed-size C type. */
export type Codec<T> = {
	/** The BTF type name it mirrors ("terway_if_stats", "__u32"). */
	readonly cName: string;
	readonly size: number;
	encode(v: T): Uint8Array;
	decode(b: Uint8Array): T;
	/** Encode many values back to back (for bpf_map_update_batch). */
	encodeMany(vs: T[]): Uint8Array;
};

/** Offset and byte size per field name (what the BTF check compares). */
export type Layout = Record<string, { offset: number; size: number }>;

/** A codec for one C struct, with its field table and the layout checked against BTF. */
export type StructCodec<F extends Record<string, FieldSpec>> = Codec<Value<F>> & {
	readonly fields: F;
	readonly layout: Layout;
};

/** Byte size of one field. */
export const fieldSize = (f: FieldSpec): number => ("len" in f ? f.len : WIDTH[f.type]);
/** Natural alignment of one field (byte arrays and strings: 1). */
const fieldAlign = (f: FieldSpec): number => ("len" in f ? 1 : WIDTH[f.type]);

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

export function struct<F extends Record<string, FieldSpec>>(
	cName: string,
	size: number,
	fields: F,
): StructCodec<F> {
	const entries: [string, FieldSpec][] = Object.entries(fields);
	for (const [name, f] of entries) {
		if (f.offset % fieldAlign(f) !== 0 || f.offset + fieldSize(f) > size) {
			throw new Error(`codec ${cName}.${name}: offset ${f.offset} (${f.type}) does not fit size ${size}`);
		}
	}
	const write = (b: Uint8Array, base: number, v: Value<F>): void => {
		const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
		for (const [name, f] of entries) {
			const x = v[name as keyof F] as unknown;
			const o = base + f.offset;
			switch (f.type) {
				case "u8":
					dv.setUint8(o, Number(x));
					break;
				case "u16":
					dv.setUint16(o, Number(x), true);
					break;
				case "be16":
					dv.setUint16(o, Number(x), false);
					break;
				case "u32":
					dv.setUint32(o, Number(x), true);
					break;
				case "s32":
					dv.setInt32(o, Number(x), true);
					break;
				case "u64":
					dv.setBigUint64(o, BigInt(x as bigint), true);
					break;
				case "bytes":
					b.set((x as Uint8Array).subarray(0, f.len), o);
					break;
				case "cstr":
					b.set(utf8.encode(String(x)).subarray(0, f.len - 1), o); // always NUL terminated
					break;
			}
		}
	};
	return {
		cName,
		size,
		fields,
		layout: Object.fromEntries(entries.map(([n, f]) => [n, { offset: f.offset, size: fieldSize(f) }])),
		encode(v) {
			const b = new Uint8Array(size);
			write(b, 0, v);
			return b;
		},
		encodeMany(vs) {
			const b = new Uint8Array(size * vs.length);
			vs.forEach((v, i) => {
				write(b, i * size, v);
			});
			return b;
		},
		decode(b) {
			if (b.byteLength < size) throw new RangeError(`${cName}: ${b.byteLength} bytes, need ${size}`);
			const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
			const out: Record<string, unknown> = {};
			for (const [name, f] of entries) {
				switch (f.type) {
					case "u8":
						out[name] = dv.getUint8(f.offset);
						break;
					case "u16":
						out[name] = dv.getUint16(f.offset, true);
						break;
					case "be16":
						out[name] = dv.getUint16(f.offset, false);
						break;
					case "u32":
						out[name] = dv.getUint32(f.offset, true);
						break;
					case "s32":
						out[name] = dv.getInt32(f.offset, true);
						break;
					case "u64":
						out[name] = dv.getBigUint64(f.offset, true);
						break;
					case "bytes":
						out[name] = b.slice(f.offset, f.offset + f.len);
						break;
					case "cstr": {
						const raw = b.subarray(f.offset, f.offset + f.len);
						const end = raw.indexOf(0);
						out[name] = fromUtf8.decode(end < 0 ? raw : raw.subarray(0, end));
						break;
					}
				}
			}
			return out as Value<F>;
		},
	};
}

/** A plain __u32 key or value (array map index, a flag). */
export const u32 = struct("__u32", 4, { value: { offset: 0, type: "u32" } });
