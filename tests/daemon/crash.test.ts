/**
 * Crash safety of terwayd (issue 4, Tests "Crash safety"): kill -9 the daemon at random points
 * during at least 300 alloc/release cycles (at least 20 kills), restart it each time and carry
 * on; at the end the store, the cloud (the sim, through the real ECS SDK) and metadata agree.
 *
 * Setup: a loopback sim world (`terwayctl sim up --mode loopback --nodes 1`, scenario
 * fixtures-crash/scenario.yaml: one node with 5 pod ENIs x 6 IPs, fast latency), a daemon child
 * process (`terwayctl daemon`, standalone, temp state dir and socket, env from the node's env file).
 *
 * Workload (seeded): 4 clients over the socket; a cycle is one pod's life: alloc (sometimes two
 * identical requests at once), 0..n idempotent re-allocs of the same pod + container id, release.
 * The live pod count swings between LOW and HIGH so ENIs get created and attached, IPs assigned
 * and unassigned. Clients retry on transport errors (daemon down), 503, 409 and 507.
 *
 * Kill points (seeded, shuffled): `cold` (during start-up, before ready), `inflight:<Action>` (a
 * one-shot latency fault holds that OpenAPI call in the sim; the daemon is killed while it waits,
 * the cloud then completes the call: a lost response), `after:<Action>` (killed as soon as the
 * request log shows that call succeeded, before the daemon may have recorded it) and `request`
 * (killed while alloc/release requests are in flight). While a kill waits for its call, the
 * workload is steered towards it (grow / shrink / dip then grow); if the call still does not come
 * the kill lands mid-request instead and that kill point is tried once more at the end (at most
 * 3 extra kills). Every kill is printed with where it landed.
 *
 * Invariants (each a list of problems that must be empty):
 * - client view: no two live pods ever got the same IP; a re-alloc returns the same IP with
 *   `existing: true`; a release of a confirmed allocation returns its IP;
 * - store (after a clean SIGTERM stop): checkInvariants() is clean, no pending intents, no IP
 *   left `releasing`, allocations == exactly the pods the clients hold (same IP, same ENI);
 * - zero leaked IPs: every IPv4 the cloud has on our ENIs is idle or allocated in the store;
 *   every store IP is on its ENI in the cloud (so every live allocation's IP exists there);
 * - zero double-assigned IPs: no IP in two allocations, no two pods with the same IP;
 * - zero orphan ENIs after GC: every non-primary ENI in the region (this world has one node,
 *   so each was made by this daemon) is in the store, attached to our instance and InUse;
 * - metadata lists every store ENI's MAC with exactly the cloud's IPv4s;
 * - pods whose netns vanished without a CNI DEL are released by GC (standalone GC).
 *
 * `TW_SOAK=1` runs the long variant (not part of make test): 3000 cycles, 1 kill per 10 cycles
 * (TW_SOAK_CYCLES / TW_SOAK_KILLS override, never below 300 / 20), and a 30-minute budget:
 *   TW_SOAK=1 ./node_modules/.bin/bun test --timeout 60000 tests/daemon/crash.test.ts
 * `TW_KEEP_WORK=1` keeps the work dir (daemon logs per start, client-timeline.log, state.db);
 * `TW_CRASH_SEED=N` replays a seed (printed at the start).
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import type {
	AllocResponse,
	EniInfo,
	GcReport,
	MappingRow,
	ReleaseResponse,
	StatusResponse,
} from "../../src/daemon/api-types.ts";
import { Store } from "../../src/daemon/store/index.ts";
import { canRun, isRoot, prefixFor } from "../helpers/env.ts";
import {
	Api,
	type CloudEni,
	Daemon,
	daemonMissing,
	REPO,
	rng,
	TransportError,
	World,
} from "./fixtures-crash/harness.ts";

const SOAK = process.env.TW_SOAK === "1";
const SEED = Number(process.env.TW_CRASH_SEED ?? 20_260_427);
// The issue's floor (300 cycles, 20 kills) holds for the soak variant too, whatever the env says.
const CYCLES = SOAK ? Math.max(300, Number(process.env.TW_SOAK_CYCLES ?? 3000)) : 300;
const KILLS = SOAK ? Math.max(20, Number(process.env.TW_SOAK_KILLS ?? Math.ceil(CYCLES / 10))) : 24;
const BUDGET_MS = SOAK ? 30 * 60_000 : 200_000;
const WORKERS = 4;
const LOW = 2;
const HIGH = 24;
const VANISH = 3;
const SCENARIO = `${REPO}tests/daemon/fixtures-crash/scenario.yaml`;
const POD_VSW = "vsw-bp1simpod000000000001";

const ENI_CONF = {
	version: "1",
	max_pool_size: 5,
	min_pool_size: 2,
	vswitches: { "cn-hangzhou-i": [POD_VSW] },
	security_groups: ["sg-bp1sim0000000000000001"],
	service_cidr: "198.19.0.0/20",
	ip_stack: "ipv4",
	vswitch_selection_policy: "ordered",
	// Terway's named backoffs, shrunk for the fast latency profile (durations in Go syntax).
	backoff_override: Object.fromEntries(
		[
			"eni_create",
			"eni_ops",
			"eni_release",
			"eni_ip_ops",
			"eni_delete_confirm",
			"wait_eni_status",
			"meta_assign_private_ip",
			"meta_unassign_private_ip",
		].map((k) => [k, { InitialDelay: "20ms", Duration: "20ms", Factor: 1.5, Steps: 10 }]),
	),
};

type Kind = "cold" | "request" | `inflight:${string}` | `after:${string}`;

/** The kill plan: every kind the issue names, then random ones, shuffled with the seed. */
function killPlan(n: number, rand: () => number): Kind[] {
	const base: Kind[] = [
		"cold",
		"cold",
		"cold",
		"cold",
		"inflight:CreateNetworkInterface",
		"inflight:CreateNetworkInterface",
		"after:CreateNetworkInterface",
		"inflight:AttachNetworkInterface",
		"inflight:AssignPrivateIpAddresses",
		"inflight:AssignPrivateIpAddresses",
		"after:AssignPrivateIpAddresses",
		"after:AssignPrivateIpAddresses",
		"inflight:UnassignPrivateIpAddresses",
		"inflight:UnassignPrivateIpAddresses",
		"after:UnassignPrivateIpAddresses",
		"request",
		"request",
		"request",
		"request",
		"request",
	];
	const extra: Kind[] = [
		"cold",
		"request",
		"inflight:AssignPrivateIpAddresses",
		"after:UnassignPrivateIpAddresses",
		"inflight:CreateNetworkInterface",
	];
	const plan = base.slice(0, n);
	while (plan.length < n) plan.push(extra[Math.floor(rand() * extra.length)]!);
	for (let i = plan.length - 1; i > 0; i--) {
		const j = Math.floor(rand() * (i + 1));
		[plan[i], plan[j]] = [plan[j]!, plan[i]!];
	}
	return plan;
}

