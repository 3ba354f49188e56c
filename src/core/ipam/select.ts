/**
 * Choices the pool makes per request: which IP a pod gets (ENI selection policy) and which
 * vSwitch a new ENI goes into (vSwitch selection policy). Deterministic for a given input and
 * rng, so tests can pin them.
 *
 * Pure: no I/O, randomness only through the injected `rng`.
 */

import { parseIP } from "../net/ip.ts";
import type {
	EniSelectionPolicy,
	PickOptions,
	PodIpChoice,
	PoolEni,
	PoolIp,
	Rng,
	VSwitchCandidate,
	VSwitchPolicy,
} from "./types.ts";

/** An ENI pods may take IPs from: attached, managed, not the primary, not ERDMA (those serve RDMA pods only). */
export const isServing = (e: PoolEni): boolean =>
	e.status === "inUse" && !e.primary && !e.erdma && !e.unmanaged;

/** An idle IP free for anyone: not reserved for a (sticky) pod. */
export const isFree = (ip: PoolIp): boolean => ip.state === "idle" && ip.podId === undefined;

/**
 * Terway `Local.Priority()`: in-use ENIs rank by how many IPs they hold. `most_ips` tries the
 * fullest ENI first (packs pods, leaves empty ENIs to reclaim); `least_ips` the emptiest
 * (spreads). Ties break by ENI id so the order is stable.
 */
export function orderEnis(enis: readonly PoolEni[], policy: EniSelectionPolicy): PoolEni[] {
	const held = (e: PoolEni) => e.ips.filter((ip) => !ip.ipv6 && ip.state !== "releasing").length;
	return [...enis].sort((a, b) => {
		const d = policy === "most_ips" ? held(b) - held(a) : held(a) - held(b);
		return d !== 0 ? d : a.eniId < b.eniId ? -1 : a.eniId > b.eniId ? 1 : 0;
	});
}

/** Numeric address order (10.0.0.9 before 10.0.0.10; v4 before v6); unparsable text sorts last by text. */
export function compareIp(a: string, b: string): number {
	let x: Uint8Array | undefined;
	let y: Uint8Array | undefined;
	try {
		x = parseIP(a).bytes;
	} catch {}
	try {
		y = parseIP(b).bytes;
	} catch {}
	if (!x || !y) return x ? -1 : y ? 1 : a < b ? -1 : a > b ? 1 : 0;
	if (x.length !== y.length) return x.length - y.length;
	for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return (x[i] as number) - (y[i] as number);
	return 0;
}

/** Oldest `idleSinceMs` first, then by address. */
export const byIdle = (a: PoolIp, b: PoolIp): number =>
	a.idleSinceMs - b.idleSinceMs || compareIp(a.ip, b.ip);

/** Longest-idle first, then by address: reuse the IP whose old connections are most likely gone. */
function oldestIdle(ips: readonly PoolIp[]): PoolIp | undefined {
	let best: PoolIp | undefined;
	for (const ip of ips) if (!best || byIdle(ip, best) < 0) best = ip;
	return best;
}

/**
 * The IP (v4, plus v6 from the same ENI when dual) a pod should get, or null when no ENI has a
 * free one (the caller then waits for the pool). A pod that already holds or reserved IPs gets
 * those back (Terway `Local.Allocate` "reuse an IP already bound to this pod").
 *
 * @example
 * pickIpForPod(enis, { policy: "most_ips", dual: false, podId: "default/web-0" })
 */
export function pickIpForPod(enis: readonly PoolEni[], opts: PickOptions): PodIpChoice | null {
	if (opts.podId !== undefined) {
		for (const e of [...enis].sort((a, b) => (a.eniId < b.eniId ? -1 : 1))) {
			if (e.status !== "inUse" || e.unmanaged) continue;
			const mine = e.ips.filter((ip) => ip.podId === opts.podId && ip.state !== "releasing");
			const v4 = mine.find((ip) => !ip.ipv6);
			if (!v4) continue;
			let v6 = mine.find((ip) => ip.ipv6)?.ip;
			if (opts.dual && v6 === undefined) {
				v6 = oldestIdle(e.ips.filter((ip) => ip.ipv6 && isFree(ip)))?.ip;
				if (v6 === undefined) continue;
			}
			return opts.dual
				? { eniId: e.eniId, ipv4: v4.ip, ipv6: v6 as string }
				: { eniId: e.eniId, ipv4: v4.ip };
		}
	}
	for (const e of orderEnis(enis.filter(isServing), opts.policy)) {
		const v4 = oldestIdle(e.ips.filter((ip) => !ip.ipv6 && isFree(ip)));
		if (!v4) continue;
		if (!opts.dual) return { eniId: e.eniId, ipv4: v4.ip };
		const v6 = oldestIdle(e.ips.filter((ip) => ip.ipv6 && isFree(ip)));
		if (v6) return { eniId: e.eniId, ipv4: v4.ip, ipv6: v6.ip };
	}
	return null;
}

/**
 * Pick the vSwitch for a new ENI (Terway `pkg/vswitch/vswitch.go` `SwitchPool.GetOne`):
 * vSwitches with no available IP or blocked until after `nowMs` are skipped; then
 * `random` picks uniformly with `rng`, `ordered` takes the first in config order, `most` the one
 * with the most available IPs (ties: config order). Null when none is usable.
 */
export function selectVSwitch(
	policy: VSwitchPolicy,
	candidates: readonly VSwitchCandidate[],
	blocked: Readonly<Record<string, number>>,
	nowMs: number,
	rng: Rng,
): string | null {
	const usable = candidates.filter((c) => c.availableIpCount > 0 && !((blocked[c.vswitchId] ?? 0) > nowMs));
	if (usable.length === 0) return null;
	switch (policy) {
		case "ordered":
			return (usable[0] as VSwitchCandidate).vswitchId;
		case "most": {
			let best = usable[0] as VSwitchCandidate;
			for (const c of usable) if (c.availableIpCount > best.availableIpCount) best = c;
			return best.vswitchId;
		}
		case "random": {
			const i = Math.min(usable.length - 1, Math.floor(rng() * usable.length));
			return (usable[i] as VSwitchCandidate).vswitchId;
		}
	}
}
