/**
 * Hand-laid libbpf 1.1 / uapi structs (x86-64), as small DataView builders and parsers.
 *
 * libbpf's opts structs start with `size_t sz` which must equal the struct size, and every
 * byte past the fields we set must be zero, or libbpf answers -EINVAL (ffi-probe Q3). The
 * offsets live in LAYOUT, once; structs.test.ts compiles a C program against the installed
 * headers and compares every entry with offsetof/sizeof.
 * No FFI here: pointers inside structs are passed in as numbers by index.ts.
 */

/** Sizes and field offsets, keyed by C struct name (sync with /usr/include/bpf, linux/bpf.h). */
export const LAYOUT = {
	bpf_object_open_opts: { size: 80, sz: 0, object_name: 8, relaxed_maps: 16, pin_root_path: 24 },
	bpf_tc_hook: { size: 24, sz: 0, ifindex: 8, attach_point: 12, parent: 16 },
	bpf_tc_opts: { size: 32, sz: 0, prog_fd: 8, flags: 12, prog_id: 16, handle: 20, priority: 24 },
	bpf_map_batch_opts: { size: 24, sz: 0, elem_flags: 8, flags: 16 },
	bpf_prog_query_opts: {
		size: 40,
		sz: 0,
		query_flags: 8,
		attach_flags: 12,
		prog_ids: 16,
		prog_cnt: 24,
		prog_attach_flags: 32,
	},
	bpf_prog_attach_opts: { size: 16, sz: 0, flags: 8, replace_prog_fd: 12 },
	bpf_link_update_opts: { size: 16, sz: 0, flags: 8, old_prog_fd: 12 },
	bpf_test_run_opts: {
		size: 80,
		sz: 0,
		data_in: 8,
		data_out: 16,
		data_size_in: 24,
		data_size_out: 28,
		ctx_in: 32,
		ctx_out: 40,
		ctx_size_in: 48,
		ctx_size_out: 52,
		retval: 56,
		repeat: 60,
		duration: 64,
		flags: 68,
		cpu: 72,
		batch_size: 76,
	},
	bpf_prog_info: { size: 232, type: 0, id: 4, tag: 8, name: 64 },
	bpf_map_info: {
		size: 88,
		type: 0,
		id: 4,
		key_size: 8,
		value_size: 12,
		max_entries: 16,
		map_flags: 20,
		name: 24,
	},
	/**
	 * Head + the tcx union member (kernel 6.6 uapi `struct { __u32 ifindex, attach_type; } tcx`
	 * at 16; Debian's 6.1 headers predate it). We pass info_len 24: the kernel copies
	 * min(info_len, its size).
	 */
	bpf_link_info: { size: 24, type: 0, id: 4, prog_id: 8, tcx_ifindex: 16, tcx_attach_type: 20 },
} as const;

/** BPF_OBJ_NAME_LEN: names in info structs are char[16], NUL-padded. */
export const OBJ_NAME_LEN = 16;

function struct(size: number): { buf: Uint8Array; dv: DataView } {
	const buf = new Uint8Array(size);
	const dv = new DataView(buf.buffer);
	dv.setBigUint64(0, BigInt(size), true);
	return { buf, dv };
}

const addr = (p: number | bigint | null | undefined): bigint => (p ? BigInt(p) : 0n);

/** struct bpf_object_open_opts; string pointers must stay referenced across the call. */
export function objectOpenOpts(o: { objectName?: number | null; pinRootPath?: number | null }): Uint8Array {
	const L = LAYOUT.bpf_object_open_opts;
	const { buf, dv } = struct(L.size);
	dv.setBigUint64(L.object_name, addr(o.objectName), true);
	dv.setBigUint64(L.pin_root_path, addr(o.pinRootPath), true);
	return buf;
}

/** struct bpf_tc_hook. attach_point: BPF_TC_INGRESS 1, BPF_TC_EGRESS 2, BPF_TC_CUSTOM 4. */
export function tcHook(o: { ifindex: number; attachPoint: number; parent?: number }): Uint8Array {
	const L = LAYOUT.bpf_tc_hook;
	const { buf, dv } = struct(L.size);
	dv.setInt32(L.ifindex, o.ifindex, true);
	dv.setUint32(L.attach_point, o.attachPoint, true);
	dv.setUint32(L.parent, o.parent ?? 0, true);
	return buf;
}

