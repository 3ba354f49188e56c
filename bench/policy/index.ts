/**
 * Policy bench (`make bench`): pod-to-pod throughput and latency through a node with no policy,
 * with N NetworkPolicy rules enforced by our eBPF programs (compile + PolicyMaps.apply, programs
 * on every host veth), and with the same N rules as iptables chains, all in one run, interleaved
 * round-robin so drift hits every configuration alike. A benchmark, not a test: it prints whether
 * the targets are met and never fails on them (only on a broken setup, e.g. a
 * configuration that does not enforce).
 *
 *   bun bench/policy/index.ts [--rounds N] [--seconds S] [--sizes 10,1000,10000] [--json]
 *   (env BENCH_ROUNDS, BENCH_SECONDS; default 3 rounds, 3 s of iperf3 per measurement)
 *
 * Per configuration and round: iperf3 TCP throughput client -> server (-t S, 1 s omitted), 200
 * pings 5 ms apart, TCP request/response on one connection (RR, 2000) and with a new connection
 * per request (CRR, 300: each one a new flow, so each one takes the policy lookup / walks the
 * chain rather than the connection-tracking fast path). Before measuring, each configuration is
 * checked: the allowed client reaches the server, and a pod no rule allows does not (except
 * with no policy).
 *
 * Needs root, iperf3 and (for the iptables rows) iptables. Everything is named `tw<4 hex>p`
 * (namespaces, veths, the pin root /sys/fs/bpf/<prefix>) and removed on exit, error, Ctrl-C,
 * SIGTERM or SIGHUP; the servers are killed by PID.
 */
import { randomBytes } from "node:crypto";
import { diff } from "../../src/core/policy/diff.ts";
import type { MapState } from "../../src/core/policy/types.ts";
import { detach } from "../../src/linux/bpf/attach.ts";
import { attachPinnedProgram, PolicyProgram } from "../../src/linux/bpf/policy.ts";
import { Netns } from "../../src/linux/netns.ts";
import {
	type BenchArgs,
	have,
	iperfGbps,
	kernelInfo,
	parseBenchArgs,
	pct,
	pingUs,
	probeUs,
	run,
	runBench,
	startServers,
	teardown,
	usage,
} from "../lib/measure.ts";
import { compileFor, IPTABLES_EMPTY, iptablesFor } from "./rules.ts";
import { build, POD_B, pods, topologyFor } from "./topology.ts";

const TARGET_THROUGHPUT = 0.95;
const TARGET_FLAT = 1.1;

const USAGE = "bun bench/policy/index.ts [--rounds N] [--seconds S] [--sizes 10,1000,10000] [--json]";

function parseArgs(argv: string[]): BenchArgs & { sizes: number[] } {
	let sizes = [10, 1000, 10000];
	const a = parseBenchArgs(argv, USAGE, {
		"--sizes": (v) => {
			sizes = v.split(",").map(Number);
		},
	});
	if (sizes.some((n) => !Number.isInteger(n) || n < 1 || n > 60000)) {
		console.error("--sizes: positive integers up to 60000, comma separated");
		usage(USAGE, 2);
	}
	return { ...a, sizes };
}

const args = parseArgs(process.argv.slice(2));
if (process.getuid?.() !== 0) {
	console.error("bench/policy needs root (network namespaces, eBPF)");
	process.exit(1);
}
if (!have("iperf3")) {
	console.error("bench/policy: iperf3 missing (make setup installs it)");
	process.exit(1);
}
const withIptables = have("iptables-restore");
const log = (s: string) => (args.json ? console.error(s) : console.log(s));
if (!withIptables)
	log("iptables-restore not found: the iptables rows are skipped (make setup installs iptables)");

const prefix = `tw${randomBytes(2).toString("hex")}p`;
const topo = topologyFor(prefix);
const pinRoot = `/sys/fs/bpf/${prefix}`;
const servers: Bun.Subprocess[] = [];
let program: PolicyProgram | undefined;
let node: Netns | undefined;

function cleanup(): void {
	for (const s of servers) s.kill("SIGKILL");
	program?.close();
	node?.close();
	teardown(prefix); // namespaces and the pin root
}

// ---------------------------------------------------------------------------------------------
// configurations

type Config = { name: string; kind: "none" | "ours" | "iptables"; rules: number };

