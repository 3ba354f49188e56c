/**
 * The policy agent (src/daemon/policy-agent.ts) against the sim's kube-apiserver in process
 * (HTTPS, the daemon's own KubeClient and event recorder) and the real policy maps loaded and
 * pinned under /sys/fs/bpf/<prefix>:
 * - `disable_network_policy` in the eni-config ConfigMap: absent/"false" on, "true" off, any
 *   other value a config error naming key and value;
 * - the first write is what pods, namespaces and policies say; a NetworkPolicy event reaches the
 *   maps (polled), with a PolicyApplied event on the NetworkPolicy, a bad one PolicyError;
 * - a local pod the daemon just allocated is in the maps when podAllocated resolves;
 * - a restart (new object over the same pins, ids from the state dir) writes nothing when nothing
 *   changed: the maps it finds are the maps it wants.
 * Maps are the real ones; `apply` is wrapped only to count the writes.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { MapDiff, MapState } from "../../src/core/policy/index.ts";
import { ClusterConfigError, networkPolicyEnabled } from "../../src/daemon/kube.ts";
import { silentLogger } from "../../src/daemon/log.ts";
import {
	clearPinnedPolicy,
	openPolicyAgent,
	PolicyAgent,
	type PolicyMapsPort,
	PolicyOff,
} from "../../src/daemon/policy-agent.ts";
import { openHandles } from "../../src/ffi/handles.ts";
import { KubeClient, loadKubeconfigFile } from "../../src/k8s/client.ts";
import { NodeAgent } from "../../src/k8s/node-agent.ts";
import { PolicyProgram } from "../../src/linux/bpf/policy.ts";
import type { KubeObject } from "../../src/sim/contracts.ts";
import { FaultEngine } from "../../src/sim/faults.ts";
import { KubeApiServer, type TlsListener } from "../../src/sim/kube/index.ts";
import { RequestLog } from "../../src/sim/request-log.ts";
import { canRun, prefixFor } from "../helpers/env.ts";

const P = prefixFor("pa");
const PIN_ROOT = `/sys/fs/bpf/${P}`;
const NODE = "node-1";
const NODE_IP = "10.9.0.1";
const cmRef = { apiVersion: "v1", resource: "configmaps", namespace: "kube-system", name: "eni-config" };
const podsRef = (namespace: string) => ({ apiVersion: "v1", resource: "pods", namespace });
const polRef = (namespace: string) => ({
	apiVersion: "networking.k8s.io/v1",
	resource: "networkpolicies",
	namespace,
});

let dir: string;
let kube: KubeApiServer;
let tls: TlsListener;
let client: KubeClient;
let agent: NodeAgent;

/** The real maps, with their writes counted. */
class CountingMaps implements PolicyMapsPort {
	writes: MapDiff[] = [];
	constructor(readonly prog: PolicyProgram) {}
	apply(d: MapDiff): unknown {
		this.writes.push(d);
		return this.prog.maps.apply(d);
	}
	readState(): MapState {
		return this.prog.maps.readState();
	}
}

function start(): { agent: PolicyAgent; maps: CountingMaps } {
	const prog = PolicyProgram.load({ pinRoot: PIN_ROOT });
	const maps = new CountingMaps(prog);
	const a = new PolicyAgent({
		kube: client,
		events: agent.events,
		nodeName: NODE,
		nodeIps: () => [NODE_IP],
		pinRoot: PIN_ROOT,
		maps,
		log: silentLogger,
		idsFile: join(dir, "policy-ids.json"),
		close: () => prog.close(),
	});
	return { agent: a, maps };
}

function pod(namespace: string, name: string, labels: Record<string, string>, ip?: string): KubeObject {
	const o = kube.store.create(podsRef(namespace), {
		apiVersion: "v1",
		kind: "Pod",
		metadata: { name, namespace, labels },
		spec: { nodeName: NODE, containers: [{ name: "c", image: "busybox" }] },
	});
	if (!ip) return o;
	// as the kubelet reports it: through the status subresource
	return kube.store.patch(
		{ ...podsRef(namespace), name },
		"merge",
		{ status: { phase: "Running", podIP: ip, podIPs: [{ ip }] } },
		{ subresource: "status" },
	);
}

async function until<T>(what: string, f: () => T | undefined | false, ms = 2_000): Promise<T> {
	const end = Date.now() + ms;
	for (;;) {
		const v = f();
		if (v) return v;
		if (Date.now() > end) throw new Error(`not within ${ms} ms: ${what}`);
		await Bun.sleep(20);
	}
}

