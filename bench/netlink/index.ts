/**
 * Netlink bench (`make bench`): build one pod-like topology (see topology.ts) three ways —
 * in-process through the library, one `ip` process per command, one `ip -batch -` per
 * namespace — interleaved round-robin in the same run, and print median/p90/mean per method and
 * the ratios against the library. A benchmark, not a test: it never fails on speed, only when a
 * method errors or builds something different from the library.
 *
 *   bun bench/netlink/index.ts [--iterations N] [--json]     (env BENCH_ITERATIONS; default 40)
 *
 * Needs root. Every namespace it creates is named `tw<4 hex>b-...` (fresh each run) and is
 * deleted after each timed section and again on exit, Ctrl-C or error. Only the time to build
 * the topology is measured: creating and deleting the namespaces is not.
 */
import { randomBytes } from "node:crypto";
import { cpus, release } from "node:os";
import { createNetns, deleteNetns, listNetns } from "../../src/linux/netns.ts";
import { type Stats, summarise, table } from "./stats.ts";
import {
	buildWithIp,
	buildWithIpBatch,
	buildWithLibrary,
	IP,
	OPERATIONS,
	type Topology,
	topologyFor,
} from "./topology.ts";
import { describe, diff, type Snapshot, settle, snapshot } from "./verify.ts";

const TARGET = 5;

type Method = { name: string; spawns: number; build: (t: Topology) => void };
const METHODS: Method[] = [
	{ name: "library", spawns: 0, build: buildWithLibrary },
	{ name: "ip", spawns: OPERATIONS, build: buildWithIp },
	{ name: "ip -batch", spawns: 2, build: buildWithIpBatch },
];

function usage(code: number): never {
	console.error(
		"usage: bun bench/netlink/index.ts [--iterations N] [--json]   (env BENCH_ITERATIONS, default 40)",
	);
	process.exit(code);
}

function parseArgs(argv: string[]): { iterations: number; json: boolean } {
	let iterations: string | undefined = process.env.BENCH_ITERATIONS;
	let json = false;
	for (let i = 0; i < argv.length; i++) {
		const a = argv[i] as string;
		if (a === "--json") json = true;
		else if (a === "--iterations" || a === "-n") iterations = argv[++i];
		else if (a.startsWith("--iterations=")) iterations = a.slice("--iterations=".length);
		else if (a === "--help" || a === "-h") usage(0);
		else {
			console.error(`unknown argument ${a}`);
			usage(2);
		}
	}
	const n = iterations === undefined ? 40 : Number(iterations);
	if (!Number.isInteger(n) || n < 1) {
		console.error(`--iterations must be a positive integer, got ${JSON.stringify(iterations)}`);
		usage(2);
	}
	return { iterations: n, json };
}

function ipVersion(): string {
	const out = Bun.spawnSync([IP, "-V"], { stdout: "pipe" }).stdout.toString();
	return /iproute2-[\w.]+/.exec(out)?.[0] ?? out.trim();
}

const { iterations, json } = parseArgs(process.argv.slice(2));
if (process.getuid?.() !== 0) {
	console.error("bench/netlink needs root (it creates network namespaces)");
	process.exit(1);
}

const prefix = `tw${randomBytes(2).toString("hex")}b`;
const topo = topologyFor(prefix);
const log = (s: string) => (json ? console.error(s) : console.log(s));

let interrupted: string | undefined;
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
	process.on(sig, () => {
		interrupted = sig;
	});
}
const checkInterrupt = () => {
	if (interrupted) throw new Error("stopped between iterations");
};

function setup(): void {
	createNetns(topo.node).close();
	createNetns(topo.pod).close();
}

function teardown(): void {
	deleteNetns(topo.pod);
	deleteNetns(topo.node);
}

/** Remove exactly this run's namespaces (whatever state we were interrupted in). */
function cleanup(): string[] {
	const left = listNetns().filter((n) => n.startsWith(prefix));
	for (const n of left) deleteNetns(n);
	return left;
}

/** First, untimed run of each method: warm-up and proof that all three build the same state. */
async function verify(): Promise<string> {
	const snaps: Record<string, Snapshot> = {};
	for (const m of METHODS) {
		try {
			setup();
			m.build(topo);
			await settle(topo);
			snaps[m.name] = snapshot(topo);
		} finally {
			teardown();
		}
		checkInterrupt();
	}
	const ref = snaps.library as Snapshot;
	for (const m of METHODS.slice(1)) {
		const d = diff(ref, snaps[m.name] as Snapshot);
		if (d.length > 0) {
			throw new Error(
				`method "${m.name}" built a different topology than "library" (ip -j dumps, normalised; library != ${m.name}):\n  ${d.join("\n  ")}`,
			);
		}
	}
	return describe(ref);
}

