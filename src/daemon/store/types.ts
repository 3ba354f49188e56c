/**
 * @module daemon/store/types
 *
 * Public data types of terwayd's durable state (see `store.ts` and `README.md`).
 * Plain data only: no I/O here, so the daemon, the local API and the CLI's
 * diagnose views can all import these without pulling in `bun:sqlite`.
 */

export type IpFamily = 4 | 6;

/** Timestamps are milliseconds since the epoch, taken from an injected clock. */
export interface StoreClock {
	now(): number;
}

export const systemClock: StoreClock = { now: () => Date.now() };

/** ENI kinds Terway distinguishes (`eniType`, terway-features §3.4). */
export type EniType = "primary" | "secondary" | "trunk" | "erdma";

/**
 * ENI status "as we know it": the cloud's states (cloud-sim §1.3) as last observed or as
 * implied by our own successful calls. Reconcile overwrites it from Describe/metadata.
 */
export type EniStatus = "Available" | "Attaching" | "InUse" | "Detaching" | "Deleting";

export type Eni = {
	eniId: string;
	/** Lower-case `aa:bb:cc:dd:ee:ff`. */
	mac: string;
	type: EniType;
	vswitchId: string;
	status: EniStatus;
	/** Primary private IPv4 of the ENI (also present as a row in `ips`). */
	primaryIp: string | null;
	/** Created by this daemon (and tagged so); only ours may be deleted by GC. */
	ours: boolean;
	createdAt: number;
	updatedAt: number;
};

/** Input of {@link Store.upsertEni}; timestamps are set by the store. */
export type EniSpec = Omit<Eni, "createdAt" | "updatedAt">;

/**
 * - `idle`: in the pool, may be handed to a pod.
 * - `allocated`: held by exactly one live allocation (enforced by UNIQUE in `allocations`).
 * - `releasing`: reserved for an unassign/detach/delete; never picked.
 */
export type IpState = "idle" | "allocated" | "releasing";

export type IpRecord = {
	/** Canonical text form (IPv6 compressed, lower case). */
	ip: string;
	family: IpFamily;
	eniId: string;
	state: IpState;
	/** The ENI's primary address: usable by pods, but can never be unassigned on its own. */
	primary: boolean;
	/** When the IP last became idle (null while allocated/releasing). */
	idleSince: number | null;
	/** `namespace/name` of the holder while allocated. */
	podKey: string | null;
	createdAt: number;
	updatedAt: number;
};

export type IpSpec = { ip: string; primary?: boolean };

export type PodRef = { namespace: string; name: string; uid: string };

/** Where the pod's network lives; recorded so DEL/GC/CHECK can find it again. */
export type SandboxInfo = {
	netns?: string;
	/** Default `eth0`. */
	ifname?: string;
	/** Default `veth`. */
	datapath?: string;
};

export type Allocation = {
	id: number;
	/** `namespace/name`. */
	podKey: string;
	namespace: string;
	name: string;
	uid: string;
	containerId: string;
	netns: string;
	ifname: string;
	ipv4: string | null;
	ipv6: string | null;
	/** ENI holding the address(es); v4 and v6 always come from the same ENI. */
	eniId: string;
	datapath: string;
	createdAt: number;
};

export type Want = { v4: boolean; v6: boolean };

/** Idle addresses on one InUse ENI, offered to a {@link PickFn}. */
export type Candidate = {
	eniId: string;
	eniType: EniType;
	v4: IpRecord[];
	v6: IpRecord[];
};

export type Pick = { ipv4: string | null; ipv6: string | null };

/**
 * Chooses addresses from candidates (all idle, grouped by ENI, ENIs in `eni_id` order, IPs
 * oldest-idle first). Return null to refuse. Must be pure: it runs inside the write transaction.
 */
export type PickFn = (candidates: Candidate[], want: Want) => Pick | null;

/**
 * Built-in policies:
 * - `oldest-idle`: the IP idle the longest (stale ARP/conntrack on a just-freed IP has had the most time to age);
 * - `most-ips`: from the ENI with the most idle IPs (spread), `least-ips`: the fewest (pack), as Terway's
 *   `ip_allocation_policy`/priority sort.
 */
