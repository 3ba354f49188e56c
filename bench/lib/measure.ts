/**
 * What the datapath and policy benches share: the command runner, argument parsing
 * (--rounds/--seconds/--json plus a bench's own flags), the iperf3/ping/probe measurements from
 * inside a pod namespace, starting the servers, percentiles and the machine line. Benches may
 * spawn `ip`, iperf3 and ping; product code never does.
 */
import { rmSync } from "node:fs";
import { cpus, release } from "node:os";

const PROBE = `${import.meta.dir}/../policy/probe.ts`;
const BUN = process.execPath;
/** The servers' ports inside the server pod's namespace (a namespace of the bench's own). */
const IPERF_PORT = 5201;
const PROBE_PORT = 5300;

/** Run a command; throws with its stderr when it fails (unless allowFail); stdout. */
export function run(argv: string[], opts: { input?: string; allowFail?: boolean } = {}): string {
	const r = Bun.spawnSync(argv, {
		stdout: "pipe",
		stderr: "pipe",
		stdin: opts.input === undefined ? "ignore" : new TextEncoder().encode(opts.input),
	});
	if (r.exitCode !== 0 && !opts.allowFail) {
		throw new Error(`${argv.slice(0, 6).join(" ")} exited ${r.exitCode}: ${r.stderr.toString().trim()}`);
	}
	return r.stdout.toString();
}

export type BenchArgs = { rounds: number; seconds: number; json: boolean };

/** Print the usage line and exit with `code`. */
export function usage(line: string, code: number): never {
	console.error(`usage: ${line}`);
	process.exit(code);
}

/**
 * --rounds N, --seconds S (env BENCH_ROUNDS, BENCH_SECONDS; default 3 each), --json, --help, and
 * the bench's own flags (each takes a value). Exits 2 naming a bad argument.
 */
export function parseBenchArgs(
	argv: string[],
	usageLine: string,
	flags: Record<string, (value: string) => void> = {},
): BenchArgs {
	const a: BenchArgs = {
		rounds: Number(process.env.BENCH_ROUNDS ?? 3),
		seconds: Number(process.env.BENCH_SECONDS ?? 3),
		json: false,
	};
	for (let i = 0; i < argv.length; i++) {
		const x = argv[i]!;
		const own = Object.hasOwn(flags, x) ? flags[x] : undefined;
		if (x === "--json") a.json = true;
		else if (x === "--rounds") a.rounds = Number(argv[++i]);
		else if (x === "--seconds") a.seconds = Number(argv[++i]);
		else if (own) own(String(argv[++i]));
		else if (x === "--help" || x === "-h") usage(usageLine, 0);
		else {
			console.error(`unknown argument ${x}`);
			usage(usageLine, 2);
		}
	}
	for (const [k, v] of [
		["--rounds", a.rounds],
		["--seconds", a.seconds],
	] as const) {
		if (!Number.isInteger(v) || v < 1) {
			console.error(`${k} must be a positive integer, got ${v}`);
			usage(usageLine, 2);
		}
	}
	return a;
}

/**
 * Run the bench's `main`, then `cleanup` (also on an error); on Ctrl-C, SIGTERM or SIGHUP
 * `cleanup` runs and the process exits 130.
 */
export async function runBench(main: () => Promise<void>, cleanup: () => void): Promise<void> {
	for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
		process.on(sig, () => {
			cleanup();
			process.exit(130);
		});
	}
	try {
		await main();
	} finally {
		cleanup();
	}
}

/** Whether a command is on PATH. */
export const have = (cmd: string): boolean =>
	Bun.spawnSync(["bash", "-c", `command -v ${cmd}`]).exitCode === 0;

/** The p-th percentile (0..1) of `xs`, NaN when empty. */
export const pct = (xs: number[], p: number): number => {
	const s = [...xs].sort((a, b) => a - b);
	return s.length ? s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))]! : Number.NaN;
};

export function kernelInfo(): string {
	return `kernel ${release()}, ${cpus().length} vCPU ${cpus()[0]?.model.trim() ?? ""}, bun ${Bun.version}`;
}

