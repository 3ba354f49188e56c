/**
 * The daemon's Kubernetes surface (src/k8s/node-agent.ts) against the sim's kube-apiserver
 * over HTTPS with its CA: eni-config and dynamic config, the node's pod watch, the pod-ips
 * annotation, node annotations and extended resources, the SufficientIP condition next to
 * Ready, and deduplicated events.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KubeClient, loadKubeconfigFile } from "../../src/k8s/client.ts";
import {
	ANNOTATION_MAX_AVAILABLE_IP,
	ANNOTATION_POD_IPS,
	ConfigMapMissingError,
	EventReason,
	NodeAgent,
	podRef,
	RESOURCE_MEMBER_ENI,
} from "../../src/k8s/node-agent.ts";
import { KubeApiServer } from "../../src/sim/kube/index.ts";

let kube: KubeApiServer;
let client: KubeClient;
let dir: string;
let clock = new Date("2025-01-01T00:00:00Z");

const pods = { apiVersion: "v1", resource: "pods", namespace: "default" };

beforeAll(() => {
	dir = mkdtempSync(join(tmpdir(), "terway-k8s-agent-"));
	kube = new KubeApiServer({
		objects: [
			{
				apiVersion: "v1",
				kind: "Node",
				metadata: { name: "node-1", labels: { "terway-config": "node-1-conf" } },
				status: {
					conditions: [{ type: "Ready", status: "True", reason: "KubeletReady" }],
					capacity: { cpu: "2", pods: "110" },
					allocatable: { cpu: "2", pods: "110" },
				},
			},
			{ apiVersion: "v1", kind: "Node", metadata: { name: "node-2" }, status: {} },
			{
				apiVersion: "v1",
				kind: "ConfigMap",
				metadata: { name: "eni-config", namespace: "kube-system" },
				data: { eni_conf: '{"max_pool_size": 5}', "10-terway.conf": "{}" },
			},
			{
				apiVersion: "v1",
				kind: "ConfigMap",
				metadata: { name: "node-1-conf", namespace: "kube-system" },
				data: { eni_conf: '{"min_pool_size": 2}' },
			},
		],
	});
	const tls = kube.listenTls();
	client = new KubeClient(loadKubeconfigFile(kube.writeKubeconfig(join(dir, "kubeconfig"), tls)));
});

afterAll(async () => {
	client?.close();
	await kube?.close();
	rmSync(dir, { recursive: true, force: true });
});

async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
	const deadline = Date.now() + ms;
	while (!cond()) {
		if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
		await Bun.sleep(10);
	}
}

const agent = () => new NodeAgent(client, { nodeName: "node-1", now: () => clock });

describe("NodeAgent", () => {
	test("reads eni_conf of kube-system/eni-config as a raw string", async () => {
		expect(await agent().readEniConfig()).toBe('{"max_pool_size": 5}');
		const err = await agent()
			.readEniConfig("default")
			.catch((e: unknown) => e);
		expect(err).toBeInstanceOf(ConfigMapMissingError);
		expect((err as Error).message).toBe("ConfigMap default/eni-config not found");
	});

	test("reads the dynamic config named by the node's terway-config label", async () => {
		expect(await agent().readDynamicConfig()).toEqual({
			name: "node-1-conf",
			eniConf: '{"min_pool_size": 2}',
		});
		expect(await new NodeAgent(client, { nodeName: "node-2" }).readDynamicConfig()).toBeUndefined();
		kube.store.patch({ apiVersion: "v1", resource: "nodes", name: "node-2" }, "merge", {
			metadata: { labels: { "terway-config": "missing" } },
		});
		expect(await new NodeAgent(client, { nodeName: "node-2" }).readDynamicConfig()).toEqual({
			name: "missing",
			eniConf: undefined,
		});
	});

	test("watches only this node's pods and patches the pod-ips annotation", async () => {
		kube.store.create(pods, {
			apiVersion: "v1",
			kind: "Pod",
			metadata: { name: "p1" },
			spec: { nodeName: "node-1", containers: [] },
		});
		kube.store.create(pods, {
			apiVersion: "v1",
			kind: "Pod",
			metadata: { name: "other" },
			spec: { nodeName: "node-2", containers: [] },
		});
		const seen: string[] = [];
		const a = agent();
		const w = a
			.watchPods({
				add: (p) => void seen.push(`add ${p.metadata.name}`),
				update: (p) =>
					void seen.push(`update ${p.metadata.name} ${p.metadata.annotations?.[ANNOTATION_POD_IPS] ?? "-"}`),
				delete: (p) => void seen.push(`delete ${p.metadata.name}`),
				backoff: { initialMs: 20, maxMs: 200 },
			})
			.start();
		await w.synced;
		expect(seen).toEqual(["add p1"]);
		const patched = await a.patchPodIps("default", "p1", ["192.168.0.10", "fd00::10"]);
		expect(patched.metadata?.annotations?.[ANNOTATION_POD_IPS]).toBe("192.168.0.10,fd00::10");
		const stored = kube.store.get({ ...pods, name: "p1" }) as {
			metadata: { annotations?: Record<string, string> };
		};
		expect(stored.metadata.annotations).toEqual({ [ANNOTATION_POD_IPS]: "192.168.0.10,fd00::10" });
		await until(() => seen.length === 2, "the annotation update");
		await a.patchPodIps("default", "p1", []);
		await until(() => seen.length === 3, "the annotation removal");
		kube.store.delete({ ...pods, name: "p1" }, { gracePeriodSeconds: 0 });
		await until(() => seen.length === 4, "the delete");
		expect(seen).toEqual(["add p1", "update p1 192.168.0.10,fd00::10", "update p1 -", "delete p1"]);
		await w.stop();
	});

	test("patches node annotations and extended resources without touching the rest", async () => {
		const a = agent();
		await a.patchNodeAnnotations({ [ANNOTATION_MAX_AVAILABLE_IP]: "30" });
		const node = await a.patchNodeResources({ [RESOURCE_MEMBER_ENI]: 7 });
		expect(node.metadata?.annotations?.[ANNOTATION_MAX_AVAILABLE_IP]).toBe("30");
		expect([node.status?.capacity, node.status?.allocatable]).toEqual([
			{ cpu: "2", pods: "110", [RESOURCE_MEMBER_ENI]: "7" },
			{ cpu: "2", pods: "110", [RESOURCE_MEMBER_ENI]: "7" },
		]);
	});

	test("SufficientIP is merged next to Ready; unchanged within the heartbeat it is not re-sent; a flip moves lastTransitionTime", async () => {
		const a = agent();
		clock = new Date("2025-01-01T00:00:00Z");
		expect(await a.ensureSufficientIP(true)).toEqual({ changed: true });
		const conds = async () =>
			((await a.getNode()).status?.conditions ?? []).map((c) => ({
				type: c.type,
				status: c.status,
				reason: c.reason,
				hb: c.lastHeartbeatTime?.toISOString(),
				tr: c.lastTransitionTime?.toISOString(),
			}));
		expect(await conds()).toEqual([
			{ type: "Ready", status: "True", reason: "KubeletReady", hb: undefined, tr: undefined },
			{
				type: "SufficientIP",
				status: "True",
				reason: "SufficientIP",
				hb: "2025-01-01T00:00:00.000Z",
				tr: "2025-01-01T00:00:00.000Z",
			},
		]);
		clock = new Date("2025-01-01T00:01:00Z");
		expect(await a.ensureSufficientIP(true)).toEqual({ changed: false });
		clock = new Date("2025-01-01T00:06:00Z");
		expect(await a.ensureSufficientIP(true)).toEqual({ changed: true });
		clock = new Date("2025-01-01T00:07:00Z");
		expect(await a.ensureSufficientIP(false, "no IP left in vsw-1")).toEqual({ changed: true });
		const after = await conds();
		expect(after).toEqual([
			{ type: "Ready", status: "True", reason: "KubeletReady", hb: undefined, tr: undefined },
			{
				type: "SufficientIP",
				status: "False",
				reason: "InsufficientIP",
				hb: "2025-01-01T00:07:00.000Z",
				tr: "2025-01-01T00:07:00.000Z",
			},
		]);
	});

	test("events: created against a pod, a repeat bumps count instead of creating another; node events go to default", async () => {
		const a = agent();
		kube.store.create(pods, {
			apiVersion: "v1",
			kind: "Pod",
			metadata: { name: "p2" },
			spec: { containers: [] },
		});
		const p2 = kube.store.get({ ...pods, name: "p2" }) as unknown as {
			metadata: { name: string; namespace: string; uid: string };
		};
		clock = new Date("2025-01-01T01:00:00Z");
		const first = await a.events.event(podRef(p2), "Warning", EventReason.AllocIPFailed, "no IP");
		clock = new Date("2025-01-01T01:00:05Z");
		const [second, third] = await Promise.all([
			a.events.event(podRef(p2), "Warning", EventReason.AllocIPFailed, "no IP"),
			a.events.event(podRef(p2), "Warning", EventReason.AllocIPFailed, "no IP"),
		]);
		expect(first?.metadata?.name).toBe(second?.metadata?.name);
		expect(third?.count).toBe(3);
		const list = kube.store.list({ apiVersion: "v1", resource: "events", namespace: "default" })
			.items as unknown as {
			reason: string;
			count: number;
			type: string;
			source: unknown;
			involvedObject: { kind: string; name: string; uid: string };
			firstTimestamp: string;
			lastTimestamp: string;
		}[];
		const mine = list.filter((e) => e.involvedObject.name === "p2");
		expect(
			mine.map((e) => ({
				reason: e.reason,
				count: e.count,
				type: e.type,
				source: e.source,
				obj: `${e.involvedObject.kind}/${e.involvedObject.name}/${e.involvedObject.uid}`,
				// instants, not strings: client-node writes Dates with milliseconds, the patch in seconds
				first: new Date(e.firstTimestamp).toISOString(),
				last: new Date(e.lastTimestamp).toISOString(),
			})),
		).toEqual([
			{
				reason: "AllocIPFailed",
				count: 3,
				type: "Warning",
				source: { component: "terway-daemon", host: "node-1" },
				obj: `Pod/p2/${p2.metadata.uid}`,
				first: "2025-01-01T01:00:00.000Z",
				last: "2025-01-01T01:00:05.000Z",
			},
		]);
		const nodeEv = await a.events.event(
			a.nodeRef(),
			"Warning",
			EventReason.ResourceInvalid,
			"orphan IP 10.0.0.9",
		);
		expect(nodeEv?.metadata?.namespace).toBe("default");
		expect(nodeEv?.involvedObject.kind).toBe("Node");
	});
});
