/**
 * The contracts between the parts of the offline cloud (`terwayctl sim`). Each face (ECS/VPC
 * OpenAPI, metadata, kube-apiserver), the datapath (netns mode), the kubelet stand-in, the fault
 * engine and the CLI are written against these types, so they can be built and tested apart.
 *
 * Types only (plus a few fixed constants): no I/O. See ../shared/reference/cloud-sim.md for the
 * contracts with the outside world (API shapes, error codes, metadata formats).
 */

// ---------------------------------------------------------------------------------------------
// Scenario: what a world is seeded from (YAML or JSON; validated by world/scenario.ts)

export type ScenarioInstanceType = {
	id: string; // "ecs.g7.large"
	cpu: number;
	memoryGiB: number;
	eniQuantity: number; // EniQuantity, counts the primary ENI
	eniTotalQuantity: number; // EniTotalQuantity (> eniQuantity with trunking)
	eniPrivateIpAddressQuantity: number; // IPs per ENI, including the primary IP
	eniIpv6AddressQuantity: number;
	eniTrunkSupported: boolean;
};

export type ScenarioVSwitch = {
	id: string;
	zone: string;
	cidr: string; // "198.18.0.0/24"
	ipv6Cidr?: string; // "fd00:198:18::/64"
	/** Only these many addresses are free (for exhaustion scenarios). */
	availableLimit?: number;
};

export type Scenario = {
	name: string;
	region: string; // "cn-hangzhou"
	zones: string[];
	/** AccessKeys the OpenAPI accepts (and STS triples issued through the RAM role). */
	accessKeys: { id: string; secret: string }[];
	/** The RAM role every instance carries (metadata ram/security-credentials/<role>). */
	ramRole: string;
	vpc: { id: string; cidr: string; ipv6Cidr?: string };
	vswitches: ScenarioVSwitch[];
	securityGroups: string[];
	instanceTypes: ScenarioInstanceType[];
	/** Nodes (instances) to create; `--nodes N` overrides count. */
	nodes: {
		count: number;
		instanceType: string;
		zone: string;
		/** vSwitch of the nodes' primary ENIs. */
		vswitch: string;
		securityGroup: string;
		/** node names are `${namePrefix}${n}` (n from 1). */
		namePrefix: string;
		/** labels put on the Kubernetes Node objects. */
		labels?: Record<string, string>;
	};
	/** Account/VPC private IP quota (QuotaExceeded.PrivateIpAddress beyond it). */
	privateIpQuota: number;
	/** "fast": async ENI ops take tens of ms; "realistic": seconds (cloud-sim.md §1.3). */
	latency: "fast" | "realistic";
	/** How long metadata lags behind the API after attach/assign, in ms. */
	metadataLagMs: number;
	/** Kubernetes objects created at start (namespaces, configmaps such as kube-system/eni-config). */
	kubernetes: { objects: KubeObject[] };
};

/** A Kubernetes object as JSON (apiVersion, kind, metadata, ...). */
export type KubeObject = {
	apiVersion: string;
	kind: string;
	metadata: { name: string; namespace?: string; [k: string]: unknown };
	[k: string]: unknown;
};

// ---------------------------------------------------------------------------------------------
// Plain views of world state (copies; never live objects)

export type EniType = "Primary" | "Secondary" | "Trunk" | "Member";
export type EniStatus = "Available" | "Attaching" | "InUse" | "Detaching" | "Deleting";

export type EniView = {
	eniId: string;
	mac: string; // "00:16:3e:xx:xx:xx"
	type: EniType;
	status: EniStatus;
	instanceId: string | undefined;
	deviceIndex: number | undefined;
	vpcId: string;
	vswitchId: string;
	zoneId: string;
	/** vSwitch facts the metadata service serves for this ENI. */
	cidr: string;
	gateway: string;
	ipv6Cidr: string | undefined;
	ipv6Gateway: string | undefined;
	primaryIp: string;
	/** All private IPv4s, primary first. */
	ips: string[];
	ipv6s: string[];
	securityGroupIds: string[];
	tags: Record<string, string>;
	creationTime: string;
};

export type InstanceView = {
	instanceId: string;
	regionId: string;
	zoneId: string;
	instanceType: string;
	/** Kubernetes node name. */
	nodeName: string;
	hostname: string;
	vpcId: string;
	primaryEni: EniView;
	ramRole: string;
};

// ---------------------------------------------------------------------------------------------
// World events: the datapath (netns mode) and observers follow the world through these.
// Listeners may be async; the world awaits them in order before the next transition of that ENI.

export type WorldEvent =
	/** An instance exists (at start, for each node): make its node namespace and primary ENI. */
	| { type: "instance.up"; instance: InstanceView }
	/** An ENI became attached to an instance: hot-plug its link in the node with eni.mac. */
	| { type: "eni.attached"; instance: InstanceView; eni: EniView }
	/** An ENI was detached: the link disappears from the node. */
	| { type: "eni.detached"; instanceId: string; eniId: string; mac: string }
	/** The IPs of an attached ENI changed (assign/unassign): the VPC routes exactly eni.ips/ipv6s to it. */
	| { type: "eni.ips"; instanceId: string; eni: EniView };

