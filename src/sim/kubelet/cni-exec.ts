/**
 * A libcni-style runner: how containerd executes the plugins of a network configuration list.
 * This is the kubelet stand-in's CNI engine; it must stay faithful to libcni (pkg `libcni/api.go`,
 * `pkg/invoke`) because the project's own plugin is tested through it.
 *
 * - ADD runs the plugins in order. Each gets the plugin config with `name` and `cniVersion` from
 *   the list, `runtimeConfig` with only the capability args the plugin declares in
 *   `capabilities`, and `prevResult` = the previous plugin's result (none for the first). The
 *   final result is cached (`<cacheDir>/results/<net>-<containerID>-<ifname>`, libcni's
 *   `cniCacheV1` JSON) and returned.
 * - DEL runs the plugins in reverse with `prevResult` = the cached result (spec ≥ 0.4.0), then
 *   drops the cache entry. CHECK (≥ 0.4.0, skipped with `disableCheck`) runs in order with the
 *   cached result. STATUS and GC (≥ 1.1.0) get no container env; GC first DELs cached attachments
 *   that are not listed valid, then sends `cni.dev/valid-attachments` (and the legacy
 *   `cni.dev/attachments`) to every plugin.
 * - Env: the runner's environment minus any CNI_*, plus exactly CNI_COMMAND, CNI_CONTAINERID,
 *   CNI_NETNS, CNI_ARGS, CNI_IFNAME and CNI_PATH (libcni `invoke.Args.AsEnv` sets all six, empty
 *   where a command takes none).
 * - A plugin that exits non-zero fails with `CniPluginError` carrying its error JSON
 *   (`{code,msg,details}` from stdout; stderr when stdout is empty, as libcni `pluginErr`).
 *   Each exec has a timeout (`CniTimeoutError`, the child is SIGKILLed).
 * - Plugins are spawned with async `Bun.spawn` (never spawnSync: the sim's servers share this
 *   process). With `netns`, the spawn call itself runs inside that namespace (`Netns.run`), so the
 *   child is born in the runtime's network namespace (the sim node), as a plugin expects
 *   (spec: the runtime's networking domain). Only the synchronous spawn is inside; no await.
 *
 * It does not create or delete the container netns: that is the caller's (the kubelet's) job.
 */
import { constants as fsConstants } from "node:fs";
import { access, mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Netns } from "../../linux/netns.ts";
import { CNI_NAME_RE, type CniNetworkConfigList, type CniPluginConf, versionAtLeast } from "./cni-config.ts";

export type CniCommand = "ADD" | "DEL" | "CHECK" | "STATUS" | "GC" | "VERSION";

/** A plugin result as JSON (any supported version; 1.x: interfaces, ips, routes, dns). */
export type CniResult = {
	cniVersion?: string;
	interfaces?: { name: string; mac?: string; mtu?: number; sandbox?: string }[];
	ips?: { address: string; gateway?: string; interface?: number; version?: string }[];
	routes?: { dst: string; gw?: string }[];
	dns?: Record<string, unknown>;
	/** 0.1/0.2 results. */
	ip4?: { ip: string; gateway?: string };
	ip6?: { ip: string; gateway?: string };
	[key: string]: unknown;
};

/** The per-attachment arguments of one invocation (libcni RuntimeConf). */
export type RuntimeConf = {
	containerId: string;
	/** CNI_NETNS: a path (/run/netns/NAME); may be "" for DEL. */
	netns: string;
	ifName: string;
	/** CNI_ARGS pairs, in order ("IgnoreUnknown"="1", "K8S_POD_NAME"=...). */
	args: [string, string][];
	/** Capability args (portMappings, bandwidth, ...); filtered per plugin by its `capabilities`. */
	capabilityArgs: Record<string, unknown>;
};

/** An attachment GC must keep (spec GC `cni.dev/valid-attachments` entries). */
export type GcAttachment = { containerID: string; ifname: string };

/** One cached ADD, as libcni stores it (`cniCacheV1`). */
export type CachedAttachment = {
	kind: "cniCacheV1";
	containerId: string;
	/** The config list the ADD ran with, base64 like Go's []byte. */
	config: string;
	ifName: string;
	networkName: string;
	netns?: string;
	cniArgs?: [string, string][];
	capabilityArgs?: Record<string, unknown>;
	result?: CniResult;
};

