/**
 * The plugin's terwayd client: {@link DaemonPort} over the local API (src/daemon/api-types.ts,
 * HTTP/1.1 + JSON on the unix socket). One request per call, Bun's native fetch with `unix:`
 * (no node:http: it costs ~10 ms on first import, ffi-probe Q4a), a timeout on each.
 *
 * Failures become the plugin's two daemon errors (main.ts turns them into CNI codes):
 *   socket missing (ENOENT), refused, reset, timed out, 503 NotReady -> DaemonUnavailableError (11; STATUS 50)
 *   507 IPExhausted                                                   -> DaemonApiError IPExhausted (100)
 *   other 4xx / 5xx with an ApiErrorBody                              -> DaemonApiError (101, the daemon's message)
 * `lookup` answers undefined on 404 (no allocation). Types are mirrored structurally: plugin/
 * must not import daemon/ (the wire format is the contract).
 */
import type { Attachment } from "../core/cni/types.ts";
import type { Allocation, DaemonPort, PodRef } from "./commands.ts";
import { DaemonApiError, type DaemonErrorCode, DaemonUnavailableError } from "./errors.ts";

/** terwayd's socket when neither the conflist (`daemon_socket`) nor TERWAY_DAEMON_SOCKET says. */
export const DEFAULT_DAEMON_SOCKET = "/var/run/terway/terwayd.sock";

/** Per-call budgets (ms). ADD may wait for the pool to grow an ENI; the kubelet gives a pod minutes. */
export const TIMEOUTS = { alloc: 60_000, release: 10_000, lookup: 5_000, status: 3_000, gc: 30_000 } as const;

const CODES: readonly DaemonErrorCode[] = [
	"BadRequest",
	"NotFound",
	"Conflict",
	"NotReady",
	"IPExhausted",
	"Internal",
];

/** AllocResponse as the plugin reads it (mirror of api-types.ts). */
type AllocResponse = Allocation & { pod: PodRef; containerId: string; existing: boolean };
type MappingRow = { pod?: string; containerId?: string; ip: string; state: string };

export type DaemonClientOptions = {
	socket: string;
	/** Overrides of {@link TIMEOUTS}. */
	timeouts?: Partial<Record<keyof typeof TIMEOUTS, number>>;
};

/** The socket path: conflist `daemon_socket`, else TERWAY_DAEMON_SOCKET, else the default. */
export function socketFor(confSocket: string | undefined, env: Record<string, string | undefined>): string {
	return confSocket ?? (env.TERWAY_DAEMON_SOCKET || DEFAULT_DAEMON_SOCKET);
}

const isObject = (v: unknown): v is Record<string, unknown> =>
	typeof v === "object" && v !== null && !Array.isArray(v);

/** An ApiErrorBody's error, or undefined when the body is not one. */
function apiError(body: unknown): { code: DaemonErrorCode; message: string; field?: string } | undefined {
	if (!isObject(body) || !isObject(body.error)) return undefined;
	const { code, message, field } = body.error;
	if (typeof code !== "string" || typeof message !== "string") return undefined;
	const known = (CODES as readonly string[]).includes(code) ? (code as DaemonErrorCode) : "Internal";
	return typeof field === "string" ? { code: known, message, field } : { code: known, message };
}

/** A transport failure that means "terwayd is not there (now)". */
function unavailable(e: unknown, socket: string, ms: number): DaemonUnavailableError {
	const err = e as { code?: string; name?: string; message?: string };
	if (err?.name === "TimeoutError" || err?.name === "AbortError")
		return new DaemonUnavailableError(`no answer on ${socket} within ${ms} ms`, { cause: e });
	const code = err?.code ? `${err.code}: ` : "";
	return new DaemonUnavailableError(`${socket}: ${code}${err?.message ?? String(e)}`, { cause: e });
}

