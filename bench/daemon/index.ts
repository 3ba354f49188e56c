/**
 * terwayd bench (`make bench`; issue 4 "Benchmark"): a loopback sim world (scenario.yaml: one
 * node with 420 pod IPs) and a `terwayctl daemon` child process, driven only through its unix
 * socket. A benchmark, not a test: it prints figures and fails only when something errors.
 *
 *   bun bench/daemon/index.ts [--ops N] [--concurrency C] [--pods P] [--json]
 *   (env BENCH_OPS, default 1000; BENCH_CONCURRENCY, default 16; BENCH_PODS, default 250)
 *
 * Figures, in this order:
 * 1. cold node: ready time, then 100 pods allocated by C concurrent clients; the cloud API calls
 *    that took (from the sim's request log, per action) -> calls per 100 pods;
 * 2. warm pool: alloc+release of one pod at a time through the socket, N times (p50/p90/p99);
 * 3. throughput: C concurrent clients, each alloc+release in a loop -> allocations per second;
 * 4. memory: VmRSS/VmHWM of the daemon at idle and with P pods allocated (/proc/<pid>/status);
 * 5. peers measured in the same run, for ratios (a daemon does more than either, so these are
 *    "how far above the floor", not targets):
 *    - sqlite floor: the same bookkeeping in-process on the daemon's store (bun:sqlite, WAL,
 *      synchronous=FULL): Store.allocate + Store.release on a warm pool, N times;
 *    - socket floor: a minimal Bun.serve on a unix socket in its own bun process answering a
 *      JSON POST with a small JSON body: two round trips (= alloc + release), N times; and the
 *      same with C concurrent clients (requests per second).
 *
 * Needs root (the sim keeps its world in /run/terway-sim). Everything it makes — the world
 * (prefix `tw<4 hex>bd`), the daemon, the echo server and a temp dir — is removed on exit,
 * error, Ctrl-C, SIGTERM or SIGHUP, by PID and prefix.
 */
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, release } from "node:os";
import type { AllocResponse, ReleaseResponse, StatusResponse } from "../../src/daemon/api-types.ts";
import { Store } from "../../src/daemon/store/index.ts";
import {
	Api,
	BUN,
	cli,
	Daemon,
	daemonMissing,
	memoryOf,
	REPO,
	TransportError,
	World,
} from "../../tests/daemon/fixtures-crash/harness.ts";

// ------------------------------------------------------------------------------------ options

function usage(code: number): never {
	console.error(
		"usage: bun bench/daemon/index.ts [--ops N] [--concurrency C] [--pods P] [--json]\n" +
			"       (env BENCH_OPS=1000, BENCH_CONCURRENCY=16, BENCH_PODS=250)",
	);
	process.exit(code);
}

function parseArgs(argv: string[]) {
	const o = {
		ops: process.env.BENCH_OPS ?? "1000",
		concurrency: process.env.BENCH_CONCURRENCY ?? "16",
		pods: process.env.BENCH_PODS ?? "250",
		json: false,
	};
	for (let i = 0; i < argv.length; i++) {
		const a = argv[i]!;
		const [flag, inline] = a.includes("=") ? (a.split("=", 2) as [string, string]) : [a, undefined];
		const val = () => inline ?? argv[++i] ?? usage(2);
		if (flag === "--json") o.json = true;
		else if (flag === "--ops" || flag === "-n") o.ops = val();
		else if (flag === "--concurrency" || flag === "-c") o.concurrency = val();
		else if (flag === "--pods") o.pods = val();
		else if (flag === "--help" || flag === "-h") usage(0);
		else {
			console.error(`unknown argument ${a}`);
			usage(2);
		}
	}
	const int = (name: string, v: string, min: number) => {
		const n = Number(v);
		if (!Number.isInteger(n) || n < min) {
			console.error(`--${name} must be an integer >= ${min}, got ${JSON.stringify(v)}`);
			usage(2);
		}
		return n;
	};
	return {
		ops: int("ops", o.ops, 1),
		concurrency: int("concurrency", o.concurrency, 1),
		pods: int("pods", o.pods, 100),
		json: o.json,
	};
}

const opts = parseArgs(process.argv.slice(2));
const say = (s: string) => (opts.json ? console.error(s) : console.log(s));

if (process.getuid?.() !== 0) {
	console.error("bench/daemon needs root (the sim keeps its world in /run/terway-sim)");
	process.exit(1);
}
const missing = daemonMissing();
if (missing) {
	console.error(`bench/daemon: ${missing}`);
	process.exit(1);
}