/** What happened in one plugin exec (for logs and tests). */
export type ExecRecord = {
	plugin: string;
	path: string;
	command: CniCommand;
	containerId: string;
	ifName: string;
	exitCode: number | null;
	durationMs: number;
	stderr: string;
	timedOut: boolean;
};

/** Base of every failure of a plugin invocation. */
export class CniExecError extends Error {
	override readonly name: string = "CniExecError";
	constructor(
		/** The plugin type ("ptp"). */
		readonly plugin: string,
		readonly command: CniCommand,
		message: string,
		override readonly cause?: unknown,
	) {
		super(message);
	}
}

/** The plugin ran and failed: its CNI error JSON, surfaced as typed fields. */
export class CniPluginError extends CniExecError {
	override readonly name = "CniPluginError";
	constructor(
		plugin: string,
		command: CniCommand,
		/** CNI error code (spec §Error: 1-7, 11, 50/51; libcni 8, 999; 100+ plugin-specific). */
		readonly code: number,
		readonly msg: string,
		readonly details: string,
		readonly exitCode: number | null,
		readonly stderr: string,
	) {
		super(
			plugin,
			command,
			`plugin type=${JSON.stringify(plugin)} failed (${command.toLowerCase()}): ${msg}${details ? `; ${details}` : ""}`,
		);
	}
}

/** The plugin did not finish within the timeout (it was killed). */
export class CniTimeoutError extends CniExecError {
	override readonly name = "CniTimeoutError";
	constructor(
		plugin: string,
		command: CniCommand,
		readonly timeoutMs: number,
	) {
		super(
			plugin,
			command,
			`plugin type=${JSON.stringify(plugin)} timed out (${command.toLowerCase()}) after ${timeoutMs} ms`,
		);
	}
}

/** The plugin binary is not in any CNI_PATH directory. */
export class CniPluginNotFoundError extends CniExecError {
	override readonly name = "CniPluginNotFoundError";
	constructor(plugin: string, command: CniCommand, paths: string[]) {
		super(plugin, command, `failed to find plugin ${JSON.stringify(plugin)} in path [${paths.join(" ")}]`);
	}
}

/** The plugin exited 0 but its stdout is not a result (ADD must print one). */
export class CniResultError extends CniExecError {
	override readonly name = "CniResultError";
}

export const isCniPluginError = (e: unknown): e is CniPluginError => e instanceof CniPluginError;

export type CniRunnerOptions = {
	/** CNI_PATH directories, searched in order. */
	cniPath: string[];
	/** libcni cache dir; results go to `<cacheDir>/results/`. One per node. */
	cacheDir: string;
	/** Per-exec timeout; default 60 s. */
	timeoutMs?: number;
	/** The runtime's network namespace: plugins are spawned inside it. Default: ours. */
	netns?: Netns;
	/** The environment the CNI_* variables are added to; default process.env (CNI_* removed). */
	baseEnv?: Record<string, string | undefined>;
	/** Called after every exec (success or not). */
	onExec?: (r: ExecRecord) => void;
};

/** CNI_ARGS text: "K=V;K=V" (pkg/invoke stringify). */
export function formatCniArgs(args: [string, string][]): string {
	return args.map(([k, v]) => `${k}=${v}`).join(";");
}

/** The environment of one plugin exec (libcni `invoke.Args.AsEnv`). */
export function buildEnv(
	command: CniCommand,
	rt: Partial<RuntimeConf>,
	cniPath: string[],
	baseEnv: Record<string, string | undefined> = process.env,
): Record<string, string> {
	const env: Record<string, string> = {};
	for (const [k, v] of Object.entries(baseEnv)) {
		if (v !== undefined && !k.startsWith("CNI_")) env[k] = v;
	}
	env.CNI_COMMAND = command;
	env.CNI_CONTAINERID = rt.containerId ?? "";
	env.CNI_NETNS = rt.netns ?? "";
	env.CNI_ARGS = formatCniArgs(rt.args ?? []);
	env.CNI_IFNAME = rt.ifName ?? "";
	env.CNI_PATH = cniPath.join(":");
	return env;
}

/**
 * The stdin of one plugin exec (libcni `buildOneConfig`): the plugin's config with the list's
 * `name` and `cniVersion`, `prevResult` when given, and `runtimeConfig` holding only the
 * capability args the plugin declares (`capabilities: {portMappings: true}`).
 */
