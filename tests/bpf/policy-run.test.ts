/**
 * Root suite: the policy programs under BPF_PROG_TEST_RUN on crafted Ethernet frames, with the
 * maps written through PolicyMaps.apply. Exact rules, drops (with the counter and the drop
 * event), default allow, replies through connection tracking, CIDR except (LPM longest match),
 * port ranges as prefixes, any-peer rules, IPv6 (with extension headers), ND/ARP/ICMP errors and
 * the HOST peer. Pins live under /sys/fs/bpf/<prefixFor("pr")>.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { EP, ID, type MapDiff, type PolicyEntry } from "../../src/core/policy/types.ts";
import { openHandles } from "../../src/ffi/handles.ts";
import { mapInfo, progTestRun } from "../../src/ffi/libbpf/index.ts";
import {
	type DropReader,
	loadObject,
	OBJECTS,
	type ObjectName,
	POLICY_DROPS_MAP,
	POLICY_MAPS,
	PolicyProgram,
} from "../../src/linux/bpf/index.ts";
import { canRun, prefixFor } from "../helpers/env.ts";
import { arpFrame, ipFrame, type L4 } from "./policy-frames.ts";

const P = prefixFor("pr");
const PIN_ROOT = `/sys/fs/bpf/${P}`;

const TC_ACT_UNSPEC = -1;
const TC_ACT_SHOT = 2;
/** BPF_PROG_TEST_RUN runs tc programs on lo unless a context says otherwise. */
const LO = 1;

const A = { v4: "10.0.0.1", v6: "fd00::1", id: ID.FIRST_POD }; // local, isolated both ways
const B = { v4: "10.0.0.2", v6: "fd00::2", id: ID.FIRST_POD + 1 }; // local, not isolated
const C = { v4: "10.1.0.3", v6: "fd00:1::3", id: ID.FIRST_POD + 2 }; // remote pod
const D = { v4: "10.1.0.4", v6: "fd00:1::4", id: ID.FIRST_POD + 3 }; // remote pod, any protocol to A
const HOST = "192.168.0.10";
const CIDR = { cidr: "172.16.0.0/16", id: ID.FIRST_CIDR };
const EXCEPT = { cidr: "172.16.5.0/24", id: ID.FIRST_CIDR + 1 };

const ISO = EP.LOCAL | EP.ISO_INGRESS | EP.ISO_EGRESS;

const rule = (
	peer: number,
	direction: PolicyEntry["direction"],
	proto: number,
	port: number,
	bits: number,
	r = 1,
): PolicyEntry => ({ endpoint: A.id, peer, direction, proto, port, bits, rule: r });

const RULES: PolicyEntry[] = [
	rule(C.id, "ingress", 6, 80, 16, 1), // C -> A tcp/80
	rule(C.id, "ingress", 6, 8000, 13, 2), // C -> A tcp/8000-8007
	rule(D.id, "ingress", 0, 0, 0, 3), // D -> A anything
	rule(CIDR.id, "egress", 6, 443, 16, 4), // A -> 172.16.0.0/16 except 172.16.5.0/24 tcp/443
	rule(ID.ANY, "egress", 17, 53, 16, 5), // A -> anyone udp/53
	rule(C.id, "egress", 132, 0, 0, 6), // A -> C sctp, any port
];

const DIFF: MapDiff = {
	ips: {
		set: [
			{ cidr: `${A.v4}/32`, identity: A.id, flags: ISO },
			{ cidr: `${A.v6}/128`, identity: A.id, flags: ISO },
			{ cidr: `${B.v4}/32`, identity: B.id, flags: EP.LOCAL },
			{ cidr: `${B.v6}/128`, identity: B.id, flags: EP.LOCAL },
			{ cidr: `${C.v4}/32`, identity: C.id, flags: 0 },
			{ cidr: `${C.v6}/128`, identity: C.id, flags: 0 },
			{ cidr: `${D.v4}/32`, identity: D.id, flags: 0 },
			{ cidr: `${D.v6}/128`, identity: D.id, flags: 0 },
			{ cidr: `${HOST}/32`, identity: ID.HOST, flags: 0 },
			{ cidr: CIDR.cidr, identity: CIDR.id, flags: 0 },
			{ cidr: EXCEPT.cidr, identity: EXCEPT.id, flags: 0 },
		],
		del: [],
	},
	policy: { set: RULES, del: [] },
	idNames: {
		set: [
			[A.id, "pod default/app=a"],
			[C.id, "pod default/app=c"],
		],
		del: [],
	},
	ruleNames: { set: [[1, "default/allow-c ingress[0]"]], del: [] },
};

