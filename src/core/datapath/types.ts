/**
 * Datapath plans as data: what a pod's network is made of, one operation at a time, for the
 * host ("node") and the pod namespace. Planners (veth.ts, exclusive.ts, node.ts) build them
 * from typed inputs; src/linux/apply.ts executes, rolls back, tears down and observes them;
 * check.ts compares a plan with observed state. Pure: types only.
 */

/** Which namespace an operation acts in: the node's (where the plugin runs) or the pod's. */
export type Side = "host" | "pod";

/** One IP family's allocation (src/daemon/api-types.ts IpAllocation, structurally). */
export type IpAlloc = {
	/** The pod's address. */
	ip: string;
	/** Prefix length of the vSwitch. */
	prefixLen: number;
	/** The vSwitch gateway. */
	gateway: string;
	/** The vSwitch CIDR. */
	cidr: string;
};

/** The part of the daemon's AllocResponse a plan needs (an AllocResponse fits as is). */
export type AllocInfo = {
	ipv4?: IpAlloc;
	ipv6?: IpAlloc;
	eni: { id: string; mac: string; link: string; ifindex: number };
	/** The ENI's policy-routing table on the node. */
	routeTable: number;
	serviceCidrs: string[];
	/**
	 * NetworkPolicy is enforced on this node: terwayd pinned the policy programs under `pinRoot`
	 * (the veth planner then attaches terway_pol_from / terway_pol_to to the host veth).
	 */
	policy?: { pinRoot: string };
	/**
	 * datapathv2 is ready on this node: terwayd probed the kernel and pinned the redirect programs
	 * under `pinRoot` (src/linux/bpf/datapathv2.ts). Absent: the `veth` plan, same addressing.
	 */
	datapathv2?: { pinRoot: string };
};

/** Final pod bandwidth limits, bits/s (bursts in bits, optional). */
export type Bandwidth = {
	ingressBps?: number;
	egressBps?: number;
	ingressBurstBits?: number;
	egressBurstBits?: number;
};

/** What every planner takes. */
export type DatapathInput = {
	containerId: string;
	/** CNI_IFNAME (the pod-side name), normally eth0. */
	ifName: string;
	alloc: AllocInfo;
	/** Pod link MTU (conflist `mtu`, 1500 by default). */
	mtu: number;
	/** Host veth prefix, default "cali" (Terway). */
	vethPrefix?: string;
	/** Extra CIDRs the pod reaches through the host (node-local-dns...). Exclusive ENI only here. */
	hostStackCidrs?: string[];
	/** Exclusive ENI: no host peer veth (also no service access), Terway `disable_host_peer`. */
	disableHostPeer?: boolean;
	/** The node's own addresses (exclusive ENI routes them through the host peer). */
	nodeIps?: { ipv4?: string; ipv6?: string };
	bandwidth?: Bandwidth;
};

/** One operation. `shared` ones (per-ENI state several pods rely on) are ensured, never undone. */
export type Op =
	| {
			op: "veth";
			side: "host";
			/** Host-side name (cali + hash); the peer is created straight in the pod namespace. */
			name: string;
			mac: string;
			mtu: number;
			peer: { side: "pod"; name: string; mtu: number };
	  }
	| {
			/** Take a host link (an ENI), set it down and move it into the pod under a new name. */
			op: "move";
			side: "host";
			name: string;
			mac: string;
			to: "pod";
			newName: string;
	  }
	| { op: "up"; side: Side; name: string; mtu?: number }
	| { op: "addr"; side: Side; link: string; cidr: string; nodad?: boolean }
	| { op: "neigh"; side: Side; link: string; ip: string; mac: string }
	| {
			op: "route";
			side: Side;
			family: 4 | 6;
			/** "default" or a CIDR. */
			dst: string;
			gateway?: string;
			dev: string;
			onlink?: boolean;
			scope?: "link";
			/** Absent = main. */
			table?: number;
			shared?: boolean;
	  }
	| {
			op: "rule";
			side: Side;
			family: 4 | 6;
			priority: number;
			from?: string;
			to?: string;
			table: number;
	  }
	| { op: "sysctl"; side: Side; key: string; value: string; shared?: boolean }
	| {
			/** Root tbf on `link` (egress of that link). */
			op: "tbf";
			side: Side;
			link: string;
			/** bits/s */
			rate: number;
			/** bytes */
			burst: number;
			latencyMs: number;
	  }
	| {
			/**
			 * Attach a tc program that terwayd pinned at `<pin root>/progs/<program>` to a host link
			 * (TCX, clsact where TCX is missing); the attachment is pinned so it outlives the plugin
			 * and goes away with the link. Used by NetworkPolicy (terway_pol_from / terway_pol_to on
			 * the host veth) and datapathv2. Order matters: programs run in attach order.
			 */
			op: "bpf";
			side: "host";
			link: string;
			direction: "ingress" | "egress";
			program: string;
	  };

export type Plan = {
	datapath: "veth" | "datapathv2" | "exclusive" | "node";
	/** In execution order; teardown walks it backwards. */
	ops: Op[];
	/** Host-side link of the pod (veth or host peer), if any. */
	hostLink?: string;
	/** The pod-side link named CNI_IFNAME. */
	podLink: string;
	/** Things the plan could not do and the plugin should log (e.g. unsupported bandwidth). */
	notes: string[];
	/**
	 * bpffs root of the `bpf` ops: their programs are at `<pinRoot>/progs/<program>`, their TCX
	 * links are pinned under `<pinRoot>/links/` (default /sys/fs/bpf/terway).
	 */
	pinRoot?: string;
};

/** What `observe` reads back from one namespace (iproute2 words, like the netlink layer's types). */
export type NsState = {
	links: { name: string; kind?: string; mac?: string; mtu: number; up: boolean }[];
	addrs: { link: string; cidr: string }[];
	routes: {
		family: 4 | 6;
		dst: string;
		gateway?: string;
		dev?: string;
		onlink: boolean;
		table: number;
	}[];
	rules: { family: 4 | 6; priority: number; from?: string; to?: string; table: number; action: string }[];
	neighs: { link: string; ip: string; mac?: string; permanent: boolean }[];
	/** The sysctl keys of the plan, read; missing keys are absent. */
	sysctls: Record<string, string>;
	/** Root qdiscs of the plan's tbf links. */
	qdiscs: { link: string; kind: string; rate?: number }[];
	/** tc programs on the links of the plan's `bpf` ops (kernel program names), when it has any. */
	bpf?: { link: string; direction: "ingress" | "egress"; program: string }[];
};

/** Observed state of both sides; `pod` undefined when the namespace is gone. */
export type Observed = { host: NsState; pod: NsState | undefined };
