/**
 * explain's lookups as the datapath does them (LPM on addresses, LPM on (endpoint, peer, proto,
 * port) then the any-peer entry), its words for each enforcement point, and the isolation
 * records it reads the policies' names from.
 */
import { describe, expect, test } from "bun:test";
import { compile, isolationName, isolationRuleId, NAME_MAX, parseIsolationName } from "./compile.ts";
import { emptyState } from "./diff.ts";
import { describeEntry, describePorts, explain, lookupIp, lookupPolicy } from "./explain.ts";
import { IP, input, np, podPeer, sel, tcp } from "./testkit.ts";
import { EP, ID, type MapState, type PolicyEntry, policyKey } from "./types.ts";

function state(): MapState {
	const s = emptyState();
	const ip = (cidr: string, identity: number, flags = 0) => s.ips.set(cidr, { cidr, identity, flags });
	ip("10.0.0.0/8", ID.FIRST_CIDR);
	ip("10.1.0.0/16", ID.FIRST_CIDR + 1);
	ip("10.1.2.3/32", 300, EP.LOCAL | EP.ISO_INGRESS);
	ip("10.1.2.4/32", 301);
	ip("fd00::/64", ID.FIRST_CIDR + 2);
	ip("fd00::1/128", 302, EP.LOCAL);
	const pe = (e: PolicyEntry) => s.policy.set(policyKey(e), e);
	pe({ endpoint: 300, peer: 301, direction: "ingress", proto: 6, port: 1024, bits: 6, rule: 1 });
	pe({ endpoint: 300, peer: 301, direction: "ingress", proto: 6, port: 1500, bits: 16, rule: 2 });
	pe({ endpoint: 300, peer: ID.ANY, direction: "ingress", proto: 17, port: 0, bits: 0, rule: 3 });
	pe({ endpoint: 300, peer: ID.FIRST_CIDR + 1, direction: "ingress", proto: 0, port: 0, bits: 0, rule: 4 });
	s.idNames.set(300, "pod default/app=db");
	s.idNames.set(301, "pod default/app=web");
	s.ruleNames.set(1, "default/a ingress[0]");
	s.ruleNames.set(2, "default/b ingress[0]");
	s.ruleNames.set(3, "default/c ingress[0]");
	return s;
}

describe("lookups", () => {
	const s = state();
	test("addresses: the longest prefix, WORLD (undefined) outside every entry, per family", () => {
		expect(lookupIp(s, "10.1.2.3")?.identity).toBe(300);
		expect(lookupIp(s, "10.1.2.5")?.identity).toBe(ID.FIRST_CIDR + 1);
		expect(lookupIp(s, "10.2.0.1")?.identity).toBe(ID.FIRST_CIDR);
		expect(lookupIp(s, "11.0.0.1")).toBeUndefined();
		expect(lookupIp(s, "fd00::1")?.identity).toBe(302);
		expect(lookupIp(s, "fd00::2")?.identity).toBe(ID.FIRST_CIDR + 2);
		expect(lookupIp(s, "fd01::1")).toBeUndefined();
	});
	test("policy: the longest matching port prefix, then the any-peer entry", () => {
		const at = (peer: number, proto: number, port: number) =>
			lookupPolicy(s, 300, peer, "ingress", proto, port)?.rule;
		expect(at(301, 6, 1500)).toBe(2); // /16 beats the 1024-2047 block
		expect(at(301, 6, 1024)).toBe(1);
		expect(at(301, 6, 2047)).toBe(1);
		expect(at(301, 6, 2048)).toBeUndefined();
		expect(at(301, 6, 1023)).toBeUndefined();
		expect(at(301, 17, 9)).toBe(3); // from the any-peer entry
		expect(at(ID.WORLD, 17, 9)).toBe(3);
		expect(at(ID.FIRST_CIDR + 1, 132, 1)).toBe(4); // any protocol
		expect(lookupPolicy(s, 300, 301, "egress", 6, 1500)).toBeUndefined();
	});
	test("entries in words", () => {
		const words = [...s.policy.values()].map((e) => describeEntry(s, e));
		expect(words).toEqual([
			"default/app=db: ingress from pod default/app=web on TCP 1024-2047 (default/a ingress[0])",
			"default/app=db: ingress from pod default/app=web on TCP 1500 (default/b ingress[0])",
			"default/app=db: ingress from anyone on UDP (default/c ingress[0])",
			`default/app=db: ingress from identity ${ID.FIRST_CIDR + 1} on any protocol (rule 4)`,
		]);
		expect(describePorts({ proto: 6, port: 32768, bits: 1 })).toBe("TCP 32768-65535");
	});
});

