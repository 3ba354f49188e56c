/**
 * Shapes of the IP pool's decision inputs and outputs. The decision functions (`pool.ts`,
 * `select.ts`, `inhibit.ts`, `capacity.ts`) are pure over these plain values: the daemon takes a
 * snapshot of its ENIs, IPs, waiters and in-flight cloud calls, asks "what next?", performs the
 * returned actions, and asks again when something changes. No timers, no I/O here.
 *
 * Modelled on Terway's legacy pool (`pkg/eni/manager.go`, `pkg/eni/local.go`) with the
 * controlplane's batching ideas (`pkg/controller/multi-ip/node/pool.go`). Times are epoch ms.
 */

import type { EniSelectionPolicy, VSwitchPolicy } from "../config/types.ts";

export type { EniSelectionPolicy, VSwitchPolicy };

/** Per-instance-type limits (Terway `pkg/aliyun/client/limit.go`). */
export type Limits = {
	/** `EniQuantity`, including the primary ENI. */
	adapters: number;
	/** `EniPrivateIpAddressQuantity`, including each ENI's primary IP. */
	ipv4PerAdapter: number;
	/** `EniIpv6AddressQuantity`. */
	ipv6PerAdapter: number;
};

/** Pool sizing knobs, already derived from `EniConfig` (see `capacity.ts` `poolConfigFrom`). */
export type PoolConfig = {
	/** Idle IPs to keep at least (`min_pool_size`, clipped to `max`). */
	min: number;
	/** Idle IPs to keep at most (`max_pool_size`, clipped to capacity). */
	max: number;
	/** Dual stack: every pod gets one v4 and one v6, so v6 is assigned alongside v4. */
	dual: boolean;
	/** Max secondary ENIs we may hold (derived: adapters×ratio+shift−1, capped by max_eni). */
	maxEni: number;
	/** `eni_selection_policy`. */
	eniSelectionPolicy: EniSelectionPolicy;
	/** vSwitch policy as applied (config `ordered` ⇒ `most`). */
	vswitchPolicy: VSwitchPolicy;
	/** `idle_ip_reclaim_after`; undefined disables idle reclaim. */
	idleReclaimAfterMs?: number;
	/** `idle_ip_reclaim_batch_size`. */
	idleReclaimBatchSize: number;
	/** `ip_warm_up_size` target (0 = none). */
	warmUpSize: number;
};

export type IpState = "idle" | "allocated" | "releasing";

/** One address held by an ENI. A v4/v6 pair for dual-stack pods lives on the same ENI. */
export type PoolIp = {
	ip: string;
	/** true for IPv6. */
	ipv6?: boolean;
	/** The ENI's primary IP (usable as a pod IP in the legacy pool, never unassignable). */
	primary?: boolean;
	state: IpState;
	/** When it last became idle (for idle reclaim and least-recently-used reuse). */
	idleSinceMs: number;
	/** Pod bound to it (`ns/name`) when allocated, or remembered for sticky reuse. */
	podId?: string;
};

/** ENI lifecycle as the pool sees it. */
export type EniStatus = "creating" | "attaching" | "inUse" | "detaching" | "deleting";

export type PoolEni = {
	eniId: string;
	/** The instance's primary ENI: never used for pods, never counted. */
	primary?: boolean;
	/** Created by us (tag `creator=terway`); only such ENIs are ever deleted. */
	ours?: boolean;
	/** Trunk or ERDMA ENIs are never disposed whole (Terway `Manager.Dispose`). */
	trunk?: boolean;
	erdma?: boolean;
	/**
	 * Attached but not ours to manage (fails `eni_tag_filter`, or blocked by tag): it takes an
	 * adapter slot and is otherwise left alone — no pod IPs from it, no assign, no release.
	 */
	unmanaged?: boolean;
	status: EniStatus;
	vswitchId: string;
	ips: PoolIp[];
};

/** A vSwitch candidate for new ENIs (from `DescribeVSwitches`, possibly cached). */
export type VSwitchCandidate = { vswitchId: string; availableIpCount: number };

/** Why allocation is paused. */
export type InhibitReason = "InsufficientVSwitchIP" | "QuotaExceeded" | "EniPerInstanceLimitExceeded";

/**
 * Error back-off state kept by the daemon between decisions (Terway `Local` alloc-inhibit window
 * and the vSwitch cache's "0 available for 10 min" entry). Build it with `emptyInhibit()` and
 * update it only through `inhibitOnError` / `clearInsufficientIp`; expired entries are ignored.
 */
export type InhibitState = {
	/** All allocation (assign and create) paused until this time (account-level IP quota). */
	allocInhibitUntilMs?: number;
	/** ENI creation paused until this time (`EniPerInstanceLimitExceeded`, 1 min). */
	createInhibitUntilMs?: number;
	/** vSwitch id → blocked until (ms): no create in it, no assign to ENIs in it. */
	blockedVSwitches: Record<string, number>;
	/** The last cloud error code that changed this state. */
	code?: string;
	/** Set when allocation failed for lack of vSwitch IPs; drives node condition SufficientIP. */
	insufficientIpSinceMs?: number;
};

