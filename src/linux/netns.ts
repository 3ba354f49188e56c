/**
 * Named network namespaces compatible with `ip netns` (bind mounts under /run/netns), and
 * `Netns`, a handle bound to one namespace.
 *
 * A handle owns an fd to the namespace; code runs "in" it only for a synchronous section
 * (`ns.run(fn)`), which is how the netlink socket and libbpf ifindex calls get into the right
 * namespace without ever leaving the JS thread there (ffi-probe Q1, STYLE §2.2).
 */
import { fstatSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { ERRNO, ErrnoError, isNotFound } from "../ffi/errno.ts";
import {
	CLONE_NEWNET,
	currentNetns,
	type Fd,
	MNT_DETACH,
	MS_BIND,
	MS_REC,
	MS_SHARED,
	mount,
	namespaceType,
	O_CREAT,
	O_EXCL,
	O_RDONLY,
	openFd,
	setns,
	umount2,
	unshare,
	withNetns,
} from "../ffi/libc/index.ts";
import { LinuxError } from "./errors.ts";

/** Where iproute2 keeps named namespaces (NETNS_RUN_DIR). */
export const NETNS_RUN_DIR = "/run/netns";

/** A network namespace we hold open. `run` executes a synchronous section inside it. */
export class Netns {
	readonly #fd: Fd;

	private constructor(
		fd: Fd,
		/** The bind-mount path or procfs path it was opened from. */
		readonly path: string,
		/** The `ip netns` name, when it has one. */
		readonly name: string | undefined,
	) {
		this.#fd = fd;
	}

	/** @internal used by the namespace-bound handles in src/linux/. */
	get fd(): Fd {
		return this.#fd;
	}

	/** Run `fn` with the JS thread inside this namespace; `fn` must be synchronous. */
	run<T>(fn: () => T): T {
		return withNetns(this.#fd, fn);
	}

	/** Kernel identity of the namespace ("net:[4026531840]"). */
	get inode(): string {
		return `net:[${fstatSync(this.#fd.fd).ino}]`;
	}

	close(): void {
		this.#fd.close();
	}

	[Symbol.dispose](): void {
		this.close();
	}

	/** Open a namespace by path (a CNI_NETNS path, /proc/PID/ns/net, or a bind mount). */
	static openPath(path: string, name?: string): Netns {
		let fd: Fd;
		try {
			fd = openFd(path, O_RDONLY);
		} catch (e) {
			if (isNotFound(e)) throw new LinuxError("netns.open", `network namespace ${path} does not exist`, e);
			throw e;
		}
		let type = -1;
		try {
			type = namespaceType(fd, path);
		} catch {
			// ENOTTY: not an nsfs file at all
		}
		if (type !== CLONE_NEWNET) {
			fd.close();
			throw new LinuxError("netns.open", `${path} is not a network namespace`);
		}
		return new Netns(fd, path, name);
	}

	/** Open a named namespace (`ip netns` name). */
	static open(name: string): Netns {
		validateNetnsName(name);
		return Netns.openPath(`${NETNS_RUN_DIR}/${name}`, name);
	}

	/** The namespace the calling thread is in now (the host, normally). */
	static current(): Netns {
		return new Netns(currentNetns(), "/proc/thread-self/ns/net", undefined);
	}
}

/** Reject names `ip netns` would reject, before touching anything. */
export function validateNetnsName(name: string): void {
	if (name.length === 0 || name === "." || name === ".." || name.includes("/") || name.includes("\0")) {
		throw new LinuxError(
			"netns",
			`invalid network namespace name ${JSON.stringify(name)}: must be a plain file name`,
		);
	}
	if (Buffer.byteLength(name) > 255) {
		throw new LinuxError(
			"netns",
			`invalid network namespace name ${JSON.stringify(name)}: longer than 255 bytes`,
		);
	}
}

let runDirShared = false;

/** Make NETNS_RUN_DIR a shared mount point, as iproute2 does, so mounts propagate. */
function prepareRunDir(): void {
	if (runDirShared) return;
	mkdirSync(NETNS_RUN_DIR, { recursive: true, mode: 0o755 });
	try {
		mount("none", NETNS_RUN_DIR, "none", MS_SHARED | MS_REC);
	} catch (e) {
		if (!(e instanceof ErrnoError) || e.errno !== ERRNO.EINVAL) throw e;
		// Not a mount point yet: bind it onto itself, then make it shared.
		mount(NETNS_RUN_DIR, NETNS_RUN_DIR, "none", MS_BIND | MS_REC);
		mount("none", NETNS_RUN_DIR, "none", MS_SHARED | MS_REC);
	}
	runDirShared = true;
}

/**
 * Create a named namespace (like `ip netns add NAME`) and return a handle to it.
 * Fails with EEXIST when the name is taken; leaves nothing behind on failure.
 */
export function createNetns(name: string): Netns {
	validateNetnsName(name);
	prepareRunDir();
	const path = `${NETNS_RUN_DIR}/${name}`;
	try {
		openFd(path, O_RDONLY | O_CREAT | O_EXCL, 0).close();
	} catch (e) {
		if (e instanceof ErrnoError && e.errno === ERRNO.EEXIST) {
			throw new LinuxError("netns.create", `network namespace ${name} already exists`, e);
		}
		throw e;
	}
	try {
		using home = currentNetns();
		unshare(CLONE_NEWNET);
		try {
			mount("/proc/thread-self/ns/net", path, "none", MS_BIND);
		} finally {
			setns(home, CLONE_NEWNET, "(return after unshare)");
		}
	} catch (e) {
		rmSync(path, { force: true });
		throw e;
	}
	return Netns.open(name);
}

/** Delete a named namespace (like `ip netns del NAME`). Returns false if it did not exist. */
export function deleteNetns(name: string): boolean {
	validateNetnsName(name);
	const path = `${NETNS_RUN_DIR}/${name}`;
	try {
		umount2(path, MNT_DETACH);
	} catch (e) {
		if (isNotFound(e)) return false;
		// EINVAL: the file exists but is not a mount (a half-made namespace): just remove it.
		if (!(e instanceof ErrnoError && e.errno === ERRNO.EINVAL)) throw e;
	}
	rmSync(path, { force: true });
	return true;
}

/** Names of the namespaces under NETNS_RUN_DIR. */
export function listNetns(): string[] {
	try {
		return readdirSync(NETNS_RUN_DIR).sort();
	} catch (e) {
		if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
		throw e;
	}
}
