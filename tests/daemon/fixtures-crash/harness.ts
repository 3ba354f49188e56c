/**
 * A loopback sim world plus a terwayd child process and a client of its local API, shared by
 * tests/daemon/crash.test.ts and bench/daemon (both drive the daemon only through its public
 * surfaces: the CLI, the unix socket, the sim's control API and the real ECS SDK).
 *
 * - `World.up(prefix, scenario)`: `terwayctl sim up --mode loopback --nodes 1 --json`; `down()` is
 *   `sim down`. The daemon reaches the sim through the node's env file
 *   (`/run/terway-sim/<p>/nodes/node-1/env`: ECS_ENDPOINT, TERWAY_METADATA_URL, AccessKey).
 * - `Daemon`: `terwayctl daemon --config F --socket S --state-dir D --node N --no-datapath-links`
 *   (loopback: the ENIs have no kernel links), standalone (the env
 *   file's KUBECONFIG is dropped, so allocations are not garbage-collected for lack of a pod
 *   object). SIGKILL / restart by PID; each start logs to its own file in the work dir.
 * - `Api`: HTTP+JSON over the unix socket with a per-call timeout; `call` never throws for an
 *   HTTP status, only for transport errors (refused, reset, missing socket, timeout).
 *
 * Nothing here kills by name: every process is ours, by PID.
 */
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import EcsMod, * as $Ecs from "@alicloud/ecs20140526";
import * as $OpenApi from "@alicloud/openapi-core";
import { SimClient } from "../../../src/sim/control/client.ts";
import type { WorldInfo } from "../../../src/sim/layout.ts";
import { Rng } from "../../../src/sim/world/rng.ts";

const EcsClient = (EcsMod as unknown as { default?: typeof EcsMod }).default ?? EcsMod;

export const REPO = new URL("../../../", import.meta.url).pathname;
export const ENTRY = `${REPO}src/bin/terwayctl.ts`;
export const BUN = process.execPath;

/** `terwayctl ...` synchronously; never throws. */
export function cli(args: string[], timeoutMs = 60_000): { code: number; out: string; err: string } {
	const r = Bun.spawnSync([BUN, ENTRY, ...args], {
		stdout: "pipe",
		stderr: "pipe",
		timeout: timeoutMs,
		cwd: REPO,
	});
	return { code: r.exitCode ?? -1, out: r.stdout.toString(), err: r.stderr.toString() };
}

/** Why the daemon cannot be run yet, or undefined when `terwayctl daemon --help` works. */
export function daemonMissing(): string | undefined {
	const r = cli(["daemon", "--help"], 20_000);
	if (r.code !== 0 || !r.out.includes("--state-dir")) {
		return `terwayctl daemon is not available yet (daemon --help exited ${r.code}: ${(r.err || r.out).trim().split("\n")[0] ?? ""})`;
	}
	return undefined;
}

/** Parse a KEY=VALUE env file (the sim's per-node env). */
export function readEnvFile(path: string): Record<string, string> {
	const out: Record<string, string> = {};
	for (const line of readFileSync(path, "utf8").split("\n")) {
		const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line.trim());
		if (m) out[m[1]!] = m[2]!;
	}
	return out;
}

// -------------------------------------------------------------------------------------- world

export type CloudEni = {
	eniId: string;
	mac: string;
	type: string;
	status: string;
	instanceId: string | undefined;
	primaryIp: string;
	ipv4s: string[];
	ipv6s: string[];
	tags: Record<string, string>;
};

export class World {
	readonly sim: SimClient;
	private downDone = false;

	private constructor(
		readonly prefix: string,
		readonly info: WorldInfo,
	) {
		this.sim = new SimClient(prefix);
	}