/** Cloud calls the daemon has started and not yet finished; the planner counts them as done. */
export type PendingOps = {
	assign: { eniId: string; count: number; ipv6Count: number }[];
	createEni: { ipCount: number; ipv6Count: number; vswitchId: string }[];
	unassign: { eniId: string; ips: string[] }[];
	deleteEni: string[];
};

/** Everything the planner looks at. */
export type PoolSnapshot = {
	limits: Limits;
	config: PoolConfig;
	enis: PoolEni[];
	inhibit: InhibitState;
	nowMs: number;
	pending: PendingOps;
	/** Pod allocation requests waiting for an IP (each needs 1 v4, plus 1 v6 when dual). */
	waiting: number;
	/** vSwitches usable for new ENIs in this zone, in config order. */
	vswitches: VSwitchCandidate[];
	/** Last alloc/release time (idle reclaim waits until the pool has been quiet for `after`). */
	lastModifiedMs: number;
	/**
	 * Warm-up (§7.9) reached its target once already (never repeats). The daemon sets it when
	 * `isWarmUpComplete` first says so and persists it.
	 */
	warmUpCompleted: boolean;
	/** Idle reclaim: next time an extra batch may go (daemon schedules with `nextReclaimAt`). Absent = now. */
	nextReclaimAtMs?: number;
};

/** What the daemon should do next. */
export type PoolAction =
	/** AssignPrivateIpAddresses (+ AssignIpv6Addresses) on an existing ENI; count ≤ 10. */
	| { kind: "assign"; eniId: string; count: number; ipv6Count: number }
	/** CreateNetworkInterface with `ipCount` IPv4 in total (primary included, ≤ 10) + `ipv6Count`, then attach. */
	| { kind: "createEni"; ipCount: number; ipv6Count: number; vswitchId: string }
	/** UnassignPrivateIpAddresses / UnassignIpv6Addresses, ≤ 10 per call. */
	| { kind: "unassign"; eniId: string; ips: string[] }
	/** Detach + DeleteNetworkInterface of an ENI we own that holds no IP in use. */
	| { kind: "deleteEni"; eniId: string }
	/** Allocation is paused by a recent cloud error; try again at `untilMs`. */
	| { kind: "waitInhibited"; untilMs: number; reason: InhibitReason }
	/** Waiting pods cannot all be served: the node is at capacity (ENI limit) or no vSwitch is usable. */
	| { kind: "exhausted"; reason: "EniLimitReached" | "NoVSwitch"; unserved: number };

/** An IP (pair) chosen for a pod. */
export type PodIpChoice = { eniId: string; ipv4: string; ipv6?: string };

/** Random source in [0, 1) — injected so decisions are reproducible in tests. */
export type Rng = () => number;

/*
 * The decision functions over these shapes:
 *   pool.ts      planPool(s: PoolSnapshot, rng: Rng): PoolAction[]
 *                demandForAlloc(s: PoolSnapshot): Demand; countIps(enis, family?): IpCounts
 *                shrinkCount(s: PoolSnapshot, idle: number): number
 *   select.ts    pickIpForPod(enis, opts: PickOptions): PodIpChoice | null
 *                selectVSwitch(policy, candidates, blocked, nowMs, rng): string | null
 *                orderEnis(enis, policy): PoolEni[]
 *   inhibit.ts   emptyInhibit(); inhibitOnError(code, { nowMs, vswitchId? }, s): InhibitState
 *                classifyError(code); clearInsufficientIp(s); pruneInhibit(s, nowMs)
 *                sufficientIpCondition(s, nowMs): SufficientIpCondition
 *   capacity.ts  BATCH_SIZE; maxEniFor(limits, cfg?); capacity(limits, mode, maxEni?)
 *                poolConfigFrom(eniConfig, limits, mode?): DerivedPool; dualStackUsable(limits)
 *                isWarmUpComplete(size, total); nextReclaimAt(now, interval, jitter, rng)
 */

/** Options for `pickIpForPod`. */
export type PickOptions = {
	policy: EniSelectionPolicy;
	dual: boolean;
	/** A pod re-asking (sticky IP, retry after crash) gets the IP already bound to it. */
	podId?: string;
};

/** Node condition `SufficientIP` (Terway `pkg/k8s/k8s.go`, `pkg/eni/manager.go`). */
export type SufficientIpCondition = {
	type: "SufficientIP";
	status: "True" | "False";
	reason: "SufficientIP" | "InsufficientIP";
	message: string;
};

/** Per-family counts over the non-primary ENIs. */
export type IpCounts = { total: number; idle: number; allocated: number; releasing: number };
