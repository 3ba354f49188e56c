/**
 * CNI bench (`make bench`): our plugin (dist/terwayctl as `terway`, terwayd with a warm pool in a
 * `terwayctl sim` node) side by side, in one run and in the same node namespace, with Debian's
 * reference `ptp` + `host-local` and `bridge` + `host-local` (/usr/lib/cni). Every call is exec'd
 * as a runtime does (CNI_* env + one plugin config on stdin, prevResult for CHECK/DEL), born in
 * the node namespace, timed from spawn to exit. A benchmark, not a test: it prints whether the
 * issue's targets are met and never fails on them (only on a broken setup).
 *
 *   bun bench/cni/index.ts [--pods N] [--json]       (env BENCH_PODS; default 50, at least 50)
 *
 * Per plugin: N pods ADD one after another, then CHECK each, then DEL each (p50/p90/p99 and the
 * sequential ADD rate); then N fresh pods ADDed by 4 workers and DELed by 4 workers (pods/s,
 * failures); peak RSS of one ADD/CHECK/DEL from /usr/bin/time (GNU time's %M: a wait4 in a small
 * parent, so the bench process's own pages do not count). Pod namespaces are made and removed
 * untimed. Plugins alternate per phase so drift hits all of them.
 *
 * Needs root. Everything is named `twb<4 hex>`: one sim world (its VPC and node namespaces), pod
 * namespaces `twb<hex>-p<i>`, host-local data in a temp dir; all removed on exit, error or Ctrl-C.
 */
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { cpus, release, tmpdir } from "node:os";
import { join } from "node:path";
import { createNetns, deleteNetns, listNetns, Netns } from "../../src/linux/netns.ts";
import { type Dist, dist, execPlugin, type Plugin, type Pod, pool } from "./exec.ts";

const ROOT = join(import.meta.dir, "../..");
const BIN = join(ROOT, "dist/terwayctl");
const REF_DIR = "/usr/lib/cni";
const WORKERS = 4;

const argv = process.argv.slice(2);
const json = argv.includes("--json");
const podsArg = argv.includes("--pods") ? argv[argv.indexOf("--pods") + 1] : process.env.BENCH_PODS;
const N = Math.max(50, Number(podsArg ?? 50) || 50);

if (process.getuid?.() !== 0) {
	console.error("bench/cni needs root (network namespaces)");
	process.exit(1);
}
for (const p of ["ptp", "bridge", "host-local"])
	if (!existsSync(`${REF_DIR}/${p}`)) {
		console.error(`bench/cni: ${REF_DIR}/${p} missing (apt package containernetworking-plugins; make setup)`);
		process.exit(1);
	}

const P = `twb${randomBytes(2).toString("hex")}`;
const tmp = mkdtempSync(join(tmpdir(), `${P}-`));
const log = (s: string) => {
	if (!json) console.error(s);
};
const sh = (cmd: string[]) => {
	const r = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe", cwd: ROOT });
	return { code: r.exitCode ?? -1, out: r.stdout.toString(), err: r.stderr.toString() };
};

/** dist/terwayctl, rebuilt when any src file is newer. */
function ensureBuilt(): void {
	const built = existsSync(BIN) ? statSync(BIN).mtimeMs : 0;
	const newest = Number(
		sh(["bash", "-c", "find src bpf -newer dist/terwayctl -type f | head -1 | wc -l"]).out,
	);
	if (built && newest === 0) return;
	log("building dist/terwayctl (make build) ...");
	const r = sh(["make", "-s", "build"]);
	if (r.code !== 0) throw new Error(`make build failed: ${r.err.slice(-500)}`);
}