	/** `sim up --mode loopback --nodes 1`; throws with the CLI's stderr when it fails. */
	static up(prefix: string, scenario?: string): World {
		const args = ["sim", "up", "--mode", "loopback", "--prefix", prefix, "--nodes", "1", "--json"];
		if (scenario) args.push("--scenario", scenario);
		const r = cli(args, 120_000);
		if (r.code !== 0) {
			cli(["sim", "down", "--prefix", prefix]);
			throw new Error(`sim up --prefix ${prefix} exited ${r.code}: ${r.err.trim()}`);
		}
		return new World(prefix, JSON.parse(r.out) as WorldInfo);
	}

	get node(): WorldInfo["nodes"][number] {
		return this.info.nodes[0]!;
	}

	get dir(): string {
		return `/run/terway-sim/${this.prefix}`;
	}

	/** The node's env (what `sim exec` sets), minus KUBECONFIG: the daemon runs standalone. */
	daemonEnv(): Record<string, string> {
		const env = readEnvFile(`${this.dir}/nodes/${this.node.name}/env`);
		delete env.KUBECONFIG;
		return env;
	}

	/** `sim down`; idempotent. Also tolerates a world that never came up. */
	down(): void {
		if (this.downDone) return;
		this.downDone = true;
		const r = cli(["sim", "down", "--prefix", this.prefix]);
		if (r.code !== 0 && existsSync(this.dir)) {
			throw new Error(`sim down --prefix ${this.prefix} exited ${r.code}: ${r.err.trim()}`);
		}
	}

	ecs(): InstanceType<typeof EcsClient> {
		const env = this.daemonEnv();
		return new EcsClient(
			new $OpenApi.$OpenApiUtil.Config({
				accessKeyId: env.ALIBABA_CLOUD_ACCESS_KEY_ID,
				accessKeySecret: env.ALIBABA_CLOUD_ACCESS_KEY_SECRET,
				endpoint: this.info.host.openapi,
				protocol: "HTTP",
				regionId: env.REGION_ID ?? "cn-hangzhou",
				readTimeout: 10_000,
				connectTimeout: 5_000,
			}),
		);
	}

	/** DescribeNetworkInterfaces through the real SDK (all pages), filtered as asked. */
	async describeEnis(filter: { instanceId?: string; tags?: Record<string, string> }): Promise<CloudEni[]> {
		const c = this.ecs();
		const region = this.daemonEnv().REGION_ID ?? "cn-hangzhou";
		const out: CloudEni[] = [];
		let nextToken: string | undefined;
		for (let page = 0; page < 100; page++) {
			const r = await c.describeNetworkInterfaces(
				new $Ecs.DescribeNetworkInterfacesRequest({
					regionId: region,
					maxResults: 500,
					...(filter.instanceId ? { instanceId: filter.instanceId } : {}),
					...(filter.tags
						? { tag: Object.entries(filter.tags).map(([key, value]) => ({ key, value })) }
						: {}),
					...(nextToken ? { nextToken } : {}),
				}),
			);
			for (const s of r.body?.networkInterfaceSets?.networkInterfaceSet ?? []) {
				const ipv4s = (s.privateIpSets?.privateIpSet ?? []).map((p) => p.privateIpAddress ?? "");
				out.push({
					eniId: s.networkInterfaceId ?? "",
					mac: (s.macAddress ?? "").toLowerCase(),
					type: s.type ?? "",
					status: s.status ?? "",
					instanceId: s.instanceId || s.attachment?.instanceId || undefined,
					primaryIp: s.privateIpAddress ?? "",
					ipv4s,
					ipv6s: (s.ipv6Sets?.ipv6Set ?? []).map((p) => p.ipv6Address ?? ""),
					tags: Object.fromEntries((s.tags?.tag ?? []).map((t) => [t.tagKey ?? "", t.tagValue ?? ""])),
				});
			}
			nextToken = r.body?.nextToken || undefined;
			if (!nextToken) break;
		}
		return out;
	}

