/**
 * Housekeeping of pinned TCX links: a link pinned under `<pinRoot>/links/` outlives its device
 * (the kernel detaches it when the device goes and reports ifindex 0 from then on), so a pod
 * whose veth vanished without a DEL that knew about its programs leaves a defunct pin behind.
 * `sweepDefunctLinkPins` removes exactly those; a pin whose link is still attached stays.
 * No process is spawned; only pins under the given root are touched.
 */
import { readdirSync } from "node:fs";
import { ERRNO, ErrnoError } from "../../ffi/errno.ts";
import { linkInfo, objGet } from "../../ffi/libbpf/index.ts";
import { unpin } from "./bpffs.ts";

/** Directory of the link pins below a pin root. */
export const linksDir = (pinRoot: string): string => `${pinRoot}/links`;

/**
 * Unpin every TCX link under `<pinRoot>/links/` whose device is gone (link info ifindex 0).
 * Returns the paths removed. A pin that cannot be opened as a link is left alone.
 */
export function sweepDefunctLinkPins(pinRoot: string): string[] {
	let names: string[];
	try {
		names = readdirSync(linksDir(pinRoot));
	} catch (e) {
		if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
		throw e;
	}
	const removed: string[] = [];
	for (const name of names) {
		const path = `${linksDir(pinRoot)}/${name}`;
		let defunct = false;
		try {
			using fd = objGet(path);
			const info = linkInfo(fd.fd);
			defunct = info.tcx !== undefined && info.tcx.ifindex === 0;
		} catch (e) {
			// gone meanwhile, or not a link: not ours to judge
			if (e instanceof ErrnoError && (e.errno === ERRNO.ENOENT || e.errno === ERRNO.EINVAL)) continue;
			throw e;
		}
		if (defunct && unpin(path)) removed.push(path);
	}
	return removed;
}
