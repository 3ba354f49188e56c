/**
 * terwayd with Kubernetes: the sim's kube-apiserver in process (src/sim/kube, HTTPS with its CA,
 * through the daemon's own KubeClient/NodeAgent) next to the loopback cloud (harness.ts).
 *
 * - config: `kube-system/eni-config` as the base, the node's dynamic config (label
 *   `terway-config`) over it, exactly as `terwayctl daemon` resolves it (daemon/kube.ts);
 * - a deleted pod gives its IP back with no CNI DEL (no POST /v1/release): the pod watch;
 * - `k8s.aliyun.com/pod-ips` is patched on alloc;
 * - the node's `SufficientIP` condition goes False on IP exhaustion and True once IPs return,
 *   and a failed alloc records an `AllocIPFailed` event on its pod;
 * - the watch survives a 410 Gone (relist) and an apiserver listener restart.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { StatusResponse } from "../../src/daemon/api-types.ts";
import { ClusterConfigError, clusterConfig, NodeAgentHooks } from "../../src/daemon/kube.ts";
import { silentLogger } from "../../src/daemon/log.ts";
import { KubeClient, loadKubeconfigFile } from "../../src/k8s/client.ts";
import { ANNOTATION_POD_IPS, NodeAgent } from "../../src/k8s/node-agent.ts";
import type { KubeObject } from "../../src/sim/contracts.ts";
import { FaultEngine } from "../../src/sim/faults.ts";
import { KubeApiServer, type TlsListener } from "../../src/sim/kube/index.ts";
import { RequestLog } from "../../src/sim/request-log.ts";
import { POD_VSW } from "../cloud/sim.ts";
import { type Harness, startDaemon } from "./harness.ts";

const NODE = "node-1";
const podsRef = { apiVersion: "v1", resource: "pods", namespace: "default" };
const nodesRef = { apiVersion: "v1", resource: "nodes" };
const eventsRef = { apiVersion: "v1", resource: "events", namespace: "default" };

let dir: string;
let kube: KubeApiServer;
let tls: TlsListener;
let client: KubeClient;
let hooks: NodeAgentHooks;
let h: Harness;
const faults = new FaultEngine(11);
const klog = new RequestLog();

beforeAll(async () => {
	dir = mkdtempSync(join(tmpdir(), "terwayd-kube-"));
	kube = new KubeApiServer({
		faults,
		log: klog,
		objects: [
			{
				apiVersion: "v1",
				kind: "Node",
				metadata: { name: NODE, labels: { "terway-config": "node-1-conf" } },
				status: { conditions: [{ type: "Ready", status: "True", reason: "KubeletReady" }] },
			},
			{
				apiVersion: "v1",
				kind: "ConfigMap",
				metadata: { name: "eni-config", namespace: "kube-system" },
				data: {
					eni_conf: JSON.stringify({
						min_pool_size: 2,
						max_pool_size: 8,
						vswitches: { "cn-hangzhou-i": [POD_VSW] },
						service_cidr: "192.168.0.0/16",
					}),
				},
			},
			{
				apiVersion: "v1",
				kind: "ConfigMap",
				metadata: { name: "node-1-conf", namespace: "kube-system" },
				data: { eni_conf: JSON.stringify({ max_pool_size: 4 }) },
			},
		],
	});
	tls = kube.listenTls();
	client = new KubeClient(loadKubeconfigFile(kube.writeKubeconfig(join(dir, "kubeconfig"), tls)));
	const agent = new NodeAgent(client, { nodeName: NODE });
	const cc = await clusterConfig(agent, { namespace: "kube-system" });
	hooks = new NodeAgentHooks(agent, silentLogger, { patchPodIps: cc.eniConf.enablePatchPodIps });
	await hooks.start();
	h = await startDaemon({ config: cc.eniConf, kube: hooks, allocWaitMs: 3000 });
}, 60_000);

afterAll(async () => {
	await h?.stop();
	client?.close();
	await kube?.close();
	rmSync(dir, { recursive: true, force: true });
});

async function until<T>(what: string, f: () => T | undefined | false, ms = 10_000): Promise<T> {
	const end = Date.now() + ms;
	for (;;) {
		const v = f();
		if (v) return v;
		if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
		await Bun.sleep(20);
	}
}

function createPod(name: string): KubeObject {
	return kube.store.create(podsRef, {
		apiVersion: "v1",
		kind: "Pod",
		metadata: { name, namespace: "default" },
		spec: { nodeName: NODE, containers: [{ name: "c", image: "busybox" }] },
	});
}

/** A pod deleted for good (what kubelet's final grace-0 DELETE does). */
function deletePod(name: string): void {
	kube.store.delete({ ...podsRef, name }, { gracePeriodSeconds: 0 });
}