type Pod = {
	name: string;
	uid: string;
	containerId: string;
	netns: string;
	ip: string;
	eniId: string;
};

type KillRecord = {
	n: number;
	kind: Kind;
	/** What actually happened (a fallback when the armed action never came). */
	landed: string;
	pid: number;
	atOp: number;
	atCycle: number;
	inFlight: number;
	msAfterStart: number;
};

const P = prefixFor("cr");
const runnable = canRun("tests/daemon/crash.test.ts", {
	root: false,
	check: () => {
		if (!isRoot) return "needs root: the sim keeps its world in /run/terway-sim";
		return daemonMissing();
	},
});

describe.skipIf(!runnable)(`terwayd crash safety (${SOAK ? "soak" : "standard"})`, () => {
	let world: World | undefined;
	let daemon: Daemon | undefined;
	let work: string | undefined;

	const cleanup = () => {
		daemon?.killNow();
		world?.down();
		if (work && !process.env.TW_KEEP_WORK) rmSync(work, { recursive: true, force: true });
	};
	afterAll(cleanup);
	// A manual run stopped with Ctrl-C does not reach afterAll: clean up by PID and prefix there too.
	for (const sig of ["SIGINT", "SIGTERM"] as const) {
		process.once(sig, () => {
			cleanup();
			process.exit(130);
		});
	}

	test(
		`kill -9 at random points during >= ${CYCLES} alloc/release cycles (>= ${KILLS} kills): store, cloud and metadata agree`,
		async () => {
			const t0 = performance.now();
			const rand = rng(SEED);
			console.log(`crash: seed ${SEED}, ${CYCLES} cycles, ${KILLS} kills, world ${P}`);
			work = mkdtempSync(`/tmp/${P}-crash-`);
			mkdirSync(`${work}/netns`);
			world = World.up(P, SCENARIO);
			const w = world;
			const d = new Daemon({ world: w, dir: `${work}/daemon`, eniConf: ENI_CONF });
			daemon = d;
			const api = new Api(d.socket, 15_000);
			const instanceId = w.node.instanceId;

			// ------------------------------------------------------------------ client state
			const live = new Map<string, Pod>(); // podKey -> pod (confirmed allocations)
			const busy = new Set<string>();
			const violations: string[] = [];
			const stats = { ops: 0, allocs: 0, reallocs: 0, dupAllocs: 0, releases: 0, cycles: 0 };
			const retries = { transport: 0, s503: 0, s409: 0, s507: 0 };
			let inFlight = 0;
			let releasing = 0;
			/** Client-side timeline (printed for the pods a violation names). */
			const timeline: string[] = [];
			const trace = (msg: string) => timeline.push(`+${((performance.now() - t0) / 1000).toFixed(3)} ${msg}`);
			let podSeq = 0;
			let growing = true;
			let steer: "grow" | "shrink" | "dip" | undefined;
			let fatal: Error | undefined;

			const key = (name: string) => `default/${name}`;
			const podRef = (p: Pod) => ({ namespace: "default", name: p.name, uid: p.uid });

			/** One API call, retried until it gets a final answer. */
			async function request<T>(
				method: string,
				path: string,
				body: unknown,
			): Promise<{ status: number; body: T; maybeApplied: boolean }> {
				const deadline = performance.now() + 60_000;
				let maybeApplied = false;
				for (;;) {
					if (fatal) throw fatal;
					if (performance.now() > deadline)
						throw new Error(`${method} ${path} ${JSON.stringify(body)}: no final answer in 60 s`);
					inFlight++;
					try {
						const r = await api.call<T>(method, path, body);
						if (r.status === 503 || r.status === 409 || r.status === 507) {
							retries[`s${r.status}` as "s503"]++;
						} else {
							return { ...r, maybeApplied };
						}
					} catch (e) {
						if (!(e instanceof TransportError)) throw e;
						retries.transport++;
						maybeApplied = true;
					} finally {
						inFlight--;
					}
					await Bun.sleep(15 + Math.floor(Math.random() * 20));
				}
			}

			function checkAlloc(
				p: Pod,
				r: { status: number; body: AllocResponse },
				what: string,
			): string | undefined {
				if (r.status !== 200) {
					violations.push(`${what} ${key(p.name)}: HTTP ${r.status} ${JSON.stringify(r.body)}`);
					return undefined;
				}
				const ip = r.body.ipv4?.ip;
				if (!ip) {
					violations.push(`${what} ${key(p.name)}: no ipv4 in ${JSON.stringify(r.body)}`);
					return undefined;
				}
				return ip;
			}

			async function allocNew(): Promise<void> {
				const n = ++podSeq;
				const p: Pod = {
					name: `p${n}`,
					uid: `uid-${SEED}-${n}`,
					containerId: `c${n}`.padEnd(64, "0"),
					netns: `${work}/netns/p${n}`,
					ip: "",
					eniId: "",
				};
				busy.add(key(p.name));
				writeFileSync(p.netns, "");
				trace(`alloc ${p.name} sent`);
				const body = { pod: podRef(p), containerId: p.containerId, netns: p.netns, ifname: "eth0" };
				const dup = rand() < 0.1;
				const rs = await Promise.all(
					(dup ? [1, 2] : [1]).map(() => request<AllocResponse>("POST", "/v1/alloc", body)),
				);
				stats.ops += rs.length;
				stats.allocs++;
				if (dup) stats.dupAllocs++;
				for (const r of rs)
					trace(
						`alloc ${p.name} -> ${r.status} ${r.body.ipv4?.ip ?? JSON.stringify(r.body)} ${r.body.eni?.id ?? ""} existing=${r.body.existing}${r.maybeApplied ? " (after a transport error)" : ""}`,
					);
				const ips = rs.map((r) => checkAlloc(p, r, "alloc"));
				if (ips.some((ip) => ip === undefined)) return;
				if (new Set(ips).size !== 1) violations.push(`alloc ${key(p.name)}: identical requests got ${ips}`);
				if (dup && rs.every((r) => r.body.existing) && !rs.some((r) => r.maybeApplied))
					violations.push(`alloc ${key(p.name)}: two identical first requests both said existing`);
				const ip = ips[0]!;
				for (const [k, q] of live) {
					if (q.ip === ip)
						violations.push(`double assignment: ${ip} given to ${key(p.name)} while ${k} holds it`);
				}
				p.ip = ip;
				p.eniId = rs[0]!.body.eni.id;
				live.set(key(p.name), p);
				busy.delete(key(p.name));
			}

			async function realloc(p: Pod): Promise<void> {
				busy.add(key(p.name));
				const body = { pod: podRef(p), containerId: p.containerId, netns: p.netns, ifname: "eth0" };
				const r = await request<AllocResponse>("POST", "/v1/alloc", body);
				stats.ops++;
				stats.reallocs++;
				trace(
					`re-alloc ${p.name} -> ${r.status} ${r.body.ipv4?.ip ?? JSON.stringify(r.body)} ${r.body.eni?.id ?? ""} existing=${r.body.existing}`,
				);
				const ip = checkAlloc(p, r, "re-alloc");
				if (ip !== undefined && (ip !== p.ip || r.body.existing !== true || r.body.eni.id !== p.eniId)) {
					violations.push(
						`re-alloc ${key(p.name)}: expected ${p.ip} on ${p.eniId} existing, got ${ip} on ${r.body.eni.id} existing=${r.body.existing}`,
					);
				}
				busy.delete(key(p.name));
			}

			async function release(p: Pod): Promise<void> {
				busy.add(key(p.name));
				// From the moment the DEL is sent the daemon may hand the IP to another pod.
				live.delete(key(p.name));
				releasing++;
				trace(`release ${p.name} ${p.ip} sent`);
				const r = await request<ReleaseResponse>("POST", "/v1/release", {
					pod: podRef(p),
					containerId: p.containerId,
				});
				stats.ops++;
				stats.releases++;
				if (r.status !== 200) {
					violations.push(`release ${key(p.name)}: HTTP ${r.status} ${JSON.stringify(r.body)}`);
				} else if (!r.maybeApplied && (!r.body.released || !r.body.ips.includes(p.ip))) {
					violations.push(`release ${key(p.name)} (${p.ip}): got ${JSON.stringify(r.body)}`);
				} else if (r.body.released && !r.body.ips.includes(p.ip)) {
					violations.push(`release ${key(p.name)} (${p.ip}): released other IPs ${r.body.ips}`);
				}
				trace(
					`release ${p.name} -> ${r.status} ${JSON.stringify(r.body)}${r.maybeApplied ? " (after a transport error)" : ""}`,
				);
				releasing--;
				rmSync(p.netns, { force: true });
				stats.cycles++;
				busy.delete(key(p.name));
			}

			function pickLive(): Pod | undefined {
				const free = [...live.values()].filter((p) => !busy.has(key(p.name)));
				return free.length ? free[Math.floor(rand() * free.length)] : undefined;
			}

			function nextOp(): (() => Promise<void>) | undefined {
				const n = live.size + [...busy].filter((k) => !live.has(k)).length - releasing;
				if (growing && n >= HIGH) growing = false;
				if (!growing && n <= LOW) growing = true;
				// While a kill waits for a cloud call, steer towards it: shrinking brings Unassign/
				// Detach/Delete; Create/Attach/Assign come when growing after the pool shrank (ENIs are
				// created full), so those dip to LOW first. Only the direction of the swing changes.
				if (steer === "grow" && n < HIGH) growing = true;
				if (steer === "shrink" && n > LOW) growing = false;
				if (steer === "dip") {
					// down to LOW first (idle reclaim deletes whole idle ENIs), then grow (new ENIs)
					if (n > LOW) growing = false;
					else steer = "grow";
				}
				const x = rand();
				if (x < 0.15) {
					const p = pickLive();
					if (p) return () => realloc(p);
				}
				if (growing ? x < 0.85 : x < 0.25) return n < HIGH ? () => allocNew() : undefined;
				const p = pickLive();
				return p ? () => release(p) : undefined;
			}

			let killerFinished = false;
			const done = () => stats.cycles >= CYCLES && killerFinished;

			async function worker(): Promise<void> {
				while (!done() && !fatal) {
					const op = nextOp();
					if (op) await op();
					else await Bun.sleep(2);
				}
			}

			// ------------------------------------------------------------------ kills
			const plan = killPlan(KILLS, rand);
			const kills: KillRecord[] = [];
			let startedAt = 0;
			let lastReadyMs = 1000;
			const opsPerKill = Math.max(4, Math.floor((CYCLES * 2.2) / (KILLS * 1.3)));

			async function start(): Promise<void> {
				const pid = d.start();
				startedAt = performance.now();
				trace(`START pid ${pid}`);
			}

			async function ready(): Promise<void> {
				const ms = await api.waitReady({ timeoutMs: 60_000, alive: () => d.alive });
				lastReadyMs = ms;
			}

			async function kill(kind: Kind, landed: string): Promise<void> {
				const pid = d.pid!;
				const rec: KillRecord = {
					n: kills.length + 1,
					kind,
					landed,
					pid,
					atOp: stats.ops,
					atCycle: stats.cycles,
					inFlight,
					msAfterStart: Math.round(performance.now() - startedAt),
				};
				if (!d.alive)
					throw new Error(`daemon pid ${pid} exited by itself before kill #${rec.n}:\n${d.tail()}`);
				await d.kill9();
				kills.push(rec);
				trace(`KILL #${rec.n} pid ${pid} (${landed})`);
				console.log(
					`  kill #${rec.n} ${kind}${landed !== kind ? ` -> ${landed}` : ""}: pid ${pid}, ${rec.msAfterStart} ms after start, op ${rec.atOp}, cycle ${rec.atCycle}, ${rec.inFlight} in flight`,
				);
				await start();
			}

			/** Wait until `ops` more operations completed (or the workload is done). */
			async function afterOps(ops: number): Promise<void> {
				const target = stats.ops + ops;
				while (stats.ops < target && !fatal) await Bun.sleep(2);
			}

			async function killer(): Promise<void> {
				let seq = 0;
				let retriesLeft = 3;
				for (const kind of plan) {
					if (fatal) return;
					if (kind === "cold") {
						// The previous kill restarted the daemon: kill this start before it is ready. If
						// nothing restarted it just now (first kill), restart it first (one kill more).
						if (performance.now() - startedAt > lastReadyMs * 0.5) {
							await afterOps(Math.floor(opsPerKill * (0.3 + rand() * 1.4)));
							await kill("request", "request (restart for a cold kill)");
						}
						const delay = Math.floor(rand() * Math.max(20, lastReadyMs * 0.9));
						await Bun.sleep(delay);
						await kill(kind, `cold +${delay} ms (last start took ${Math.round(lastReadyMs)} ms to ready)`);
						continue;
					}
					await ready();
					await afterOps(Math.floor(opsPerKill * (0.3 + rand() * 1.4)));
					if (kind === "request") {
						const t = performance.now();
						while (inFlight === 0 && performance.now() - t < 5000) await Bun.sleep(1);
						await Bun.sleep(Math.floor(rand() * 4));
						await kill(kind, kind);
						continue;
					}
					const [how, action] = kind.split(":") as ["inflight" | "after", string];
					const armedAt = stats.ops;
					// a dip and a regrowth take about two swings
					const window = opsPerKill * (steer === "dip" ? 8 : 4);
					steer = /Unassign|Detach|Delete/.test(action) ? "shrink" : "dip";
					let landed = "";
					if (how === "inflight") {
						const rule = await w.sim.addFault({
							id: `crash-${kills.length + 1}`,
							match: { face: "openapi", action },
							effect: { kind: "latency", ms: 150 },
							times: 1,
						});
						while (!landed && !fatal) {
							const rules = await w.sim.faults();
							if (!rules.some((r) => r.id === rule.id)) {
								await Bun.sleep(Math.floor(rand() * 100));
								landed = kind;
							} else if (stats.ops - armedAt > window) {
								// it may fire between the poll and the removal: then it landed after all
								const removed = await w.sim.removeFault(rule.id).then(
									() => true,
									() => false,
								);
								landed = removed ? "request (no such call came)" : kind;
							} else await Bun.sleep(3);
						}
					} else {
						seq = (await w.openapiLog(seq)).at(-1)?.seq ?? seq;
						while (!landed && !fatal) {
							const log = await w.openapiLog(seq);
							seq = log.at(-1)?.seq ?? seq;
							if (log.some((e) => e.what === action && e.status === 200)) landed = kind;
							else if (stats.ops - armedAt > window) landed = "request (no such call came)";
							else await Bun.sleep(2);
						}
					}
					steer = undefined;
					await kill(kind, landed);
					// The call never came in the window: try that kill point once more at the end.
					if (landed !== kind && retriesLeft-- > 0) plan.push(kind);
				}
				await ready();
				killerFinished = true;
			}

			// ------------------------------------------------------------------ run
			await start();
			await ready();
			console.log(`crash: daemon ready in ${Math.round(lastReadyMs)} ms (cold node)`);
			const killerDone = killer().catch((e) => {
				fatal = e as Error;
			});
			const workers = Array.from({ length: WORKERS }, () =>
				worker().catch((e) => {
					fatal ??= e as Error;
				}),
			);
			const budget = setTimeout(() => {
				fatal ??= new Error(`over budget (${BUDGET_MS} ms): ${JSON.stringify(stats)}, ${kills.length} kills`);
			}, BUDGET_MS);
			await killerDone;
			await Promise.all(workers);
			clearTimeout(budget);
			if (fatal) {
				throw new Error(`${(fatal as Error).message}\n--- daemon log (start ${d.starts}):\n${d.tail(40)}`);
			}
			// Leave a set of live pods for the end checks (no kills from here on).
			while (live.size < 10) await allocNew();
			const runMs = performance.now() - t0;
			console.log(
				`crash: ${stats.cycles} cycles (${stats.allocs} allocs, ${stats.dupAllocs} doubled, ${stats.reallocs} re-allocs, ${stats.releases} releases), ${kills.length} kills, ${d.starts} starts in ${(runMs / 1000).toFixed(1)} s; retries ${JSON.stringify(retries)}`,
			);

			// ------------------------------------------------------------------ settle
			// Pods whose netns vanished without a CNI DEL: GC must release them.
			const vanished = [...live.values()].slice(0, VANISH);
			for (const p of vanished) {
				rmSync(p.netns, { force: true });
				live.delete(key(p.name));
			}
			await ready();
			const settleT0 = performance.now();
			let settled = false;
			let lastDiff = "";
			let gcRuns = 0;
			while (performance.now() - settleT0 < 30_000) {
				const gc = await request<GcReport>("POST", "/v1/gc", {});
				gcRuns++;
				if (gc.status !== 200) throw new Error(`POST /v1/gc: HTTP ${gc.status} ${JSON.stringify(gc.body)}`);
				const enis = await request<EniInfo[]>("GET", "/v1/enis", undefined);
				const cloud = await w.describeEnis({});
				lastDiff = diffApiVsCloud(enis.body, cloud, instanceId);
				const stillHeld = vanished.filter((p) =>
					enis.body.some((e) => e.ips.some((i) => i.ip === p.ip && i.state === "allocated")),
				);
				if (stillHeld.length) lastDiff += `; vanished pods still allocated: ${stillHeld.map((p) => p.name)}`;
				if (!lastDiff) {
					settled = true;
					break;
				}
				await Bun.sleep(200);
			}
			console.log(
				`crash: settle ${settled ? "reached" : "NOT reached"} after ${gcRuns} GC runs in ${Math.round(performance.now() - settleT0)} ms${lastDiff ? ` (${lastDiff})` : ""}`,
			);
			await Bun.sleep(150); // metadata lags the API by 50 ms in this scenario

			const status = await request<StatusResponse>("GET", "/v1/status", undefined);
			const mapping = await request<MappingRow[]>("GET", "/v1/mapping", undefined);
			const mappingProblems = mapping.body.flatMap((r) => r.problems.map((x) => `${r.ip} ${r.eniId}: ${x}`));
			const cloud = await w.describeEnis({});
			const meta = await w.metadataEnis();
			const stopCode = await d.stop(15_000);

			// ------------------------------------------------------------------ verify
			const dbs = d.dbFiles();
			expect(dbs.length).toBe(1);
			const store = Store.open(dbs[0]!);
			const snap = store.snapshot();
			const storeProblems = store.checkInvariants();
			store.close();

			const problems = verify({
				snap,
				cloud,
				meta,
				instanceId,
				live,
				vanished,
			});
			const calls: Record<string, number> = {};
			for (const e of await w.openapiLog()) {
				const k = `${e.what}${e.status === 200 ? "" : ` ${e.code ?? e.status}`}${e.detail?.replayed ? " (ClientToken replay)" : ""}`;
				calls[k] = (calls[k] ?? 0) + 1;
			}
			const sum = {
				cycles: stats.cycles,
				kills: kills.length,
				landed: kills.reduce<Record<string, number>>((acc, k) => {
					const where = k.landed.startsWith("cold")
						? "cold"
						: k.landed.startsWith("request (")
							? "request (fallback)"
							: k.landed;
					acc[where] = (acc[where] ?? 0) + 1;
					return acc;
				}, {}),
				fallbacks: kills.filter((k) => k.landed.startsWith("request (")).length,
				livePods: live.size,
				storeAllocations: snap.allocations.length,
				storeEnis: snap.enis.length,
				storeIps: snap.ips.length,
				cloudEnis: cloud.filter((e) => e.type !== "Primary").length,
				pool: status.body.pool,
				stopExit: stopCode,
				openapi: calls,
				seconds: Math.round((performance.now() - t0) / 100) / 10,
			};
			console.log(`crash: ${JSON.stringify(sum)}`);
			for (const [k, v] of Object.entries(problems)) if (v.length) console.log(`  ${k}: ${v.join("\n    ")}`);

			writeFileSync(`${work}/client-timeline.log`, `${timeline.join("\n")}\n`);
			if (violations.length) {
				const names = new Set([...violations.join(" ").matchAll(/default\/(p\d+)/g)].map((m) => m[1]!));
				const ips = new Set([...violations.join(" ").matchAll(/\b198\.18\.\d+\.\d+\b/g)].map((m) => m[0]));
				const words = (l: string) => new Set(l.split(/[\s,"{}[\]:]+/));
				console.log("client timeline for the pods and IPs in the violations (kills and starts included):");
				for (const l of timeline) {
					const w = words(l);
					if (l.includes(" KILL ") || l.includes(" START ") || [...names, ...ips].some((x) => w.has(x)))
						console.log(`  ${l}`);
				}
			}
			expect(violations).toEqual([]);
			expect(storeProblems).toEqual([]);
			expect(mappingProblems).toEqual([]);
			expect(problems.pendingIntents).toEqual([]);
			expect(problems.storeVsClients).toEqual([]);
			expect(problems.leakedIps).toEqual([]);
			expect(problems.phantomIps).toEqual([]);
			expect(problems.doubleAssigned).toEqual([]);
			expect(problems.orphanEnis).toEqual([]);
			expect(problems.staleEnis).toEqual([]);
			expect(problems.metadata).toEqual([]);
			expect(problems.gc).toEqual([]);
			expect(settled).toBe(true);
			expect(kills.length).toBeGreaterThanOrEqual(Math.max(20, KILLS));
			expect(stats.cycles).toBeGreaterThanOrEqual(Math.max(300, CYCLES));
			expect(stopCode).toBe(0);
		},
		SOAK ? 40 * 60_000 : 240_000,
	);
});

/** What the API's /v1/enis says vs the cloud (used only to decide when things settled). */
function diffApiVsCloud(enis: EniInfo[], cloud: CloudEni[], instanceId: string): string {
	const out: string[] = [];
	const byId = new Map(cloud.map((e) => [e.eniId, e]));
	for (const e of cloud) {
		if (e.type === "Primary") continue;
		if (!enis.some((x) => x.id === e.eniId)) out.push(`cloud ENI ${e.eniId} (${e.status}) not served`);
	}
	for (const e of enis) {
		const c = byId.get(e.id);
		if (!c) {
			out.push(`served ENI ${e.id} not in cloud`);
			continue;
		}
		if (c.type === "Primary") continue;
		if (c.instanceId !== instanceId || c.status !== "InUse")
			out.push(`ENI ${e.id} is ${c.status} on ${c.instanceId}`);
		if (e.status !== "InUse") out.push(`ENI ${e.id} served as ${e.status}`);
		const mine = new Set(e.ips.filter((i) => i.state !== "releasing").map((i) => i.ip));
		const theirs = new Set(c.ipv4s);
		if (e.ips.some((i) => i.state === "releasing")) out.push(`ENI ${e.id} has releasing IPs`);
		for (const ip of theirs) if (!mine.has(ip)) out.push(`${ip} on ${e.id} in cloud only`);
		for (const ip of mine) if (!theirs.has(ip)) out.push(`${ip} on ${e.id} served only`);
	}
	return out.join(", ");
}

function verify(x: {
	snap: ReturnType<Store["snapshot"]>;
	cloud: CloudEni[];
	meta: Map<string, string[]>;
	instanceId: string;
	live: Map<string, Pod>;
	vanished: Pod[];
}) {
	const { snap, cloud, meta, instanceId, live, vanished } = x;
	const p = {
		pendingIntents: snap.pendingIntents.map(
			(i) => `intent ${i.id} ${i.op} still pending: ${JSON.stringify(i.params)}`,
		),
		storeVsClients: [] as string[],
		leakedIps: [] as string[],
		phantomIps: [] as string[],
		doubleAssigned: [] as string[],
		orphanEnis: [] as string[],
		staleEnis: [] as string[],
		metadata: [] as string[],
		gc: [] as string[],
	};
	const cloudById = new Map(cloud.map((e) => [e.eniId, e]));
	const storeEnis = new Map(snap.enis.map((e) => [e.eniId, e]));
	const ipsByEni = new Map<string, typeof snap.ips>();
	for (const r of snap.ips) ipsByEni.set(r.eniId, [...(ipsByEni.get(r.eniId) ?? []), r]);

	// releasing = a mutation left half-done
	for (const r of snap.ips)
		if (r.state === "releasing") p.leakedIps.push(`${r.ip} on ${r.eniId} left releasing`);

	// allocations == exactly what the clients hold
	const allocByPod = new Map(snap.allocations.map((a) => [a.podKey, a]));
	for (const [k, pod] of live) {
		const a = allocByPod.get(k);
		if (!a) p.storeVsClients.push(`${k} holds ${pod.ip} but the store has no allocation`);
		else if (a.containerId !== pod.containerId || a.ipv4 !== pod.ip || a.eniId !== pod.eniId)
			p.storeVsClients.push(
				`${k}: client ${pod.containerId.slice(0, 8)} ${pod.ip}@${pod.eniId}, store ${a.containerId.slice(0, 8)} ${a.ipv4}@${a.eniId}`,
			);
	}
	for (const a of snap.allocations) {
		if (!live.has(a.podKey))
			p.storeVsClients.push(`store allocation ${a.podKey} ${a.ipv4} that no client holds`);
	}
	for (const v of vanished) {
		if (allocByPod.has(`default/${v.name}`)) p.gc.push(`default/${v.name} (netns gone) still allocated`);
	}

	// double assignment
	const seen = new Map<string, string>();
	for (const a of snap.allocations) {
		for (const ip of [a.ipv4, a.ipv6]) {
			if (!ip) continue;
			if (seen.has(ip)) p.doubleAssigned.push(`${ip}: ${seen.get(ip)} and ${a.podKey}`);
			seen.set(ip, a.podKey);
		}
	}
	const byIp = new Map<string, string>();
	for (const [k, pod] of live) {
		if (byIp.has(pod.ip)) p.doubleAssigned.push(`clients: ${pod.ip} held by ${byIp.get(pod.ip)} and ${k}`);
		byIp.set(pod.ip, k);
	}

	// ENIs: every non-primary ENI in the region is ours (one node) and must be in the store
	for (const c of cloud) {
		if (c.type === "Primary") continue;
		if (!storeEnis.has(c.eniId))
			p.orphanEnis.push(
				`${c.eniId} (${c.status}, ${c.instanceId ?? "detached"}, ${c.ipv4s.length} IPs) not in the store`,
			);
	}
	for (const e of snap.enis) {
		const c = cloudById.get(e.eniId);
		if (!c) {
			p.staleEnis.push(`store ENI ${e.eniId} (${e.status}) does not exist in the cloud`);
			continue;
		}
		if (c.instanceId !== instanceId || c.status !== "InUse")
			p.staleEnis.push(`${e.eniId}: cloud ${c.status} on ${c.instanceId ?? "nothing"}, store ${e.status}`);
		if (e.status !== "InUse") p.staleEnis.push(`${e.eniId}: store status ${e.status} after settling`);
		const storeIps = (ipsByEni.get(e.eniId) ?? []).filter((r) => r.family === 4);
		const storeSet = new Set(storeIps.map((r) => r.ip));
		const cloudSet = new Set(c.ipv4s);
		const primaryEni = c.type === "Primary";
		if (!primaryEni) {
			for (const ip of cloudSet)
				if (!storeSet.has(ip)) p.leakedIps.push(`${ip} on ${e.eniId}: in the cloud, not in the store`);
		}
		for (const r of storeIps) {
			if (!cloudSet.has(r.ip))
				p.phantomIps.push(
					`${r.ip} (${r.state}${r.podKey ? ` ${r.podKey}` : ""}) on ${e.eniId}: not in the cloud`,
				);
		}
		// metadata (settled): the ENI's MAC lists exactly the cloud's IPv4s
		const m = meta.get(c.mac);
		if (!m) p.metadata.push(`${e.eniId} ${c.mac}: not in metadata`);
		else if ([...m].sort().join() !== [...c.ipv4s].sort().join())
			p.metadata.push(`${e.eniId} ${c.mac}: metadata ${m.length} IPs, cloud ${c.ipv4s.length}`);
	}
	for (const a of snap.allocations) {
		const c = cloudById.get(a.eniId);
		if (!c || !a.ipv4 || !c.ipv4s.includes(a.ipv4))
			p.phantomIps.push(`allocation ${a.podKey} ${a.ipv4} not on ${a.eniId} in the cloud`);
	}
	return p;
}