export type PickPolicy = "oldest-idle" | "most-ips" | "least-ips";

export type AllocateResult =
	| { ok: true; allocation: Allocation; created: boolean }
	| { ok: false; reason: "exhausted"; missing: Want };

export type IntentOp =
	| "createEni"
	| "attachEni"
	| "detachEni"
	| "deleteEni"
	| "assignIpv4"
	| "assignIpv6"
	| "unassignIpv4"
	| "unassignIpv6";

/** Ops that ECS makes idempotent with a ClientToken (cloud-sim §1.4): a replay returns the original result. */
export const TOKEN_OPS: ReadonlySet<IntentOp> = new Set(["createEni", "assignIpv4", "assignIpv6"]);

/** Parameters journaled before the call. Extra fields are kept verbatim (they are the request). */
export type IntentParams = {
	createEni: {
		vswitchId: string;
		type: EniType;
		securityGroupIds: string[];
		/** Secondary private IPv4 count requested at create time. */
		ipv4Count: number;
		ipv6Count: number;
		[k: string]: unknown;
	};
	attachEni: { eniId: string; instanceId: string; [k: string]: unknown };
	detachEni: { eniId: string; instanceId: string; [k: string]: unknown };
	deleteEni: { eniId: string; [k: string]: unknown };
	assignIpv4: { eniId: string; count: number; [k: string]: unknown };
	assignIpv6: { eniId: string; count: number; [k: string]: unknown };
	unassignIpv4: { eniId: string; ips: string[]; [k: string]: unknown };
	unassignIpv6: { eniId: string; ips: string[]; [k: string]: unknown };
};

/** What the cloud answered; {@link Store.completeIntent} applies it to `enis`/`ips`. */
export type IntentResults = {
	createEni: {
		eniId: string;
		mac: string;
		vswitchId: string;
		primaryIp: string;
		/** Secondary IPv4s (the primary is given separately). */
		ipv4: string[];
		ipv6: string[];
		/** Default `Available`. */
		status?: EniStatus;
	};
	/** Default status `Attaching` (call accepted); pass `InUse` once waited for. */
	attachEni: { status?: EniStatus };
	/** Default status `Detaching`; pass `Available` once waited for. */
	detachEni: { status?: EniStatus };
	deleteEni: Record<string, never>;
	assignIpv4: { ips: string[] };
	assignIpv6: { ips: string[] };
	unassignIpv4: Record<string, never>;
	unassignIpv6: Record<string, never>;
};

/**
 * - `pending`: written before the call; the call may or may not have reached the cloud.
 * - `done`: result applied. `failed`: the cloud refused for good. `rolledback`: abandoned by the
 *   daemon (reconcile found it had no effect, or compensated). The last three are terminal.
 */
export type IntentState = "pending" | "done" | "failed" | "rolledback";

export type Intent<O extends IntentOp = IntentOp> = {
	id: number;
	op: O;
	params: IntentParams[O];
	clientToken: string | null;
	state: IntentState;
	result: IntentResults[O] | null;
	/** Last error text (kept after a non-final failure, too). */
	error: string | null;
	/** Failed attempts so far (incremented by {@link Store.failIntent}). */
	attempts: number;
	createdAt: number;
	updatedAt: number;
};

export type StoreStats = {
	schemaVersion: number;
	enis: Record<EniStatus, number>;
	ips: Record<`v${IpFamily}`, Record<IpState, number>>;
	allocations: number;
	intents: Record<IntentState, number>;
};

/** Monotonic per-process operation counters (Prometheus counters reset on restart by design). */
export type StoreCounters = {
	allocations: number;
	allocationsReused: number;
	allocationsExhausted: number;
	releases: number;
	intentsBegun: number;
	intentsDone: number;
	intentsFailed: number;
	intentsRolledBack: number;
};

export type StoreSnapshot = {
	schemaVersion: number;
	takenAt: number;
	enis: Eni[];
	ips: IpRecord[];
	allocations: Allocation[];
	pendingIntents: Intent[];
};