/** struct bpf_tc_opts; libbpf writes prog_id (and handle/priority when 0) back on attach/query. */
export function tcOpts(
	o: { progFd?: number; flags?: number; progId?: number; handle?: number; priority?: number } = {},
): Uint8Array {
	const L = LAYOUT.bpf_tc_opts;
	const { buf, dv } = struct(L.size);
	dv.setInt32(L.prog_fd, o.progFd ?? 0, true);
	dv.setUint32(L.flags, o.flags ?? 0, true);
	dv.setUint32(L.prog_id, o.progId ?? 0, true);
	dv.setUint32(L.handle, o.handle ?? 0, true);
	dv.setUint32(L.priority, o.priority ?? 0, true);
	return buf;
}

export function readTcOpts(buf: Uint8Array): { progId: number; handle: number; priority: number } {
	const L = LAYOUT.bpf_tc_opts;
	const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
	return {
		progId: dv.getUint32(L.prog_id, true),
		handle: dv.getUint32(L.handle, true),
		priority: dv.getUint32(L.priority, true),
	};
}

/** struct bpf_map_batch_opts. */
export function mapBatchOpts(o: { elemFlags?: bigint | number; flags?: bigint | number } = {}): Uint8Array {
	const L = LAYOUT.bpf_map_batch_opts;
	const { buf, dv } = struct(L.size);
	dv.setBigUint64(L.elem_flags, BigInt(o.elemFlags ?? 0), true);
	dv.setBigUint64(L.flags, BigInt(o.flags ?? 0), true);
	return buf;
}

/** libbpf 1.1's struct bpf_prog_query_opts (no link_ids/revision: those came in 1.3). */
export function progQueryOpts(o: {
	queryFlags?: number;
	progIds: number | null;
	progCnt: number;
	progAttachFlags?: number | null;
}): Uint8Array {
	const L = LAYOUT.bpf_prog_query_opts;
	const { buf, dv } = struct(L.size);
	dv.setUint32(L.query_flags, o.queryFlags ?? 0, true);
	dv.setBigUint64(L.prog_ids, addr(o.progIds), true);
	dv.setUint32(L.prog_cnt, o.progCnt, true);
	dv.setBigUint64(L.prog_attach_flags, addr(o.progAttachFlags), true);
	return buf;
}

export function readProgQueryOpts(buf: Uint8Array): { attachFlags: number; progCnt: number } {
	const L = LAYOUT.bpf_prog_query_opts;
	const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
	return { attachFlags: dv.getUint32(L.attach_flags, true), progCnt: dv.getUint32(L.prog_cnt, true) };
}

/** struct bpf_prog_attach_opts (1.1: flags and replace_prog_fd only). */
export function progAttachOpts(o: { flags?: number; replaceProgFd?: number } = {}): Uint8Array {
	const L = LAYOUT.bpf_prog_attach_opts;
	const { buf, dv } = struct(L.size);
	dv.setUint32(L.flags, o.flags ?? 0, true);
	dv.setInt32(L.replace_prog_fd, o.replaceProgFd ?? 0, true);
	return buf;
}

/** struct bpf_link_update_opts. */
export function linkUpdateOpts(o: { flags?: number; oldProgFd?: number } = {}): Uint8Array {
	const L = LAYOUT.bpf_link_update_opts;
	const { buf, dv } = struct(L.size);
	dv.setUint32(L.flags, o.flags ?? 0, true);
	dv.setInt32(L.old_prog_fd, o.oldProgFd ?? 0, true);
	return buf;
}

