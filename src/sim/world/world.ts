/**
 * The offline cloud's state: one VPC, its vSwitches (with address allocators), instances (the
 * nodes) and ENIs, with the ECS ENI state machine (cloud-sim.md §1.3), limits (§1.6), metadata
 * lag, STS credentials per instance and the ClientToken store. Each face (OpenAPI, metadata,
 * datapath, control) is a thin adapter over this object; it does no I/O of its own.
 *
 * Rules every operation follows:
 * - Validate everything first, then mutate: a thrown CloudError means nothing changed.
 * - Attach, Detach and Delete are asynchronous: the call moves the ENI to Attaching/Detaching/
 *   Deleting and a timer (latency profile: fast 20–60 ms, realistic 1–3 s) finishes it.
 * - Listeners are awaited in order per ENI. **`eni.attached` is delivered while the ENI is still
 *   `Attaching`, and the ENI becomes `InUse` only after every listener resolved** (cloud-sim §5.4
 *   pitfall 8: the datapath has hot-plugged the link by the time the API says InUse, so a daemon
 *   that polls for InUse and then looks for the link by MAC finds it). A listener that throws fails
 *   the attach (back to Available). `eni.detached` is delivered before the ENI turns Available.
 * - Metadata (metadataEnis) shows a change `metadataLagMs` after it happened in the API (or the
 *   `ms` of a matching `metadataLag` fault rule: face "world" or unset, action = the OpenAPI action).
 * - A new listener first receives the current state (`instance.up` per instance, `eni.attached`
 *   per attached secondary ENI), then live transitions, so a late datapath or a restored snapshot
 *   converges.
 * - World faults (`attachStuck`, `attachFail`, `metadataLag`) are looked up with face "world" and
 *   the OpenAPI action name ("AttachNetworkInterface", "AssignPrivateIpAddresses", ...).
 */
import type {
	EniStatus,
	EniType,
	EniView,
	FaultRule,
	InstanceView,
	Scenario,
	ScenarioInstanceType,
	WorldEvent,
	WorldHandle,
	WorldListener,
} from "../contracts.ts";
import type { FaultEngine } from "../faults.ts";
import type { RequestLog } from "../request-log.ts";
import { type AllocMode, VSwitchPool } from "./allocator.ts";
import { CloudError, errs } from "./errors.ts";
import { Rng } from "./rng.ts";
import { validateScenario } from "./scenario.ts";

/** Time source and timers; tests pass a manual clock. */
export interface Clock {
	now(): number;
	setTimeout(fn: () => void, ms: number): unknown;
	clearTimeout(handle: unknown): void;
}

