/**
 * @module core/ipam/pool
 *
 * The IP pool's decisions as one pure function: given a snapshot of the node's ENIs and IPs,
 * the waiting pod requests, the cloud calls in flight and the error back-off state, return the
 * next cloud actions. The daemon performs them (with its own rate limits and retries), updates
 * the snapshot and asks again — on every alloc/release, on every finished call and on the
 * `ip_pool_sync_period` tick. No timers, no I/O, no clock: `nowMs` comes in the snapshot and
 * randomness through `rng`.
 *
 * Rules, each from Terway's legacy pool unless noted (terway-features.md §3.3–3.4):
 * - Demand = waiting pods + `min_pool_size` idle IPs (`Manager.syncPool` `toAdd`), plus the
 *   warm-up target until reached once (`ip_warm_up_size`, controlplane `pool.go`, §7.9); IPs
 *   already idle, on ENIs still attaching, or in flight count against it (so one decision covers
 *   many waiters and a repeated question never doubles a call).
 * - Never beyond capacity = maxEni × IPv4PerAdapter (`getPoolConfig`).
 * - Batches of ≤ 10 IPs per Assign or Create (`factoryAllocWorker` `min(10, pending)`); one call
 *   in flight per ENI (Terway runs one worker per ENI; parallel calls on an ENI get
 *   `Operation.Conflict`).
 * - Existing ENIs first, in ENI-selection-policy order (`Manager.Allocate` priority sort), then
 *   new ENIs while adapters remain; the vSwitch per `selectVSwitch`.
 * - Dual stack: every ENI keeps as many IPv6 as IPv4, so v6 is assigned alongside v4 (and a
 *   new ENI is created with both) — `CreateNetworkInterface` with pending IPv6, §3.11.
 * - Back-off (`inhibit.ts`): a quota pause stops all allocation; a blocked vSwitch gets no new
 *   ENI and its ENIs no assign; an ENI-limit pause stops creation. Each becomes a
 *   `waitInhibited` action with its end time.
 * - Shrink only when nothing is wanted: idle above `max_pool_size` goes, then — after the pool
 *   has been quiet for `idle_ip_reclaim_after` and at `nextReclaimAtMs` — up to
 *   `idle_ip_reclaim_batch_size` more (`calculateToDel`), never below `min_pool_size`. Whole
 *   ENIs we created whose IPs are all idle go first when the count allows (`Manager.Dispose`:
 *   "a whole ENI is disposed if all its IPs are idle and n ≥ its IP count", never trunk/ERDMA),
 *   smallest first; then single IPs from the least-used ENIs, longest idle first (the ENI's
 *   primary IP can only leave with the ENI).
 * - Leftovers are finished: ENIs in `deleting` are deleted, IPs in `releasing` unassigned
 *   (`factoryDisposeWorker`).
 *
 * Contract with the caller: an operation is either in `pending` or already reflected in `enis`,
 * never both; when it starts an `unassign`, it marks those IPs `releasing` in the same step so no
 * pod is handed one of them.
 */

import { BATCH_SIZE } from "./capacity.ts";
import { allocPause, createPause, isVSwitchBlocked } from "./inhibit.ts";
import { byIdle, isFree, isServing, orderEnis, selectVSwitch } from "./select.ts";
import type { InhibitReason, IpCounts, PoolAction, PoolEni, PoolIp, PoolSnapshot, Rng } from "./types.ts";

export type * from "./types.ts";
export { BATCH_SIZE };

const isV4 = (ip: PoolIp) => !ip.ipv6;
const isV6 = (ip: PoolIp) => ip.ipv6 === true;
const live = (e: PoolEni) =>
	!e.primary && !e.unmanaged && e.status !== "deleting" && e.status !== "detaching";
const warming = (e: PoolEni) => e.status === "creating" || e.status === "attaching";
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

