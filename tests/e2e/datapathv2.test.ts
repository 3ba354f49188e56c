/**
 * End to end: datapathv2 in `terwayctl sim up --nodes 2 --cni terway` (netns mode, dual stack),
 * selected the way Terway users select it: eni-config `eniip_virtual_type: IPVlan`. Each node's
 * terwayd pins the redirect programs under its own pin root and attaches terway_v2_in to its
 * ENIs; the plugin attaches terway_v2_out to each pod's host veth (after the policy program).
 * Real packets: pods on two nodes and on one node ping each other (v4, v6) and move TCP data,
 * and the node's IP forwarding counters stay still (the host stack was bypassed) while the
 * programs' counters grow; CHECK passes; DEL leaves no link, rule, route or link pin. Root only.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hostVethName } from "../../src/core/datapath/names.ts";
import { detach, listAttached } from "../../src/linux/bpf/attach.ts";
import { attachV2ToEni, readV2Stats, type V2Stats } from "../../src/linux/bpf/datapathv2.ts";
import { Netns } from "../../src/linux/netns.ts";
import { simPinRoot } from "../../src/sim/contracts.ts";
import { canRun, ipJson, prefixFor, sh } from "../helpers/env.ts";
import { hasIperf3, type IpRoute, type IpRule, type PodView, pingFrom, SimWorld, scenario } from "./world.ts";

const P = prefixFor("e4");
const tmp = mkdtempSync(join(tmpdir(), `${P}-`));
const w = new SimWorld(P);
const N1 = "node-1";
const N2 = "node-2";

const hasIperf = hasIperf3();

/** Forwarded datagrams of a node namespace (v4, v6): the host stack's routing work. */
function forwarded(node: string): { v4: number; v6: number } {
	const ns = w.nodeNs(node);
	const snmp = sh(["ip", "netns", "exec", ns, "cat", "/proc/net/snmp"]).out.split("\n");
	const head = snmp.find((l) => l.startsWith("Ip: Forwarding"))!.split(/\s+/);
	const vals = snmp.filter((l) => l.startsWith("Ip: "))[1]!.split(/\s+/);
	const snmp6 = sh(["ip", "netns", "exec", ns, "cat", "/proc/net/snmp6"]).out;
	return {
		v4: Number(vals[head.indexOf("ForwDatagrams")]),
		v6: Number(/Ip6OutForwDatagrams\s+(\d+)/.exec(snmp6)?.[1] ?? "0"),
	};
}

const stats = (node: string) => readV2Stats(simPinRoot(P, node));
const grew = (a: V2Stats, b: V2Stats) => ({
	out: b.outRedirect - a.outRedirect,
	in: b.inRedirect - a.inRedirect,
});

/** The node's link pins (TCX links of pod host veths and ENIs). */
const linkPins = (node: string): string[] => {
	const dir = `${simPinRoot(P, node)}/links`;
	return existsSync(dir) ? readdirSync(dir).sort() : [];
};

/** What a pod leaves in its node: cali links, rules and routes naming a pod IP, and link pins. */
const nodeState = (node: string, podIps: Set<string>) => ({
	...w.nodeState(node, podIps),
	linkPins: linkPins(node),
});

/** ENI primary IPs of a node, from terwayd's ENI rules (`512 from <ip> lookup <table>`, no `to`). */
function enisPrimaryIps(node: string): Set<string> {
	const rules = ipJson<IpRule[]>(w.nodeNs(node), ["-4", "rule", "show"]);
	const pods = new Set(rules.filter((r) => r.priority === 512 && r.dst).map((r) => r.dst!));
	// an ENI rule's source is also a pod's when that pod holds the primary IP (its `to` rule exists)
	return new Set(
		rules.filter((r) => r.priority === 512 && r.src && !r.dst && pods.has(r.src)).map((r) => r.src!),
	);
}

