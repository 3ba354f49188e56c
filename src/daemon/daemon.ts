/**
 * @module daemon/daemon
 *
 * terwayd assembled: startup (store → replay/roll back intents → reconcile with the cloud and
 * metadata → serve → warm up to min_pool_size), the API operations behind the socket, the GC
 * loop and the Kubernetes hooks. Dependencies are injected (tests run it against the loopback
 * sim); `cli/commands/daemon/run.ts` wires the real ones.
 */
import { existsSync } from "node:fs";
import type { EcsApi, MetadataApi } from "../cloud/types.ts";
import type { EniConfig } from "../core/config/types.ts";
import { capacity as capacityOf, maxEniFor, poolConfigFrom } from "../core/ipam/capacity.ts";
import { sufficientIpCondition } from "../core/ipam/inhibit.ts";
import type { InhibitState, Limits } from "../core/ipam/types.ts";
import type {
	AllocRequest,
	AllocResponse,
	EniInfo,
	GcReport,
	MappingRow,
	PolicyResponse,
	PoolSummary,
	ReleaseRequest,
	ReleaseResponse,
	StatusResponse,
} from "./api-types.ts";
import { ApiError } from "./errors.ts";
import { KeyedLock } from "./keyed-lock.ts";
import type { KubeHooks } from "./kube.ts";
import type { EniLinks } from "./links.ts";
import type { Logger } from "./log.ts";
import { DaemonMetrics } from "./metrics.ts";
import { applyPendingReleases } from "./pending-releases.ts";
import type { PolicyPort } from "./policy-agent.ts";
import { type NodeInfo, PoolManager, type PoolTuning } from "./pool.ts";
import { reconcile } from "./reconcile.ts";
import { type Allocation, podKeyOf, type Store } from "./store/index.ts";

export const VERSION_FALLBACK = "0.0.0";

export type DaemonOptions = {
	store: Store;
	ecs: EcsApi;
	metadata: MetadataApi;
	links: EniLinks;
	log: Logger;
	eniConf: EniConfig;
	nodeName: string;
	/** Overrides of what metadata says (standalone config). */
	instance?: { instanceId?: string; instanceType?: string; zoneId?: string };
	/** Exclusive ENI mode (node label or config). */
	exclusive?: boolean;
	kube?: KubeHooks;
	/** NetworkPolicy enforcement (policy-agent.ts); absent = off. */
	policy?: PolicyPort;
	tuning?: Partial<PoolTuning>;
	/** GC period (default 5 min, Terway). 0 = only on demand. */
	gcPeriodMs?: number;
	/** Pool sync / reconcile period (default eni_conf ip_pool_sync_period). */
	syncPeriodMs?: number;
	/** Standalone GC: does this netns path still exist? */
	netnsExists?: (path: string) => boolean;
	/** The CNI plugin's journal of releases made while terwayd was unreachable (applied at start and GC). */
	releaseJournal?: string;
	version?: string;
	now?: () => number;
	rng?: () => number;
};

type Phase = StatusResponse["phase"];

export class Daemon {
	readonly metrics = new DaemonMetrics();
	readonly #o: DaemonOptions;
	readonly #log: Logger;
	readonly #locks = new KeyedLock();
	readonly #startedAt = Date.now();
	#phase: Phase = "starting";
	#pool: PoolManager | undefined;
	#node: NodeInfo | undefined;
	#timers: ReturnType<typeof setInterval>[] = [];
	#inflight = 0;
	#drained: (() => void) | undefined;
	#gcRunning: Promise<GcReport> | undefined;
	/** Loop work not tied to a request (periodic GC, periodic reconcile); awaited by {@link stop}. */
	readonly #background = new Set<Promise<unknown>>();
	#stopping: Promise<void> | undefined;

	constructor(opts: DaemonOptions) {
		this.#o = opts;
		this.#log = opts.log;
	}

	get phase(): Phase {
		return this.#phase;
	}

