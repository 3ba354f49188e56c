/**
 * Incremental compiles: a change in the cluster produces the minimal map diff, identities and
 * rule ids stay put, and a freed id is not reused within the compile that frees it.
 */
import { describe, expect, test } from "bun:test";
import { compile } from "./compile.ts";
import { diff, emptyState, isEmptyDiff } from "./diff.ts";
import { IP, input, np, podPeer, pods, sel, tcp } from "./testkit.ts";
import { EP, type MapDiff, type NetworkPolicy, type PodInfo } from "./types.ts";

const policies: NetworkPolicy[] = [
	np("db", {
		podSelector: sel({ app: "db" }),
		ingress: [{ from: [podPeer({ app: "client" })], ports: [tcp(5432)] }],
	}),
	np("web", { podSelector: sel({ app: "web" }), ingress: [{ ports: [tcp("http")] }] }),
];
const base = compile(input(policies));
const id = (c: ReturnType<typeof compile>, ip: string) => c.state.ips.get(`${ip}/32`)!.identity;

/** A diff as short lines, to compare whole. */
function lines(d: MapDiff): string[] {
	return [
		...d.ips.set.map((e) => `ip set ${e.cidr} ${e.identity} ${e.flags}`),
		...d.ips.del.map((e) => `ip del ${e.cidr}`),
		...d.policy.set.map(
			(e) => `policy set ${e.endpoint}/${e.peer}/${e.direction}/${e.proto}/${e.port}/${e.bits} ${e.rule}`,
		),
		...d.policy.del.map(
			(e) => `policy del ${e.endpoint}/${e.peer}/${e.direction}/${e.proto}/${e.port}/${e.bits}`,
		),
		...d.idNames.set.map(([k, v]) => `id set ${k} ${v}`),
		...d.idNames.del.map((k) => `id del ${k}`),
		...d.ruleNames.set.map(([k, v]) => `rule set ${k} ${v}`),
		...d.ruleNames.del.map((k) => `rule del ${k}`),
	];
}

const withPods = (ps: PodInfo[], pol = policies) => compile(input(pol, { pods: ps }), base);

describe("diff", () => {
	test("from empty maps: everything is a set", () => {
		const d = diff(emptyState(), base.state);
		expect(d.ips.set.length).toBe(base.state.ips.size);
		expect(d.policy.set.length).toBe(base.state.policy.size);
		expect(d.ips.del).toEqual([]);
	});
	test("the same input compiled again (with prev) changes nothing; so does another input order", () => {
		const again = compile(input([...policies].reverse(), { pods: [...pods].reverse() }), base);
		expect(isEmptyDiff(diff(base.state, again.state))).toBe(true);
		expect(again.identities).toEqual(base.identities);
		expect(again.rules).toEqual(base.rules);
	});
	test("input order does not matter, also for policies sharing pods and entries", () => {
		const more = [
			...policies,
			np("db-2", { podSelector: {}, ingress: [{ from: [podPeer({ app: "client" })], ports: [tcp(5432)] }] }),
			np("db-3", { podSelector: sel({ app: "db" }), policyTypes: ["Ingress", "Egress"] }),
		];
		const a = compile(input(more));
		const b = compile(input([...more].reverse(), { pods: [...pods].reverse() }));
		expect(isEmptyDiff(diff(a.state, b.state))).toBe(true);
		expect(a.state.ruleNames.get((0x80000000 + id(a, IP.db) * 2) >>> 0)).toBe(
			"isolation ingress: default/db, default/db-2, default/db-3",
		);
	});
	test("a changed value is one set, not a delete and a set", () => {
		const a = emptyState();
		const b = emptyState();
		a.ips.set("10.0.0.1/32", { cidr: "10.0.0.1/32", identity: 256, flags: 1 });
		b.ips.set("10.0.0.1/32", { cidr: "10.0.0.1/32", identity: 256, flags: 3 });
		expect(lines(diff(a, b))).toEqual(["ip set 10.0.0.1/32 256 3"]);
	});
});