/** The ENI a pod's traffic leaves by: the device of the default route in its from-rule's table. */
function eniOf(p: PodView): string {
	const ns = w.nodeNs(p.node);
	const rule = ipJson<IpRule[]>(ns, ["-4", "rule", "show"]).find((r) => r.src === p.v4 && r.table)!;
	const route = ipJson<IpRoute[]>(ns, ["-4", "route", "show", "table", rule.table!]).find(
		(r) => r.dst === "default",
	)!;
	return route.dev!;
}

function iperf(server: PodView, client: PodView, addr: string, reverse: boolean): boolean {
	const srv = Bun.spawn(["ip", "netns", "exec", server.netns, "iperf3", "-s", "-1", "-p", "15301"], {
		stdout: "ignore",
		stderr: "ignore",
	});
	try {
		for (let i = 0; i < 50; i++) {
			if (sh(["ip", "netns", "exec", server.netns, "ss", "-Htln", "sport = :15301"]).out.trim()) break;
			Bun.sleepSync(50);
		}
		const r = sh(
			[
				"ip",
				"netns",
				"exec",
				client.netns,
				"iperf3",
				...(addr.includes(":") ? ["-6"] : []),
				"-c",
				addr,
				"-p",
				"15301",
				"-n",
				"1M",
				...(reverse ? ["-R"] : []),
				"--connect-timeout",
				"3000",
			],
			{ allowFail: true },
		);
		return r.code === 0;
	} finally {
		srv.kill();
	}
}

