/**
 * The fake kube-apiserver's HTTP face: a fetch-style handler `(Request) => Promise<Response>`
 * that routes the REST paths of cloud-sim.md §4.4 onto a KubeStore, streams watches as
 * newline-terminated JSON events, applies "kube" fault rules (action = resource plural) and
 * records every request in the RequestLog. It owns no state beyond open watch streams.
 */
import { parse as parseYaml } from "yaml";
import type { KubeObject } from "../contracts.ts";
import type { FaultEngine } from "../faults.ts";
import type { RequestLog } from "../request-log.ts";
import { apiGroupDoc, apiGroupList, apiResourceList, apiVersions, KUBE_VERSION } from "./discovery.ts";
import { KubeApiError, kubeErrors } from "./errors.ts";
import { openapiV3Doc, openapiV3Index } from "./openapi.ts";
import type { DeleteOptions, KubeStore, PatchType, ResourceRef, WatchEvent } from "./store.ts";
import { gone } from "./store.ts";
import {
	type IncludeObject,
	type Printer,
	parseIncludeObject,
	printerFor,
	type Table,
	tableVersionFromAccept,
	toTable,
} from "./table.ts";

export type KubeHandlerOptions = {
	store: KubeStore;
	faults?: FaultEngine;
	log?: RequestLog;
	/** When set, a bearer token from this list is required (401 otherwise); by default any caller is admitted. */
	tokens?: readonly string[];
	/** Watches without timeoutSeconds end after this (default 1800 s, like the apiserver's 30–60 min). */
	defaultWatchTimeoutSeconds?: number;
	/** With allowWatchBookmarks, a BOOKMARK after the initial events and then at this interval (default 60 s). */
	bookmarkIntervalMs?: number;
};

/** The handler plus what the server composer needs to shut it down. */
export type KubeHandler = ((req: Request) => Promise<Response>) & {
	/** End every open watch stream (server shutdown). */
	closeWatches(): void;
};

type Route =
	| { kind: "collection"; ref: ResourceRef }
	| { kind: "item"; ref: ResourceRef; name: string; subresource?: string };

const JSON_HEADERS = { "content-type": "application/json" };

function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
	return new Response(`${JSON.stringify(body)}\n`, { status, headers: { ...JSON_HEADERS, ...headers } });
}

function statusResponse(e: KubeApiError, headers: Record<string, string> = {}): Response {
	return json(e.toStatus(), e.code, headers);
}

/** Split a REST path into collection/item routes; undefined when it is not a resource path. */
function route(segs: string[]): { group: string; version: string; rest: string[] } | undefined {
	if (segs[0] === "api" && segs[1]) return { group: "", version: segs[1], rest: segs.slice(2) };
	if (segs[0] === "apis" && segs[1] && segs[2])
		return { group: segs[1], version: segs[2], rest: segs.slice(3) };
	return undefined;
}

function resourceRoute(group: string, version: string, rest: string[]): Route | undefined {
	const apiVersion = group ? `${group}/${version}` : version;
	// /namespaces/<ns>/<resource>[/<name>[/<sub>]] unless it is the namespace object's own subresource.
	if (
		rest[0] === "namespaces" &&
		rest.length >= 3 &&
		group === "" &&
		!["status", "finalize"].includes(rest[2]!)
	) {
		const [, namespace, resource, name, subresource] = rest as [string, string, string, string?, string?];
		if (rest.length > 5) return undefined;
		const ref = { apiVersion, resource, namespace };
		return name === undefined
			? { kind: "collection", ref }
			: { kind: "item", ref, name, ...(subresource ? { subresource } : {}) };
	}
	if (rest[0] === "namespaces" && rest.length >= 3 && group !== "") {
		const [, namespace, resource, name, subresource] = rest as [string, string, string, string?, string?];
		if (rest.length > 5) return undefined;
		const ref = { apiVersion, resource, namespace };
		return name === undefined
			? { kind: "collection", ref }
			: { kind: "item", ref, name, ...(subresource ? { subresource } : {}) };
	}
	const [resource, name, subresource] = rest as [string?, string?, string?];
	if (!resource || rest.length > 3) return undefined;
	const ref = { apiVersion, resource };
	return name === undefined
		? { kind: "collection", ref }
		: { kind: "item", ref, name, ...(subresource ? { subresource } : {}) };
}