/** Counts per family over the node's non-primary ENIs (any status but deleting/detaching). */
export function countIps(enis: readonly PoolEni[], family: 4 | 6 = 4): IpCounts {
	const out: IpCounts = { total: 0, idle: 0, allocated: 0, releasing: 0 };
	for (const e of enis) {
		if (!live(e)) continue;
		for (const ip of e.ips) {
			if ((family === 6) !== isV6(ip)) continue;
			out.total++;
			if (ip.state === "idle") out.idle++;
			else if (ip.state === "allocated") out.allocated++;
			else out.releasing++;
		}
	}
	return out;
}

/** What the pool still has to obtain, in IPv4 addresses (v6 follows per ENI when dual). */
export type Demand = {
	/** IPv4 addresses to add now (≤ remaining capacity). */
	ipv4: number;
	/** Free IPv4 on serving ENIs (idle, unreserved). */
	free: number;
	/** IPv4 on the way: on attaching ENIs or in pending Assign/Create calls. */
	incoming: number;
	/** Capacity left for new IPv4 (adapters and per-ENI limits). */
	room: number;
	/** Waiting pods that cannot be served even at full capacity. */
	unserved: number;
};

/**
 * The pool's IPv4 shortfall (see the module rules). 100 concurrent requests on a cold node give
 * `ipv4 = 100 + min`, which {@link planPool} turns into ⌈n/10⌉-sized batches spread over ENIs —
 * at most ⌈100/10⌉ + (ENIs created) calls in all.
 */
export function demandForAlloc(s: PoolSnapshot): Demand {
	const { config: c, limits } = s;
	const enis = s.enis.filter(live);
	const free = sum(enis.filter(isServing).map((e) => e.ips.filter((ip) => isV4(ip) && isFree(ip)).length));
	const onWarming = sum(
		enis.filter(warming).map((e) => e.ips.filter((ip) => isV4(ip) && ip.state !== "releasing").length),
	);
	const inFlight = sum(s.pending.assign.map((a) => a.count)) + sum(s.pending.createEni.map((a) => a.ipCount));
	const incoming = onWarming + inFlight;
	const held = sum(enis.map((e) => e.ips.filter(isV4).length));
	// slots taken by ENIs whose IPs we cannot use: leaving, or not ours to manage
	const gone = s.enis.filter((e) => !e.primary && !live(e)).length;
	const room = Math.max(0, (c.maxEni - gone) * limits.ipv4PerAdapter - held - inFlight);
	let want = Math.max(0, s.waiting + c.min - free - incoming);
	if (!s.warmUpCompleted && c.warmUpSize > 0) want = Math.max(want, c.warmUpSize - held - inFlight);
	return {
		ipv4: Math.min(want, room),
		free,
		incoming,
		room,
		unserved: Math.max(0, s.waiting - free - incoming - room),
	};
}

/** Split into chunks of ≤ BATCH_SIZE. */
function chunks<T>(xs: readonly T[]): T[][] {
	const out: T[][] = [];
	for (let i = 0; i < xs.length; i += BATCH_SIZE) out.push(xs.slice(i, i + BATCH_SIZE));
	return out;
}

/**
 * The next actions for this snapshot (see the module header for every rule). Same snapshot and
 * rng ⇒ same actions.
 *
 * @example
 * for (const a of planPool(snapshot, Math.random)) await perform(a);
 */
