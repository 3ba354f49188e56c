/**
 * Root suite: the policy programs enforcing on a real veth. Two namespaces joined by a veth:
 * "pod" (the endpoint, isolated both ways) and "host" (its host-side end, where both programs
 * are attached by their pins, TCX and then clsact, as the CNI plugin does). Real ping and TCP
 * (bun servers and clients from tests/bpf/policy-fixture.ts) are allowed and denied as the maps
 * say; replies pass through connection tracking; drop events are read with DropReader; pins
 * outlive the loading object and a second process reads them with openPinned.
 * Everything carries prefixFor("pv"); pins live under /sys/fs/bpf/<prefix>.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import type { Subprocess } from "bun";
import { EP, type MapDiff, type PolicyEntry } from "../../src/core/policy/types.ts";
import { openHandles } from "../../src/ffi/handles.ts";
import {
	attachPinnedProgram,
	type DropEvent,
	type DropReader,
	detach,
	listAttached,
	PolicyProgram,
	type TcMode,
} from "../../src/linux/bpf/index.ts";
import { Netns } from "../../src/linux/netns.ts";
import { canRun, ipJson, ping, prefixFor, sh } from "../helpers/env.ts";
import { addNetns, addVeth, ipIn, resetRun } from "../helpers/veth.ts";

const P = prefixFor("pv");
const NS_POD = `${P}p`;
const NS_HOST = `${P}h`;
const VETH_POD = `${P}vp`;
const VETH_HOST = `${P}vh`;
const POD = { v4: "198.18.31.2", v6: "fd00:31::2", id: 256 };
const PEER = { v4: "198.18.31.1", v6: "fd00:31::1", id: 300 };
const PIN_ROOT = `/sys/fs/bpf/${P}`;
const FIXTURE = `${import.meta.dir}/policy-fixture.ts`;
const BUN = process.execPath;

const ALLOWED_PORT = 18080; // pod ingress: PEER -> POD tcp/18080
const DENIED_PORT = 18081;
const PEER_PORT = 19090; // pod egress: POD -> PEER tcp/19090, allowed only later

const rule = (
	direction: PolicyEntry["direction"],
	proto: number,
	port: number,
	bits: number,
	r: number,
): PolicyEntry => ({
	endpoint: POD.id,
	peer: PEER.id,
	direction,
	proto,
	port,
	bits,
	rule: r,
});
const INGRESS_8080 = rule("ingress", 6, ALLOWED_PORT, 16, 1);
const EGRESS_9090 = rule("egress", 6, PEER_PORT, 16, 2);
const INGRESS_ANY = rule("ingress", 0, 0, 0, 3);

const empty = (): MapDiff => ({
	ips: { set: [], del: [] },
	policy: { set: [], del: [] },
	idNames: { set: [], del: [] },
	ruleNames: { set: [], del: [] },
});

let prog: PolicyProgram | undefined;
let drops: DropReader | undefined;
let nsHost: Netns | undefined;
let ifindexHost = 0;
const servers: Subprocess[] = [];

function serve(ns: string, ports: number[]): Promise<void> {
	const p = Bun.spawn(["ip", "netns", "exec", ns, BUN, FIXTURE, "serve", ...ports.map(String)], {
		stdout: "pipe",
		stderr: "inherit",
	});
	servers.push(p);
	return (async () => {
		const reader = p.stdout.getReader();
		let text = "";
		while (!text.includes("ready")) {
			const { value, done } = await reader.read();
			if (done) throw new Error(`server in ${ns} exited before it was ready`);
			text += new TextDecoder().decode(value);
		}
		reader.releaseLock();
	})();
}

/** One TCP connection from `ns`; true when the server's answer came back. */
function tcp(ns: string, addr: string, port: number): boolean {
	const out = sh(["ip", "netns", "exec", ns, BUN, FIXTURE, "connect", addr, String(port), "1500"]).out;
	return (JSON.parse(out.trim().split("\n").at(-1)!) as { ok: boolean }).ok;
}