/** The client. Nothing is opened until a method is called. */
export function daemonClient(opts: DaemonClientOptions): DaemonPort {
	const { socket } = opts;
	const budget = (k: keyof typeof TIMEOUTS) => opts.timeouts?.[k] ?? TIMEOUTS[k];

	/** One request; resolves with the parsed JSON of a 2xx, undefined for an allowed 404. */
	async function call<T>(
		method: "GET" | "POST",
		path: string,
		ms: number,
		body?: unknown,
		opt: { notFoundOk?: boolean } = {},
	): Promise<T | undefined> {
		let res: Response;
		let text: string;
		try {
			const init: RequestInit & { unix: string } = {
				unix: socket,
				method,
				signal: AbortSignal.timeout(ms),
			};
			if (body !== undefined) {
				init.body = JSON.stringify(body);
				init.headers = { "content-type": "application/json" };
			}
			res = await fetch(`http://terwayd${path}`, init);
			text = await res.text();
		} catch (e) {
			throw unavailable(e, socket, ms);
		}
		let parsed: unknown;
		try {
			parsed = text === "" ? undefined : JSON.parse(text);
		} catch {
			parsed = undefined;
		}
		if (res.ok) return parsed as T;
		if (res.status === 404 && opt.notFoundOk) return undefined;
		const err = apiError(parsed);
		const msg = err?.message ?? `HTTP ${res.status} ${text.slice(0, 200)}`.trim();
		if (res.status === 503 || err?.code === "NotReady")
			throw new DaemonUnavailableError(`terwayd not ready: ${msg}`);
		if (res.status === 507) throw new DaemonApiError("IPExhausted", msg, err?.field);
		const code: DaemonErrorCode =
			err?.code ??
			(res.status === 400
				? "BadRequest"
				: res.status === 404
					? "NotFound"
					: res.status === 409
						? "Conflict"
						: "Internal");
		throw new DaemonApiError(code, `${method} ${path}: ${msg}`, err?.field);
	}

	const toAllocation = (r: AllocResponse): Allocation => {
		const a: Allocation = {
			eni: r.eni,
			routeTable: r.routeTable,
			serviceCidrs: r.serviceCidrs ?? [],
			datapath: r.datapath,
			existing: r.existing,
		};
		if (r.ipv4) a.ipv4 = r.ipv4;
		if (r.ipv6) a.ipv6 = r.ipv6;
		if (r.bandwidth) a.bandwidth = r.bandwidth;
		// NetworkPolicy on: the veth plan attaches terwayd's pinned policy programs
		if (r.policy?.pinRoot) a.policy = { pinRoot: r.policy.pinRoot };
		// datapathv2 ready on the node: the v2 plan attaches terwayd's pinned redirect program
		if (r.datapathv2?.pinRoot) a.datapathv2 = { pinRoot: r.datapathv2.pinRoot };
		return a;
	};
	const podPath = (pod: PodRef) =>
		`/v1/pods/${encodeURIComponent(pod.namespace)}/${encodeURIComponent(pod.name)}`;

	return {
		async allocate(req) {
			const r = await call<AllocResponse>("POST", "/v1/alloc", budget("alloc"), req);
			if (!r) throw new DaemonApiError("Internal", "POST /v1/alloc: empty answer");
			return toAllocation(r);
		},
		async lookup(req) {
			const q = `?containerId=${encodeURIComponent(req.containerId)}`;
			const r = await call<AllocResponse>("GET", podPath(req.pod) + q, budget("lookup"), undefined, {
				notFoundOk: true,
			});
			return r ? toAllocation(r) : undefined;
		},
		async release(req) {
			await call("POST", "/v1/release", budget("release"), { pod: req.pod, containerId: req.containerId });
		},
		async status() {
			const r = await call<{ ready?: boolean; phase?: string }>("GET", "/v1/status", budget("status"));
			if (!r?.ready) throw new DaemonUnavailableError(`terwayd is ${r?.phase ?? "not ready"}`);
		},
		async gc(valid: Attachment[]) {
			// CNI GC: release every allocation whose container is not a valid attachment (the daemon
			// serves only this network, so its allocations are this network's scope).
			const keep = new Set(valid.map((a) => a.containerID));
			const rows = (await call<MappingRow[]>("GET", "/v1/mapping", budget("gc"))) ?? [];
			const seen = new Set<string>();
			const errors: string[] = [];
			for (const row of rows) {
				if (row.state !== "allocated" || !row.pod || !row.containerId || keep.has(row.containerId)) continue;
				const id = `${row.pod}\0${row.containerId}`;
				if (seen.has(id)) continue;
				seen.add(id);
				const slash = row.pod.indexOf("/");
				const pod = { namespace: row.pod.slice(0, slash), name: row.pod.slice(slash + 1) };
				try {
					await call("POST", "/v1/release", budget("release"), { pod, containerId: row.containerId });
				} catch (e) {
					// keep collecting (spec: GC keeps cleaning, then reports)
					if (e instanceof DaemonUnavailableError) throw e;
					errors.push(`${row.pod} ${row.containerId}: ${(e as Error).message}`);
				}
			}
			if (errors.length > 0) throw new DaemonApiError("Internal", `GC: ${errors.join("; ")}`);
			// what the valid attachments hold: their rules stay on the node
			const heldIps = rows
				.filter((row) => row.state === "allocated" && row.containerId && keep.has(row.containerId))
				.map((row) => row.ip);
			return { heldIps };
		},
	};
}
