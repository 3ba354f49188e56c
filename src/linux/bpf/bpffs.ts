/**
 * The BPF filesystem and our pin layout on it.
 *
 * Pins are what let a short-lived CNI process leave maps and TCX links behind for the daemon
 * (and `terwayctl policy dump`) to find. Layout under one root (default /sys/fs/bpf/terway):
 *   <root>/<map name>          maps, pinned by name by libbpf (LIBBPF_PIN_BY_NAME, pin_root)
 *   <root>/progs/<name>        programs we pin explicitly
 *   <root>/links/<name>        TCX links (one per netns inode, ifindex, direction, program name:
 *                              TCX runs several programs in attach order on one hook)
 * bpffs is mounted at /sys/fs/bpf through mount(2) when missing; no process is spawned.
 */
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { dirname } from "node:path";
import { mount } from "../../ffi/libc/index.ts";

export const BPFFS_MOUNT = "/sys/fs/bpf";
export const DEFAULT_PIN_ROOT = `${BPFFS_MOUNT}/terway`;

/** Mount points of type bpf, from /proc/self/mountinfo. */
export function bpffsMounts(): string[] {
	return parseBpffsMounts(readFileSync("/proc/self/mountinfo", "utf8"));
}

/** proc(5) mountinfo: field 5 is the mount point (octal-escaped), the fstype follows " - ". */
export function parseBpffsMounts(mountinfo: string): string[] {
	const out: string[] = [];
	for (const line of mountinfo.split("\n")) {
		const [pre, post] = line.split(" - ");
		if (!pre || !post) continue;
		if (post.split(" ")[0] !== "bpf") continue;
		const mp = pre.split(" ")[4];
		if (mp)
			out.push(mp.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8))));
	}
	return out;
}

/** Mount bpffs at `at` (default /sys/fs/bpf) unless one is there already. */
export function ensureBpffs(at: string = BPFFS_MOUNT): { changed: boolean } {
	if (bpffsMounts().includes(at)) return { changed: false };
	mkdirSync(at, { recursive: true });
	mount("bpf", at, "bpf", 0);
	return { changed: true };
}

/** The bpffs mount that holds `path` (longest matching mount point), if any. */
function mountFor(path: string, mounts: string[]): string | undefined {
	return mounts
		.filter((m) => path === m || path.startsWith(m.endsWith("/") ? m : `${m}/`))
		.sort((a, b) => b.length - a.length)[0];
}

/**
 * Make sure `dir` exists on a bpffs: mounts /sys/fs/bpf first when `dir` is below it and it is
 * not mounted yet. Throws when `dir` is not on a bpffs at all (pins would fail with EPERM).
 */
export function ensurePinDir(dir: string): { changed: boolean } {
	let changed = false;
	if (!mountFor(dir, bpffsMounts())) {
		if (dir === BPFFS_MOUNT || dir.startsWith(`${BPFFS_MOUNT}/`)) changed = ensureBpffs(BPFFS_MOUNT).changed;
		if (!mountFor(dir, bpffsMounts())) throw new Error(`pin directory ${dir} is not on a bpf filesystem`);
	}
	const made = mkdirSync(dir, { recursive: true, mode: 0o700 });
	return { changed: changed || made !== undefined };
}

/** Paths of our pins below one root. */
export class PinLayout {
	constructor(readonly root: string = DEFAULT_PIN_ROOT) {}

	map(name: string): string {
		return `${this.root}/${name}`;
	}

	program(name: string): string {
		return `${this.root}/progs/${name}`;
	}

	/**
	 * A TCX link pin: unique per (netns inode, ifindex, direction) since ifindexes repeat across
	 * netns, and per program name when given (several programs share a hook: policy, datapathv2).
	 */
	link(nsInode: number, ifindex: number, direction: "ingress" | "egress", program?: string): string {
		const base = `${this.root}/links/tcx_${nsInode}_${ifindex}_${direction}`;
		return program ? `${base}_${program}` : base;
	}

	/** mkdir -p for the parent of a pin path (bpffs supports plain mkdir). */
	prepare(path: string): void {
		ensurePinDir(dirname(path));
	}
}

/** Remove one pin (unlink on bpffs); false when it was not there. Detaches a pinned TCX link. */
export function unpin(path: string): boolean {
	try {
		rmSync(path);
		return true;
	} catch (e) {
		if ((e as NodeJS.ErrnoException).code === "ENOENT") return false;
		throw e;
	}
}
