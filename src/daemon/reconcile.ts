/**
 * @module daemon/reconcile
 *
 * Brings the store in line with the cloud (DescribeNetworkInterfaces by instance) and metadata:
 * adopts secondary ENIs attached to this instance that the store does not know (ours when tagged
 * `creator=terway`), forgets idle IPs the cloud no longer has and adopts IPs it has, forgets
 * ENIs that are gone, and lists our tagged ENIs that nobody holds (orphans, for GC).
 * Run at startup after the intent replay, and on every `ip_pool_sync_period`.
 *
 * Never touches an ENI with work in flight; never removes an allocated IP (it is reported).
 */
import type { Eni as CloudEni, EcsApi } from "../cloud/types.ts";
import type { Logger } from "./log.ts";
import { type PoolManager, TAG_CREATOR, TAG_CREATOR_VALUE, TAG_INSTANCE } from "./pool.ts";
import { canonicalIp } from "./store/index.ts";

export type ReconcileReport = {
	adoptedEnis: string[];
	forgottenEnis: string[];
	adoptedIps: string[];
	forgottenIps: string[];
	/** Allocated IPs the cloud does not have (pods that lost their address). */
	lostAllocatedIps: string[];
	/** Our tagged ENIs for this instance that the store does not hold. */
	orphans: CloudEni[];
};

export async function reconcile(pool: PoolManager, ecs: EcsApi, log: Logger): Promise<ReconcileReport> {
	const store = pool.store;
	const node = pool.node;
	const r: ReconcileReport = {
		adoptedEnis: [],
		forgottenEnis: [],
		adoptedIps: [],
		forgottenIps: [],
		lostAllocatedIps: [],
		orphans: [],
	};
	const opts = { signal: pool.signal };
	const attached = await ecs.describeEnis({ instanceId: node.instanceId }, opts);
	const byId = new Map(attached.map((e) => [e.eniId, e]));
	const pendingEnis = new Set(
		store
			.pendingIntents()
			.map((i) => (i.params as { eniId?: string }).eniId)
			.filter((x): x is string => x !== undefined),
	);
	for (const c of attached) {
		if (c.type !== "Secondary" || c.eniId === node.primaryEniId) continue;
		if (store.eni(c.eniId)) continue;
		const ours = c.tags[TAG_CREATOR] === TAG_CREATOR_VALUE;
		store.upsertEni({
			eniId: c.eniId,
			mac: c.mac,
			type: "secondary",
			vswitchId: c.vswitchId,
			// Attaching: the pool brings it up (metadata, link) before handing out its IPs
			status: "Attaching",
			primaryIp: c.primaryIp,
			ours,
		});
		store.upsertIps(c.eniId, [
			{ ip: c.primaryIp, primary: true },
			...c.ipv4s.filter((ip) => ip !== c.primaryIp).map((ip) => ({ ip })),
			...c.ipv6s.map((ip) => ({ ip })),
		]);
		r.adoptedEnis.push(c.eniId);
		log.info({ eniId: c.eniId, ours }, "adopted an attached ENI");
	}
	for (const e of store.enis()) {
		if (e.type === "primary" || pendingEnis.has(e.eniId) || pool.isBusy(e.eniId)) continue;
		const c = byId.get(e.eniId);
		if (!c) {
			// not attached here: gone, or detached (ours → the pool re-attaches it)
			const d = await ecs.describeEni(e.eniId, opts);
			if (d && (!d.instanceId || d.instanceId === node.instanceId) && e.ours) continue;
			for (const a of store.allocations().filter((x) => x.eniId === e.eniId)) {
				log.error({ podKey: a.podKey, eniId: e.eniId }, "releasing an allocation whose ENI left this node");
				store.release(a.podKey, a.containerId);
			}
			store.removeEni(e.eniId);
			r.forgottenEnis.push(e.eniId);
			log.warn({ eniId: e.eniId }, "forgot an ENI that left this node");
			continue;
		}
		if (e.status !== "InUse") continue;
		const cloudIps = new Set([...c.ipv4s, ...c.ipv6s].map((ip) => canonicalIp(ip).ip));
		const local = store.ips({ eniId: e.eniId });
		const gone = local.filter((ip) => !cloudIps.has(ip.ip));
		const forget = gone.filter((ip) => ip.state !== "allocated").map((ip) => ip.ip);
		for (const ip of gone.filter((x) => x.state === "allocated")) {
			r.lostAllocatedIps.push(ip.ip);
			log.error({ ip: ip.ip, eniId: e.eniId, podKey: ip.podKey }, "an allocated IP is gone from the cloud");
		}
		if (forget.length > 0) {
			store.removeIps(forget);
			r.forgottenIps.push(...forget);
		}
		const known = new Set(local.map((x) => x.ip));
		const fresh = [...cloudIps].filter((ip) => !known.has(ip));
		if (fresh.length > 0) {
			store.upsertIps(
				e.eniId,
				fresh.map((ip) => ({ ip, primary: ip === c.primaryIp })),
			);
			r.adoptedIps.push(...fresh);
		}
	}
	const tagged = await ecs.describeEnis(
		{
			tags: { [TAG_CREATOR]: TAG_CREATOR_VALUE, [TAG_INSTANCE]: node.instanceId },
		},
		opts,
	);
	r.orphans = tagged.filter((e) => !store.eni(e.eniId) && !pendingEnis.has(e.eniId));
	if (r.adoptedIps.length + r.forgottenIps.length > 0)
		log.info({ adopted: r.adoptedIps, forgotten: r.forgottenIps }, "IPs reconciled with the cloud");
	return r;
}