const podIps = (name: string) =>
	(kube.store.get({ ...podsRef, name }) as { metadata: { annotations?: Record<string, string> } }).metadata
		.annotations?.[ANNOTATION_POD_IPS];
const allocated = (name: string) => h.store.allocations().some((a) => a.podKey === `default/${name}`);
const sufficientIp = () =>
	(
		kube.store.get({ ...nodesRef, name: NODE }) as {
			status?: { conditions?: { type: string; status: string; reason?: string; message?: string }[] };
		}
	).status?.conditions?.find((c) => c.type === "SufficientIP");
const releaseCalls = () =>
	Number(
		/^terway_rpc_latency_count\{rpc_api="POST \/v1\/release"[^}]*\} (\d+)/m.exec(
			h.daemon.metrics.render(),
		)?.[1] ?? 0,
	);
const releasedBy = (reason: string) =>
	Number(
		new RegExp(`^terwayd_release_total\\{reason="${reason}"\\} (\\d+)`, "m").exec(
			h.daemon.metrics.render(),
		)?.[1] ?? 0,
	);

describe("terwayd with the sim's kube-apiserver", () => {
	test("config comes from kube-system/eni-config with the node's terway-config overlay over it", async () => {
		const st = await h.call<StatusResponse>("GET", "/v1/status");
		expect(st.body.kubernetes).toBe("connected");
		expect({ min: st.body.pool.min, max: st.body.pool.max }).toEqual({ min: 2, max: 4 });
		expect(st.body.pool.idle).toBeGreaterThanOrEqual(2);
		const a = await h.alloc("cfg-0");
		expect(a.body.serviceCidrs).toEqual(["192.168.0.0/16"]);
		await h.call("POST", "/v1/release", { pod: { namespace: "default", name: "cfg-0" } });
	});

	test("a bad key in the node overlay is refused, naming the key and the ConfigMap", async () => {
		kube.store.create(
			{ apiVersion: "v1", resource: "configmaps", namespace: "kube-system" },
			{
				apiVersion: "v1",
				kind: "ConfigMap",
				metadata: { name: "bad-conf", namespace: "kube-system" },
				data: { eni_conf: JSON.stringify({ max_pool_sise: 3 }) },
			},
		);
		kube.store.create(nodesRef, {
			apiVersion: "v1",
			kind: "Node",
			metadata: { name: "node-bad", labels: { "terway-config": "bad-conf" } },
		});
		const err = await clusterConfig(new NodeAgent(client, { nodeName: "node-bad" }), {
			namespace: "kube-system",
		}).catch((e: unknown) => e);
		expect(err).toBeInstanceOf(ClusterConfigError);
		expect((err as Error).message).toContain("max_pool_sise");
		expect((err as ClusterConfigError).where).toContain("bad-conf");
	});

	test("alloc patches k8s.aliyun.com/pod-ips; deleting the pod releases its IP without any CNI DEL", async () => {
		createPod("web-0");
		const a = await h.alloc("web-0");
		expect(a.status).toBe(200);
		const ip = String(a.body.ipv4?.ip);
		await until("the pod-ips annotation", () => podIps("web-0") === ip);
		const releasesBefore = releaseCalls();
		const byWatch = releasedBy("pod-deleted");
		deletePod("web-0");
		await until("the release after the pod deletion", () => !allocated("web-0"));
		expect(h.store.ip(ip)?.state).toBe("idle");
		expect(releasedBy("pod-deleted")).toBe(byWatch + 1);
		// no CNI DEL: the socket saw no release request in the meantime
		expect(releaseCalls()).toBe(releasesBefore);
	});

	test("an ADD right after the pod is created gets its bandwidth annotations (from the watch, or one GET when the watch lags)", async () => {
		kube.store.create(podsRef, {
			apiVersion: "v1",
			kind: "Pod",
			metadata: {
				name: "bw-0",
				namespace: "default",
				annotations: { "kubernetes.io/egress-bandwidth": "20M", "kubernetes.io/ingress-bandwidth": "1G" },
			},
			spec: { nodeName: NODE, containers: [{ name: "c", image: "busybox" }] },
		});
		// no wait for the informer: kubelet runs ADD right after binding
		const a = await h.alloc("bw-0");
		expect(a.status).toBe(200);
		expect(a.body.bandwidth).toEqual({ ingressBps: 1e9, egressBps: 20e6 });
		await h.call("POST", "/v1/release", { pod: { namespace: "default", name: "bw-0" } });
		deletePod("bw-0");
	});

	test("IP exhaustion: SufficientIP False and an AllocIPFailed event; True again once IPs return", async () => {
		expect(sufficientIp()?.status).toBe("True");
		const rules = ["AssignPrivateIpAddresses", "CreateNetworkInterface"].map((action) =>
			h.sim.faults.add({ match: { face: "openapi", action }, effect: { kind: "ipExhausted" } }),
		);
		const held: string[] = [];
		let failed: string | undefined;
		try {
			for (let i = 0; i < 40 && !failed; i++) {
				const name = `ex-${i}`;
				createPod(name);
				const r = await h.alloc(name);
				if (r.status === 200) held.push(name);
				else {
					expect(r.status).toBe(507);
					expect(r.body.error?.message).toContain("IpNotEnough");
					failed = name;
				}
			}
		} finally {
			for (const r of rules) h.sim.faults.remove(r.id);
		}
		expect(failed).toBeDefined();
		const cond = await until("SufficientIP False", () => {
			const c = sufficientIp();
			return c?.status === "False" ? c : undefined;
		});
		expect(cond.reason).toBe("InsufficientIP");
		expect(cond.message).toContain("IpNotEnough");
		const ev = await until("the AllocIPFailed event", () =>
			(
				kube.store.list(eventsRef).items as {
					reason?: string;
					type?: string;
					message?: string;
					involvedObject?: { name?: string; kind?: string };
				}[]
			).find((e) => e.reason === "AllocIPFailed" && e.involvedObject?.name === failed),
		);
		expect(ev.type).toBe("Warning");
		expect(ev.involvedObject?.kind).toBe("Pod");
		expect(ev.message).toContain("IpNotEnough");
		// IPs come back: a pod goes away (its IP is released through the watch)
		deletePod(held[0]!);
		await until("SufficientIP True", () => sufficientIp()?.status === "True");
		expect(sufficientIp()?.reason).toBe("SufficientIP");
		for (const name of held.slice(1)) deletePod(name);
		deletePod(failed!);
		await until("all released", () => h.store.allocations().length === 0);
		h.daemon.pool.clearInhibit();
	}, 30_000);

	test("the pod watch survives a 410 Gone (relist) and still releases deleted pods", async () => {
		createPod("gone-0");
		const a = await h.alloc("gone-0");
		expect(a.status).toBe(200);
		// the daemon's own pods request (the pod-ips patch) is done before the faults are armed
		await until("the pod-ips annotation", () => podIps("gone-0") === a.body.ipv4?.ip);
		const lists = () =>
			klog.since(0, (e) => e.what === "GET /api/v1/pods" && !String(e.detail?.query ?? "").includes("watch"))
				.length;
		const listsBefore = lists();
		// our pods request below drops the open watches; the daemon's re-watch gets 410 → relist
		faults.add({
			id: "drop",
			match: { face: "kube", action: "pods" },
			effect: { kind: "watchDrop" },
			times: 1,
		});
		faults.add({ id: "gone", match: { face: "kube", action: "pods" }, effect: { kind: "gone" }, times: 1 });
		const res = await client.fetch("/api/v1/namespaces/default/pods");
		expect(res.status).toBe(200);
		createPod("gone-1");
		await until("the relist after 410", () => lists() > listsBefore);
		expect(klog.since(0, (e) => e.fault === "gone").length).toBe(1);
		deletePod("gone-0");
		await until("the release after the relist", () => !allocated("gone-0"));
		expect((await h.call<StatusResponse>("GET", "/v1/status")).body.kubernetes).toBe("connected");
		deletePod("gone-1");
	}, 20_000);

	test("the pod watch survives an apiserver restart; a pod deleted while it was down is released", async () => {
		createPod("rs-0");
		createPod("rs-1");
		expect((await h.alloc("rs-0")).status).toBe(200);
		expect((await h.alloc("rs-1")).status).toBe(200);
		const port = tls.port;
		await tls.stop();
		kube.handler.closeWatches();
		// deleted while the daemon cannot see the apiserver: only the relist can tell it
		deletePod("rs-0");
		await Bun.sleep(300);
		tls = kube.listenTls({ port, tls: tls.tls });
		await until("the release after the reconnect", () => !allocated("rs-0"), 40_000);
		// and the new watch delivers live deletions again
		deletePod("rs-1");
		await until("a live deletion after the reconnect", () => !allocated("rs-1"), 10_000);
		const st = await h.call<StatusResponse>("GET", "/v1/status");
		expect(st.body.kubernetes).toBe("connected");
	}, 60_000);
});
