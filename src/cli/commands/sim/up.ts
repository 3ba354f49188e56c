/**
 * `terwayctl sim up`: start the world's serve process detached (setsid), then follow its
 * progress on the control socket until the nodes are ready.
 */
import { existsSync, mkdirSync, openSync, readFileSync, rmSync } from "node:fs";
import { SimClient } from "../../../sim/control/client.ts";
import { validatePrefix, type WorldMode, worldPaths } from "../../../sim/layout.ts";
import type { SimCni } from "../../../sim/node-cni.ts";
import { loadScenarioFile } from "../../../sim/world/scenario.ts";
import { ExitError } from "../../errors.ts";
import { printJson, style } from "../../output.ts";
import { selfArgv } from "./self.ts";

export type UpOptions = {
	prefix: string;
	mode: WorldMode;
	nodes?: string;
	scenario?: string;
	state?: string;
	cni?: SimCni;
	json: boolean;
};

const UP_TIMEOUT_MS = 120_000;

export async function simUp(opts: UpOptions): Promise<void> {
	const prefix = validatePrefix(opts.prefix);
	if (opts.nodes !== undefined && !/^[1-9][0-9]?$/.test(opts.nodes)) {
		throw new ExitError(`--nodes ${JSON.stringify(opts.nodes)}: expected a number from 1 to 99`, 2);
	}
	if (opts.scenario !== undefined && !existsSync(opts.scenario)) {
		throw new ExitError(`--scenario ${opts.scenario}: no such file`, 2);
	}
	if (opts.state !== undefined && !existsSync(opts.state))
		throw new ExitError(`--state ${opts.state}: no such file`, 2);
	if (opts.state !== undefined && (opts.scenario !== undefined || opts.nodes !== undefined)) {
		throw new ExitError(
			"--state restores a whole world: it cannot be combined with --scenario or --nodes",
			2,
		);
	}
	if (opts.cni === "terway" && opts.mode !== "netns")
		throw new ExitError("--cni terway needs --mode netns (the plugin wires pods in node namespaces)", 2);
	// Validate the scenario here, before anything is made (errors name the field).
	if (opts.scenario !== undefined) await loadScenarioFile(opts.scenario);
	if (opts.mode === "netns" && process.getuid?.() !== 0) {
		throw new ExitError(
			"netns mode needs root (it creates network namespaces); use --mode loopback or run as root",
			2,
		);
	}
	const client = new SimClient(prefix);
	const paths = worldPaths(prefix);
	if (existsSync(paths.info)) {
		const alive = await client.status().then(
			() => true,
			() => false,
		);
		if (alive)
			throw new ExitError(
				`a world with prefix "${prefix}" is already up (terwayctl sim down --prefix ${prefix})`,
			);
		throw new ExitError(
			`a world with prefix "${prefix}" left state behind in ${paths.dir}; remove it with: terwayctl sim down --prefix ${prefix}`,
		);
	}
	mkdirSync(paths.dir, { recursive: true, mode: 0o700 });
	const argv = [
		...selfArgv(),
		"sim",
		"serve",
		"--prefix",
		prefix,
		"--mode",
		opts.mode,
		...(opts.nodes ? ["--nodes", opts.nodes] : []),
		...(opts.scenario ? ["--scenario", opts.scenario] : []),
		...(opts.state ? ["--state", opts.state] : []),
		...(opts.cni && opts.mode === "netns" ? ["--cni", opts.cni] : []),
	];
	const out = openSync(paths.serveLog, "a");
	const child = Bun.spawn(["setsid", ...argv], { stdio: ["ignore", out, out], env: process.env });
	child.unref();

	const started = Date.now();
	let shown = 0;
	for (;;) {
		await Bun.sleep(100);
		const st = await client.status().catch(() => undefined);
		if (st) {
			if (!opts.json)
				for (const line of st.progress.slice(shown)) console.error(`  ${style.dim("·")} ${line}`);
			shown = st.progress.length;
			if (st.phase === "ready") break;
		}
		if (child.exitCode !== null && !existsSync(paths.info)) {
			const log = readFileSync(paths.serveLog, "utf8").trim().split("\n").slice(-5).join("\n");
			rmSync(paths.dir, { recursive: true, force: true });
			throw new ExitError(`world "${prefix}" failed to start:\n${log}`);
		}
		if (Date.now() - started > UP_TIMEOUT_MS) {
			throw new ExitError(
				`world "${prefix}" did not become ready in ${UP_TIMEOUT_MS / 1000}s (see ${paths.serveLog})`,
			);
		}
	}
	const info = client.info();
	if (opts.json) {
		printJson(info);
		return;
	}
	const secs = ((Date.now() - started) / 1000).toFixed(1);
	console.log(
		`${style.green("world up")} ${style.bold(prefix)} (${info.mode}, ${info.nodes.length} nodes, ${secs}s)`,
	);
	for (const n of info.nodes)
		console.log(
			`  ${n.name.padEnd(10)} ${n.instanceId}  ${n.primaryIp}${n.netns ? `  netns ${n.netns}` : ""}`,
		);
	console.log(`  openapi    http://${info.endpoints.openapi}`);
	console.log(`  apiserver  ${info.endpoints.apiserver}`);
	console.log(`  metadata   ${info.endpoints.metadata}`);
	console.log(`  kubectl --kubeconfig ${paths.kubeconfig} get nodes`);
}