// ------------------------------------------------------------------------------------ cleanup

const prefix = `tw${randomBytes(2).toString("hex")}bd`;
const work = mkdtempSync(`/tmp/${prefix}-`);
let world: World | undefined;
let daemon: Daemon | undefined;
let echo: ReturnType<typeof Bun.spawn> | undefined;
let cleaned = false;

function cleanup(): void {
	if (cleaned) return;
	cleaned = true;
	daemon?.killNow();
	try {
		echo?.kill("SIGKILL");
	} catch {
		// gone
	}
	try {
		if (world) world.down();
		else if (existsSync(`/run/terway-sim/${prefix}`)) cli(["sim", "down", "--prefix", prefix]);
	} catch (e) {
		console.error(`bench/daemon: cleanup: ${(e as Error).message}`);
	}
	rmSync(work, { recursive: true, force: true });
}
process.on("exit", cleanup);
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
	process.on(sig, () => {
		console.error(`bench/daemon: ${sig}, cleaning up`);
		cleanup();
		process.exit(130);
	});
}

// -------------------------------------------------------------------------------------- stats

type Pct = { n: number; p50: number; p90: number; p99: number; mean: number; min: number; max: number };

function pct(samples: number[]): Pct {
	const s = [...samples].sort((a, b) => a - b);
	const n = s.length;
	const at = (q: number) => s[Math.min(n - 1, Math.max(0, Math.ceil(q * n) - 1))] ?? Number.NaN;
	return {
		n,
		p50: at(0.5),
		p90: at(0.9),
		p99: at(0.99),
		mean: n ? s.reduce((a, b) => a + b, 0) / n : Number.NaN,
		min: s[0] ?? Number.NaN,
		max: s[n - 1] ?? Number.NaN,
	};
}

const ms = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(3));
const ratio = (a: number, b: number) => `${(a / b).toFixed(1)}x`;

// ----------------------------------------------------------------------------------- the daemon

const POD_VSW = "vsw-bp1simpod000000000001";
const ENI_CONF = {
	version: "1",
	max_pool_size: 20,
	min_pool_size: 10,
	vswitches: { "cn-hangzhou-i": [POD_VSW] },
	security_groups: ["sg-bp1sim0000000000000001"],
	service_cidr: "198.19.0.0/20",
	ip_stack: "ipv4",
	vswitch_selection_policy: "ordered",
};

let podSeq = 0;
type Pod = { name: string; containerId: string; netns: string };

function newPod(): Pod {
	const n = ++podSeq;
	const p = { name: `b${n}`, containerId: `bench${n}`.padEnd(64, "0"), netns: `${work}/netns-${n}` };
	writeFileSync(p.netns, "");
	return p;
}

const ref = (p: Pod) => ({ namespace: "default", name: p.name, uid: `uid-${p.name}` });

async function must<T>(api: Api, method: string, path: string, body?: unknown): Promise<T> {
	for (let attempt = 0; ; attempt++) {
		let r: { status: number; body: T };
		try {
			r = await api.call<T>(method, path, body);
		} catch (e) {
			if (e instanceof TransportError && attempt < 3) {
				await Bun.sleep(50);
				continue;
			}
			throw e;
		}
		if (r.status === 200) return r.body;
		if ((r.status === 503 || r.status === 507) && attempt < 200) {
			await Bun.sleep(20);
			continue;
		}
		throw new Error(`${method} ${path}: HTTP ${r.status} ${JSON.stringify(r.body)}`);
	}
}

const alloc = (api: Api, p: Pod) =>
	must<AllocResponse>(api, "POST", "/v1/alloc", {
		pod: ref(p),
		containerId: p.containerId,
		netns: p.netns,
		ifname: "eth0",
	});
const free = (api: Api, p: Pod) =>
	must<ReleaseResponse>(api, "POST", "/v1/release", { pod: ref(p), containerId: p.containerId });

/** Run `fn` on `c` concurrent clients until `total` items were taken; returns wall ms. */
async function concurrently(c: number, total: number, fn: (i: number) => Promise<void>): Promise<number> {
	let next = 0;
	const t0 = performance.now();
	await Promise.all(
		Array.from({ length: c }, async () => {
			for (let i = next++; i < total; i = next++) await fn(i);
		}),
	);
	return performance.now() - t0;
}

async function callsSince(
	seq: number,
): Promise<{ seq: number; byAction: Record<string, number>; total: number }> {
	const log = await world!.openapiLog(seq);
	const byAction: Record<string, number> = {};
	for (const e of log) byAction[e.what] = (byAction[e.what] ?? 0) + 1;
	return { seq: log.at(-1)?.seq ?? seq, byAction, total: log.length };
}

