/**
 * The minimal change between two MapStates: what the agent writes to the pinned maps. An entry
 * present in both with the same value is absent; a changed value is a `set` (one map update, no
 * delete first, so the datapath never sees a gap). Output order is deterministic (by key). Pure.
 */
import { type IpEntry, ipKey, type MapDiff, type MapState, type PolicyEntry, policyKey } from "./types.ts";

function diffMap<K, V>(
	prev: ReadonlyMap<K, V>,
	next: ReadonlyMap<K, V>,
	same: (a: V, b: V) => boolean,
): { set: [K, V][]; del: [K, V][] } {
	const set: [K, V][] = [];
	const del: [K, V][] = [];
	for (const [k, v] of next) {
		const old = prev.get(k);
		if (old === undefined || !same(old, v)) set.push([k, v]);
	}
	for (const [k, v] of prev) if (!next.has(k)) del.push([k, v]);
	const order = ([a]: [K, V], [b]: [K, V]) => (a < b ? -1 : a > b ? 1 : 0);
	return { set: set.sort(order), del: del.sort(order) };
}

const sameIp = (a: IpEntry, b: IpEntry) =>
	ipKey(a) === ipKey(b) && a.identity === b.identity && a.flags === b.flags;
const samePolicy = (a: PolicyEntry, b: PolicyEntry) => policyKey(a) === policyKey(b) && a.rule === b.rule;

/** What turns `prev` into `next`. */
export function diff(prev: MapState, next: MapState): MapDiff {
	const ips = diffMap(prev.ips, next.ips, sameIp);
	const policy = diffMap(prev.policy, next.policy, samePolicy);
	const idNames = diffMap(prev.idNames, next.idNames, (a, b) => a === b);
	const ruleNames = diffMap(prev.ruleNames, next.ruleNames, (a, b) => a === b);
	return {
		ips: { set: ips.set.map(([, v]) => v), del: ips.del.map(([, v]) => v) },
		policy: { set: policy.set.map(([, v]) => v), del: policy.del.map(([, v]) => v) },
		idNames: { set: idNames.set, del: idNames.del.map(([k]) => k) },
		ruleNames: { set: ruleNames.set, del: ruleNames.del.map(([k]) => k) },
	};
}

/** An empty MapState (the maps before the first compile). */
export const emptyState = (): MapState => ({
	ips: new Map(),
	policy: new Map(),
	idNames: new Map(),
	ruleNames: new Map(),
});

/** Whether a diff changes nothing. */
export const isEmptyDiff = (d: MapDiff): boolean =>
	d.ips.set.length +
		d.ips.del.length +
		d.policy.set.length +
		d.policy.del.length +
		d.idNames.set.length +
		d.idNames.del.length +
		d.ruleNames.set.length +
		d.ruleNames.del.length ===
	0;
