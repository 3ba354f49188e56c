/**
 * Datapath bench (`make bench`, `make bench-datapath`): pod-to-pod across two nodes and a VPC
 * namespace (topology.ts) on three datapaths — datapathv2 (eBPF redirects), `veth` policy routing
 * (the host stack with Terway's rules) and a plain routed veth (the host stack with the main table
 * only: the limit) — measured round-robin in the same run so drift and the neighbours' load hit
 * all three alike. datapathv2 and veth run on the same namespaces (the programs are attached or
 * detached between measurements: the only difference is the eBPF); plain has its own copy. A benchmark, not a test: it prints whether the issue's
 * targets are met and never fails on them (only on a broken setup).
 *
 *   bun bench/datapath/index.ts [--rounds N] [--seconds S] [--json]
 *   (env BENCH_ROUNDS, BENCH_SECONDS; default 3 rounds, 3 s of iperf3 per measurement)
 *
 * Per datapath and round: iperf3 TCP throughput A -> B (-t S, 1 s omitted), UDP 64-byte datagrams
 * at full rate (received kpps: the per-packet cost), 200 pings 5 ms apart, TCP request/response on
 * one connection (2000 x 32 bytes, bench/policy/probe.ts). Ratios of medians, and paired ones
 * (the median of the per-round ratios: the three ran seconds apart within a round).
 * Before measuring, each copy is checked: A reaches B, and on datapathv2 the programs' counters
 * grow while the nodes' forwarding counters do not (the host stack is bypassed); on the others
 * the nodes forward.
 *
 * Needs root and iperf3. Everything is named `tw<4 hex>d` (namespaces; the pin root
 * /sys/fs/bpf/<prefix>) and removed on exit, error, Ctrl-C, SIGTERM or SIGHUP; servers are killed
 * by PID.
 */
import { randomBytes } from "node:crypto";
import { objGet } from "../../src/ffi/libbpf/index.ts";
import { detach, ensureAttached } from "../../src/linux/bpf/attach.ts";
import { PinLayout } from "../../src/linux/bpf/bpffs.ts";
import { attachV2ToEni, readV2Stats, setupDatapathV2, V2_PROGRAMS } from "../../src/linux/bpf/datapathv2.ts";
import { Netns } from "../../src/linux/netns.ts";
import {
	have,
	iperfGbps,
	kernelInfo,
	parseBenchArgs,
	pct,
	pingUs,
	probeUs,
	runBench,
	startServers,
	teardown,
	udpKpps,
} from "../lib/measure.ts";
import { table } from "../netlink/stats.ts";
import { build, type Copy, copyFor, forwarded, type Kind, POD_B } from "./topology.ts";

/** datapathv2 >= veth; datapathv2 within 10% of the plain veth. */
const TARGET_VS_PLAIN = 0.9;

const args = parseBenchArgs(
	process.argv.slice(2),
	"bun bench/datapath/index.ts [--rounds N] [--seconds S] [--json]",
);
if (process.getuid?.() !== 0) {
	console.error("bench/datapath needs root (network namespaces, eBPF)");
	process.exit(1);
}
if (!have("iperf3")) {
	console.error("bench/datapath: iperf3 missing (make setup installs it)");
	process.exit(1);
}
const log = (s: string) => (args.json ? console.error(s) : console.log(s));

const prefix = `tw${randomBytes(2).toString("hex")}d`;
const pinRoot = `/sys/fs/bpf/${prefix}`;
const KINDS: Kind[] = ["datapathv2", "veth", "plain"];
/** datapathv2 and veth share one copy (programs attached or detached between measurements). */
const routed = copyFor(prefix, 0, "veth");
const plainCopy = copyFor(prefix, 1, "plain");
type Config = { kind: Kind; copy: Copy };
const configs: Config[] = KINDS.map((kind) => ({ kind, copy: kind === "plain" ? plainCopy : routed }));
const servers: Bun.Subprocess[] = [];

function cleanup(): void {
	for (const s of servers) s.kill("SIGKILL");
	teardown(prefix); // namespaces and the pin root
}

let v2On = false;