	/** What the node's metadata service lists now: MAC -> private IPv4s. */
	async metadataEnis(): Promise<Map<string, string[]>> {
		const base = `${this.node.metadata}/latest/meta-data/network/interfaces/macs/`;
		const get = async (url: string): Promise<string> => {
			const r = await fetch(url, { signal: AbortSignal.timeout(5000) });
			if (!r.ok) throw new Error(`metadata GET ${url}: HTTP ${r.status}`);
			return r.text();
		};
		const out = new Map<string, string[]>();
		for (const line of (await get(base)).split("\n")) {
			const mac = line.trim().replace(/\/$/, "");
			if (!mac) continue;
			out.set(mac.toLowerCase(), JSON.parse(await get(`${base}${mac}/private-ipv4s`)) as string[]);
		}
		return out;
	}

	/** The OpenAPI part of the request log after `since` (seq). */
	async openapiLog(
		since = 0,
	): Promise<
		{ seq: number; what: string; status?: number; code?: string; detail?: Record<string, unknown> }[]
	> {
		return this.sim.log(since, "openapi");
	}
}

// ------------------------------------------------------------------------------------- daemon

export type DaemonOptions = {
	world: World;
	/** Work dir (config, state dir, socket, logs); created if missing. */
	dir: string;
	/** The `eni_conf` object of the daemon config file. */
	eniConf: Record<string, unknown>;
	/** Extra keys of the daemon config file. */
	extraConfig?: Record<string, unknown>;
};

export class Daemon {
	readonly socket: string;
	readonly stateDir: string;
	readonly config: string;
	proc: ReturnType<typeof Bun.spawn> | undefined;
	starts = 0;
	private readonly env: Record<string, string>;

	constructor(readonly opts: DaemonOptions) {
		mkdirSync(opts.dir, { recursive: true });
		this.socket = `${opts.dir}/terwayd.sock`;
		this.stateDir = `${opts.dir}/state`;
		this.config = `${opts.dir}/daemon.json`;
		writeFileSync(
			this.config,
			`${JSON.stringify(
				{
					eni_conf: opts.eniConf,
					node_name: opts.world.node.name,
					socket: this.socket,
					state_dir: this.stateDir,
					...opts.extraConfig,
				},
				null,
				2,
			)}\n`,
		);
		const base: Record<string, string> = {};
		for (const k of ["PATH", "HOME", "LANG", "TZ"]) if (process.env[k]) base[k] = process.env[k]!;
		this.env = { ...base, ...opts.world.daemonEnv() };
	}

	get pid(): number | undefined {
		return this.proc?.pid;
	}

	get alive(): boolean {
		return this.proc !== undefined && this.proc.exitCode === null && this.proc.signalCode === null;
	}

	logPath(n = this.starts): string {
		return `${this.opts.dir}/daemon-${n}.log`;
	}

	start(): number {
		if (this.alive) throw new Error(`daemon already running (pid ${this.pid})`);
		this.starts++;
		const fd = openSync(this.logPath(), "a");
		try {
			this.proc = Bun.spawn(
				[
					BUN,
					ENTRY,
					"daemon",
					"--config",
					this.config,
					"--socket",
					this.socket,
					"--state-dir",
					this.stateDir,
					"--node",
					this.opts.world.node.name,
					// the loopback sim has no kernel links for its ENIs
					"--no-datapath-links",
				],
				{ cwd: REPO, env: this.env, stdin: "ignore", stdout: fd, stderr: fd },
			);
		} finally {
			closeSync(fd);
		}
		return this.proc.pid;
	}

	/** SIGKILL and wait until the process is gone. */
	async kill9(): Promise<void> {
		const p = this.proc;
		if (!p || !this.alive) return;
		p.kill("SIGKILL");
		await p.exited;
	}

	/** SIGTERM (drain and exit), then SIGKILL after `graceMs`. Returns the exit code (null if killed). */
	async stop(graceMs = 10_000): Promise<number | null> {
		const p = this.proc;
		if (!p || !this.alive) return p?.exitCode ?? null;
		p.kill("SIGTERM");
		const t = setTimeout(() => {
			if (this.alive) p.kill("SIGKILL");
		}, graceMs);
		await p.exited;
		clearTimeout(t);
		return p.exitCode;
	}