/** The default scenario on one big node with a warm pool of more than N IPs. */
function scenarioFile(): string {
	const s = Bun.YAML.parse(readFileSync(join(ROOT, "src/sim/scenarios/default.yaml"), "utf8")) as {
		nodes: { count: number; instanceType: string };
		kubernetes: { objects: { kind: string; metadata: { name: string }; data?: Record<string, string> }[] };
	};
	s.nodes.count = 1;
	s.nodes.instanceType = "ecs.sim.big";
	const cm = s.kubernetes.objects.find((o) => o.kind === "ConfigMap" && o.metadata.name === "eni-config")!;
	const eni = JSON.parse(cm.data!.eni_conf!) as Record<string, unknown>;
	eni.min_pool_size = N + 10;
	eni.max_pool_size = N + 30;
	cm.data!.eni_conf = JSON.stringify(eni);
	const f = join(tmp, "scenario.json");
	writeFileSync(f, JSON.stringify(s));
	return f;
}

const podNetns: string[] = [];
let worldUp = false;
function cleanup(): void {
	for (const n of podNetns.splice(0)) if (listNetns().includes(n)) deleteNetns(n);
	if (worldUp) sh([BIN, "sim", "down", "--prefix", P]);
	worldUp = false;
	rmSync(tmp, { recursive: true, force: true });
}
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const)
	process.on(sig, () => {
		cleanup();
		process.exit(130);
	});

let seq = 0;
function newPods(count: number, tag: string): Pod[] {
	return Array.from({ length: count }, () => {
		const i = seq++;
		const name = `${P}-p${i}`;
		createNetns(name).close();
		podNetns.push(name);
		return {
			id: `${P}${tag}${String(i).padStart(5, "0")}`,
			uid: crypto.randomUUID(),
			name: `bench-${i}`,
			netns: `/run/netns/${name}`,
		};
	});
}
function dropPods(pods: Pod[]): void {
	for (const p of pods) {
		const name = p.netns.slice("/run/netns/".length);
		if (listNetns().includes(name)) deleteNetns(name);
		podNetns.splice(podNetns.indexOf(name), 1);
	}
}

type Row = {
	plugin: string;
	add: Dist;
	check: Dist;
	del: Dist;
	seqAddRate: number;
	parAddRate: number;
	parDelRate: number;
	failures: number;
	firstFailure?: string;
	rssMB: number;
};

