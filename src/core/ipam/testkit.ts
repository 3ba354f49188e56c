/**
 * Test helpers for the pool planner: snapshot builders and a tiny in-memory "cloud" that applies
 * actions instantly, so tests can run the decide → act loop to a fixed point. Pure; used only by
 * `*.test.ts` (kept out of them so several test files can share it).
 */

import { emptyInhibit } from "./inhibit.ts";
import { planPool } from "./pool.ts";
import { pickIpForPod } from "./select.ts";
import type { Limits, PoolAction, PoolConfig, PoolEni, PoolIp, PoolSnapshot, Rng } from "./types.ts";

export const cfg = (o: Partial<PoolConfig> = {}): PoolConfig => ({
	min: 0,
	max: 0,
	dual: false,
	maxEni: 3,
	eniSelectionPolicy: "most_ips",
	vswitchPolicy: "ordered",
	idleReclaimBatchSize: 5,
	warmUpSize: 0,
	...o,
});

export const LIMITS: Limits = { adapters: 4, ipv4PerAdapter: 20, ipv6PerAdapter: 20 };

export const snap = (o: Partial<PoolSnapshot> = {}): PoolSnapshot => ({
	limits: LIMITS,
	config: cfg(),
	enis: [],
	inhibit: emptyInhibit(),
	nowMs: 1_000_000,
	pending: { assign: [], createEni: [], unassign: [], deleteEni: [] },
	waiting: 0,
	vswitches: [{ vswitchId: "vsw-1", availableIpCount: 1000 }],
	lastModifiedMs: 1_000_000,
	warmUpCompleted: true,
	...o,
});

/** An ENI with `allocated` + `idle` IPv4 (the first is the primary), optional matching IPv6. */
export function eni(
	id: string,
	allocated: number,
	idle: number,
	o: Partial<PoolEni> & { v6?: boolean; idleSinceMs?: number } = {},
): PoolEni {
	const n = Number(id.replace(/\D/g, "")) % 250;
	const ips: PoolIp[] = [];
	for (let i = 0; i < allocated + idle; i++) {
		const state = i < allocated ? "allocated" : "idle";
		ips.push({
			ip: `10.${n}.0.${i + 1}`,
			state,
			idleSinceMs: o.idleSinceMs ?? 0,
			...(i === 0 ? { primary: true } : {}),
			...(state === "allocated" ? { podId: `ns/p-${id}-${i}` } : {}),
		});
		if (o.v6) {
			ips.push({
				ip: `fd00:${n}::${(i + 1).toString(16)}`,
				ipv6: true,
				state,
				idleSinceMs: o.idleSinceMs ?? 0,
				...(state === "allocated" ? { podId: `ns/p-${id}-${i}` } : {}),
			});
		}
	}
	const { v6: _v6, idleSinceMs: _i, ...rest } = o;
	return { eniId: id, ours: true, status: "inUse", vswitchId: "vsw-1", ips, ...rest };
}

export const kinds = (as: PoolAction[]) => as.map((a) => a.kind);

/**
 * Run the loop: plan, apply every action instantly, hand free IPs to waiters, repeat until the
 * plan is empty (or only waits/exhausted). Returns the final snapshot and every action performed.
 */
export function runToFixedPoint(start: PoolSnapshot, rng: Rng = () => 0, maxRounds = 100) {
	let s = structuredClone(start);
	const log: PoolAction[] = [];
	let next = 1;
	let served = 0;
	for (let round = 0; round < maxRounds; round++) {
		// serve waiters first, as the daemon does on every change
		while (s.waiting > 0) {
			const pick = pickIpForPod(s.enis, { policy: s.config.eniSelectionPolicy, dual: s.config.dual });
			if (!pick) break;
			for (const e of s.enis)
				for (const ip of e.ips)
					if (ip.ip === pick.ipv4 || ip.ip === pick.ipv6) {
						ip.state = "allocated";
						ip.podId = `w/${served}`;
					}
			s.waiting--;
			served++;
		}
		const actions = planPool(s, rng).filter((a) => a.kind !== "waitInhibited" && a.kind !== "exhausted");
		if (actions.length === 0) return { s, log, served };
		for (const a of actions) {
			log.push(a);
			const ipv4 = () => `10.200.${Math.floor(next / 250)}.${(next++ % 250) + 1}`;
			const ipv6 = () => `fd00:200::${(next++).toString(16)}`;
			const fresh = (v6: boolean, primary = false): PoolIp => ({
				ip: v6 ? ipv6() : ipv4(),
				state: "idle",
				idleSinceMs: s.nowMs,
				...(v6 ? { ipv6: true } : {}),
				...(primary ? { primary: true } : {}),
			});
			if (a.kind === "assign") {
				const e = s.enis.find((x) => x.eniId === a.eniId);
				if (!e) throw new Error(`assign to missing ${a.eniId}`);
				for (let i = 0; i < a.count; i++) e.ips.push(fresh(false));
				for (let i = 0; i < a.ipv6Count; i++) e.ips.push(fresh(true));
			} else if (a.kind === "createEni") {
				const ips: PoolIp[] = [];
				for (let i = 0; i < a.ipCount; i++) ips.push(fresh(false, i === 0));
				for (let i = 0; i < a.ipv6Count; i++) ips.push(fresh(true));
				s.enis.push({ eniId: `eni-new${next++}`, ours: true, status: "inUse", vswitchId: a.vswitchId, ips });
			} else if (a.kind === "unassign") {
				const e = s.enis.find((x) => x.eniId === a.eniId);
				if (e) e.ips = e.ips.filter((ip) => !a.ips.includes(ip.ip));
			} else if (a.kind === "deleteEni") {
				s.enis = s.enis.filter((x) => x.eniId !== a.eniId);
			}
		}
		s = { ...s };
	}
	throw new Error("no fixed point");
}
