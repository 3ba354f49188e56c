/**
 * The conformance world: the BUILT binary installed as `<tmp>/bin/terway` (argv[0] dispatch),
 * a netns sim world (`sim up`, one node), a real `terwayctl daemon` inside node-1 (`sim exec`,
 * real ENI links, tables and rules), and a runner that execs the plugin exactly as a runtime
 * does: only the CNI_* variables (and PATH), the config on stdin, inside the node's network
 * namespace (`nsenter --net`), pods in fresh namespaces of their own.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hostVethName } from "../../src/core/datapath/names.ts";
import { ipJson, sh } from "../helpers/env.ts";

export const VERSIONS = ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"] as const;
export const entry = join(import.meta.dir, "../../src/bin/terwayctl.ts");
const repo = join(import.meta.dir, "../..");

export type Run = { code: number; out: string; err: string; json: Record<string, unknown> | undefined };

export class World {
	readonly tmp = mkdtempSync(join(tmpdir(), "terway-cf-"));
	readonly bin = join(this.tmp, "bin");
	readonly plugin = join(this.bin, "terway");
	readonly journal = join(this.tmp, "pending-releases.jsonl");
	readonly nodeNs: string;
	readonly nodeDir: string;
	readonly sock: string;
	#daemon: ReturnType<typeof Bun.spawn> | undefined;
	#pods = new Set<string>();
	#n = 0;

	constructor(readonly prefix: string) {
		this.nodeNs = `${prefix}-node-1`;
		this.nodeDir = `/run/terway-sim/${prefix}/nodes/node-1`;
		this.sock = `${this.nodeDir}/terwayd.sock`;
	}

	/** `bun build --compile` (the Makefile's flags, plus --splitting) into tmp, linked as bin/terway. */
	build(): void {
		const out = join(this.tmp, "terwayctl");
		sh([
			process.execPath,
			"build",
			join(repo, "src/bin/terwayctl.ts"),
			"--compile",
			"--splitting",
			"--minify",
			"--bytecode",
			"--format=esm",
			// ink's optional peer (DEV=true only), not installed: see the Makefile's build target
			"--external",
			"react-devtools-core",
			"--define",
			'process.env.NODE_ENV="production"',
			"--outfile",
			out,
		]);
		mkdirSync(this.bin, { recursive: true });
		symlinkSync(out, this.plugin);
	}

	cli(...args: string[]) {
		return sh([process.execPath, entry, ...args], { allowFail: true });
	}

	async up(): Promise<void> {
		const r = this.cli("sim", "up", "--prefix", this.prefix, "--nodes", "1");
		if (r.code !== 0) throw new Error(`sim up failed: ${r.err}`);
		const cfg = `/run/terway-sim/${this.prefix}/terwayd.json`;
		writeFileSync(
			cfg,
			JSON.stringify({
				eni_conf: {
					min_pool_size: 2,
					max_pool_size: 8,
					vswitches: { "cn-hangzhou-i": ["vsw-bp1simpod000000000001"] },
				},
			}),
		);
		await this.startDaemon();
	}

	async startDaemon(): Promise<void> {
		const cfg = `/run/terway-sim/${this.prefix}/terwayd.json`;
		this.#daemon = Bun.spawn(
			[
				process.execPath,
				entry,
				"sim",
				"exec",
				"--prefix",
				this.prefix,
				"node-1",
				"--",
				process.execPath,
				entry,
				"daemon",
				"--config",
				cfg,
				"--state-dir",
				`${this.nodeDir}/terwayd`,
				"--socket",
				this.sock,
			],
			{
				stdout: "ignore",
				stderr: Bun.file(`${this.nodeDir}/terwayd.log`),
				env: { ...process.env, TERWAY_RELEASE_JOURNAL: this.journal },
			},
		);
		const end = Date.now() + 60_000;
		while (Date.now() < end) {
			if (this.api("/v1/status")?.phase === "ready") return;
			await Bun.sleep(200);
		}
		throw new Error(
			`terwayd did not get ready; log: ${sh(["tail", "-20", `${this.nodeDir}/terwayd.log`], { allowFail: true }).out}`,
		);
	}

	/** SIGTERM through `sim exec` (it forwards), wait for the exit. */
	async stopDaemon(): Promise<number | null> {
		const d = this.#daemon;
		if (!d) return null;
		d.kill("SIGTERM");
		const code = await Promise.race([d.exited, Bun.sleep(20_000).then(() => null)]);
		this.#daemon = undefined;
		return code;
	}

	async down(): Promise<void> {
		await this.stopDaemon();
		for (const p of this.#pods) sh(["ip", "netns", "del", p], { allowFail: true });
		this.cli("sim", "down", "--prefix", this.prefix);
		rmSync(this.tmp, { recursive: true, force: true });
	}

	/** GET (or POST with a body) on terwayd's socket; undefined when it cannot be reached. */
	api(path: string, body?: unknown): Record<string, unknown> | undefined {
		const r = sh(
			[
				"curl",
				"-sS",
				"--max-time",
				"5",
				"--unix-socket",
				this.sock,
				...(body !== undefined ? ["-XPOST", "-d", JSON.stringify(body)] : []),
				`http://terwayd${path}`,
			],
			{ allowFail: true },
		);
		if (r.code !== 0) return undefined;
		try {
			return JSON.parse(r.out);
		} catch {
			return undefined;
		}
	}

	/** A fresh pod namespace (removed at the end). */
	podNetns(): { name: string; path: string } {
		const name = `${this.prefix}p${++this.#n}`;
		sh(["ip", "netns", "add", name]);
		this.#pods.add(name);
		return { name, path: `/run/netns/${name}` };
	}

	delNetns(name: string): void {
		sh(["ip", "netns", "del", name], { allowFail: true });
		this.#pods.delete(name);
	}

	/** The plugin's config on stdin for `version` (plus any extra keys). */
	conf(version: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
		return {
			cniVersion: version,
			name: "terway",
			type: "terway",
			capabilities: { bandwidth: true },
			daemon_socket: this.sock,
			release_journal: this.journal,
			...extra,
		};
	}

	/**
	 * Exec the plugin as a runtime does: inside node-1's netns, env = PATH + the given CNI_*
	 * variables only, `stdin` as given (undefined = empty).
	 */
	run(env: Record<string, string>, stdin?: unknown, opts: { node?: boolean } = {}): Run {
		const argv =
			opts.node === false ? [this.plugin] : ["nsenter", `--net=/run/netns/${this.nodeNs}`, this.plugin];
		const input = stdin === undefined ? "" : typeof stdin === "string" ? stdin : JSON.stringify(stdin);
		const r = Bun.spawnSync(argv, {
			env: { PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin", ...env },
			stdin: Buffer.from(input),
			stdout: "pipe",
			stderr: "pipe",
		});
		const out = r.stdout.toString();
		let json: Record<string, unknown> | undefined;
		try {
			json = out.trim() === "" ? undefined : JSON.parse(out);
		} catch {
			json = undefined;
		}
		return { code: r.exitCode ?? -1, out, err: r.stderr.toString(), json };
	}

	/** The host side as `ip -j` sees it in node-1: the veth, rules and main routes of a pod IP. */
	hostState(containerId: string, ifName: string, podIp: string | undefined) {
		const veth = hostVethName(containerId, ifName);
		const links = ipJson<{ ifname: string }[]>(this.nodeNs, ["link", "show"]).filter(
			(l) => l.ifname === veth,
		);
		// terwayd's own rule for an ENI's primary IP (prio 512, links.ts) is the node's, not the
		// pod's: the pool also hands that address to pods (as Terway), so it is left out here.
		const eniPrimary = new Set(
			((this.api("/v1/enis") as unknown as { primaryIp: string }[] | undefined) ?? []).map(
				(e) => e.primaryIp,
			),
		);
		const rules = podIp
			? ipJson<{ src?: string; dst?: string; priority: number }[]>(this.nodeNs, ["rule", "show"]).filter(
					(r) =>
						(r.src === podIp || r.dst === podIp) && !(r.src && eniPrimary.has(r.src) && r.priority === 512),
				)
			: [];
		const routes = podIp
			? ipJson<{ dst: string }[]>(this.nodeNs, ["route", "show", "table", "main"]).filter(
					(r) => r.dst === podIp || r.dst === `${podIp}/32`,
				)
			: [];
		return { links, rules, routes };
	}
}

/** The primary IPs of terwayd's ENIs (its own `512: from <ip>` rules), read while it runs. */
export function eniPrimaryIps(w: World): Set<string> {
	return new Set(
		((w.api("/v1/enis") as unknown as { primaryIp: string }[] | undefined) ?? []).map((e) => e.primaryIp),
	);
}

/**
 * What node-1 shows of a pod, both families, as `ip -j` prints it: its host veth, every rule
 * naming one of `ips` (bare addresses) except terwayd's own rule for an ENI primary IP in
 * `eniPrimary` (read beforehand: terwayd may be down when this is called), and the main-table
 * routes to them.
 */
export function podTraces(
	w: World,
	containerId: string,
	ifName: string,
	ips: string[],
	eniPrimary: Set<string>,
) {
	const veth = hostVethName(containerId, ifName);
	const links = ipJson<{ ifname: string }[]>(w.nodeNs, ["link", "show"]).filter((l) => l.ifname === veth);
	const both = <T>(args: string[]) => [
		...ipJson<T[]>(w.nodeNs, ["-4", ...args]),
		...ipJson<T[]>(w.nodeNs, ["-6", ...args]),
	];
	const rules = both<{ src?: string; dst?: string; priority: number }>(["rule", "show"]).filter(
		(r) =>
			(ips.includes(r.src ?? "") || ips.includes(r.dst ?? "")) &&
			!(r.src && eniPrimary.has(r.src) && r.priority === 512 && !r.dst),
	);
	const routes = both<{ dst: string }>(["route", "show", "table", "main"]).filter((r) =>
		ips.includes(r.dst.split("/")[0] ?? ""),
	);
	return { links, rules, routes };
}

/** CNI_ARGS as Kubernetes runtimes pass them. */
export function k8sArgs(pod: string, containerId: string): string {
	return `IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=${pod};K8S_POD_INFRA_CONTAINER_ID=${containerId};K8S_POD_UID=0f0e0d0c-1111-2222-3333-444455556666`;
}
