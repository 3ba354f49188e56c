/**
 * A sim node's pod network when it runs Terway (`sim up --cni terway`): what the terway
 * DaemonSet's init container and terwayd itself do on a real node, and nothing more.
 *
 * - `10-terway.conflist` in the node's CNI conf dir, in Terway's shape (name/type terway, the
 *   `bandwidth` capability, `eniip_virtual_type`, portmap chained when that plugin is installed)
 *   plus `daemon_socket`, the node's terwayd socket (one machine, several "nodes").
 * - a per-node CNI bin dir holding `terway`: a symlink to the compiled terwayctl (argv[0]
 *   dispatch), or a two-line wrapper when terwayctl runs as `bun src/bin/terwayctl.ts`.
 * - terwayd, spawned INSIDE the node's network namespace (the JS thread switches for the
 *   synchronous spawn only, as the kubelet does for plugins) with the node's environment (the
 *   `sim exec` env file), a per-node config, state dir, socket and log under the node's dir.
 *   Stop: SIGTERM, wait for the drain, then SIGKILL.
 *
 * Never spawns ip/tc/iptables: only terwayd (the DaemonSet's job here).
 */
import { chmodSync, existsSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { PORTMAP_PLUGIN, renderConflist, TERWAY_CONFLIST } from "../core/config/conflist.ts";
import type { Netns } from "../linux/netns.ts";

/** The pod network a `sim up` world gives its nodes. */
export type SimCni = "ptp" | "terway";
export const SIM_CNIS: readonly SimCni[] = ["ptp", "terway"];

export { TERWAY_CONFLIST };

/** Where a node's terwayd keeps its files. */
export function terwaydPaths(nodeDir: string) {
	return {
		socket: `${nodeDir}/terwayd.sock`,
		stateDir: `${nodeDir}/terwayd`,
		config: `${nodeDir}/terwayd.json`,
		log: `${nodeDir}/terwayd.log`,
		cniLog: `${nodeDir}/terway-cni.log`,
		binDir: `${nodeDir}/cni/bin`,
	};
}

/** Terway's conflist (core/config/conflist.ts, as `terwayctl install` writes it) with this node's daemon socket. */
export function terwayConflist(opts: { socket: string; portmap: boolean; logFile?: string }): string {
	return renderConflist({
		daemonSocket: opts.socket,
		...(opts.logFile ? { logFile: opts.logFile } : {}),
		chained: opts.portmap ? [PORTMAP_PLUGIN] : [],
	});
}

/** The first executable `<dir>/<name>` over a CNI_PATH (invoke.FindInPath). */
export function findPlugin(name: string, cniPath: string[]): string | undefined {
	return cniPath.map((d) => `${d}/${name}`).find((p) => existsSync(p));
}

/**
 * Put `terway` into `binDir`. `self` is how this program is started again: `[binary]` when
 * compiled (then a symlink, so argv[0] is `terway`), `[bun, entry.ts]` otherwise (a wrapper that
 * execs bun with argv[0] `terway`).
 */
export function installTerwayBin(binDir: string, self: string[]): string {
	const target = `${binDir}/terway`;
	rmSync(target, { force: true });
	if (self.length === 1) symlinkSync(self[0]!, target);
	else {
		const q = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
		writeFileSync(target, `#!/bin/bash\nexec -a terway ${self.map(q).join(" ")} "$@"\n`);
		chmodSync(target, 0o755);
	}
	return target;
}

/** `KEY=VALUE` lines (the node env file) as an object. */
export function parseEnvFile(text: string): Record<string, string> {
	const env: Record<string, string> = {};
	for (const line of text.split("\n")) {
		const i = line.indexOf("=");
		if (i > 0) env[line.slice(0, i)] = line.slice(i + 1);
	}
	return env;
}

/** The `/v1/status` fields the sim reports. */
export type TerwaydStatus = {
	phase: string;
	ready: boolean;
	pool?: { idle?: number; inUse?: number; min?: number; max?: number };
};

export type TerwaydOptions = {
	node: string;
	nodeDir: string;
	/** How to start terwayctl (`[binary]` or `[bun, entry]`). */
	self: string[];
	/** The node's namespace (netns mode): terwayd is born inside it. */
	netns?: Netns;
	/** The node's `sim exec` env file. */
	envFile: string;
	/** eni_conf for the per-node config file (the scenario's eni-config ConfigMap). */
	eniConf: unknown;
	/** The node's bpffs pin root (`bpf_pin_root`): one per node, bpffs being machine-wide. */
	bpfPinRoot?: string;
};

/** One node's terwayd child. */
export class Terwayd {
	readonly node: string;
	readonly paths: ReturnType<typeof terwaydPaths>;
	readonly #proc: ReturnType<typeof Bun.spawn>;

	private constructor(
		node: string,
		paths: ReturnType<typeof terwaydPaths>,
		proc: ReturnType<typeof Bun.spawn>,
	) {
		this.node = node;
		this.paths = paths;
		this.#proc = proc;
	}

	get pid(): number {
		return this.#proc.pid;
	}

	get exitCode(): number | null {
		return this.#proc.exitCode;
	}

	static start(o: TerwaydOptions): Terwayd {
		const paths = terwaydPaths(o.nodeDir);
		writeFileSync(
			paths.config,
			JSON.stringify(
				{
					eni_conf: o.eniConf,
					node_name: o.node,
					socket: paths.socket,
					state_dir: paths.stateDir,
					...(o.bpfPinRoot ? { bpf_pin_root: o.bpfPinRoot } : {}),
				},
				null,
				2,
			),
		);
		const env = { ...process.env, ...parseEnvFile(readFileSync(o.envFile, "utf8")) };
		const log = Bun.file(paths.log);
		const spawn = () =>
			Bun.spawn([...o.self, "daemon", "--config", paths.config], {
				env,
				stdin: "ignore",
				stdout: log,
				stderr: log,
				cwd: "/",
			});
		const proc = o.netns ? o.netns.run(spawn) : spawn();
		return new Terwayd(o.node, paths, proc);
	}

	/** GET /v1/status over the socket; undefined while it does not answer. */
	async status(): Promise<TerwaydStatus | undefined> {
		try {
			const r = await fetch("http://terwayd/v1/status", {
				unix: this.paths.socket,
				signal: AbortSignal.timeout(2000),
			});
			return r.ok ? ((await r.json()) as TerwaydStatus) : undefined;
		} catch {
			return undefined;
		}
	}

	/** Wait for phase ready; throws with the log's tail when it exits or times out. */
	async waitReady(timeoutMs: number): Promise<TerwaydStatus> {
		const end = Date.now() + timeoutMs;
		for (;;) {
			const st = await this.status();
			if (st?.phase === "ready") return st;
			if (this.#proc.exitCode !== null)
				throw new Error(`terwayd ${this.node} exited ${this.#proc.exitCode}: ${this.#tail()}`);
			if (Date.now() > end)
				throw new Error(
					`terwayd ${this.node} not ready in ${timeoutMs / 1000}s (phase ${st?.phase ?? "no answer"}): ${this.#tail()}`,
				);
			await Bun.sleep(100);
		}
	}

	#tail(): string {
		try {
			return readFileSync(this.paths.log, "utf8").trim().split("\n").slice(-3).join(" | ");
		} catch {
			return "(no log)";
		}
	}

	/** SIGTERM, wait up to `graceMs` for the drain, then SIGKILL. */
	async stop(graceMs = 10_000): Promise<"stopped" | "killed" | "gone"> {
		if (this.#proc.exitCode !== null || this.#proc.signalCode) return "gone";
		this.#proc.kill("SIGTERM");
		const exited = await Promise.race([
			this.#proc.exited.then(() => true),
			Bun.sleep(graceMs).then(() => false),
		]);
		if (exited) return "stopped";
		this.#proc.kill("SIGKILL");
		await this.#proc.exited;
		return "killed";
	}
}
