/**
 * A MapState fixture for the policy dump's unit tests: two local pods (a frontend, not isolated,
 * and a database isolated both ways), a remote DNS pod, the host, and three ipBlock CIDRs
 * (10.0.0.0/8 allowed except 10.1.0.0/16; 10.2.0.0/16 from another policy, inside 10/8 and so
 * also written for the 10/8 rule, as the compiler does for the LPM).
 */
import { isolationName, isolationRuleId } from "../../../core/policy/compile.ts";
import {
	EP,
	ID,
	type IpEntry,
	type MapState,
	type PolicyEntry,
	policyKey,
} from "../../../core/policy/types.ts";
import type { AgentDoc, CtRow, DropRow, DumpInput, LinkRow, StatsRow } from "./model.ts";

export const FE = 256;
export const DB = 257;
export const DNS = 258;
export const C8 = ID.FIRST_CIDR;
export const C1 = ID.FIRST_CIDR + 1;
export const C2 = ID.FIRST_CIDR + 2;

export function fixtureState(): MapState {
	const ips: IpEntry[] = [
		{ cidr: "10.0.0.5/32", identity: FE, flags: EP.LOCAL },
		{ cidr: "fd00::5/128", identity: FE, flags: EP.LOCAL },
		{ cidr: "10.0.0.7/32", identity: DB, flags: EP.LOCAL | EP.ISO_INGRESS | EP.ISO_EGRESS },
		{ cidr: "10.0.0.8/32", identity: DB, flags: EP.LOCAL | EP.ISO_INGRESS | EP.ISO_EGRESS },
		{ cidr: "10.0.1.10/32", identity: DNS, flags: 0 },
		{ cidr: "192.168.0.1/32", identity: ID.HOST, flags: 0 },
		{ cidr: "10.0.0.0/8", identity: C8, flags: 0 },
		{ cidr: "10.1.0.0/16", identity: C1, flags: 0 },
		{ cidr: "10.2.0.0/16", identity: C2, flags: 0 },
	];
	const policy: PolicyEntry[] = [
		{ endpoint: DB, peer: FE, direction: "ingress", proto: 6, port: 8080, bits: 16, rule: 1 },
		{ endpoint: DB, peer: FE, direction: "ingress", proto: 6, port: 9000, bits: 14, rule: 4 },
		{ endpoint: DB, peer: C8, direction: "egress", proto: 0, port: 0, bits: 0, rule: 2 },
		{ endpoint: DB, peer: C2, direction: "egress", proto: 0, port: 0, bits: 0, rule: 2 },
		{ endpoint: DB, peer: DNS, direction: "egress", proto: 17, port: 53, bits: 16, rule: 3 },
		{ endpoint: DB, peer: DNS, direction: "egress", proto: 6, port: 53, bits: 16, rule: 3 },
	];
	return {
		ips: new Map(ips.map((e) => [e.cidr, e])),
		policy: new Map(policy.map((e) => [policyKey(e), e])),
		idNames: new Map([
			[ID.ANY, "any"],
			[FE, "pod prod/role=frontend"],
			[DB, "pod prod/app=db"],
			[DNS, "pod kube-system/k8s-app=kube-dns"],
			[ID.HOST, "host"],
			[C8, "cidr 10.0.0.0/8"],
			[C1, "cidr 10.1.0.0/16"],
			[C2, "cidr 10.2.0.0/16"],
		]),
		ruleNames: new Map([
			[1, "prod/allow-fe ingress[0]"],
			[2, "prod/db-egress egress[0]"],
			[3, "prod/dns egress[0]"],
			[4, "prod/allow-fe ingress[1]"],
			[isolationRuleId(DB, "ingress"), isolationName("ingress", ["prod/allow-fe"])],
			[isolationRuleId(DB, "egress"), isolationName("egress", ["prod/db-egress", "prod/dns"])],
		]),
	};
}

export const fixtureStats = (): StatsRow[] => [
	{ ifindex: 12, direction: "egress", allowed: 3, allowedBytes: 300, dropped: 0, droppedBytes: 0 },
	{ ifindex: 12, direction: "ingress", allowed: 2, allowedBytes: 200, dropped: 0, droppedBytes: 0 },
	{ ifindex: 13, direction: "ingress", allowed: 5, allowedBytes: 500, dropped: 2, droppedBytes: 120 },
];

export const fixtureCt = (): CtRow[] => [
	{ ifindex: 12, saddr: "10.0.0.5", daddr: "10.0.0.7", direction: "egress" },
];

export const fixtureDrops = (): DropRow[] => [
	{
		tsNs: 1_000_000_000n,
		time: new Date("2026-11-27T06:10:00.123Z"),
		saddr: "10.0.0.5",
		daddr: "10.0.0.7",
		sport: 40000,
		dport: 5432,
		proto: 6,
		direction: "ingress",
		reason: "policy-ingress",
		ifindex: 13,
		endpoint: DB,
		peer: FE,
	},
];

/** The node's links: the frontend's and a second database pod's host veths (by their routes). */
export const fixtureLinks = (): LinkRow[] => [
	{ ifindex: 1, name: "lo", routes: [] },
	{ ifindex: 12, name: "cali-fe0", routes: ["10.0.0.5", "fd00::5"] },
	{ ifindex: 14, name: "cali-db1", routes: ["10.0.0.8"] },
	{ ifindex: 15, name: "eth1", routes: ["10.0.1.10"] }, // not a local pod: ignored
];

export const fixtureInput = (): DumpInput => ({
	pinRoot: "/sys/fs/bpf/terway",
	state: fixtureState(),
	stats: fixtureStats(),
	ct: fixtureCt(),
	drops: fixtureDrops(),
	links: fixtureLinks(),
});

/** terwayd's GET /v1/policy answer as the dump keeps it. */
export const fixtureAgent = (): AgentDoc => ({
	socket: "/var/run/terway/terwayd.sock",
	enabled: true,
	reason: null,
	policies: [
		{ policy: "prod/allow-fe", ok: true, message: "applied: selects 2 local pods, 2 entries" },
		{ policy: "prod/bad", ok: false, message: 'ingress[0].from[0].ipBlock.cidr "10.0.0.0/33": not a CIDR' },
	],
	lastSync: "2026-11-27T06:09:59.000Z",
	lastError: null,
});
