/**
 * End to end against `terwayctl sim up --nodes 2 --cni terway` (netns mode, dual stack): the
 * kubelet stand-in runs our plugin from 10-terway.conflist, a terwayd per node serves it. Real
 * packets through the sim's VPC, which routes exactly the IPs each ENI holds. Root only.
 *
 * Cross-checks with ip/ping/iperf3 (tests may spawn them; src/ never does).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { portName } from "../../src/sim/netns/vpc.ts";
import { canRun, ipJson, prefixFor, sh } from "../helpers/env.ts";
import { hasIperf3, type IpRule, type PodView, pingFrom, SimWorld, scenario } from "./world.ts";

const P = prefixFor("e2");
const tmp = mkdtempSync(join(tmpdir(), `${P}-`));
const w = new SimWorld(P);
const N1 = "node-1";
const N2 = "node-2";

type IpLink = { ifname: string; address?: string; stats64?: { rx: { packets: number } } };
type MappingRow = { pod?: string; ip: string; state: string; problems: string[] };

const hasIperf = hasIperf3();

function rxPackets(ns: string, link: string): number {
	return ipJson<IpLink[]>(ns, ["-s", "link", "show", link])[0]?.stats64?.rx.packets ?? 0;
}

async function allocated(node: string): Promise<MappingRow[]> {
	const rows = await w.daemon<MappingRow[]>(node, "/v1/mapping");
	return rows.filter((r) => r.state !== "idle");
}

describe.skipIf(!canRun("e2e: terway in the netns sim"))(
	"e2e: terway in the netns sim (2 nodes, dual stack)",
	() => {
		let a: PodView;
		let b: PodView;
		let dual = false;

		beforeAll(async () => {
			const f = scenario(join(tmp, "scenario.json"), {
				instanceType: "ecs.sim.big",
				eniConf: { ip_stack: "dual", min_pool_size: 2, max_pool_size: 30 },
			});
			w.up("--nodes", "2", "--scenario", f);
			await Promise.all([w.addPod("a", N1), w.addPod("b", N2)]);
			a = await w.pod("a");
			b = await w.pod("b");
			dual = a.v6 !== undefined && b.v6 !== undefined;
			if (!dual) console.warn("SKIP e2e v6 pings: the daemon gave no IPv6 address with ip_stack dual");
		}, 120_000);

		afterAll(() => {
			w.down();
			rmSync(tmp, { recursive: true, force: true });
		}, 60_000);

		test("the kubelet stand-in ran our plugin from 10-terway.conflist: pod eth0 has the pod IPs", () => {
			const list = w.conflist(N1);
			expect(list.name).toBe("terway");
			expect(list.plugins[0]).toMatchObject({ type: "terway", capabilities: { bandwidth: true } });
			const addrs = ipJson<{ ifname: string; addr_info: { local: string; scope: string }[] }[]>(a.netns, [
				"addr",
				"show",
				"eth0",
			])[0]!.addr_info.filter((x) => x.scope === "global");
			expect(addrs.map((x) => x.local).sort()).toEqual([...a.ips].sort());
		});

		test("node forwarding is on once pods run (node-wide setup, terway-features: the plugin/daemon ensures it)", () => {
			for (const n of [N1, N2]) {
				const ns = w.nodeNs(n);
				expect({
					node: n,
					v4: sh(["ip", "netns", "exec", ns, "sysctl", "-n", "net.ipv4.ip_forward"]).out.trim(),
				}).toEqual({
					node: n,
					v4: "1",
				});
			}
		});

		test("pods on two nodes ping each other (v4)", () => {
			expect(pingFrom(a.netns, b.v4)).toBe(true);
			expect(pingFrom(b.netns, a.v4)).toBe(true);
		});

		test("pods on two nodes ping each other (v6, ip_stack dual)", () => {
			expect(a.v6).toBeDefined();
			expect(pingFrom(a.netns, b.v6!)).toBe(true);
			expect(pingFrom(b.netns, a.v6!)).toBe(true);
		});

		test("pod to the other node and to its own node", () => {
			expect(pingFrom(a.netns, w.primaryIp(N2))).toBe(true);
			expect(pingFrom(a.netns, w.primaryIp(N1))).toBe(true);
			expect(pingFrom(b.netns, w.primaryIp(N2))).toBe(true);
		});

		test("traffic leaves by the owning ENI: without the pod's from-rule the VPC drops it, and CHECK reports drift", () => {
			const ns = w.nodeNs(N1);
			// every `from <pod IP>` rule (the plugin's policy rule, and any other steering the source)
			const rules = ipJson<IpRule[]>(ns, ["-4", "rule", "show"]).filter((r) => r.src === a.v4);
			expect(rules.length).toBeGreaterThan(0);
			const ruleArgs = (r: IpRule) => ["priority", String(r.priority), "from", a.v4, "table", r.table!];
			const id = w.sandboxId(a.uid);
			const prevResult = w.cachedResult(N1, id);
			const check = () => w.plugin(N1, "CHECK", { id, netns: `/run/netns/${a.netns}`, pod: "a", prevResult });
			expect(check().code).toBe(0);
			// the primary ENI's VPC port: where the pod's packets go without the rule
			const eth0 = ipJson<IpLink[]>(ns, ["link", "show", "eth0"])[0]!;
			const port = portName(eth0.address!);
			const rx = rxPackets(`${P}-vpc`, port);
			for (const r of rules) sh(["ip", "-n", ns, "rule", "del", ...ruleArgs(r)]);
			try {
				expect(pingFrom(a.netns, b.v4, 3)).toBe(false);
				// they did reach the VPC on the node's primary ENI and were dropped there
				expect(rxPackets(`${P}-vpc`, port)).toBeGreaterThanOrEqual(rx + 3);
				const c = check();
				expect(c.code).not.toBe(0);
				expect(c.out).toContain(a.v4);
			} finally {
				for (const r of rules) sh(["ip", "-n", ns, "rule", "add", ...ruleArgs(r)]);
			}
			expect(pingFrom(a.netns, b.v4)).toBe(true);
			expect(check().code).toBe(0);
		});

		test("ADD-ADD-DEL-DEL and DEL-before-ADD are harmless", async () => {
			const seen = new Set<string>();
			const before = w.nodeState(N1, seen);
			const allocBefore = (await allocated(N1)).length;
			const made: string[] = [];
			try {
				for (const [i, order] of [
					["1", ["ADD", "ADD", "CHECK", "DEL", "DEL"]],
					["2", ["DEL", "ADD", "CHECK", "DEL"]],
				] as const) {
					const nsName = `${P}-x${i}`;
					sh(["ip", "netns", "add", nsName]);
					made.push(nsName);
					const id = `${P}x${i}`;
					let prevResult: unknown;
					for (const [k, cmd] of order.entries()) {
						const r = w.plugin(N1, cmd, { id, netns: `/run/netns/${nsName}`, pod: `x${i}`, prevResult });
						// a repeated ADD may answer with the same attachment or refuse (spec: the interface
						// exists); either way the CHECK after it must find the first one intact
						const repeatedAdd = cmd === "ADD" && order.slice(0, k).includes("ADD");
						if (repeatedAdd) continue;
						expect({ step: `${k} ${cmd}`, code: r.code, out: r.code ? r.out : "" }).toEqual({
							step: `${k} ${cmd}`,
							code: 0,
							out: "",
						});
						if (cmd === "ADD") {
							prevResult = JSON.parse(r.out);
							for (const ip of (prevResult as { ips: { address: string }[] }).ips)
								seen.add(ip.address.split("/")[0]!);
						}
					}
					expect(seen.size).toBeGreaterThan(0);
					expect(w.nodeState(N1, seen)).toEqual(before);
					expect((await allocated(N1)).length).toBe(allocBefore);
				}
			} finally {
				for (const n of made) sh(["ip", "netns", "del", n], { allowFail: true });
			}
		}, 60_000);

		test.skipIf(!hasIperf)(
			"bandwidth: kubernetes.io/egress-bandwidth 20M measured with iperf3 within 15%",
			async () => {
				await w.addPod("bw", N1, { "kubernetes.io/egress-bandwidth": "20M" });
				const p = await w.pod("bw");
				const server = Bun.spawn(["ip", "netns", "exec", b.netns, "iperf3", "-s", "-1", "-B", b.v4], {
					stdout: "ignore",
					stderr: "ignore",
				});
				try {
					await Bun.sleep(300);
					const r = sh([
						"ip",
						"netns",
						"exec",
						p.netns,
						"iperf3",
						"-c",
						b.v4,
						"--connect-timeout",
						"3000",
						"-t",
						"4",
						"-O",
						"1",
						"-J",
					]);
					const bps = (JSON.parse(r.out) as { end: { sum_received: { bits_per_second: number } } }).end
						.sum_received.bits_per_second;
					expect(Math.abs(bps - 20e6) / 20e6).toBeLessThan(0.15);
				} finally {
					server.kill();
					await w.deletePod("bw");
					await w.podGone("bw");
				}
			},
			60_000,
		);

		test("50 pods created and deleted leave no link, rule, route or allocation behind", async () => {
			const none = new Set<string>();
			const before = { n1: w.nodeState(N1, none), n2: w.nodeState(N2, none) };
			const names = Array.from({ length: 50 }, (_, i) => `m${i}`);
			await Promise.all(names.map((n, i) => w.addPod(n, i % 2 ? N2 : N1)));
			const pods = await Promise.all(names.map((n) => w.pod(n, 90_000)));
			const podIps = new Set(pods.flatMap((p) => p.ips));
			expect(new Set(pods.map((p) => p.v4)).size).toBe(50);
			const during = w.nodeState(N1, podIps);
			const routed = pods.filter(
				(p) => p.node === N1 && during.podRoutes.some((r) => r.startsWith(`${p.v4} dev cali`)),
			);
			expect(routed.length).toBe(25);
			expect(during.podRules.length).toBeGreaterThanOrEqual(25);
			await Promise.all(names.map((n) => w.deletePod(n)));
			await Promise.all(names.map((n) => w.podGone(n, 90_000)));
			// the kubelet's DEL is done when the pod object is gone; its netns goes right after
			const end = Date.now() + 20_000;
			const after = () => ({ n1: w.nodeState(N1, podIps), n2: w.nodeState(N2, podIps) });
			while (Date.now() < end && JSON.stringify(after()) !== JSON.stringify(before)) await Bun.sleep(200);
			expect(after()).toEqual(before);
			const left = [...(await allocated(N1)), ...(await allocated(N2))].map((r) => r.pod);
			// only the two long-lived pods (a on node-1, b on node-2) still hold addresses
			expect([...new Set(left)].sort()).toEqual(["default/a", "default/b"]);
			expect(left.some((p) => /m\d+$/.test(p ?? ""))).toBe(false);
			const problems = [
				...(await w.daemon<MappingRow[]>(N1, "/v1/mapping")),
				...(await w.daemon<MappingRow[]>(N2, "/v1/mapping")),
			].flatMap((r) => r.problems);
			expect(problems).toEqual([]);
		}, 240_000);
	},
);