export type WorldListener = (e: WorldEvent) => void | Promise<void>;

/** What the metadata service reads from the world; lag already applied. */
export interface MetadataSource {
	/** The instance whose primary ENI holds `ip` (netns mode tells nodes apart by source address). */
	instanceByIp(ip: string): InstanceView | undefined;
	instance(instanceId: string): InstanceView | undefined;
	/** The ENIs attached to the instance as metadata shows them now (after metadataLagMs). */
	metadataEnis(instanceId: string): EniView[];
	/** STS credentials for the instance's RAM role (rotated before `expiration`). */
	stsCredentials(instanceId: string): {
		accessKeyId: string;
		accessKeySecret: string;
		securityToken: string;
		expiration: string; // ISO-8601 UTC
	};
}

// ---------------------------------------------------------------------------------------------
// Faults (control API) and the request log

export type FaultFace = "openapi" | "metadata" | "kube" | "world";

export type FaultMatch = {
	face?: FaultFace;
	/** OpenAPI action ("AttachNetworkInterface"), metadata path prefix, kube resource ("pods"), or world op. */
	action?: string;
	instanceId?: string;
	eniId?: string;
	/** Only the nth matching request (1-based), else every one. */
	nth?: number;
	/** 0..1: fire with this probability (seeded RNG; deterministic per world seed). */
	probability?: number;
};

export type FaultEffect =
	| { kind: "error"; code: string; status: number; message?: string } // OpenAPI error body / kube status
	| { kind: "throttle"; retryAfterMs?: number } // OpenAPI Throttling (400) / metadata 429 / kube 429
	| { kind: "latency"; ms: number; jitterMs?: number }
	| { kind: "hang" } // never answer (until the client gives up)
	| { kind: "reset" } // do the work, then drop the connection (lost response)
	| { kind: "ipExhausted" } // InvalidVSwitchId.IpNotEnough for Create/Assign
	| { kind: "attachStuck" } // ENI stays Attaching
	| { kind: "attachFail" } // Attaching -> Available
	| { kind: "metadataLag"; ms: number }
	| { kind: "watchDrop" } // kube: close open watches
	| { kind: "gone" }; // kube: 410 Gone on the next watch (compaction)

export type FaultRule = {
	id: string;
	match: FaultMatch;
	effect: FaultEffect;
	/** Fire at most this many times (then the rule is spent). */
	times?: number;
};

export type RequestLogEntry = {
	seq: number;
	time: string; // ISO-8601
	face: FaultFace | "control";
	/** OpenAPI action, metadata path, "GET /api/v1/pods", or world transition ("eni.attached"). */
	what: string;
	status?: number;
	/** OpenAPI error Code when it failed. */
	code?: string;
	durationMs?: number;
	instanceId?: string;
	eniId?: string;
	/** Fault rule id that fired, if any. */
	fault?: string;
	detail?: Record<string, unknown>;
};

// ---------------------------------------------------------------------------------------------
// Fixed addresses and layout

/** Netns mode: addresses on the VPC namespace's lo, reached from nodes through the VPC router. */
export const NETNS_ENDPOINTS = {
	metadata: "100.100.100.200", // port 80; what real ECS guests use (and @alicloud/credentials hard-codes)
	openapi: "100.100.0.10", // port 80: ECS and VPC OpenAPI (ECS_ENDPOINT/VPC_ENDPOINT, scheme HTTP)
	apiserver: "100.100.0.20", // port 6443 (HTTPS) and 8080 (HTTP)
} as const;

/** The MAC ECS guests see for their gateway (VPC side of every ENI port). */
export const VPC_GATEWAY_MAC = "ee:ff:ff:ff:ff:ff";

/** Where a world keeps its files: `${SIM_RUN_DIR}/${prefix}/...`. */
export const SIM_RUN_DIR = "/run/terway-sim";

/** Network namespace names of a world (netns mode). Only the world's own prefix is ever touched. */
export const simNetns = {
	vpc: (prefix: string) => `${prefix}-vpc`,
	node: (prefix: string, nodeName: string) => `${prefix}-${nodeName}`,
	pod: (prefix: string, nodeName: string, podUid: string) => `${prefix}-${nodeName}-${podUid.slice(0, 8)}`,
};

/**
 * bpffs is one per machine (not per network namespace): each node's terwayd pins its maps,
 * programs and links under its own root, named with the world's prefix so `sim down` removes
 * exactly these.
 */
export const simPinRoot = (prefix: string, nodeName: string): string => `/sys/fs/bpf/${prefix}-${nodeName}`;

/** The world model as the faces and the server see it (implemented by world/world.ts). */
export interface WorldHandle extends MetadataSource {
	readonly scenario: Scenario;
	/** Subscribe to transitions; returns the unsubscribe function. */
	on(listener: WorldListener): () => void;
	instances(): InstanceView[];
	enis(): EniView[];
	/** JSON-serialisable state; `loadWorld(snapshot)` restores it. */
	snapshot(): unknown;
	/** Stop timers (pending async transitions are dropped). */
	close(): void;
}