function fixtureDump(): {
	state: { ips: [string, unknown][]; policy: [string, PolicyEntry][] };
	stats: { ifindex: number; direction: string; allowed: string; dropped: string }[];
	ct: { ifindex: number; saddr: string; daddr: string; dport: number }[];
	drops: DropEvent[];
	leaks: number;
} {
	return JSON.parse(sh([BUN, FIXTURE, "dump", PIN_ROOT]).out.trim().split("\n").at(-1)!);
}

/** Drop events from now until `want` matches one (polling the ring, 1 s per wait, at most 5 waits). */
function waitDrop(want: Partial<DropEvent>): DropEvent | undefined {
	for (let i = 0; i < 5; i++) {
		const hit = drops!
			.poll(1000)
			.find((e) => Object.entries(want).every(([k, v]) => e[k as keyof DropEvent] === v));
		if (hit) return hit;
	}
	return undefined;
}

function attachBoth(mode: TcMode): boolean[] {
	return [
		attachPinnedProgram({
			ns: nsHost!,
			ifName: VETH_HOST,
			direction: "ingress",
			program: "terway_pol_from",
			pinRoot: PIN_ROOT,
			mode,
		}),
		attachPinnedProgram({
			ns: nsHost!,
			ifName: VETH_HOST,
			direction: "egress",
			program: "terway_pol_to",
			pinRoot: PIN_ROOT,
			mode,
		}),
	].map((a) => a.changed);
}

function detachBoth(mode: TcMode): void {
	for (const direction of ["ingress", "egress"] as const) {
		detach({ ns: nsHost!, ifName: VETH_HOST, direction }, { mode, pinRoot: PIN_ROOT });
	}
}