export function buildPluginConfig(
	list: Pick<CniNetworkConfigList, "name" | "cniVersion">,
	plugin: CniPluginConf,
	prevResult: CniResult | undefined,
	capabilityArgs: Record<string, unknown> | undefined,
): Record<string, unknown> {
	const conf: Record<string, unknown> = { ...plugin, name: list.name, cniVersion: list.cniVersion };
	if (prevResult !== undefined) conf.prevResult = prevResult;
	const rc: Record<string, unknown> = {};
	for (const [cap, supported] of Object.entries(plugin.capabilities ?? {})) {
		if (supported && capabilityArgs && Object.hasOwn(capabilityArgs, cap)) rc[cap] = capabilityArgs[cap];
	}
	if (Object.keys(rc).length > 0) conf.runtimeConfig = rc;
	return conf;
}

/** Decode a failed plugin's diagnostics (libcni `RawExec.pluginErr`). */
export function decodePluginError(
	stdout: string,
	stderr: string,
	exitCode: number | null,
): { code: number; msg: string; details: string } {
	if (stdout.trim() === "") {
		if (stderr.trim() === "") {
			return { code: 0, msg: `netplugin failed with no error message: exit status ${exitCode}`, details: "" };
		}
		return { code: 0, msg: `netplugin failed: ${JSON.stringify(stderr)}`, details: "" };
	}
	try {
		const e = JSON.parse(stdout) as { code?: unknown; msg?: unknown; details?: unknown };
		return {
			code: typeof e.code === "number" ? e.code : 0,
			msg: typeof e.msg === "string" ? e.msg : "",
			details: typeof e.details === "string" ? e.details : "",
		};
	} catch (e) {
		return {
			code: 0,
			msg: `netplugin failed but error parsing its diagnostic message ${JSON.stringify(stdout)}: ${(e as Error).message}`,
			details: "",
		};
	}
}

/** Runs a network configuration list's plugins as containerd (libcni) does. */
export class CniRunner {
	readonly cniPath: string[];
	readonly cacheDir: string;
	readonly timeoutMs: number;
	readonly #netns: Netns | undefined;
	readonly #baseEnv: Record<string, string | undefined> | undefined;
	readonly #onExec: ((r: ExecRecord) => void) | undefined;

	constructor(opts: CniRunnerOptions) {
		this.cniPath = opts.cniPath;
		this.cacheDir = opts.cacheDir;
		this.timeoutMs = opts.timeoutMs ?? 60_000;
		this.#netns = opts.netns;
		this.#baseEnv = opts.baseEnv;
		this.#onExec = opts.onExec;
	}

	/** The plugin binary: the first executable `<dir>/<type>` over CNI_PATH (invoke.FindInPath). */
	async findPlugin(type: string, command: CniCommand = "ADD"): Promise<string> {
		for (const dir of this.cniPath) {
			const path = join(dir, type);
			try {
				await access(path, fsConstants.X_OK);
				return path;
			} catch {
				// not here; next dir
			}
		}
		throw new CniPluginNotFoundError(type, command, this.cniPath);
	}