export function planPool(s: PoolSnapshot, rng: Rng): PoolAction[] {
	const { config: c, limits, nowMs, inhibit } = s;
	const actions: PoolAction[] = [];
	const waits = new Map<InhibitReason, number>();
	const wait = (reason: InhibitReason, untilMs: number) =>
		waits.set(reason, Math.min(waits.get(reason) ?? Number.POSITIVE_INFINITY, untilMs));

	const own = s.enis.filter((e) => !e.primary);
	const busy = new Set([
		...s.pending.assign.map((a) => a.eniId),
		...s.pending.unassign.map((u) => u.eniId),
		...s.pending.deleteEni,
	]);
	const leaving = new Set(s.pending.unassign.flatMap((u) => u.ips));

	// 1. Finish what was started: ENIs marked deleting, IPs marked releasing.
	for (const e of own) {
		if (busy.has(e.eniId) || e.unmanaged) continue;
		if (e.status === "deleting" && e.ours) {
			actions.push({ kind: "deleteEni", eniId: e.eniId });
			busy.add(e.eniId);
		} else if (e.status === "inUse") {
			const rel = e.ips.filter((ip) => ip.state === "releasing" && !ip.primary && !leaving.has(ip.ip));
			const v4 = chunks(rel.filter(isV4));
			const v6 = chunks(rel.filter(isV6));
			const first = [...(v4[0] ?? []), ...(v6[0] ?? [])];
			if (first.length > 0) {
				actions.push({ kind: "unassign", eniId: e.eniId, ips: first.map((ip) => ip.ip) });
				busy.add(e.eniId);
			}
		}
	}

	// 2. Grow.
	const d = demandForAlloc(s);
	let remaining = d.ipv4;
	const pause = allocPause(inhibit, nowMs);
	let planned = 0;
	let noVSwitch = false;
	if (pause) {
		if (remaining > 0) wait(pause.reason, pause.untilMs);
		remaining = 0;
	} else {
		for (const e of orderEnis(own.filter(isServing), c.eniSelectionPolicy)) {
			if (busy.has(e.eniId)) continue;
			const v4All = e.ips.filter(isV4).length;
			const n = Math.min(BATCH_SIZE, Math.max(0, limits.ipv4PerAdapter - v4All), remaining);
			let n6 = 0;
			if (c.dual) {
				const v4Kept = e.ips.filter((ip) => isV4(ip) && ip.state !== "releasing").length;
				const v6Kept = e.ips.filter((ip) => isV6(ip) && ip.state !== "releasing").length;
				const v6All = e.ips.filter(isV6).length;
				n6 = Math.max(0, Math.min(BATCH_SIZE, limits.ipv6PerAdapter - v6All, v4Kept + n - v6Kept));
			}
			if (n === 0 && n6 === 0) continue;
			if (isVSwitchBlocked(inhibit, e.vswitchId, nowMs)) {
				wait("InsufficientVSwitchIP", inhibit.blockedVSwitches[e.vswitchId] as number);
				continue;
			}
			actions.push({ kind: "assign", eniId: e.eniId, count: n, ipv6Count: n6 });
			remaining -= n;
			planned += n;
		}
		let slots = c.maxEni - own.length - s.pending.createEni.length;
		if (remaining > 0 && slots > 0) {
			const cp = createPause(inhibit, nowMs);
			if (cp) {
				wait(cp.reason, cp.untilMs);
			} else {
				const cands = s.vswitches.map((v) => ({
					...v,
					availableIpCount:
						v.availableIpCount -
						sum(s.pending.createEni.filter((p) => p.vswitchId === v.vswitchId).map((p) => p.ipCount)),
				}));
				while (remaining > 0 && slots > 0) {
					const vsw = selectVSwitch(c.vswitchPolicy, cands, inhibit.blockedVSwitches, nowMs, rng);
					if (vsw === null) {
						const blocked = cands
							.map((v) => inhibit.blockedVSwitches[v.vswitchId] ?? 0)
							.filter((until) => until > nowMs);
						if (blocked.length > 0) wait("InsufficientVSwitchIP", Math.min(...blocked));
						else noVSwitch = true;
						break;
					}
					const n = Math.min(BATCH_SIZE, limits.ipv4PerAdapter, remaining);
					const n6 = c.dual ? Math.min(n, limits.ipv6PerAdapter) : 0;
					actions.push({ kind: "createEni", ipCount: n, ipv6Count: n6, vswitchId: vsw });
					const cand = cands.find((v) => v.vswitchId === vsw);
					if (cand) cand.availableIpCount -= n;
					remaining -= n;
					planned += n;
					slots--;
				}
			}
		}
	}
	for (const [reason, untilMs] of waits) actions.push({ kind: "waitInhibited", untilMs, reason });
	const uncovered = Math.max(0, s.waiting - d.free - d.incoming - planned);
	if (d.unserved > 0 && !pause) {
		actions.push({ kind: "exhausted", reason: "EniLimitReached", unserved: d.unserved });
	} else if (noVSwitch && uncovered > 0) {
		actions.push({ kind: "exhausted", reason: "NoVSwitch", unserved: uncovered });
	}

	// 3. Shrink, only when nothing is wanted or on the way.
	const quiet =
		s.waiting === 0 &&
		d.ipv4 === 0 &&
		!actions.some((a) => a.kind === "assign" || a.kind === "createEni") &&
		s.pending.assign.length === 0 &&
		s.pending.createEni.length === 0;
	if (quiet) actions.push(...planShrink(s, busy, leaving));
	return actions;
}

