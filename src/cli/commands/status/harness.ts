/**
 * Test harness (not a test) for the CLI commands that read terwayd: runs the real CLI entry as
 * a child process (commander, exit codes, stdout/stderr exactly as a user sees them) against a
 * stand-in terwayd on a temporary unix socket that answers the local API with documents typed by
 * daemon/api-types.ts (so a contract change breaks these tests at typecheck). The real daemon is
 * exercised against the offline sim in tests/e2e/cli-inspect.test.ts.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { EniInfo, MappingRow, StatusResponse } from "../../../daemon/api-types.ts";

const ENTRY = new URL("../../../bin/terwayctl.ts", import.meta.url).pathname;

export type CliResult = { code: number; out: string; err: string };

/** Runs `terwayctl ...args` (stdin not a TTY, no colour). Async, so an in-process server can answer. */
export async function cli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
	const p = Bun.spawn([process.execPath, ENTRY, ...args], {
		stdout: "pipe",
		stderr: "pipe",
		stdin: "ignore",
		env: {
			PATH: process.env.PATH ?? "/usr/bin:/bin",
			HOME: process.env.HOME ?? "/root",
			NO_COLOR: "1",
			// nothing answers here: a command that asks metadata fails fast and deterministically
			TERWAY_METADATA_URL: "http://127.0.0.1:9",
			...env,
		},
	});
	const [out, err, code] = await Promise.all([
		new Response(p.stdout).text(),
		new Response(p.stderr).text(),
		p.exited,
	]);
	return { code, out, err };
}

export type DaemonDocs = {
	status?: StatusResponse;
	enis?: EniInfo[];
	mapping?: MappingRow[];
};

/** A stand-in terwayd answering GET /v1/status, /v1/enis, /v1/mapping from `docs`. */
export class FakeDaemon {
	readonly dir = mkdtempSync(join(tmpdir(), "terwayctl-cli-"));
	readonly socket = join(this.dir, "terwayd.sock");
	readonly #server: ReturnType<typeof Bun.serve>;

	constructor(public docs: DaemonDocs) {
		this.#server = Bun.serve({
			unix: this.socket,
			fetch: (req) => {
				const path = new URL(req.url).pathname;
				const doc =
					path === "/v1/status"
						? this.docs.status
						: path === "/v1/enis"
							? this.docs.enis
							: path === "/v1/mapping"
								? this.docs.mapping
								: undefined;
				if (doc === undefined)
					return Response.json(
						{ error: { code: "NotFound", message: `no route GET ${path}` } },
						{ status: 404 },
					);
				return Response.json(doc);
			},
		});
	}

	close(): void {
		this.#server.stop(true);
		rmSync(this.dir, { recursive: true, force: true });
	}
}

export const READY: StatusResponse = {
	ready: true,
	phase: "ready",
	node: "node-1",
	instanceId: "i-bp1test0000000000001",
	instanceType: "ecs.g7.large",
	mode: "shared",
	version: "0.1.0",
	uptimeSeconds: 3725,
	pool: { min: 0, max: 5, idle: 1, allocated: 2, capacity: 12, enis: 1 },
	kubernetes: "connected",
};

/** A JSON value's shape: keys and types, recursively (arrays by their first element). */
export function shape(v: unknown): unknown {
	if (Array.isArray(v)) return v.length ? [shape(v[0])] : [];
	if (v === null) return "null";
	if (typeof v === "object")
		return Object.fromEntries(
			Object.entries(v as Record<string, unknown>)
				.sort(([a], [b]) => a.localeCompare(b))
				.map(([k, x]) => [k, shape(x)]),
		);
	return typeof v;
}
