/**
 * The NetworkPolicy contract between the compiler (src/core/policy, pure), the maps
 * (src/linux/bpf/policy-maps.ts, codecs of bpf/include/terway_policy.h) and the agent
 * (src/daemon/policy-agent.ts). Types and constants only.
 *
 * Model: every address the node may talk to has an identity (terway_ipid LPM); a local pod's
 * endpoint rules are (endpoint identity, peer identity, direction, proto, port prefix) -> allow
 * (terway_policy LPM); anything else is allowed when the endpoint is not isolated in that
 * direction, dropped when it is. Replies of allowed flows pass through connection tracking.
 */

/** Mirrors TERWAY_ID_* in terway_policy.h. */
export const ID = {
	ANY: 0,
	HOST: 1,
	WORLD: 2,
	FIRST_POD: 256,
	FIRST_CIDR: 1 << 24,
} as const;

/** Mirrors TERWAY_EP_*. */
export const EP = { LOCAL: 0x1, ISO_INGRESS: 0x2, ISO_EGRESS: 0x4 } as const;

/** Mirrors TERWAY_DIR_*: the endpoint's point of view. */
export const DIR = { ingress: 0, egress: 1 } as const;
export type Direction = keyof typeof DIR;

export const PROTO = { TCP: 6, UDP: 17, SCTP: 132 } as const;
export type Protocol = keyof typeof PROTO;

/** Mirrors TERWAY_DROP_*. */
export const DROP_REASON = { 1: "policy-ingress", 2: "policy-egress" } as const;

/** terway_ipid entry: `cidr` is canonical ("10.0.0.5/32", "fd00::5/128", "10.0.0.0/8"). */
export type IpEntry = { cidr: string; identity: number; flags: number };

/**
 * terway_policy entry, already expanded to LPM form. `proto` 0 with `bits` 0 = any protocol and
 * port (prefixlen 72); `bits` 0 with a proto = any port of it (prefixlen 80); `bits` n in 1..16
 * = the ports whose top n bits equal `port`'s (prefixlen 80 + n; 16 = one port).
 */
export type PolicyEntry = {
	endpoint: number;
	peer: number;
	direction: Direction;
	proto: number;
	port: number;
	bits: number;
	/** terway_rules id of (one of) the rules that allow it. */
	rule: number;
};

/** The complete desired content of the maps for one node. Keys: see `ipKey` / `policyKey`. */
export type MapState = {
	ips: Map<string, IpEntry>;
	policy: Map<string, PolicyEntry>;
	/** identity -> "pod default/app=web", "cidr 10.0.0.0/8", "host", "world" */
	idNames: Map<number, string>;
	/** rule id -> "default/allow-web ingress[0]" */
	ruleNames: Map<number, string>;
};

/** Minimal change from one MapState to the next (what the agent writes). */
export type MapDiff = {
	ips: { set: IpEntry[]; del: IpEntry[] };
	policy: { set: PolicyEntry[]; del: PolicyEntry[] };
	idNames: { set: [number, string][]; del: number[] };
	ruleNames: { set: [number, string][]; del: number[] };
};

export const ipKey = (e: Pick<IpEntry, "cidr">): string => e.cidr;
export const policyKey = (e: Omit<PolicyEntry, "rule">): string =>
	`${e.endpoint}/${e.peer}/${e.direction}/${e.proto}/${e.port}/${e.bits}`;

/** What the compiler needs to know about a pod (from the Kubernetes Pod object). */
export type PodInfo = {
	namespace: string;
	name: string;
	labels: Record<string, string>;
	/** status.podIPs (v4 and/or v6); a pod without IPs has no identity entry yet. */
	ips: string[];
	/** On the node the maps are for (gets endpoint rules and TERWAY_EP_LOCAL). */
	local: boolean;
	/** Container ports, for named ports. */
	ports: { name?: string; port: number; protocol: Protocol }[];
	/** spec.hostNetwork: its addresses are a node's, so policies neither select nor match it. */
	hostNetwork?: boolean;
};

export type NamespaceInfo = { name: string; labels: Record<string, string> };

/** networking.k8s.io/v1 NetworkPolicy, the fields that matter (structurally a V1NetworkPolicy). */
export type LabelSelector = {
	matchLabels?: Record<string, string>;
	matchExpressions?: {
		key: string;
		operator: "In" | "NotIn" | "Exists" | "DoesNotExist";
		values?: string[];
	}[];
};
export type NetworkPolicyPeer = {
	podSelector?: LabelSelector;
	namespaceSelector?: LabelSelector;
	ipBlock?: { cidr: string; except?: string[] };
};
export type NetworkPolicyPort = { protocol?: Protocol; port?: number | string; endPort?: number };
export type NetworkPolicy = {
	metadata: { namespace?: string; name?: string; uid?: string; resourceVersion?: string };
	spec?: {
		podSelector?: LabelSelector;
		policyTypes?: ("Ingress" | "Egress")[];
		ingress?: { from?: NetworkPolicyPeer[]; ports?: NetworkPolicyPort[] }[];
		egress?: { to?: NetworkPolicyPeer[]; ports?: NetworkPolicyPort[] }[];
	};
};

export type CompileInput = {
	policies: NetworkPolicy[];
	pods: PodInfo[];
	namespaces: NamespaceInfo[];
	/** This node's addresses (identity HOST). */
	nodeIps: string[];
};

export type PolicyStatus = { policy: string; ok: boolean; message: string };

export type Compiled = {
	state: MapState;
	/** One per policy: "applied: selects 3 pods, 12 entries" or the error (e.g. a bad CIDR). */
	status: PolicyStatus[];
	/** Identity assignments, passed back in as `prev` so ids stay stable across compiles. */
	identities: Map<string, number>;
	rules: Map<string, number>;
	/** Input the compiler skipped (an address that is not one, an address two pods claim). */
	warnings?: string[];
};