describe.skipIf(!canRun("e2e: datapathv2 in the netns sim"))(
	"e2e: datapathv2 (eniip_virtual_type IPVlan) in the netns sim, 2 nodes, dual stack",
	() => {
		let a: PodView;
		let b: PodView;
		let c: PodView;
		let e: PodView;
		let f: PodView;
		let dual = false;

		beforeAll(async () => {
			const file = scenario(join(tmp, "scenario.json"), {
				instanceType: "ecs.sim.big",
				eniConf: { eniip_virtual_type: "IPVlan", ip_stack: "dual", min_pool_size: 2, max_pool_size: 30 },
			});
			w.up("--nodes", "2", "--scenario", file);
			await Promise.all(["a", "b", "c", "e", "f"].map((n) => w.addPod(n, n === "b" ? N2 : N1)));
			[a, b, c, e, f] = (await Promise.all(["a", "b", "c", "e", "f"].map((n) => w.pod(n)))) as [
				PodView,
				PodView,
				PodView,
				PodView,
				PodView,
			];
			dual = a.v6 !== undefined && b.v6 !== undefined && c.v6 !== undefined;
			if (!dual) console.warn("SKIP e2e datapathv2 v6: the daemon gave no IPv6 address with ip_stack dual");
		}, 120_000);

		afterAll(() => {
			w.down();
			rmSync(tmp, { recursive: true, force: true });
		}, 60_000);

		test("terwayd pinned the programs; the pod's host veth runs the policy program then terway_v2_out, its ENI terway_v2_in", () => {
			for (const n of [N1, N2]) {
				expect(existsSync(`${simPinRoot(P, n)}/progs/terway_v2_out`)).toBe(true);
				expect(existsSync(`${simPinRoot(P, n)}/progs/terway_v2_in`)).toBe(true);
			}
			using node = Netns.open(w.nodeNs(N1));
			const host = hostVethName(w.sandboxId(a.uid), "eth0");
			const ingress = listAttached(node, host)
				.filter((x) => x.direction === "ingress")
				.map((x) => x.name);
			// the redirect runs last (after NetworkPolicy's terway_pol_from when policy is on)
			expect(ingress.at(-1)).toBe("terway_v2_out");
			expect(ingress.filter((x) => x !== "terway_pol_from")).toEqual(["terway_v2_out"]);
			const eni = eniOf(a);
			expect(
				listAttached(node, eni)
					.filter((x) => x.direction === "ingress")
					.map((x) => [x.name, x.mode]),
			).toEqual([["terway_v2_in", "tcx"]]);
		});

		test("terwayd's mapping names an ENI whose terway_v2_in went missing; attached again, no problem", async () => {
			type Row = { ip: string; pod?: string; problems: string[] };
			const problems = async () =>
				(await w.daemon<Row[]>(N1, "/v1/mapping"))
					.filter((r) => r.pod === "default/a")
					.flatMap((r) => r.problems);
			expect(await problems()).toEqual([]);
			using node = Netns.open(w.nodeNs(N1));
			const eni = eniOf(a);
			detach(
				{ ns: node, ifName: eni, direction: "ingress" },
				{ pinRoot: simPinRoot(P, N1), program: "terway_v2_in" },
			);
			try {
				expect((await problems()).join("; ")).toContain(
					`datapathv2: terway_v2_in is not attached to ${eni} ingress`,
				);
			} finally {
				attachV2ToEni(node, eni, simPinRoot(P, N1));
			}
			expect(await problems()).toEqual([]);
		});

		test("pods on two nodes ping each other (v4) through the redirects, not the nodes' forwarding", () => {
			// first packets settle the nodes' neighbour entries for the pods (the inbound program
			// redirects only to a resolved neighbour; until then the stack forwards)
			expect(pingFrom(a.netns, b.v4, 1)).toBe(true);
			expect(pingFrom(b.netns, a.v4, 1)).toBe(true);
			const s1 = stats(N1);
			const s2 = stats(N2);
			const f1 = forwarded(N1);
			const f2 = forwarded(N2);
			expect(pingFrom(a.netns, b.v4, 3)).toBe(true);
			expect(pingFrom(b.netns, a.v4, 3)).toBe(true);
			expect({ n1: forwarded(N1).v4 - f1.v4, n2: forwarded(N2).v4 - f2.v4 }).toEqual({ n1: 0, n2: 0 });
			const g1 = grew(s1, stats(N1));
			const g2 = grew(s2, stats(N2));
			expect(g1.out).toBeGreaterThanOrEqual(6n);
			expect(g1.in).toBeGreaterThanOrEqual(6n);
			expect(g2.out).toBeGreaterThanOrEqual(6n);
			expect(g2.in).toBeGreaterThanOrEqual(6n);
		});

		test("pods on two nodes ping each other (v6) through the redirects", () => {
			expect(dual).toBe(true);
			expect(pingFrom(a.netns, b.v6!, 1)).toBe(true);
			expect(pingFrom(b.netns, a.v6!, 1)).toBe(true);
			const s1 = stats(N1);
			const f1 = forwarded(N1);
			expect(pingFrom(a.netns, b.v6!, 3)).toBe(true);
			expect(pingFrom(b.netns, a.v6!, 3)).toBe(true);
			expect(forwarded(N1).v6 - f1.v6).toBe(0);
			const g1 = grew(s1, stats(N1));
			expect(g1.out).toBeGreaterThanOrEqual(6n);
			expect(g1.in).toBeGreaterThanOrEqual(6n);
		});

		test("two pods on one node reach each other (v4, v6); pods reach their own and the other node", () => {
			// every same-node pair in a ring, including a pod that holds its ENI's primary IP (terwayd's
			// ENI rule is `from <ENI primary> iif lo`, so it does not catch such a pod's packets)
			const primaries = enisPrimaryIps(N1);
			const ring = [a, c, e, f];
			console.info(
				`same-node ring; pods holding an ENI primary IP: ${
					ring
						.filter((p) => primaries.has(p.v4))
						.map((p) => p.name)
						.join(", ") || "none"
				}`,
			);
			const s0 = stats(N1);
			for (const [i, x] of ring.entries()) {
				const y = ring[(i + 1) % ring.length]!;
				expect({ from: x.name, to: y.name, v4: pingFrom(x.netns, y.v4) }).toEqual({
					from: x.name,
					to: y.name,
					v4: true,
				});
				if (dual)
					expect({ from: x.name, to: y.name, v6: pingFrom(x.netns, y.v6!) }).toEqual({
						from: x.name,
						to: y.name,
						v6: true,
					});
			}
			expect(grew(s0, stats(N1)).out).toBeGreaterThanOrEqual(4n);
			expect(pingFrom(a.netns, w.primaryIp(N1))).toBe(true);
			expect(pingFrom(a.netns, w.primaryIp(N2))).toBe(true);
		});

		test.skipIf(!hasIperf)(
			"TCP both ways across nodes (v4, v6) bypasses the nodes' forwarding",
			() => {
				expect(iperf(b, a, b.v4, false)).toBe(true); // warm-up: neighbours, first SYNs
				const s1 = stats(N1);
				const f1 = forwarded(N1);
				expect(iperf(b, a, b.v4, false)).toBe(true);
				expect(iperf(b, a, b.v4, true)).toBe(true);
				if (dual) {
					expect(iperf(a, b, a.v6!, false)).toBe(true);
					expect(iperf(a, b, a.v6!, true)).toBe(true);
				}
				const f = forwarded(N1);
				expect({ v4: f.v4 - f1.v4, v6: f.v6 - f1.v6 }).toEqual({ v4: 0, v6: 0 });
				const g = grew(s1, stats(N1));
				expect(g.out).toBeGreaterThan(100n);
				expect(g.in).toBeGreaterThan(100n);
			},
			60_000,
		);

		test("CHECK passes (datapathv2 plan incl. the redirect program); detached, it reports the drift", async () => {
			// every pod of the node, old and new: ENIs of one vSwitch share the v6 gateway, whose /128
			// lives in each ENI's own table, so CHECK of a pod on any ENI finds its routes
			for (const p of [a, c, e, f]) {
				const pid = w.sandboxId(p.uid);
				const r = w.plugin(N1, "CHECK", {
					id: pid,
					netns: `/run/netns/${p.netns}`,
					pod: p.name,
					prevResult: w.cachedResult(N1, pid),
				});
				expect({ pod: p.name, code: r.code, out: r.out }).toEqual({ pod: p.name, code: 0, out: "" });
			}
			await w.addPod("g", N1);
			const g = await w.pod("g");
			const id = w.sandboxId(g.uid);
			const prevResult = w.cachedResult(N1, id);
			const check = () => w.plugin(N1, "CHECK", { id, netns: `/run/netns/${g.netns}`, pod: "g", prevResult });
			const ok = check();
			expect({ code: ok.code, out: ok.out }).toEqual({ code: 0, out: "" });
			using node = Netns.open(w.nodeNs(N1));
			const host = hostVethName(id, "eth0");
			expect(
				detach(
					{ ns: node, ifName: host, direction: "ingress" },
					{ pinRoot: simPinRoot(P, N1), program: "terway_v2_out" },
				).changed,
			).toBe(true);
			expect(listAttached(node, host).map((x) => x.name)).not.toContain("terway_v2_out");
			const drift = check();
			expect(drift.code).not.toBe(0);
			expect(drift.out).toContain("bpf program terway_v2_out is not attached");
		}, 60_000);

		test("DEL leaves no link, rule, route or link pin behind; the remaining pods still talk", async () => {
			const before = nodeState(N1, new Set());
			await w.addPod("d", N1);
			const d = await w.pod("d");
			const ips = new Set(d.ips);
			expect(pingFrom(d.netns, b.v4)).toBe(true);
			const during = nodeState(N1, ips);
			expect(during.vethLinks.length).toBe(before.vethLinks.length + 1);
			expect(during.linkPins.length).toBeGreaterThan(before.linkPins.length);
			await w.deletePod("d");
			await w.podGone("d");
			const end = Date.now() + 20_000;
			while (Date.now() < end && JSON.stringify(nodeState(N1, ips)) !== JSON.stringify(before))
				await Bun.sleep(200);
			expect(nodeState(N1, ips)).toEqual(before);
			expect(pingFrom(a.netns, b.v4)).toBe(true);
			expect(pingFrom(c.netns, b.v4)).toBe(true);
		}, 90_000);
	},
);
