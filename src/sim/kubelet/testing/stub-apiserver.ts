/**
 * A tiny pods-only kube-apiserver for the kubelet stand-in's tests, until the sim's own
 * apiserver (src/sim/kube) can be used instead. Test-only; never part of the product.
 *
 * It speaks just enough of the real protocol for @kubernetes/client-node (cloud-sim.md §4.3-4.4):
 * list with `fieldSelector=spec.nodeName=<n>` and a global resourceVersion; watch that flushes
 * headers at once, replays events after `resourceVersion` and streams newline-terminated JSON;
 * create; get; merge-patch of `/status`; graceful DELETE (a scheduled pod first gets
 * `deletionTimestamp`, and goes away on a DELETE with gracePeriodSeconds 0, as the real server
 * does for the kubelet's final delete); core/v1 events. Errors are `Status` objects.
 */
import { randomUUID } from "node:crypto";
import type { CoreV1Event, V1Pod } from "@kubernetes/client-node";

type WatchEvent = { type: "ADDED" | "MODIFIED" | "DELETED"; object: V1Pod; rv: number };

/** RFC 7386 merge patch. */
export function mergePatch(target: unknown, patch: unknown): unknown {
	if (patch === null || typeof patch !== "object" || Array.isArray(patch)) return patch;
	const out: Record<string, unknown> =
		target !== null && typeof target === "object" && !Array.isArray(target)
			? { ...(target as Record<string, unknown>) }
			: {};
	for (const [k, v] of Object.entries(patch as Record<string, unknown>)) {
		if (v === null) delete out[k];
		else out[k] = mergePatch(out[k], v);
	}
	return out;
}

function status(code: number, reason: string, message: string): Response {
	return Response.json(
		{ kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message, reason, code },
		{ status: code },
	);
}

/** Does `pod` match a field selector such as `spec.nodeName=n1` (`=`, `==`, `!=`, comma-joined)? */
function matches(pod: V1Pod, selector: string | null): boolean {
	if (!selector) return true;
	for (const term of selector.split(",")) {
		const m = /^([a-zA-Z.]+)(!=|==|=)(.*)$/.exec(term);
		if (!m) return false;
		const [, field, op, want] = m;
		const value =
			field === "spec.nodeName"
				? (pod.spec?.nodeName ?? "")
				: field === "metadata.name"
					? pod.metadata?.name
					: field === "metadata.namespace"
						? pod.metadata?.namespace
						: field === "status.phase"
							? (pod.status?.phase ?? "")
							: undefined;
		if (op === "!=" ? value === want : value !== want) return false;
	}
	return true;
}