/** Wait until the pool is within its watermarks and nothing is in flight in the cloud. */
async function settle(api: Api, timeoutMs = 30_000): Promise<PoolState> {
	const t0 = performance.now();
	let last: StatusResponse | undefined;
	let seq = (await world!.openapiLog()).at(-1)?.seq ?? 0;
	let quietSince = performance.now();
	while (performance.now() - t0 < timeoutMs) {
		last = await must<StatusResponse>(api, "GET", "/v1/status");
		const c = await callsSince(seq);
		if (c.total > 0) {
			seq = c.seq;
			quietSince = performance.now();
		}
		const inBand =
			last.pool.idle >= last.pool.min && last.pool.idle <= Math.max(last.pool.max, last.pool.min);
		if (last.ready && inBand && performance.now() - quietSince > 300) return last.pool;
		await Bun.sleep(50);
	}
	return last?.pool ?? ({} as PoolState);
}
type PoolState = StatusResponse["pool"];

// ------------------------------------------------------------------------------------ peers

/** The sqlite floor: Store.allocate + Store.release on a warm pool in this process. */
function sqliteFloor(n: number): Pct {
	const path = `${work}/floor/state.db`;
	const store = Store.open(path);
	try {
		store.upsertEni({
			eniId: "eni-floor",
			mac: "00:16:3e:00:00:01",
			type: "secondary",
			vswitchId: POD_VSW,
			status: "InUse",
			primaryIp: "198.18.16.1",
			ours: true,
		});
		store.upsertIps(
			"eni-floor",
			Array.from({ length: 20 }, (_, i) => ({ ip: `198.18.16.${i + 1}`, primary: i === 0 })),
		);
		const samples: number[] = [];
		for (let i = 0; i < n + 50; i++) {
			const pod = { namespace: "default", name: `f${i}`, uid: `uid-f${i}` };
			const t0 = performance.now();
			const r = store.allocate(pod, `floor${i}`, { v4: true, v6: false }, "oldest-idle", {
				netns: `/proc/1/ns/net`,
				ifname: "eth0",
			});
			if (!r.ok) throw new Error("sqlite floor: pool exhausted");
			store.release(`default/f${i}`, `floor${i}`);
			if (i >= 50) samples.push(performance.now() - t0);
		}
		return pct(samples);
	} finally {
		store.close();
	}
}

const ECHO_SRC = `
const body = JSON.stringify({ pod: { namespace: "default", name: "x" }, containerId: "c", ipv4: { ip: "198.18.16.9", prefixLen: 20, gateway: "198.18.31.253", cidr: "198.18.16.0/20" }, existing: false });
const s = Bun.serve({ unix: process.argv[2], fetch: async (req) => { await req.text(); return new Response(body, { headers: { "content-type": "application/json" } }); } });
console.log("ready");
`;

/** The socket floor: a minimal Bun.serve on a unix socket in its own process. */
async function socketFloor(n: number, c: number): Promise<{ roundTrip2: Pct; rps: number }> {
	const sock = `${work}/echo.sock`;
	writeFileSync(`${work}/echo.ts`, ECHO_SRC);
	echo = Bun.spawn([BUN, `${work}/echo.ts`, sock], { stdout: "pipe", stderr: "inherit", cwd: REPO });
	const reader = echo.stdout as ReadableStream<Uint8Array>;
	const first = await reader.getReader().read();
	if (!new TextDecoder().decode(first.value).includes("ready")) throw new Error("echo server did not start");
	const api = new Api(sock);
	const req = { pod: { namespace: "default", name: "x" }, containerId: "c", netns: "/x", ifname: "eth0" };
	const samples: number[] = [];
	for (let i = 0; i < n + 50; i++) {
		const t0 = performance.now();
		await api.call("POST", "/v1/alloc", req);
		await api.call("POST", "/v1/release", req);
		if (i >= 50) samples.push(performance.now() - t0);
	}
	const total = Math.max(2000, n * 2);
	const wall = await concurrently(c, total, async () => {
		await api.call("POST", "/v1/alloc", req);
	});
	echo.kill("SIGKILL");
	await echo.exited;
	echo = undefined;
	return { roundTrip2: pct(samples), rps: (total / wall) * 1000 };
}

// ---------------------------------------------------------------------------------------- run