const EMPTY: MapState = { ips: new Map(), policy: new Map(), idNames: new Map(), ruleNames: new Map() };
let mapState = EMPTY;
let attached = false;
let iptablesOn = false;
const states = new Map<number, { state: MapState; entries: number; ms: number }>();

function setOurs(on: boolean): void {
	if (on === attached) return;
	for (const p of pods(topo)) {
		const t = { ns: node!, ifName: p.veth };
		if (on) {
			attachPinnedProgram({ ...t, direction: "ingress", program: "terway_pol_from", pinRoot });
			attachPinnedProgram({ ...t, direction: "egress", program: "terway_pol_to", pinRoot });
		} else {
			detach({ ...t, direction: "ingress" }, { pinRoot });
			detach({ ...t, direction: "egress" }, { pinRoot });
		}
	}
	attached = on;
}

function setIptables(text: string | undefined): void {
	if (!text && !iptablesOn) return;
	run(["ip", "netns", "exec", topo.node, "iptables-restore"], { input: text ?? IPTABLES_EMPTY });
	iptablesOn = Boolean(text);
}

/** Switch to `c` (untimed): maps written as a diff, programs attached or detached, iptables set. */
function configure(c: Config): { applyMs: number } {
	let applyMs = 0;
	if (c.kind === "ours") {
		setIptables(undefined);
		const next = states.get(c.rules)!.state;
		const t0 = performance.now();
		program!.maps.apply(diff(mapState, next));
		applyMs = performance.now() - t0;
		mapState = next;
		program!.maps.flushCt();
		setOurs(true);
	} else {
		setOurs(false);
		setIptables(c.kind === "iptables" ? iptablesFor(c.rules, topo.server.veth) : undefined);
	}
	return { applyMs };
}

const pingOk = (ns: string) =>
	Bun.spawnSync(["ip", "netns", "exec", ns, "ping", "-c", "1", "-W", "1", POD_B]).exitCode === 0;

/** The allowed client gets through; the pod no rule allows does not (unless no policy). */
function verify(c: Config): void {
	if (!pingOk(topo.client.ns)) throw new Error(`${c.name}: the allowed client cannot reach the server`);
	const denied = pingOk(topo.denied.ns);
	if (c.kind === "none" ? !denied : denied) {
		throw new Error(`${c.name}: the other pod ${denied ? "reaches" : "cannot reach"} the server`);
	}
}

// ---------------------------------------------------------------------------------------------
// measurements

type Sample = { gbps: number[]; ping: number[]; rr: number[]; crr: number[] };

function measure(s: Sample): void {
	const ns = topo.client.ns;
	s.gbps.push(iperfGbps(ns, POD_B, args.seconds));
	s.ping.push(...pingUs(ns, POD_B, 200));
	s.rr.push(...probeUs(ns, "rr", POD_B, 2000));
	s.crr.push(...probeUs(ns, "crr", POD_B, 300));
}

// ---------------------------------------------------------------------------------------------
// run

