/**
 * The terwayd local API contract (HTTP/1.1 + JSON over /var/run/terway/terwayd.sock, mode 0600),
 * shared by the daemon (server), the CNI plugin and the CLI (clients). Versioned paths under /v1;
 * curl works: `curl --unix-socket /var/run/terway/terwayd.sock http://terwayd/v1/status`.
 *
 * Types only. Errors are always `ApiErrorBody` with a matching HTTP status:
 *   400 BadRequest      the request is malformed (names the field); nothing changed
 *   404 NotFound        unknown pod / allocation
 *   409 Conflict        e.g. the pod is being released
 *   503 NotReady        the daemon is starting or warming up: the plugin answers CNI code 11
 *   507 IPExhausted     no IP can be had now (vSwitch exhausted, quota, ENI limit): retry later
 *   500 Internal        anything else (logged with detail)
 */

export const DEFAULT_SOCKET = "/var/run/terway/terwayd.sock";

export type PodRef = { namespace: string; name: string; uid?: string };

/** POST /v1/alloc — idempotent per (pod, containerId). */
export type AllocRequest = {
	pod: PodRef;
	containerId: string;
	/** CNI_NETNS path (standalone GC checks it still exists). */
	netns: string;
	/** CNI_IFNAME, normally eth0. */
	ifname: string;
};

export type IpAllocation = {
	/** The pod's address. */
	ip: string;
	/** Prefix length of the vSwitch (the pod gets a /32 or /128 on its side). */
	prefixLen: number;
	/** The ENI's vSwitch gateway (traffic leaves the ENI towards it). */
	gateway: string;
	/** The vSwitch CIDR. */
	cidr: string;
};

export type Datapath = "veth" | "datapathv2" | "exclusive";

export type AllocResponse = {
	pod: PodRef;
	containerId: string;
	ipv4?: IpAllocation;
	ipv6?: IpAllocation;
	eni: {
		id: string;
		mac: string;
		/** The ENI's Linux link on the node (found by MAC), e.g. eth1. */
		link: string;
		ifindex: number;
	};
	/** Policy-routing table of the ENI on the node (`from <podIP> lookup <table>`). */
	routeTable: number;
	datapath: Datapath;
	/** From kubernetes.io/ingress-bandwidth / egress-bandwidth, bits per second. */
	bandwidth?: { ingressBps?: number; egressBps?: number };
	/** The cluster's service CIDR(s) (exclusive ENI routes them through the host veth). */
	serviceCidrs: string[];
	/** True when this allocation already existed (a repeated ADD). */
	existing: boolean;
	/**
	 * Present when terwayd enforces NetworkPolicy on this node: its policy programs are pinned at
	 * `<pinRoot>/progs/terway_pol_from|to` and the plugin attaches them to the pod's host veth.
	 */
	policy?: { pinRoot: string };
	/**
	 * With datapath "datapathv2": terwayd pinned the redirect programs at
	 * `<pinRoot>/progs/terway_v2_out|in` (the plugin attaches terway_v2_out to the host veth). A
	 * node whose kernel cannot run them answers datapath "veth" instead.
	 */
	datapathv2?: { pinRoot: string };
};

/** POST /v1/release — idempotent: releasing an unknown pod/container is success with released=false. */
export type ReleaseRequest = { pod: PodRef; containerId?: string };
export type ReleaseResponse = { released: boolean; ips: string[] };

/** GET /v1/status */
export type StatusResponse = {
	ready: boolean;
	phase: "starting" | "reconciling" | "warming" | "ready" | "draining";
	node: string;
	instanceId: string;
	instanceType: string;
	mode: "shared" | "exclusive";
	version: string;
	uptimeSeconds: number;
	pool: PoolSummary;
	/** Why allocation is paused, if it is (IpNotEnough, quota, ENI limit). */
	inhibit?: { reason: string; until: string };
	kubernetes: "connected" | "standalone" | "disconnected";
};

export type PoolSummary = {
	min: number;
	max: number;
	idle: number;
	allocated: number;
	/** Upper bound from the instance type (adapters-1) * ipv4PerAdapter. */
	capacity: number;
	enis: number;
};

/** GET /v1/enis and /v1/pool */
export type EniInfo = {
	id: string;
	mac: string;
	link?: string;
	type: string;
	status: string;
	vswitchId: string;
	primaryIp: string;
	routeTable?: number;
	ips: { ip: string; state: "idle" | "allocated" | "releasing"; pod?: string }[];
};

/** GET /v1/mapping: pod -> IP -> ENI, cross-checked against the cloud, metadata and the kernel. */
export type MappingRow = {
	pod?: string;
	containerId?: string;
	ip: string;
	eniId: string;
	mac: string;
	state: "idle" | "allocated" | "releasing";
	/** Where each source agrees (true), disagrees (false) or was not asked (undefined). */
	checks: { store: boolean; cloud?: boolean; metadata?: boolean; kernel?: boolean };
	/** Human-readable inconsistencies; empty when all sources agree. */
	problems: string[];
};

/** GET /v1/gc (candidates) and POST /v1/gc (run now). */
export type GcReport = {
	allocations: { pod: string; containerId: string; reason: string }[];
	enis: { eniId: string; reason: string }[];
	ips: { ip: string; eniId: string; reason: string }[];
	applied: boolean;
};

/** GET /v1/policy: the policy agent (NetworkPolicy enforcement) on this node. */
export type PolicyResponse = {
	/** False in standalone mode, with `disable_network_policy: "true"`, or when the kernel lacks support. */
	enabled: boolean;
	/** Why it is off, when it is. */
	reason?: string;
	pinRoot?: string;
	/** Every NetworkPolicy of the cluster and how it compiled for this node. */
	policies: { policy: string; ok: boolean; message: string }[];
	/** Distinct identities in the maps (pods sharing labels share one; CIDRs; host; world). */
	identities: number;
	/** Entries in the maps: address -> identity, and policy rules. */
	entries: { ips: number; policy: number };
	/** Map writes so far and when the last one finished (ISO time), if any. */
	syncs: number;
	lastSync?: string;
	lastError?: string;
};

export type ApiErrorCode = "BadRequest" | "NotFound" | "Conflict" | "NotReady" | "IPExhausted" | "Internal";

export type ApiErrorBody = { error: { code: ApiErrorCode; message: string; field?: string } };
