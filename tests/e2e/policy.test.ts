/**
 * NetworkPolicy end to end in `terwayctl sim up --nodes 2 --cni terway` (netns mode): each
 * node's terwayd runs the policy agent (its own pin root under /sys/fs/bpf/<prefix>-<node>), the
 * plugin attaches the pinned programs to every pod's host veth. Real ping and TCP (tcp-fixture.ts,
 * Bun sockets inside the pod namespaces) between pods on one node and across nodes, in the
 * namespaces default, prod (env=prod) and dev (env=dev):
 *
 *   node-1: db (prod, app=db; echo server on 8080, 9090, 53)   fe (default, role=frontend; 53)
 *   node-2: fe2 (default, role=frontend)   be (default, role=backend; echo server 8080, 53)
 *           dv (dev, app=dev)
 *
 * Dual stack (v4 and v6 identities and flows). Everything runs twice: with the veth datapath and with datapathv2 (eniip_virtual_type IPVlan:
 * the eBPF redirects run after the policy programs), which must give the same answers.
 * Policies take effect within a poll of up to 2 s (no timing assertions). Root only.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { PolicyResponse } from "../../src/daemon/api-types.ts";
import { canRun, prefixFor, sh } from "../helpers/env.ts";
import { type PodView, pingFrom, SimWorld, scenario } from "./world.ts";

const N1 = "node-1";
const N2 = "node-2";
const FIXTURE = join(import.meta.dir, "tcp-fixture.ts");

/** One TCP connection from `ns` to host:port with an echo back (the reply passes too). */
function tcp(ns: string, host: string, port: number): boolean {
	const r = sh(["ip", "netns", "exec", ns, process.execPath, FIXTURE, "connect", host, String(port), "800"], {
		allowFail: true,
	});
	return r.code === 0;
}

/** The pod's IPv6 address (the suite runs dual stack). */
function v6(p: PodView): string {
	if (!p.v6) throw new Error(`pod ${p.name} has no IPv6 address (ip_stack dual)`);
	return p.v6;
}

/** Poll `probe` for up to 2 s until it answers `want`; returns the last answer. */
async function settle(probe: () => boolean, want: boolean): Promise<boolean> {
	const end = Date.now() + 2_000;
	let v = probe();
	while (v !== want && Date.now() < end) {
		await Bun.sleep(100);
		v = probe();
	}
	return v;
}

/** Every flow in `flows` ends up as expected (polled); the table names the ones that do not. */
async function expectFlows(flows: [string, () => boolean, boolean][]): Promise<void> {
	const got: Record<string, boolean> = {};
	const want: Record<string, boolean> = {};
	for (const [name, probe, w] of flows) {
		want[name] = w;
		got[name] = await settle(probe, w);
	}
	expect(got).toEqual(want);
}

async function serve(servers: ReturnType<typeof Bun.spawn>[], pod: PodView, ports: number[]): Promise<void> {
	const p = Bun.spawn(
		["ip", "netns", "exec", pod.netns, process.execPath, FIXTURE, "serve", ...ports.map(String)],
		{ stdout: "pipe", stderr: "inherit" },
	);
	servers.push(p);
	const reader = p.stdout.getReader();
	const { value } = await reader.read();
	reader.releaseLock();
	if (!new TextDecoder().decode(value).includes("ready"))
		throw new Error(`server in ${pod.name} did not start`);
}

type NetPol = {
	metadata: { name: string; namespace: string };
	spec: Record<string, unknown>;
};

async function applyPolicy(w: SimWorld, p: NetPol): Promise<void> {
	const path = `/apis/networking.k8s.io/v1/namespaces/${p.metadata.namespace}/networkpolicies`;
	const body = { apiVersion: "networking.k8s.io/v1", kind: "NetworkPolicy", ...p };
	const got = await w.kube("GET", `${path}/${p.metadata.name}`);
	const r =
		got.status === 200
			? await w.kube("PUT", `${path}/${p.metadata.name}`, {
					...body,
					metadata: {
						...p.metadata,
						resourceVersion: (got.json as { metadata: { resourceVersion: string } }).metadata.resourceVersion,
					},
				})
			: await w.kube("POST", path, body);
	if (r.status >= 300)
		throw new Error(`apply policy ${p.metadata.name}: ${r.status} ${JSON.stringify(r.json)}`);
}

