/**
 * `terwayctl metadata [PATH]`: reads the ECS instance metadata service directly (token protocol,
 * `TERWAY_METADATA_URL` like terwayd; src/cloud/metadata.ts) and prints the whole tree, a
 * subtree, or one value. Each ENI's MAC directory is annotated with the local link carrying that
 * MAC (Terway's `interface`, "!!!NOT FOUND" there), read through netlink when libnl is present.
 *
 * Exit 1 when the service cannot be reached or PATH does not exist there; exit 2 for a PATH that
 * cannot be a metadata path.
 */
import { metadataBaseUrl } from "../../../cloud/endpoints.ts";
import { MetadataClient } from "../../../cloud/metadata.ts";
import { CloudApiError } from "../../../cloud/types.ts";
import { EXIT, ExitError } from "../../errors.ts";
import { emit, type OutputFormat } from "../../format.ts";
import {
	listingEntries,
	type MetaTree,
	macDirs,
	nearest,
	normalizeMetaPath,
	renderTree,
	walk,
} from "./tree.ts";

export type MetadataOptions = { path?: string | undefined; format: OutputFormat };

/** --json for a directory: where it was read, the tree, and each MAC's local link (null = none). */
export type MetadataTreeDocument = {
	url: string;
	path: string;
	tree: MetaTree;
	links: Record<string, string | null>;
};
/** --json for a single key. */
export type MetadataValueDocument = { url: string; path: string; value: string };

/** The CLI's metadata client: fail fast (5 s per request, 2 attempts) instead of terwayd's 30 s x4. */
export function cliMetadataClient(): MetadataClient {
	return new MetadataClient({ timeoutMs: 5_000, retry: { steps: 2 } });
}

/** A one-line error for an unreachable service or a failed read (`entries`: the parent's listing). */
export function metadataError(e: unknown, url: string, path: string, entries: string[] = []): ExitError {
	if (e instanceof CloudApiError && e.code === "Metadata.404") {
		const name = path.replace(/\/$/, "").split("/").pop() ?? "";
		const near = nearest(name, entries);
		const hint = near ? ` (did you mean ${path.slice(0, path.lastIndexOf(name))}${near}?)` : "";
		return new ExitError(`metadata: no ${path || "/"} at ${url}/latest/meta-data/${hint}`);
	}
	const why = e instanceof Error ? e.message : String(e);
	return new ExitError(
		`metadata service not reachable at ${url} (${why}); run on an ECS instance (or inside a sim node: terwayctl sim exec NODE -- ...), or set TERWAY_METADATA_URL`,
	);
}

/** Local links by MAC (lower case) in this network namespace; empty when netlink is unavailable. */
export async function localLinksByMac(): Promise<Map<string, string> | undefined> {
	try {
		const { Netlink } = await import("../../../linux/netlink/handle.ts");
		using nl = Netlink.current();
		return new Map(nl.linkList().flatMap((l) => (l.mac ? [[l.mac.toLowerCase(), l.name] as const] : [])));
	} catch {
		return undefined;
	}
}

/**
 * Is `path` a directory? Asks its parent's listing (the only place the service says so) and
 * returns that listing too, for "did you mean".
 */
async function probe(md: MetadataClient, path: string): Promise<{ dir: boolean; entries: string[] }> {
	const trimmed = path.replace(/\/$/, "");
	if (trimmed === "") return { dir: true, entries: [] };
	const slash = trimmed.lastIndexOf("/");
	const parent = slash < 0 ? "" : trimmed.slice(0, slash + 1);
	const name = trimmed.slice(slash + 1);
	let entries: string[] = [];
	try {
		entries = listingEntries(await md.get(parent));
	} catch (e) {
		if (!(e instanceof CloudApiError && e.code === "Metadata.404")) throw e;
	}
	// not listed (e.g. `ipv6s` before any IPv6 is assigned): a trailing slash or the read decides
	return { dir: path.endsWith("/") || entries.includes(`${name}/`), entries };
}

export async function metadataCommand(opts: MetadataOptions): Promise<void> {
	const raw = opts.path ?? "";
	const path = normalizeMetaPath(raw);
	if (path === undefined)
		throw new ExitError(
			`metadata path ${JSON.stringify(raw)}: not a path under /latest/meta-data/ (no spaces, "." or "..")`,
			EXIT.usage,
		);
	const url = metadataBaseUrl();
	const md = cliMetadataClient();
	let found: { dir: boolean; entries: string[] };
	try {
		found = await probe(md, path);
	} catch (e) {
		throw metadataError(e, url, path);
	}
	if (!found.dir) {
		let value: string;
		try {
			value = (await md.get(path)).trim();
		} catch (e) {
			throw metadataError(e, url, path, found.entries);
		}
		const doc: MetadataValueDocument = { url, path, value };
		emit(opts.format, doc, () => value);
		return;
	}
	const base = path === "" || path.endsWith("/") ? path : `${path}/`;
	let tree: MetaTree | undefined;
	try {
		tree = await walk(async (p) => {
			try {
				return await md.get(p);
			} catch (e) {
				if (e instanceof CloudApiError && e.code === "Metadata.404") return null;
				throw e;
			}
		}, base);
	} catch (e) {
		throw metadataError(e, url, base);
	}
	if (!tree) throw metadataError(notFound(base), url, base, found.entries);
	const local = await localLinksByMac();
	const links: Record<string, string | null> = {};
	if (local) for (const mac of macDirs(tree)) links[mac] = local.get(mac) ?? null;
	const doc: MetadataTreeDocument = { url, path: base, tree, links };
	emit(opts.format, doc, () => renderTree(tree, `${url}/latest/meta-data/${base}`, links));
}

function notFound(path: string): CloudApiError {
	return new CloudApiError({ code: "Metadata.404", action: path, status: 404, message: `${path}: 404` });
}
