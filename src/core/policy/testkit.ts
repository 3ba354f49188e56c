/**
 * A small cluster for the compiler's tests: namespaces, local and remote pods (v4 and v6), the
 * node's address, and short constructors for policies. Pure data; no bun:test here.
 */
import { compile } from "./compile.ts";
import type { Explanation, Flow } from "./explain.ts";
import type {
	Compiled,
	CompileInput,
	LabelSelector,
	NamespaceInfo,
	NetworkPolicy,
	NetworkPolicyPeer,
	NetworkPolicyPort,
	PodInfo,
} from "./types.ts";

export const NODE_IP = "192.168.0.1";

export const namespaces: NamespaceInfo[] = [
	{ name: "default", labels: {} },
	{ name: "prod", labels: { env: "prod" } },
	{ name: "kube-system", labels: {} },
	{ name: "other", labels: { team: "x" } },
];

const pod = (
	ns: string,
	name: string,
	labels: Record<string, string>,
	ips: string[],
	local: boolean,
	ports: PodInfo["ports"] = [],
): PodInfo => ({ namespace: ns, name, labels, ips, local, ports });

/** Addresses, by role, to write flows with. */
export const IP = {
	web: "10.0.0.10",
	db: "10.0.0.20",
	client: "10.0.0.30",
	nolabel: "10.0.0.40",
	remoteWeb: "10.0.1.10",
	api: "10.0.2.10",
	prodClient: "10.0.2.20",
	dns: "10.0.3.53",
	x: "10.0.4.1",
	web6: "fd00::10",
	client6: "fd00::30",
	node: NODE_IP,
	google: "8.8.8.8",
	ext: "203.0.113.5",
} as const;

export const pods: PodInfo[] = [
	pod("default", "web", { app: "web" }, [IP.web], true, [{ name: "http", port: 8080, protocol: "TCP" }]),
	pod("default", "db", { app: "db" }, [IP.db], true, [{ name: "pg", port: 5432, protocol: "TCP" }]),
	pod("default", "client", { app: "client" }, [IP.client, IP.client6], true),
	pod("default", "nolabel", {}, [IP.nolabel], true),
	pod("default", "web-remote", { app: "web" }, [IP.remoteWeb], false, [
		{ name: "http", port: 8080, protocol: "TCP" },
	]),
	pod("prod", "api", { app: "api" }, [IP.api], false, [{ name: "http", port: 9090, protocol: "TCP" }]),
	pod("prod", "client", { app: "client" }, [IP.prodClient], true),
	pod("kube-system", "coredns", { "k8s-app": "kube-dns" }, [IP.dns], false, [
		{ name: "dns", port: 53, protocol: "UDP" },
		{ name: "dns-tcp", port: 53, protocol: "TCP" },
	]),
	pod("other", "x", { app: "x" }, [IP.x], true),
	pod("default", "web6", { app: "web6" }, [IP.web6], true, [{ name: "http", port: 8080, protocol: "TCP" }]),
	pod("default", "pending", { app: "db" }, [], true),
];

export const input = (policies: NetworkPolicy[], extra: Partial<CompileInput> = {}): CompileInput => ({
	policies,
	pods,
	namespaces,
	nodeIps: [NODE_IP],
	...extra,
});

/** A NetworkPolicy in `ns` (default "default"). */
export function np(name: string, spec: NonNullable<NetworkPolicy["spec"]>, ns = "default"): NetworkPolicy {
	return { metadata: { namespace: ns, name }, spec };
}

export const sel = (matchLabels: Record<string, string>): LabelSelector => ({ matchLabels });
export const podPeer = (matchLabels: Record<string, string>): NetworkPolicyPeer => ({
	podSelector: sel(matchLabels),
});
export const nsPeer = (matchLabels: Record<string, string>): NetworkPolicyPeer => ({
	namespaceSelector: sel(matchLabels),
});
export const cidr = (c: string, ...except: string[]): NetworkPolicyPeer => ({
	ipBlock: except.length > 0 ? { cidr: c, except } : { cidr: c },
});
export const tcp = (port: number | string, endPort?: number): NetworkPolicyPort =>
	endPort === undefined ? { protocol: "TCP", port } : { protocol: "TCP", port, endPort };
export const udp = (port?: number | string): NetworkPolicyPort =>
	port === undefined ? { protocol: "UDP" } : { protocol: "UDP", port };

/** A flow and what `explain` must say about it. */
export type Expect = {
	flow: Flow;
	verdict: "allowed" | "dropped";
	/** substring (or pattern) of the reason */
	reason?: string | RegExp;
};

export const allow = (
	src: string,
	dst: string,
	proto: Flow["proto"],
	port?: number,
	reason?: string | RegExp,
	direction?: Flow["direction"],
): Expect => ({ flow: flowOf(src, dst, proto, port, direction), verdict: "allowed", reason });
export const drop = (
	src: string,
	dst: string,
	proto: Flow["proto"],
	port?: number,
	reason?: string | RegExp,
	direction?: Flow["direction"],
): Expect => ({ flow: flowOf(src, dst, proto, port, direction), verdict: "dropped", reason });

function flowOf(
	src: string,
	dst: string,
	proto: Flow["proto"],
	port?: number,
	direction?: Flow["direction"],
): Flow {
	const f: Flow = { src, dst, proto };
	if (port !== undefined) f.port = port;
	if (direction) f.direction = direction;
	return f;
}

/** One row of the semantics table. */
export type Case = {
	name: string;
	policies: NetworkPolicy[];
	expect: Expect[];
	/** status messages (in policy order) must contain these */
	status?: (string | RegExp)[];
	extra?: Partial<CompileInput>;
};

export const compileCase = (c: Case): Compiled => compile(input(c.policies, c.extra));

/** "10.0.0.30 -> 10.0.0.10 TCP 8080: dropped (…)" for failure messages. */
export const describeFlow = (e: Expect, x: Explanation): string =>
	`${e.flow.src} -> ${e.flow.dst} ${e.flow.proto} ${e.flow.port ?? ""}${e.flow.direction ? ` [${e.flow.direction}]` : ""}: ${x.verdict} (${x.reason})`;