	get pool(): PoolManager {
		if (!this.#pool) throw new ApiError("NotReady", "terwayd is starting");
		return this.#pool;
	}

	/**
	 * Startup up to "serving": instance facts, limits, replay of unfinished intents, reconcile.
	 * The caller starts the API server after this, then calls {@link warmUp}.
	 */
	async start(): Promise<void> {
		const { ecs, metadata, eniConf } = this.#o;
		const log = this.#log;
		const instanceId = this.#o.instance?.instanceId ?? (await metadata.instanceId());
		const instanceType = this.#o.instance?.instanceType ?? (await metadata.instanceType());
		const zoneId = this.#o.instance?.zoneId ?? (await metadata.zoneId());
		const cloudLimits = await ecs.instanceLimits(instanceType);
		const limits: Limits = {
			adapters: cloudLimits.adapters,
			ipv4PerAdapter: cloudLimits.ipv4PerAdapter,
			ipv6PerAdapter: cloudLimits.ipv6PerAdapter,
		};
		const mode = this.#o.exclusive ? "exclusive" : "shared";
		const derived = poolConfigFrom(eniConf, limits, mode);
		for (const w of derived.warnings) log.warn({}, w);
		const primary = (await ecs.describeEnis({ instanceId, type: "Primary" }))[0];
		let vswitchIds = eniConf.vswitches[zoneId] ?? [];
		if (vswitchIds.length === 0) vswitchIds = [await metadata.vswitchId()];
		const securityGroupIds =
			eniConf.securityGroups.length > 0 ? eniConf.securityGroups : (primary?.securityGroupIds ?? []);
		this.#node = {
			instanceId,
			instanceType,
			zoneId,
			vswitchIds,
			securityGroupIds,
			...(primary ? { primaryEniId: primary.eniId, primaryIp: primary.primaryIp } : {}),
		};
		log.info(
			{
				instanceId,
				instanceType,
				zoneId,
				vswitchIds,
				limits,
				pool: derived.config,
				capacity: derived.capacity,
				mode,
			},
			"instance facts",
		);
		if (this.#o.links.enabled) {
			const changed = this.#o.links.prepareNode({ ipv4: true, ipv6: eniConf.ipStack === "dual" });
			if (changed.length) log.info({ changed }, "node prepared for pod datapaths");
		}
		this.#pool = new PoolManager({
			store: this.#o.store,
			ecs,
			metadata,
			links: this.#o.links,
			log,
			metrics: this.metrics,
			node: this.#node,
			limits,
			pool: derived.config,
			capacity:
				mode === "exclusive" ? maxEniFor(limits, eniConf) : capacityOf(limits, "shared", derived.maxEni),
			eniConf,
			mode,
			...(this.#o.tuning ? { tuning: this.#o.tuning } : {}),
			...(this.#o.now ? { now: this.#o.now } : {}),
			...(this.#o.rng ? { rng: this.#o.rng } : {}),
			onInhibit: (s) => this.#onInhibit(s),
		});
		this.#phase = "reconciling";
		const pending = this.#o.store.pendingIntents().length;
		if (pending > 0) log.info({ pending }, "replaying unfinished cloud intents");
		await this.#pool.resume();
		const rep = await reconcile(this.#pool, ecs, log);
		log.info(
			{
				adoptedEnis: rep.adoptedEnis,
				forgottenEnis: rep.forgottenEnis,
				adoptedIps: rep.adoptedIps.length,
				forgottenIps: rep.forgottenIps.length,
				orphans: rep.orphans.map((e) => e.eniId),
			},
			"reconciled with the cloud",
		);
		// bring up adopted ENIs (metadata, links) before serving their IPs
		await this.#pool.resume();
		await this.#applyPendingReleases();
		this.#phase = "warming";
		this.#o.kube?.onStart?.(this);
	}

	/** Fill to min_pool_size (the loop does it); resolves when the pool is quiet. */
	warmUp(timeoutMs = 120_000): Promise<void> {
		// known to stop(): it reads the store between its waits
		const p = this.#warmUp(timeoutMs);
		const q = p.catch(() => {});
		this.#background.add(q);
		void q.finally(() => this.#background.delete(q));
		return p;
	}

	async #warmUp(timeoutMs: number): Promise<void> {
		const pool = this.pool;
		pool.kick(0);
		const end = Date.now() + timeoutMs;
		while (Date.now() < end && this.#phase === "warming") {
			await pool.idle(Math.max(1, end - Date.now()));
			if (this.#stopping) return;
			const idle = this.#o.store.ips({ family: 4, state: "idle" }).length;
			if (idle >= pool.config.min || pool.inhibitSummary() || this.#o.store.allocations().length > 0) break;
			await Bun.sleep(20);
		}
		if (this.#phase === "warming") this.#phase = "ready";
		const gcEvery = this.#o.gcPeriodMs ?? 5 * 60_000;
		if (this.#phase === "draining") return;
		if (gcEvery > 0)
			this.#timers.push(
				setInterval(() => {
					if (this.#phase !== "draining") this.#bg(this.gc(true));
				}, gcEvery),
			);
		const syncEvery = this.#o.syncPeriodMs ?? this.#o.eniConf.ipPoolSyncPeriodMs;
		if (syncEvery > 0)
			this.#timers.push(
				setInterval(() => {
					if (this.#phase !== "draining") this.#bg(this.#sync());
				}, syncEvery),
			);
	}

	/** Runs loop work in the background, known to {@link stop}; its failures are logged there. */
	#bg(p: Promise<unknown>): void {
		const q = p.catch((e) => {
			if (this.#phase !== "draining") this.#log.warn({ err: e }, "background work failed");
		});
		this.#background.add(q);
		void q.finally(() => this.#background.delete(q));
	}

	async #sync(): Promise<void> {
		const pool = this.#pool;
		if (!pool || this.#phase === "draining") return;
		try {
			await reconcile(pool, this.#o.ecs, this.#log);
		} catch (e) {
			this.#log.warn({ err: e }, "periodic reconcile failed");
		}
		pool.kick();
	}

	#onInhibit(s: InhibitState): void {
		const c = sufficientIpCondition(s, Date.now());
		this.#o.kube?.setSufficientIp(c.status === "True", c.message);
	}

	// ------------------------------------------------------------------ request accounting

	/**
	 * Runs an API operation, counted for the SIGTERM drain. While draining, mutations are refused
	 * (503) and reads still answer (they are counted, so the store outlives them).
	 */
	async track<T>(fn: () => Promise<T>, opts: { mutation?: boolean } = {}): Promise<T> {
		if (this.#phase === "draining" && opts.mutation !== false)
			throw new ApiError("NotReady", "terwayd is shutting down");
		this.#inflight++;
		try {
			return await fn();
		} finally {
			this.#inflight--;
			if (this.#inflight === 0) this.#drained?.();
		}
	}

	/**
	 * Shutdown (SIGTERM): refuses new mutations, stops the loops and the pod watch, gives in-flight
	 * requests up to `graceMs` to finish with the pool still running, then stops the pool (waiting
	 * allocations fail NotReady; cloud calls in flight are aborted, their intents stay pending for
	 * the next start) and waits until no request, pool operation or loop work is running. After it
	 * resolves nothing touches the store: the caller may close it. Idempotent.
	 */
	stop(graceMs = 10_000): Promise<void> {
		this.#stopping ??= this.#stop(graceMs);
		return this.#stopping;
	}

	async #stop(graceMs: number): Promise<void> {
		this.#phase = "draining";
		for (const t of this.#timers) clearInterval(t);
		this.#timers = [];
		// no more pod-deletion releases from the watch (GC on the next start covers the gap)
		try {
			await this.#o.kube?.stop();
		} catch (e) {
			this.#log.warn({ err: e }, "stopping the Kubernetes watch failed");
		}
		// the policy watches stop; the pinned maps keep enforcing what they hold
		try {
			await this.#o.policy?.stop();
		} catch (e) {
			this.#log.warn({ err: e }, "stopping the policy agent failed");
		}
		await this.#requestsDone(graceMs);
		const settled = (await this.#pool?.close(10_000)) ?? true;
		// requests woken by the pool stop unwind now; loop work was aborted with the pool
		await this.#requestsDone(5_000);
		await withDeadline(Promise.allSettled([...this.#background]), 10_000);
		if (!settled || this.#inflight > 0 || this.#background.size > 0)
			this.#log.warn(
				{ requests: this.#inflight, background: this.#background.size, poolSettled: settled },
				"shutdown deadline passed with work still running",
			);
	}

	async #requestsDone(timeoutMs: number): Promise<void> {
		if (this.#inflight === 0) return;
		await withDeadline(
			new Promise<void>((r) => {
				this.#drained = r;
			}),
			timeoutMs,
		);
		this.#drained = undefined;
	}

	// ------------------------------------------------------------------ API operations

	async alloc(req: AllocRequest): Promise<AllocResponse> {
		if (this.#phase === "starting" || this.#phase === "reconciling")
			throw new ApiError("NotReady", `terwayd is ${this.#phase}; retry`);
		const t0 = performance.now();
		const key = podKeyOf(req.pod);
		try {
			const res = await this.#locks.run(key, async () => {
				const pool = this.pool;
				const { allocation, created } = await pool.allocate(
					{ namespace: req.pod.namespace, name: req.pod.name, uid: req.pod.uid ?? "" },
					req.containerId,
					{ netns: req.netns, ifname: req.ifname },
					() => this.#phase === "warming",
				);
				if (pool.mode === "exclusive") pool.settleExclusive(key);
				const out = await this.#response(allocation, !created);
				const ips = [allocation.ipv4, allocation.ipv6].filter((x): x is string => !!x);
				if (created) this.#o.kube?.podAllocated(req.pod, ips);
				// the pod's identity is in the policy maps before its sandbox runs (bounded wait)
				if (out.policy) await this.#o.policy?.podAllocated(req.pod, ips);
				return out;
			});
			this.metrics.allocs.inc({ result: "ok" });
			this.metrics.allocLatency.observe({}, performance.now() - t0);
			return res;
		} catch (e) {
			const code = e instanceof ApiError ? e.code : "Internal";
			this.metrics.allocs.inc({ result: code });
			if (code === "IPExhausted" || code === "Internal")
				this.#o.kube?.allocFailed(req.pod, e instanceof Error ? e.message : String(e));
			throw e;
		}
	}

	async release(req: ReleaseRequest, reason = "cni"): Promise<ReleaseResponse> {
		const key = podKeyOf(req.pod);
		return this.#locks.run(key, async () => {
			const released = this.pool.release(key, req.containerId);
			this.metrics.releases.inc({ reason }, released.length);
			const ips = released.flatMap((a) => [a.ipv4, a.ipv6]).filter((x): x is string => !!x);
			if (released.length > 0) {
				this.#log.info({ podKey: key, containerId: req.containerId, ips, reason }, "released");
				if (!this.#o.store.allocationFor(key)) this.#o.policy?.podReleased(req.pod);
			}
			return { released: released.length > 0, ips };
		});
	}

	async podInfo(namespace: string, name: string, containerId?: string): Promise<AllocResponse> {
		const a = this.#o.store.allocationFor(`${namespace}/${name}`, containerId);
		if (!a)
			throw new ApiError(
				"NotFound",
				`no allocation for pod ${namespace}/${name}${containerId ? ` container ${containerId}` : ""}`,
			);
		return this.#response(a, true);
	}

	async #response(a: Allocation, existing: boolean): Promise<AllocResponse> {
		const pool = this.pool;
		const eni = this.#o.store.eni(a.eniId);
		if (!eni) throw new ApiError("Internal", `allocation ${a.id} points at unknown ENI ${a.eniId}`);
		const net = pool.eniNet(a.eniId) ?? (await pool.ensureNet(a.eniId));
		const prefix = (cidr: string | undefined) => Number(cidr?.split("/")[1] ?? 0);
		const res: AllocResponse = {
			pod: { namespace: a.namespace, name: a.name, ...(a.uid ? { uid: a.uid } : {}) },
			containerId: a.containerId,
			...(a.ipv4
				? { ipv4: { ip: a.ipv4, prefixLen: prefix(net.cidr), gateway: net.gateway, cidr: net.cidr } }
				: {}),
			...(a.ipv6 && net.ipv6Cidr
				? {
						ipv6: {
							ip: a.ipv6,
							prefixLen: prefix(net.ipv6Cidr),
							gateway: net.ipv6Gateway ?? "",
							cidr: net.ipv6Cidr,
						},
					}
				: a.ipv6
					? { ipv6: { ip: a.ipv6, prefixLen: 128, gateway: net.ipv6Gateway ?? "", cidr: "" } }
					: {}),
			eni: { id: eni.eniId, mac: eni.mac, link: net.link.link, ifindex: net.link.ifindex },
			routeTable: net.link.table,
			datapath: (a.datapath === "exclusive" || a.datapath === "datapathv2"
				? a.datapath
				: "veth") as AllocResponse["datapath"],
			serviceCidrs: this.#o.eniConf.serviceCidrs,
			existing,
		};
		const bw = await this.#o.kube?.bandwidthOf(a.namespace, a.name);
		if (bw) res.bandwidth = bw;
		if (res.datapath === "datapathv2") {
			// only where terwayd pinned the redirect programs; else veth (same addressing)
			const v2 = this.#o.links.datapathV2;
			if (v2) res.datapathv2 = { pinRoot: v2.pinRoot };
			else res.datapath = "veth";
		}
		const pinRoot = this.#o.policy?.pinRoot;
		if (pinRoot) res.policy = { pinRoot };
		return res;
	}

	/** GET /v1/policy */
	policyInfo(): PolicyResponse {
		return (
			this.#o.policy?.info() ?? {
				enabled: false,
				reason: "not configured",
				policies: [],
				identities: 0,
				entries: { ips: 0, policy: 0 },
				syncs: 0,
			}
		);
	}

	/**
	 * This node's own addresses for NetworkPolicy (identity HOST: always allowed, as kubelet
	 * probes must be): the primary IP and the primary IPs of its ENIs that no pod holds.
	 */
	nodeIps(): string[] {
		const held = new Set<string>();
		for (const a of this.#o.store.allocations()) {
			if (a.ipv4) held.add(a.ipv4);
			if (a.ipv6) held.add(a.ipv6);
		}
		const out = new Set<string>();
		if (this.#node?.primaryIp) out.add(this.#node.primaryIp);
		for (const e of this.#o.store.enis()) if (e.primaryIp && !held.has(e.primaryIp)) out.add(e.primaryIp);
		return [...out];
	}

	summary(): PoolSummary {
		const pool = this.pool;
		const st = this.#o.store.stats();
		return {
			min: pool.config.min,
			max: pool.config.max,
			idle: st.ips.v4.idle,
			allocated: st.ips.v4.allocated,
			capacity: pool.capacity,
			enis: this.#o.store.enis().filter((e) => e.type !== "primary").length,
		};
	}

	status(): StatusResponse {
		const node = this.#node;
		const pool = this.#pool;
		const inh = pool?.inhibitSummary();
		return {
			ready: this.#phase === "ready" || this.#phase === "warming",
			phase: this.#phase,
			node: this.#o.nodeName,
			instanceId: node?.instanceId ?? "",
			instanceType: node?.instanceType ?? "",
			mode: this.#o.exclusive ? "exclusive" : "shared",
			version: this.#o.version ?? VERSION_FALLBACK,
			uptimeSeconds: Math.round((Date.now() - this.#startedAt) / 1000),
			pool: pool ? this.summary() : { min: 0, max: 0, idle: 0, allocated: 0, capacity: 0, enis: 0 },
			...(inh ? { inhibit: inh } : {}),
			kubernetes: this.#o.kube ? this.#o.kube.state() : "standalone",
		};
	}

	enis(): EniInfo[] {
		const pool = this.pool;
		const store = this.#o.store;
		return store
			.enis()
			.filter((e) => e.type !== "primary")
			.map((e) => {
				const net = pool.eniNet(e.eniId);
				return {
					id: e.eniId,
					mac: e.mac,
					...(net?.link.link ? { link: net.link.link } : {}),
					type: e.type,
					status: e.status,
					vswitchId: e.vswitchId,
					primaryIp: e.primaryIp ?? "",
					...(net?.link.table ? { routeTable: net.link.table } : {}),
					ips: store
						.ips({ eniId: e.eniId })
						.map((ip) => ({ ip: ip.ip, state: ip.state, ...(ip.podKey ? { pod: ip.podKey } : {}) })),
				};
			});
	}

	/** pod → IP → ENI from the store, cross-checked with the cloud, metadata and the kernel. */
	async mapping(): Promise<MappingRow[]> {
		const store = this.#o.store;
		const pool = this.pool;
		const node = this.#node!;
		// ENIs with pool work in flight (before and after the cloud is asked): the store and the
		// cloud legitimately differ on them until that work is recorded
		const busyBefore = new Set(
			store
				.enis()
				.map((e) => e.eniId)
				.filter((id) => pool.isBusy(id)),
		);
		const cloud = new Map(
			(await this.#o.ecs.describeEnis({ instanceId: node.instanceId })).map((e) => [e.eniId, e]),
		);
		const allocs = new Map<string, Allocation>();
		for (const a of store.allocations()) {
			if (a.ipv4) allocs.set(a.ipv4, a);
			if (a.ipv6) allocs.set(a.ipv6, a);
		}
		const rows: MappingRow[] = [];
		for (const e of store.enis()) {
			if (e.type === "primary") continue;
			const c = cloud.get(e.eniId);
			const changing =
				busyBefore.has(e.eniId) ||
				pool.isBusy(e.eniId) ||
				store.pendingIntents().some((i) => (i.params as { eniId?: string }).eniId === e.eniId);
			let md: Set<string> | undefined;
			let mdErr: string | undefined;
			try {
				const m = await this.#o.metadata.eni(e.mac);
				md = new Set([...m.ips, ...m.ipv6s]);
			} catch (err) {
				mdErr = err instanceof Error ? err.message : String(err);
			}
			const net = pool.eniNet(e.eniId);
			let kernelProblems: string[] = [];
			if (this.#o.links.enabled && e.status === "InUse" && net) {
				try {
					const md0 = await this.#o.metadata.eni(e.mac);
					kernelProblems = this.#o.links.check({
						eniId: e.eniId,
						mac: e.mac,
						primaryIp: e.primaryIp ?? "",
						gateway: md0.gateway,
						cidr: md0.cidr,
						...(node.primaryIp ? { addrIp: node.primaryIp } : {}),
					});
				} catch (err) {
					kernelProblems = [`kernel check failed: ${err instanceof Error ? err.message : String(err)}`];
				}
			}
			for (const ip of store.ips({ eniId: e.eniId })) {
				const a = allocs.get(ip.ip);
				const problems: string[] = [];
				const cloudOk = c ? c.ipv4s.includes(ip.ip) || c.ipv6s.includes(ip.ip) : false;
				// an unheld IP on an ENI being assigned/unassigned may be ahead in one source and behind
				// in another (the cloud was asked first, metadata after, the store records last)
				const inFlux = changing && ip.state !== "allocated";
				if (!c) problems.push(`ENI ${e.eniId} is not attached to ${node.instanceId} in the cloud`);
				else if (!cloudOk && !inFlux) problems.push(`the cloud does not list ${ip.ip} on ${e.eniId}`);
				const mdOk = md ? md.has(ip.ip) : false;
				if (mdErr) problems.push(`metadata: ${mdErr}`);
				else if (!mdOk && e.status === "InUse" && !inFlux)
					problems.push(`metadata does not list ${ip.ip} on ${e.mac}`);
				if (ip.state === "allocated" && !a) problems.push(`${ip.ip} is allocated but no allocation holds it`);
				if (a && ip.state !== "allocated") problems.push(`${ip.ip} backs ${a.podKey} but is ${ip.state}`);
				if (ip.state === "allocated") problems.push(...kernelProblems);
				rows.push({
					...(a ? { pod: a.podKey, containerId: a.containerId } : {}),
					ip: ip.ip,
					eniId: e.eniId,
					mac: e.mac,
					state: ip.state,
					checks: {
						store: true,
						cloud: cloudOk,
						...(mdErr || e.status !== "InUse" ? {} : { metadata: mdOk }),
						...(this.#o.links.enabled && ip.state === "allocated"
							? { kernel: kernelProblems.length === 0 }
							: {}),
					},
					problems,
				});
			}
			// IPs the cloud has on our ENI that the store does not (an assign in flight is recorded
			// once metadata lists its IPs: not a problem yet)
			if (c && e.status === "InUse" && !changing) {
				for (const ip of [...c.ipv4s, ...c.ipv6s]) {
					if (store.ip(ip)) continue;
					rows.push({
						ip,
						eniId: e.eniId,
						mac: e.mac,
						state: "idle",
						checks: { store: false, cloud: true },
						problems: [`the cloud lists ${ip} on ${e.eniId} but the store does not`],
					});
				}
			}
		}
		return rows;
	}

	/** Releases the CNI plugin journaled while it could not reach us; failures are retried later. */
	async #applyPendingReleases(): Promise<void> {
		const path = this.#o.releaseJournal;
		if (!path) return;
		try {
			const n = await applyPendingReleases(path, (req) => this.release(req, "journal"), this.#log);
			if (n > 0) this.#log.info({ applied: n, journal: path }, "applied pending releases");
		} catch (e) {
			this.#log.warn({ err: e, journal: path }, "pending releases: could not apply (kept for the next pass)");
		}
	}

	/** GC candidates (apply=false) or a GC pass (apply=true). */
	async gc(apply: boolean): Promise<GcReport> {
		if (apply && this.#gcRunning) return this.#gcRunning;
		const run = this.#gc(apply);
		if (apply) {
			this.#gcRunning = run;
			void run.finally(() => {
				this.#gcRunning = undefined;
			});
		}
		return run;
	}

	async #gc(apply: boolean): Promise<GcReport> {
		const store = this.#o.store;
		const pool = this.pool;
		const report: GcReport = { allocations: [], enis: [], ips: [], applied: apply };
		// allocations whose pod is gone (Kubernetes) or whose netns vanished (standalone)
		for (const a of store.allocations()) {
			let reason: string | undefined;
			const k = this.#o.kube;
			if (k && k.state() === "connected" && k.synced()) {
				if (!k.podExists(a.namespace, a.name, a.uid)) reason = "pod no longer exists";
			} else if (!k) {
				const exists = this.#o.netnsExists ?? defaultNetnsExists;
				if (a.netns && !exists(a.netns)) reason = `netns ${a.netns} is gone`;
			}
			if (reason) report.allocations.push({ pod: a.podKey, containerId: a.containerId, reason });
		}
		// our tagged ENIs nobody holds; ENIs with no cloud presence
		const pendingCreates = store.pendingIntents().some((i) => i.op === "createEni");
		let orphans: { eniId: string }[] = [];
		try {
			const rep = await reconcile(pool, this.#o.ecs, this.#log);
			orphans = pendingCreates || pool.busy > 0 ? [] : rep.orphans;
			for (const ip of rep.forgottenIps)
				report.ips.push({ ip, eniId: "", reason: "gone from the cloud (forgotten)" });
		} catch (e) {
			this.#log.warn({ err: e }, "GC: reconcile failed");
		}
		for (const o of orphans)
			report.enis.push({ eniId: o.eniId, reason: "tagged ours, not attached, unknown to the store" });
		if (!apply) return report;
		this.metrics.gcRuns.inc();
		await this.#applyPendingReleases();
		for (const a of report.allocations) {
			const [namespace, name] = a.pod.split("/") as [string, string];
			await this.release({ pod: { namespace, name }, containerId: a.containerId }, "gc");
		}
		for (const o of report.enis) {
			try {
				if (!store.eni(o.eniId)) await pool.deleteOrphan(o.eniId);
			} catch (e) {
				this.#log.warn({ err: e, eniId: o.eniId }, "GC: could not delete an orphan ENI");
			}
		}
		// repair missing ENI links/rules for ENIs in use
		if (this.#o.links.enabled) {
			for (const e of store.enis()) {
				if (e.status !== "InUse" || e.type === "primary" || pool.isBusy(e.eniId)) continue;
				try {
					await pool.ensureNet(e.eniId);
				} catch (err) {
					this.#log.warn({ err, eniId: e.eniId }, "GC: could not repair the ENI's link");
				}
			}
		}
		pool.kick();
		return report;
	}
}

/**
 * Waits for `p`, at most `ms`. The timer is cleared when `p` settles first: a pending timer would
 * keep the process alive after shutdown (as `Bun.sleep` in a race does).
 */
async function withDeadline(p: Promise<unknown>, ms: number): Promise<void> {
	let timer: ReturnType<typeof setTimeout> | undefined;
	try {
		await Promise.race([
			p,
			new Promise<void>((r) => {
				timer = setTimeout(r, ms);
			}),
		]);
	} finally {
		clearTimeout(timer);
	}
}

function defaultNetnsExists(path: string): boolean {
	return existsSync(path);
}
