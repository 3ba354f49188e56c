/**
 * A list+watch informer on Bun's fetch streaming (client-node's `Watch` imports undici
 * directly and so cannot use our TLS, reference/ffi-probe.md Q5).
 *
 * Semantics follow client-go's reflector (k8s.io/client-go/tools/cache/reflector.go), reduced:
 * - list (`resourceVersion=0` first, like Terway's daemon; a consistent list after a 410), then
 *   watch from the list's resourceVersion with `allowWatchBookmarks=true`;
 * - ADDED/MODIFIED/DELETED update a cache keyed by namespace/name and call handlers in order;
 *   BOOKMARK only advances the resourceVersion;
 * - 410 Gone (HTTP status or an ERROR event with code 410) → relist, and diff the new list
 *   against the cache: synthetic add/update/delete, so handlers converge without a gap;
 * - a normal end of the stream → watch again from the last resourceVersion; network errors,
 *   5xx and 429 → watch (or list) again after an exponential backoff with jitter. The informer
 *   never stops on its own; only `stop()` ends it (client-node's informer stops on any error).
 *
 * Handlers run one at a time, in event order, off the reading loop (a queue), so a slow
 * handler never stalls the stream. Generic: a collection path and the object type, nothing
 * about pods.
 */
import { type KubeFetchInit, KubeStatusError } from "./client.ts";

/** What the informer needs from a client: `KubeClient` fits. */
export interface KubeTransport {
	fetch(path: string, init?: KubeFetchInit): Promise<Response>;
}

/** The metadata an informer reads. */
export type ObjectMeta = {
	name?: string;
	namespace?: string;
	uid?: string;
	resourceVersion?: string;
};

export type KubeObjectLike = { metadata?: ObjectMeta };

export type WatchEventType = "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";

/** One line of a watch stream. */
export type RawWatchEvent = { type: WatchEventType; object: Record<string, unknown> };

/** Handlers; each may be async (awaited before the next event is delivered). */
export type InformerHandlers<T> = {
	add?(obj: T): void | Promise<void>;
	update?(obj: T, old: T): void | Promise<void>;
	/** `synthetic`: inferred by a relist diff (the DELETED event itself was missed). */
	delete?(obj: T, info: { synthetic: boolean }): void | Promise<void>;
	/** A failed list/watch (it is retried) or a handler that threw. Never fatal. */
	error?(err: Error): void;
	/**
	 * A list or watch request was answered (after `error`: the cache is live again). Queued behind
	 * the events of that list, like the other handlers.
	 */
	connected?(): void;
};

export type BackoffOptions = { initialMs: number; maxMs: number; factor?: number; jitter?: number };

export type InformerOptions<T> = InformerHandlers<T> & {
	/** Collection path, e.g. "/api/v1/pods" or "/apis/network.alibabacloud.com/v1beta1/nodes". */
	path: string;
	labelSelector?: string;
	fieldSelector?: string;
	/** Page size of lists (default 500, as client-go's pager). 0: no paging. */
	pageSize?: number;
	/**
	 * Server-side watch timeout (`timeoutSeconds`); default 5-10 min at random like client-go, so
	 * many agents do not reconnect in lockstep. The client aborts a watch that outlives it by 30 s
	 * (a half-open connection that no longer delivers anything).
	 */
	watchTimeoutSeconds?: number;
	/** Retry backoff (default 500 ms doubling to 30 s, jitter 0.5). */
	backoff?: BackoffOptions;
	/** Random source in [0,1) for jitter and the watch timeout (tests). */
	random?: () => number;
};

export type InformerStats = {
	lists: number;
	watches: number;
	/** Relists because of 410 Gone. */
	relists: number;
	bookmarks: number;
	/** List/watch failures that were retried. */
	errors: number;
};

/** "ns/name" or "name" for cluster-scoped objects (client-go MetaNamespaceKeyFunc). */
export function objectKey(obj: KubeObjectLike): string {
	const m = obj.metadata ?? {};
	return m.namespace ? `${m.namespace}/${m.name ?? ""}` : (m.name ?? "");
}