async function main() {
	say(
		`bench/daemon: bun ${Bun.version}, kernel ${release()}, ${cpus().length} x ${cpus()[0]?.model.trim()}; world ${prefix}`,
	);
	const tUp = performance.now();
	world = World.up(prefix, `${REPO}bench/daemon/scenario.yaml`);
	say(`  sim up (loopback, ${world.node.instanceId}) in ${Math.round(performance.now() - tUp)} ms`);
	const d = new Daemon({ world, dir: `${work}/daemon`, eniConf: ENI_CONF });
	daemon = d;
	const api = new Api(d.socket, 30_000);

	// 1. cold node
	const seq0 = (await world.openapiLog()).at(-1)?.seq ?? 0;
	const pid = d.start();
	const readyMs = await api.waitReady({ timeoutMs: 120_000, alive: () => d.alive });
	const idleMem = memoryOf(pid);
	const cold: Pod[] = [];
	const coldWall = await concurrently(opts.concurrency, 100, async () => {
		const p = newPod();
		await alloc(api, p);
		cold.push(p);
	});
	const coldCalls = await callsSince(seq0);
	say(
		`  cold node: ready in ${Math.round(readyMs)} ms; 100 pods by ${opts.concurrency} clients in ${Math.round(coldWall)} ms; ${coldCalls.total} OpenAPI calls`,
	);
	for (const p of cold) await free(api, p);
	const pool1 = await settle(api);

	// 2. warm pool latency
	const seqWarm = (await world.openapiLog()).at(-1)?.seq ?? 0;
	const pair: number[] = [];
	const allocLat: number[] = [];
	const releaseLat: number[] = [];
	const warmup = 50;
	for (let i = 0; i < opts.ops + warmup; i++) {
		const p = newPod();
		const t0 = performance.now();
		await alloc(api, p);
		const t1 = performance.now();
		await free(api, p);
		const t2 = performance.now();
		rmSync(p.netns, { force: true });
		if (i < warmup) continue;
		pair.push(t2 - t0);
		allocLat.push(t1 - t0);
		releaseLat.push(t2 - t1);
	}
	const warmCalls = await callsSince(seqWarm);
	const lat = { pair: pct(pair), alloc: pct(allocLat), release: pct(releaseLat) };

	// 3. throughput, C clients
	const tpTotal = Math.max(2000, opts.ops * 2);
	const tpWall = await concurrently(opts.concurrency, tpTotal, async () => {
		const p = newPod();
		await alloc(api, p);
		await free(api, p);
		rmSync(p.netns, { force: true });
	});
	const allocsPerSec = (tpTotal / tpWall) * 1000;
	await settle(api);

	// 4. memory with P pods
	const held: Pod[] = [];
	const seqPods = (await world.openapiLog()).at(-1)?.seq ?? 0;
	const podsWall = await concurrently(opts.concurrency, opts.pods, async () => {
		const p = newPod();
		await alloc(api, p);
		held.push(p);
	});
	const pool2 = await settle(api);
	const podsCalls = await callsSince(seqPods);
	const loadedMem = memoryOf(pid);
	const st = await must<StatusResponse>(api, "GET", "/v1/status");
	for (const p of held) await free(api, p);
	const stopCode = await d.stop(15_000);

	// 5. peers
	const floor = sqliteFloor(opts.ops);
	const sock = await socketFloor(opts.ops, opts.concurrency);

	const result = {
		env: { bun: Bun.version, kernel: release(), cpus: cpus().length, cpu: cpus()[0]?.model.trim() },
		config: { scenario: "bench/daemon/scenario.yaml", instanceType: "ecs.sim.huge", eniConf: ENI_CONF },
		coldNode: {
			readyMs: Math.round(readyMs),
			pods: 100,
			clients: opts.concurrency,
			wallMs: Math.round(coldWall),
			openapiCalls: coldCalls.total,
			callsPer100Pods: coldCalls.total,
			byAction: coldCalls.byAction,
			poolAfterRelease: pool1,
		},
		warmPool: {
			ops: opts.ops,
			allocReleaseMs: lat.pair,
			allocMs: lat.alloc,
			releaseMs: lat.release,
			openapiCallsDuring: warmCalls.total,
			byAction: warmCalls.byAction,
		},
		throughput: { clients: opts.concurrency, allocs: tpTotal, wallMs: Math.round(tpWall), allocsPerSec },
		memory: {
			idle: idleMem,
			withPods: { pods: opts.pods, ...loadedMem, allocated: st.pool.allocated, enis: st.pool.enis },
			podsWallMs: Math.round(podsWall),
			openapiCallsForPods: podsCalls.total,
			byAction: podsCalls.byAction,
			poolWithPods: pool2,
		},
		peers: {
			sqliteAllocReleaseMs: floor,
			socketTwoRoundTripsMs: sock.roundTrip2,
			socketRpsConcurrent: sock.rps,
		},
		ratios: {
			allocReleaseP50VsSqlite: lat.pair.p50 / floor.p50,
			allocReleaseP50VsSocket: lat.pair.p50 / sock.roundTrip2.p50,
			allocReleaseP99VsSocket: lat.pair.p99 / sock.roundTrip2.p99,
			socketRpsVsAllocsPerSec: sock.rps / allocsPerSec,
		},
		daemonStopExit: stopCode,
	};

	if (opts.json) {
		console.log(JSON.stringify(result, null, 2));
		return;
	}
	const row = (name: string, p: Pct) =>
		`${name.padEnd(30)} ${ms(p.p50).padStart(8)} ${ms(p.p90).padStart(8)} ${ms(p.p99).padStart(8)} ${ms(p.mean).padStart(8)} ${ms(p.max).padStart(8)}`;
	const actions = (b: Record<string, number>) =>
		Object.entries(b)
			.sort((a, b2) => b2[1] - a[1])
			.map(([k, v]) => `${k} ${v}`)
			.join(", ");
	console.log("");
	console.log(`cold node (min_pool_size ${ENI_CONF.min_pool_size}, max_pool_size ${ENI_CONF.max_pool_size})`);
	console.log(`  ready after start            ${result.coldNode.readyMs} ms`);
	console.log(`  100 pods, ${opts.concurrency} clients         ${result.coldNode.wallMs} ms`);
	console.log(`  OpenAPI calls per 100 pods   ${coldCalls.total} (${actions(coldCalls.byAction)})`);
	console.log("");
	console.log(`warm pool, one pod at a time (${opts.ops} ops after 50 warm-up)   ms`);
	console.log(
		`${"".padEnd(30)} ${"p50".padStart(8)} ${"p90".padStart(8)} ${"p99".padStart(8)} ${"mean".padStart(8)} ${"max".padStart(8)}`,
	);
	console.log(row("terwayd alloc+release", lat.pair));
	console.log(row("  alloc", lat.alloc));
	console.log(row("  release", lat.release));
	console.log(row("peer: sqlite alloc+release", floor));
	console.log(row("peer: 2 socket round trips", sock.roundTrip2));
	console.log(
		`  OpenAPI calls during the ${opts.ops} ops: ${warmCalls.total}${warmCalls.total ? ` (${actions(warmCalls.byAction)})` : ""}`,
	);
	console.log("");
	console.log(`throughput, ${opts.concurrency} clients (alloc+release each)`);
	console.log(
		`  terwayd                      ${allocsPerSec.toFixed(0)} allocs/s (${tpTotal} in ${Math.round(tpWall)} ms)`,
	);
	console.log(`  peer: socket echo            ${sock.rps.toFixed(0)} requests/s`);
	console.log("");
	console.log("memory (daemon /proc/<pid>/status)");
	console.log(
		`  idle after start             VmRSS ${(idleMem.rssKiB / 1024).toFixed(1)} MiB, VmHWM ${(idleMem.hwmKiB / 1024).toFixed(1)} MiB`,
	);
	console.log(
		`  ${String(opts.pods).padEnd(3)} pods allocated           VmRSS ${(loadedMem.rssKiB / 1024).toFixed(1)} MiB, VmHWM ${(loadedMem.hwmKiB / 1024).toFixed(1)} MiB (${st.pool.enis} ENIs, ${st.pool.allocated} allocated, ${st.pool.idle} idle; ${podsCalls.total} OpenAPI calls)`,
	);
	console.log("");
	console.log("ratios (same run)");
	console.log(`  alloc+release p50 / sqlite floor p50        = ${ratio(lat.pair.p50, floor.p50)}`);
	console.log(`  alloc+release p50 / 2 socket round trips p50 = ${ratio(lat.pair.p50, sock.roundTrip2.p50)}`);
	console.log(`  alloc+release p99 / 2 socket round trips p99 = ${ratio(lat.pair.p99, sock.roundTrip2.p99)}`);
	console.log(`  socket echo rps / terwayd allocs/s           = ${ratio(sock.rps, allocsPerSec)}`);
	if (stopCode !== 0) console.log(`note: the daemon exited ${stopCode} on SIGTERM (expected 0)`);
}

try {
	await main();
} catch (e) {
	console.error(`bench/daemon: ${(e as Error).stack ?? e}`);
	if (daemon) console.error(`--- daemon log:\n${daemon.tail(40)}`);
	cleanup();
	process.exit(1);
}
cleanup();
