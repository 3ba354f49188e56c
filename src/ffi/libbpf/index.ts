/**
 * Typed libbpf 1.1 (libbpf.so.1): object load from memory, map I/O, pins, TCX links, prog
 * attach/query, clsact (bpf_tc_*), object info. The only libbpf entry point for src/.
 *
 * Rules kept here so callers need not know them:
 * - Two chokepoints: `checkInt` for libbpf's `-errno` int returns, `checkPtr` for its
 *   NULL + errno pointer returns (errno read in the very next FFI call). Every wrapper goes
 *   through one of them and throws ErrnoError naming the libbpf function.
 * - No Pointer leaves this module: callers get numbers, strings, Uint8Array copies, owned `Fd`s
 *   and `BpfObject` handles (tracked in ../handles.ts for leak checks).
 * - Calls that take an ifindex (tcHook*, tcAttach/Detach/Query, linkCreate, progAttach/Detach,
 *   progQuery) resolve it in the calling thread's netns: call them inside `ns.run(...)`.
 * - libbpf's print callback: installed once (one JSCallback for the process) at first use.
 *   Warnings are kept in a small ring and the last one is added to a failing load's error;
 *   `setLibbpfLogger` forwards lines to a logger. Without a logger nothing reaches stderr.
 *   `closeLibbpfLog()` silences libbpf (print fn = NULL) and frees the callback.
 */
import { JSCallback, type Pointer, ptr, toArrayBuffer } from "bun:ffi";
import { ERRNO, ErrnoError } from "../errno.ts";
import { track, untrack } from "../handles.ts";
import { Fd, lastErrno } from "../libc/index.ts";
import {
	LAYOUT,
	type LinkInfo,
	linkUpdateOpts,
	type MapInfo,
	mapBatchOpts,
	objectOpenOpts,
	type ProgInfo,
	parseLinkInfo,
	parseMapInfo,
	parseProgInfo,
	progAttachOpts,
	progQueryOpts,
	readProgQueryOpts,
	readTcOpts,
	readTestRunOpts,
	tcHook,
	tcOpts,
	testRunOpts,
} from "./structs.ts";
import { libbpf, printLibc } from "./symbols.ts";

export { BPF_LINK_TYPE_TCX } from "./structs.ts";
export type { LinkInfo, MapInfo, ProgInfo };

/** enum bpf_attach_type values we use (the 6.1 uapi headers lack the TCX ones: kernel 6.6). */
export const BPF_TCX_INGRESS = 46;
export const BPF_TCX_EGRESS = 47;
/** enum bpf_tc_attach_point. */
export const BPF_TC_INGRESS = 1;
export const BPF_TC_EGRESS = 2;
/** bpf_tc_opts.flags. */
export const BPF_TC_F_REPLACE = 1;
/** Map update flags (uapi BPF_ANY / BPF_NOEXIST / BPF_EXIST). */
export const BPF_ANY = 0;
export const BPF_NOEXIST = 1;
export const BPF_EXIST = 2;
/** enum bpf_prog_type / bpf_map_type values callers compare with. */
export const BPF_PROG_TYPE_SCHED_CLS = 3;
export const BPF_MAP_TYPE_HASH = 1;
export const BPF_MAP_TYPE_ARRAY = 2;

const encoder = new TextEncoder();

function cstr(s: string): Uint8Array {
	const b = new Uint8Array(Buffer.byteLength(s) + 1);
	encoder.encodeInto(s, b);
	return b;
}

// ---------------------------------------------------------------------------------------------
// libbpf print callback

/** Where libbpf's own messages go; levels as libbpf's (0 warn, 1 info, 2 debug). */
export type LibbpfLogger = (level: "warn" | "info" | "debug", msg: string) => void;

const LEVELS = ["warn", "info", "debug"] as const;
let printCb: JSCallback | undefined;
let logger: LibbpfLogger | undefined;
let maxLevel = 0;
const recentWarnings: string[] = [];
let warnCount = 0;
const printBuf = new Uint8Array(2048);