async function main(): Promise<void> {
	ensureBuilt();
	log(`bring up sim world ${P} (1 node, --cni terway, warm pool ${N + 10}..${N + 30}) ...`);
	const up = sh([
		BIN,
		"sim",
		"up",
		"--prefix",
		P,
		"--nodes",
		"1",
		"--cni",
		"terway",
		"--scenario",
		scenarioFile(),
	]);
	worldUp = true;
	if (up.code !== 0) throw new Error(`sim up failed: ${up.err.slice(-800)}`);
	const nodeDir = `/run/terway-sim/${P}/nodes/node-1`;
	const socket = `${nodeDir}/terwayd.sock`;
	for (const end = Date.now() + 60_000; ; ) {
		const st = (await fetch("http://terwayd/v1/status", { unix: socket })
			.then((r) => r.json())
			.catch(() => undefined)) as { pool?: { idle: number } } | undefined;
		if ((st?.pool?.idle ?? 0) >= N + 10) break;
		if (Date.now() > end) throw new Error(`terwayd pool not warm in 60s: ${JSON.stringify(st)}`);
		await Bun.sleep(200);
	}
	const list = JSON.parse(readFileSync(`${nodeDir}/cni/net.d/10-terway.conflist`, "utf8")) as {
		name: string;
		cniVersion: string;
		plugins: Record<string, unknown>[];
	};
	const hl = (subnet: string) => ({
		type: "host-local",
		ranges: [[{ subnet }]],
		routes: [{ dst: "0.0.0.0/0" }],
		dataDir: join(tmp, "host-local"),
	});
	const plugins: Plugin[] = [
		{
			name: "ptp",
			path: `${REF_DIR}/ptp`,
			cniPath: REF_DIR,
			conf: {
				cniVersion: "1.0.0",
				name: "bench-ptp",
				type: "ptp",
				ipMasq: false,
				ipam: hl("198.19.64.0/20"),
			},
		},
		{
			name: "bridge",
			path: `${REF_DIR}/bridge`,
			cniPath: REF_DIR,
			conf: {
				cniVersion: "1.0.0",
				name: "bench-bridge",
				type: "bridge",
				bridge: `${P}br`,
				isGateway: true,
				ipMasq: false,
				ipam: hl("198.19.80.0/20"),
			},
		},
		{
			name: "terway",
			path: `${nodeDir}/cni/bin/terway`,
			cniPath: `${nodeDir}/cni/bin:${REF_DIR}`,
			conf: { ...list.plugins[0]!, name: list.name, cniVersion: list.cniVersion },
		},
	];
	using node = Netns.open(`${P}-node-1`);

	const rows = new Map<string, Row>();
	const fail = (r: Row, what: string, o: { code: number; out: string; err: string }) => {
		r.failures++;
		r.firstFailure ??= `${what}: exit ${o.code} ${o.out.trim().slice(0, 200)} ${o.err.trim().slice(0, 200)}`;
	};
	for (const p of plugins)
		rows.set(p.name, {
			plugin: p.name,
			add: dist([]),
			check: dist([]),
			del: dist([]),
			seqAddRate: 0,
			parAddRate: 0,
			parDelRate: 0,
			failures: 0,
			rssMB: 0,
		});

	// Warm-up: one untimed ADD/DEL each (page cache, the daemon's first request).
	for (const p of plugins) {
		const [pod] = newPods(1, "w");
		const a = await execPlugin(node, p, "ADD", pod!);
		if (a.code !== 0) throw new Error(`${p.name} warm-up ADD failed: ${a.out}${a.err}`);
		await execPlugin(node, p, "DEL", pod!);
		dropPods([pod!]);
	}

	// Sequential: ADD all, CHECK all, DEL all; one plugin after another, order rotated.
	for (const [k, p] of plugins.entries()) {
		const r = rows.get(p.name)!;
		log(`${p.name}: ${N} pods sequential ADD, CHECK, DEL (order ${k}) ...`);
		const pods = newPods(N, "s");
		const t: Record<"ADD" | "CHECK" | "DEL", number[]> = { ADD: [], CHECK: [], DEL: [] };
		for (const cmd of ["ADD", "CHECK", "DEL"] as const)
			for (const pod of pods) {
				const o = await execPlugin(node, p, cmd, pod);
				if (o.code !== 0) fail(r, cmd, o);
				t[cmd].push(o.ms);
			}
		r.add = dist(t.ADD);
		r.check = dist(t.CHECK);
		r.del = dist(t.DEL);
		r.seqAddRate = (1000 * N) / t.ADD.reduce((a, b) => a + b, 0);
		dropPods(pods);
	}

	// 4-way parallel: N fresh pods ADDed by 4 workers, then DELed by 4 workers.
	for (const p of [...plugins].reverse()) {
		const r = rows.get(p.name)!;
		log(`${p.name}: ${N} pods, ${WORKERS} workers ADD then DEL ...`);
		const pods = newPods(N, "p");
		const addMs = await pool(pods, WORKERS, async (pod) => {
			const o = await execPlugin(node, p, "ADD", pod);
			if (o.code !== 0) fail(r, "parallel ADD", o);
		});
		const delMs = await pool(pods, WORKERS, async (pod) => {
			const o = await execPlugin(node, p, "DEL", pod);
			if (o.code !== 0) fail(r, "parallel DEL", o);
		});
		r.parAddRate = (1000 * N) / addMs;
		r.parDelRate = (1000 * N) / delMs;
		dropPods(pods);
	}

	// Peak RSS: GNU time's %M (KiB) over one ADD, CHECK and DEL per plugin.
	for (const p of plugins) {
		const r = rows.get(p.name)!;
		const [pod] = newPods(1, "r");
		let peak = 0;
		for (const cmd of ["ADD", "CHECK", "DEL"] as const) {
			const f = join(tmp, `rss-${p.name}-${cmd}`);
			const o = await execPlugin(node, p, cmd, pod!, ["/usr/bin/time", "-f", "%M", "-o", f]);
			if (o.code !== 0) fail(r, `rss ${cmd}`, o);
			peak = Math.max(peak, Number(readFileSync(f, "utf8").trim().split("\n").pop()));
		}
		r.rssMB = peak / 1024;
		dropPods([pod!]);
	}

	report([...rows.values()]);
}