/** Exponential backoff with jitter: delay n = min(max, initial*factor^n) * (1 + jitter*rand). */
export class Backoff {
	#n = 0;
	constructor(
		readonly opts: BackoffOptions,
		private readonly random: () => number = Math.random,
	) {}
	next(): number {
		const { initialMs, maxMs, factor = 2, jitter = 0 } = this.opts;
		const base = Math.min(maxMs, initialMs * factor ** this.#n);
		this.#n++;
		return Math.round(base * (1 + jitter * this.random()));
	}
	reset(): void {
		this.#n = 0;
	}
}

/**
 * Split a byte stream into newline-terminated lines (watch streams are JSON lines). Feed
 * chunks, get the complete lines; blank lines (the sim's keep-alive newline) are dropped.
 */
export class LineSplitter {
	#decoder = new TextDecoder();
	#rest = "";
	push(chunk: Uint8Array): string[] {
		const text = this.#rest + this.#decoder.decode(chunk, { stream: true });
		const parts = text.split("\n");
		this.#rest = parts.pop() ?? "";
		return parts.map((l) => l.trim()).filter((l) => l !== "");
	}
	/** What is left at the end of the stream (a last line without a newline), if anything. */
	end(): string[] {
		const last = (this.#rest + this.#decoder.decode()).trim();
		this.#rest = "";
		return last ? [last] : [];
	}
}

export type DiffEvent<T> =
	| { type: "add"; object: T }
	| { type: "update"; object: T; old: T }
	| { type: "delete"; object: T };

/**
 * What a relist changed: deletes (gone, or replaced by an object with another uid) first, then
 * adds and updates in list order. An object whose resourceVersion did not change is no event.
 */
export function diffRelist<T extends KubeObjectLike>(
	cache: ReadonlyMap<string, T>,
	items: readonly T[],
): DiffEvent<T>[] {
	const next = new Map(items.map((o) => [objectKey(o), o]));
	const out: DiffEvent<T>[] = [];
	for (const [k, old] of cache) {
		const now = next.get(k);
		if (!now || (old.metadata?.uid && now.metadata?.uid && old.metadata.uid !== now.metadata.uid))
			out.push({ type: "delete", object: old });
	}
	for (const [k, now] of next) {
		const old = cache.get(k);
		if (!old || (old.metadata?.uid && now.metadata?.uid && old.metadata.uid !== now.metadata.uid))
			out.push({ type: "add", object: now });
		else if (old.metadata?.resourceVersion !== now.metadata?.resourceVersion)
			out.push({ type: "update", object: now, old });
	}
	return out;
}

/** Query string for a list or a watch. */
export function buildQuery(params: Record<string, string | number | boolean | undefined>): string {
	const q = new URLSearchParams();
	for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== "") q.set(k, String(v));
	const s = q.toString();
	return s ? `?${s}` : "";
}

/** The watch needs a fresh list (410 Gone). */
class GoneError extends Error {
	override readonly name = "GoneError";
}

class StoppedError extends Error {
	override readonly name = "StoppedError";
}

type KubeList<T> = { metadata?: { resourceVersion?: string; continue?: string }; items?: T[] };

/**
 * A list+watch cache of one collection.
 *
 * @example
 * ```ts
 * const pods = new Informer<V1Pod>(kube, {
 *   path: "/api/v1/pods",
 *   fieldSelector: `spec.nodeName=${node}`,
 *   add: (p) => console.log("add", p.metadata?.name),
 * }).start();
 * await pods.synced;
 * // ...
 * await pods.stop();
 * ```
 */
export class Informer<T extends KubeObjectLike> {
	readonly #t: KubeTransport;
	readonly #o: InformerOptions<T>;
	readonly #cache = new Map<string, T>();
	readonly #backoff: Backoff;
	readonly #random: () => number;
	#rv = "";
	#stopped = false;
	#started = false;
	#abort = new AbortController();
	#loop: Promise<void> | undefined;
	#queue: Promise<void> = Promise.resolve();
	#resolveSynced!: () => void;
	#rejectSynced!: (e: Error) => void;
	#hasSynced = false;
	readonly stats: InformerStats = { lists: 0, watches: 0, relists: 0, bookmarks: 0, errors: 0 };
	/**
	 * Resolves once the first list is in the cache and its add events were handled. Rejects only
	 * if the informer is stopped before that.
	 */
	readonly synced: Promise<void>;

	constructor(transport: KubeTransport, opts: InformerOptions<T>) {
		this.#t = transport;
		this.#o = opts;
		this.#random = opts.random ?? Math.random;
		this.#backoff = new Backoff(opts.backoff ?? { initialMs: 500, maxMs: 30_000, jitter: 0.5 }, this.#random);
		this.synced = new Promise<void>((res, rej) => {
			this.#resolveSynced = res;
			this.#rejectSynced = rej;
		});
		this.synced.catch(() => {}); // a caller that never awaits it must not see an unhandled rejection
	}

