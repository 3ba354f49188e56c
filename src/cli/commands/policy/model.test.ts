import { describe, expect, test } from "bun:test";
import { C1, C2, C8, DB, DNS, FE, fixtureAgent, fixtureInput, fixtureState } from "./fixture.ts";
import { buildDump, endpointRules, portRanges, portsText } from "./model.ts";

describe("portRanges: LPM port prefixes back to ranges", () => {
	test("proto 0 is any protocol and port", () => {
		expect(portRanges([{ proto: 0, port: 0, bits: 0 }])).toEqual([]);
		expect(portsText([])).toBe("any port");
	});
	test("bits 0 is every port of the protocol", () => {
		const p = portRanges([{ proto: 17, port: 0, bits: 0 }]);
		expect(p).toEqual([{ protocol: "UDP", port: null, endPort: null }]);
		expect(portsText(p)).toBe("all UDP ports");
	});
	test("one port, and adjacent prefixes merged into one range", () => {
		expect(portsText(portRanges([{ proto: 6, port: 8080, bits: 16 }]))).toBe("TCP 8080");
		// 8000-8100 as the compiler writes it: 8000/12 bits.. a minimal cover
		const cover = [
			{ port: 8000, bits: 12 },
			{ port: 8016, bits: 12 },
			{ port: 8032, bits: 11 },
			{ port: 8064, bits: 11 },
			{ port: 8096, bits: 14 },
			{ port: 8100, bits: 16 },
		].map((x) => ({ proto: 6, ...x }));
		expect(portRanges(cover)).toEqual([{ protocol: "TCP", port: 8000, endPort: 8100 }]);
	});
	test("several protocols in protocol-number order, gaps kept", () => {
		const p = portRanges([
			{ proto: 17, port: 53, bits: 16 },
			{ proto: 6, port: 443, bits: 16 },
			{ proto: 6, port: 80, bits: 16 },
		]);
		expect(portsText(p)).toBe("TCP 80, TCP 443, UDP 53");
	});
});

describe("endpointRules: entries in the NetworkPolicy vocabulary", () => {
	test("the isolated database's rules", () => {
		expect(endpointRules(fixtureState(), DB).map((r) => r.text)).toEqual([
			"egress to cidr 10.0.0.0/8 except 10.1.0.0/16 on any port (prod/db-egress egress[0])",
			"egress to pod kube-system/k8s-app=kube-dns on TCP 53, UDP 53 (prod/dns egress[0])",
			"ingress from pod prod/role=frontend on TCP 8080 (prod/allow-fe ingress[0])",
			"ingress from pod prod/role=frontend on TCP 9000-9003 (prod/allow-fe ingress[1])",
		]);
	});
	test("structured fields beside the text", () => {
		const cidr = endpointRules(fixtureState(), DB)[0]!;
		expect(cidr).toEqual({
			direction: "egress",
			peer: { identity: C8, name: "cidr 10.0.0.0/8" },
			except: ["10.1.0.0/16"],
			ports: [],
			policyRule: "prod/db-egress egress[0]",
			text: cidr.text,
		});
	});
	test("an any-peer rule, a missing rule name and a missing identity name", () => {
		const s = fixtureState();
		s.policy.set("x", { endpoint: FE, peer: 0, direction: "egress", proto: 132, port: 0, bits: 0, rule: 99 });
		s.policy.set("y", {
			endpoint: FE,
			peer: 777,
			direction: "ingress",
			proto: 6,
			port: 22,
			bits: 16,
			rule: 1,
		});
		expect(endpointRules(s, FE).map((r) => r.text)).toEqual([
			"egress to any peer on all SCTP ports",
			"ingress from identity 777 on TCP 22 (prod/allow-fe ingress[0])",
		]);
	});
	test("an except is reported once at its widest (an except inside an except is not listed)", () => {
		const s = fixtureState();
		s.ips.set("10.1.2.0/24", { cidr: "10.1.2.0/24", identity: C2 + 1, flags: 0 });
		expect(endpointRules(s, DB)[0]!.except).toEqual(["10.1.0.0/16"]);
		// another rule's ipBlock inside 10/8: folded into 10/8 for rule 2, its own line for its own rule
		s.ips.set("10.3.0.0/16", { cidr: "10.3.0.0/16", identity: C2 + 2, flags: 0 });
		s.idNames.set(C2 + 2, "cidr 10.3.0.0/16");
		const e = { endpoint: DB, peer: C2 + 2, direction: "egress" as const };
		s.policy.set("a", { ...e, proto: 0, port: 0, bits: 0, rule: 2 });
		s.policy.set("b", { ...e, proto: 6, port: 443, bits: 16, rule: 3 });
		expect(endpointRules(s, DB).map((r) => r.text)).toEqual([
			"egress to cidr 10.0.0.0/8 except 10.1.0.0/16 on any port (prod/db-egress egress[0])",
			"egress to pod kube-system/k8s-app=kube-dns on TCP 53, UDP 53 (prod/dns egress[0])",
			"egress to cidr 10.3.0.0/16 on TCP 443 (prod/dns egress[0])",
			"ingress from pod prod/role=frontend on TCP 8080 (prod/allow-fe ingress[0])",
			"ingress from pod prod/role=frontend on TCP 9000-9003 (prod/allow-fe ingress[1])",
		]);
	});
});