async function deletePolicy(w: SimWorld, namespace: string, name: string): Promise<void> {
	await w.kube("DELETE", `/apis/networking.k8s.io/v1/namespaces/${namespace}/networkpolicies/${name}`);
}

async function relabel(
	w: SimWorld,
	namespace: string,
	name: string,
	labels: Record<string, string | null>,
): Promise<void> {
	const r = await fetch(`${w.info.host.apiserver}/api/v1/namespaces/${namespace}/pods/${name}`, {
		method: "PATCH",
		headers: { "content-type": "application/merge-patch+json" },
		body: JSON.stringify({ metadata: { labels } }),
	});
	if (r.status >= 300) throw new Error(`relabel ${namespace}/${name}: ${r.status} ${await r.text()}`);
}

const denyAllIngress = (namespace: string): NetPol => ({
	metadata: { name: "deny-all", namespace },
	spec: { podSelector: {}, policyTypes: ["Ingress"] },
});

const allowFrontend = (port: number): NetPol => ({
	metadata: { name: "allow-frontend", namespace: "prod" },
	spec: {
		podSelector: { matchLabels: { app: "db" } },
		ingress: [
			{
				from: [
					{
						namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "default" } },
						podSelector: { matchLabels: { role: "frontend" } },
					},
				],
				ports: [{ protocol: "TCP", port }],
			},
		],
	},
});

/**
 * The suite for one datapath: `veth` (policy routing) and `datapathv2` (the eBPF redirects run
 * after the policy programs) must give the same answers.
 */
