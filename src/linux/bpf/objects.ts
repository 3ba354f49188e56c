/**
 * The eBPF objects built from bpf/*.bpf.c, embedded in the binary.
 *
 * `import ... with { type: "file" }` gives a real path under `bun` and a $bunfs path inside a
 * `bun build --compile` binary; bpf_object__open_file cannot open the latter, so the bytes are
 * read with readFileSync (which understands $bunfs) and loaded with bpf_object__open_mem
 * (ffi-probe Q3). Build them first: `make -C bpf`.
 */
import { readFileSync } from "node:fs";
import counterPath from "../../../bpf/build/counter.bpf.o" with { type: "file" };
import datapathv2Path from "../../../bpf/build/datapathv2.bpf.o" with { type: "file" };
import policyPath from "../../../bpf/build/policy.bpf.o" with { type: "file" };
import { BpfObject, objPin } from "../../ffi/libbpf/index.ts";
import { DEFAULT_PIN_ROOT, ensurePinDir, PinLayout, unpin } from "./bpffs.ts";

/** Embedded object name -> path (real or $bunfs). */
export const OBJECTS = { counter: counterPath, policy: policyPath, datapathv2: datapathv2Path } as const;

export type ObjectName = keyof typeof OBJECTS;

/** The ELF bytes of an embedded object. */
export function objectBytes(name: ObjectName): Uint8Array {
	return readFileSync(OBJECTS[name]);
}

/**
 * Load an embedded object into the kernel. Maps declared LIBBPF_PIN_BY_NAME are reused from
 * `pinRoot` when pinned there already (so counters survive process restarts), else created and
 * pinned there. The pin directory is created (and bpffs mounted) when missing.
 */
export function loadObject(name: ObjectName, opts: { pinRoot?: string } = {}): BpfObject {
	const pinRoot = opts.pinRoot ?? DEFAULT_PIN_ROOT;
	ensurePinDir(pinRoot);
	return BpfObject.load(objectBytes(name), { name, pinRoot });
}

/**
 * Pin a loaded program at `<pinRoot>/progs/<name>` (replacing an older pin of that name), so it
 * can be found again by path; returns the path. Unpin with `unpin(path)`.
 */
export function pinProgram(obj: BpfObject, program: string, pinRoot: string = DEFAULT_PIN_ROOT): string {
	const pins = new PinLayout(pinRoot);
	const path = pins.program(program);
	pins.prepare(path);
	unpin(path);
	objPin(obj.programFd(program), path);
	return path;
}
