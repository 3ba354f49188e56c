/**
 * @module daemon/pending-releases
 *
 * Applies the releases the CNI plugin journaled while terwayd was unreachable (DEL never blocks
 * pod deletion on the daemon: src/plugin/release-journal.ts appends one JSON line per release,
 * fsynced). The journal is renamed aside before it is read, so a plugin appending meanwhile
 * starts a fresh file (applied next time); a crash mid-way leaves the aside file, taken first on
 * the next run. Releasing is idempotent, so applying an entry twice is harmless.
 */
import { existsSync, readFileSync, renameSync, unlinkSync } from "node:fs";
import type { ReleaseRequest } from "./api-types.ts";
import type { Logger } from "./log.ts";

/** Where the plugin journals releases by default (src/plugin/release-journal.ts; keep in sync). */
export const DEFAULT_RELEASE_JOURNAL = "/var/lib/terway/pending-releases.jsonl";

const isObject = (v: unknown): v is Record<string, unknown> =>
	typeof v === "object" && v !== null && !Array.isArray(v);

/** One journal line as a release request, or undefined when it is not one. */
export function parsePendingRelease(line: string): ReleaseRequest | undefined {
	let v: unknown;
	try {
		v = JSON.parse(line);
	} catch {
		return undefined;
	}
	if (!isObject(v) || !isObject(v.pod) || typeof v.containerId !== "string" || v.containerId === "")
		return undefined;
	const { namespace, name, uid } = v.pod;
	if (typeof namespace !== "string" || typeof name !== "string" || !namespace || !name) return undefined;
	return {
		pod: { namespace, name, ...(typeof uid === "string" && uid ? { uid } : {}) },
		containerId: v.containerId,
	};
}

/** Apply and clear the journal at `path`; returns how many entries were applied. */
export async function applyPendingReleases(
	path: string,
	release: (req: ReleaseRequest) => Promise<unknown>,
	log: Logger,
): Promise<number> {
	const aside = `${path}.applying`;
	if (existsSync(path)) {
		if (existsSync(aside)) {
			// a previous run stopped mid-way: take both
			const more = readFileSync(path, "utf8");
			await Bun.write(aside, readFileSync(aside, "utf8") + more);
			unlinkSync(path);
		} else renameSync(path, aside);
	}
	if (!existsSync(aside)) return 0;
	let applied = 0;
	for (const line of readFileSync(aside, "utf8").split("\n")) {
		if (line.trim() === "") continue;
		const req = parsePendingRelease(line);
		if (!req) {
			log.warn({ line: line.slice(0, 200) }, "pending release: not a release entry, skipped");
			continue;
		}
		const r = await release(req);
		applied++;
		log.info(
			{ pod: `${req.pod.namespace}/${req.pod.name}`, containerId: req.containerId, r },
			"pending release applied",
		);
	}
	unlinkSync(aside);
	return applied;
}