describe("incremental compiles", () => {
	test("a new pod with existing labels: one identity entry, nothing else", () => {
		const next = withPods([
			...pods,
			{
				namespace: "default",
				name: "client-2",
				labels: { app: "client" },
				ips: ["10.0.0.31"],
				local: false,
				ports: [],
			},
		]);
		expect(lines(diff(base.state, next.state))).toEqual([`ip set 10.0.0.31/32 ${id(base, IP.client)} 0`]);
	});
	test("a new local pod with new labels a policy selects: its identity, flags and entries", () => {
		const next = withPods([
			...pods,
			{
				namespace: "default",
				name: "db-2",
				labels: { app: "db", v: "2" },
				ips: ["10.0.0.21"],
				local: true,
				ports: [],
			},
		]);
		const fresh = id(next, "10.0.0.21");
		expect(base.state.idNames.has(fresh)).toBe(false);
		const rule = base.rules.get("default/db ingress[0]")!;
		expect(lines(diff(base.state, next.state))).toEqual([
			`ip set 10.0.0.21/32 ${fresh} ${EP.LOCAL | EP.ISO_INGRESS}`,
			`policy set ${fresh}/${id(base, IP.client)}/ingress/6/5432/16 ${rule}`,
			`id set ${fresh} pod default/app=db,v=2`,
			`rule set ${(0x80000000 + fresh * 2) >>> 0} isolation ingress: default/db`,
		]);
		// every other identity kept its id
		for (const [k, v] of base.identities) expect(next.identities.get(k)).toBe(v);
	});
	test("relabelling a pod: new identity, old one freed (and not reused in that compile)", () => {
		const relabelled = pods.map((p) =>
			p.name === "client" && p.namespace === "default" ? { ...p, labels: { app: "client2" } } : p,
		);
		const next = withPods(relabelled);
		const old = id(base, IP.client);
		const fresh = id(next, IP.client);
		expect(fresh).not.toBe(old);
		expect([...next.identities.values()]).not.toContain(old);
		expect(lines(diff(base.state, next.state))).toEqual([
			`ip set ${IP.client}/32 ${fresh} ${EP.LOCAL}`,
			`ip set ${IP.client6}/128 ${fresh} ${EP.LOCAL}`,
			`policy del ${id(base, IP.db)}/${old}/ingress/6/5432/16`,
			`id set ${fresh} pod default/app=client2`,
			`id del ${old}`,
		]);
		// a later compile may hand the freed id to a new key
		const later = compile(
			input(policies, {
				pods: [
					...relabelled,
					{
						namespace: "other",
						name: "new",
						labels: { app: "new" },
						ips: ["10.0.4.9"],
						local: false,
						ports: [],
					},
				],
			}),
			next,
		);
		expect(id(later, "10.0.4.9")).toBe(old);
		expect(id(later, IP.client)).toBe(fresh);
	});
	test("relabelling a pod into a policy's peers: only the new entries", () => {
		const relabelled = pods.map((p) => (p.name === "nolabel" ? { ...p, labels: { app: "client" } } : p));
		const next = withPods(relabelled);
		// it now shares default/client's identity, which db already allows: just its address
		expect(id(next, IP.nolabel)).toBe(id(base, IP.client));
		expect(lines(diff(base.state, next.state))).toEqual([
			`ip set ${IP.nolabel}/32 ${id(base, IP.client)} ${EP.LOCAL}`,
			`id del ${id(base, IP.nolabel)}`,
		]);
	});
	test("changing a policy's port: exactly its entries change; rule ids stay", () => {
		const changed = [
			np("db", {
				podSelector: sel({ app: "db" }),
				ingress: [{ from: [podPeer({ app: "client" })], ports: [tcp(5433)] }],
			}),
			policies[1]!,
		];
		const next = compile(input(changed), base);
		const rule = base.rules.get("default/db ingress[0]")!;
		expect(next.rules).toEqual(base.rules);
		const ep = `${id(base, IP.db)}/${id(base, IP.client)}/ingress/6`;
		expect(lines(diff(base.state, next.state))).toEqual([
			`policy set ${ep}/5433/16 ${rule}`,
			`policy del ${ep}/5432/16`,
		]);
	});
	test("adding a deny policy for a namespace: flags only", () => {
		const next = compile(
			input([...policies, np("deny-out", { podSelector: {}, policyTypes: ["Egress"] }, "other")]),
			base,
		);
		expect(lines(diff(base.state, next.state))).toEqual([
			`ip set ${IP.x}/32 ${id(base, IP.x)} ${EP.LOCAL | EP.ISO_EGRESS}`,
			`rule set ${(0x80000000 + id(base, IP.x) * 2 + 1) >>> 0} isolation egress: other/deny-out`,
		]);
	});
	test("removing a policy: its entries, rule names and isolation go", () => {
		const next = compile(input([policies[1]!]), base);
		const d = diff(base.state, next.state);
		expect(d.policy.set).toEqual([]);
		expect(d.policy.del.map((e) => e.rule)).toEqual([base.rules.get("default/db ingress[0]")!]);
		expect(d.ips.set.map((e) => [e.cidr, e.flags])).toEqual([[`${IP.db}/32`, EP.LOCAL]]);
		expect(d.ruleNames.del).toEqual(
			[base.rules.get("default/db ingress[0]")!, (0x80000000 + id(base, IP.db) * 2) >>> 0].sort(
				(a, b) => a - b,
			),
		);
	});
	test("an ipBlock added: CIDR identities from FIRST_CIDR, stable when another is added", () => {
		const one = compile(
			input([
				...policies,
				np("ext", {
					podSelector: sel({ app: "web" }),
					ingress: [{ from: [{ ipBlock: { cidr: "203.0.113.0/24" } }] }],
				}),
			]),
			base,
		);
		const two = compile(
			input([
				...policies,
				np("ext", {
					podSelector: sel({ app: "web" }),
					ingress: [
						{ from: [{ ipBlock: { cidr: "198.51.100.0/24" } }, { ipBlock: { cidr: "203.0.113.0/24" } }] },
					],
				}),
			]),
			one,
		);
		const cid = (c: ReturnType<typeof compile>, k: string) => c.state.ips.get(k)!.identity;
		expect(cid(one, "203.0.113.0/24")).toBe(1 << 24);
		expect(cid(two, "203.0.113.0/24")).toBe(1 << 24);
		expect(cid(two, "198.51.100.0/24")).toBe((1 << 24) + 1);
		const d = lines(diff(one.state, two.state));
		expect(d.filter((l) => l.startsWith("ip "))).toEqual([`ip set 198.51.100.0/24 ${(1 << 24) + 1} 0`]);
		expect(d.filter((l) => l.startsWith("policy del"))).toEqual([]);
	});
	test("the entry's rule is the lowest rule id allowing it, so a new policy does not rewrite it", () => {
		const dup = compile(
			input([
				...policies,
				np("db-too", {
					podSelector: sel({ app: "db" }),
					ingress: [{ from: [podPeer({ app: "client" })], ports: [tcp(5432)] }],
				}),
			]),
			base,
		);
		const d = diff(base.state, dup.state);
		expect(d.policy.set).toEqual([]);
		expect(d.ruleNames.set).toContainEqual([
			dup.rules.get("default/db-too ingress[0]")!,
			"default/db-too ingress[0]",
		]);
	});
});