type Ev = { reason: string; type: string; message: string; involvedObject: { kind: string; name: string } };
const policyEvents = (namespace: string): Ev[] =>
	(kube.store.list({ apiVersion: "v1", resource: "events", namespace }).items as unknown as Ev[]).filter(
		(e) => e.involvedObject.kind === "NetworkPolicy",
	);

describe.skipIf(!canRun("tests/daemon/policy-agent.test.ts"))(
	"policy agent (sim apiserver, pinned maps)",
	() => {
		let a: PolicyAgent | undefined;
		let maps: CountingMaps;

		beforeAll(async () => {
			rmSync(PIN_ROOT, { recursive: true, force: true });
			dir = mkdtempSync(join(tmpdir(), `${P}-`));
			kube = new KubeApiServer({
				faults: new FaultEngine(3),
				log: new RequestLog(),
				objects: [
					{ apiVersion: "v1", kind: "Node", metadata: { name: NODE } },
					{ apiVersion: "v1", kind: "Namespace", metadata: { name: "prod", labels: { env: "prod" } } },
					{
						apiVersion: "v1",
						kind: "ConfigMap",
						metadata: { name: "eni-config", namespace: "kube-system" },
						data: { eni_conf: "{}" },
					},
				],
			});
			tls = kube.listenTls();
			client = new KubeClient(loadKubeconfigFile(kube.writeKubeconfig(join(dir, "kubeconfig"), tls)));
			agent = new NodeAgent(client, { nodeName: NODE });
		}, 30_000);

		afterAll(async () => {
			await a?.stop();
			client?.close();
			await kube?.close();
			rmSync(dir, { recursive: true, force: true });
			rmSync(PIN_ROOT, { recursive: true, force: true });
			expect(openHandles()).toEqual([]);
		});

		test('disable_network_policy: absent and "false" = on, "true" = off, anything else names key and value', async () => {
			expect(await networkPolicyEnabled(agent, "kube-system")).toBe(true);
			const set = (v: string) => kube.store.patch(cmRef, "merge", { data: { disable_network_policy: v } });
			set("false");
			expect(await networkPolicyEnabled(agent, "kube-system")).toBe(true);
			set("True");
			expect(await networkPolicyEnabled(agent, "kube-system")).toBe(false);
			set("yes");
			const err = await networkPolicyEnabled(agent, "kube-system").catch((e) => e);
			expect(err).toBeInstanceOf(ClusterConfigError);
			expect((err as Error).message).toBe(
				'ConfigMap kube-system/eni-config: disable_network_policy: "yes" is not "true" or "false"',
			);
			set("false");
			// no ConfigMap at all: on
			expect(await networkPolicyEnabled(agent, "nowhere")).toBe(true);
		});

		test("openPolicyAgent: programs loaded, self-tested and pinned; off with the reason when they cannot be", async () => {
			const opts = {
				kube: client,
				events: agent.events,
				nodeName: NODE,
				nodeIps: () => [NODE_IP],
				log: silentLogger,
			};
			const on = openPolicyAgent({ ...opts, pinRoot: PIN_ROOT });
			expect(on).toBeInstanceOf(PolicyAgent);
			expect(on.pinRoot).toBe(PIN_ROOT);
			expect(existsSync(`${PIN_ROOT}/progs/terway_pol_from`)).toBe(true);
			expect(existsSync(`${PIN_ROOT}/progs/terway_pol_to`)).toBe(true);
			await on.stop(); // never started: closes the object, the pins stay
			expect(existsSync(`${PIN_ROOT}/terway_ipid`)).toBe(true);
			const off = openPolicyAgent({ ...opts, pinRoot: join(dir, "not-bpffs") });
			expect(off).toBeInstanceOf(PolicyOff);
			expect(off.info()).toMatchObject({
				enabled: false,
				reason: expect.stringContaining("not on a bpf filesystem"),
			});
			expect(off.pinRoot).toBeUndefined();
		});

		test("start: the maps get every pod's identity and the node's address", async () => {
			pod("prod", "db", { app: "db" }, "10.9.1.5");
			pod("default", "web", { role: "frontend" }, "10.9.1.6");
			({ agent: a, maps } = start());
			await a.start();
			const st = maps.readState();
			expect([...st.ips.keys()].sort()).toEqual(["10.9.0.1/32", "10.9.1.5/32", "10.9.1.6/32"]);
			expect(st.ips.get("10.9.0.1/32")!.identity).toBe(1); // HOST
			expect(a.info()).toMatchObject({ enabled: true, pinRoot: PIN_ROOT, policies: [], entries: { ips: 3 } });
		});

		test("a NetworkPolicy reaches the maps, with a PolicyApplied event on it; a bad one is PolicyError", async () => {
			kube.store.create(polRef("prod"), {
				apiVersion: "networking.k8s.io/v1",
				kind: "NetworkPolicy",
				metadata: { name: "allow-fe", namespace: "prod" },
				spec: {
					podSelector: { matchLabels: { app: "db" } },
					ingress: [
						{
							from: [{ namespaceSelector: {}, podSelector: { matchLabels: { role: "frontend" } } }],
							ports: [{ port: 5432 }],
						},
					],
				},
			});
			await until("policy entries in the maps", () => maps.readState().policy.size > 0);
			const db = maps.readState().ips.get("10.9.1.5/32")!;
			const web = maps.readState().ips.get("10.9.1.6/32")!;
			expect([...maps.readState().policy.values()].map((e) => ({ ...e, rule: 0 }))).toEqual([
				{
					endpoint: db.identity,
					peer: web.identity,
					direction: "ingress",
					proto: 6,
					port: 5432,
					bits: 16,
					rule: 0,
				},
			]);
			await until("PolicyApplied event", () =>
				policyEvents("prod").some((e) => e.reason === "PolicyApplied"),
			);
			expect(a!.info().policies).toEqual([
				{ policy: "prod/allow-fe", ok: true, message: expect.stringContaining("applied") },
			]);

			kube.store.create(polRef("prod"), {
				apiVersion: "networking.k8s.io/v1",
				kind: "NetworkPolicy",
				metadata: { name: "bad", namespace: "prod" },
				spec: { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: "10.0.0.0/40" } }] }] },
			});
			const ev = await until("PolicyError event", () =>
				policyEvents("prod").find((e) => e.reason === "PolicyError"),
			);
			expect(ev).toMatchObject({ type: "Warning", involvedObject: { kind: "NetworkPolicy", name: "bad" } });
			expect(ev.message).toContain("10.0.0.0/40");
			// reported once: a sync that changes nothing for it sends no second event
			const n = policyEvents("prod").length;
			await a!.sync();
			expect(policyEvents("prod").length).toBe(n);
			kube.store.delete({ ...polRef("prod"), name: "bad" }, { gracePeriodSeconds: 0 });
			await until("bad policy gone from the status", () => a!.info().policies.length === 1);
		});

		test("a pod the daemon just allocated is in the maps when podAllocated resolves, with its labels' identity once the watch has it", async () => {
			pod("prod", "db2", { app: "db" });
			await a!.podAllocated({ namespace: "prod", name: "db2" }, ["10.9.1.7"]);
			expect(maps.readState().ips.has("10.9.1.7/32")).toBe(true);
			const dbId = maps.readState().ips.get("10.9.1.5/32")!.identity;
			await until(
				"db2 shares db's identity",
				() => maps.readState().ips.get("10.9.1.7/32")?.identity === dbId,
			);
			a!.podReleased({ namespace: "prod", name: "db2" });
			kube.store.delete({ ...podsRef("prod"), name: "db2" }, { gracePeriodSeconds: 0 });
			await until("db2 gone", () => !maps.readState().ips.has("10.9.1.7/32"));
		});

		test("restart: a new object over the same pins, ids from the state dir — nothing to write", async () => {
			const before = maps.readState();
			await a!.stop();
			({ agent: a, maps } = start());
			await a.start();
			expect(maps.writes).toEqual([]);
			expect(maps.readState()).toEqual(before);
			// and it follows changes from there
			kube.store.patch({ ...podsRef("default"), name: "web" }, "merge", {
				metadata: { labels: { role: "other" } },
			});
			await until("web no longer an allowed peer", () => maps.readState().policy.size === 0);
		});

		test("policy turned off by config: the pinned maps are emptied (attached programs then enforce nothing)", async () => {
			const had = maps.readState();
			await a!.stop();
			a = undefined;
			expect(had.ips.size).toBeGreaterThan(0);
			expect(clearPinnedPolicy(PIN_ROOT)).toBe(had.ips.size + had.policy.size);
			const prog = PolicyProgram.load({ pinRoot: PIN_ROOT });
			try {
				const st = prog.maps.readState();
				expect({ ips: st.ips.size, policy: st.policy.size }).toEqual({ ips: 0, policy: 0 });
			} finally {
				prog.close();
			}
			expect(clearPinnedPolicy(join(dir, "never-pinned"))).toBe(0);
		});
	},
);
