/**
 * Fixed-layout little-endian struct codecs for BPF map keys and values, declared once per C
 * struct. The field table is the layout: `layout()` gives size and offsets for the BTF check
 * (cilium bpf_alignchecker idea), `encode`/`decode` use the same table.
 */

type FieldType = "u8" | "u16" | "u32" | "u64" | "s32";

const WIDTH: Record<FieldType, number> = { u8: 1, u16: 2, u32: 4, u64: 8, s32: 4 };

type JsOf<T extends FieldType> = T extends "u64" ? bigint : number;

export type FieldSpec = { readonly offset: number; readonly type: FieldType };
export type Value<F extends Record<string, FieldSpec>> = { [K in keyof F]: JsOf<F[K]["type"]> };

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

/** A codec for one C struct, with its field table (the layout checked against BTF). */
export type StructCodec<F extends Record<string, FieldSpec>> = Codec<Value<F>> & { readonly fields: F };

export function struct<F extends Record<string, FieldSpec>>(
	cName: string,
	size: number,
	fields: F,
): StructCodec<F> {
	for (const [name, f] of Object.entries(fields)) {
		if (f.offset % WIDTH[f.type] !== 0 || f.offset + WIDTH[f.type] > size) {
			throw new Error(`codec ${cName}.${name}: offset ${f.offset} (${f.type}) does not fit size ${size}`);
		}
	}
	const entries = Object.entries(fields);
	const write = (dv: DataView, base: number, v: Value<F>) => {
		for (const [name, f] of entries) {
			const x = v[name as keyof F] as number | bigint;
			const o = base + f.offset;
			switch (f.type) {
				case "u8":
					dv.setUint8(o, Number(x));
					break;
				case "u16":
					dv.setUint16(o, Number(x), true);
					break;
				case "u32":
					dv.setUint32(o, Number(x), true);
					break;
				case "s32":
					dv.setInt32(o, Number(x), true);
					break;
				case "u64":
					dv.setBigUint64(o, BigInt(x), true);
					break;
			}
		}
	};
	return {
		cName,
		size,
		fields,
		encode(v) {
			const b = new Uint8Array(size);
			write(new DataView(b.buffer), 0, v);
			return b;
		},
		encodeMany(vs) {
			const b = new Uint8Array(size * vs.length);
			const dv = new DataView(b.buffer);
			vs.forEach((v, i) => {
				write(dv, i * size, v);
			});
			return b;
		},
		decode(b) {
			if (b.byteLength < size) throw new RangeError(`${cName}: ${b.byteLength} bytes, need ${size}`);
			const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
			const out: Record<string, number | bigint> = {};
			for (const [name, f] of entries) {
				switch (f.type) {
					case "u8":
						out[name] = dv.getUint8(f.offset);
						break;
					case "u16":
						out[name] = dv.getUint16(f.offset, true);
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
				}
			}
			return out as Value<F>;
		},
	};
}

/** A plain __u32 key or value (array map index, a flag). */
export const u32 = struct("__u32", 4, { value: { offset: 0, type: "u32" } });