/** datapathv2 on the routed copy: terway_v2_out on both host veths, terway_v2_in on both ENIs; or none. */
function setV2(on: boolean): void {
	if (on === v2On) return;
	using out = objGet(new PinLayout(pinRoot).program(V2_PROGRAMS.out));
	for (const i of [0, 1] as const) {
		using ns = Netns.open(routed.node[i]);
		if (on) {
			ensureAttached({ ns, ifName: routed.hostVeth, direction: "ingress" }, out.fd, { mode: "tcx", pinRoot });
			attachV2ToEni(ns, routed.eni[i], pinRoot);
		} else {
			detach({ ns, ifName: routed.hostVeth, direction: "ingress" }, { pinRoot });
			detach({ ns, ifName: routed.eni[i], direction: "ingress" }, { pinRoot });
		}
	}
	v2On = on;
}

const pingOk = (c: Copy, n: number) =>
	Bun.spawnSync(["ip", "netns", "exec", c.pod[0], "ping", "-c", String(n), "-i", "0.05", "-W", "1", POD_B])
		.exitCode === 0;

/** Switch to `k` (untimed), then check: A reaches B; datapathv2 bypasses the nodes' forwarding, the others use it. */
function configure({ kind, copy: c }: Config): void {
	if (kind !== "plain") setV2(kind === "datapathv2");
	if (!pingOk(c, 2)) throw new Error(`${kind}: pod A cannot reach pod B`);
	const f0 = forwarded(c);
	const s0 = readV2Stats(pinRoot);
	if (!pingOk(c, 5)) throw new Error(`${kind}: pod A cannot reach pod B`);
	const fwd = forwarded(c) - f0;
	const redirected = readV2Stats(pinRoot).outRedirect - s0.outRedirect;
	if (kind === "datapathv2" ? fwd !== 0 || redirected < 10n : fwd < 20 || redirected !== 0n) {
		throw new Error(
			`${kind}: 5 pings made the nodes forward ${fwd} datagrams and the programs redirect ${redirected}`,
		);
	}
}

type Sample = {
	gbps: number[];
	/** UDP 64-byte received kpps, per round */
	kpps: number[];
	ping: number[];
	rr: number[];
	/** datagrams the nodes' host stacks forwarded while measuring */
	forwarded: number;
	/** datapathv2: packets its programs redirected / left to the stack while measuring */
	redirected: bigint;
	passed: bigint;
};