	/** Run one plugin with one command; resolves with stdout on exit 0. */
	async exec(
		plugin: CniPluginConf,
		command: CniCommand,
		stdin: unknown,
		rt: Partial<RuntimeConf>,
	): Promise<string> {
		const path = await this.findPlugin(plugin.type, command);
		const env = buildEnv(command, rt, this.cniPath, this.#baseEnv);
		const input = Buffer.from(JSON.stringify(stdin));
		const start = performance.now();
		const spawn = () =>
			Bun.spawn({ cmd: [path], env, stdin: input, stdout: "pipe", stderr: "pipe", cwd: "/" });
		// The child is forked by this (the JS) thread, so it inherits the namespace we are in
		// during this synchronous call (verified in tests/sim/kubelet.test.ts).
		const proc = this.#netns ? this.#netns.run(spawn) : spawn();
		let timedOut = false;
		const timer = setTimeout(() => {
			timedOut = true;
			proc.kill("SIGKILL");
		}, this.timeoutMs);
		let stdout: string;
		let stderr: string;
		let exitCode: number | null;
		try {
			[stdout, stderr, exitCode] = await Promise.all([
				new Response(proc.stdout).text(),
				new Response(proc.stderr).text(),
				proc.exited,
			]);
		} finally {
			clearTimeout(timer);
		}
		this.#onExec?.({
			plugin: plugin.type,
			path,
			command,
			containerId: rt.containerId ?? "",
			ifName: rt.ifName ?? "",
			exitCode,
			durationMs: performance.now() - start,
			stderr,
			timedOut,
		});
		if (timedOut) throw new CniTimeoutError(plugin.type, command, this.timeoutMs);
		if (exitCode !== 0) {
			const e = decodePluginError(stdout, stderr, exitCode);
			throw new CniPluginError(plugin.type, command, e.code, e.msg, e.details, exitCode, stderr);
		}
		return stdout;
	}

	#parseResult(plugin: CniPluginConf, command: CniCommand, stdout: string, cniVersion: string): CniResult {
		let r: unknown;
		try {
			r = JSON.parse(stdout);
		} catch (e) {
			throw new CniResultError(
				plugin.type,
				command,
				`plugin type=${JSON.stringify(plugin.type)} printed no valid result (${command.toLowerCase()}): ${JSON.stringify(stdout.slice(0, 200))}`,
				e,
			);
		}
		if (r === null || typeof r !== "object" || Array.isArray(r)) {
			throw new CniResultError(
				plugin.type,
				command,
				`plugin type=${JSON.stringify(plugin.type)} result is not an object`,
			);
		}
		const result = r as CniResult;
		// invoke.fixupResultVersion: a result without cniVersion is in the config's version.
		if (typeof result.cniVersion !== "string") result.cniVersion = cniVersion;
		return result;
	}

	#validateRt(list: CniNetworkConfigList, rt: RuntimeConf, command: CniCommand): void {
		const plugin = list.plugins[0]?.type ?? "?";
		if (!CNI_NAME_RE.test(rt.containerId)) {
			throw new CniExecError(plugin, command, `invalid container ID ${JSON.stringify(rt.containerId)}`);
		}
		if (
			rt.ifName === "" ||
			rt.ifName.length > 15 ||
			/[/:\s]/.test(rt.ifName) ||
			rt.ifName === "." ||
			rt.ifName === ".."
		) {
			throw new CniExecError(plugin, command, `invalid interface name ${JSON.stringify(rt.ifName)}`);
		}
	}

	/** ADD every plugin in order, chaining prevResult; caches and returns the final result. */
	async add(list: CniNetworkConfigList, rt: RuntimeConf): Promise<CniResult> {
		this.#validateRt(list, rt, "ADD");
		let result: CniResult | undefined;
		for (const plugin of list.plugins) {
			const conf = buildPluginConfig(list, plugin, result, rt.capabilityArgs);
			const out = await this.exec(plugin, "ADD", conf, rt);
			result = this.#parseResult(plugin, "ADD", out, list.cniVersion);
		}
		const final = result as CniResult;
		await this.#cacheAdd(list, rt, final);
		return final;
	}

	/** DEL every plugin in reverse with the cached result as prevResult; then drop the cache. */
	async del(list: CniNetworkConfigList, rt: RuntimeConf): Promise<void> {
		let cached: CniResult | undefined;
		if (versionAtLeast(list.cniVersion, "0.4.0")) cached = (await this.cached(list.name, rt))?.result;
		for (let i = list.plugins.length - 1; i >= 0; i--) {
			const plugin = list.plugins[i] as CniPluginConf;
			await this.exec(plugin, "DEL", buildPluginConfig(list, plugin, cached, rt.capabilityArgs), rt);
		}
		await rm(this.cachePath(list.name, rt), { force: true });
	}

	/** CHECK every plugin in order with the cached result (spec ≥ 0.4.0; no-op with disableCheck). */
	async check(list: CniNetworkConfigList, rt: RuntimeConf): Promise<void> {
		if (!versionAtLeast(list.cniVersion, "0.4.0")) {
			throw new CniExecError(
				list.plugins[0]?.type ?? "?",
				"CHECK",
				`configuration version ${JSON.stringify(list.cniVersion)} does not support the CHECK command`,
			);
		}
		if (list.disableCheck) return;
		const cached = (await this.cached(list.name, rt))?.result;
		for (const plugin of list.plugins) {
			await this.exec(plugin, "CHECK", buildPluginConfig(list, plugin, cached, rt.capabilityArgs), rt);
		}
	}

	/** STATUS every plugin (spec ≥ 1.1.0; resolves at once for older lists, as libcni does). */
	async status(list: CniNetworkConfigList): Promise<void> {
		if (!versionAtLeast(list.cniVersion, "1.1.0")) return;
		for (const plugin of list.plugins) {
			await this.exec(plugin, "STATUS", { ...plugin, name: list.name, cniVersion: list.cniVersion }, {});
		}
	}

	/**
	 * GC (libcni GCNetworkList): DEL each cached attachment of this network that is not in
	 * `valid`, then (spec ≥ 1.1.0) GC every plugin with the valid list. Errors are collected; the
	 * first is thrown after everything ran (an AggregateError when several).
	 */
	async gc(list: CniNetworkConfigList, valid: GcAttachment[]): Promise<void> {
		if (list.disableGC) return;
		const errors: unknown[] = [];
		const keep = new Set(valid.map((a) => `${a.containerID}\0${a.ifname}`));
		for (const a of await this.cachedAttachments()) {
			if (a.networkName !== list.name || keep.has(`${a.containerId}\0${a.ifName}`)) continue;
			try {
				await this.del(list, attachmentRuntimeConf(a));
			} catch (e) {
				errors.push(e);
			}
		}
		if (versionAtLeast(list.cniVersion, "1.1.0")) {
			for (const plugin of list.plugins) {
				const conf = {
					...plugin,
					name: list.name,
					cniVersion: list.cniVersion,
					"cni.dev/valid-attachments": valid,
					"cni.dev/attachments": valid, // libcni sends both (cni#1101)
				};
				try {
					await this.exec(plugin, "GC", conf, {});
				} catch (e) {
					errors.push(e);
				}
			}
		}
		if (errors.length === 1) throw errors[0];
		if (errors.length > 1)
			throw new AggregateError(errors, `GC of network ${list.name}: ${errors.length} errors`);
	}

	/** `<cacheDir>/results/<net>-<containerID>-<ifname>` (libcni getCacheFilePath). */
	cachePath(networkName: string, rt: Pick<RuntimeConf, "containerId" | "ifName">): string {
		return join(this.cacheDir, "results", `${networkName}-${rt.containerId}-${rt.ifName}`);
	}

	/** The cached ADD of (network, container, ifname), or undefined. */
	async cached(
		networkName: string,
		rt: Pick<RuntimeConf, "containerId" | "ifName">,
	): Promise<CachedAttachment | undefined> {
		let text: string;
		try {
			text = await readFile(this.cachePath(networkName, rt), "utf8");
		} catch {
			return undefined; // libcni: read errors mean "no cached result"
		}
		try {
			const c = JSON.parse(text) as CachedAttachment;
			return c.kind === "cniCacheV1" ? c : undefined;
		} catch {
			return undefined;
		}
	}

	/** Every valid cache entry (libcni GetCachedAttachments), sorted by file name. */
	async cachedAttachments(): Promise<CachedAttachment[]> {
		const dir = join(this.cacheDir, "results");
		let names: string[];
		try {
			names = (await readdir(dir)).sort();
		} catch {
			return [];
		}
		const out: CachedAttachment[] = [];
		for (const name of names) {
			try {
				const c = JSON.parse(await readFile(join(dir, name), "utf8")) as CachedAttachment;
				if (c.kind === "cniCacheV1" && c.ifName && c.networkName && c.containerId) out.push(c);
			} catch {
				// unreadable or not ours: skipped, as libcni does
			}
		}
		return out;
	}

	async #cacheAdd(list: CniNetworkConfigList, rt: RuntimeConf, result: CniResult): Promise<void> {
		const entry: CachedAttachment = {
			kind: "cniCacheV1",
			containerId: rt.containerId,
			config: Buffer.from(list.bytes).toString("base64"),
			ifName: rt.ifName,
			networkName: list.name,
			netns: rt.netns,
			cniArgs: rt.args,
			capabilityArgs: rt.capabilityArgs,
			result,
		};
		const path = this.cachePath(list.name, rt);
		await mkdir(join(this.cacheDir, "results"), { recursive: true, mode: 0o700 });
		await writeFile(path, JSON.stringify(entry), { mode: 0o600 });
	}
}

/** The RuntimeConf a cached attachment was added with (for DEL/GC of stale ones). */
export function attachmentRuntimeConf(a: CachedAttachment): RuntimeConf {
	return {
		containerId: a.containerId,
		netns: a.netns ?? "",
		ifName: a.ifName,
		args: a.cniArgs ?? [],
		capabilityArgs: a.capabilityArgs ?? {},
	};
}