export const realClock: Clock = {
	now: () => Date.now(),
	setTimeout: (fn, ms) => setTimeout(fn, ms),
	clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

export type WorldOptions = {
	/** Seed for IDs, MACs, IP picks and latency draws (default 1: deterministic). */
	seed?: number;
	faults?: FaultEngine;
	log?: RequestLog;
	clock?: Clock;
	/** IP picks: "random" (default, as ECS does) or "sequential" (lowest free first). */
	allocation?: AllocMode;
	/** Override the scenario's latency profile. */
	latency?: Scenario["latency"];
};

/** An ENI as the OpenAPI describes it: the shared view plus API-only attributes. */
export type EniDetail = EniView & {
	description: string;
	deleteOnRelease: boolean;
	sourceDestCheck: boolean;
	resourceGroupId: string;
	trafficMode: string;
	trunkEniId: string | undefined;
	networkCardIndex: number | undefined;
};

export type VSwitchView = {
	vswitchId: string;
	vpcId: string;
	zoneId: string;
	cidr: string;
	ipv6Cidr: string | undefined;
	gateway: string;
	ipv6Gateway: string | undefined;
	/** Derived from the allocator. */
	availableIpAddressCount: number;
	creationTime: string;
};

export type CreateEniRequest = {
	vswitchId: string;
	securityGroupIds: string[];
	type?: "Secondary" | "Trunk";
	/** Secondary private IPs besides the primary (0..49). */
	secondaryIpCount?: number;
	ipv6Count?: number;
	description?: string;
	tags?: Record<string, string>;
	deleteOnRelease?: boolean;
	sourceDestCheck?: boolean;
	resourceGroupId?: string;
	trafficMode?: string;
};

export type EniFilter = {
	eniIds?: string[];
	instanceId?: string;
	vpcId?: string;
	vswitchId?: string;
	type?: EniType;
	status?: EniStatus;
	/** Exact key=value, all must match. */
	tags?: Record<string, string>;
	privateIps?: string[];
	securityGroupId?: string;
};

export type StsCredentials = ReturnType<WorldHandle["stsCredentials"]>;

/** What the OpenAPI's signature check needs to know about an AccessKeyId. */
export type KnownCredential =
	| { kind: "static"; secret: string }
	| { kind: "sts"; secret: string; securityToken: string; expiresAt: number; instanceId: string };

/** A ClientToken's remembered outcome. */
export type RememberedToken = { hash: string; body: Record<string, unknown>; at: number };

type EniRec = {
	id: string;
	mac: string;
	type: EniType;
	status: EniStatus;
	instanceId: string | undefined;
	deviceIndex: number | undefined;
	trunkEniId: string | undefined;
	networkCardIndex: number | undefined;
	vswitchId: string;
	securityGroupIds: string[];
	tags: Record<string, string>;
	ips: string[];
	ipv6s: string[];
	description: string;
	deleteOnRelease: boolean;
	sourceDestCheck: boolean;
	resourceGroupId: string;
	trafficMode: string;
	creationTime: string;
	seq: number;
	/** A world fault left it Attaching for good. */
	stuck?: boolean;
};

type InstanceRec = {
	id: string;
	nodeName: string;
	instanceType: string;
	zoneId: string;
	primaryEniId: string;
};

type PendingOp = { op: "attach" | "detach" | "delete"; dueAt: number; timer: unknown };
type StsRec = { accessKeyId: string; accessKeySecret: string; securityToken: string; expiresAt: number };

/** Per-ENI IP limit when the ENI is not attached (ECS docs). */
export const UNATTACHED_IP_LIMIT = 50;
const STS_TTL_MS = 3600_000;
/** A new STS triple is issued once the current one has less than this left (providers refresh at 5 min). */
const STS_ROTATE_BEFORE_MS = 15 * 60_000;
const TOKEN_CAP = 10_000;
const LATENCY = {
	fast: { attach: [20, 60], detach: [20, 60], delete: [20, 60] },
	realistic: { attach: [1000, 3000], detach: [1000, 3000], delete: [500, 1500] },
} as const;

const isoSeconds = (ms: number) => `${new Date(ms).toISOString().slice(0, 19)}Z`;
const clone = <T>(v: T): T => structuredClone(v);

export class World implements WorldHandle {
	readonly scenario: Scenario;
	readonly #rng: Rng;
	readonly #clock: Clock;
	readonly #faults: FaultEngine | undefined;
	readonly #log: RequestLog | undefined;
	readonly #latency: Scenario["latency"];
	readonly #pools = new Map<string, VSwitchPool>();
	readonly #types = new Map<string, ScenarioInstanceType>();
	readonly #instances = new Map<string, InstanceRec>();
	readonly #enis = new Map<string, EniRec>();
	readonly #pending = new Map<string, PendingOp>();
	readonly #listeners = new Set<WorldListener>();
	readonly #chains = new Map<string, Promise<void>>();
	readonly #metadata = new Map<string, { at: number; enis: EniView[] }[]>();
	readonly #sts = new Map<string, StsRec[]>();
	readonly #tokens = new Map<string, RememberedToken>();
	readonly #createdAt: string;
	#seq = 0;
	#closed = false;

	/** Use createWorld/loadWorld. */
	constructor(scenario: Scenario, opts: WorldOptions, restore?: WorldSnapshot) {
		this.scenario = scenario;
		this.#rng = new Rng(restore?.rng ?? opts.seed ?? 1);
		this.#clock = opts.clock ?? realClock;
		this.#faults = opts.faults;
		this.#log = opts.log;
		this.#latency = opts.latency ?? scenario.latency;
		for (const t of scenario.instanceTypes) this.#types.set(t.id, t);
		for (const v of scenario.vswitches)
			this.#pools.set(v.id, new VSwitchPool(v, opts.allocation ?? "random"));
		this.#createdAt = restore?.createdAt ?? isoSeconds(this.#clock.now());
		if (restore) this.#restore(restore);
		else this.#seed();
	}

	// ---------------------------------------------------------------------------------------------
	// WorldHandle

	on(listener: WorldListener): () => void {
		this.#listeners.add(listener);
		// replay the current state to this listener only
		for (const inst of this.#instances.values()) {
			const view = this.#instanceView(inst);
			void this.#deliver(`inst:${inst.id}`, { type: "instance.up", instance: view }, listener).catch(
				() => {},
			);
		}
		for (const e of this.#sortedEnis()) {
			if (e.type === "Primary" || !e.instanceId || (e.status !== "InUse" && e.status !== "Detaching"))
				continue;
			const inst = this.#instances.get(e.instanceId);
			if (!inst) continue;
			const ev: WorldEvent = { type: "eni.attached", instance: this.#instanceView(inst), eni: this.#view(e) };
			void this.#deliver(`eni:${e.id}`, ev, listener).catch(() => {});
		}
		return () => this.#listeners.delete(listener);
	}

	instances(): InstanceView[] {
		return [...this.#instances.values()].map((i) => this.#instanceView(i));
	}

	enis(): EniView[] {
		return this.#sortedEnis().map((e) => this.#view(e));
	}

	instance(instanceId: string): InstanceView | undefined {
		const i = this.#instances.get(instanceId);
		return i ? this.#instanceView(i) : undefined;
	}

	instanceByIp(ip: string): InstanceView | undefined {
		for (const i of this.#instances.values()) {
			if (this.#enis.get(i.primaryEniId)?.ips.includes(ip)) return this.#instanceView(i);
		}
		return undefined;
	}

	metadataEnis(instanceId: string): EniView[] {
		const versions = this.#metadata.get(instanceId);
		if (!versions) return [];
		const now = this.#clock.now();
		for (let i = versions.length - 1; i >= 0; i--) {
			const v = versions[i]!;
			if (v.at <= now) {
				if (i > 0) versions.splice(0, i); // older versions can never be shown again
				return clone(v.enis);
			}
		}
		return [];
	}

	stsCredentials(instanceId: string): StsCredentials {
		if (!this.#instances.has(instanceId)) throw new Error(`no instance ${JSON.stringify(instanceId)}`);
		const now = this.#clock.now();
		const list = (this.#sts.get(instanceId) ?? []).filter((c) => c.expiresAt > now);
		let cur = list.at(-1);
		if (!cur || cur.expiresAt - now < STS_ROTATE_BEFORE_MS) {
			cur = {
				accessKeyId: `STS.${this.#rng.chars(21, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")}`,
				accessKeySecret: this.#rng.chars(
					44,
					"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
				),
				securityToken: `CAIS${this.#rng.chars(200, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")}`,
				expiresAt: Math.floor((now + STS_TTL_MS) / 1000) * 1000,
			};
			list.push(cur);
			this.#record("sts.issued", {
				instanceId,
				detail: { accessKeyId: cur.accessKeyId, expiration: isoSeconds(cur.expiresAt) },
			});
		}
		this.#sts.set(instanceId, list);
		return {
			accessKeyId: cur.accessKeyId,
			accessKeySecret: cur.accessKeySecret,
			securityToken: cur.securityToken,
			expiration: isoSeconds(cur.expiresAt),
		};
	}

	snapshot(): WorldSnapshot {
		const now = this.#clock.now();
		return clone({
			kind: "terway-sim-world",
			version: 1,
			scenario: this.scenario,
			rng: this.#rng.state,
			seq: this.#seq,
			createdAt: this.#createdAt,
			instances: [...this.#instances.values()],
			enis: this.#sortedEnis(),
			pending: [...this.#pending].map(([eniId, p]) => ({
				eniId,
				op: p.op,
				remainingMs: Math.max(0, p.dueAt - now),
			})),
			metadata: Object.fromEntries(
				[...this.#metadata].map(([id, vs]) => [
					id,
					vs.map((v) => ({ inMs: Math.max(0, v.at - now), enis: v.enis })),
				]),
			),
			sts: Object.fromEntries(
				[...this.#sts].map(([id, cs]) => [id, cs.map((c) => ({ ...c, expiresInMs: c.expiresAt - now }))]),
			),
			tokens: [...this.#tokens].map(([key, t]) => ({ key, hash: t.hash, body: t.body })),
		});
	}

	close(): void {
		this.#closed = true;
		for (const p of this.#pending.values()) this.#clock.clearTimeout(p.timer);
		this.#pending.clear();
		this.#listeners.clear();
	}

	// ---------------------------------------------------------------------------------------------
	// Reads the OpenAPI needs

	get closed(): boolean {
		return this.#closed;
	}

	eni(eniId: string): EniDetail | undefined {
		const e = this.#enis.get(eniId);
		return e ? this.#detail(e) : undefined;
	}

	describeEnis(f: EniFilter = {}): EniDetail[] {
		return this.#sortedEnis()
			.filter(
				(e) =>
					(!f.eniIds || f.eniIds.includes(e.id)) &&
					(!f.instanceId || e.instanceId === f.instanceId) &&
					(!f.vpcId || f.vpcId === this.scenario.vpc.id) &&
					(!f.vswitchId || e.vswitchId === f.vswitchId) &&
					(!f.type || e.type === f.type) &&
					(!f.status || e.status === f.status) &&
					(!f.securityGroupId || e.securityGroupIds.includes(f.securityGroupId)) &&
					(!f.privateIps || f.privateIps.some((ip) => e.ips.includes(ip))) &&
					(!f.tags || Object.entries(f.tags).every(([k, v]) => e.tags[k] === v)),
			)
			.map((e) => this.#detail(e));
	}

	instanceTypes(): ScenarioInstanceType[] {
		return clone(this.scenario.instanceTypes);
	}

	vswitches(): VSwitchView[] {
		return this.scenario.vswitches.map((v) => {
			const pool = this.#pools.get(v.id)!;
			return {
				vswitchId: v.id,
				vpcId: this.scenario.vpc.id,
				zoneId: v.zone,
				cidr: v.cidr,
				ipv6Cidr: v.ipv6Cidr,
				gateway: pool.gateway,
				ipv6Gateway: pool.gateway6,
				availableIpAddressCount: pool.available,
				creationTime: this.#createdAt,
			};
		});
	}

	/** The secret (and STS facts) for an AccessKeyId, for signature checks; undefined when unknown. */
	credential(accessKeyId: string): KnownCredential | undefined {
		const k = this.scenario.accessKeys.find((a) => a.id === accessKeyId);
		if (k) return { kind: "static", secret: k.secret };
		for (const [instanceId, list] of this.#sts) {
			const c = list.find((x) => x.accessKeyId === accessKeyId);
			if (c)
				return {
					kind: "sts",
					secret: c.accessKeySecret,
					securityToken: c.securityToken,
					expiresAt: c.expiresAt,
					instanceId,
				};
		}
		return undefined;
	}

	now(): number {
		return this.#clock.now();
	}

	// ClientToken store (cloud-sim.md §1.4): kept in the world so a snapshot carries it.
	recallToken(key: string): RememberedToken | undefined {
		const t = this.#tokens.get(key);
		return t ? clone(t) : undefined;
	}

	rememberToken(key: string, hash: string, body: Record<string, unknown>): void {
		this.#tokens.set(key, { hash, body: clone(body), at: this.#clock.now() });
		if (this.#tokens.size > TOKEN_CAP) this.#tokens.delete(this.#tokens.keys().next().value!);
	}

	/** Resolves once every event delivery in flight has finished (tests, orderly shutdown). */
	async settled(): Promise<void> {
		while (this.#chains.size > 0) await Promise.allSettled([...this.#chains.values()]);
	}

	// ---------------------------------------------------------------------------------------------
	// Mutations (each validates fully, then mutates)

	createEni(req: CreateEniRequest): EniDetail {
		const pool = this.#pools.get(req.vswitchId);
		if (!pool) throw errs.vswNotFound(req.vswitchId);
		if (req.securityGroupIds.length === 0) throw errs.missing("SecurityGroupIds");
		for (const sg of req.securityGroupIds)
			if (!this.scenario.securityGroups.includes(sg)) throw errs.sgNotFound(sg);
		const secondary = req.secondaryIpCount ?? 0;
		const v6 = req.ipv6Count ?? 0;
		if (!Number.isInteger(secondary) || secondary < 0)
			throw errs.invalid("SecondaryPrivateIpAddressCount", secondary, "must be a non-negative integer");
		if (!Number.isInteger(v6) || v6 < 0)
			throw errs.invalid("Ipv6AddressCount", v6, "must be a non-negative integer");
		if (secondary + 1 > UNATTACHED_IP_LIMIT) throw errs.ipv4Count("(new)", UNATTACHED_IP_LIMIT);
		if (v6 > UNATTACHED_IP_LIMIT) throw errs.ipv6Count("(new)", UNATTACHED_IP_LIMIT);
		if (v6 > 0 && !pool.hasIpv6) throw errs.ipv6NotEnabled(req.vswitchId);
		if (Object.keys(req.tags ?? {}).length > 20) throw errs.invalid("Tag", req.tags, "has more than 20 tags");
		this.#checkV4Capacity(pool, secondary + 1);

		const id = this.#newId("eni");
		const rec: EniRec = {
			id,
			mac: this.#newMac(),
			type: req.type ?? "Secondary",
			status: "Available",
			instanceId: undefined,
			deviceIndex: undefined,
			trunkEniId: undefined,
			networkCardIndex: undefined,
			vswitchId: req.vswitchId,
			securityGroupIds: [...req.securityGroupIds],
			tags: { ...(req.tags ?? {}) },
			ips: pool.allocate(secondary + 1, this.#rng),
			ipv6s: v6 > 0 ? pool.allocate6(v6, this.#rng) : [],
			description: req.description ?? "",
			deleteOnRelease: req.deleteOnRelease ?? true,
			sourceDestCheck: req.sourceDestCheck ?? false,
			resourceGroupId: req.resourceGroupId ?? "",
			trafficMode: req.trafficMode ?? "Standard",
			creationTime: isoSeconds(this.#clock.now()),
			seq: ++this.#seq,
		};
		this.#enis.set(id, rec);
		this.#record("eni.created", {
			eniId: id,
			detail: { vswitchId: rec.vswitchId, ips: rec.ips, ipv6s: rec.ipv6s, type: rec.type },
		});
		return this.#detail(rec);
	}

	attachEni(
		eniId: string,
		instanceId: string,
		opts: { trunkEniId?: string; networkCardIndex?: number } = {},
	): void {
		const e = this.#mustEni(eniId);
		const inst = this.#instances.get(instanceId);
		if (!inst) throw errs.ecsNotFound(instanceId);
		if (e.status !== "Available") throw errs.eniState(eniId, e.status, "AttachNetworkInterface");
		const type = this.#types.get(inst.instanceType)!;
		const vsw = this.#pools.get(e.vswitchId)!.vsw;
		if (vsw.zone !== inst.zoneId)
			throw new CloudError(
				"InvalidOperation.ZoneMismatch",
				403,
				`NetworkInterface "${eniId}" is in zone ${vsw.zone}, instance "${instanceId}" in ${inst.zoneId}.`,
			);
		if (e.ips.length > type.eniPrivateIpAddressQuantity)
			throw errs.ipv4Count(eniId, type.eniPrivateIpAddressQuantity);
		if (e.ipv6s.length > type.eniIpv6AddressQuantity)
			throw errs.ipv6Count(eniId, type.eniIpv6AddressQuantity);
		let deviceIndex: number;
		let trunkEniId: string | undefined;
		if (opts.trunkEniId) {
			const trunk = this.#enis.get(opts.trunkEniId);
			if (!trunk) throw errs.eniNotFound(opts.trunkEniId);
			if (trunk.type !== "Trunk" || trunk.instanceId !== instanceId || trunk.status !== "InUse")
				throw errs.eniState(opts.trunkEniId, trunk.status, "AttachNetworkInterface (trunk)");
			if (e.type !== "Secondary")
				throw errs.invalid("NetworkInterfaceId", eniId, "is not a Secondary ENI and cannot be a member");
			const members = [...this.#enis.values()].filter((m) => m.trunkEniId === trunk.id);
			const limit = type.eniTotalQuantity - type.eniQuantity;
			if (members.length >= limit) throw errs.eniLimit(instanceId, type.eniTotalQuantity);
			deviceIndex = this.#lowestFree(
				members.map((m) => m.deviceIndex ?? 0),
				1,
			);
			trunkEniId = trunk.id;
		} else {
			const onInstance = [...this.#enis.values()].filter(
				(x) => x.instanceId === instanceId && x.type !== "Member",
			);
			if (onInstance.length >= type.eniQuantity) throw errs.eniLimit(instanceId, type.eniQuantity);
			if (e.type === "Trunk" && !type.eniTrunkSupported)
				throw new CloudError(
					"InvalidOperation.TrunkNotSupported",
					403,
					`Instance type ${type.id} does not support trunk network interfaces.`,
				);
			deviceIndex = this.#lowestFree(
				onInstance.map((x) => x.deviceIndex ?? 0),
				1,
			);
		}
		e.status = "Attaching";
		e.instanceId = instanceId;
		e.deviceIndex = deviceIndex;
		e.trunkEniId = trunkEniId;
		e.networkCardIndex = opts.networkCardIndex ?? 0;
		if (trunkEniId) e.type = "Member";
		this.#record("eni.attaching", { eniId, instanceId, detail: { deviceIndex, trunkEniId } });
		this.#schedule(eniId, "attach");
	}

	detachEni(eniId: string, instanceId: string, trunkEniId?: string): void {
		const e = this.#mustEni(eniId);
		if (!this.#instances.has(instanceId)) throw errs.ecsNotFound(instanceId);
		if (e.type === "Primary")
			throw new CloudError(
				"InvalidOperation.DetachPrimaryEniNotAllowed",
				403,
				`The primary NetworkInterface "${eniId}" cannot be detached.`,
			);
		if (e.instanceId !== instanceId || (trunkEniId && e.trunkEniId !== trunkEniId))
			throw new CloudError(
				"InvalidOperation.InvalidEniState",
				403,
				`NetworkInterface "${eniId}" is not attached to instance "${instanceId}"${trunkEniId ? ` through trunk ${trunkEniId}` : ""} (status ${e.status}).`,
			);
		if (e.status === "Detaching") return; // re-issuing is accepted (cloud-sim.md §1.2)
		if (e.status === "Attaching") throw errs.conflict(eniId, e.status);
		if (e.status !== "InUse") throw errs.eniState(eniId, e.status, "DetachNetworkInterface");
		e.status = "Detaching";
		this.#record("eni.detaching", { eniId, instanceId });
		this.#schedule(eniId, "detach");
	}

	deleteEni(eniId: string): void {
		const e = this.#mustEni(eniId);
		if (e.status !== "Available") throw errs.eniState(eniId, e.status, "DeleteNetworkInterface");
		e.status = "Deleting";
		this.#record("eni.deleting", { eniId });
		this.#schedule(eniId, "delete");
	}

	assignIpv4(eniId: string, count: number, action = "AssignPrivateIpAddresses"): string[] {
		const e = this.#mustEni(eniId);
		this.#checkIpOpState(e);
		if (!Number.isInteger(count) || count < 1)
			throw errs.invalid("SecondaryPrivateIpAddressCount", count, "must be a positive integer");
		const limit = this.#ipv4Limit(e);
		if (e.ips.length + count > limit) throw errs.ipv4Count(eniId, limit);
		const pool = this.#pools.get(e.vswitchId)!;
		this.#checkV4Capacity(pool, count);
		const ips = pool.allocate(count, this.#rng);
		e.ips.push(...ips);
		this.#record("eni.ipsAssigned", { eniId, instanceId: e.instanceId, detail: { ips } });
		this.#ipsChanged(e, action);
		return ips;
	}

	unassignIpv4(eniId: string, ips: string[], action = "UnassignPrivateIpAddresses"): void {
		const e = this.#mustEni(eniId);
		this.#checkIpOpState(e);
		const want = [...new Set(ips)];
		for (const ip of want) if (!e.ips.includes(ip) || ip === e.ips[0]) throw errs.ipUnassigned(ip, eniId);
		e.ips = e.ips.filter((ip) => !want.includes(ip));
		this.#pools.get(e.vswitchId)!.release(want);
		this.#record("eni.ipsUnassigned", { eniId, instanceId: e.instanceId, detail: { ips: want } });
		this.#ipsChanged(e, action);
	}

	assignIpv6(eniId: string, count: number, action = "AssignIpv6Addresses"): string[] {
		const e = this.#mustEni(eniId);
		this.#checkIpOpState(e);
		if (!Number.isInteger(count) || count < 1)
			throw errs.invalid("Ipv6AddressCount", count, "must be a positive integer");
		const pool = this.#pools.get(e.vswitchId)!;
		if (!pool.hasIpv6) throw errs.ipv6NotEnabled(e.vswitchId);
		const limit = e.instanceId ? this.#typeOf(e.instanceId).eniIpv6AddressQuantity : UNATTACHED_IP_LIMIT;
		if (e.ipv6s.length + count > limit) throw errs.ipv6Count(eniId, limit);
		if (pool.available6 < BigInt(count)) throw errs.ipNotEnough(e.vswitchId);
		const ips = pool.allocate6(count, this.#rng);
		e.ipv6s.push(...ips);
		this.#record("eni.ipv6sAssigned", { eniId, instanceId: e.instanceId, detail: { ipv6s: ips } });
		this.#ipsChanged(e, action);
		return ips;
	}

	unassignIpv6(eniId: string, ips: string[], action = "UnassignIpv6Addresses"): void {
		const e = this.#mustEni(eniId);
		this.#checkIpOpState(e);
		const want = [...new Set(ips)];
		for (const ip of want) if (!e.ipv6s.includes(ip)) throw errs.ipUnassigned(ip, eniId);
		e.ipv6s = e.ipv6s.filter((ip) => !want.includes(ip));
		this.#pools.get(e.vswitchId)!.release6(want);
		this.#record("eni.ipv6sUnassigned", { eniId, instanceId: e.instanceId, detail: { ipv6s: want } });
		this.#ipsChanged(e, action);
	}

	// ---------------------------------------------------------------------------------------------
	// internals

	#seed() {
		const n = this.scenario.nodes;
		const pool = this.#pools.get(n.vswitch)!;
		for (let i = 1; i <= n.count; i++) {
			const instanceId = this.#newId("i");
			const eniId = this.#newId("eni");
			if (pool.available < 1)
				throw new Error(`scenario: node vSwitch ${n.vswitch} has no address for node ${i}`);
			const rec: EniRec = {
				id: eniId,
				mac: this.#newMac(),
				type: "Primary",
				status: "InUse",
				instanceId,
				deviceIndex: 0,
				trunkEniId: undefined,
				networkCardIndex: 0,
				vswitchId: n.vswitch,
				securityGroupIds: [n.securityGroup],
				tags: {},
				ips: pool.allocate(1, this.#rng),
				ipv6s: [],
				description: "",
				deleteOnRelease: true,
				sourceDestCheck: true,
				resourceGroupId: "",
				trafficMode: "Standard",
				creationTime: this.#createdAt,
				seq: ++this.#seq,
			};
			this.#enis.set(eniId, rec);
			const inst: InstanceRec = {
				id: instanceId,
				nodeName: `${n.namePrefix}${i}`,
				instanceType: n.instanceType,
				zoneId: n.zone,
				primaryEniId: eniId,
			};
			this.#instances.set(instanceId, inst);
			this.#metadata.set(instanceId, [
				{ at: Number.NEGATIVE_INFINITY, enis: this.#metadataView(instanceId) },
			]);
			this.#record("instance.up", { instanceId, eniId, detail: { nodeName: inst.nodeName, ip: rec.ips[0] } });
		}
	}

	#restore(s: WorldSnapshot) {
		const now = this.#clock.now();
		this.#seq = s.seq;
		for (const i of s.instances) this.#instances.set(i.id, clone(i));
		for (const e of s.enis) {
			this.#enis.set(e.id, clone(e));
			this.#pools.get(e.vswitchId)?.mark(e.ips, e.ipv6s);
		}
		for (const [id, vs] of Object.entries(s.metadata))
			this.#metadata.set(
				id,
				vs.map((v, i) => ({
					at: i === 0 && v.inMs === 0 ? Number.NEGATIVE_INFINITY : now + v.inMs,
					enis: clone(v.enis),
				})),
			);
		for (const [id, cs] of Object.entries(s.sts))
			this.#sts.set(
				id,
				cs.map((c) => ({
					accessKeyId: c.accessKeyId,
					accessKeySecret: c.accessKeySecret,
					securityToken: c.securityToken,
					expiresAt: now + c.expiresInMs,
				})),
			);
		for (const t of s.tokens) this.#tokens.set(t.key, { hash: t.hash, body: clone(t.body), at: now });
		for (const p of s.pending) this.#schedule(p.eniId, p.op, p.remainingMs);
	}

	#record(
		what: string,
		e: { instanceId?: string | undefined; eniId?: string; detail?: Record<string, unknown>; fault?: string },
	) {
		this.#log?.record({
			face: "world",
			what,
			...(e.instanceId ? { instanceId: e.instanceId } : {}),
			...(e.eniId ? { eniId: e.eniId } : {}),
			...(e.fault ? { fault: e.fault } : {}),
			...(e.detail ? { detail: e.detail } : {}),
		});
	}

	#mustEni(eniId: string): EniRec {
		const e = this.#enis.get(eniId);
		if (!e) throw errs.eniNotFound(eniId);
		return e;
	}

	#typeOf(instanceId: string): ScenarioInstanceType {
		return this.#types.get(this.#instances.get(instanceId)!.instanceType)!;
	}

	#ipv4Limit(e: EniRec): number {
		return e.instanceId ? this.#typeOf(e.instanceId).eniPrivateIpAddressQuantity : UNATTACHED_IP_LIMIT;
	}

	/** Assign/Unassign are allowed while Available or InUse (cloud-sim.md §1.2). */
	#checkIpOpState(e: EniRec) {
		if (e.status === "Attaching" || e.status === "Detaching") throw errs.conflict(e.id, e.status);
		if (e.status === "Deleting") throw errs.eniState(e.id, e.status, "an IP change");
	}

	#checkV4Capacity(pool: VSwitchPool, count: number) {
		if (pool.available < count) throw errs.ipNotEnough(pool.vsw.id);
		let used = 0;
		for (const e of this.#enis.values()) used += e.ips.length;
		if (used + count > this.scenario.privateIpQuota) throw errs.quota(this.scenario.privateIpQuota);
	}

	#lowestFree(used: number[], from: number): number {
		let i = from;
		while (used.includes(i)) i++;
		return i;
	}

	#newId(prefix: string): string {
		for (;;) {
			const id = `${prefix}-bp1${this.#rng.chars(17)}`;
			if (!this.#enis.has(id) && !this.#instances.has(id)) return id;
		}
	}

	#newMac(): string {
		for (;;) {
			const tail = [0, 0, 0].map(() => this.#rng.int(0, 255).toString(16).padStart(2, "0"));
			const mac = `00:16:3e:${tail.join(":")}`;
			if (![...this.#enis.values()].some((e) => e.mac === mac)) return mac;
		}
	}

	#sortedEnis(): EniRec[] {
		return [...this.#enis.values()].sort((a, b) => a.seq - b.seq);
	}

	#view(e: EniRec): EniView {
		const pool = this.#pools.get(e.vswitchId)!;
		return {
			eniId: e.id,
			mac: e.mac,
			type: e.type,
			status: e.status,
			instanceId: e.instanceId,
			deviceIndex: e.deviceIndex,
			vpcId: this.scenario.vpc.id,
			vswitchId: e.vswitchId,
			zoneId: pool.vsw.zone,
			cidr: pool.vsw.cidr,
			gateway: pool.gateway,
			ipv6Cidr: pool.vsw.ipv6Cidr,
			ipv6Gateway: pool.gateway6,
			primaryIp: e.ips[0]!,
			ips: [...e.ips],
			ipv6s: [...e.ipv6s],
			securityGroupIds: [...e.securityGroupIds],
			tags: { ...e.tags },
			creationTime: e.creationTime,
		};
	}

	#detail(e: EniRec): EniDetail {
		return {
			...this.#view(e),
			description: e.description,
			deleteOnRelease: e.deleteOnRelease,
			sourceDestCheck: e.sourceDestCheck,
			resourceGroupId: e.resourceGroupId,
			trafficMode: e.trafficMode,
			trunkEniId: e.trunkEniId,
			networkCardIndex: e.networkCardIndex,
		};
	}

	#instanceView(i: InstanceRec): InstanceView {
		return {
			instanceId: i.id,
			regionId: this.scenario.region,
			zoneId: i.zoneId,
			instanceType: i.instanceType,
			nodeName: i.nodeName,
			hostname: i.nodeName,
			vpcId: this.scenario.vpc.id,
			primaryEni: this.#view(this.#enis.get(i.primaryEniId)!),
			ramRole: this.scenario.ramRole,
		};
	}

	/** What the instance's metadata should show now: attached (InUse/Detaching) non-member ENIs. */
	#metadataView(instanceId: string): EniView[] {
		return this.#sortedEnis()
			.filter(
				(e) =>
					e.instanceId === instanceId &&
					e.type !== "Member" &&
					(e.status === "InUse" || e.status === "Detaching"),
			)
			.sort((a, b) => (a.deviceIndex ?? 0) - (b.deviceIndex ?? 0))
			.map((e) => this.#view(e));
	}

	#publishMetadata(instanceId: string, action: string, eniId: string) {
		const hit = this.#faults?.check({ face: "world", action, instanceId, eniId }, ["metadataLag"]);
		const lag = hit && hit.effect.kind === "metadataLag" ? hit.effect.ms : this.scenario.metadataLagMs;
		const list = this.#metadata.get(instanceId) ?? [];
		list.push({ at: this.#clock.now() + lag, enis: this.#metadataView(instanceId) });
		this.#metadata.set(instanceId, list);
		if (hit) this.#record("metadata.lag", { instanceId, eniId, fault: hit.rule.id, detail: { ms: lag } });
	}

	#ipsChanged(e: EniRec, action: string) {
		if (!e.instanceId || e.status !== "InUse") return;
		if (e.type !== "Member") this.#publishMetadata(e.instanceId, action, e.id);
		const ev: WorldEvent = { type: "eni.ips", instanceId: e.instanceId, eni: this.#view(e) };
		void this.#deliver(`eni:${e.id}`, ev).catch(() => {});
	}

	/** Deliver an event to listeners (or one listener), in order per key; rejects if a listener throws. */
	#deliver(key: string, ev: WorldEvent, only?: WorldListener): Promise<void> {
		const prev = this.#chains.get(key) ?? Promise.resolve();
		const run = prev.then(async () => {
			for (const l of only ? [only] : [...this.#listeners]) await l(ev);
		});
		const tail = run.then(
			() => {},
			(err: unknown) => {
				this.#record("listener.error", {
					...("eni" in ev ? { eniId: ev.eni.eniId } : "eniId" in ev ? { eniId: ev.eniId } : {}),
					detail: { event: ev.type, error: String((err as Error)?.message ?? err) },
				});
			},
		);
		this.#chains.set(key, tail);
		void tail.then(() => {
			if (this.#chains.get(key) === tail) this.#chains.delete(key);
		});
		return run;
	}

	#schedule(eniId: string, op: PendingOp["op"], ms?: number) {
		const [lo, hi] = LATENCY[this.#latency][op];
		const delay = ms ?? this.#rng.int(lo, hi);
		const timer = this.#clock.setTimeout(() => this.#complete(eniId, op), delay);
		this.#pending.set(eniId, { op, dueAt: this.#clock.now() + delay, timer });
	}

	#complete(eniId: string, op: PendingOp["op"]) {
		this.#pending.delete(eniId);
		if (this.#closed) return;
		const e = this.#enis.get(eniId);
		if (!e) return;
		if (op === "attach") this.#completeAttach(e);
		else if (op === "detach") this.#completeDetach(e);
		else this.#completeDelete(e);
	}

	#completeAttach(e: EniRec) {
		if (e.status !== "Attaching" || !e.instanceId) return;
		const instanceId = e.instanceId;
		const hit = this.#faults?.check(
			{ face: "world", action: "AttachNetworkInterface", instanceId, eniId: e.id },
			["attachStuck", "attachFail"],
		);
		if (hit?.effect.kind === "attachStuck") {
			e.stuck = true;
			this.#record("eni.attachStuck", { eniId: e.id, instanceId, fault: hit.rule.id });
			return;
		}
		if (hit?.effect.kind === "attachFail") {
			this.#attachFailed(e, hit.rule, "fault");
			return;
		}
		const inst = this.#instances.get(instanceId)!;
		this.#deliver(`eni:${e.id}`, {
			type: "eni.attached",
			instance: this.#instanceView(inst),
			eni: this.#view(e),
		}).then(
			() => {
				if (this.#closed || e.status !== "Attaching") return;
				e.status = "InUse";
				this.#record("eni.attached", {
					eniId: e.id,
					instanceId,
					detail: { deviceIndex: e.deviceIndex, mac: e.mac },
				});
				if (e.type !== "Member") this.#publishMetadata(instanceId, "AttachNetworkInterface", e.id);
			},
			(err: unknown) => {
				if (this.#closed || e.status !== "Attaching") return;
				this.#attachFailed(e, undefined, String((err as Error)?.message ?? err));
			},
		);
	}

	#attachFailed(e: EniRec, rule: FaultRule | undefined, why: string) {
		const instanceId = e.instanceId;
		e.status = "Available";
		e.instanceId = undefined;
		e.deviceIndex = undefined;
		e.networkCardIndex = undefined;
		if (e.trunkEniId) e.type = "Secondary";
		e.trunkEniId = undefined;
		this.#record("eni.attachFailed", {
			eniId: e.id,
			instanceId,
			...(rule ? { fault: rule.id } : {}),
			detail: { why },
		});
	}

	#completeDetach(e: EniRec) {
		if (e.status !== "Detaching" || !e.instanceId) return;
		const instanceId = e.instanceId;
		const done = () => {
			if (this.#closed || e.status !== "Detaching") return;
			e.status = "Available";
			e.instanceId = undefined;
			e.deviceIndex = undefined;
			e.networkCardIndex = undefined;
			const wasMember = e.type === "Member";
			if (wasMember) e.type = "Secondary";
			e.trunkEniId = undefined;
			this.#record("eni.detached", { eniId: e.id, instanceId });
			if (!wasMember) this.#publishMetadata(instanceId, "DetachNetworkInterface", e.id);
		};
		// a listener failing to remove the link does not keep the ENI attached in the API
		this.#deliver(`eni:${e.id}`, { type: "eni.detached", instanceId, eniId: e.id, mac: e.mac }).then(
			done,
			done,
		);
	}

	#completeDelete(e: EniRec) {
		if (e.status !== "Deleting") return;
		const pool = this.#pools.get(e.vswitchId)!;
		pool.release(e.ips);
		pool.release6(e.ipv6s);
		this.#enis.delete(e.id);
		this.#record("eni.deleted", { eniId: e.id, detail: { ips: e.ips, ipv6s: e.ipv6s } });
	}
}

