/**
 * @module daemon/pool
 *
 * The node's ENI/IP pool (shared-ENI multi-IP, Terway's default; exclusive ENI as a mode): a
 * single-threaded control loop that builds a `PoolSnapshot` from the store, asks
 * `core/ipam/pool.ts` `planPool` what to do, and performs the actions through `EcsApi`.
 *
 * Every cloud mutation is journaled in the store BEFORE the call (`beginIntent`, with the
 * ClientToken for Create/Assign) and its result applied in the same transaction that closes the
 * intent (`completeIntent`). An intent whose outcome is unknown (timeout, crash) stays pending and
 * is replayed: Create/Assign with the same ClientToken (the cloud returns the original result),
 * attach/detach/delete/unassign by asking DescribeNetworkInterfaces what happened. So a SIGKILL at
 * any point is recovered by replay, never by guessing.
 *
 * An ENI's IPs are handed to pods only once the ENI is `InUse` in the store, which the daemon sets
 * after the cloud says InUse, metadata lists its MAC and IPs, and its Linux link is ensured
 * (cloud-sim.md §1.3, Terway `pkg/factory/aliyun`).
 *
 * What this must not do: decide pool sizes itself (core/ipam does), or call the cloud without a
 * journal entry for a mutation.
 */
import { randomUUID } from "node:crypto";
import type { Eni as CloudEni, CreateEniSpec, EcsApi, MetadataApi } from "../cloud/types.ts";
import { CloudApiError, isIpCountExceeded, isNotFound, isRetryable } from "../cloud/types.ts";
import type { EniConfig } from "../core/config/types.ts";
import { nextReclaimAt } from "../core/ipam/capacity.ts";
import { clearInsufficientIp, emptyInhibit, inhibitOnError, pruneInhibit } from "../core/ipam/inhibit.ts";
import { planPool } from "../core/ipam/pool.ts";
import { pickIpForPod } from "../core/ipam/select.ts";
import type {
	InhibitState,
	Limits,
	PendingOps,
	PoolAction,
	PoolConfig,
	PoolEni,
	PoolSnapshot,
	VSwitchCandidate,
} from "../core/ipam/types.ts";
import { ApiError } from "./errors.ts";
import type { EniLinkInfo, EniLinks } from "./links.ts";
import type { Logger } from "./log.ts";
import type { DaemonMetrics } from "./metrics.ts";
import type {
	Allocation,
	Candidate,
	Eni,
	Intent,
	IntentOp,
	IntentParams,
	PickFn,
	PodRef,
	Store,
} from "./store/index.ts";
import { isStoreError } from "./store/index.ts";

/** Tag every ENI we create carries (Terway), plus the instance it was made for. */
export const TAG_CREATOR = "creator";
export const TAG_CREATOR_VALUE = "terway";
export const TAG_INSTANCE = "terwayctl/instance-id";

export type NodeInfo = {
	instanceId: string;
	instanceType: string;
	zoneId: string;
	/** vSwitches new ENIs may use (config for this zone, else the node's own). */
	vswitchIds: string[];
	securityGroupIds: string[];
	primaryEniId?: string;
	/** The node's primary IP (put on ENI links, as Terway does). */
	primaryIp?: string;
};

export type PoolTuning = {
	/** Collect concurrent requests this long before planning (Terway sleeps 300 ms). */
	batchDelayMs: number;
	/** How long an alloc waits for the pool before 507/503. */
	allocWaitMs: number;
	/** Metadata visibility waits (MAC, IPs). */
	metadataWaitMs: number;
	/** Waiting for the ENI's Linux link to appear after attach. */
	linkWaitMs: number;
	/** Delay before re-planning after a failed action (grows ×2 to 30 s). */
	retryDelayMs: number;
	/** vSwitch availability cache TTL. */
	vswitchCacheMs: number;
};

export const DEFAULT_TUNING: PoolTuning = {
	batchDelayMs: 50,
	allocWaitMs: 60_000,
	metadataWaitMs: 10_000,
	linkWaitMs: 10_000,
	retryDelayMs: 500,
	vswitchCacheMs: 60_000,
};

/** Network facts of one ENI, from metadata and the node. */
export type EniNet = {
	gateway: string;
	cidr: string;
	ipv6Gateway?: string;
	ipv6Cidr?: string;
	link: EniLinkInfo;
};

export type PoolDeps = {
	store: Store;
	ecs: EcsApi;
	metadata: MetadataApi;
	links: EniLinks;
	log: Logger;
	metrics: DaemonMetrics;
	node: NodeInfo;
	limits: Limits;
	pool: PoolConfig;
	capacity: number;
	eniConf: EniConfig;
	mode: "shared" | "exclusive";
	tuning?: Partial<PoolTuning>;
	now?: () => number;
	rng?: () => number;
	/** Called when the inhibit state changes (the daemon patches the SufficientIP condition). */
	onInhibit?: (state: InhibitState) => void;
};

type Waiter = { wake: () => void };

/** The reason in-flight pool work is aborted with when the pool stops (shutdown). */
export class PoolStoppedError extends Error {
	override name = "PoolStopped";
}

type Inflight = { kind: keyof PendingOps | "bringUp" | "replay"; eniId?: string; desc: PendingOpDesc };
type PendingOpDesc =
	| { kind: "assign"; eniId: string; count: number; ipv6Count: number }
	| { kind: "createEni"; ipCount: number; ipv6Count: number; vswitchId: string }
	| { kind: "unassign"; eniId: string; ips: string[] }
	| { kind: "deleteEni"; eniId: string }
	| { kind: "other" };

const storeToPoolStatus = (s: Eni["status"]): PoolEni["status"] =>
	s === "InUse" ? "inUse" : s === "Detaching" ? "detaching" : s === "Deleting" ? "deleting" : "attaching";

const errCode = (e: unknown): string =>
	e instanceof CloudApiError ? e.code : e instanceof Error ? e.name : "Error";
const errText = (e: unknown): string =>
	e instanceof CloudApiError ? `${e.code}: ${e.message}` : e instanceof Error ? e.message : String(e);

/** The pool. Create with {@link PoolManager}, `await start()`, then `allocate`/`release`. */
export class PoolManager {
	readonly store: Store;
	readonly node: NodeInfo;
	readonly limits: Limits;
	readonly config: PoolConfig;
	readonly capacity: number;
	readonly mode: "shared" | "exclusive";
	readonly #d: PoolDeps;
	readonly #t: PoolTuning;
	readonly #log: Logger;
	readonly #now: () => number;
	readonly #rng: () => number;
	#inhibit: InhibitState = emptyInhibit();
	readonly #inflight = new Map<string, Inflight>();
	readonly #waiters = new Set<Waiter>();
	/** Requests currently waiting for an IP (the planner's `waiting`). */
	#waiting = 0;
	#timer: ReturnType<typeof setTimeout> | undefined;
	#timerAt = 0;
	#stopped = false;
	/** Aborted by {@link stop}: every cloud/metadata call and link wait of the pool listens to it. */
	readonly #abort = new AbortController();
	#lastModifiedMs: number;
	#nextReclaimAtMs: number | undefined;
	#warmUpCompleted: boolean;
	#failures = 0;
	#retryAt = 0;
	#vswitches: VSwitchCandidate[] = [];
	#vswitchesAt = 0;
	/** Why waiters were refused last (planner said exhausted/inhibited with nothing in flight). */
	#refusal: { message: string; at: number } | undefined;
	readonly #net = new Map<string, EniNet>();
	/** Exclusive mode: ENI reserved for a pod key while it is being made. */
	readonly #exclusiveFor = new Map<string, string>();
	/** Serialises steps of the loop. */
	#stepping = false;