async function measure(): Promise<Record<string, number[]>> {
	const samples: Record<string, number[]> = Object.fromEntries(METHODS.map((m) => [m.name, []]));
	for (let i = 0; i < iterations; i++) {
		// round-robin: each iteration starts with the next method, so drift and noise hit all equally
		for (let k = 0; k < METHODS.length; k++) {
			const m = METHODS[(i + k) % METHODS.length] as Method;
			try {
				setup();
				const t0 = performance.now();
				m.build(topo);
				samples[m.name]?.push(performance.now() - t0);
			} finally {
				teardown();
			}
		}
		if (!json && process.stderr.isTTY) process.stderr.write(`\r  iteration ${i + 1}/${iterations}`);
		// give signal handlers a chance to run between iterations (everything above is synchronous)
		await Bun.sleep(0);
		checkInterrupt();
	}
	if (!json && process.stderr.isTTY) process.stderr.write("\r\x1b[K");
	return samples;
}

function report(samples: Record<string, number[]>, compared: string): void {
	const stats: Record<string, Stats> = Object.fromEntries(
		Object.entries(samples).map(([k, v]) => [k, summarise(v)]),
	);
	const lib = stats.library as Stats;
	const ratio = (name: string) => {
		const s = stats[name] as Stats;
		return { median: s.median / lib.median, mean: s.mean / lib.mean };
	};
	const ipRatio = ratio("ip");
	const batchRatio = ratio("ip -batch");
	const met = ipRatio.median >= TARGET;
	const cpu = cpus();
	const machine = {
		kernel: release(),
		bun: Bun.version,
		iproute2: ipVersion(),
		cpus: cpu.length,
		cpuModel: cpu[0]?.model ?? "unknown",
	};

	if (json) {
		console.log(
			JSON.stringify(
				{
					bench: "netlink",
					topology: { operations: OPERATIONS, namespaces: 2, ...topo },
					machine,
					iterations,
					verified: true,
					compared,
					unit: "ms",
					methods: Object.fromEntries(
						METHODS.map((m) => [m.name, { spawns: m.spawns, ...stats[m.name], samples: samples[m.name] }]),
					),
					ratios: { "ip / library": ipRatio, "ip -batch / library": batchRatio },
					target: { "ip / library (median) >=": TARGET, met },
				},
				// µs resolution is plenty for ms timings
				(_k, v) => (typeof v === "number" && !Number.isInteger(v) ? Math.round(v * 1000) / 1000 : v),
				2,
			),
		);
		return;
	}

	console.log(
		table(
			["method", "median ms", "p90 ms", "mean ms", "min ms", "max ms", "spawns"],
			METHODS.map((m) => {
				const s = stats[m.name] as Stats;
				return [m.name, s.median, s.p90, s.mean, s.min, s.max, String(m.spawns)];
			}),
		),
	);
	console.log("");
	const fmt = (r: { median: number; mean: number }) =>
		`${r.median.toFixed(1)}x   (medians; means ${r.mean.toFixed(1)}x)`;
	console.log(`ip / library        = ${fmt(ipRatio)}`);
	console.log(`ip -batch / library = ${fmt(batchRatio)}`);
	console.log(`target >= ${TARGET}x (ip / library, medians): ${met ? "met" : "not met"}`);
}

async function main(): Promise<number> {
	const cpu = cpus();
	log(
		`netlink bench: one pod-like topology = ${OPERATIONS} operations in 2 netns ` +
			"(veth with peer created in the pod netns, lo/eth0 up, 2 addrs, 4 routes, 1 rule)",
	);
	log(
		`machine: kernel ${release()}, bun ${Bun.version}, ${ipVersion()}, ${cpu.length} x ${cpu[0]?.model ?? "?"}`,
	);
	log(
		`iterations: ${iterations} per method, round-robin (+1 untimed verification run each); netns ${prefix}-*; ` +
			"netns create/delete not timed",
	);
	try {
		const compared = await verify();
		log(`verified: library, ip and ip -batch built identical state (ip -j dumps: ${compared})`);
		log("");
		const samples = await measure();
		report(samples, compared);
		return 0;
	} catch (e) {
		const why = e instanceof Error ? e.message : String(e);
		console.error(`bench/netlink: ${interrupted ? `interrupted by ${interrupted} (${why})` : why}`);
		return interrupted ? 130 : 1;
	} finally {
		try {
			const left = cleanup();
			if (left.length > 0) console.error(`cleaned up leftover namespaces: ${left.join(" ")}`);
		} catch (e) {
			console.error(`bench/netlink: cleanup failed, remove ${prefix}-* with ip netns del: ${String(e)}`);
		}
	}
}

process.exit(await main());