export class StubApiserver {
	readonly #pods = new Map<string, V1Pod>(); // "ns/name"
	readonly #log: WatchEvent[] = [];
	readonly #watchers = new Set<{
		selector: string | null;
		send: (e: WatchEvent) => void;
		close: () => void;
	}>();
	readonly events: CoreV1Event[] = [];
	#rv = 1;
	readonly #server: ReturnType<typeof Bun.serve>;
	/** Requests seen ("PATCH /api/v1/namespaces/default/pods/web/status"). */
	readonly requests: string[] = [];

	constructor() {
		this.#server = Bun.serve({
			port: 0,
			hostname: "127.0.0.1",
			fetch: (req) => this.#handle(req),
			idleTimeout: 0,
		});
	}

	get url(): string {
		return `http://127.0.0.1:${this.#server.port}`;
	}

	pod(namespace: string, name: string): V1Pod | undefined {
		return this.#pods.get(`${namespace}/${name}`);
	}

	async close(): Promise<void> {
		for (const w of this.#watchers) w.close();
		this.#watchers.clear();
		await this.#server.stop(true);
	}

	#emit(type: WatchEvent["type"], pod: V1Pod): void {
		const e = { type, object: structuredClone(pod), rv: this.#rv };
		this.#log.push(e);
		for (const w of this.#watchers) if (matches(pod, w.selector)) w.send(e);
	}

	#bump(pod: V1Pod): void {
		this.#rv++;
		pod.metadata = { ...pod.metadata, resourceVersion: String(this.#rv) };
	}

	async #handle(req: Request): Promise<Response> {
		const url = new URL(req.url);
		this.requests.push(`${req.method} ${url.pathname}`);
		const p = url.pathname;
		if (req.method === "GET" && p === "/api/v1/pods") {
			const selector = url.searchParams.get("fieldSelector");
			if (url.searchParams.get("watch") === "true" || url.searchParams.get("watch") === "1") {
				return this.#watch(selector, Number(url.searchParams.get("resourceVersion") ?? "0"));
			}
			const items = [...this.#pods.values()].filter((x) => matches(x, selector));
			return Response.json({
				kind: "PodList",
				apiVersion: "v1",
				metadata: { resourceVersion: String(this.#rv) },
				items,
			});
		}
		const m = /^\/api\/v1\/namespaces\/([^/]+)\/(pods|events)(?:\/([^/]+))?(\/status)?$/.exec(p);
		if (!m) return status(404, "NotFound", `the server could not find the requested resource (${p})`);
		const [, ns = "", kind, name, sub] = m;
		if (kind === "events") {
			if (req.method !== "POST") return status(405, "MethodNotAllowed", "events: POST only");
			const ev = (await req.json()) as CoreV1Event;
			ev.metadata = {
				...ev.metadata,
				namespace: ns,
				name: ev.metadata?.name ?? randomUUID(),
				uid: randomUUID(),
			};
			this.events.push(ev);
			return Response.json(ev, { status: 201 });
		}
		const key = `${ns}/${name}`;
		if (req.method === "POST" && !name) {
			const pod = (await req.json()) as V1Pod;
			const podName = pod.metadata?.name;
			if (!podName) return status(422, "Invalid", "metadata.name: Required value");
			if (this.#pods.has(`${ns}/${podName}`))
				return status(409, "AlreadyExists", `pods "${podName}" already exists`);
			pod.metadata = { ...pod.metadata, namespace: ns, uid: randomUUID(), creationTimestamp: new Date() };
			pod.status = { phase: "Pending" };
			this.#bump(pod);
			this.#pods.set(`${ns}/${podName}`, pod);
			this.#emit("ADDED", pod);
			return Response.json(pod, { status: 201 });
		}
		const pod = this.#pods.get(key);
		if (!pod) return status(404, "NotFound", `pods "${name}" not found`);
		if (req.method === "GET") return Response.json(pod);
		if (req.method === "PATCH") {
			if (!req.headers.get("content-type")?.startsWith("application/merge-patch+json")) {
				return status(
					415,
					"UnsupportedMediaType",
					`stub: merge patch only, got ${req.headers.get("content-type")}`,
				);
			}
			const patch = (await req.json()) as Partial<V1Pod>;
			const next = structuredClone(pod);
			if (sub) next.status = mergePatch(pod.status, patch.status ?? {}) as V1Pod["status"];
			else next.metadata = mergePatch(pod.metadata, patch.metadata ?? {}) as V1Pod["metadata"];
			this.#bump(next);
			this.#pods.set(key, next);
			this.#emit("MODIFIED", next);
			return Response.json(next);
		}
		if (req.method === "DELETE") {
			const text = await req.text();
			const body = (text ? JSON.parse(text) : {}) as {
				gracePeriodSeconds?: number;
				preconditions?: { uid?: string };
			};
			const q = url.searchParams.get("gracePeriodSeconds");
			const grace = body.gracePeriodSeconds ?? (q === null ? undefined : Number(q));
			if (body.preconditions?.uid && body.preconditions.uid !== pod.metadata?.uid) {
				return status(409, "Conflict", `Precondition failed: UID in precondition: ${body.preconditions.uid}`);
			}
			if (grace === 0 || !pod.spec?.nodeName) {
				this.#pods.delete(key);
				this.#bump(pod);
				this.#emit("DELETED", pod);
				return Response.json(pod);
			}
			if (!pod.metadata?.deletionTimestamp) {
				const g = grace ?? pod.spec?.terminationGracePeriodSeconds ?? 30;
				const next = structuredClone(pod);
				next.metadata = {
					...next.metadata,
					deletionTimestamp: new Date(Date.now() + g * 1000),
					deletionGracePeriodSeconds: g,
				};
				this.#bump(next);
				this.#pods.set(key, next);
				this.#emit("MODIFIED", next);
				return Response.json(next);
			}
			return Response.json(pod);
		}
		return status(405, "MethodNotAllowed", `${req.method} ${p}`);
	}

	#watch(selector: string | null, since: number): Response {
		const enc = new TextEncoder();
		let w: { selector: string | null; send: (e: WatchEvent) => void; close: () => void } | undefined;
		let heartbeat: ReturnType<typeof setInterval> | undefined;
		const stream = new ReadableStream<Uint8Array>({
			start: (controller) => {
				const send = (e: WatchEvent) => {
					try {
						controller.enqueue(enc.encode(`${JSON.stringify({ type: e.type, object: e.object })}\n`));
					} catch {
						// client went away
					}
				};
				const watcher = {
					selector,
					send,
					close: () => {
						clearInterval(heartbeat);
						try {
							controller.close();
						} catch {
							// already closed
						}
					},
				};
				w = watcher;
				// flush headers at once (an empty line is ignored by client-node's line parser)
				controller.enqueue(enc.encode("\n"));
				if (since === 0) {
					for (const pod of this.#pods.values())
						if (matches(pod, selector)) send({ type: "ADDED", object: pod, rv: this.#rv });
				} else {
					for (const e of this.#log) if (e.rv > since && matches(e.object, selector)) send(e);
				}
				this.#watchers.add(watcher);
				// keep client-node's 30 s inactivity timer from firing on a quiet stream
				heartbeat = setInterval(() => {
					try {
						controller.enqueue(enc.encode("\n"));
					} catch {
						clearInterval(heartbeat);
					}
				}, 10_000);
				heartbeat.unref();
			},
			cancel: () => {
				clearInterval(heartbeat);
				if (w) this.#watchers.delete(w);
			},
		});
		return new Response(stream, { headers: { "content-type": "application/json" } });
	}
}