async function main(): Promise<void> {
	build(topo);
	node = Netns.open(topo.node);
	program = PolicyProgram.load({ pinRoot });
	for (const n of args.sizes) states.set(n, compileFor(n));
	await startServers(topo.server.ns, servers);

	const configs: Config[] = [
		{ name: "no policy", kind: "none", rules: 0 },
		...args.sizes.map((n): Config => ({ name: `terway eBPF, ${n} rules`, kind: "ours", rules: n })),
		...(withIptables
			? args.sizes.map((n): Config => ({ name: `iptables, ${n} rules`, kind: "iptables", rules: n }))
			: []),
	];
	const samples = new Map(configs.map((c) => [c.name, { gbps: [], ping: [], rr: [], crr: [] } as Sample]));
	const applyMs = new Map<string, number[]>();
	log(`bench/policy: ${configs.length} configurations x ${args.rounds} rounds (${kernelInfo()})`);
	for (let r = 0; r < args.rounds; r++) {
		for (let k = 0; k < configs.length; k++) {
			const c = configs[(k + r) % configs.length]!;
			const { applyMs: ms } = configure(c);
			if (c.kind === "ours") applyMs.set(c.name, [...(applyMs.get(c.name) ?? []), ms]);
			verify(c);
			measure(samples.get(c.name)!);
			log(`  round ${r + 1}/${args.rounds}: ${c.name} done`);
		}
	}

	const none = samples.get("no policy")!;
	const base = {
		gbps: pct(none.gbps, 0.5),
		ping: pct(none.ping, 0.5),
		rr: pct(none.rr, 0.5),
		crr: pct(none.crr, 0.5),
	};
	const rows = configs.map((c) => {
		const s = samples.get(c.name)!;
		const st = c.kind === "ours" ? states.get(c.rules) : undefined;
		return {
			config: c.name,
			kind: c.kind,
			rules: c.rules,
			mapEntries: st?.entries ?? null,
			compileMs: st ? Math.round(st.ms) : null,
			applyMs: c.kind === "ours" ? Math.round(pct(applyMs.get(c.name) ?? [], 0.5)) : null,
			throughputGbps: pct(s.gbps, 0.5),
			throughputRatio: pct(s.gbps, 0.5) / base.gbps,
			pingP50Us: pct(s.ping, 0.5),
			pingP99Us: pct(s.ping, 0.99),
			rrP50Us: pct(s.rr, 0.5),
			rrP99Us: pct(s.rr, 0.99),
			crrP50Us: pct(s.crr, 0.5),
			crrP99Us: pct(s.crr, 0.99),
			pingRatio: pct(s.ping, 0.5) / base.ping,
			rrRatio: pct(s.rr, 0.5) / base.rr,
			crrRatio: pct(s.crr, 0.5) / base.crr,
		};
	});
	const ours = rows.filter((r) => r.kind === "ours");
	const smallest = ours[0];
	const largest = ours.at(-1);
	const targets = largest &&
		smallest && {
			throughput: {
				what: `${largest.rules} rules >= ${TARGET_THROUGHPUT}x no-policy throughput (medians)`,
				value: largest.throughputRatio,
				met: largest.throughputRatio >= TARGET_THROUGHPUT,
			},
			flat: {
				what: `per-packet cost flat from ${smallest.rules} to ${largest.rules} rules: new-connection (CRR) p50 within ${TARGET_FLAT}x and throughput within ${TARGET_FLAT}x`,
				crr: largest.crrP50Us / smallest.crrP50Us,
				throughput: smallest.throughputGbps / largest.throughputGbps,
				met:
					largest.crrP50Us / smallest.crrP50Us <= TARGET_FLAT &&
					smallest.throughputGbps / largest.throughputGbps <= TARGET_FLAT,
			},
		};

	if (args.json) {
		console.log(
			JSON.stringify(
				{ env: kernelInfo(), rounds: args.rounds, seconds: args.seconds, rows, targets },
				null,
				2,
			),
		);
		return;
	}
	const f = (x: number, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : "-");
	const header = [
		"configuration",
		"entries",
		"Gbit/s",
		"x",
		"ping p50 us",
		"x",
		"RR p50 us",
		"x",
		"CRR p50 us",
		"x",
		"CRR p99 us",
	];
	const cells = rows.map((r) => [
		r.config,
		r.mapEntries === null ? "-" : String(r.mapEntries),
		f(r.throughputGbps, 2),
		f(r.throughputRatio, 2),
		f(r.pingP50Us, 0),
		f(r.pingRatio, 2),
		f(r.rrP50Us, 0),
		f(r.rrRatio, 2),
		f(r.crrP50Us, 0),
		f(r.crrRatio, 2),
		f(r.crrP99Us, 0),
	]);
	const width = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
	const line = (c: string[]) =>
		c
			.map((x, i) => (i === 0 ? x.padEnd(width[i]!) : x.padStart(width[i]!)))
			.join("   ")
			.trimEnd();
	console.log("");
	console.log(line(header));
	for (const c of cells) console.log(line(c));
	console.log("(x = ratio to no policy in the same run, medians; latencies pooled over the rounds)");
	console.log("");
	for (const r of ours) {
		console.log(`  ${r.config}: compile ${r.compileMs} ms, map apply (diff) p50 ${r.applyMs} ms`);
	}
	if (targets) {
		console.log("");
		console.log(
			`target ${targets.throughput.what}: ${f(targets.throughput.value, 3)}x, ${targets.throughput.met ? "met" : "NOT met"}`,
		);
		console.log(
			`target ${targets.flat.what}: CRR ${f(targets.flat.crr, 3)}x, throughput ${f(targets.flat.throughput, 3)}x, ${targets.flat.met ? "met" : "NOT met"}`,
		);
	}
}

await runBench(main, cleanup);