/** How many idle IPv4 to release now (Terway `Manager.syncPool` + `calculateToDel`). */
export function shrinkCount(s: PoolSnapshot, idle: number): number {
	const c = s.config;
	let toDel = Math.max(0, idle - c.max);
	if (
		c.idleReclaimAfterMs !== undefined &&
		c.idleReclaimBatchSize > 0 &&
		s.nowMs - s.lastModifiedMs >= c.idleReclaimAfterMs &&
		s.nowMs >= (s.nextReclaimAtMs ?? 0)
	) {
		toDel += Math.max(0, Math.min(c.idleReclaimBatchSize, idle - toDel - c.min));
	}
	return Math.max(0, Math.min(toDel, idle - c.min));
}

function planShrink(s: PoolSnapshot, busy: Set<string>, leaving: Set<string>): PoolAction[] {
	const c = s.config;
	const serving = s.enis.filter((e) => isServing(e) && !busy.has(e.eniId));
	const freeIps = (e: PoolEni) => e.ips.filter((ip) => isFree(ip) && !leaving.has(ip.ip));
	// Free IPv4 anywhere serving, busy ENIs included: they are idle capacity all the same.
	const idle = sum(s.enis.filter(isServing).map((e) => freeIps(e).filter(isV4).length));
	let n = shrinkCount(s, idle);
	const out: PoolAction[] = [];
	if (n === 0) return out;

	const v4Of = (e: PoolEni) => e.ips.filter(isV4).length;
	const wholeIdle = (e: PoolEni) =>
		e.ours === true && !e.trunk && !e.erdma && e.ips.every((ip) => isFree(ip) && !leaving.has(ip.ip));
	const whole = serving.filter(wholeIdle).sort((a, b) => v4Of(a) - v4Of(b) || (a.eniId < b.eniId ? -1 : 1));
	const deleted = new Set<string>();
	for (const e of whole) {
		if (v4Of(e) > n) continue;
		out.push({ kind: "deleteEni", eniId: e.eniId });
		deleted.add(e.eniId);
		n -= v4Of(e);
	}
	if (n === 0) return out;

	const inUse = (e: PoolEni) => e.ips.filter((ip) => isV4(ip) && !isFree(ip)).length;
	const rest = serving
		.filter((e) => !deleted.has(e.eniId))
		.sort((a, b) => inUse(a) - inUse(b) || (a.eniId < b.eniId ? -1 : 1));
	for (const e of rest) {
		if (n === 0) break;
		const v4 = freeIps(e)
			.filter((ip) => isV4(ip) && !ip.primary)
			.sort(byIdle)
			.slice(0, Math.min(BATCH_SIZE, n));
		if (v4.length === 0) continue;
		const v6 = c.dual
			? freeIps(e)
					.filter((ip) => isV6(ip) && !ip.primary)
					.sort(byIdle)
					.slice(0, v4.length)
			: [];
		out.push({ kind: "unassign", eniId: e.eniId, ips: [...v4, ...v6].map((ip) => ip.ip) });
		n -= v4.length;
	}
	return out;
}