function report(rows: Row[]): void {
	const ptp = rows.find((r) => r.plugin === "ptp")!;
	const ours = rows.find((r) => r.plugin === "terway")!;
	const ratio = (a: number, b: number) => a / b;
	const targets = [
		{
			what: "ADD p50 <= 1.0x ptp",
			value: ratio(ours.add.p50, ptp.add.p50),
			unit: "x",
			met: ours.add.p50 <= ptp.add.p50,
		},
		{
			what: "CHECK p50 <= 1.0x ptp",
			value: ratio(ours.check.p50, ptp.check.p50),
			unit: "x",
			met: ours.check.p50 <= ptp.check.p50,
		},
		{
			what: "DEL p50 <= 1.0x ptp",
			value: ratio(ours.del.p50, ptp.del.p50),
			unit: "x",
			met: ours.del.p50 <= ptp.del.p50,
		},
		{
			what: `${WORKERS}-way ADD rate >= ptp's, 0 failures`,
			value: ratio(ours.parAddRate, ptp.parAddRate),
			unit: "x",
			met: ours.parAddRate >= ptp.parAddRate && ours.failures === 0,
		},
		{ what: "peak RSS <= 45 MB", value: ours.rssMB, unit: " MB", met: ours.rssMB <= 45 },
	];
	if (json) {
		console.log(JSON.stringify({ pods: N, workers: WORKERS, rows, targets }, null, 2));
		return;
	}
	const f = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : "-");
	const d = (x: Dist) => `${f(x.p50)}/${f(x.p90)}/${f(x.p99)}`.padStart(17);
	console.log(
		`\nCNI bench: ${N} pods, kernel ${release()}, ${cpus().length} CPUs, ${cpus()[0]?.model ?? ""}, bun ${Bun.version}`,
	);
	console.log(
		"plugin     ADD ms p50/p90/p99  CHECK p50/p90/p99    DEL p50/p90/p99  seq ADD/s  4w ADD/s  4w DEL/s  peak RSS  fails",
	);
	for (const r of rows)
		console.log(
			`${r.plugin.padEnd(8)} ${d(r.add)}  ${d(r.check)}  ${d(r.del)}  ${f(r.seqAddRate).padStart(9)}  ${f(r.parAddRate).padStart(8)}  ${f(r.parDelRate).padStart(8)}  ${`${f(r.rssMB)} MB`.padStart(8)}  ${String(r.failures).padStart(5)}`,
		);
	console.log("\nratios to ptp (same run, p50):");
	for (const r of rows.filter((x) => x !== ptp))
		console.log(
			`  ${r.plugin.padEnd(8)} ADD ${f(ratio(r.add.p50, ptp.add.p50) * 100)}%  CHECK ${f(ratio(r.check.p50, ptp.check.p50) * 100)}%  DEL ${f(ratio(r.del.p50, ptp.del.p50) * 100)}%  ${WORKERS}w ADD rate ${f(ratio(r.parAddRate, ptp.parAddRate) * 100)}%`,
		);
	console.log("\ntargets (issue 5, terway vs ptp):");
	for (const t of targets)
		console.log(
			`  ${t.what.padEnd(34)} ${`${t.value.toFixed(2)}${t.unit}`.padStart(9)}  ${t.met ? "met" : "NOT met"}`,
		);
	for (const r of rows) if (r.firstFailure) console.log(`  ${r.plugin} first failure: ${r.firstFailure}`);
}

try {
	await main();
} catch (e) {
	console.error(`bench/cni: ${(e as Error).message}`);
	process.exitCode = 1;
} finally {
	cleanup();
}
