/**
 * The metadata tree: walking the service's directory listings (an entry ending in `/` is a
 * directory, anything else a key), and rendering the result as an indented tree. The getter is
 * injected, so the walk runs against any MetadataApi (the real service, the sim).
 *
 * Must not: print, or reveal RAM-role credentials in a walk (`ram/security-credentials/<role>`
 * values become `<redacted>`; only an explicit path prints them).
 */
import { style } from "../../output.ts";

/** A directory: key -> value (string), sub-directory, or null (listed but answered 404). */
export type MetaTree = { [name: string]: string | null | MetaTree };

export const REDACTED = "<redacted>";

/** Normalised PATH argument: no leading slash, no `.`/`..` segments. "" is the root. */
export function normalizeMetaPath(raw: string): string | undefined {
	const p = raw
		.trim()
		.replace(/^\/+/, "")
		.replace(/^latest\/meta-data\/?/, "");
	if (/\s/.test(p) || p.split("/").some((s) => s === "." || s === "..")) return undefined;
	return p;
}

/** True for the values a walk must not print (STS credentials of the instance RAM role). */
export function isSecretPath(path: string): boolean {
	return /^ram\/security-credentials\/[^/]+$/.test(path);
}

/** Entries of a listing body: names with a trailing `/` for directories. */
export function listingEntries(body: string): string[] {
	return body
		.split("\n")
		.map((l) => l.trim())
		.filter((l) => l !== "" && !l.startsWith("<"));
}

export type Getter = (path: string) => Promise<string | null>;

/**
 * Walks the directory at `dir` ("" or ending in "/"), up to `parallel` requests at a time.
 * Undefined when `dir` itself is not there (404), so the caller can say so.
 */
export async function walk(get: Getter, dir: string, parallel = 8): Promise<MetaTree | undefined> {
	let running = 0;
	const queue: (() => void)[] = [];
	const limited = async (path: string): Promise<string | null> => {
		if (running >= parallel) await new Promise<void>((r) => queue.push(r));
		running++;
		try {
			return await get(path);
		} finally {
			running--;
			queue.shift()?.();
		}
	};
	const go = async (d: string, body: string | null): Promise<MetaTree> => {
		const tree: MetaTree = {};
		if (body === null) return tree;
		const entries = listingEntries(body);
		const values = await Promise.all(
			entries.map(async (e): Promise<string | null | MetaTree> => {
				if (e.endsWith("/")) return go(`${d}${e}`, await limited(`${d}${e}`));
				const path = `${d}${e}`;
				if (isSecretPath(path)) return REDACTED;
				const v = await limited(path);
				return v === null ? null : v.trim();
			}),
		);
		entries.forEach((e, i) => {
			tree[e.replace(/\/$/, "")] = values[i] as string | null | MetaTree;
		});
		return tree;
	};
	const top = await limited(dir);
	return top === null ? undefined : go(dir, top);
}

/** Edit distance, for "did you mean" on a path that is not there. */
export function distance(a: string, b: string): number {
	let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
	for (let i = 1; i <= a.length; i++) {
		const cur = [i];
		for (let j = 1; j <= b.length; j++)
			cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
		prev = cur;
	}
	return prev[b.length]!;
}

/** The entry of a listing nearest to `name` (within a third of its length), if any. */
export function nearest(name: string, entries: string[]): string | undefined {
	let best: { e: string; d: number } | undefined;
	for (const e of entries) {
		const d = distance(name, e.replace(/\/$/, ""));
		if (!best || d < best.d) best = { e, d };
	}
	return best && best.d <= Math.max(2, Math.floor(name.length / 3)) ? best.e : undefined;
}

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

/** Every directory in the tree named like a MAC (the `network/interfaces/macs/<mac>/` entries). */
export function macDirs(tree: MetaTree): string[] {
	const out: string[] = [];
	for (const [k, v] of Object.entries(tree)) {
		if (v === null || typeof v !== "object") continue;
		if (MAC.test(k)) out.push(k.toLowerCase());
		out.push(...macDirs(v));
	}
	return out;
}

/**
 * The tree as indented lines (`├──`/`└──`); directories end in `/`, a MAC directory is annotated
 * with its local link (`links`: mac -> link name, or null when no link has that MAC here).
 */
export function renderTree(tree: MetaTree, title: string, links: Record<string, string | null> = {}): string {
	const out = [style.bold(title)];
	const go = (t: MetaTree, indent: string) => {
		const keys = Object.keys(t);
		keys.forEach((k, i) => {
			const last = i === keys.length - 1;
			const branch = `${indent}${last ? "└── " : "├── "}`;
			const v = t[k];
			if (v !== null && typeof v === "object") {
				const link = links[k.toLowerCase()];
				const note =
					link === undefined ? "" : link === null ? `  ${style.red("(no local link)")}` : `  (${link})`;
				out.push(`${branch}${k}/${note}`);
				go(v, `${indent}${last ? "    " : "│   "}`);
			} else {
				const text = v === null || v === undefined ? style.dim("(not found)") : v.replace(/\s*\n\s*/g, ", ");
				out.push(`${branch}${k}: ${text}`);
			}
		});
	};
	go(tree, "");
	return out.join("\n");
}