/** iperf3 -J from `ns` to `addr` for `seconds` (1 s omitted), with `extra` client flags. */
function iperf3(ns: string, addr: string, seconds: number, extra: string[] = []): unknown {
	const argv = ["ip", "netns", "exec", ns, "iperf3", "-c", addr, "-p", String(IPERF_PORT), ...extra];
	return JSON.parse(run([...argv, "-t", String(seconds), "-O", "1", "-J"]));
}

/** TCP throughput from `ns` to `addr` in Gbit/s (received). */
export function iperfGbps(ns: string, addr: string, seconds: number): number {
	const doc = iperf3(ns, addr, seconds) as { end: { sum_received: { bits_per_second: number } } };
	return doc.end.sum_received.bits_per_second / 1e9;
}

/** UDP 64-byte datagrams at unlimited rate: received kpps (per-packet cost, not bytes). */
export function udpKpps(ns: string, addr: string, seconds: number): number {
	const doc = iperf3(ns, addr, seconds, ["-u", "-b", "0", "-l", "64"]) as {
		end: { sum: { packets: number; lost_packets: number; seconds: number } };
	};
	const sum = doc.end.sum;
	return (sum.packets - sum.lost_packets) / sum.seconds / 1e3;
}

/** `count` pings 5 ms apart from `ns`: round-trip times in microseconds. */
export function pingUs(ns: string, addr: string, count: number): number[] {
	const out = run(["ip", "netns", "exec", ns, "ping", "-c", String(count), "-i", "0.005", addr]);
	return [...out.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]) * 1000);
}

/** bench/policy/probe.ts from `ns`: `n` TCP request/response latencies (rr: one connection, crr: one each). */
export function probeUs(ns: string, mode: "rr" | "crr", addr: string, n: number): number[] {
	const out = run(["ip", "netns", "exec", ns, BUN, PROBE, mode, addr, String(PROBE_PORT), String(n)]);
	return (JSON.parse(out.trim().split("\n").at(-1)!) as { us: number[] }).us;
}

/**
 * Start an iperf3 server and the probe server in `ns` (pushed to `servers`, which the caller
 * kills by PID) and wait until both answer. `label` names the setup in errors.
 */
export async function startServers(ns: string, servers: Bun.Subprocess[], label?: string): Promise<void> {
	const what = label ? `${label}: ` : "";
	servers.push(
		Bun.spawn(["ip", "netns", "exec", ns, "iperf3", "-s", "-p", String(IPERF_PORT)], {
			stdout: "ignore",
			stderr: "ignore",
		}),
	);
	const probe = Bun.spawn(["ip", "netns", "exec", ns, BUN, PROBE, "serve", String(PROBE_PORT)], {
		stdout: "pipe",
		stderr: "inherit",
	});
	servers.push(probe);
	const reader = probe.stdout.getReader();
	const { value } = await reader.read();
	if (!new TextDecoder().decode(value).includes("ready"))
		throw new Error(`${what}probe server did not start`);
	reader.releaseLock();
	// iperf3 -s has no ready line: wait until its port answers
	for (let i = 0; i < 50; i++) {
		const r = Bun.spawnSync([
			"ip",
			"netns",
			"exec",
			ns,
			"bash",
			"-c",
			`echo > /dev/tcp/127.0.0.1/${IPERF_PORT}`,
		]);
		if (r.exitCode === 0) return;
		await Bun.sleep(100);
	}
	throw new Error(`${what}iperf3 server did not start`);
}

/**
 * Delete every namespace whose name starts with `prefix` (this run's, nothing else), then the pin
 * root /sys/fs/bpf/<prefix>; the namespaces' names.
 */
export function teardown(prefix: string): string[] {
	const names = run(["ip", "netns", "list"], { allowFail: true })
		.split("\n")
		.map((l) => l.split(" ")[0] ?? "")
		.filter((n) => n.startsWith(prefix));
	for (const n of names) run(["ip", "netns", "del", n], { allowFail: true });
	rmSync(`/sys/fs/bpf/${prefix}`, { recursive: true, force: true });
	return names;
}