describe.skipIf(!canRun("tests/bpf/policy-veth.test.ts"))(
	"policy programs on a veth (real ping and TCP)",
	() => {
		beforeAll(async () => {
			resetRun(P);
			addNetns(NS_POD, NS_HOST);
			addVeth({ ns: NS_HOST, name: VETH_HOST }, { ns: NS_POD, name: VETH_POD });
			for (const [ns, dev, me] of [
				[NS_HOST, VETH_HOST, PEER],
				[NS_POD, VETH_POD, POD],
			] as const) {
				ipIn(ns, "addr", "add", `${me.v4}/24`, "dev", dev);
				ipIn(ns, "addr", "add", `${me.v6}/64`, "dev", dev, "nodad");
				ipIn(ns, "link", "set", dev, "up");
			}
			nsHost = Netns.open(NS_HOST);
			ifindexHost = ipJson<{ ifindex: number }[]>(NS_HOST, ["link", "show", VETH_HOST])[0]!.ifindex;

			prog = PolicyProgram.load({ pinRoot: PIN_ROOT });
			prog.maps.apply({
				...empty(),
				ips: {
					set: [
						{ cidr: `${POD.v4}/32`, identity: POD.id, flags: EP.LOCAL | EP.ISO_INGRESS | EP.ISO_EGRESS },
						{ cidr: `${POD.v6}/128`, identity: POD.id, flags: EP.LOCAL | EP.ISO_INGRESS | EP.ISO_EGRESS },
						{ cidr: `${PEER.v4}/32`, identity: PEER.id, flags: 0 },
						{ cidr: `${PEER.v6}/128`, identity: PEER.id, flags: 0 },
					],
					del: [],
				},
				policy: { set: [INGRESS_8080], del: [] },
				idNames: {
					set: [
						[POD.id, "pod default/app=pod"],
						[PEER.id, "pod default/app=peer"],
					],
					del: [],
				},
			});
			drops = prog.drops();
			await serve(NS_POD, [ALLOWED_PORT, DENIED_PORT]);
			await serve(NS_HOST, [PEER_PORT]);
		});

		afterAll(() => {
			for (const s of servers) s.kill();
			drops?.close();
			prog?.close();
			if (nsHost) {
				for (const mode of ["tcx", "clsact"] as const) {
					try {
						detachBoth(mode);
					} catch {
						// the namespace may be half set up; cleanupNetns below removes it anyway
					}
				}
				nsHost.close();
			}
			resetRun(P);
			expect(openHandles()).toEqual([]);
		});

		test("before attach everything passes", () => {
			expect(ping(NS_HOST, POD.v4)).toBe(true);
			expect(tcp(NS_HOST, POD.v4, DENIED_PORT)).toBe(true);
		});

		test("both programs attach by their pins (TCX), idempotently", () => {
			expect(existsSync(`${PIN_ROOT}/progs/terway_pol_from`)).toBe(true);
			expect(existsSync(`${PIN_ROOT}/progs/terway_pol_to`)).toBe(true);
			expect(attachBoth("tcx")).toEqual([true, true]);
			expect(attachBoth("tcx")).toEqual([false, false]);
			expect(
				listAttached(nsHost!, VETH_HOST, { pinRoot: PIN_ROOT })
					.map((a) => [a.direction, a.mode, a.name])
					.sort(),
			).toEqual([
				["egress", "tcx", "terway_pol_to"],
				["ingress", "tcx", "terway_pol_from"],
			]);
		});

		test("TCP to the allowed port passes (v4 and v6: ND is let through); its replies pass egress via CT", () => {
			expect(tcp(NS_HOST, POD.v4, ALLOWED_PORT)).toBe(true);
			expect(tcp(NS_HOST, POD.v6, ALLOWED_PORT)).toBe(true);
			const ct = prog!.maps.ctEntries(ifindexHost);
			expect(ct.some((e) => e.saddr === PEER.v4 && e.daddr === POD.v4 && e.dport === ALLOWED_PORT)).toBe(
				true,
			);
			expect(ct.some((e) => e.saddr === PEER.v6 && e.daddr === POD.v6 && e.dport === ALLOWED_PORT)).toBe(
				true,
			);
		});

		test("TCP to another port and ping are dropped; the drop events name source, destination, port, reason", () => {
			drops!.read();
			expect(tcp(NS_HOST, POD.v4, DENIED_PORT)).toBe(false);
			expect(waitDrop({ dport: DENIED_PORT, family: 4 })).toMatchObject({
				saddr: PEER.v4,
				daddr: POD.v4,
				protoName: "tcp",
				reason: "policy-ingress",
				direction: "ingress",
				ifindex: ifindexHost,
				endpoint: POD.id,
				peer: PEER.id,
			});
			expect(ping(NS_HOST, POD.v4)).toBe(false);
			expect(waitDrop({ protoName: "icmp" })).toMatchObject({
				saddr: PEER.v4,
				daddr: POD.v4,
				reason: "policy-ingress",
			});
			expect(ping(NS_HOST, POD.v6)).toBe(false);
			expect(waitDrop({ protoName: "icmpv6" })).toMatchObject({ saddr: PEER.v6, daddr: POD.v6 });
			const st = prog!.maps.stats().find((s) => s.ifindex === ifindexHost && s.direction === "ingress");
			expect(st!.dropped).toBeGreaterThanOrEqual(3n);
			expect(st!.allowed).toBeGreaterThan(0n);
		});

		test("egress: the pod's own connection is dropped until a rule allows it", () => {
			drops!.read();
			expect(tcp(NS_POD, PEER.v4, PEER_PORT)).toBe(false);
			expect(waitDrop({ dport: PEER_PORT })).toMatchObject({
				saddr: POD.v4,
				daddr: PEER.v4,
				reason: "policy-egress",
				direction: "egress",
			});
			prog!.maps.apply({ ...empty(), policy: { set: [EGRESS_9090], del: [] } });
			expect(tcp(NS_POD, PEER.v4, PEER_PORT)).toBe(true);
			expect(tcp(NS_POD, PEER.v6, PEER_PORT)).toBe(true);
		});

		test("a policy update takes effect on the next packet: any-protocol rule in, then out again", () => {
			prog!.maps.apply({ ...empty(), policy: { set: [INGRESS_ANY], del: [] } });
			expect(ping(NS_HOST, POD.v4)).toBe(true);
			expect(tcp(NS_HOST, POD.v4, DENIED_PORT)).toBe(true);
			prog!.maps.apply({ ...empty(), policy: { set: [], del: [INGRESS_ANY] } });
			prog!.maps.flushCt(ifindexHost);
			expect(ping(NS_HOST, POD.v4)).toBe(false);
			expect(tcp(NS_HOST, POD.v4, DENIED_PORT)).toBe(false);
			expect(tcp(NS_HOST, POD.v4, ALLOWED_PORT)).toBe(true);
			drops!.read();
		});

		test("clsact: the same verdicts with the programs in cls_bpf filters", () => {
			detachBoth("tcx");
			expect(listAttached(nsHost!, VETH_HOST, { pinRoot: PIN_ROOT })).toEqual([]);
			expect(attachBoth("clsact")).toEqual([true, true]);
			expect(attachBoth("clsact")).toEqual([false, false]);
			expect(
				listAttached(nsHost!, VETH_HOST, { pinRoot: PIN_ROOT })
					.map((a) => [a.direction, a.mode, a.name])
					.sort(),
			).toEqual([
				["egress", "clsact", "terway_pol_to"],
				["ingress", "clsact", "terway_pol_from"],
			]);
			expect(tcp(NS_HOST, POD.v4, ALLOWED_PORT)).toBe(true);
			expect(tcp(NS_HOST, POD.v4, DENIED_PORT)).toBe(false);
			expect(ping(NS_HOST, POD.v4)).toBe(false);
			expect(tcp(NS_POD, PEER.v4, PEER_PORT)).toBe(true);
			detachBoth("clsact");
			expect(listAttached(nsHost!, VETH_HOST, { pinRoot: PIN_ROOT })).toEqual([]);
			drops!.read();
		});

		test("pins outlive the object: enforcement goes on, a second process reads maps, counters, CT and drops", () => {
			expect(attachBoth("tcx")).toEqual([true, true]);
			drops!.close();
			drops = undefined;
			prog!.close();
			prog = undefined;

			expect(tcp(NS_HOST, POD.v4, ALLOWED_PORT)).toBe(true);
			expect(tcp(NS_HOST, POD.v4, DENIED_PORT)).toBe(false);

			const d = fixtureDump();
			expect(d.leaks).toBe(0);
			expect(new Map(d.state.ips).size).toBe(4);
			expect(d.state.policy.map(([, e]) => e).sort((a, b) => a.rule - b.rule)).toEqual([
				INGRESS_8080,
				EGRESS_9090,
			]);
			const st = d.stats.find((s) => s.ifindex === ifindexHost && s.direction === "ingress");
			expect(BigInt(st!.dropped)).toBeGreaterThan(0n);
			expect(
				d.ct.some((e) => e.ifindex === ifindexHost && e.daddr === POD.v4 && e.dport === ALLOWED_PORT),
			).toBe(true);
			expect(d.drops).toContainEqual(
				expect.objectContaining({
					saddr: PEER.v4,
					daddr: POD.v4,
					dport: DENIED_PORT,
					reason: "policy-ingress",
				}),
			);

			// a fresh load reuses the pinned maps: the rules are still there
			prog = PolicyProgram.load({ pinRoot: PIN_ROOT });
			expect(prog.maps.readState().policy.size).toBe(2);
			detachBoth("tcx");
			expect(tcp(NS_HOST, POD.v4, DENIED_PORT)).toBe(true);
		});
	},
);
