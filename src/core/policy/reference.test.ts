/**
 * Random clusters checked against a reference: a direct, independent reading of the
 * NetworkPolicy semantics over the Kubernetes objects (no identities, no maps) must give the same
 * verdict as `explain` over the compiled maps, for every pair of addresses and a few ports. This
 * is what catches a wrong LPM expansion (port ranges, CIDR containment, named ports) that a
 * hand-written row would not think of. Seeded, so a failure reproduces.
 */
import { describe, expect, test } from "bun:test";
import { compile } from "./compile.ts";
import { explain } from "./explain.ts";
import type {
	CompileInput,
	LabelSelector,
	NamespaceInfo,
	NetworkPolicy,
	NetworkPolicyPeer,
	NetworkPolicyPort,
	PodInfo,
	Protocol,
} from "./types.ts";

// --- the reference -----------------------------------------------------------------------------

function selects(sel: LabelSelector | undefined, labels: Record<string, string>): boolean {
	if (!sel) return true;
	const ok = Object.entries(sel.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
	return (
		ok &&
		(sel.matchExpressions ?? []).every((e) => {
			const v = labels[e.key];
			if (e.operator === "In") return v !== undefined && (e.values ?? []).includes(v);
			if (e.operator === "NotIn") return v === undefined || !(e.values ?? []).includes(v);
			if (e.operator === "Exists") return v !== undefined;
			return v === undefined;
		})
	);
}

const v4 = (ip: string) => ip.split(".").reduce((n, o) => n * 256 + Number(o), 0);
function inCidr(ip: string, cidr: string): boolean {
	const [net, len] = cidr.split("/") as [string, string];
	const bits = Number(len);
	if (bits === 0) return true;
	const shift = 2 ** (32 - bits);
	return Math.floor(v4(ip) / shift) === Math.floor(v4(net) / shift);
}

type World = CompileInput & { nsLabels: Map<string, Record<string, string>> };

function peerOk(
	w: World,
	peer: NetworkPolicyPeer,
	policyNs: string,
	ip: string,
	pod: PodInfo | undefined,
): boolean {
	if (peer.ipBlock) {
		if (pod || w.nodeIps.includes(ip)) return false; // ipBlock never matches pods
		return inCidr(ip, peer.ipBlock.cidr) && !(peer.ipBlock.except ?? []).some((x) => inCidr(ip, x));
	}
	if (!pod) return false;
	const nsOk = peer.namespaceSelector
		? selects(peer.namespaceSelector, {
				"kubernetes.io/metadata.name": pod.namespace,
				...w.nsLabels.get(pod.namespace),
			})
		: pod.namespace === policyNs;
	return nsOk && selects(peer.podSelector, pod.labels);
}

function portOk(p: NetworkPolicyPort, proto: Protocol, port: number, owner: PodInfo | undefined): boolean {
	if ((p.protocol ?? "TCP") !== proto) return false;
	if (p.port === undefined) return true;
	if (typeof p.port === "string") {
		return (owner?.ports ?? []).some((c) => c.name === p.port && c.protocol === proto && c.port === port);
	}
	return port >= p.port && port <= (p.endPort ?? p.port);
}

const typesOf = (np: NetworkPolicy) => {
	const t = np.spec?.policyTypes;
	if (t && t.length > 0) return t;
	return (np.spec?.egress?.length ?? 0) > 0 ? ["Ingress", "Egress"] : ["Ingress"];
};

/** The reference verdict for one enforcement point: `self` is the local pod, `other` the peer. */
function pointOk(
	w: World,
	dir: "ingress" | "egress",
	self: PodInfo,
	otherIp: string,
	other: PodInfo | undefined,
	proto: Protocol,
	port: number,
): boolean {
	if (w.nodeIps.includes(otherIp)) return true;
	const type = dir === "ingress" ? "Ingress" : "Egress";
	const policies = w.policies.filter(
		(np) =>
			np.metadata.namespace === self.namespace &&
			selects(np.spec?.podSelector, self.labels) &&
			typesOf(np).includes(type as "Ingress"),
	);
	if (policies.length === 0) return true;
	return policies.some((np) =>
		(dir === "ingress" ? (np.spec?.ingress ?? []) : (np.spec?.egress ?? [])).some((rule) => {
			const peers =
				dir === "ingress"
					? (rule as { from?: NetworkPolicyPeer[] }).from
					: (rule as { to?: NetworkPolicyPeer[] }).to;
			const peerMatch =
				!peers ||
				peers.length === 0 ||
				peers.some((p) => peerOk(w, p, np.metadata.namespace!, otherIp, other));
			// a named port is the destination's: the pod itself for ingress, the peer for egress
			const owner = dir === "ingress" ? self : other;
			const portMatch =
				!rule.ports || rule.ports.length === 0 || rule.ports.some((p) => portOk(p, proto, port, owner));
			return peerMatch && portMatch;
		}),
	);
}

function reference(w: World, src: string, dst: string, proto: Protocol, port: number): boolean {
	const podAt = (ip: string) => w.pods.find((p) => p.ips.includes(ip));
	const s = podAt(src);
	const d = podAt(dst);
	if (s?.local && !pointOk(w, "egress", s, dst, d, proto, port)) return false;
	if (d?.local && !pointOk(w, "ingress", d, src, s, proto, port)) return false;
	return true;
}

// --- random worlds -----------------------------------------------------------------------------

/** mulberry32 */
function rng(seed: number) {
	let a = seed >>> 0;
	const next = () => {
		a = (a + 0x6d2b79f5) >>> 0;
		let t = a;
		t = Math.imul(t ^ (t >>> 15), t | 1);
		t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
		return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
	};
	const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!;
	const chance = (p: number) => next() < p;
	const some = <T>(xs: readonly T[], max: number): T[] => {
		const n = Math.floor(next() * (max + 1));
		return Array.from({ length: n }, () => pick(xs));
	};
	return { pick, chance, some };
}

const NODE = "192.168.0.1";
const OUTSIDE = ["192.0.2.5", "192.0.2.70", "192.0.2.200", "8.8.8.8", "10.200.0.1", NODE];
const CONTAINER_PORTS: PodInfo["ports"][] = [
	[],
	[{ name: "http", port: 80, protocol: "TCP" }],
	[{ name: "http", port: 8080, protocol: "TCP" }],
	[
		{ name: "dns", port: 53, protocol: "UDP" },
		{ name: "http", port: 8050, protocol: "TCP" },
	],
];
const IP_BLOCKS: NetworkPolicyPeer[] = [
	{ ipBlock: { cidr: "10.0.0.0/8" } },
	{ ipBlock: { cidr: "192.0.2.0/24", except: ["192.0.2.128/25"] } },
	{ ipBlock: { cidr: "192.0.2.0/26" } },
	{ ipBlock: { cidr: "0.0.0.0/0", except: ["10.0.0.0/8", "192.0.2.0/25"] } },
];
const PORTS: NetworkPolicyPort[] = [
	{ port: 80 },
	{ protocol: "UDP" },
	{ port: "http" },
	{ protocol: "TCP", port: 8000, endPort: 8100 },
	{ protocol: "UDP", port: "dns" },
	{ protocol: "UDP", port: 53 },
];
const FLOWS: [Protocol, number][] = [
	["TCP", 80],
	["TCP", 8080],
	["TCP", 8050],
	["TCP", 8101],
	["UDP", 53],
];

function world(seed: number): World {
	const r = rng(seed);
	const labels = () => {
		const l: Record<string, string> = {};
		if (r.chance(0.8)) l.app = r.pick(["a", "b", "c"]);
		if (r.chance(0.5)) l.tier = r.pick(["1", "2"]);
		return l;
	};
	const selector = (): LabelSelector => {
		if (r.chance(0.3)) return {};
		if (r.chance(0.5)) return { matchLabels: labels() };
		const op = r.pick(["In", "NotIn", "Exists", "DoesNotExist"] as const);
		const key = r.pick(["app", "tier", "env"]);
		const values = op === "In" || op === "NotIn" ? [r.pick(["a", "b", "1", "x"])] : undefined;
		return { matchExpressions: [values ? { key, operator: op, values } : { key, operator: op }] };
	};
	const namespaces: NamespaceInfo[] = ["n1", "n2", "n3"].map((name): NamespaceInfo => {
		const env = r.chance(0.6) ? r.pick(["x", "y"]) : undefined;
		return { name, labels: env ? { env } : {} };
	});
	const pods: PodInfo[] = Array.from({ length: 7 }, (_, i) => ({
		namespace: r.pick(["n1", "n2", "n3"]),
		name: `p${i}`,
		labels: labels(),
		ips: r.chance(0.9) ? [`10.0.0.${i + 1}`] : [],
		local: r.chance(0.6),
		ports: r.pick(CONTAINER_PORTS),
	}));
	const peer = (): NetworkPolicyPeer => {
		const k = r.pick(["pod", "ns", "both", "ip", "ip"]);
		if (k === "ip") return r.pick(IP_BLOCKS);
		if (k === "pod") return { podSelector: selector() };
		if (k === "ns") return { namespaceSelector: selector() };
		return { podSelector: selector(), namespaceSelector: selector() };
	};
	const rules = () =>
		r.some([0], 2).map(() => ({
			...(r.chance(0.75) ? { peers: r.some([0], 2).map(peer) } : {}),
			...(r.chance(0.7) ? { ports: r.some(PORTS, 2) } : {}),
		}));
	const policies: NetworkPolicy[] = Array.from({ length: 1 + Math.floor(r.some([0], 3).length) }, (_, i) => {
		const types = r.pick([undefined, ["Ingress"], ["Egress"], ["Ingress", "Egress"]] as const);
		const spec: NonNullable<NetworkPolicy["spec"]> = { podSelector: selector() };
		if (types) spec.policyTypes = [...types];
		if (r.chance(0.8))
			spec.ingress = rules().map((x) => ({
				...(x.peers ? { from: x.peers } : {}),
				...(x.ports ? { ports: x.ports } : {}),
			}));
		if (r.chance(0.6))
			spec.egress = rules().map((x) => ({
				...(x.peers ? { to: x.peers } : {}),
				...(x.ports ? { ports: x.ports } : {}),
			}));
		return { metadata: { namespace: r.pick(["n1", "n2", "n3"]), name: `np${i}` }, spec };
	});
	return {
		policies,
		pods,
		namespaces,
		nodeIps: [NODE],
		nsLabels: new Map(namespaces.map((n) => [n.name, n.labels])),
	};
}

describe("random clusters: explain over the maps agrees with the reference over the objects", () => {
	test("150 seeded worlds, every address pair, five ports", () => {
		const mismatches: string[] = [];
		let checked = 0;
		for (let seed = 1; seed <= 150 && mismatches.length < 5; seed++) {
			const w = world(seed);
			const c = compile(w);
			expect(c.status.every((s) => s.ok)).toBe(true);
			const addrs = [...w.pods.flatMap((p) => p.ips), ...OUTSIDE];
			for (const src of addrs)
				for (const dst of addrs) {
					if (src === dst) continue;
					for (const [proto, port] of FLOWS) {
						const want = reference(w, src, dst, proto, port);
						const got = explain(c.state, { src, dst, proto, port });
						checked++;
						if ((got.verdict === "allowed") !== want)
							mismatches.push(
								`seed ${seed}: ${src} -> ${dst} ${proto} ${port}: explain ${got.verdict} (${got.reason}), reference ${want ? "allowed" : "dropped"}`,
							);
					}
				}
		}
		expect(mismatches).toEqual([]);
		expect(checked).toBeGreaterThan(50_000);
	});
});
