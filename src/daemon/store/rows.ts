/**
 * @module daemon/store/rows
 *
 * Row shapes as bun:sqlite returns them and their mapping to the public types.
 * Kept apart from `store.ts` so the SQL column names live in exactly two places:
 * `schema.ts` and here.
 */

import type {
	Allocation,
	Eni,
	EniStatus,
	EniType,
	Intent,
	IntentOp,
	IntentState,
	IpFamily,
	IpRecord,
	IpState,
} from "./types.ts";

export type EniRow = {
	eni_id: string;
	mac: string;
	type: string;
	vswitch_id: string;
	status: string;
	primary_ip: string | null;
	ours: number;
	created_at: number;
	updated_at: number;
};

export type IpRow = {
	ip: string;
	family: number;
	eni_id: string;
	state: string;
	is_primary: number;
	idle_since: number | null;
	pod_key: string | null;
	created_at: number;
	updated_at: number;
};

export type AllocationRow = {
	id: number;
	pod_key: string;
	namespace: string;
	name: string;
	uid: string;
	container_id: string;
	netns: string;
	ifname: string;
	ipv4: string | null;
	ipv6: string | null;
	eni_id: string;
	datapath: string;
	created_at: number;
};

export type IntentRow = {
	id: number;
	op: string;
	params: string;
	client_token: string | null;
	state: string;
	result: string | null;
	error: string | null;
	attempts: number;
	created_at: number;
	updated_at: number;
};

// The CHECK constraints in schema.ts guarantee the enum columns, so these casts are sound.
export const toEni = (r: EniRow): Eni => ({
	eniId: r.eni_id,
	mac: r.mac,
	type: r.type as EniType,
	vswitchId: r.vswitch_id,
	status: r.status as EniStatus,
	primaryIp: r.primary_ip,
	ours: r.ours === 1,
	createdAt: r.created_at,
	updatedAt: r.updated_at,
});

export const toIp = (r: IpRow): IpRecord => ({
	ip: r.ip,
	family: r.family as IpFamily,
	eniId: r.eni_id,
	state: r.state as IpState,
	primary: r.is_primary === 1,
	idleSince: r.idle_since,
	podKey: r.pod_key,
	createdAt: r.created_at,
	updatedAt: r.updated_at,
});

export const toAllocation = (r: AllocationRow): Allocation => ({
	id: r.id,
	podKey: r.pod_key,
	namespace: r.namespace,
	name: r.name,
	uid: r.uid,
	containerId: r.container_id,
	netns: r.netns,
	ifname: r.ifname,
	ipv4: r.ipv4,
	ipv6: r.ipv6,
	eniId: r.eni_id,
	datapath: r.datapath,
	createdAt: r.created_at,
});

export const toIntent = (r: IntentRow): Intent => ({
	id: r.id,
	op: r.op as IntentOp,
	params: JSON.parse(r.params),
	clientToken: r.client_token,
	state: r.state as IntentState,
	result: r.result === null ? null : JSON.parse(r.result),
	error: r.error,
	attempts: r.attempts,
	createdAt: r.created_at,
	updatedAt: r.updated_at,
});

/** JSON with object keys sorted, so equal params compare equal as text (ClientToken reuse check). */
export function canonicalJson(v: unknown): string {
	return JSON.stringify(v, (_k, val: unknown) => {
		if (val && typeof val === "object" && !Array.isArray(val)) {
			const o = val as Record<string, unknown>;
			return Object.fromEntries(
				Object.keys(o)
					.sort()
					.map((k) => [k, o[k]]),
			);
		}
		return val;
	});
}