let prog: PolicyProgram | undefined;
let drops: DropReader | undefined;

/** Run `frame` through terway_pol_from (packets from the pod) or terway_pol_to (to the pod). */
function run(which: "from" | "to", frame: Uint8Array): number {
	const p = prog!;
	return progTestRun(p.programFd(which === "from" ? "terway_pol_from" : "terway_pol_to"), { data: frame })
		.retval;
}

const tcp = (sport: number, dport: number): L4 => ({ proto: "tcp", sport, dport });
const udp = (sport: number, dport: number): L4 => ({ proto: "udp", sport, dport });

describe.skipIf(!canRun("tests/bpf/policy-run.test.ts"))("policy programs under BPF_PROG_TEST_RUN", () => {
	beforeAll(() => {
		rmSync(PIN_ROOT, { recursive: true, force: true });
		prog = PolicyProgram.load({ pinRoot: PIN_ROOT });
		prog.maps.apply(DIFF);
		drops = prog.drops();
	});

	afterAll(() => {
		drops?.close();
		prog?.close();
		rmSync(PIN_ROOT, { recursive: true, force: true });
		expect(openHandles()).toEqual([]);
	});

	test("probe: both programs pass an ARP frame under BPF_PROG_TEST_RUN", () => {
		expect(prog!.selfTest()).toEqual([
			{ program: "terway_pol_from", retval: TC_ACT_UNSPEC, ok: true },
			{ program: "terway_pol_to", retval: TC_ACT_UNSPEC, ok: true },
		]);
	});

	test("every object that includes the policy maps shares the pinned ones (pin by name)", () => {
		const names = [...Object.values(POLICY_MAPS).map((m) => m.name), POLICY_DROPS_MAP];
		const ids = names.map((n) => mapInfo(prog!.object.mapFd(n)).id);
		for (const name of Object.keys(OBJECTS) as ObjectName[]) {
			if (name === "policy") continue;
			let obj: ReturnType<typeof loadObject>;
			try {
				obj = loadObject(name, { pinRoot: PIN_ROOT });
			} catch (e) {
				console.warn(`SKIP sharing check for ${name}: it does not load here (${(e as Error).message})`);
				continue;
			}
			try {
				const has = obj.mapNames().filter((m) => names.includes(m));
				if (has.length === 0) continue;
				expect({ name, has: has.sort() }).toEqual({ name, has: [...names].sort() });
				expect(names.map((n) => mapInfo(obj.mapFd(n)).id)).toEqual(ids);
			} finally {
				obj.close();
			}
		}
	});

	test("an exact rule allows (peer identity, tcp, port)", () => {
		expect(run("to", ipFrame(C.v4, A.v4, tcp(40000, 80)))).toBe(TC_ACT_UNSPEC);
	});

	test("no rule: dropped, counted, and the drop event names the flow and the reason", () => {
		drops!.read(); // start clean
		const before = prog!.maps.stats().find((s) => s.ifindex === LO && s.direction === "ingress");
		expect(run("to", ipFrame(C.v4, A.v4, tcp(40001, 81)))).toBe(TC_ACT_SHOT);
		const after = prog!.maps.stats().find((s) => s.ifindex === LO && s.direction === "ingress");
		expect(after!.dropped - (before?.dropped ?? 0n)).toBe(1n);
		expect(after!.droppedBytes - (before?.droppedBytes ?? 0n)).toBeGreaterThan(0n);
		const ev = drops!.poll(1000);
		expect(ev).toHaveLength(1);
		expect(ev[0]).toMatchObject({
			family: 4,
			saddr: C.v4,
			daddr: A.v4,
			sport: 40001,
			dport: 81,
			proto: 6,
			protoName: "tcp",
			direction: "ingress",
			reason: "policy-ingress",
			ifindex: LO,
			endpoint: A.id,
			peer: C.id,
		});
	});

	test("an endpoint no policy isolates is allowed by default; a non-local endpoint is not checked", () => {
		expect(run("to", ipFrame(C.v4, B.v4, tcp(40002, 81)))).toBe(TC_ACT_UNSPEC);
		expect(run("from", ipFrame(B.v4, C.v4, tcp(40003, 9999)))).toBe(TC_ACT_UNSPEC);
		// C is not LOCAL: a packet "from" C at this point is not C's to police
		expect(run("from", ipFrame(C.v4, A.v4, tcp(40004, 81)))).toBe(TC_ACT_UNSPEC);
	});

	test("the reply of an allowed flow passes the other direction through connection tracking", () => {
		expect(run("to", ipFrame(C.v4, A.v4, tcp(40010, 80)))).toBe(TC_ACT_UNSPEC);
		expect(run("from", ipFrame(A.v4, C.v4, tcp(80, 40010)))).toBe(TC_ACT_UNSPEC);
		// not a reply: A opening its own connection to C is its egress policy's business
		expect(run("from", ipFrame(A.v4, C.v4, tcp(80, 40011)))).toBe(TC_ACT_SHOT);
		const ct = prog!.maps.ctEntries(LO).find((e) => e.sport === 40010);
		expect(ct).toMatchObject({
			saddr: C.v4,
			daddr: A.v4,
			dport: 80,
			proto: 6,
			family: 4,
			direction: "ingress",
		});
		const ev = drops!.poll(1000).at(-1);
		expect(ev).toMatchObject({ saddr: A.v4, daddr: C.v4, reason: "policy-egress", direction: "egress" });
	});

	test("a CIDR peer with an except: the longest prefix decides", () => {
		expect(run("from", ipFrame(A.v4, "172.16.1.1", tcp(40020, 443)))).toBe(TC_ACT_UNSPEC);
		expect(run("from", ipFrame(A.v4, "172.16.5.1", tcp(40021, 443)))).toBe(TC_ACT_SHOT);
		expect(run("from", ipFrame(A.v4, "8.8.8.8", tcp(40022, 443)))).toBe(TC_ACT_SHOT);
		const ev = drops!.poll(1000);
		expect(ev.map((e) => [e.daddr, e.peer])).toEqual([
			["172.16.5.1", EXCEPT.id],
			["8.8.8.8", ID.WORLD],
		]);
	});

	test("a port range as one prefix (8000/13 = 8000-8007)", () => {
		for (const port of [8000, 8005, 8007])
			expect(run("to", ipFrame(C.v4, A.v4, tcp(40030, port)))).toBe(TC_ACT_UNSPEC);
		for (const port of [7999, 8008])
			expect(run("to", ipFrame(C.v4, A.v4, tcp(40031, port)))).toBe(TC_ACT_SHOT);
		// the same port on another protocol is not covered
		expect(run("to", ipFrame(C.v4, A.v4, udp(40032, 8001)))).toBe(TC_ACT_SHOT);
	});

	test("an any-peer rule (udp/53 to anyone) and an any-port rule (sctp to C)", () => {
		expect(run("from", ipFrame(A.v4, "8.8.8.8", udp(40040, 53)))).toBe(TC_ACT_UNSPEC);
		expect(run("from", ipFrame(A.v4, C.v4, udp(40041, 53)))).toBe(TC_ACT_UNSPEC);
		expect(run("from", ipFrame(A.v4, "8.8.8.8", tcp(40042, 53)))).toBe(TC_ACT_SHOT);
		expect(run("from", ipFrame(A.v4, C.v4, { proto: "sctp", sport: 40043, dport: 36412 }))).toBe(
			TC_ACT_UNSPEC,
		);
		expect(run("from", ipFrame(A.v4, D.v4, { proto: "sctp", sport: 40044, dport: 36412 }))).toBe(TC_ACT_SHOT);
	});

	test("an any-protocol rule lets ICMP echo in; the echo reply passes via CT; other echoes drop", () => {
		expect(run("to", ipFrame(D.v4, A.v4, { proto: "icmp", type: 8, id: 77 }))).toBe(TC_ACT_UNSPEC);
		expect(run("from", ipFrame(A.v4, D.v4, { proto: "icmp", type: 0, id: 77 }))).toBe(TC_ACT_UNSPEC);
		expect(run("to", ipFrame(C.v4, A.v4, { proto: "icmp", type: 8, id: 78 }))).toBe(TC_ACT_SHOT);
		expect(run("from", ipFrame(A.v4, C.v4, { proto: "icmp", type: 8, id: 79 }))).toBe(TC_ACT_SHOT);
	});

	test("ICMP errors, ARP and non-IP frames always pass", () => {
		expect(run("to", ipFrame(C.v4, A.v4, { proto: "icmp", type: 3, code: 3 }))).toBe(TC_ACT_UNSPEC);
		expect(run("to", ipFrame("8.8.8.8", A.v4, { proto: "icmp", type: 11 }))).toBe(TC_ACT_UNSPEC);
		expect(run("to", arpFrame(C.v4, A.v4))).toBe(TC_ACT_UNSPEC);
		expect(run("from", arpFrame(A.v4, C.v4))).toBe(TC_ACT_UNSPEC);
	});

	test("the HOST peer always passes (kubelet probes)", () => {
		expect(run("to", ipFrame(HOST, A.v4, tcp(40050, 9999)))).toBe(TC_ACT_UNSPEC);
		expect(run("from", ipFrame(A.v4, HOST, tcp(40051, 10250)))).toBe(TC_ACT_UNSPEC);
	});

	test("IPv6: exact rule, drop with a v6 drop event, reply via CT, extension headers", () => {
		drops!.read();
		expect(run("to", ipFrame(C.v6, A.v6, tcp(40060, 80)))).toBe(TC_ACT_UNSPEC);
		expect(run("from", ipFrame(A.v6, C.v6, tcp(80, 40060)))).toBe(TC_ACT_UNSPEC);
		expect(run("to", ipFrame(C.v6, A.v6, tcp(40061, 81)))).toBe(TC_ACT_SHOT);
		expect(drops!.poll(1000)).toEqual([
			expect.objectContaining({ family: 6, saddr: C.v6, daddr: A.v6, dport: 81, reason: "policy-ingress" }),
		]);
		// hop-by-hop + destination options before TCP: the port is still found
		expect(run("to", ipFrame(C.v6, A.v6, tcp(40062, 80), { v6ext: ["hop", "dest"] }))).toBe(TC_ACT_UNSPEC);
		expect(run("to", ipFrame(C.v6, A.v6, tcp(40063, 81), { v6ext: ["hop"] }))).toBe(TC_ACT_SHOT);
		// a first fragment carries the port; a later one is checked with ports 0
		expect(run("to", ipFrame(C.v6, A.v6, tcp(40064, 80), { v6ext: ["frag"] }))).toBe(TC_ACT_UNSPEC);
		expect(run("to", ipFrame(C.v6, A.v6, tcp(40065, 80), { v6ext: ["frag"], fragOffset: 8 }))).toBe(
			TC_ACT_SHOT,
		);
		expect(run("to", ipFrame(D.v6, A.v6, tcp(40066, 80), { v6ext: ["frag"], fragOffset: 8 }))).toBe(
			TC_ACT_UNSPEC,
		);
		drops!.read();
	});

	test("IPv6 neighbour discovery, MLD and ICMPv6 errors pass; v6 echo follows the rules", () => {
		for (const type of [133, 134, 135, 136, 137, 143, 1, 2]) {
			expect(run("to", ipFrame("fe80::99", A.v6, { proto: "icmp", type }))).toBe(TC_ACT_UNSPEC);
			expect(run("from", ipFrame(A.v6, "fe80::99", { proto: "icmp", type }))).toBe(TC_ACT_UNSPEC);
		}
		expect(run("to", ipFrame(D.v6, A.v6, { proto: "icmp", type: 128, id: 5 }))).toBe(TC_ACT_UNSPEC);
		expect(run("from", ipFrame(A.v6, D.v6, { proto: "icmp", type: 129, id: 5 }))).toBe(TC_ACT_UNSPEC);
		expect(run("to", ipFrame(C.v6, A.v6, { proto: "icmp", type: 128, id: 6 }))).toBe(TC_ACT_SHOT);
		drops!.read();
	});

	test("IPv4 later fragments are checked with ports 0", () => {
		expect(run("to", ipFrame(C.v4, A.v4, tcp(40070, 80), { fragOffset: 100 }))).toBe(TC_ACT_SHOT);
		expect(run("to", ipFrame(D.v4, A.v4, tcp(40071, 80), { fragOffset: 100 }))).toBe(TC_ACT_UNSPEC);
		drops!.read();
	});

	test("readState gives back exactly what apply wrote", () => {
		const s = prog!.maps.readState();
		expect([...s.ips.values()].sort((a, b) => a.cidr.localeCompare(b.cidr))).toEqual(
			[...DIFF.ips.set].sort((a, b) => a.cidr.localeCompare(b.cidr)),
		);
		expect(new Set(s.policy.values())).toEqual(new Set(RULES));
		expect(s.idNames).toEqual(new Map(DIFF.idNames.set));
		expect(s.ruleNames).toEqual(new Map(DIFF.ruleNames.set));
	});

	test("a diff that lifts isolation and removes a rule takes effect; flushCt forgets flows", () => {
		expect(run("to", ipFrame(C.v4, A.v4, tcp(40080, 80)))).toBe(TC_ACT_UNSPEC);
		prog!.maps.apply({
			ips: { set: [{ cidr: `${A.v4}/32`, identity: A.id, flags: EP.LOCAL | EP.ISO_INGRESS }], del: [] },
			policy: { set: [], del: [RULES[0]!] },
			idNames: { set: [], del: [C.id] },
			ruleNames: { set: [], del: [] },
		});
		// the established flow keeps going (CT), a new one to port 80 is now dropped
		expect(run("to", ipFrame(C.v4, A.v4, tcp(40080, 80)))).toBe(TC_ACT_UNSPEC);
		expect(run("to", ipFrame(C.v4, A.v4, tcp(40081, 80)))).toBe(TC_ACT_SHOT);
		// egress is no longer isolated
		expect(run("from", ipFrame(A.v4, "8.8.8.8", tcp(40082, 443)))).toBe(TC_ACT_UNSPEC);
		expect(prog!.maps.flushCt(LO)).toBeGreaterThan(0);
		expect(prog!.maps.ctEntries(LO)).toEqual([]);
		expect(run("to", ipFrame(C.v4, A.v4, tcp(40080, 80)))).toBe(TC_ACT_SHOT);
		expect(prog!.maps.readState().idNames.has(C.id)).toBe(false);
		drops!.read();
	});

	test("a large diff (written in one batch) round-trips and deletes cleanly", () => {
		const before = prog!.maps.readState();
		const many: PolicyEntry[] = Array.from({ length: 200 }, (_, i) => ({
			endpoint: B.id,
			peer: ID.FIRST_CIDR + 100 + i,
			direction: i % 2 ? "egress" : "ingress",
			proto: 17,
			port: 5000 + i,
			bits: 16,
			rule: 100 + i,
		}));
		const diff = (set: PolicyEntry[], del: PolicyEntry[]): MapDiff => ({
			ips: { set: [], del: [] },
			policy: { set, del },
			idNames: { set: [], del: [] },
			ruleNames: { set: [], del: [] },
		});
		expect(prog!.maps.apply(diff(many, []))).toEqual({ written: 200, deleted: 0 });
		const mid = prog!.maps.readState();
		expect(mid.policy.size).toBe(before.policy.size + 200);
		expect(mid.policy.get("257/16777316/ingress/17/5000/16")).toEqual(many[0]);
		expect(prog!.maps.apply(diff([], many))).toEqual({ written: 0, deleted: 200 });
		expect(prog!.maps.readState()).toEqual(before);
	});

	test("bad entries are refused with the key named and nothing written", () => {
		const before = prog!.maps.readState();
		expect(() =>
			prog!.maps.apply({
				ips: {
					set: [
						{ cidr: "10.9.9.9/32", identity: 999, flags: 0 },
						{ cidr: "10.0.0.300/32", identity: 1, flags: 0 },
					],
					del: [],
				},
				policy: { set: [], del: [] },
				idNames: { set: [], del: [] },
				ruleNames: { set: [], del: [] },
			}),
		).toThrow(/10\.0\.0\.300/);
		expect(() =>
			prog!.maps.apply({
				ips: { set: [], del: [] },
				policy: { set: [{ ...RULES[0]!, bits: 17 }], del: [] },
				idNames: { set: [], del: [] },
				ruleNames: { set: [], del: [] },
			}),
		).toThrow(/bits 17/);
		expect(() =>
			prog!.maps.apply({
				ips: { set: [{ cidr: "10.9.9.9/32", identity: -1, flags: 0 }], del: [] },
				policy: { set: [], del: [] },
				idNames: { set: [], del: [] },
				ruleNames: { set: [], del: [] },
			}),
		).toThrow(/identity of 10\.9\.9\.9\/32 -1/);
		expect(prog!.maps.readState()).toEqual(before);
	});
});