describe("explain", () => {
	const s = state();
	test("no isolation record (maps written by something else): still says what isolates", () => {
		expect(explain(s, { src: "10.1.2.4", dst: "10.1.2.3", proto: "TCP", port: 80 }).reason).toBe(
			"dropped: a policy isolates default/app=db for ingress and no rule allows pod default/app=web on TCP 80",
		);
	});
	test("the enforcement points of a flow", () => {
		const out = compile(
			input([
				np("db", {
					podSelector: sel({ app: "db" }),
					ingress: [{ from: [podPeer({ app: "web" })], ports: [tcp(5432)] }],
				}),
			]),
		).state;
		const x = explain(out, { src: IP.web, dst: IP.db, proto: "TCP", port: 5432 });
		expect(x.verdict).toBe("allowed");
		expect(x.checks.map((c) => [c.direction, c.endpoint.name, c.peer.name, c.verdict])).toEqual([
			["egress", "pod default/app=web", "pod default/app=db", "allowed"],
			["ingress", "pod default/app=db", "pod default/app=web", "allowed"],
		]);
		expect(x.checks[1]!.entry?.rule).toBe(1);
		expect(
			explain(out, { src: IP.web, dst: IP.db, proto: "TCP", port: 5432, direction: "ingress" }).checks,
		).toHaveLength(1);
		expect(
			explain(out, { src: IP.google, dst: IP.api, proto: "TCP", port: 1, direction: "egress" }).reason,
		).toBe("not enforced here: the source 8.8.8.8 (world) is not a pod on this node");
		expect(
			explain(out, { src: IP.web, dst: IP.api, proto: "TCP", port: 1, direction: "ingress" }).reason,
		).toBe("not enforced here: the destination 10.0.2.10 (pod prod/app=api) is not a pod on this node");
		const d = explain(out, { src: IP.client, dst: IP.db, proto: "UDP", port: 53 });
		expect(d.checks[1]!.isolatedBy).toEqual(["default/db"]);
	});
	test("bad input: a clear error", () => {
		expect(() => explain(s, { src: "10.1.2.300", dst: "10.1.2.3", proto: "TCP", port: 80 })).toThrow(
			'"10.1.2.300"',
		);
		expect(() => explain(s, { src: "10.1.2.4", dst: "10.1.2.3", proto: "GRE" as "TCP", port: 80 })).toThrow(
			'invalid protocol "GRE"',
		);
	});
});

describe("isolation records", () => {
	test("ids: one per endpoint and direction, above every rule id", () => {
		expect(isolationRuleId(256, "ingress")).toBe(0x80000200);
		expect(isolationRuleId(256, "egress")).toBe(0x80000201);
		expect(isolationRuleId(ID.FIRST_CIDR - 1, "egress")).toBeLessThan(2 ** 32);
	});
	test("names round-trip and stay within the map's name length", () => {
		expect(parseIsolationName(isolationName("ingress", ["a/b", "c/d"]))).toEqual({
			direction: "ingress",
			policies: ["a/b", "c/d"],
		});
		const many = Array.from({ length: 20 }, (_, i) => `namespace-${i}/policy-${i}`);
		const name = isolationName("egress", many);
		expect(name.length).toBeLessThanOrEqual(NAME_MAX);
		expect(name).toMatch(/ \+\d+ more$/);
		const back = parseIsolationName(name)!;
		expect(back.policies.length).toBeGreaterThan(0);
		expect(many.slice(0, back.policies.length)).toEqual(back.policies);
		expect(parseIsolationName("default/x ingress[0]")).toBeUndefined();
	});
});