async function main(): Promise<void> {
	for (const c of [routed, plainCopy]) {
		build(c);
		await startServers(c.pod[1], servers, c.kind);
	}
	const s = setupDatapathV2({ pinRoot, skipCidrs: [] });
	if (!s.ok) throw new Error(`datapathv2 cannot run here: ${s.reason}`);
	const samples = new Map(
		configs.map((c) => [
			c.kind,
			{ gbps: [], kpps: [], ping: [], rr: [], forwarded: 0, redirected: 0n, passed: 0n } as Sample,
		]),
	);
	log(`bench/datapath: ${configs.length} datapaths x ${args.rounds} rounds (${kernelInfo()})`);
	for (let r = 0; r < args.rounds; r++) {
		for (let k = 0; k < configs.length; k++) {
			const cfg = configs[(k + r) % configs.length]!;
			configure(cfg);
			const c = cfg.copy;
			const s = samples.get(cfg.kind)!;
			const f0 = forwarded(c);
			const v0 = readV2Stats(pinRoot);
			const client = c.pod[0];
			s.gbps.push(iperfGbps(client, POD_B, args.seconds));
			s.kpps.push(udpKpps(client, POD_B, args.seconds));
			s.ping.push(...pingUs(client, POD_B, 200));
			s.rr.push(...probeUs(client, "rr", POD_B, 2000));
			s.forwarded += forwarded(c) - f0;
			if (cfg.kind === "datapathv2") {
				const v1 = readV2Stats(pinRoot);
				s.redirected += v1.outRedirect - v0.outRedirect + (v1.inRedirect - v0.inRedirect);
				s.passed += v1.outPass - v0.outPass + (v1.inPass - v0.inPass);
			}
			log(`  round ${r + 1}/${args.rounds}: ${cfg.kind} done`);
		}
	}
	const row = (k: Kind) => {
		const s = samples.get(k)!;
		return {
			datapath: k,
			gbps: pct(s.gbps, 0.5),
			kpps: pct(s.kpps, 0.5),
			pingP50: pct(s.ping, 0.5),
			rrP50: pct(s.rr, 0.5),
			rrP99: pct(s.rr, 0.99),
			forwarded: s.forwarded,
			redirected: Number(s.redirected),
			passed: Number(s.passed),
		};
	};
	const rows = KINDS.map(row);
	const [v2, veth, plain] = rows as [ReturnType<typeof row>, ReturnType<typeof row>, ReturnType<typeof row>];
	// paired: the median over rounds of this round's ratio (the configurations of one round ran
	// seconds apart, so a load change between rounds cancels out)
	const paired = (a: Kind, b: Kind, f: (s: Sample) => number[]) =>
		pct(
			f(samples.get(a)!).map((v, i) => v / (f(samples.get(b)!)[i] ?? Number.NaN)),
			0.5,
		);
	const ratios = {
		throughputVsVeth: v2.gbps / veth.gbps,
		throughputVsPlain: v2.gbps / plain.gbps,
		pairedThroughputVsVeth: paired("datapathv2", "veth", (s) => s.gbps),
		pairedThroughputVsPlain: paired("datapathv2", "plain", (s) => s.gbps),
		kppsVsVeth: v2.kpps / veth.kpps,
		kppsVsPlain: v2.kpps / plain.kpps,
		pairedKppsVsVeth: paired("datapathv2", "veth", (s) => s.kpps),
		pairedKppsVsPlain: paired("datapathv2", "plain", (s) => s.kpps),
		rrP50VsVeth: v2.rrP50 / veth.rrP50,
		rrP50VsPlain: v2.rrP50 / plain.rrP50,
		pingP50VsVeth: v2.pingP50 / veth.pingP50,
		pingP50VsPlain: v2.pingP50 / plain.pingP50,
	};
	// "at least as fast": throughput (paired) not lower and request latency not higher than veth's;
	// "within 10% of the plain veth": throughput (paired) >= 0.9x and latency <= 1/0.9x
	const targets = {
		atLeastVeth: ratios.pairedThroughputVsVeth >= 1 && ratios.rrP50VsVeth <= 1,
		within10PctOfPlain:
			ratios.pairedThroughputVsPlain >= TARGET_VS_PLAIN && ratios.rrP50VsPlain <= 1 / TARGET_VS_PLAIN,
	};
	if (args.json) {
		console.log(
			JSON.stringify({
				rounds: args.rounds,
				seconds: args.seconds,
				env: kernelInfo(),
				rows,
				ratios,
				targets,
				gbpsPerRound: Object.fromEntries(KINDS.map((k) => [k, samples.get(k)!.gbps])),
				kppsPerRound: Object.fromEntries(KINDS.map((k) => [k, samples.get(k)!.kpps])),
			}),
		);
		return;
	}
	console.log();
	console.log(
		table(
			[
				"datapath",
				"iperf3 Gbit/s (median)",
				"UDP 64B kpps",
				"ping p50 us",
				"TCP RR p50 us",
				"TCP RR p99 us",
				"node-forwarded",
				"eBPF-redirected",
				"eBPF-passed",
			],
			rows.map((r) => [
				r.datapath,
				r.gbps,
				r.kpps,
				r.pingP50,
				r.rrP50,
				r.rrP99,
				String(r.forwarded),
				r.datapath === "datapathv2" ? String(r.redirected) : "-",
				r.datapath === "datapathv2" ? String(r.passed) : "-",
			]),
		),
	);
	console.log();
	const x = (v: number) => `${v.toFixed(2)}x`;
	console.log(
		`datapathv2 / veth   throughput = ${x(ratios.throughputVsVeth)} (paired ${x(ratios.pairedThroughputVsVeth)})   UDP kpps = ${x(ratios.kppsVsVeth)} (paired ${x(ratios.pairedKppsVsVeth)})   TCP RR p50 = ${x(ratios.rrP50VsVeth)}   ping p50 = ${x(ratios.pingP50VsVeth)}`,
	);
	console.log(
		`datapathv2 / plain  throughput = ${x(ratios.throughputVsPlain)} (paired ${x(ratios.pairedThroughputVsPlain)})   UDP kpps = ${x(ratios.kppsVsPlain)} (paired ${x(ratios.pairedKppsVsPlain)})   TCP RR p50 = ${x(ratios.rrP50VsPlain)}   ping p50 = ${x(ratios.pingP50VsPlain)}`,
	);
	console.log(
		`target datapathv2 >= veth (paired throughput and RR p50): ${targets.atLeastVeth ? "met" : "NOT met"}`,
	);
	console.log(
		`target datapathv2 within 10% of the plain veth (paired throughput and RR p50): ${targets.within10PctOfPlain ? "met" : "NOT met"}`,
	);
}

await runBench(main, cleanup);