/** The JSON form of a world (`World.snapshot()`); times are relative to the moment it was taken. */
export type WorldSnapshot = {
	kind: "terway-sim-world";
	version: 1;
	scenario: Scenario;
	rng: number;
	seq: number;
	createdAt: string;
	instances: InstanceRec[];
	enis: EniRec[];
	pending: { eniId: string; op: PendingOp["op"]; remainingMs: number }[];
	metadata: Record<string, { inMs: number; enis: EniView[] }[]>;
	sts: Record<string, (StsRec & { expiresInMs: number })[]>;
	tokens: { key: string; hash: string; body: Record<string, unknown> }[];
};

/** Build a world from a validated scenario: nodes (instances + primary ENIs) are created at once. */
export function createWorld(scenario: Scenario, opts: WorldOptions = {}): World {
	return new World(scenario, opts);
}

/** Restore a world from `snapshot()` output (e.g. read back from JSON); pending async ops resume. */
export function loadWorld(snapshot: unknown, opts: Omit<WorldOptions, "seed"> = {}): World {
	const s = snapshot as Partial<WorldSnapshot> | null;
	if (!s || typeof s !== "object" || s.kind !== "terway-sim-world" || s.version !== 1)
		throw new Error('loadWorld: not a world snapshot (expected kind "terway-sim-world", version 1)');
	for (const k of ["instances", "enis", "pending", "tokens"] as const)
		if (!Array.isArray(s[k])) throw new Error(`loadWorld: snapshot.${k} is not a list`);
	for (const k of ["metadata", "sts"] as const)
		if (typeof s[k] !== "object" || s[k] === null)
			throw new Error(`loadWorld: snapshot.${k} is not an object`);
	if (typeof s.rng !== "number" || typeof s.seq !== "number")
		throw new Error("loadWorld: snapshot.rng/seq missing");
	const scenario = validateScenario(s.scenario, "snapshot.scenario");
	return new World(scenario, opts, s as WorldSnapshot);
}
