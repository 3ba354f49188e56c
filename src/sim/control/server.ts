/**
 * A world's control API: HTTP+JSON on a unix socket (mode 0600), versioned under /v1. It
 * injects faults, reads the request log, adds and removes pods, reports status and stops the
 * world. Bad requests get 400 with an error naming the field and change nothing.
 */
import { chmodSync, rmSync } from "node:fs";
import type { FaultEngine } from "../faults.ts";
import { FaultRuleError, parseFaultRule } from "../faults.ts";
import type { RequestLog } from "../request-log.ts";
import type { SimPod, SimStatus } from "./client.ts";

export interface ControlBackend {
	status(): SimStatus | Promise<SimStatus>;
	readonly faults: FaultEngine;
	readonly log: RequestLog;
	pods(): Promise<SimPod[]>;
	addPod(pod: {
		namespace: string;
		name: string;
		node?: string;
		labels?: Record<string, string>;
	}): Promise<SimPod>;
	deletePod(namespace: string, name: string): Promise<boolean>;
	/** The world's state as JSON (world.snapshot()). */
	snapshot(): unknown;
	shutdown(): void;
}

/** A request the control API refuses (400). */
export class BadRequestError extends Error {
	override readonly name = "BadRequestError";
}

const json = (body: unknown, status = 200) =>
	new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

async function readJson(req: Request): Promise<unknown> {
	const text = await req.text();
	if (!text) return {};
	try {
		return JSON.parse(text);
	} catch {
		throw new BadRequestError(`request body is not JSON: ${JSON.stringify(text.slice(0, 60))}`);
	}
}

const NAME_RE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

function parsePod(input: unknown): {
	namespace: string;
	name: string;
	node?: string;
	labels?: Record<string, string>;
} {
	if (typeof input !== "object" || input === null || Array.isArray(input))
		throw new BadRequestError("pod: expected an object");
	const p = input as Record<string, unknown>;
	for (const k of Object.keys(p)) {
		if (!["namespace", "name", "node", "labels"].includes(k))
			throw new BadRequestError(`pod: unknown field ${JSON.stringify(k)}`);
	}
	const name = p.name;
	if (typeof name !== "string" || !NAME_RE.test(name)) {
		throw new BadRequestError(`pod.name: ${JSON.stringify(name)} is not a DNS-1123 label`);
	}
	const namespace = p.namespace ?? "default";
	if (typeof namespace !== "string" || !NAME_RE.test(namespace)) {
		throw new BadRequestError(`pod.namespace: ${JSON.stringify(namespace)} is not a DNS-1123 label`);
	}
	if (p.node !== undefined && typeof p.node !== "string")
		throw new BadRequestError(`pod.node: expected a string, got ${JSON.stringify(p.node)}`);
	if (p.labels !== undefined) {
		const l = p.labels;
		if (typeof l !== "object" || l === null || Object.values(l).some((v) => typeof v !== "string")) {
			throw new BadRequestError("pod.labels: expected an object of strings");
		}
	}
	return {
		namespace,
		name,
		...(p.node ? { node: p.node as string } : {}),
		...(p.labels ? { labels: p.labels as Record<string, string> } : {}),
	};
}

/** Route one control request. */
export async function handleControl(backend: ControlBackend, req: Request): Promise<Response> {
	const url = new URL(req.url);
	const parts = url.pathname.split("/").filter(Boolean).map(decodeURIComponent);
	const route = `${req.method} /${parts.slice(0, 2).join("/")}`;
	try {
		switch (route) {
			case "GET /v1/status":
				return json(await backend.status());
			case "GET /v1/faults":
				return json(backend.faults.list());
			case "POST /v1/faults": {
				const rule = backend.faults.add(parseFaultRule(await readJson(req)));
				backend.log.record({ face: "control", what: "fault.add", fault: rule.id, detail: { rule } });
				return json(rule, 201);
			}
			case "DELETE /v1/faults": {
				if (parts[2]) {
					const removed = backend.faults.remove(parts[2]);
					return json({ removed }, removed ? 200 : 404);
				}
				const n = backend.faults.list().length;
				backend.faults.clear();
				return json({ removed: n });
			}
			case "GET /v1/log": {
				const since = Number(url.searchParams.get("since") ?? "0");
				if (!Number.isInteger(since) || since < 0)
					throw new BadRequestError(
						`since: ${JSON.stringify(url.searchParams.get("since"))} is not a sequence number`,
					);
				const face = url.searchParams.get("face");
				return json(backend.log.since(since, face ? (e) => e.face === face : undefined));
			}
			case "GET /v1/pods":
				return json(await backend.pods());
			case "POST /v1/pods":
				return json(await backend.addPod(parsePod(await readJson(req))), 201);
			case "DELETE /v1/pods": {
				if (!parts[2] || !parts[3]) throw new BadRequestError("DELETE /v1/pods/<namespace>/<name>");
				const deleted = await backend.deletePod(parts[2], parts[3]);
				return json({ deleted }, deleted ? 200 : 404);
			}
			case "GET /v1/snapshot":
				return json(backend.snapshot());
			case "POST /v1/shutdown":
				setTimeout(() => backend.shutdown(), 10);
				return json({ stopping: true });
			default:
				return json({ error: `no such control endpoint: ${req.method} ${url.pathname}` }, 404);
		}
	} catch (e) {
		if (e instanceof BadRequestError || e instanceof FaultRuleError) return json({ error: e.message }, 400);
		return json({ error: (e as Error).message }, 500);
	}
}

/** Listen on `socketPath` (replacing a stale socket file), mode 0600. */
export function serveControl(socketPath: string, backend: ControlBackend) {
	rmSync(socketPath, { force: true });
	const server = Bun.serve({ unix: socketPath, fetch: (req) => handleControl(backend, req) });
	chmodSync(socketPath, 0o600);
	return server;
}