function installPrint(): void {
	if (printCb) return;
	const vsnprintf = printLibc().vsnprintf;
	printCb = new JSCallback(
		(level: number, fmt: Pointer, va: Pointer): number => {
			if (level > maxLevel) return 0;
			// SAFETY: fmt and va are libbpf's, valid for this call only; the text is copied out.
			const n = vsnprintf(ptr(printBuf), printBuf.length, fmt, va);
			if (n <= 0) return 0;
			const msg = new TextDecoder().decode(printBuf.subarray(0, Math.min(n, printBuf.length - 1))).trimEnd();
			if (level === 0) {
				recentWarnings.push(msg);
				warnCount++;
				if (recentWarnings.length > 32) recentWarnings.shift();
			}
			logger?.(LEVELS[level] ?? "debug", msg);
			return 0;
		},
		{ args: ["i32", "ptr", "ptr"], returns: "i32" },
	);
	libbpf().libbpf_set_print(printCb.ptr);
}

/** The library, with the print callback installed on first use. */
function lb(): ReturnType<typeof libbpf> {
	const l = libbpf();
	if (!printCb) installPrint();
	return l;
}

/** Forward libbpf's messages up to `level` to `log` (undefined: keep only the warning ring). */
export function setLibbpfLogger(
	log: LibbpfLogger | undefined,
	level: "warn" | "info" | "debug" = "warn",
): void {
	lb();
	logger = log;
	maxLevel = LEVELS.indexOf(level);
}

/** Silence libbpf and free the callback (process shutdown); a later call re-installs it. */
export function closeLibbpfLog(): void {
	if (!printCb) return;
	libbpf().libbpf_set_print(null);
	printCb.close();
	printCb = undefined;
	logger = undefined;
}

/** The last warnings libbpf printed (newest last), e.g. the verifier's complaint. */
export function libbpfWarnings(): string[] {
	return [...recentWarnings];
}

// ---------------------------------------------------------------------------------------------
// chokepoints

/** libbpf int convention: negative = -errno. */
export function checkInt(fn: string, ret: number, context?: string): number {
	if (ret < 0) throw new ErrnoError(fn, -ret, context);
	return ret;
}

/** libbpf pointer convention: NULL + errno (read immediately). Returns the pointer as a number. */
function checkPtr(fn: string, p: Pointer | bigint | null, context?: string): Pointer {
	if (!p) {
		const e = lastErrno();
		throw new ErrnoError(fn, e > 0 ? e : ERRNO.EINVAL, context);
	}
	return (typeof p === "bigint" ? Number(p) : p) as Pointer;
}

// ---------------------------------------------------------------------------------------------
// version

/** The loaded libbpf's version; throws NotSupportedError when missing or older than 1.1. */
export function libbpfVersion(): { major: number; minor: number; text: string } {
	const l = lb();
	return {
		major: l.libbpf_major_version(),
		minor: l.libbpf_minor_version(),
		text: String(l.libbpf_version_string()),
	};
}

// ---------------------------------------------------------------------------------------------
// objects

/**
 * A `struct bpf_object` opened from ELF bytes. The object owns its program and map fds:
 * `programFd`/`mapFd` numbers are borrowed and valid until `close()`. Pinned maps, pinned
 * programs and pinned links outlive it.
 *
 * @example
 * using obj = BpfObject.load(bytes, { name: "counter", pinRoot: "/sys/fs/bpf/terway" });
 * const fd = obj.mapFd("terway_ifstats");
 */
export class BpfObject {
	#ptr: Pointer | null;
	#token: number;
	#loaded = false;
	/** Buffers libbpf may still read (ELF image, pin root): kept alive until close. */
	// biome-ignore lint/correctness/noUnusedPrivateClassMembers: written only, to keep the buffers alive while C may read them
	#keep: Uint8Array[];

	private constructor(
		p: Pointer,
		readonly name: string,
		keep: Uint8Array[],
	) {
		this.#ptr = p;
		this.#keep = keep;
		// SAFETY: the release closure owns a copy of the pointer; close() untracks first.
		this.#token = track("bpf_object", name, this, () => libbpf().bpf_object__close(p));
	}

	/**
	 * bpf_object__open_mem: parse an ELF image (not yet loaded into the kernel). `pinRoot` is
	 * where maps declared with LIBBPF_PIN_BY_NAME are pinned / reused at load (default
	 * /sys/fs/bpf: always pass one).
	 */
	static openMem(bytes: Uint8Array, opts: { name: string; pinRoot?: string }): BpfObject {
		const l = lb();
		const image = new Uint8Array(bytes); // our own copy: libbpf reads it until load finishes
		const name = cstr(opts.name);
		const root = opts.pinRoot === undefined ? undefined : cstr(opts.pinRoot);
		const o = objectOpenOpts({ objectName: ptr(name), pinRootPath: root ? ptr(root) : null });
		const p = checkPtr(
			"bpf_object__open_mem",
			l.bpf_object__open_mem(ptr(image), image.length, ptr(o)),
			opts.name,
		);
		return new BpfObject(p, opts.name, root ? [image, name, root] : [image, name]);
	}