	/** Start listing and watching (idempotent). */
	start(): this {
		if (this.#started) return this;
		this.#started = true;
		this.#loop = this.#run();
		return this;
	}

	/** Stop: abort the open request, wait for the loop and the handlers queued so far. */
	async stop(): Promise<void> {
		if (this.#stopped) return;
		this.#stopped = true;
		this.#abort.abort(new StoppedError("informer stopped"));
		if (!this.#hasSynced) this.#rejectSynced(new StoppedError("informer stopped before it synced"));
		await this.#loop;
		await this.#queue;
	}

	get hasSynced(): boolean {
		return this.#hasSynced;
	}

	/** The last resourceVersion seen (list, event or bookmark). */
	get resourceVersion(): string {
		return this.#rv;
	}

	/** Cached objects (the state as of the last event handled by the reader). */
	list(): T[] {
		return [...this.#cache.values()];
	}

	/** One cached object by "ns/name" (or "name"). */
	get(key: string): T | undefined {
		return this.#cache.get(key);
	}

	#emit(fn: () => void | Promise<void>): void {
		this.#queue = this.#queue.then(fn).catch((e: unknown) => this.#error(e));
	}

	#error(e: unknown): void {
		const err = e instanceof Error ? e : new Error(String(e));
		try {
			this.#o.error?.(err);
		} catch {
			// an error handler that throws has nowhere left to report to
		}
	}

	async #sleep(ms: number): Promise<void> {
		if (this.#stopped) return;
		await new Promise<void>((resolve) => {
			const t = setTimeout(done, ms);
			const signal = this.#abort.signal;
			function done() {
				clearTimeout(t);
				signal.removeEventListener("abort", done);
				resolve();
			}
			signal.addEventListener("abort", done, { once: true });
		});
	}

	async #run(): Promise<void> {
		let needList = true;
		let relist = false;
		while (!this.#stopped) {
			try {
				if (needList) {
					await this.#list(relist);
					needList = false;
					relist = false;
				}
				const outcome = await this.#watch();
				if (outcome === "idle") await this.#sleep(this.#backoff.next());
			} catch (e) {
				if (this.#stopped) break;
				if (e instanceof GoneError) {
					needList = true;
					relist = true;
					this.stats.relists++;
					continue;
				}
				this.stats.errors++;
				this.#error(e);
				let wait = this.#backoff.next();
				if (e instanceof KubeStatusError && e.code === 429) wait = Math.max(wait, 1000);
				await this.#sleep(wait);
			}
		}
	}

	async #list(consistent: boolean): Promise<void> {
		const { path, labelSelector, fieldSelector } = this.#o;
		const limit = this.#o.pageSize ?? 500;
		const items: T[] = [];
		let cont: string | undefined;
		let rv = "";
		this.stats.lists++;
		do {
			const q = buildQuery({
				labelSelector,
				fieldSelector,
				limit: limit > 0 ? limit : undefined,
				continue: cont,
				// RV=0 may be served from the watch cache (what Terway asks for); after a 410 the
				// list must be at least as new as what we lost, so no RV (a consistent read). Paged
				// continuations carry their own RV.
				resourceVersion: cont || consistent ? undefined : "0",
			});
			const res = await this.#t.fetch(`${path}${q}`, { signal: this.#abort.signal });
			if (res.status === 410 && cont) {
				// the continue token expired mid-list: start over with a consistent list
				await res.body?.cancel();
				throw new GoneError("list continue token expired");
			}
			if (!res.ok) throw await KubeStatusError.fromResponse(res, `list ${path}`);
			const list = (await res.json()) as KubeList<T>;
			items.push(...(list.items ?? []));
			rv = list.metadata?.resourceVersion ?? rv;
			cont = list.metadata?.continue || undefined;
		} while (cont && !this.#stopped);
		if (this.#stopped) throw new StoppedError("stopped");
		this.#backoff.reset();
		if (this.#o.connected) this.#emit(() => this.#o.connected?.());
		for (const ev of diffRelist(this.#cache, items)) {
			if (ev.type === "delete") this.#cache.delete(objectKey(ev.object));
			else this.#cache.set(objectKey(ev.object), ev.object);
			this.#dispatch(ev, true);
		}
		this.#rv = rv;
		if (!this.#hasSynced) {
			this.#emit(() => {
				this.#hasSynced = true;
				this.#resolveSynced();
			});
		}
	}

	#dispatch(ev: DiffEvent<T>, synthetic: boolean): void {
		const o = this.#o;
		if (ev.type === "add") {
			const obj = ev.object;
			if (o.add) this.#emit(() => o.add?.(obj));
		} else if (ev.type === "update") {
			const { object, old } = ev;
			if (o.update) this.#emit(() => o.update?.(object, old));
		} else {
			const obj = ev.object;
			if (o.delete) this.#emit(() => o.delete?.(obj, { synthetic }));
		}
	}

	/**
	 * One watch request, read to its end. Returns "closed" after a stream that delivered events
	 * (watch again now), "idle" after one that ended at once with nothing (wait first, so a
	 * server that closes every watch immediately is not hammered). Throws GoneError on 410.
	 */
	async #watch(): Promise<"closed" | "idle"> {
		const { path, labelSelector, fieldSelector } = this.#o;
		const timeoutSeconds = this.#o.watchTimeoutSeconds ?? Math.floor(300 * (1 + this.#random()));
		const q = buildQuery({
			watch: "true",
			resourceVersion: this.#rv,
			allowWatchBookmarks: "true",
			timeoutSeconds,
			labelSelector,
			fieldSelector,
		});
		// Abort a watch that outlives the server's timeout: the connection is half-open.
		const overdue = new AbortController();
		const timer = setTimeout(
			() => overdue.abort(new Error(`watch ${path} outlived timeoutSeconds=${timeoutSeconds}`)),
			(timeoutSeconds + 30) * 1000,
		);
		const signal = AbortSignal.any([this.#abort.signal, overdue.signal]);
		this.stats.watches++;
		const started = Date.now();
		let delivered = 0;
		try {
			const res = await this.#t.fetch(`${path}${q}`, { signal, stream: true });
			if (res.status === 410) {
				await res.body?.cancel();
				throw new GoneError(`watch ${path}: 410 Gone`);
			}
			if (!res.ok) throw await KubeStatusError.fromResponse(res, `watch ${path}`);
			this.#backoff.reset();
			if (this.#o.connected) this.#emit(() => this.#o.connected?.());
			if (!res.body) return "idle";
			const split = new LineSplitter();
			const reader = res.body.getReader();
			try {
				for (;;) {
					const { done, value } = await reader.read();
					const lines = done ? split.end() : split.push(value);
					for (const line of lines) {
						this.#onEvent(JSON.parse(line) as RawWatchEvent);
						delivered++;
					}
					if (done) break;
				}
			} finally {
				reader.releaseLock();
				await res.body.cancel().catch(() => {});
			}
		} finally {
			clearTimeout(timer);
		}
		return delivered > 0 || Date.now() - started > 1000 ? "closed" : "idle";
	}

	#onEvent(ev: RawWatchEvent): void {
		if (this.#stopped) return;
		if (ev.type === "ERROR") {
			const s = ev.object as { code?: number; reason?: string; message?: string };
			if (s.code === 410) throw new GoneError(`watch ${this.#o.path}: ${s.message ?? "410 Gone"}`);
			throw new KubeStatusError(
				s.code ?? 500,
				s.reason ?? "Unknown",
				`watch ${this.#o.path}: ${s.message ?? "ERROR event"}`,
			);
		}
		const obj = ev.object as T;
		const rv = obj.metadata?.resourceVersion;
		if (ev.type === "BOOKMARK") {
			this.stats.bookmarks++;
			if (rv) this.#rv = rv;
			return;
		}
		const key = objectKey(obj);
		const old = this.#cache.get(key);
		if (ev.type === "DELETED") {
			this.#cache.delete(key);
			this.#dispatch({ type: "delete", object: obj }, false);
		} else if (ev.type === "ADDED" || ev.type === "MODIFIED") {
			this.#cache.set(key, obj);
			this.#dispatch(old ? { type: "update", object: obj, old } : { type: "add", object: obj }, false);
		} else {
			throw new Error(`watch ${this.#o.path}: unknown event type ${JSON.stringify(ev.type)}`);
		}
		if (rv) this.#rv = rv;
	}
}
