/**
 * @module daemon/state-lock
 *
 * One terwayd per state directory: `<stateDir>/terwayd.lock`, created exclusively (an O_EXCL temp
 * file with the content, hard-linked into place) with `<pid> <starttime>` inside (starttime: /proc/<pid>/stat field 22, so a recycled pid is not taken
 * for the owner). A second daemon on the same directory refuses to start, naming the owner. A lock
 * left by a dead owner (kill -9, crash; a zombie counts as dead) is stale: it is renamed aside
 * (atomic), checked again under its new name, and the lock is created afresh. No flock: plain
 * files only, no native code.
 */
import { closeSync, linkSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { join } from "node:path";

export const LOCK_FILE = "terwayd.lock";

/** The state directory is held by a live process. */
export class StateDirLockedError extends Error {
	override readonly name = "StateDirLockedError";
	constructor(
		readonly path: string,
		readonly pid: number,
	) {
		super(`state dir lock ${path} is held by pid ${pid} (another terwayd on the same state dir?)`);
	}
}

/** Start time of a process in clock ticks since boot, or undefined if it does not run (zombies do not). */
export function processStart(pid: number): string | undefined {
	let stat: string;
	try {
		stat = readFileSync(`/proc/${pid}/stat`, "utf8");
	} catch {
		return undefined;
	}
	// the command name (field 2) is in parentheses and may contain spaces: split after the last ")"
	const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
	if (fields[0] === "Z" || fields[0] === "X") return undefined;
	return fields[19]; // field 22 overall
}

type Owner = { pid: number; start: string | undefined };

function readOwner(path: string): Owner | undefined {
	let text: string;
	try {
		text = readFileSync(path, "utf8");
	} catch {
		return undefined;
	}
	const [p, start] = text.trim().split(/\s+/);
	const pid = Number(p);
	return Number.isInteger(pid) && pid > 0 ? { pid, start } : { pid: 0, start: undefined };
}

function alive(o: Owner): boolean {
	if (o.pid <= 0) return false;
	const start = processStart(o.pid);
	if (start === undefined) return false;
	return o.start === undefined || o.start === start;
}

export type StateLock = { path: string; release(): void };

/**
 * Takes the lock of `stateDir` for this process. Throws {@link StateDirLockedError} when a live
 * process holds it. `release()` removes the lock if it is still ours (idempotent).
 */
export function lockStateDir(stateDir: string, log?: (msg: string) => void): StateLock {
	const path = join(stateDir, LOCK_FILE);
	const me = `${process.pid} ${processStart(process.pid) ?? ""}`.trim();
	// the content is written first (O_EXCL temp file), then linked into place: link(2) fails if
	// the lock exists, and a reader never sees a lock without its pid
	const tmp = `${path}.${process.pid}.tmp`;
	try {
		unlinkSync(tmp); // left by an earlier process with our pid
	} catch {}
	const fd = openSync(tmp, "wx", 0o600);
	try {
		writeSync(fd, `${me}\n`);
	} finally {
		closeSync(fd);
	}
	try {
		return take(path, tmp, log);
	} finally {
		try {
			unlinkSync(tmp);
		} catch {}
	}
}

function take(path: string, tmp: string, log?: (msg: string) => void): StateLock {
	for (let attempt = 0; attempt < 3; attempt++) {
		try {
			linkSync(tmp, path);
		} catch (e) {
			if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
			const owner = readOwner(path);
			if (!owner) continue; // removed meanwhile: try again
			if (alive(owner)) throw new StateDirLockedError(path, owner.pid);
			// stale: move it aside atomically, then make sure what we moved is the stale one
			const aside = `${path}.stale-${process.pid}`;
			try {
				renameSync(path, aside);
			} catch {
				continue;
			}
			const moved = readOwner(aside);
			if (moved && alive(moved)) {
				// another starter took over between our read and the rename: give it back
				try {
					linkSync(aside, path);
				} catch {}
				unlinkSync(aside);
				throw new StateDirLockedError(path, moved.pid);
			}
			unlinkSync(aside);
			log?.(`removed a stale state dir lock of pid ${owner.pid || "?"}`);
			continue;
		}
		let held = true;
		return {
			path,
			release() {
				if (!held) return;
				held = false;
				const o = readOwner(path);
				if (o?.pid === process.pid) {
					try {
						unlinkSync(path);
					} catch {}
				}
			},
		};
	}
	throw new Error(`could not take the state dir lock ${path} (it keeps changing)`);
}