	/** openMem + load; the object is closed again when load fails. */
	static load(bytes: Uint8Array, opts: { name: string; pinRoot?: string }): BpfObject {
		const obj = BpfObject.openMem(bytes, opts);
		try {
			obj.load();
		} catch (e) {
			obj.close();
			throw e;
		}
		return obj;
	}

	get #p(): Pointer {
		if (!this.#ptr) throw new ErrnoError("bpf_object", ERRNO.EBADF, `${this.name} (already closed)`);
		return this.#ptr;
	}

	get loaded(): boolean {
		return this.#loaded;
	}

	/** bpf_object__load: create maps (or reuse pinned ones), load programs, pin maps by name. */
	load(): void {
		const before = warnCount;
		const ret = lb().bpf_object__load(this.#p);
		if (ret < 0) {
			// The first warnings name the cause (map pin, verifier); the last one is generic.
			const why = recentWarnings
				.slice(Math.max(0, recentWarnings.length - (warnCount - before)))
				.filter((w) => !w.includes("failed to load object"))
				.slice(0, 2)
				.map((w) => w.replace(/^libbpf: /, ""));
			checkInt("bpf_object__load", ret, why.length ? `${this.name} (libbpf: ${why.join("; ")})` : this.name);
		}
		this.#loaded = true;
	}

	#program(name: string): Pointer {
		const n = cstr(name);
		return checkPtr(
			"bpf_object__find_program_by_name",
			lb().bpf_object__find_program_by_name(this.#p, ptr(n)),
			`${this.name}/${name}`,
		);
	}

	#map(name: string): Pointer {
		const n = cstr(name);
		return checkPtr(
			"bpf_object__find_map_by_name",
			lb().bpf_object__find_map_by_name(this.#p, ptr(n)),
			`${this.name}/${name}`,
		);
	}

	/** Borrowed fd of a loaded program (valid until close). */
	programFd(name: string): number {
		return checkInt("bpf_program__fd", lb().bpf_program__fd(this.#program(name)), `${this.name}/${name}`);
	}

	/** Borrowed fd of a created map (valid until close). */
	mapFd(name: string): number {
		return checkInt("bpf_map__fd", lb().bpf_map__fd(this.#map(name)), `${this.name}/${name}`);
	}

	programNames(): string[] {
		const l = lb();
		const out: string[] = [];
		for (let p = l.bpf_object__next_program(this.#p, null); p; p = l.bpf_object__next_program(this.#p, p)) {
			out.push(String(l.bpf_program__name(p)));
		}
		return out;
	}

	mapNames(): string[] {
		const l = lb();
		const out: string[] = [];
		for (let m = l.bpf_object__next_map(this.#p, null); m; m = l.bpf_object__next_map(this.#p, m)) {
			const name = String(l.bpf_map__name(m));
			if (!name.startsWith(".")) out.push(name); // .rodata/.bss are internal maps
		}
		return out;
	}

	/**
	 * bpf_map__pin: pin one map at `path` (parent directory on bpffs must exist). libbpf keeps
	 * one pin path per map: a map pinned by name (or pinned before) answers EINVAL for any other
	 * path; pin extra copies with `objPin(obj.mapFd(name), path)`.
	 */
	pinMap(name: string, path: string): void {
		const p = cstr(path);
		checkInt("bpf_map__pin", lb().bpf_map__pin(this.#map(name), ptr(p)), path);
	}

	/** bpf_map__unpin: remove the map's pin at `path` (or its pin path when omitted). */
	unpinMap(name: string, path?: string): void {
		const p = path === undefined ? null : cstr(path);
		checkInt("bpf_map__unpin", lb().bpf_map__unpin(this.#map(name), p ? ptr(p) : null), path ?? name);
	}

	/** bpf_object__close: closes every program and map fd this object owns. */
	close(): void {
		if (!this.#ptr) return;
		const p = this.#ptr;
		untrack(this.#token, this);
		this.#ptr = null;
		lb().bpf_object__close(p);
		this.#keep = [];
	}

	[Symbol.dispose](): void {
		this.close();
	}
}

// ---------------------------------------------------------------------------------------------
// pins and ids

/** bpf_obj_pin: pin a map, program or link fd at `path` on bpffs. */
export function objPin(fd: number, path: string): void {
	const p = cstr(path);
	checkInt("bpf_obj_pin", lb().bpf_obj_pin(fd, ptr(p)), path);
}

/** bpf_obj_get: open a pinned object; the caller owns (closes) the returned Fd. */
export function objGet(path: string): Fd {
	const p = cstr(path);
	const fd = checkInt("bpf_obj_get", lb().bpf_obj_get(ptr(p)), path);
	return new Fd(fd, `bpf:${path}`);
}

function infoByFd(fd: number, size: number, what: string): Uint8Array {
	const buf = new Uint8Array(size);
	const len = new Uint32Array([size]);
	checkInt("bpf_obj_get_info_by_fd", lb().bpf_obj_get_info_by_fd(fd, ptr(buf), ptr(len)), what);
	return buf;
}

export function progInfo(fd: number): ProgInfo {
	return parseProgInfo(infoByFd(fd, LAYOUT.bpf_prog_info.size, `prog fd ${fd}`));
}

export function mapInfo(fd: number): MapInfo {
	return parseMapInfo(infoByFd(fd, LAYOUT.bpf_map_info.size, `map fd ${fd}`));
}

export function linkInfo(fd: number): LinkInfo {
	return parseLinkInfo(infoByFd(fd, LAYOUT.bpf_link_info.size, `link fd ${fd}`));
}

/** bpf_prog_get_fd_by_id; caller owns the Fd. ENOENT when no such program. */
export function progGetFdById(id: number): Fd {
	return new Fd(
		checkInt("bpf_prog_get_fd_by_id", lb().bpf_prog_get_fd_by_id(id), `id ${id}`),
		`bpf prog id ${id}`,
	);
}

export function mapGetFdById(id: number): Fd {
	return new Fd(
		checkInt("bpf_map_get_fd_by_id", lb().bpf_map_get_fd_by_id(id), `id ${id}`),
		`bpf map id ${id}`,
	);
}

export function linkGetFdById(id: number): Fd {
	return new Fd(
		checkInt("bpf_link_get_fd_by_id", lb().bpf_link_get_fd_by_id(id), `id ${id}`),
		`bpf link id ${id}`,
	);
}

// ---------------------------------------------------------------------------------------------
// maps (on fds; keys and values are raw bytes, see src/linux/bpf for typed codecs)

/** bpf_map_update_elem with BPF_ANY / BPF_NOEXIST / BPF_EXIST. */
export function mapUpdate(fd: number, key: Uint8Array, value: Uint8Array, flags = BPF_ANY): void {
	checkInt(
		"bpf_map_update_elem",
		lb().bpf_map_update_elem(fd, ptr(key), ptr(value), BigInt(flags)),
		`map fd ${fd}`,
	);
}

/** bpf_map_lookup_elem; undefined when the key is absent (ENOENT). */
export function mapLookup(fd: number, key: Uint8Array, valueSize: number): Uint8Array | undefined {
	const value = new Uint8Array(valueSize);
	const ret = lb().bpf_map_lookup_elem(fd, ptr(key), ptr(value));
	if (ret === -ERRNO.ENOENT) return undefined;
	checkInt("bpf_map_lookup_elem", ret, `map fd ${fd}`);
	return value;
}

/** bpf_map_delete_elem; false when the key was absent. */
export function mapDelete(fd: number, key: Uint8Array): boolean {
	const ret = lb().bpf_map_delete_elem(fd, ptr(key));
	if (ret === -ERRNO.ENOENT) return false;
	checkInt("bpf_map_delete_elem", ret, `map fd ${fd}`);
	return true;
}

/** bpf_map_get_next_key; `key` undefined = first key; undefined at the end. */
export function mapNextKey(fd: number, key: Uint8Array | undefined, keySize: number): Uint8Array | undefined {
	const next = new Uint8Array(keySize);
	const ret = lb().bpf_map_get_next_key(fd, key ? ptr(key) : null, ptr(next));
	if (ret === -ERRNO.ENOENT) return undefined;
	checkInt("bpf_map_get_next_key", ret, `map fd ${fd}`);
	return next;
}

/** Every key (a snapshot walk: keys deleted meanwhile may restart the walk, as in the kernel). */
export function* mapKeys(fd: number, keySize: number): Generator<Uint8Array> {
	let k = mapNextKey(fd, undefined, keySize);
	while (k) {
		yield k;
		k = mapNextKey(fd, k, keySize);
	}
}

/**
 * bpf_map_update_batch: `keys`/`values` hold `count` packed elements. Returns how many were
 * updated; throws on error (the ErrnoError message carries the count done).
 */
export function mapUpdateBatch(
	fd: number,
	keys: Uint8Array,
	values: Uint8Array,
	count: number,
	opts: { elemFlags?: number; flags?: number } = {},
): number {
	if (count === 0) return 0;
	const cnt = new Uint32Array([count]);
	const o = mapBatchOpts(opts);
	const ret = lb().bpf_map_update_batch(fd, ptr(keys), ptr(values), ptr(cnt), ptr(o));
	checkInt("bpf_map_update_batch", ret, `map fd ${fd} (${cnt[0]}/${count} done)`);
	return cnt[0]!;
}

// ---------------------------------------------------------------------------------------------
// links and prog attach (TCX); call inside the interface's netns

/** bpf_link_create(prog, ifindex, BPF_TCX_INGRESS|EGRESS, NULL): an owned link Fd. Closing an
 *  unpinned link detaches the program: pin it (objPin) to make it outlive the process. */
export function linkCreate(progFd: number, targetFd: number, attachType: number): Fd {
	const fd = checkInt(
		"bpf_link_create",
		lb().bpf_link_create(progFd, targetFd, attachType, null),
		`target ${targetFd} type ${attachType}`,
	);
	return new Fd(fd, `bpf link ${targetFd}/${attachType}`);
}

/** bpf_link_update: swap the program behind a link atomically (oldProgFd = only if still that one). */
export function linkUpdate(linkFd: number, newProgFd: number, opts: { oldProgFd?: number } = {}): void {
	const o = linkUpdateOpts({
		flags: opts.oldProgFd ? 4 /* BPF_F_REPLACE */ : 0,
		oldProgFd: opts.oldProgFd ?? 0,
	});
	checkInt("bpf_link_update", lb().bpf_link_update(linkFd, newProgFd, ptr(o)), `link fd ${linkFd}`);
}

/** bpf_link_detach: detach even if other fds or pins still hold the link. */
export function linkDetach(linkFd: number): void {
	checkInt("bpf_link_detach", lb().bpf_link_detach(linkFd), `link fd ${linkFd}`);
}

/** bpf_prog_attach_opts (TCX without a link: survives the process, no before/after in 1.1). */
export function progAttach(
	progFd: number,
	targetFd: number,
	attachType: number,
	opts: { flags?: number; replaceProgFd?: number } = {},
): void {
	const o = progAttachOpts(opts);
	checkInt(
		"bpf_prog_attach_opts",
		lb().bpf_prog_attach_opts(progFd, targetFd, attachType, ptr(o)),
		`target ${targetFd}`,
	);
}

/** bpf_prog_detach2. */
export function progDetach(progFd: number, targetFd: number, attachType: number): void {
	checkInt("bpf_prog_detach2", lb().bpf_prog_detach2(progFd, targetFd, attachType), `target ${targetFd}`);
}

/** bpf_prog_query_opts: program ids attached at (target, type), in order. */
export function progQuery(targetFd: number, attachType: number): { progIds: number[]; attachFlags: number } {
	for (let cap = 16; ; cap *= 4) {
		const ids = new Uint32Array(cap);
		const o = progQueryOpts({ progIds: ptr(ids), progCnt: cap });
		const ret = lb().bpf_prog_query_opts(targetFd, attachType, ptr(o));
		if (ret === -ERRNO.ENOSPC && cap < 4096) continue;
		checkInt("bpf_prog_query_opts", ret, `target ${targetFd} type ${attachType}`);
		const r = readProgQueryOpts(o);
		return { progIds: [...ids.subarray(0, r.progCnt)], attachFlags: r.attachFlags };
	}
}

// ---------------------------------------------------------------------------------------------
// BPF_PROG_TEST_RUN

/** The result of one test run: the program's return value (signed: TC_ACT_UNSPEC is -1). */
export type TestRunResult = { retval: number; data: Uint8Array; ctx?: Uint8Array; durationNs: number };

/**
 * bpf_prog_test_run_opts: run a loaded program once (or `repeat` times) on `data` (for tc
 * programs: an Ethernet frame of at least 14 bytes) in the calling thread's netns, with an
 * optional context (for tc: a `struct __sk_buff`, e.g. to set ifindex / mark). Returns the
 * program's verdict, the packet as the program left it and the context written back.
 */
export function progTestRun(
	progFd: number,
	o: { data: Uint8Array; ctx?: Uint8Array; repeat?: number; dataOutSize?: number },
): TestRunResult {
	const dataOut = new Uint8Array(o.dataOutSize ?? Math.max(o.data.length + 256, 1514));
	const ctxOut = o.ctx ? new Uint8Array(o.ctx.length) : undefined;
	const opts = testRunOpts({
		dataIn: ptr(o.data),
		dataSizeIn: o.data.length,
		dataOut: ptr(dataOut),
		dataSizeOut: dataOut.length,
		ctxIn: o.ctx ? ptr(o.ctx) : null,
		ctxSizeIn: o.ctx?.length ?? 0,
		ctxOut: ctxOut ? ptr(ctxOut) : null,
		ctxSizeOut: ctxOut?.length ?? 0,
		repeat: o.repeat ?? 0,
	});
	checkInt("bpf_prog_test_run_opts", lb().bpf_prog_test_run_opts(progFd, ptr(opts)), `prog fd ${progFd}`);
	const r = readTestRunOpts(opts);
	return {
		retval: r.retval,
		data: dataOut.slice(0, Math.min(r.dataSizeOut, dataOut.length)),
		ctx: ctxOut?.slice(0, Math.min(r.ctxSizeOut, ctxOut.length)),
		durationNs: r.durationNs,
	};
}

// ---------------------------------------------------------------------------------------------
// ring buffers (BPF_MAP_TYPE_RINGBUF)

/**
 * A consumer of one BPF ring buffer map through libbpf's `ring_buffer__*` (it mmaps the map and
 * waits on its epoll fd). Records are copied out inside the sample callback, a JSCallback that
 * libbpf calls synchronously from `ring_buffer__poll/consume` on this same thread, so nothing
 * crosses threads and no pointer outlives the call; `poll`/`consume` return the copies.
 * Why libbpf and not our own mmap: libbpf already gets the producer/consumer page protocol, the
 * busy bit and discarded records right, and the callback is just as reliable under Bun as the
 * print callback above. One JSCallback per RingBuffer, freed by close().
 *
 * `poll(timeoutMs)` blocks the JS thread for up to timeoutMs (epoll_wait): keep it short in a
 * daemon, or call `consume()` (never blocks) when `epollFd` is readable.
 */
export class RingBuffer {
	#ptr: Pointer | null;
	#cb: JSCallback | null;
	#token: number;
	#pending: Uint8Array[] = [];

	private constructor(p: Pointer, cb: JSCallback, what: string) {
		this.#ptr = p;
		this.#cb = cb;
		// SAFETY: the release closure frees the ring and the callback once; close() untracks first.
		this.#token = track("ring_buffer", what, this, () => {
			libbpf().ring_buffer__free(p);
			cb.close();
		});
	}

	/** ring_buffer__new on a ring buffer map fd (the fd must stay open until close()). */
	static open(mapFd: number): RingBuffer {
		const l = lb();
		let self: RingBuffer | undefined;
		const early: Uint8Array[] = [];
		const cb = new JSCallback(
			(_ctx: Pointer, data: Pointer, size: number | bigint): number => {
				// SAFETY: data/size describe one committed record, valid during this call only: copy it.
				const rec = new Uint8Array(toArrayBuffer(data, 0, Number(size))).slice();
				(self ? self.#pending : early).push(rec);
				return 0;
			},
			{ args: ["ptr", "ptr", "u64"], returns: "i32" },
		);
		let p: Pointer;
		try {
			p = checkPtr("ring_buffer__new", l.ring_buffer__new(mapFd, cb.ptr, null, null), `map fd ${mapFd}`);
		} catch (e) {
			cb.close();
			throw e;
		}
		self = new RingBuffer(p, cb, `map fd ${mapFd}`);
		self.#pending.push(...early);
		return self;
	}

	get #p(): Pointer {
		if (!this.#ptr) throw new ErrnoError("ring_buffer", ERRNO.EBADF, "already closed");
		return this.#ptr;
	}

	#take(): Uint8Array[] {
		const out = this.#pending;
		this.#pending = [];
		return out;
	}

	/** Wait up to `timeoutMs` for records (0: don't wait), then return every record available. */
	poll(timeoutMs: number): Uint8Array[] {
		const ret = lb().ring_buffer__poll(this.#p, Math.max(0, Math.trunc(timeoutMs)));
		// EINTR: a signal cut the wait short; what was read so far is returned.
		if (ret < 0 && ret !== -ERRNO.EINTR) checkInt("ring_buffer__poll", ret);
		return this.#take();
	}

	/** Every record available now, without waiting. */
	consume(): Uint8Array[] {
		checkInt("ring_buffer__consume", lb().ring_buffer__consume(this.#p));
		return this.#take();
	}

	/** The epoll fd that becomes readable when records arrive (borrowed: valid until close). */
	get epollFd(): number {
		return lb().ring_buffer__epoll_fd(this.#p);
	}

	close(): void {
		if (!this.#ptr) return;
		const p = this.#ptr;
		untrack(this.#token, this);
		this.#ptr = null;
		libbpf().ring_buffer__free(p);
		this.#cb?.close();
		this.#cb = null;
		this.#pending = [];
	}

	[Symbol.dispose](): void {
		this.close();
	}
}

// ---------------------------------------------------------------------------------------------
// clsact + cls_bpf (bpf_tc_*); call inside the interface's netns

export type TcHook = { ifindex: number; attachPoint: number; parent?: number };

/** bpf_tc_hook_create: add the clsact qdisc. Returns false when it already existed. */
export function tcHookCreate(hook: TcHook): boolean {
	const ret = lb().bpf_tc_hook_create(ptr(tcHook(hook)));
	if (ret === -ERRNO.EEXIST) return false;
	checkInt("bpf_tc_hook_create", ret, `ifindex ${hook.ifindex}`);
	return true;
}

/** bpf_tc_hook_destroy: with INGRESS|EGRESS removes the whole clsact qdisc (every filter on it). */
export function tcHookDestroy(hook: TcHook): void {
	checkInt("bpf_tc_hook_destroy", lb().bpf_tc_hook_destroy(ptr(tcHook(hook))), `ifindex ${hook.ifindex}`);
}

/** bpf_tc_attach (direct-action cls_bpf). handle/priority 0 = let the kernel pick. */
export function tcAttach(
	hook: TcHook,
	o: { progFd: number; handle?: number; priority?: number; replace?: boolean },
): { progId: number; handle: number; priority: number } {
	const opts = tcOpts({
		progFd: o.progFd,
		handle: o.handle,
		priority: o.priority,
		flags: o.replace ? BPF_TC_F_REPLACE : 0,
	});
	checkInt("bpf_tc_attach", lb().bpf_tc_attach(ptr(tcHook(hook)), ptr(opts)), `ifindex ${hook.ifindex}`);
	return readTcOpts(opts);
}

/** bpf_tc_detach of the filter at handle/priority; false when there was none (ENOENT). */
export function tcDetach(hook: TcHook, o: { handle: number; priority: number }): boolean {
	const ret = lb().bpf_tc_detach(ptr(tcHook(hook)), ptr(tcOpts(o)));
	if (ret === -ERRNO.ENOENT) return false;
	checkInt("bpf_tc_detach", ret, `ifindex ${hook.ifindex}`);
	return true;
}

/** bpf_tc_query of the filter at handle/priority; undefined when none (ENOENT, or no clsact: EINVAL). */
export function tcQuery(
	hook: TcHook,
	o: { handle: number; priority: number },
): { progId: number } | undefined {
	const opts = tcOpts(o);
	const ret = lb().bpf_tc_query(ptr(tcHook(hook)), ptr(opts));
	if (ret === -ERRNO.ENOENT) return undefined;
	checkInt("bpf_tc_query", ret, `ifindex ${hook.ifindex}`);
	return { progId: readTcOpts(opts).progId };
}
