/**
 * @module daemon/server
 *
 * The local API (api-types.ts) over HTTP/1.1 on a unix socket, mode 0600 in a 0700 directory,
 * so only root can connect. Routes:
 *   POST /v1/alloc            AllocRequest → AllocResponse
 *   POST /v1/release          ReleaseRequest → ReleaseResponse
 *   GET  /v1/pods/{ns}/{name}[?containerId=]  → AllocResponse (404 unknown pod)
 *   GET  /v1/status           → StatusResponse
 *   GET  /v1/pool             → { pool: PoolSummary, enis: EniInfo[] }
 *   GET  /v1/enis             → EniInfo[]
 *   GET  /v1/mapping          → MappingRow[]
 *   GET  /v1/gc               → GcReport (candidates);  POST /v1/gc → GcReport (applied)
 *   GET  /v1/policy           → PolicyResponse (NetworkPolicy status on this node)
 *   GET  /metrics             → Prometheus text
 * Errors are `ApiErrorBody` with the status of api-types.ts; a malformed request changes nothing.
 */
import { chmodSync, existsSync, lstatSync, mkdirSync, unlinkSync } from "node:fs";
import { dirname } from "node:path";
import type { Server } from "bun";
import type { Daemon } from "./daemon.ts";
import { ApiError, isApiError } from "./errors.ts";
import type { Logger } from "./log.ts";
import { parseAllocRequest, parseJsonBody, parsePodRef, parseReleaseRequest } from "./validate.ts";

const json = (v: unknown, status = 200): Response =>
	new Response(JSON.stringify(v), { status, headers: { "content-type": "application/json" } });

function errorResponse(e: unknown, log: Logger, route: string): Response {
	if (isApiError(e)) return json(e.body(), e.status);
	log.error({ err: e, route }, "internal error");
	const err = new ApiError("Internal", e instanceof Error ? e.message : String(e));
	return json(err.body(), 500);
}

async function body(req: Request): Promise<unknown> {
	const ct = req.headers.get("content-type");
	if (ct && !/json|text\/plain|x-www-form-urlencoded/i.test(ct))
		throw new ApiError("BadRequest", `content-type: ${ct} is not JSON`, { field: "content-type" });
	return parseJsonBody(await req.text());
}

/** Routes one request (exported for tests without a socket). */
export async function handle(d: Daemon, req: Request, log: Logger): Promise<Response> {
	const url = new URL(req.url);
	const path = url.pathname.replace(/\/+$/, "") || "/";
	const route = `${req.method} ${path}`;
	const t0 = performance.now();
	let status = 200;
	try {
		const res = await dispatch(d, req, url, path);
		status = res.status;
		return res;
	} catch (e) {
		const r = errorResponse(e, log, route);
		status = r.status;
		return r;
	} finally {
		const api = path.startsWith("/v1/pods/") ? "/v1/pods" : path;
		d.metrics.rpcLatency.observe(
			{ rpc_api: `${req.method} ${api}`, error: status >= 400 ? String(status) : "" },
			performance.now() - t0,
		);
	}
}

async function dispatch(d: Daemon, req: Request, url: URL, path: string): Promise<Response> {
	const m = req.method;
	const only = (method: string) => {
		if (m !== method) throw new ApiError("BadRequest", `${m} ${path}: use ${method}`, { field: "method" });
	};
	switch (path) {
		case "/v1/alloc":
			only("POST");
			return json(await d.track(async () => d.alloc(parseAllocRequest(await body(req)))));
		case "/v1/release":
			only("POST");
			return json(await d.track(async () => d.release(parseReleaseRequest(await body(req)))));
		case "/v1/status":
			only("GET");
			return json(d.status());
		case "/v1/pool":
			only("GET");
			return json({ pool: d.summary(), enis: d.enis() });
		case "/v1/enis":
			only("GET");
			return json(d.enis());
		case "/v1/mapping":
			only("GET");
			return json(await d.track(() => d.mapping(), { mutation: false }));
		case "/v1/gc":
			if (m === "GET") return json(await d.track(() => d.gc(false), { mutation: false }));
			only("POST");
			return json(await d.track(() => d.gc(true)));
		case "/v1/policy":
			only("GET");
			return json(d.policyInfo());
		case "/metrics":
			only("GET");
			return new Response(d.metrics.render(), { headers: { "content-type": "text/plain; version=0.0.4" } });
	}
	const pm = /^\/v1\/pods\/([^/]+)\/([^/]+)$/.exec(path);
	if (pm) {
		only("GET");
		const pod = parsePodRef({ namespace: decodeURIComponent(pm[1]!), name: decodeURIComponent(pm[2]!) });
		const cid = url.searchParams.get("containerId") ?? undefined;
		return json(
			await d.track(() => d.podInfo(pod.namespace, pod.name, cid || undefined), { mutation: false }),
		);
	}
	throw new ApiError("NotFound", `no route ${m} ${path}`);
}

/** Listens on `socketPath` (0600, parent dir created 0700). Removes a stale socket first. */
export function serveUnix(d: Daemon, socketPath: string, log: Logger): Server<undefined> {
	mkdirSync(dirname(socketPath), { recursive: true, mode: 0o700 });
	if (existsSync(socketPath)) {
		const st = lstatSync(socketPath);
		if (!st.isSocket()) throw new Error(`${socketPath} exists and is not a socket; refusing to replace it`);
		unlinkSync(socketPath);
	}
	// no window where the socket is connectable by others: bind under umask 0177, then chmod
	const old = process.umask(0o177);
	let server: Server<undefined>;
	try {
		server = Bun.serve({
			unix: socketPath,
			fetch: (req, srv) => {
				// an alloc may wait for the pool longer than Bun's 10 s idle default
				srv.timeout(req, 0);
				return handle(d, req, log);
			},
		});
	} finally {
		process.umask(old);
	}
	chmodSync(socketPath, 0o600);
	log.info({ socket: socketPath }, "local API listening");
	return server;
}