function suite(datapath: "veth" | "datapathv2", tag: string): void {
	const P = prefixFor(tag);
	const tmp = mkdtempSync(join(tmpdir(), `${P}-`));
	const w = new SimWorld(P);
	const servers: ReturnType<typeof Bun.spawn>[] = [];

	describe.skipIf(!canRun(`e2e: NetworkPolicy in the netns sim (${datapath})`))(
		`e2e: NetworkPolicy, ${datapath} datapath (2 nodes; default, prod, dev)`,
		() => {
			let db: PodView;
			let fe: PodView;
			let fe2: PodView;
			let be: PodView;
			let dv: PodView;

			beforeAll(async () => {
				const f = scenario(join(tmp, "scenario.json"), {
					instanceType: "ecs.sim.big",
					eniConf: {
						ip_stack: "dual",
						min_pool_size: 2,
						max_pool_size: 30,
						...(datapath === "datapathv2" ? { eniip_virtual_type: "IPVlan" } : {}),
					},
				});
				w.up("--nodes", "2", "--scenario", f);
				await w.addNamespace("prod", { env: "prod" });
				await w.addNamespace("dev", { env: "dev" });
				await Promise.all([
					w.addPodIn("prod", "db", N1, { app: "db" }),
					w.addPodIn("default", "fe", N1, { role: "frontend" }),
					w.addPodIn("default", "fe2", N2, { role: "frontend" }),
					w.addPodIn("default", "be", N2, { role: "backend" }),
					w.addPodIn("dev", "dv", N2, { app: "dev" }),
				]);
				db = await w.podIn("prod", "db");
				fe = await w.podIn("default", "fe");
				fe2 = await w.podIn("default", "fe2");
				be = await w.podIn("default", "be");
				dv = await w.podIn("dev", "dv");
				await serve(servers, db, [8080, 9090, 53]);
				await serve(servers, be, [8080, 53]);
				await serve(servers, fe, [53]);
			}, 180_000);

			afterAll(() => {
				for (const s of servers) s.kill();
				w.down();
				rmSync(tmp, { recursive: true, force: true });
				// sim down removed exactly the nodes' pin roots (bpffs is machine-wide)
				expect([N1, N2].filter((n) => existsSync(`/sys/fs/bpf/${P}-${n}`))).toEqual([]);
			}, 60_000);

			test("policy is on: both terwayds report it, the programs run on the pods' host veths", async () => {
				for (const n of [N1, N2]) {
					const p = await w.daemon<PolicyResponse>(n, "/v1/policy");
					expect({ node: n, enabled: p.enabled, pinRoot: p.pinRoot }).toEqual({
						node: n,
						enabled: true,
						pinRoot: `/sys/fs/bpf/${P}-${n}`,
					});
				}
				const list = sh(["ls", `/sys/fs/bpf/${P}-${N1}/progs`])
					.out.split("\n")
					.filter(Boolean)
					.sort();
				expect(list).toContain("terway_pol_from");
				expect(list).toContain("terway_pol_to");
				// one pinned link per program and direction for each pod of node-1 (db, fe)
				const links = sh(["ls", `/sys/fs/bpf/${P}-${N1}/links`])
					.out.split("\n")
					.filter(Boolean);
				expect(links.filter((l) => l.includes("terway_pol")).length).toBeGreaterThanOrEqual(4);
				// datapathv2: its redirect runs after the policy programs on the same hook
				if (datapath === "datapathv2")
					expect(links.filter((l) => l.includes("terway_v2_out")).length).toBeGreaterThanOrEqual(2);
			});

			test("dual stack: every pod has a v4 and a v6 address", () => {
				expect([db, fe, fe2, be, dv].filter((p) => !p.v6).map((p) => p.name)).toEqual([]);
			});

			test("no policy: everything flows, same node and across nodes", async () => {
				await expectFlows([
					["fe -> db:8080 (same node)", () => tcp(fe.netns, db.v4, 8080), true],
					["fe2 -> db:8080 (across)", () => tcp(fe2.netns, db.v4, 8080), true],
					["be -> db:9090", () => tcp(be.netns, db.v4, 9090), true],
					["dv -> db:8080", () => tcp(dv.netns, db.v4, 8080), true],
					["ping fe -> db", () => pingFrom(fe.netns, db.v4, 1), true],
					["ping fe2 -> db", () => pingFrom(fe2.netns, db.v4, 1), true],
					["db -> be:8080", () => tcp(db.netns, be.v4, 8080), true],
					["fe2 -> db:8080 over IPv6 (across)", () => tcp(fe2.netns, v6(db), 8080), true],
					["ping fe -> db over IPv6", () => pingFrom(fe.netns, v6(db), 1), true],
				]);
			});

			test("default-deny ingress in prod: nothing reaches db; db's own outbound flows and their replies pass", async () => {
				await applyPolicy(w, denyAllIngress("prod"));
				await expectFlows([
					["fe -> db:8080", () => tcp(fe.netns, db.v4, 8080), false],
					["fe2 -> db:8080", () => tcp(fe2.netns, db.v4, 8080), false],
					["ping fe -> db", () => pingFrom(fe.netns, db.v4, 1), false],
					["db -> be:8080 (reply passes)", () => tcp(db.netns, be.v4, 8080), true],
					["ping db -> fe2 (reply passes)", () => pingFrom(db.netns, fe2.v4, 1), true],
					["fe2 -> be:8080 (default ns untouched)", () => tcp(fe2.netns, be.v4, 8080), true],
					["fe2 -> db:8080 over IPv6", () => tcp(fe2.netns, v6(db), 8080), false],
					["ping fe -> db over IPv6", () => pingFrom(fe.netns, v6(db), 1), false],
				]);
			});

			test("allow role=frontend from default on TCP 8080: that flow (both nodes) passes with its reply, others are dropped", async () => {
				await applyPolicy(w, allowFrontend(8080));
				await expectFlows([
					["fe -> db:8080 (same node)", () => tcp(fe.netns, db.v4, 8080), true],
					["fe2 -> db:8080 (across)", () => tcp(fe2.netns, db.v4, 8080), true],
					["fe -> db:9090 (other port)", () => tcp(fe.netns, db.v4, 9090), false],
					["be -> db:8080 (not frontend)", () => tcp(be.netns, db.v4, 8080), false],
					["dv -> db:8080 (other namespace)", () => tcp(dv.netns, db.v4, 8080), false],
					["ping fe -> db (ICMP not allowed)", () => pingFrom(fe.netns, db.v4, 1), false],
					["fe -> db:8080 over IPv6 (same node)", () => tcp(fe.netns, v6(db), 8080), true],
					["fe2 -> db:8080 over IPv6 (across)", () => tcp(fe2.netns, v6(db), 8080), true],
					["be -> db:8080 over IPv6", () => tcp(be.netns, v6(db), 8080), false],
				]);
			});

			test("namespaceSelector: every pod of namespaces labelled env=dev may reach db", async () => {
				await applyPolicy(w, {
					metadata: { name: "allow-dev", namespace: "prod" },
					spec: {
						podSelector: { matchLabels: { app: "db" } },
						ingress: [{ from: [{ namespaceSelector: { matchLabels: { env: "dev" } } }] }],
					},
				});
				try {
					await expectFlows([
						["dv -> db:9090", () => tcp(dv.netns, db.v4, 9090), true],
						["ping dv -> db", () => pingFrom(dv.netns, db.v4, 1), true],
						["be -> db:9090 (default ns)", () => tcp(be.netns, db.v4, 9090), false],
					]);
				} finally {
					await deletePolicy(w, "prod", "allow-dev");
				}
				await expectFlows([
					["dv -> db:9090 after the policy is deleted", () => tcp(dv.netns, db.v4, 9090), false],
				]);
			});

			test("ipBlock with except: node-2's address is allowed as a CIDR peer, then excepted; pods are never ipBlock peers", async () => {
				const n2 = w.nodeNs(N2);
				const n2ip = w.primaryIp(N2);
				await applyPolicy(w, {
					metadata: { name: "allow-node2", namespace: "prod" },
					spec: {
						podSelector: { matchLabels: { app: "db" } },
						ingress: [{ from: [{ ipBlock: { cidr: `${n2ip}/32` } }], ports: [{ port: 9090 }] }],
					},
				});
				try {
					await expectFlows([
						["node-2 host -> db:9090", () => tcp(n2, db.v4, 9090), true],
						["node-2 host -> db:8080 (port)", () => tcp(n2, db.v4, 8080), false],
						["be (on node-2) -> db:9090", () => tcp(be.netns, db.v4, 9090), false],
					]);
					const net = w.primaryIp(N1).split(".").slice(0, 3).join(".");
					await applyPolicy(w, {
						metadata: { name: "allow-node2", namespace: "prod" },
						spec: {
							podSelector: { matchLabels: { app: "db" } },
							ingress: [
								{
									from: [{ ipBlock: { cidr: `${net}.0/24`, except: [`${n2ip}/32`] } }],
									ports: [{ port: 9090 }],
								},
							],
						},
					});
					await expectFlows([["node-2 host -> db:9090 (excepted)", () => tcp(n2, db.v4, 9090), false]]);
				} finally {
					await deletePolicy(w, "prod", "allow-node2");
				}
			});

			test("egress default-deny with a DNS exception: only port 53 leaves dv", async () => {
				await expectFlows([["dv -> be:8080 before", () => tcp(dv.netns, be.v4, 8080), true]]);
				await applyPolicy(w, {
					metadata: { name: "egress-dns-only", namespace: "dev" },
					spec: {
						podSelector: { matchLabels: { app: "dev" } },
						policyTypes: ["Egress"],
						egress: [
							{
								ports: [
									{ protocol: "UDP", port: 53 },
									{ protocol: "TCP", port: 53 },
								],
							},
						],
					},
				});
				try {
					await expectFlows([
						["dv -> be:53 (same node)", () => tcp(dv.netns, be.v4, 53), true],
						["dv -> fe:53 (across)", () => tcp(dv.netns, fe.v4, 53), true],
						["dv -> be:8080", () => tcp(dv.netns, be.v4, 8080), false],
						["ping dv -> be", () => pingFrom(dv.netns, be.v4, 1), false],
						["be -> dv ping (dv's ingress is open)", () => pingFrom(be.netns, dv.v4, 1), true],
					]);
				} finally {
					await deletePolicy(w, "dev", "egress-dns-only");
				}
				await expectFlows([["dv -> be:8080 after", () => tcp(dv.netns, be.v4, 8080), true]]);
			});

			test("a policy update and pod relabels take effect", async () => {
				try {
					await applyPolicy(w, allowFrontend(9090));
					await expectFlows([
						["fe -> db:9090 (new port)", () => tcp(fe.netns, db.v4, 9090), true],
						["fe -> db:8080 (old port)", () => tcp(fe.netns, db.v4, 8080), false],
					]);
					await relabel(w, "default", "be", { role: "frontend" });
					await relabel(w, "default", "fe", { role: "other" });
					await expectFlows([
						["be (now frontend) -> db:9090", () => tcp(be.netns, db.v4, 9090), true],
						["fe (no longer frontend) -> db:9090", () => tcp(fe.netns, db.v4, 9090), false],
					]);
				} finally {
					await relabel(w, "default", "be", { role: "backend" });
					await relabel(w, "default", "fe", { role: "frontend" });
					await applyPolicy(w, allowFrontend(8080));
				}
				await expectFlows([
					["fe -> db:8080", () => tcp(fe.netns, db.v4, 8080), true],
					["be -> db:8080", () => tcp(be.netns, db.v4, 8080), false],
				]);
			});

			test("terwayd killed and restarted on db's node: an established allowed flow keeps flowing, enforcement stays", async () => {
				const stream = Bun.spawn(
					["ip", "netns", "exec", fe2.netns, process.execPath, FIXTURE, "stream", db.v4, "8080"],
					{ stdout: "pipe", stderr: "inherit" },
				);
				const lines: string[] = [];
				const reading = (async () => {
					const dec = new TextDecoder();
					let rest = "";
					for await (const chunk of stream.stdout) {
						rest += dec.decode(chunk);
						const parts = rest.split("\n");
						rest = parts.pop() ?? "";
						lines.push(...parts);
					}
				})();
				const oks = () => lines.filter((l) => l.startsWith("ok")).length;
				const waitOks = async (n: number) => {
					const end = Date.now() + 10_000;
					while (oks() < n && !lines.some((l) => l.startsWith("fail")) && Date.now() < end)
						await Bun.sleep(50);
				};
				try {
					await waitOks(5);
					expect(oks()).toBeGreaterThanOrEqual(5);
					await w.killTerwayd(N1);
					// with terwayd gone the pinned maps and links still enforce
					const during = oks();
					await waitOks(during + 5);
					expect(tcp(be.netns, db.v4, 8080)).toBe(false);
					expect(tcp(fe.netns, db.v4, 8080)).toBe(true);
					await w.restartTerwayd(N1);
					// the restarted agent found the pinned maps as it left them (it writes a diff, not a rewrite)
					const opened = readFileSync(`${w.nodeDir(N1)}/terwayd.log`, "utf8")
						.split("\n")
						.filter((l) => l.includes('"policy maps opened"'))
						.map((l) => JSON.parse(l) as { ips: number; policy: number });
					expect(opened).toHaveLength(2);
					expect(opened[1]!.ips).toBeGreaterThan(0);
					expect(opened[1]!.policy).toBeGreaterThan(0);
					const after = oks();
					await waitOks(after + 10);
					expect(lines.filter((l) => l.startsWith("fail"))).toEqual([]);
					expect(oks()).toBeGreaterThanOrEqual(after + 10);
					await expectFlows([
						["be -> db:8080 after the restart", () => tcp(be.netns, db.v4, 8080), false],
						["fe2 -> db:8080 (new connection)", () => tcp(fe2.netns, db.v4, 8080), true],
					]);
					// and the restarted agent follows changes
					await applyPolicy(w, allowFrontend(9090));
					await expectFlows([["fe2 -> db:9090 after an update", () => tcp(fe2.netns, db.v4, 9090), true]]);
					await applyPolicy(w, allowFrontend(8080));
				} finally {
					stream.kill();
					await reading.catch(() => {});
				}
				const p = await w.daemon<PolicyResponse>(N1, "/v1/policy");
				expect(p.enabled).toBe(true);
			}, 120_000);

			test("a pod's policy attachments go with it: deleting the pod leaves no link pin behind", async () => {
				const pins = () =>
					sh(["ls", `/sys/fs/bpf/${P}-${N2}/links`])
						.out.split("\n")
						.filter((l) => l.includes("terway_pol"));
				const before = pins();
				await w.addPodIn("default", "tmp", N2, { role: "tmp" });
				const tmpPod = await w.podIn("default", "tmp");
				expect(pins().length).toBe(before.length + 2);
				expect(pingFrom(tmpPod.netns, be.v4, 1)).toBe(true);
				await w.kube("DELETE", "/api/v1/namespaces/default/pods/tmp");
				const end = Date.now() + 30_000;
				while (
					(await w.kube("GET", "/api/v1/namespaces/default/pods/tmp")).status !== 404 &&
					Date.now() < end
				)
					await Bun.sleep(100);
				const end2 = Date.now() + 2_000;
				while (pins().length !== before.length && Date.now() < end2) await Bun.sleep(100);
				expect(pins().sort()).toEqual([...before].sort());
			}, 60_000);

			test("GET /v1/policy and the NetworkPolicies' events show each policy's status; a bad policy is PolicyError", async () => {
				await applyPolicy(w, {
					metadata: { name: "bad-cidr", namespace: "prod" },
					spec: {
						podSelector: { matchLabels: { app: "db" } },
						ingress: [{ from: [{ ipBlock: { cidr: "10.0.0.0/33" } }] }],
					},
				});
				let p: PolicyResponse | undefined;
				const end = Date.now() + 2_000;
				for (;;) {
					p = await w.daemon<PolicyResponse>(N1, "/v1/policy");
					if (p.policies.some((x) => x.policy === "prod/bad-cidr") || Date.now() > end) break;
					await Bun.sleep(100);
				}
				const byName = Object.fromEntries(
					p!.policies.filter((x) => x.policy.startsWith("prod/")).map((x) => [x.policy, x.ok]),
				);
				expect(byName).toEqual({
					"prod/deny-all": true,
					"prod/allow-frontend": true,
					"prod/bad-cidr": false,
				});
				expect(p!.identities).toBeGreaterThan(0);
				expect(p!.entries.ips).toBeGreaterThan(0);
				expect(p!.entries.policy).toBeGreaterThan(0);
				// events (both nodes report; poll for the error one)
				type Ev = {
					reason: string;
					type: string;
					message: string;
					involvedObject: { kind: string; name: string };
				};
				let evs: Ev[] = [];
				const end2 = Date.now() + 2_000;
				for (;;) {
					const r = await w.kube("GET", "/api/v1/namespaces/prod/events");
					evs = ((r.json as { items?: Ev[] })?.items ?? []).filter(
						(e) => e.involvedObject.kind === "NetworkPolicy",
					);
					if (evs.some((e) => e.reason === "PolicyError") || Date.now() > end2) break;
					await Bun.sleep(100);
				}
				const seen = new Set(evs.map((e) => `${e.involvedObject.name} ${e.type} ${e.reason}`));
				expect([...seen].sort()).toEqual(
					expect.arrayContaining([
						"allow-frontend Normal PolicyApplied",
						"bad-cidr Warning PolicyError",
						"deny-all Normal PolicyApplied",
					]),
				);
				expect(evs.find((e) => e.reason === "PolicyError")!.message).toContain("10.0.0.0/33");
				await deletePolicy(w, "prod", "bad-cidr");
			});
		},
	);
}

suite("veth", "ep");
suite("datapathv2", "eq");
