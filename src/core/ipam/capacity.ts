/**
 * Capacity math: how many ENIs and IPs a node may hold, and the pool watermarks derived from
 * `eni_conf` — Terway `daemon/config.go` `getPoolConfig` and `pkg/aliyun/client/limit.go`.
 *
 * Pure: numbers in, numbers out.
 */

import type { EniConfig } from "../config/types.ts";
import type { Limits, PoolConfig } from "./types.ts";

/** Terway's batch: at most 10 IPs per Assign/Create call (`pkg/eni/local.go` `factoryAllocWorker`). */
export const BATCH_SIZE = 10;

export type NetworkMode = "shared" | "exclusive";

/**
 * Secondary ENIs we may hold: `int(adapters × eni_cap_ratio) + eni_cap_shift − 1` (the primary is
 * not ours), clipped by `max_eni` when set, never negative (Terway `getPoolConfig`).
 */
export function maxEniFor(
	limits: Pick<Limits, "adapters">,
	cfg: Pick<EniConfig, "eniCapRatio" | "eniCapShift" | "maxEni"> = {
		eniCapRatio: 1,
		eniCapShift: 0,
		maxEni: 0,
	},
): number {
	let n = Math.floor(limits.adapters * cfg.eniCapRatio) + cfg.eniCapShift - 1;
	if (cfg.maxEni > 0) n = Math.min(n, cfg.maxEni);
	return Math.max(0, n);
}

/**
 * Pod capacity of a node: shared ENI = maxEni × IPv4PerAdapter (each ENI's primary IP is usable in
 * the legacy pool); exclusive ENI = maxEni (one pod per ENI). With default ratio/shift this is
 * `(adapters − 1) × ipv4PerAdapter` and `adapters − 1` (cloud-sim.md §1.6). This is the value of
 * the node annotation `k8s.aliyun.com/max-available-ip`.
 */
export function capacity(limits: Limits, mode: NetworkMode, maxEni = maxEniFor(limits)): number {
	return mode === "exclusive" ? maxEni : maxEni * limits.ipv4PerAdapter;
}

/**
 * Whether dual stack can really be used on this instance type: IPv6 needs `ipv6PerAdapter > 0`
 * and, in multi-IP mode, as many v6 as v4 per ENI (Terway `daemon/builder.go`, §3.3).
 */
export function dualStackUsable(limits: Limits): boolean {
	return limits.ipv6PerAdapter > 0 && limits.ipv6PerAdapter === limits.ipv4PerAdapter;
}

/** Result of {@link poolConfigFrom}. */
export type DerivedPool = { config: PoolConfig; capacity: number; maxEni: number; warnings: string[] };

/**
 * Pool config for the planner from a validated `eni_conf` and the instance limits (Terway
 * `getPoolConfig`): `max_pool_size` clipped to capacity; `min_pool_size` replaced by
 * `min_eni × ipPerENI` when `min_eni > 0`, then clipped to max; exclusive mode keeps no pool;
 * dual stack falls back to IPv4 with a warning when the instance cannot do it.
 */
export function poolConfigFrom(eni: EniConfig, limits: Limits, mode: NetworkMode = "shared"): DerivedPool {
	const warnings: string[] = [];
	const maxEni = maxEniFor(limits, eni);
	const cap = capacity(limits, mode, maxEni);
	let max = Math.min(eni.maxPoolSize, cap);
	let min = eni.minEni > 0 ? eni.minEni * limits.ipv4PerAdapter : eni.minPoolSize;
	if (eni.maxPoolSize > cap)
		warnings.push(`max_pool_size ${eni.maxPoolSize} clipped to the node's capacity ${cap}`);
	if (min > max) {
		if (eni.minEni > 0 || eni.minPoolSize <= eni.maxPoolSize)
			warnings.push(`min_pool_size ${min} clipped to max_pool_size ${max}`);
		min = max;
	}
	if (mode === "exclusive") {
		min = 0;
		max = 0;
	}
	let dual = eni.ipStack === "dual";
	if (dual && !dualStackUsable(limits)) {
		dual = false;
		warnings.push(
			`ip_stack dual disabled: the instance has ${limits.ipv6PerAdapter} IPv6 per ENI and ${limits.ipv4PerAdapter} IPv4 per ENI (needs equal, > 0)`,
		);
	}
	return {
		config: {
			min,
			max,
			dual,
			maxEni,
			eniSelectionPolicy: eni.eniSelectionPolicy,
			vswitchPolicy: eni.vswitchPolicy,
			idleReclaimAfterMs: eni.idleIpReclaimAfterMs,
			idleReclaimBatchSize: eni.idleIpReclaimBatchSize,
			warmUpSize: mode === "exclusive" ? 0 : Math.min(eni.ipWarmUpSize, cap),
		},
		capacity: cap,
		maxEni,
		warnings,
	};
}

/** Warm-up (§7.9): complete once the node has held at least `warmUpSize` IPs (total, any state). */
export function isWarmUpComplete(warmUpSize: number, totalIps: number): boolean {
	return totalIps >= warmUpSize;
}

/**
 * Next idle-reclaim time: `now + interval × (1 + jitter × rng())` — Terway `wait.Jitter` as used by
 * `calculateToDel` (`pkg/eni/manager.go`).
 */
export function nextReclaimAt(
	nowMs: number,
	intervalMs: number,
	jitterFactor: number,
	rng: () => number,
): number {
	return nowMs + Math.round(intervalMs * (1 + jitterFactor * rng()));
}
