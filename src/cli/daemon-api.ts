/**
 * The CLI's view of terwayd's local API (src/daemon/api-types.ts): GET/POST JSON over the unix
 * socket with Bun's fetch. A missing or silent daemon is one readable ExitError that says how to
 * start it. Shared by status, mapping, eni, diagnose and policy.
 */
import { ExitError } from "./errors.ts";

export const DEFAULT_SOCKET = "/var/run/terway/terwayd.sock";

/** `--socket`, else TERWAY_DAEMON_SOCKET, else the default. */
export function socketPath(flag?: string): string {
	return flag || process.env.TERWAY_DAEMON_SOCKET || DEFAULT_SOCKET;
}

export class DaemonApi {
	constructor(
		readonly socket: string,
		readonly timeoutMs = 5_000,
	) {}

	async get<T>(path: string): Promise<T> {
		return this.#call<T>("GET", path);
	}

	async post<T>(path: string, body?: unknown): Promise<T> {
		return this.#call<T>("POST", path, body);
	}

	async #call<T>(method: string, path: string, body?: unknown): Promise<T> {
		let r: Response;
		try {
			r = await fetch(`http://terwayd${path}`, {
				method,
				unix: this.socket,
				signal: AbortSignal.timeout(this.timeoutMs),
				...(body === undefined
					? {}
					: { body: JSON.stringify(body), headers: { "content-type": "application/json" } }),
			});
		} catch (e) {
			const err = e as { code?: string; name?: string; message?: string };
			const why =
				err.name === "TimeoutError"
					? `no answer within ${this.timeoutMs} ms`
					: err.code === "ENOENT" || /ENOENT|No such file/i.test(err.message ?? "")
						? "no socket there"
						: (err.code ?? err.message ?? String(e));
			throw new ExitError(
				`terwayd is not reachable on ${this.socket} (${why}); start it with \`terwayctl daemon\` (or check the terway DaemonSet pod), or pass --socket`,
			);
		}
		const text = await r.text();
		let doc: unknown;
		try {
			doc = text ? JSON.parse(text) : undefined;
		} catch {
			throw new ExitError(`terwayd answered ${method} ${path} with ${r.status} and a body that is not JSON`);
		}
		if (!r.ok) {
			const msg = (doc as { error?: { message?: string; code?: string } })?.error;
			throw new ExitError(
				`terwayd: ${method} ${path}: ${r.status} ${msg?.code ?? ""} ${msg?.message ?? text}`.trim(),
			);
		}
		return doc as T;
	}
}
