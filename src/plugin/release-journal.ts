/**
 * The node-local journal of releases DEL could not hand to terwayd (issue 5: DEL never blocks
 * pod deletion on the daemon). DEL removes the datapath, appends one JSON line here, fsyncs it
 * (and the directory when the file is new) and succeeds; terwayd applies and clears the journal
 * when it starts (src/daemon/pending-releases.ts reads the same format).
 *
 * One line per release: {"pod":{"namespace","name"[,"uid"]},"containerId","reason","time"}.
 * Appends of one line (< PIPE_BUF) with O_APPEND are atomic, so concurrent DELs need no lock.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import type { PodRef } from "./commands.ts";

/** Where DEL journals releases unless the conflist (`release_journal`) or TERWAY_RELEASE_JOURNAL says. */
export const DEFAULT_RELEASE_JOURNAL = "/var/lib/terway/pending-releases.jsonl";

export type PendingRelease = { pod: PodRef; containerId: string; reason: string; time: string };

/** The journal path: conflist `release_journal`, else TERWAY_RELEASE_JOURNAL, else the default. */
export function journalFor(confPath: string | undefined, env: Record<string, string | undefined>): string {
	return confPath ?? (env.TERWAY_RELEASE_JOURNAL || DEFAULT_RELEASE_JOURNAL);
}

/** Append one release durably (fsync of the file, and of the directory when it was created). */
export function journalRelease(path: string, entry: PendingRelease): void {
	const dir = dirname(path);
	const created = mkdirSync(dir, { recursive: true, mode: 0o700 }) !== undefined;
	const fd = openSync(path, "a", 0o600);
	try {
		writeSync(fd, `${JSON.stringify(entry)}\n`);
		fsyncSync(fd);
	} finally {
		closeSync(fd);
	}
	// the new directory entry must survive a crash too
	const dirs = created ? [dir, dirname(dir)] : [dir];
	for (const d of dirs) {
		try {
			const dfd = openSync(d, "r");
			try {
				fsyncSync(dfd);
			} finally {
				closeSync(dfd);
			}
		} catch {
			// best effort: some filesystems refuse fsync on a directory
		}
	}
}