describe("buildDump", () => {
	test("identities, endpoints, interfaces and drops", () => {
		const doc = buildDump(fixtureInput());
		expect(doc.pod).toBeNull();
		expect(doc.identities.map((i) => [i.identity, i.name, i.addresses])).toEqual([
			[1, "host", ["192.168.0.1"]],
			[FE, "pod prod/role=frontend", ["10.0.0.5", "fd00::5"]],
			[DB, "pod prod/app=db", ["10.0.0.7", "10.0.0.8"]],
			[DNS, "pod kube-system/k8s-app=kube-dns", ["10.0.1.10"]],
			[C8, "cidr 10.0.0.0/8", ["10.0.0.0/8"]],
			[C1, "cidr 10.1.0.0/16", ["10.1.0.0/16"]],
			[C2, "cidr 10.2.0.0/16", ["10.2.0.0/16"]],
		]);
		expect(doc.endpoints.map((e) => [e.identity, e.isolation, e.interfaces, e.rules.length])).toEqual([
			[FE, { ingress: false, egress: false }, [12], 0],
			[DB, { ingress: true, egress: true }, [13, 14], 4],
		]);
		expect(doc.endpoints[1]!.isolatedBy).toEqual({
			ingress: ["prod/allow-fe"],
			egress: ["prod/db-egress", "prod/dns"],
		});
		expect(doc.endpoints[1]!.counters).toEqual({
			ingress: { allowed: 5, allowedBytes: 500, dropped: 2, droppedBytes: 120 },
			egress: { allowed: 0, allowedBytes: 0, dropped: 0, droppedBytes: 0 },
		});
		// 12: its route and a CT entry; 13: a drop only (no link here: another netns); 14: its route only
		expect(doc.interfaces.map((i) => [i.ifindex, i.name, i.endpoint, i.addresses, i.ctEntries])).toEqual([
			[12, "cali-fe0", FE, ["10.0.0.5", "fd00::5"], 1],
			[13, null, DB, ["10.0.0.7"], 0],
			[14, "cali-db1", DB, ["10.0.0.8"], 0],
		]);
		expect(doc.drops).toEqual([
			{
				time: "2026-11-27T06:10:00.123Z",
				src: "10.0.0.5",
				sport: 40000,
				dst: "10.0.0.7",
				dport: 5432,
				protocol: "TCP",
				direction: "ingress",
				reason: "policy-ingress",
				ifindex: 13,
				endpoint: { identity: DB, name: "pod prod/app=db" },
				peer: { identity: FE, name: "pod prod/role=frontend" },
				text: "10.0.0.5:40000 -> 10.0.0.7:5432 TCP dropped by policy-ingress of pod prod/app=db (peer pod prod/role=frontend, if 13)",
			},
		]);
	});

	test("--pod narrows to the pod's endpoint, interfaces, drops and the identities they name", () => {
		const doc = buildDump(fixtureInput(), { ref: "prod/db-0", addresses: ["10.0.0.7"] });
		expect(doc.pod).toEqual({ ref: "prod/db-0", addresses: ["10.0.0.7"] });
		expect(doc.endpoints.map((e) => [e.identity, e.addresses])).toEqual([[DB, ["10.0.0.7"]]]);
		expect(doc.identities.map((i) => i.identity)).toEqual([FE, DB, DNS, C8]);
		expect(doc.interfaces.map((i) => i.ifindex)).toEqual([13]);
		expect(doc.drops).toHaveLength(1);
		const fe = buildDump(fixtureInput(), { ref: "prod/fe-0", addresses: ["10.0.0.5"] });
		expect(fe.endpoints.map((e) => e.identity)).toEqual([FE]);
		expect(fe.drops).toEqual([]); // it was the peer of the drop, not the pod whose policy dropped
	});

	test("the JSON document's schema (keys and types) is stable", () => {
		const doc = JSON.parse(JSON.stringify(buildDump(fixtureInput())));
		const shape = (v: unknown): unknown =>
			Array.isArray(v)
				? v.length
					? [shape(v[0])]
					: []
				: v && typeof v === "object"
					? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, shape(x)]))
					: v === null
						? "null"
						: typeof v;
		const counters = { allowed: "number", allowedBytes: "number", dropped: "number", droppedBytes: "number" };
		const idRef = { identity: "number", name: "string" };
		expect(shape(doc)).toEqual({
			pinRoot: "string",
			pod: "null",
			agent: "null",
			identities: [{ identity: "number", name: "string", addresses: ["string"] }],
			endpoints: [
				{
					identity: "number",
					name: "string",
					addresses: ["string"],
					isolation: { ingress: "boolean", egress: "boolean" },
					isolatedBy: { ingress: [], egress: [] },
					rules: [],
					counters: { ingress: counters, egress: counters },
					interfaces: ["number"],
				},
			],
			interfaces: [
				{
					ifindex: "number",
					name: "string",
					endpoint: "number",
					addresses: ["string"],
					ingress: counters,
					egress: counters,
					ctEntries: "number",
				},
			],
			drops: [
				{
					time: "string",
					src: "string",
					sport: "number",
					dst: "string",
					dport: "number",
					protocol: "string",
					direction: "string",
					reason: "string",
					ifindex: "number",
					endpoint: idRef,
					peer: idRef,
					text: "string",
				},
			],
		});
		expect(shape(doc.endpoints[1].rules[0])).toEqual({
			direction: "string",
			peer: idRef,
			except: ["string"],
			ports: [],
			policyRule: "string",
			text: "string",
		});
		expect(
			shape(JSON.parse(JSON.stringify(buildDump({ ...fixtureInput(), agent: fixtureAgent() }))).agent),
		).toEqual({
			socket: "string",
			enabled: "boolean",
			reason: "null",
			policies: [{ policy: "string", ok: "boolean", message: "string" }],
			lastSync: "string",
			lastError: "null",
		});
		expect(shape(doc.endpoints[1].rules[1].ports[0])).toEqual({
			protocol: "string",
			port: "number",
			endPort: "number",
		});
	});
});
