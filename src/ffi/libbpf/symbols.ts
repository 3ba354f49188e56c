/**
 * dlopen table for libbpf.so.1 (Debian package libbpf1, 1.1.2 on Debian 12). Module-private to
 * src/ffi/libbpf: import ./index.ts instead. Declared lazily so a process that never touches
 * eBPF never loads libbpf, and a node without it gets a NotSupportedError naming the package.
 * Signatures from /usr/include/bpf/{libbpf,bpf}.h (libbpf 1.1); what 1.1 lacks is listed in
 * reference/ffi-probe.md Q3 (no bpf_program__attach_tcx, no bpf_tcx_opts).
 */
import { dlopen, FFIType } from "bun:ffi";
import { NotSupportedError } from "../errno.ts";

const { i32, u32, u64, ptr, cstring, void: none } = FFIType;

const defs = {
	libbpf_major_version: { args: [], returns: u32 },
	libbpf_minor_version: { args: [], returns: u32 },
	libbpf_version_string: { args: [], returns: cstring },
	libbpf_set_print: { args: [ptr], returns: ptr },

	bpf_object__open_mem: { args: [ptr, u64, ptr], returns: ptr },
	bpf_object__load: { args: [ptr], returns: i32 },
	bpf_object__close: { args: [ptr], returns: none },
	bpf_object__name: { args: [ptr], returns: cstring },
	bpf_object__find_program_by_name: { args: [ptr, ptr], returns: ptr },
	bpf_object__find_map_by_name: { args: [ptr, ptr], returns: ptr },
	bpf_object__next_program: { args: [ptr, ptr], returns: ptr },
	bpf_object__next_map: { args: [ptr, ptr], returns: ptr },
	bpf_program__name: { args: [ptr], returns: cstring },
	bpf_program__fd: { args: [ptr], returns: i32 },
	bpf_map__name: { args: [ptr], returns: cstring },
	bpf_map__fd: { args: [ptr], returns: i32 },
	bpf_map__pin: { args: [ptr, ptr], returns: i32 },
	bpf_map__unpin: { args: [ptr, ptr], returns: i32 },

	bpf_obj_pin: { args: [i32, ptr], returns: i32 },
	bpf_obj_get: { args: [ptr], returns: i32 },
	bpf_obj_get_info_by_fd: { args: [i32, ptr, ptr], returns: i32 },
	bpf_prog_get_fd_by_id: { args: [u32], returns: i32 },
	bpf_map_get_fd_by_id: { args: [u32], returns: i32 },
	bpf_link_get_fd_by_id: { args: [u32], returns: i32 },

	bpf_map_update_elem: { args: [i32, ptr, ptr, u64], returns: i32 },
	bpf_map_lookup_elem: { args: [i32, ptr, ptr], returns: i32 },
	bpf_map_delete_elem: { args: [i32, ptr], returns: i32 },
	bpf_map_get_next_key: { args: [i32, ptr, ptr], returns: i32 },
	bpf_map_update_batch: { args: [i32, ptr, ptr, ptr, ptr], returns: i32 },

	bpf_link_create: { args: [i32, i32, i32, ptr], returns: i32 },
	bpf_link_update: { args: [i32, i32, ptr], returns: i32 },
	bpf_link_detach: { args: [i32], returns: i32 },
	bpf_prog_attach_opts: { args: [i32, i32, i32, ptr], returns: i32 },
	bpf_prog_detach2: { args: [i32, i32, i32], returns: i32 },
	bpf_prog_query_opts: { args: [i32, i32, ptr], returns: i32 },
	bpf_prog_test_run_opts: { args: [i32, ptr], returns: i32 },

	ring_buffer__new: { args: [i32, ptr, ptr, ptr], returns: ptr },
	ring_buffer__poll: { args: [ptr, i32], returns: i32 },
	ring_buffer__consume: { args: [ptr], returns: i32 },
	ring_buffer__free: { args: [ptr], returns: none },
	ring_buffer__epoll_fd: { args: [ptr], returns: i32 },

	bpf_tc_hook_create: { args: [ptr], returns: i32 },
	bpf_tc_hook_destroy: { args: [ptr], returns: i32 },
	bpf_tc_attach: { args: [ptr, ptr], returns: i32 },
	bpf_tc_detach: { args: [ptr, ptr], returns: i32 },
	bpf_tc_query: { args: [ptr, ptr], returns: i32 },
} as const;

/** libc's vsnprintf, only to format libbpf's print callback (va_list is a pointer on x86-64). */
const printDefs = {
	vsnprintf: { args: [ptr, u64, ptr, ptr], returns: i32 },
} as const;

type Lib = ReturnType<typeof dlopen<typeof defs>>["symbols"];
type PrintLib = ReturnType<typeof dlopen<typeof printDefs>>["symbols"];

/** Oldest libbpf we accept: 1.1 (Debian 12). Older ones lack bpf_tc_* opts we lay out by hand. */
export const LIBBPF_MIN = { major: 1, minor: 1 } as const;

let lib: Lib | undefined;
let printLib: PrintLib | undefined;

export function libbpf(): Lib {
	if (!lib) {
		let l: Lib;
		try {
			l = dlopen("libbpf.so.1", defs).symbols;
		} catch (e) {
			throw new NotSupportedError(
				"libbpf.so.1",
				`dlopen failed (${(e as Error).message}); install the Debian package libbpf1 (>= 1.1)`,
			);
		}
		const major = l.libbpf_major_version();
		const minor = l.libbpf_minor_version();
		if (major < LIBBPF_MIN.major || (major === LIBBPF_MIN.major && minor < LIBBPF_MIN.minor)) {
			throw new NotSupportedError(
				`libbpf ${major}.${minor}`,
				`terwayctl needs libbpf >= ${LIBBPF_MIN.major}.${LIBBPF_MIN.minor} (Debian package libbpf1)`,
			);
		}
		lib = l;
	}
	return lib;
}

export function printLibc(): PrintLib {
	if (!printLib) printLib = dlopen("libc.so.6", printDefs).symbols;
	return printLib;
}