	/** For afterAll / signal handlers: synchronous, by PID, never throws. */
	killNow(): void {
		try {
			if (this.alive) this.proc?.kill("SIGKILL");
		} catch {
			// already gone
		}
	}

	/** The last lines of the current start's log (for failure messages). */
	tail(lines = 30, n = this.starts): string {
		try {
			return readFileSync(this.logPath(n), "utf8").trimEnd().split("\n").slice(-lines).join("\n");
		} catch {
			return "(no log)";
		}
	}

	/** The state database file(s) in the state dir. */
	dbFiles(): string[] {
		const g = new Bun.Glob("**/*.db");
		return existsSync(this.stateDir) ? [...g.scanSync({ cwd: this.stateDir, absolute: true })] : [];
	}

	removeDir(): void {
		rmSync(this.opts.dir, { recursive: true, force: true });
	}
}

// ---------------------------------------------------------------------------------------- api

export type ApiResult<T = unknown> = { status: number; body: T };

/** Transport failures worth retrying (the daemon is down, restarting or was killed mid-request). */
export class TransportError extends Error {
	override readonly name = "TransportError";
}

export class Api {
	constructor(
		readonly socket: string,
		readonly timeoutMs = 15_000,
	) {}

	async call<T = unknown>(method: string, path: string, body?: unknown): Promise<ApiResult<T>> {
		let res: Response;
		try {
			res = await fetch(`http://terwayd${path}`, {
				method,
				unix: this.socket,
				signal: AbortSignal.timeout(this.timeoutMs),
				...(body !== undefined
					? { body: JSON.stringify(body), headers: { "content-type": "application/json" } }
					: {}),
			});
		} catch (e) {
			throw new TransportError(`${method} ${path}: ${(e as Error).message}`, { cause: e });
		}
		let text: string;
		try {
			text = await res.text();
		} catch (e) {
			throw new TransportError(`${method} ${path}: reading the body: ${(e as Error).message}`, { cause: e });
		}
		let doc: unknown = text;
		try {
			doc = text ? JSON.parse(text) : undefined;
		} catch {
			// /metrics is text; keep the string
		}
		return { status: res.status, body: doc as T };
	}

	/** Poll GET /v1/status until ready (or the process dies / the deadline passes). */
	async waitReady(opts: { timeoutMs: number; alive?: () => boolean }): Promise<number> {
		const t0 = performance.now();
		let last = "no answer";
		while (performance.now() - t0 < opts.timeoutMs) {
			if (opts.alive && !opts.alive()) throw new Error(`daemon exited before ready (last: ${last})`);
			try {
				const r = await this.call<{ ready?: boolean; phase?: string }>("GET", "/v1/status");
				if (r.status === 200 && r.body?.ready) return performance.now() - t0;
				last = `HTTP ${r.status} ${JSON.stringify(r.body)}`;
			} catch (e) {
				last = (e as Error).message;
			}
			await Bun.sleep(10);
		}
		throw new Error(`daemon not ready after ${opts.timeoutMs} ms (last: ${last})`);
	}
}

// ---------------------------------------------------------------------------------------- misc

/** A seeded PRNG (the sim's own mulberry32): deterministic kill points and workloads per seed. */
export function rng(seed: number): () => number {
	const r = new Rng(seed);
	return () => r.next();
}

/** VmRSS / VmHWM of a process in KiB (Linux /proc). */
export function memoryOf(pid: number): { rssKiB: number; hwmKiB: number } {
	const s = readFileSync(`/proc/${pid}/status`, "utf8");
	const kib = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, "m").exec(s)?.[1] ?? Number.NaN);
	return { rssKiB: kib("VmRSS"), hwmKiB: kib("VmHWM") };
}