function patchTypeOf(contentType: string): PatchType | undefined {
	const ct = contentType.split(";")[0]!.trim().toLowerCase();
	switch (ct) {
		case "application/json-patch+json":
			return "json";
		case "application/merge-patch+json":
			return "merge";
		case "application/strategic-merge-patch+json":
			return "strategic";
		case "application/apply-patch+yaml":
			return "apply";
		default:
			return undefined;
	}
}

async function readBody(req: Request, yaml = false): Promise<unknown> {
	const text = await req.text();
	if (text.trim() === "") return undefined;
	try {
		return yaml ? parseYaml(text) : JSON.parse(text);
	} catch (e) {
		throw kubeErrors.badRequest(`the body of the request could not be decoded: ${(e as Error).message}`);
	}
}

function boolParam(q: URLSearchParams, name: string): boolean {
	const v = q.get(name);
	return v === "true" || v === "1";
}

function intParam(q: URLSearchParams, name: string): number | undefined {
	const v = q.get(name);
	if (v === null || v === "") return undefined;
	const n = Number(v);
	if (!Number.isInteger(n) || n < 0) throw kubeErrors.badRequest(`invalid ${name}: ${JSON.stringify(v)}`);
	return n;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** What a `as=Table` request prints with (server-side printing, table.ts). */
type TableAsk = { printer: Printer; apiVersion: string; include: IncludeObject; contentType: string };

/** Create the HTTP handler for a store. */
export function createKubeHandler(opts: KubeHandlerOptions): KubeHandler {
	const { store } = opts;
	const streams = new Set<() => void>();
	const watchTimeout = opts.defaultWatchTimeoutSeconds ?? 1800;
	const bookmarkEvery = opts.bookmarkIntervalMs ?? 60_000;

	/** The Table a GET asks for through Accept (kubectl get), or undefined for plain JSON. */
	function tableAsk(req: Request, ref: ResourceRef, q: URLSearchParams): TableAsk | undefined {
		const v = tableVersionFromAccept(req.headers.get("accept"));
		if (!v) return undefined;
		const include = parseIncludeObject(q.get("includeObject"));
		if (!include)
			throw kubeErrors.badRequest(
				`includeObject: Unsupported value: ${JSON.stringify(q.get("includeObject"))}: supported values: "Metadata", "None", "Object"`,
			);
		const { type, version } = store.resolve(ref);
		return {
			printer: printerFor(type, version),
			apiVersion: `meta.k8s.io/${v}`,
			include,
			contentType: `application/json;as=Table;v=${v};g=meta.k8s.io`,
		};
	}

	function tableJson(t: TableAsk, objects: KubeObject[], metadata: Table["metadata"]): Response {
		const body = toTable(t.printer, objects, {
			now: store.now(),
			includeObject: t.include,
			apiVersion: t.apiVersion,
			metadata,
		});
		return json(body, 200, { "content-type": t.contentType });
	}

	function discovery(url: URL, segs: string[]): Response | undefined {
		const p = url.pathname.replace(/\/+$/, "") || "/";
		if (p === "/version") return json(KUBE_VERSION);
		if (p === "/healthz" || p === "/readyz" || p === "/livez")
			return new Response("ok", { headers: { "content-type": "text/plain; charset=utf-8" } });
		if (p === "/api") return json(apiVersions(url.host));
		if (p === "/apis") return json(apiGroupList(store.registry));
		if (segs[0] === "apis" && segs.length === 2) {
			const doc = apiGroupDoc(store.registry, segs[1]!);
			return doc ? json(doc) : statusResponse(kubeErrors.notFoundPath());
		}
		if ((segs[0] === "api" && segs.length === 2) || (segs[0] === "apis" && segs.length === 3)) {
			const [group, version] = segs[0] === "api" ? ["", segs[1]!] : [segs[1]!, segs[2]!];
			const doc = apiResourceList(store.registry, group, version);
			return doc ? json(doc) : statusResponse(kubeErrors.notFoundPath());
		}
		if (p === "/openapi/v3") return json(openapiV3Index(store.registry));
		if (segs[0] === "openapi" && segs[1] === "v3") {
			const gv = segs.slice(2);
			const [group, version] =
				gv[0] === "api" && gv.length === 2
					? ["", gv[1]!]
					: gv[0] === "apis" && gv.length === 3
						? [gv[1]!, gv[2]!]
						: [];
			const doc = version !== undefined ? openapiV3Doc(store.registry, group!, version) : undefined;
			return doc ? json(doc) : statusResponse(kubeErrors.notFoundPath());
		}
		// No /openapi/v2: kubectl uses v3 (above); the v2 document is only a fallback for it.
		if (segs[0] === "openapi") return statusResponse(kubeErrors.notFoundPath());
		return undefined;
	}

	function watchResponse(
		req: Request,
		r: Extract<Route, { kind: "collection" }> | { kind: "item"; ref: ResourceRef; name: string },
		q: URLSearchParams,
		forceGone: boolean,
		table?: TableAsk,
	): Response {
		const enc = new TextEncoder();
		let fieldSelector = q.get("fieldSelector") ?? "";
		if (r.kind === "item")
			fieldSelector = [fieldSelector, `metadata.name=${r.name}`].filter(Boolean).join(",");
		const bookmarks = boolParam(q, "allowWatchBookmarks");
		const timeoutSeconds = intParam(q, "timeoutSeconds") ?? watchTimeout;
		const rv = q.get("resourceVersion") ?? "";
		const sendInitialEvents = boolParam(q, "sendInitialEvents");
		// Validate before answering 200, so a bad selector is a plain 400.
		store.list(r.ref, { labelSelector: q.get("labelSelector") ?? "", fieldSelector, limit: 1 });
		let ctrl: ReadableStreamDefaultController<Uint8Array> | undefined;
		let done = false;
		const timers: ReturnType<typeof setTimeout>[] = [];
		let watch: { close(): void } | undefined;
		const finish = () => {
			if (done) return;
			done = true;
			watch?.close();
			for (const t of timers) clearTimeout(t);
			streams.delete(finish);
			try {
				ctrl?.close();
			} catch {
				// already closed by the client
			}
		};
		let sentAny = false;
		let sentTable = false;
		const send = (e: WatchEvent) => {
			if (done) return;
			sentAny = true;
			if (table && (e.type === "ADDED" || e.type === "MODIFIED" || e.type === "DELETED")) {
				// One row per event; column definitions only with the first, as the apiserver
				// saves bandwidth (kubectl reuses the last columns it saw).
				const o = e.object as KubeObject;
				e = {
					type: e.type,
					object: toTable(table.printer, [o], {
						now: store.now(),
						includeObject: table.include,
						apiVersion: table.apiVersion,
						noHeaders: sentTable,
						metadata: { resourceVersion: String(o.metadata.resourceVersion ?? "") },
					}),
				};
				sentTable = true;
			}
			try {
				ctrl?.enqueue(enc.encode(`${JSON.stringify(e)}\n`));
			} catch {
				finish();
			}
		};
		const body = new ReadableStream<Uint8Array>({
			start(c) {
				ctrl = c;
				if (forceGone) {
					send({ type: "ERROR", object: gone(Number(rv) || 0, store.resourceVersion).toStatus() });
					finish();
					return;
				}
				watch = store.watch(
					r.ref,
					{ labelSelector: q.get("labelSelector") ?? "", fieldSelector, resourceVersion: rv },
					send,
					() => finish(),
				);
				if (done) return;
				streams.add(finish);
				if (bookmarks) {
					send(
						store.bookmark(r.ref, sendInitialEvents ? { "k8s.io/initial-events-end": "true" } : undefined),
					);
					const tick = () => {
						send(store.bookmark(r.ref));
						timers.push(setTimeout(tick, bookmarkEvery));
					};
					timers.push(setTimeout(tick, bookmarkEvery));
				}
				timers.push(setTimeout(finish, timeoutSeconds * 1000));
				// Bun sends the response headers with the first body chunk, and client-node's
				// `await watch()` waits for the headers (cloud-sim.md §4.3): with no event to
				// send yet, a bare newline gets them out. JSON stream decoders (client-node's
				// line reader ignores unparsable lines; Go's json framer skips whitespace) accept it.
				if (!sentAny) c.enqueue(enc.encode("\n"));
			},
			cancel() {
				finish();
			},
		});
		req.signal.addEventListener("abort", finish, { once: true });
		return new Response(body, {
			status: 200,
			headers: {
				"content-type": table ? table.contentType : "application/json",
				"cache-control": "no-cache, private",
				"transfer-encoding": "chunked",
			},
		});
	}

	async function resource(req: Request, r: Route, q: URLSearchParams, forceGone: boolean): Promise<Response> {
		const dryRun = q.getAll("dryRun").includes("All");
		const method = req.method.toUpperCase();
		if (r.kind === "collection") {
			const listOpts = {
				labelSelector: q.get("labelSelector") ?? "",
				fieldSelector: q.get("fieldSelector") ?? "",
			};
			if (method === "GET") {
				const table = tableAsk(req, r.ref, q);
				if (boolParam(q, "watch")) return watchResponse(req, r, q, forceGone, table);
				const list = store.list(r.ref, {
					...listOpts,
					limit: intParam(q, "limit"),
					continue: q.get("continue") ?? undefined,
				});
				return table ? tableJson(table, list.items, list.metadata) : json(list);
			}
			if (method === "POST") {
				const body = (await readBody(req)) as KubeObject;
				if (body === undefined) throw kubeErrors.badRequest("the body of the request is empty");
				return json(store.create(r.ref, body, { dryRun }), 201);
			}
			if (method === "DELETE") {
				const body = ((await readBody(req)) ?? {}) as DeleteOptions;
				return json(store.deleteCollection(r.ref, listOpts, { ...body, dryRun }));
			}
			throw kubeErrors.methodNotAllowed(method, r.ref.resource);
		}
		const { ref, name } = r;
		const sub = r.subresource;
		if (sub !== undefined && sub !== "status") throw kubeErrors.notFoundPath();
		if (sub === "status") {
			const { type } = store.resolve(ref);
			if (!type.status) throw kubeErrors.notFoundPath();
		}
		const opts = { ...(sub === "status" ? { subresource: "status" as const } : {}), dryRun };
		switch (method) {
			case "GET": {
				const table = tableAsk(req, ref, q);
				if (boolParam(q, "watch"))
					return watchResponse(req, { kind: "item", ref, name }, q, forceGone, table);
				const o = store.get({ ...ref, name });
				return table
					? tableJson(table, [o], { resourceVersion: String(o.metadata.resourceVersion ?? "") })
					: json(o);
			}
			case "PUT": {
				const body = (await readBody(req)) as KubeObject;
				if (body === undefined) throw kubeErrors.badRequest("the body of the request is empty");
				const m = (body.metadata ?? {}) as { name?: string };
				if (m.name !== undefined && m.name !== name)
					throw kubeErrors.badRequest(
						`the name of the object (${m.name}) does not match the name on the URL (${name})`,
					);
				return json(store.update(ref, { ...body, metadata: { ...body.metadata, name } }, opts));
			}
			case "PATCH": {
				const ct = req.headers.get("content-type") ?? "";
				const pt = patchTypeOf(ct);
				if (!pt) throw kubeErrors.unsupportedMediaType(ct);
				const body = await readBody(req, pt === "apply");
				if (body === undefined) throw kubeErrors.badRequest("the body of the request is empty");
				const before = store.tryGet({ ...ref, name });
				const out = store.patch({ ...ref, name }, pt, body, opts);
				return json(out, pt === "apply" && !before ? 201 : 200);
			}
			case "DELETE": {
				const body = ((await readBody(req)) ?? {}) as DeleteOptions & { kind?: string };
				const grace = intParam(q, "gracePeriodSeconds");
				return json(
					store.delete(
						{ ...ref, name },
						{ ...body, ...(grace !== undefined ? { gracePeriodSeconds: grace } : {}), dryRun },
					),
				);
			}
			default:
				throw kubeErrors.methodNotAllowed(method, `${ref.resource}/${name}`);
		}
	}

	async function serve(
		req: Request,
		started: number,
		record: (status: number, fault?: string) => void,
	): Promise<Response> {
		const url = new URL(req.url);
		const segs = url.pathname
			.split("/")
			.filter((s) => s !== "")
			.map(decodeURIComponent);
		if (opts.tokens) {
			const auth = req.headers.get("authorization") ?? "";
			const token = auth.startsWith("Bearer ") ? auth.slice(7).trim() : "";
			if (!opts.tokens.includes(token)) {
				const e = new KubeApiError(401, "Unauthorized", "Unauthorized");
				record(401);
				return statusResponse(e);
			}
		}
		const d = discovery(url, segs);
		if (d) {
			record(d.status);
			return d;
		}
		const rt = route(segs);
		const r = rt ? resourceRoute(rt.group, rt.version, rt.rest) : undefined;
		if (!r) {
			record(404);
			return statusResponse(kubeErrors.notFoundPath());
		}
		const action = r.kind === "item" && r.subresource ? `${r.ref.resource}/${r.subresource}` : r.ref.resource;
		const isWatch = req.method === "GET" && boolParam(url.searchParams, "watch");
		let fault: string | undefined;
		let forceGone = false;
		if (opts.faults) {
			const f = opts.faults;
			const drop = f.check({ face: "kube", action }, ["watchDrop"]);
			if (drop) {
				fault = drop.rule.id;
				store.dropWatches(r.ref.resource);
			}
			if (isWatch) {
				const g = f.check({ face: "kube", action }, ["gone"]);
				if (g) {
					fault = g.rule.id;
					forceGone = true;
				}
			}
			const lat = f.check({ face: "kube", action }, ["latency"]);
			if (lat && lat.effect.kind === "latency") {
				fault = lat.rule.id;
				await sleep(lat.effect.ms + Math.random() * (lat.effect.jitterMs ?? 0));
			}
			const hit = f.check({ face: "kube", action }, ["error", "throttle", "hang"]);
			if (hit) {
				fault = hit.rule.id;
				const e = hit.effect;
				if (e.kind === "hang") {
					await new Promise<void>((resolve) =>
						req.signal.addEventListener("abort", () => resolve(), { once: true }),
					);
					record(499, fault);
					return new Response(null, { status: 499 });
				}
				if (e.kind === "throttle") {
					const secs = Math.max(1, Math.ceil((e.retryAfterMs ?? 1000) / 1000));
					record(429, fault);
					return statusResponse(
						new KubeApiError(
							429,
							"TooManyRequests",
							"the server has received too many requests and has asked us to try again later",
							{
								causes: [],
							},
						),
						{ "retry-after": String(secs) },
					);
				}
				if (e.kind === "error") {
					record(e.status, fault);
					return statusResponse(
						new KubeApiError(e.status, e.code, e.message ?? `injected fault ${hit.rule.id}`),
					);
				}
			}
		}
		try {
			const res = await resource(req, r, url.searchParams, forceGone);
			record(res.status, fault);
			return res;
		} catch (e) {
			if (e instanceof KubeApiError) {
				record(e.code, fault);
				return statusResponse(e);
			}
			record(500, fault);
			return statusResponse(
				new KubeApiError(500, "InternalError", `Internal error occurred: ${(e as Error).message}`),
			);
		} finally {
			void started;
		}
	}

	const handler = (async (req: Request) => {
		const started = performance.now();
		const url = new URL(req.url);
		const record = (status: number, fault?: string) => {
			opts.log?.record({
				face: "kube",
				what: `${req.method.toUpperCase()} ${url.pathname}`,
				status,
				durationMs: Math.round((performance.now() - started) * 10) / 10,
				...(fault ? { fault } : {}),
				...(url.search ? { detail: { query: url.search.slice(1) } } : {}),
			});
		};
		return serve(req, started, record);
	}) as KubeHandler;
	handler.closeWatches = () => {
		for (const f of [...streams]) f();
	};
	return handler;
}