/** struct bpf_test_run_opts (BPF_PROG_TEST_RUN); buffers are passed in as addresses. */
export function testRunOpts(o: {
	dataIn: number;
	dataSizeIn: number;
	dataOut?: number | null;
	dataSizeOut?: number;
	ctxIn?: number | null;
	ctxSizeIn?: number;
	ctxOut?: number | null;
	ctxSizeOut?: number;
	repeat?: number;
	flags?: number;
}): Uint8Array {
	const L = LAYOUT.bpf_test_run_opts;
	const { buf, dv } = struct(L.size);
	dv.setBigUint64(L.data_in, addr(o.dataIn), true);
	dv.setBigUint64(L.data_out, addr(o.dataOut), true);
	dv.setUint32(L.data_size_in, o.dataSizeIn, true);
	dv.setUint32(L.data_size_out, o.dataSizeOut ?? 0, true);
	dv.setBigUint64(L.ctx_in, addr(o.ctxIn), true);
	dv.setBigUint64(L.ctx_out, addr(o.ctxOut), true);
	dv.setUint32(L.ctx_size_in, o.ctxSizeIn ?? 0, true);
	dv.setUint32(L.ctx_size_out, o.ctxSizeOut ?? 0, true);
	dv.setInt32(L.repeat, o.repeat ?? 0, true);
	dv.setUint32(L.flags, o.flags ?? 0, true);
	return buf;
}

/** What BPF_PROG_TEST_RUN wrote back. */
export function readTestRunOpts(buf: Uint8Array): {
	retval: number;
	dataSizeOut: number;
	ctxSizeOut: number;
	durationNs: number;
} {
	const L = LAYOUT.bpf_test_run_opts;
	const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
	return {
		retval: dv.getInt32(L.retval, true),
		dataSizeOut: dv.getUint32(L.data_size_out, true),
		ctxSizeOut: dv.getUint32(L.ctx_size_out, true),
		durationNs: dv.getUint32(L.duration, true),
	};
}

function cName(buf: Uint8Array, off: number): string {
	const b = buf.subarray(off, off + OBJ_NAME_LEN);
	const end = b.indexOf(0);
	return new TextDecoder().decode(end < 0 ? b : b.subarray(0, end));
}

const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);

/** The parts of struct bpf_prog_info we use. */
export type ProgInfo = { type: number; id: number; tag: string; name: string };

export function parseProgInfo(buf: Uint8Array): ProgInfo {
	const L = LAYOUT.bpf_prog_info;
	const dv = view(buf);
	const tag = Buffer.from(buf.subarray(L.tag, L.tag + 8)).toString("hex");
	return { type: dv.getUint32(L.type, true), id: dv.getUint32(L.id, true), tag, name: cName(buf, L.name) };
}

/** The parts of struct bpf_map_info we use. */
export type MapInfo = {
	type: number;
	id: number;
	keySize: number;
	valueSize: number;
	maxEntries: number;
	flags: number;
	name: string;
};

export function parseMapInfo(buf: Uint8Array): MapInfo {
	const L = LAYOUT.bpf_map_info;
	const dv = view(buf);
	return {
		type: dv.getUint32(L.type, true),
		id: dv.getUint32(L.id, true),
		keySize: dv.getUint32(L.key_size, true),
		valueSize: dv.getUint32(L.value_size, true),
		maxEntries: dv.getUint32(L.max_entries, true),
		flags: dv.getUint32(L.map_flags, true),
		name: cName(buf, L.name),
	};
}

/** uapi enum bpf_link_type BPF_LINK_TYPE_TCX (kernel 6.6). */
export const BPF_LINK_TYPE_TCX = 11;

/** struct bpf_link_info head; `tcx` only for TCX links (ifindex 0 once its device is gone). */
export type LinkInfo = {
	type: number;
	id: number;
	progId: number;
	tcx?: { ifindex: number; attachType: number };
};

export function parseLinkInfo(buf: Uint8Array): LinkInfo {
	const L = LAYOUT.bpf_link_info;
	const dv = view(buf);
	const head = {
		type: dv.getUint32(L.type, true),
		id: dv.getUint32(L.id, true),
		progId: dv.getUint32(L.prog_id, true),
	};
	if (head.type !== BPF_LINK_TYPE_TCX) return head;
	return {
		...head,
		tcx: { ifindex: dv.getUint32(L.tcx_ifindex, true), attachType: dv.getUint32(L.tcx_attach_type, true) },
	};
}