	constructor(deps: PoolDeps) {
		this.#d = deps;
		this.store = deps.store;
		this.node = deps.node;
		this.limits = deps.limits;
		this.config = deps.pool;
		this.capacity = deps.capacity;
		this.mode = deps.mode;
		this.#t = { ...DEFAULT_TUNING, ...deps.tuning };
		this.#log = deps.log.child({ component: "pool" });
		this.#now = deps.now ?? Date.now;
		this.#rng = deps.rng ?? Math.random;
		this.#lastModifiedMs = this.#now();
		this.#warmUpCompleted = deps.pool.warmUpSize <= 0;
	}

	// ------------------------------------------------------------------ public surface

	get inhibit(): InhibitState {
		return pruneInhibit(this.#inhibit, this.#now());
	}

	/** Cloud/ENI operations in flight. */
	get busy(): number {
		return this.#inflight.size;
	}

	get waiting(): number {
		return this.#waiting;
	}

	/** Network facts of an ENI (gateway, CIDR, link) once it has been brought up. */
	eniNet(eniId: string): EniNet | undefined {
		return this.#net.get(eniId);
	}

	/** Why allocation is currently refused, if it is. */
	inhibitSummary(): { reason: string; until: string } | undefined {
		const now = this.#now();
		const s = this.inhibit;
		const cands: { reason: string; until: number }[] = [];
		if ((s.allocInhibitUntilMs ?? 0) > now)
			cands.push({ reason: s.code ?? "QuotaExceeded", until: s.allocInhibitUntilMs! });
		if ((s.createInhibitUntilMs ?? 0) > now)
			cands.push({ reason: s.code ?? "EniPerInstanceLimitExceeded", until: s.createInhibitUntilMs! });
		const blocked = Object.entries(s.blockedVSwitches).filter(([, u]) => u > now);
		if (blocked.length > 0 && blocked.length >= this.node.vswitchIds.length)
			cands.push({
				reason: `InvalidVSwitchId.IpNotEnough (${blocked.map(([v]) => v).join(",")})`,
				until: Math.min(...blocked.map(([, u]) => u)),
			});
		const c = cands[0];
		return c ? { reason: c.reason, until: new Date(c.until).toISOString() } : undefined;
	}

	/** Forgets every back-off (an operator says the cause is fixed; tests). */
	clearInhibit(): void {
		this.#inhibit = emptyInhibit();
		this.#refusal = undefined;
		this.#vswitchesAt = 0;
		this.#d.onInhibit?.(this.inhibit);
		this.kick(0);
	}

	/** Wake the loop (after a release, a GC pass, a config tick). */
	kick(delayMs = this.#t.batchDelayMs): void {
		if (this.#stopped) return;
		const at = this.#now() + delayMs;
		if (this.#timer !== undefined && this.#timerAt <= at) return;
		if (this.#timer !== undefined) clearTimeout(this.#timer);
		this.#timerAt = at;
		this.#timer = setTimeout(() => {
			this.#timer = undefined;
			void this.#step();
		}, delayMs);
	}

	/** Aborted when the pool stops (reconcile and GC pass it to their cloud calls too). */
	get signal(): AbortSignal {
		return this.#abort.signal;
	}

	get stopped(): boolean {
		return this.#stopped;
	}

	/**
	 * Stops planning and starting work, wakes waiting allocations (they fail NotReady) and aborts
	 * the cloud/metadata calls in flight. An aborted mutation keeps its intent pending: its outcome
	 * is unknown, exactly as after a kill, and the next start replays it. Use {@link close} to also
	 * wait until that work has unwound (before the store is closed).
	 */
	stop(): void {
		if (this.#stopped) return;
		this.#stopped = true;
		if (this.#timer !== undefined) clearTimeout(this.#timer);
		this.#timer = undefined;
		this.#abort.abort(new PoolStoppedError("terwayd is shutting down"));
		this.#wakeAll();
	}

	/**
	 * {@link stop}, then waits (≤ timeoutMs) until no pool work is running, so nothing touches the
	 * store after the caller closes it. Resolves false if work was still running at the deadline.
	 */
	async close(timeoutMs = 10_000): Promise<boolean> {
		this.stop();
		const end = Date.now() + timeoutMs;
		while (this.#inflight.size > 0 || this.#stepping || this.#bringing.size > 0) {
			if (Date.now() >= end) {
				this.#log.warn(
					{ inflight: [...this.#inflight.keys()], bringing: [...this.#bringing] },
					"pool work still running at shutdown",
				);
				return false;
			}
			await Bun.sleep(5);
		}
		return true;
	}

	/** Resolves when nothing is in flight (tests, drain). */
	async idle(timeoutMs = 30_000): Promise<boolean> {
		const end = Date.now() + timeoutMs;
		while (Date.now() < end) {
			if (this.#inflight.size === 0 && this.#timer === undefined && !this.#stepping) return true;
			await Bun.sleep(10);
		}
		return false;
	}

	/**
	 * Gives `(pod, containerId)` an IP (v4, plus v6 when dual). Idempotent. Waits for the pool up to
	 * `allocWaitMs`; refuses with 507 IPExhausted (reason) or 503 NotReady (`warming`).
	 */
	async allocate(
		pod: PodRef,
		containerId: string,
		sandbox: { netns: string; ifname: string },
		warming: () => boolean,
	): Promise<{ allocation: Allocation; created: boolean }> {
		const want = { v4: true, v6: this.config.dual };
		const podKey = `${pod.namespace}/${pod.name}`;
		const pick = this.#pickFn(podKey);
		const datapath = this.mode === "exclusive" ? "exclusive" : this.#d.eniConf.datapath;
		const tryOnce = () => {
			try {
				return this.store.allocate(pod, containerId, want, pick, { ...sandbox, datapath });
			} catch (e) {
				if (isStoreError(e) && e.code === "CONFLICT") throw new ApiError("Conflict", e.message, { cause: e });
				throw e;
			}
		};
		const first = tryOnce();
		if (first.ok) return this.#allocated(first.allocation, first.created);
		const deadline = this.#now() + this.#t.allocWaitMs;
		const startedAt = this.#now();
		this.#waiting++;
		this.#d.metrics.waiters.set({}, this.#waiting);
		try {
			if (this.mode === "exclusive") this.#startExclusive(podKey);
			for (;;) {
				this.kick();
				await this.#waitChange(deadline);
				const r = tryOnce();
				if (r.ok) return this.#allocated(r.allocation, r.created);
				if (this.#stopped) throw new ApiError("NotReady", "terwayd is shutting down");
				const refusal = this.#refusal;
				if (refusal && refusal.at >= startedAt) throw new ApiError("IPExhausted", refusal.message);
				if (this.#now() >= deadline) {
					if (warming()) throw new ApiError("NotReady", "the IP pool is still warming up; retry");
					const inh = this.inhibitSummary();
					throw new ApiError(
						"IPExhausted",
						inh
							? `no IP available: allocation inhibited (${inh.reason}) until ${inh.until}`
							: `no IP became available within ${this.#t.allocWaitMs} ms`,
					);
				}
			}
		} finally {
			this.#waiting--;
			this.#d.metrics.waiters.set({}, this.#waiting);
		}
	}

	/** Ends allocations; exclusive mode also gives the pod's ENI back. */
	release(podKey: string, containerId?: string): Allocation[] {
		const released = this.store.release(podKey, containerId);
		if (released.length > 0) {
			this.#lastModifiedMs = this.#now();
			this.#inhibit = clearInsufficientIp(this.#inhibit);
			this.#d.onInhibit?.(this.inhibit);
			if (this.mode === "exclusive") {
				for (const a of released) {
					if (this.store.allocations().some((x) => x.eniId === a.eniId)) continue;
					this.#spawn(`delete:${a.eniId}`, { kind: "deleteEni", eniId: a.eniId }, () =>
						this.#deleteEni(a.eniId),
					);
				}
			}
			this.kick();
		}
		return released;
	}

	// ------------------------------------------------------------------ the loop

	snapshot(): PoolSnapshot {
		const enis = this.store.enis().filter((e) => e.type !== "primary" && e.eniId !== this.node.primaryEniId);
		const ipsBy = new Map<string, PoolEni["ips"]>();
		for (const ip of this.store.ips()) {
			let l = ipsBy.get(ip.eniId);
			if (!l) {
				l = [];
				ipsBy.set(ip.eniId, l);
			}
			l.push({
				ip: ip.ip,
				...(ip.family === 6 ? { ipv6: true } : {}),
				...(ip.primary ? { primary: true } : {}),
				state: ip.state,
				idleSinceMs: ip.idleSince ?? 0,
				...(ip.podKey ? { podId: ip.podKey } : {}),
			});
		}
		const pending: PendingOps = { assign: [], createEni: [], unassign: [], deleteEni: [] };
		for (const f of this.#inflight.values()) {
			const d = f.desc;
			if (d.kind === "assign")
				pending.assign.push({ eniId: d.eniId, count: d.count, ipv6Count: d.ipv6Count });
			else if (d.kind === "createEni")
				pending.createEni.push({ ipCount: d.ipCount, ipv6Count: d.ipv6Count, vswitchId: d.vswitchId });
			else if (d.kind === "unassign") pending.unassign.push({ eniId: d.eniId, ips: d.ips });
			else if (d.kind === "deleteEni") pending.deleteEni.push(d.eniId);
		}
		const busyEni = new Set(
			[...this.#inflight.values()].map((f) => f.eniId).filter((x): x is string => x !== undefined),
		);
		return {
			limits: this.limits,
			config: this.config,
			enis: enis.map((e) => ({
				eniId: e.eniId,
				ours: e.ours,
				...(e.type === "trunk" ? { trunk: true } : {}),
				...(e.type === "erdma" ? { erdma: true } : {}),
				status: storeToPoolStatus(e.status),
				vswitchId: e.vswitchId,
				ips: ipsBy.get(e.eniId) ?? [],
			})),
			inhibit: this.#inhibit,
			nowMs: this.#now(),
			pending: {
				...pending,
				// an ENI being brought up or replayed is busy for the planner too
				deleteEni: [
					...pending.deleteEni,
					...[...busyEni].filter(
						(id) =>
							!pending.deleteEni.includes(id) &&
							!pending.assign.some((a) => a.eniId === id) &&
							!pending.unassign.some((u) => u.eniId === id),
					),
				],
			},
			waiting: this.mode === "exclusive" ? 0 : this.#waiting,
			vswitches: this.#vswitches,
			lastModifiedMs: this.#lastModifiedMs,
			warmUpCompleted: this.#warmUpCompleted,
			...(this.#nextReclaimAtMs !== undefined ? { nextReclaimAtMs: this.#nextReclaimAtMs } : {}),
		};
	}

	async #step(): Promise<void> {
		if (this.#stopped || this.#stepping) return;
		this.#stepping = true;
		try {
			const now = this.#now();
			if (now < this.#retryAt) {
				this.kick(this.#retryAt - now);
				return;
			}
			await this.#refreshVSwitches();
			if (this.#stopped) return;
			// before resumeWork, which would bring an unwanted Available ENI up again
			if (this.mode === "exclusive") this.#reapExclusive();
			this.#resumeWork();
			if (this.mode === "exclusive") {
				this.#wakeAll();
				return;
			}
			const snap = this.snapshot();
			const actions = planPool(snap, this.#rng);
			this.#updateWarmUp(snap);
			let refusal: string | undefined;
			let nextWake: number | undefined;
			for (const a of actions) {
				const r = this.#execute(a);
				if (r?.refuse) refusal = r.refuse;
				if (r?.wakeAt !== undefined) nextWake = Math.min(nextWake ?? Number.POSITIVE_INFINITY, r.wakeAt);
			}
			if (refusal && this.#waiting > 0) {
				this.#refusal = { message: refusal, at: this.#now() };
				this.#wakeAll();
			}
			if (nextWake !== undefined) this.kick(Math.max(this.#t.batchDelayMs, nextWake - this.#now()));
			this.#publishMetrics();
		} catch (e) {
			this.#log.error({ err: e }, "pool step failed");
			this.#backoff();
		} finally {
			this.#stepping = false;
		}
	}

	#updateWarmUp(s: PoolSnapshot): void {
		if (this.#warmUpCompleted) return;
		const total = s.enis.reduce((n, e) => n + e.ips.filter((ip) => !ip.ipv6).length, 0);
		if (total >= this.config.warmUpSize) this.#warmUpCompleted = true;
	}

	#execute(a: PoolAction): { refuse?: string; wakeAt?: number } | undefined {
		switch (a.kind) {
			case "assign":
				this.#spawn(`assign:${a.eniId}`, a, () => this.#assign(a.eniId, a.count, a.ipv6Count), a.eniId);
				return undefined;
			case "createEni": {
				const key = `create:${randomUUID()}`;
				this.#spawn(key, a, async () => {
					await this.#createEni(a.ipCount, a.ipv6Count, a.vswitchId, undefined, key);
				});
				return undefined;
			}
			case "unassign":
				this.#startUnassign(a.eniId, a.ips);
				return undefined;
			case "deleteEni":
				if (this.#d.eniConf && !this.store.eni(a.eniId)?.ours) return undefined;
				this.#spawn(`delete:${a.eniId}`, a, () => this.#deleteEni(a.eniId), a.eniId);
				return undefined;
			case "waitInhibited": {
				const busy = [...this.#inflight.values()].some(
					(f) => f.desc.kind === "assign" || f.desc.kind === "createEni" || f.kind === "bringUp",
				);
				return {
					...(busy
						? {}
						: {
								refuse: `allocation inhibited (${this.#inhibit.code ?? a.reason}) until ${new Date(a.untilMs).toISOString()}`,
							}),
					wakeAt: a.untilMs,
				};
			}
			case "exhausted": {
				// refuse only once nothing in flight can still serve a waiter
				const busy = [...this.#inflight.values()].some(
					(f) => f.desc.kind === "assign" || f.desc.kind === "createEni" || f.kind === "bringUp",
				);
				if (busy) return undefined;
				return {
					refuse:
						a.reason === "EniLimitReached"
							? `the node is at its ENI/IP capacity (${this.capacity} IPs, ${this.config.maxEni} ENIs): EniLimitReached`
							: "no usable vSwitch for a new ENI (all exhausted or none configured): NoVSwitch",
				};
			}
		}
	}

	#spawn(key: string, desc: PendingOpDesc, fn: () => Promise<void>, eniId?: string): void {
		if (this.#stopped || this.#inflight.has(key)) return;
		this.#inflight.set(key, { kind: "replay", desc, ...(eniId ? { eniId } : {}) });
		void (async () => {
			try {
				await fn();
				this.#failures = 0;
			} catch (e) {
				this.#onFailure(e, desc);
			} finally {
				this.#inflight.delete(key);
				this.#wakeAll();
				if (!this.#stopped) this.kick();
			}
		})();
	}

	#onFailure(e: unknown, desc: PendingOpDesc): void {
		if (this.#stopped) {
			// aborted by the shutdown (or failed while it ran): no back-off, no inhibit
			this.#log.info({ op: desc.kind, err: errText(e) }, "pool operation cut short by shutdown");
			return;
		}
		const code = errCode(e);
		this.#log.warn({ err: e, code, op: desc.kind }, "pool operation failed");
		const vswitchId =
			desc.kind === "createEni"
				? desc.vswitchId
				: "eniId" in desc
					? this.store.eni(desc.eniId)?.vswitchId
					: undefined;
		const before = this.#inhibit;
		this.#inhibit = inhibitOnError(
			code,
			{ nowMs: this.#now(), ...(vswitchId ? { vswitchId } : {}) },
			this.#inhibit,
		);
		if (this.#inhibit !== before) {
			this.#d.metrics.inhibited.set({}, 1);
			this.#d.onInhibit?.(this.inhibit);
			// a blocked vSwitch shows 0 available until the cache refreshes
			if (vswitchId)
				this.#vswitches = this.#vswitches.map((v) =>
					v.vswitchId === vswitchId ? { ...v, availableIpCount: 0 } : v,
				);
		}
		if (isIpCountExceeded(e)) this.#log.warn({ code }, "ENI cannot take more addresses");
		this.#backoff();
	}

	#backoff(): void {
		this.#failures++;
		const d = Math.min(30_000, this.#t.retryDelayMs * 2 ** Math.min(6, this.#failures - 1));
		this.#retryAt = this.#now() + d;
		this.kick(d);
	}

	#waitChange(deadline: number): Promise<void> {
		return new Promise((resolve) => {
			const ms = Math.max(0, deadline - this.#now());
			const w: Waiter = {
				wake: () => {
					clearTimeout(t);
					this.#waiters.delete(w);
					resolve();
				},
			};
			const t = setTimeout(() => w.wake(), ms);
			this.#waiters.add(w);
		});
	}

	#wakeAll(): void {
		for (const w of [...this.#waiters]) w.wake();
	}

	#allocated(allocation: Allocation, created: boolean): { allocation: Allocation; created: boolean } {
		if (created) {
			this.#lastModifiedMs = this.#now();
			if (this.config.idleReclaimAfterMs !== undefined)
				this.#nextReclaimAtMs = nextReclaimAt(
					this.#now() + this.config.idleReclaimAfterMs,
					this.#d.eniConf.idleIpReclaimIntervalMs,
					this.#d.eniConf.idleIpReclaimJitterFactor,
					this.#rng,
				);
			this.kick();
		}
		return { allocation, created };
	}

	/** core/ipam `pickIpForPod` over the store's candidates (exclusive: the pod's own ENI's primary). */
	#pickFn(podKey: string): PickFn {
		return (cands: Candidate[], want) => {
			if (this.mode === "exclusive") {
				const eniId = this.#exclusiveFor.get(podKey);
				const c = cands.find((x) => x.eniId === eniId);
				if (!c) return null;
				const v4 = c.v4.find((ip) => ip.primary) ?? c.v4[0];
				const v6 = c.v6[0];
				if (!v4 || (want.v6 && !v6)) return null;
				return { ipv4: v4.ip, ipv6: want.v6 ? (v6?.ip ?? null) : null };
			}
			const enis: PoolEni[] = cands.map((c) => ({
				eniId: c.eniId,
				status: "inUse",
				vswitchId: "",
				ips: [
					...c.v4.map((ip) => ({
						ip: ip.ip,
						state: ip.state,
						idleSinceMs: ip.idleSince ?? 0,
						...(ip.primary ? { primary: true } : {}),
					})),
					...c.v6.map((ip) => ({ ip: ip.ip, ipv6: true, state: ip.state, idleSinceMs: ip.idleSince ?? 0 })),
				],
			}));
			// exclusive ENIs reserved for other pods are not shared
			const reserved = new Set(this.#exclusiveFor.values());
			const choice = pickIpForPod(
				enis.filter((e) => !reserved.has(e.eniId)),
				{ policy: this.config.eniSelectionPolicy, dual: want.v6 },
			);
			if (!choice) return null;
			return { ipv4: want.v4 ? choice.ipv4 : null, ipv6: want.v6 ? (choice.ipv6 ?? null) : null };
		};
	}

	async #refreshVSwitches(force = false): Promise<void> {
		if (!force && this.#now() - this.#vswitchesAt < this.#t.vswitchCacheMs && this.#vswitches.length > 0)
			return;
		try {
			const got = await this.#timed("DescribeVSwitches", () =>
				this.#d.ecs.describeVSwitches(this.node.vswitchIds, { signal: this.#abort.signal }),
			);
			const by = new Map(got.map((v) => [v.vswitchId, v]));
			this.#vswitches = this.node.vswitchIds
				.filter((id) => by.has(id))
				.map((id) => ({ vswitchId: id, availableIpCount: by.get(id)!.availableIpCount }));
			this.#vswitchesAt = this.#now();
			for (const id of this.node.vswitchIds)
				if (!by.has(id)) this.#log.warn({ vswitchId: id }, "configured vSwitch not found");
		} catch (e) {
			this.#log.warn({ err: e }, "DescribeVSwitches failed; keeping the cached list");
			if (this.#vswitches.length === 0)
				this.#vswitches = this.node.vswitchIds.map((id) => ({ vswitchId: id, availableIpCount: 1 << 20 }));
		}
	}

	/** Pending intents not in flight are replayed; ours ENIs not yet InUse are brought up. */
	#resumeWork(): void {
		this.#releaseStrandedReservations();
		for (const it of this.store.pendingIntents()) {
			const key = `intent:${it.id}`;
			if ([...this.#inflight.keys()].some((k) => k === key) || this.#ownedIntents.has(it.id)) continue;
			const p = it.params as { eniId?: string };
			this.#spawn(key, { kind: "other" }, () => this.#replay(it), p.eniId);
		}
		for (const e of this.store.enis()) {
			if (!e.ours && e.status === "InUse") continue;
			if (e.type === "primary" || e.eniId === this.node.primaryEniId) continue;
			if (
				e.status === "Available" ||
				e.status === "Attaching" ||
				(e.status === "InUse" && !this.#net.has(e.eniId))
			) {
				if (this.#busyEni(e.eniId)) continue;
				this.#spawn(`bringup:${e.eniId}`, { kind: "other" }, () => this.bringUp(e.eniId), e.eniId);
			}
		}
		for (const e of this.store.enis()) {
			if (e.status === "InUse" && !e.ours && !this.#net.has(e.eniId) && !this.#busyEni(e.eniId))
				this.#spawn(`bringup:${e.eniId}`, { kind: "other" }, () => this.bringUp(e.eniId), e.eniId);
		}
	}

	/**
	 * IPs reserved (`releasing`) by an intent are freed by that intent's end. A crash between two
	 * journaled steps (a detach done, the delete not yet begun) leaves them reserved with no intent
	 * to finish them, and the ENI is brought up again: nothing would ever pick or remove those IPs.
	 * With no pending intent and no work on their ENI, they are idle again.
	 */
	#releaseStrandedReservations(): void {
		const pending = new Set(this.store.pendingIntents().map((i) => (i.params as { eniId?: string }).eniId));
		for (const e of this.store.enis()) {
			if (pending.has(e.eniId) || this.#busyEni(e.eniId)) continue;
			const stranded = this.store.ips({ eniId: e.eniId, state: "releasing" }).map((r) => r.ip);
			if (stranded.length === 0) continue;
			this.store.markIdle(stranded);
			this.#log.warn(
				{ eniId: e.eniId, ips: stranded },
				"IPs reserved by no pending intent (a crash between two steps): idle again",
			);
		}
	}

	/** Work is in flight on this ENI (reconcile leaves it alone). */
	isBusy(eniId: string): boolean {
		return this.#busyEni(eniId);
	}

	#busyEni(eniId: string): boolean {
		if (this.#bringing.has(eniId)) return true;
		for (const f of this.#inflight.values()) if (f.eniId === eniId) return true;
		return false;
	}

	/** Intent ids whose call is running in this process right now (not to be replayed). */
	readonly #ownedIntents = new Set<number>();

	#begin<O extends IntentOp>(op: O, params: IntentParams[O], token: string | null): number {
		const id = this.store.beginIntent(op, params, token);
		this.#ownedIntents.add(id);
		return id;
	}

	#done(id: number): void {
		this.#ownedIntents.delete(id);
	}

	/**
	 * Records a failure: retryable (outcome unknown) → stays pending for replay; else final. A call
	 * aborted by the shutdown may have reached the cloud: it stays pending too.
	 */
	#fail(id: number, e: unknown): void {
		this.#done(id);
		if (this.#abort.signal.aborted) return;
		try {
			if (this.store.intent(id)?.state !== "pending") return;
			const ambiguous = isRetryable(e) || errCode(e) === "WaitTimeout";
			this.store.failIntent(id, errText(e), !ambiguous);
		} catch (err) {
			this.#log.error({ err, intent: id }, "could not record the failure of an intent");
		}
	}

	async #timed<T>(api: string, fn: () => Promise<T>): Promise<T> {
		const t0 = performance.now();
		try {
			const r = await fn();
			this.#d.metrics.openapiLatency.observe({ api, error: "" }, performance.now() - t0);
			this.#d.metrics.openapiCalls.inc({ api, result: "ok" });
			return r;
		} catch (e) {
			this.#d.metrics.openapiLatency.observe({ api, error: errCode(e) }, performance.now() - t0);
			this.#d.metrics.openapiCalls.inc({ api, result: errCode(e) });
			throw e;
		}
	}

	async #waitMeta(what: string, fn: () => Promise<void>): Promise<void> {
		const t0 = performance.now();
		try {
			await fn();
			this.#d.metrics.metadataLatency.observe({ url: what, error: "" }, performance.now() - t0);
		} catch (e) {
			this.#d.metrics.metadataLatency.observe({ url: what, error: errCode(e) }, performance.now() - t0);
			if (this.#abort.signal.aborted) return;
			this.#log.warn({ err: e, what }, "metadata did not catch up in time; going on with the cloud's answer");
		}
	}

	// ------------------------------------------------------------------ actions

	async #assign(eniId: string, count: number, ipv6Count: number): Promise<void> {
		const eni = this.store.eni(eniId);
		if (!eni) return;
		if (count > 0) await this.#assignFamily(eni, 4, count);
		if (ipv6Count > 0) await this.#assignFamily(eni, 6, ipv6Count);
	}

	async #assignFamily(eni: Eni, family: 4 | 6, count: number, replay?: Intent): Promise<void> {
		const op = family === 4 ? "assignIpv4" : "assignIpv6";
		const token = replay?.clientToken ?? `tw-${randomUUID()}`;
		const id = replay ? replay.id : this.#begin(op, { eniId: eni.eniId, count }, token);
		if (replay) this.#ownedIntents.add(id);
		let ips: string[];
		try {
			ips = await this.#timed(family === 4 ? "AssignPrivateIpAddresses" : "AssignIpv6Addresses", () =>
				family === 4
					? this.#d.ecs.assignIpv4(eni.eniId, count, { clientToken: token, signal: this.#abort.signal })
					: this.#d.ecs.assignIpv6(eni.eniId, count, { clientToken: token, signal: this.#abort.signal }),
			);
		} catch (e) {
			this.#fail(id, e);
			throw e;
		}
		await this.#waitMeta("private-ipv4s", () =>
			this.#d.metadata.waitForIps(eni.mac, ips, "present", {
				timeoutMs: this.#t.metadataWaitMs,
				signal: this.#abort.signal,
			}),
		);
		this.store.completeIntent(id, { ips });
		this.#done(id);
		this.#d.metrics.ipAllocCount.inc({}, ips.length);
		this.#log.info({ eniId: eni.eniId, family, ips }, "assigned IPs");
	}

	async #createEni(
		ipCount: number,
		ipv6Count: number,
		vswitchId: string,
		replay?: Intent<"createEni">,
		key?: string,
	): Promise<string | undefined> {
		const spec: CreateEniSpec = replay
			? ((replay.params as { spec?: CreateEniSpec }).spec as CreateEniSpec)
			: {
					vswitchId,
					securityGroupIds: this.node.securityGroupIds,
					ipv4Count: ipCount,
					ipv6Count,
					tags: {
						...this.#d.eniConf.eniTags,
						[TAG_CREATOR]: TAG_CREATOR_VALUE,
						[TAG_INSTANCE]: this.node.instanceId,
					},
					description: "interface create by terway",
					...(this.#d.eniConf.resourceGroupId ? { resourceGroupId: this.#d.eniConf.resourceGroupId } : {}),
				};
		const token = replay?.clientToken ?? `tw-${randomUUID()}`;
		const id = replay
			? replay.id
			: this.#begin(
					"createEni",
					{
						vswitchId,
						type: "secondary",
						securityGroupIds: spec.securityGroupIds,
						ipv4Count: Math.max(0, ipCount - 1),
						ipv6Count,
						spec,
					},
					token,
				);
		if (replay) this.#ownedIntents.add(id);
		let eni: CloudEni;
		try {
			eni = await this.#timed("CreateNetworkInterface", () =>
				this.#d.ecs.createEni(spec, { clientToken: token, signal: this.#abort.signal }),
			);
		} catch (e) {
			this.#fail(id, e);
			throw e;
		}
		this.store.completeIntent(id, {
			eniId: eni.eniId,
			mac: eni.mac,
			vswitchId: eni.vswitchId,
			primaryIp: eni.primaryIp,
			ipv4: eni.ipv4s.filter((ip) => ip !== eni.primaryIp),
			ipv6: eni.ipv6s,
			status: "Available",
		});
		this.#done(id);
		this.#d.metrics.ipAllocCount.inc({}, eni.ipv4s.length);
		this.#log.info(
			{ eniId: eni.eniId, mac: eni.mac, vswitchId: eni.vswitchId, ips: eni.ipv4s },
			"created ENI",
		);
		// from here the store holds the ENI (attaching): the planner must not count it twice
		const f = key ? this.#inflight.get(key) : undefined;
		if (f) this.#inflight.set(key as string, { kind: "bringUp", eniId: eni.eniId, desc: { kind: "other" } });
		await this.bringUp(eni.eniId);
		return eni.eniId;
	}

	/**
	 * Attach (if needed) → wait InUse → wait metadata for the MAC and IPs → ensure the Linux link →
	 * mark InUse in the store (only then are its IPs handed out). Idempotent; resumes after a crash.
	 */
	async bringUp(eniId: string): Promise<void> {
		if (this.#bringing.has(eniId)) return;
		this.#bringing.add(eniId);
		try {
			await this.#bringUp(eniId);
		} finally {
			this.#bringing.delete(eniId);
		}
	}

	readonly #bringing = new Set<string>();

	async #bringUp(eniId: string): Promise<void> {
		const e = this.store.eni(eniId);
		if (!e) return;
		const cloud = await this.#timed("DescribeNetworkInterfaces", () =>
			this.#d.ecs.describeEni(eniId, { signal: this.#abort.signal }),
		);
		if (!cloud) {
			this.#log.warn({ eniId }, "ENI vanished from the cloud; forgetting it");
			this.#forgetEni(eniId, "the ENI no longer exists in the cloud");
			return;
		}
		if (cloud.instanceId && cloud.instanceId !== this.node.instanceId) {
			this.#log.warn(
				{ eniId, instanceId: cloud.instanceId },
				"ENI is attached to another instance; forgetting it",
			);
			this.#forgetEni(eniId, `the ENI is attached to ${cloud.instanceId}`);
			return;
		}
		if (cloud.status === "Available") {
			const id = this.#begin("attachEni", { eniId, instanceId: this.node.instanceId }, null);
			try {
				await this.#timed("AttachNetworkInterface", () =>
					this.#d.ecs.attachEni(eniId, this.node.instanceId, { signal: this.#abort.signal }),
				);
			} catch (err) {
				this.#fail(id, err);
				throw err;
			}
			this.store.completeIntent(id, { status: "Attaching" });
			this.#done(id);
		}
		if (cloud.status !== "InUse") {
			await this.#timed("WaitENIStatus", () =>
				this.#d.ecs.waitEniStatus(eniId, "InUse", { signal: this.#abort.signal }),
			);
		}
		const ips4 = this.store.ips({ eniId, family: 4 }).map((r) => r.ip);
		const ips6 = this.store.ips({ eniId, family: 6 }).map((r) => r.ip);
		await this.#waitMeta("network/interfaces/macs", () =>
			this.#d.metadata.waitForMac(e.mac, { timeoutMs: this.#t.metadataWaitMs, signal: this.#abort.signal }),
		);
		await this.#waitMeta("private-ipv4s", () =>
			this.#d.metadata.waitForIps(e.mac, [...ips4, ...ips6], "present", {
				timeoutMs: this.#t.metadataWaitMs,
				signal: this.#abort.signal,
			}),
		);
		await this.ensureNet(eniId);
		if (this.store.eni(eniId)?.status !== "InUse") this.store.setEniStatus(eniId, "InUse");
		this.#log.info({ eniId, mac: e.mac, link: this.#net.get(eniId)?.link.link }, "ENI in use");
	}

	/** Reads the ENI's gateway/CIDR from metadata and ensures its Linux link. */
	async ensureNet(eniId: string): Promise<EniNet> {
		const e = this.store.eni(eniId);
		if (!e) throw new Error(`no ENI ${eniId}`);
		const md = await this.#d.metadata.eni(e.mac, { signal: this.#abort.signal });
		const link = await this.#d.links.ensure(
			{
				eniId,
				mac: e.mac,
				primaryIp: e.primaryIp ?? md.primaryIp,
				gateway: md.gateway,
				cidr: md.cidr,
				...(this.node.primaryIp ? { addrIp: this.node.primaryIp } : {}),
			},
			this.#t.linkWaitMs,
			this.#abort.signal,
		);
		const net: EniNet = {
			gateway: md.gateway,
			cidr: md.cidr,
			...(md.ipv6Gateway ? { ipv6Gateway: md.ipv6Gateway } : {}),
			...(md.ipv6Cidr ? { ipv6Cidr: md.ipv6Cidr } : {}),
			link,
		};
		this.#net.set(eniId, net);
		return net;
	}

	#startUnassign(eniId: string, ips: string[]): void {
		const eni = this.store.eni(eniId);
		if (!eni) return;
		const v4 = ips.filter((ip) => !ip.includes(":"));
		const v6 = ips.filter((ip) => ip.includes(":"));
		const ids: { id: number; family: 4 | 6; ips: string[] }[] = [];
		try {
			for (const [family, list] of [
				[4, v4],
				[6, v6],
			] as const) {
				if (list.length === 0) continue;
				const rec = this.store.ips({ eniId, family });
				// already releasing ones (from a cancelled shrink) are fine; allocated ones are not
				const usable = list.filter((ip) => rec.find((r) => r.ip === ip && r.state !== "allocated"));
				if (usable.length === 0) continue;
				const id = this.#begin(family === 4 ? "unassignIpv4" : "unassignIpv6", { eniId, ips: usable }, null);
				ids.push({ id, family, ips: usable });
			}
		} catch (e) {
			this.#log.debug({ err: e, eniId }, "unassign skipped (an IP was taken meanwhile)");
			for (const x of ids) {
				this.store.rollbackIntent(x.id);
				this.#done(x.id);
			}
			return;
		}
		if (ids.length === 0) return;
		this.#spawn(
			`unassign:${eniId}`,
			{ kind: "unassign", eniId, ips: ids.flatMap((x) => x.ips) },
			async () => {
				for (const x of ids) await this.#unassign(eni, x.family, x.ips, x.id);
			},
			eniId,
		);
	}

	async #unassign(eni: Eni, family: 4 | 6, ips: string[], id: number): Promise<void> {
		try {
			await this.#timed(family === 4 ? "UnassignPrivateIpAddresses" : "UnassignIpv6Addresses", () =>
				family === 4
					? this.#d.ecs.unassignIpv4(eni.eniId, ips, { signal: this.#abort.signal })
					: this.#d.ecs.unassignIpv6(eni.eniId, ips, { signal: this.#abort.signal }),
			);
		} catch (e) {
			this.#fail(id, e);
			throw e;
		}
		await this.#waitMeta("private-ipv4s", () =>
			this.#d.metadata.waitForIps(eni.mac, ips, "absent", {
				timeoutMs: this.#t.metadataWaitMs,
				signal: this.#abort.signal,
			}),
		);
		this.store.completeIntent(id, {});
		this.#done(id);
		this.#d.metrics.poolDisposed.inc(
			{ type: "LocalIP", ipStack: family === 4 ? "ipv4" : "ipv6" },
			ips.length,
		);
		this.#log.info({ eniId: eni.eniId, ips }, "unassigned IPs");
	}

	/** Detach → wait Available → Delete → wait gone, each journaled. Only ENIs we created. */
	async #deleteEni(eniId: string): Promise<void> {
		const eni = this.store.eni(eniId);
		if (!eni?.ours) return;
		const net = this.#net.get(eniId);
		if (eni.status !== "Available") {
			const id = this.#begin("detachEni", { eniId, instanceId: this.node.instanceId }, null);
			try {
				await this.#timed("DetachNetworkInterface", () =>
					this.#d.ecs.detachEni(eniId, this.node.instanceId, { signal: this.#abort.signal }),
				);
				await this.#timed("WaitENIStatus", () =>
					this.#d.ecs.waitEniStatus(eniId, "Available", { backoff: "ENIOps", signal: this.#abort.signal }),
				);
			} catch (e) {
				this.#fail(id, e);
				throw e;
			}
			this.store.completeIntent(id, { status: "Available" });
			this.#done(id);
		}
		if (eni.primaryIp)
			this.#d.links.remove({ primaryIp: eni.primaryIp, ...(net ? { table: net.link.table } : {}) });
		this.#net.delete(eniId);
		await this.#deleteOnly(eniId);
	}

	async #deleteOnly(eniId: string, replay?: Intent): Promise<void> {
		const id = replay ? replay.id : this.#begin("deleteEni", { eniId }, null);
		if (replay) this.#ownedIntents.add(id);
		try {
			await this.#timed("DeleteNetworkInterface", () =>
				this.#d.ecs.deleteEni(eniId, { signal: this.#abort.signal }),
			);
			await this.#timed("WaitENIStatus", () =>
				this.#d.ecs.waitEniStatus(eniId, "absent", {
					backoff: "ENIDeleteConfirm",
					signal: this.#abort.signal,
				}),
			);
		} catch (e) {
			this.#fail(id, e);
			throw e;
		}
		this.store.completeIntent(id, {});
		this.#done(id);
		this.#d.metrics.poolDisposed.inc({ type: "ENI", ipStack: "ipv4" });
		this.#log.info({ eniId }, "deleted ENI");
	}

	/** GC: delete an ENI that is ours (tagged) and unknown to the store (a leftover). */
	async deleteOrphan(eniId: string): Promise<void> {
		const cloud = await this.#d.ecs.describeEni(eniId, { signal: this.#abort.signal });
		if (!cloud) return;
		if (cloud.tags[TAG_CREATOR] !== TAG_CREATOR_VALUE || cloud.tags[TAG_INSTANCE] !== this.node.instanceId)
			return;
		if (cloud.instanceId === this.node.instanceId) {
			const id = this.#begin("detachEni", { eniId, instanceId: this.node.instanceId }, null);
			try {
				await this.#d.ecs.detachEni(eniId, this.node.instanceId, { signal: this.#abort.signal });
				await this.#d.ecs.waitEniStatus(eniId, "Available", {
					backoff: "ENIOps",
					signal: this.#abort.signal,
				});
			} catch (e) {
				this.#fail(id, e);
				throw e;
			}
			this.store.completeIntent(id, { status: "Available" });
			this.#done(id);
		} else if (cloud.instanceId) return;
		await this.#deleteOnly(eniId);
	}

	#forgetEni(eniId: string, why: string): void {
		for (const a of this.store.allocations().filter((x) => x.eniId === eniId)) {
			this.#log.error({ podKey: a.podKey, eniId, why }, "releasing an allocation whose ENI is gone");
			this.store.release(a.podKey, a.containerId);
		}
		this.store.removeEni(eniId);
		this.#net.delete(eniId);
	}

	// ------------------------------------------------------------------ exclusive ENI

	#startExclusive(podKey: string): void {
		if (this.#exclusiveFor.has(podKey)) return;
		const vsw = this.#vswitches.find((v) => !(this.#inhibit.blockedVSwitches[v.vswitchId]! > this.#now()));
		const vswitchId = vsw?.vswitchId ?? this.node.vswitchIds[0];
		if (!vswitchId) {
			this.#refusal = { message: "no usable vSwitch for a new ENI: NoVSwitch", at: this.#now() };
			return;
		}
		const enis = this.store.enis().filter((e) => e.type !== "primary").length + this.#exclusiveFor.size;
		if (enis >= this.config.maxEni) {
			this.#refusal = {
				message: `the node is at its ENI limit (${this.config.maxEni} ENIs): EniLimitReached`,
				at: this.#now(),
			};
			return;
		}
		this.#exclusiveFor.set(podKey, "");
		this.#spawn(
			`excl:${podKey}`,
			{ kind: "createEni", ipCount: 1, ipv6Count: this.config.dual ? 1 : 0, vswitchId },
			async () => {
				try {
					const eniId = await this.#createEni(1, this.config.dual ? 1 : 0, vswitchId);
					if (eniId) this.#exclusiveFor.set(podKey, eniId);
				} catch (e) {
					this.#exclusiveFor.delete(podKey);
					this.#refusal = {
						message: `could not create an ENI for ${podKey}: ${errText(e)}`,
						at: this.#now(),
					};
					throw e;
				}
			},
		);
	}

	/**
	 * Exclusive mode: deletes our ENIs that no pod holds or awaits (a release whose delete failed,
	 * an ENI made for a pod that never took it before a restart). Without this a failed delete was
	 * never retried and the ENI counted against the node's ENI limit for good.
	 */
	#reapExclusive(): void {
		const held = new Set(this.store.allocations().map((a) => a.eniId));
		const reserved = new Set(this.#exclusiveFor.values());
		const pending = new Set(this.store.pendingIntents().map((i) => (i.params as { eniId?: string }).eniId));
		for (const e of this.store.enis()) {
			if (e.type === "primary" || e.eniId === this.node.primaryEniId || !e.ours) continue;
			if (e.status !== "InUse" && e.status !== "Available") continue; // being brought up or gone
			if (held.has(e.eniId) || reserved.has(e.eniId) || pending.has(e.eniId) || this.#busyEni(e.eniId))
				continue;
			this.#spawn(
				`delete:${e.eniId}`,
				{ kind: "deleteEni", eniId: e.eniId },
				() => this.#deleteEni(e.eniId),
				e.eniId,
			);
		}
	}

	/** Exclusive mode: forget the reservation once the pod holds the ENI. */
	settleExclusive(podKey: string): void {
		this.#exclusiveFor.delete(podKey);
	}

	// ------------------------------------------------------------------ replay

	/** Finishes or rolls back one pending intent (startup, or an earlier ambiguous failure). */
	async #replay(it: Intent): Promise<void> {
		this.#ownedIntents.add(it.id);
		try {
			await this.#replayInner(it);
		} finally {
			this.#ownedIntents.delete(it.id);
		}
	}

	async #replayInner(it: Intent): Promise<void> {
		const log = this.#log.child({ intent: it.id, op: it.op });
		const p = it.params as { eniId?: string; ips?: string[] };
		switch (it.op) {
			case "createEni": {
				const params = it.params as IntentParams["createEni"];
				if (!(params as { spec?: unknown }).spec) {
					this.store.rollbackIntent(it.id);
					return;
				}
				log.info({}, "replaying CreateNetworkInterface with its ClientToken");
				await this.#createEni(
					params.ipv4Count + 1,
					params.ipv6Count,
					params.vswitchId,
					it as Intent<"createEni">,
				);
				return;
			}
			case "assignIpv4":
			case "assignIpv6": {
				const eni = this.store.eni(p.eniId!);
				if (!eni) {
					this.store.failIntent(it.id, "ENI no longer known", true);
					return;
				}
				log.info({ eniId: eni.eniId }, "replaying an assign with its ClientToken");
				try {
					await this.#assignFamily(
						eni,
						it.op === "assignIpv4" ? 4 : 6,
						(it.params as { count: number }).count,
						it,
					);
				} catch (e) {
					if (isNotFound(e) && this.store.intent(it.id)?.state === "pending")
						this.store.failIntent(it.id, errText(e), true);
					throw e;
				}
				return;
			}
			case "attachEni": {
				const cloud = await this.#d.ecs.describeEni(p.eniId!, { signal: this.#abort.signal });
				if (
					cloud &&
					cloud.instanceId === this.node.instanceId &&
					(cloud.status === "InUse" || cloud.status === "Attaching")
				) {
					this.store.completeIntent(it.id, { status: "Attaching" });
				} else {
					this.store.rollbackIntent(it.id);
					if (!cloud) this.#forgetEni(p.eniId!, "the ENI no longer exists in the cloud");
				}
				return;
			}
			case "detachEni": {
				const cloud = await this.#d.ecs.describeEni(p.eniId!, { signal: this.#abort.signal });
				if (!cloud || cloud.status === "Available" || cloud.status === "Detaching") {
					if (cloud?.status === "Detaching")
						await this.#d.ecs.waitEniStatus(p.eniId!, "Available", {
							backoff: "ENIOps",
							signal: this.#abort.signal,
						});
					this.store.completeIntent(it.id, { status: "Available" });
					if (!cloud) this.#forgetEni(p.eniId!, "the ENI no longer exists in the cloud");
					else if (this.store.eni(p.eniId!)?.ours) await this.#deleteOnly(p.eniId!);
				} else {
					this.store.rollbackIntent(it.id);
				}
				return;
			}
			case "deleteEni": {
				const cloud = await this.#d.ecs.describeEni(p.eniId!, { signal: this.#abort.signal });
				if (!cloud) {
					this.store.completeIntent(it.id, {});
					return;
				}
				if (cloud.status === "Available" || cloud.status === "Deleting") {
					await this.#deleteOnly(p.eniId!, it);
					return;
				}
				this.store.rollbackIntent(it.id);
				return;
			}
			case "unassignIpv4":
			case "unassignIpv6": {
				const cloud = await this.#d.ecs.describeEni(p.eniId!, { signal: this.#abort.signal });
				const have = new Set([...(cloud?.ipv4s ?? []), ...(cloud?.ipv6s ?? [])]);
				const still = (p.ips ?? []).filter((ip) => have.has(ip));
				if (!cloud || still.length === 0) {
					this.store.completeIntent(it.id, {});
					return;
				}
				const eni = this.store.eni(p.eniId!);
				if (!eni) {
					this.store.rollbackIntent(it.id);
					return;
				}
				this.#ownedIntents.add(it.id);
				await this.#unassign(eni, it.op === "unassignIpv4" ? 4 : 6, p.ips ?? [], it.id);
				return;
			}
		}
	}

	// ------------------------------------------------------------------ metrics

	#publishMetrics(): void {
		const m = this.#d.metrics;
		const st = this.store.stats();
		const stack = this.config.dual ? "dual" : "ipv4";
		const v4 = st.ips.v4;
		m.poolTotal.set({ type: "LocalIP", ipStack: stack }, v4.idle + v4.allocated + v4.releasing);
		m.poolIdle.set({ type: "LocalIP", ipStack: stack }, v4.idle);
		m.eniCount.set({}, this.store.enis().filter((e) => e.type !== "primary").length);
		m.ipCount.set({}, v4.idle + v4.allocated + v4.releasing);
		m.inhibited.set({}, this.inhibitSummary() ? 1 : 0);
	}

	/** Replays pending intents and brings up half-made ENIs; resolves when that work is done. */
	async resume(timeoutMs = 120_000): Promise<void> {
		this.#resumeWork();
		await this.idle(timeoutMs);
	}

	/** Cloud view of one ENI (mapping/GC). */
	describe(eniId: string): Promise<CloudEni | undefined> {
		return this.#d.ecs.describeEni(eniId, { signal: this.#abort.signal });
	}
}
