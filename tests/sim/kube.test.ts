/**
 * Contract tests for the sim's kube-apiserver subset (src/sim/kube) through the real clients:
 * @kubernetes/client-node 2.0.1 under Bun (HTTP with insecure-skip-tls-verify, cloud-sim.md
 * §4.3; HTTPS only in a child process with NODE_EXTRA_CA_CERTS) and kubectl over HTTPS with
 * the generated CA. Listens on 127.0.0.1 port 0 only.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import * as k8s from "@kubernetes/client-node";
import type { KubeObject } from "../../src/sim/contracts.ts";
import { FaultEngine } from "../../src/sim/faults.ts";
import { KubeApiServer, kubeconfigYaml, type Listener, type TlsListener } from "../../src/sim/kube/index.ts";
import { RequestLog } from "../../src/sim/request-log.ts";

const KUBECTL = Bun.which("kubectl");
const ROOT = resolve(import.meta.dir, "../..");

let kube: KubeApiServer;
let http: Listener;
let https: TlsListener;
let dir: string;
let kc: k8s.KubeConfig;
const faults = new FaultEngine(7);
const log = new RequestLog();

beforeAll(() => {
	dir = mkdtempSync(join(tmpdir(), "terway-kube-test-"));
	kube = new KubeApiServer({
		faults,
		log,
		objects: [
			{
				apiVersion: "v1",
				kind: "Node",
				metadata: { name: "node-1", labels: { "kubernetes.io/hostname": "node-1" } },
				status: {
					conditions: [{ type: "Ready", status: "True" }],
					capacity: { cpu: "2" },
					nodeInfo: { kubeletVersion: "v1.32.4" },
				},
			},
			{
				apiVersion: "v1",
				kind: "ConfigMap",
				metadata: { name: "eni-config", namespace: "kube-system" },
				data: { eni_conf: "{}" },
			},
		],
	});
	node1Kubelet(String(kube.store.resourceVersion));
	http = kube.listen();
	https = kube.listenTls();
	kc = new k8s.KubeConfig();
	kc.loadFromString(kubeconfigYaml({ server: http.url, insecureSkipTlsVerify: true, token: "t" }));
});

/**
 * node-1's kubelet, reduced to what graceful deletion needs: once one of its pods is terminating,
 * the final DELETE with gracePeriodSeconds 0 (src/sim/kubelet does the same after tearing the
 * sandbox down). Pods of other nodes stay terminating until someone sends it. Like a kubelet it
 * watches again when its watch is dropped (the watchDrop fault below drops every pod watch).
 */
function node1Kubelet(resourceVersion: string): void {
	const pods = { apiVersion: "v1", resource: "pods" };
	kube.store.watch(
		pods,
		{ fieldSelector: "spec.nodeName=node-1", resourceVersion },
		(e) => {
			const m = e.object.metadata as {
				name: string;
				namespace: string;
				uid: string;
				deletionTimestamp?: string;
			};
			if (e.type !== "MODIFIED" || !m.deletionTimestamp) return;
			// after the write being delivered has reached every watcher
			queueMicrotask(() => {
				try {
					kube.store.delete(
						{ ...pods, namespace: m.namespace, name: m.name },
						{ gracePeriodSeconds: 0, preconditions: { uid: m.uid } },
					);
				} catch {
					// gone already, or a finalizer holds it
				}
			});
		},
		// dropWatches calls this synchronously: watching again from the current resourceVersion misses nothing
		(reason) => {
			if (reason === "dropped") node1Kubelet(String(kube.store.resourceVersion));
		},
	);
}

afterAll(async () => {
	await kube.close();
	rmSync(dir, { recursive: true, force: true });
});

function pod(name: string, labels: Record<string, string> = {}, nodeName = "node-1"): k8s.V1Pod {
	return {
		apiVersion: "v1",
		kind: "Pod",
		metadata: { name, labels },
		spec: { nodeName, containers: [{ name: "c", image: "busybox" }] },
	};
}

async function apiError(
	p: Promise<unknown>,
): Promise<{ code: number; body: { reason: string; message: string } }> {
	try {
		await p;
	} catch (e) {
		if (e instanceof k8s.ApiException) return { code: e.code, body: JSON.parse(e.body as string) };
		throw e;
	}
	throw new Error("expected an ApiException");
}

/** Resolve when `cond()` holds, re-checking on every request-log entry and every 20 ms. */
async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
	const deadline = Date.now() + ms;
	while (!cond()) {
		if (Date.now() > deadline) {
			const recent = log
				.since(Math.max(0, log.lastSeq - 8))
				.map((e) => `${e.what}?${e.detail?.query ?? ""} ${e.status}`);
			throw new Error(`timed out waiting for ${what}; last requests:\n${recent.join("\n")}`);
		}
		await Bun.sleep(20);
	}
}

const merge = k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch);
const strategic = k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.StrategicMergePatch);

describe("client-node over HTTP", () => {
	test("CoreV1Api CRUD, NotFound and AlreadyExists", async () => {
		const core = kc.makeApiClient(k8s.CoreV1Api);
		const cm = await core.createNamespacedConfigMap({
			namespace: "default",
			body: { metadata: { name: "cm1" }, data: { a: "1" } },
		});
		expect(cm.metadata?.uid).toBeDefined();
		const read = await core.readNamespacedConfigMap({ name: "cm1", namespace: "default" });
		expect(read.data).toEqual({ a: "1" });
		const replaced = await core.replaceNamespacedConfigMap({
			name: "cm1",
			namespace: "default",
			body: { ...read, data: { a: "2" } },
		});
		expect(replaced.data).toEqual({ a: "2" });
		const dup = await apiError(
			core.createNamespacedConfigMap({ namespace: "default", body: { metadata: { name: "cm1" } } }),
		);
		expect([dup.code, dup.body.reason]).toEqual([409, "AlreadyExists"]);
		await core.deleteNamespacedConfigMap({ name: "cm1", namespace: "default" });
		const gone = await apiError(core.readNamespacedConfigMap({ name: "cm1", namespace: "default" }));
		expect([gone.code, gone.body.reason, gone.body.message]).toEqual([
			404,
			"NotFound",
			'configmaps "cm1" not found',
		]);
		const eni = await core.readNamespacedConfigMap({ name: "eni-config", namespace: "kube-system" });
		expect(eni.data).toEqual({ eni_conf: "{}" });
	});

	test("409 Conflict on a stale update", async () => {
		const core = kc.makeApiClient(k8s.CoreV1Api);
		const p = await core.createNamespacedPod({ namespace: "default", body: pod("stale") });
		await core.replaceNamespacedPod({
			name: "stale",
			namespace: "default",
			body: { ...p, metadata: { ...p.metadata, labels: { v: "2" } } },
		});
		const e = await apiError(
			core.replaceNamespacedPod({
				name: "stale",
				namespace: "default",
				body: { ...p, metadata: { ...p.metadata, labels: { v: "3" } } },
			}),
		);
		expect([e.code, e.body.reason]).toEqual([409, "Conflict"]);
		await core.deleteNamespacedPod({ name: "stale", namespace: "default" });
	});

	test("patch types: JSON patch by default, merge and strategic by header; status subresource", async () => {
		const core = kc.makeApiClient(k8s.CoreV1Api);
		await core.createNamespacedPod({ namespace: "default", body: pod("patchy", { app: "p" }) });
		const before = log.lastSeq;
		const j = await core.patchNamespacedPod({
			name: "patchy",
			namespace: "default",
			body: [{ op: "add", path: "/metadata/annotations", value: { "k8s.aliyun.com/pod-ips": "10.0.0.9" } }],
		});
		expect(j.metadata?.annotations).toEqual({ "k8s.aliyun.com/pod-ips": "10.0.0.9" });
		const m = await core.patchNamespacedPod(
			{ name: "patchy", namespace: "default", body: { metadata: { labels: { extra: "1" } } } },
			merge,
		);
		expect(m.metadata?.labels).toEqual({ app: "p", extra: "1" });
		const s = await core.patchNamespacedPodStatus(
			{
				name: "patchy",
				namespace: "default",
				body: { status: { phase: "Running", podIP: "10.0.0.9" }, spec: { nodeName: "x" } },
			},
			merge,
		);
		expect([s.status?.phase, s.status?.podIP, s.spec?.nodeName]).toEqual(["Running", "10.0.0.9", "node-1"]);
		const main = await core.patchNamespacedPod(
			{ name: "patchy", namespace: "default", body: { status: { phase: "Failed" } } },
			merge,
		);
		expect(main.status?.phase).toBe("Running");
		// Terway's SufficientIP condition: strategic merge of node status conditions by type.
		const n = await core.patchNodeStatus(
			{
				name: "node-1",
				body: { status: { conditions: [{ type: "SufficientIP", status: "True", reason: "SufficientIP" }] } },
			},
			strategic,
		);
		expect(n.status?.conditions?.map((c) => `${c.type}=${c.status}`)).toEqual([
			"Ready=True",
			"SufficientIP=True",
		]);
		const types = log.since(before, (e) => e.what.startsWith("PATCH ")).map((e) => `${e.what} ${e.status}`);
		expect(types).toEqual([
			"PATCH /api/v1/namespaces/default/pods/patchy 200",
			"PATCH /api/v1/namespaces/default/pods/patchy 200",
			"PATCH /api/v1/namespaces/default/pods/patchy/status 200",
			"PATCH /api/v1/namespaces/default/pods/patchy 200",
			"PATCH /api/v1/nodes/node-1/status 200",
		]);
		await core.deleteNamespacedPod({ name: "patchy", namespace: "default" });
	});

	test("label and field selectors", async () => {
		const core = kc.makeApiClient(k8s.CoreV1Api);
		await core.createNamespacedPod({ namespace: "default", body: pod("sel-a", { tier: "a" }, "node-1") });
		await core.createNamespacedPod({ namespace: "default", body: pod("sel-b", { tier: "b" }, "node-2") });
		await core.patchNamespacedPodStatus(
			{ name: "sel-b", namespace: "default", body: { status: { phase: "Failed" } } },
			merge,
		);
		const byNode = await core.listPodForAllNamespaces({
			fieldSelector: "spec.nodeName=node-1,status.phase!=Succeeded,status.phase!=Failed",
			resourceVersion: "0",
		});
		expect(byNode.items.map((p) => p.metadata?.name)).toEqual(["sel-a"]);
		const byLabel = await core.listNamespacedPod({
			namespace: "default",
			labelSelector: "tier in (a,b),tier!=a",
		});
		expect(byLabel.items.map((p) => p.metadata?.name)).toEqual(["sel-b"]);
		const bad = await apiError(
			core.listNamespacedPod({ namespace: "default", fieldSelector: "spec.image=x" }),
		);
		expect([bad.code, bad.body.message]).toEqual([400, "field label not supported: spec.image"]);
		await core.deleteCollectionNamespacedPod({ namespace: "default", labelSelector: "tier" });
		expect((await core.listNamespacedPod({ namespace: "default", labelSelector: "tier" })).items).toEqual([]);
	});

	test("informer sees adds, updates and deletes; a gone fault makes it relist and converge", async () => {
		const core = kc.makeApiClient(k8s.CoreV1Api);
		const path = "/api/v1/namespaces/informed/pods";
		await core.createNamespace({ body: { metadata: { name: "informed" } } });
		const informer = k8s.makeInformer(kc, path, () => core.listNamespacedPod({ namespace: "informed" }));
		const seen: string[] = [];
		const errors: unknown[] = [];
		informer.on("add", (p) => seen.push(`add ${p.metadata?.name}`));
		informer.on("update", (p) => seen.push(`update ${p.metadata?.name} ${p.metadata?.labels?.v ?? ""}`));
		informer.on("delete", (p) => seen.push(`delete ${p.metadata?.name}`));
		informer.on("error", (e) => errors.push(e));
		const watches = () =>
			log.since(0, (e) => e.what === `GET ${path}` && String(e.detail?.query).includes("watch=true"));
		const lists = () =>
			log.since(0, (e) => e.what === `GET ${path}` && !String(e.detail?.query ?? "").includes("watch"));
		await informer.start();
		await until(() => watches().length === 1, "the informer's watch");
		await core.createNamespacedPod({ namespace: "informed", body: pod("i1") });
		await until(() => seen.includes("add i1"), "add i1");
		await core.patchNamespacedPod(
			{ name: "i1", namespace: "informed", body: { metadata: { labels: { v: "2" } } } },
			merge,
		);
		await until(() => seen.includes("update i1 2"), "update i1");
		await core.deleteNamespacedPod({ name: "i1", namespace: "informed" });
		await until(() => seen.includes("delete i1"), "delete i1");
		expect(lists()).toHaveLength(1);

		// Next pods request drops the open watches; the informer's re-watch gets 410 and it relists.
		faults.add({
			id: "drop",
			match: { face: "kube", action: "pods" },
			effect: { kind: "watchDrop" },
			times: 1,
		});
		faults.add({ id: "gone", match: { face: "kube", action: "pods" }, effect: { kind: "gone" }, times: 1 });
		await core.createNamespacedPod({ namespace: "informed", body: pod("i2") });
		await until(() => lists().length === 2, "the relist after 410");
		await until(() => seen.includes("add i2"), "add i2 after the relist");
		expect(log.since(0, (e) => e.fault === "gone").map((e) => `${e.what} ${e.status}`)).toEqual([
			`GET ${path} 200`,
		]);
		expect(informer.list("informed").map((p) => p.metadata?.name)).toEqual(["i2"]);
		await core.createNamespacedPod({ namespace: "informed", body: pod("i3") });
		await until(() => seen.includes("add i3"), "add i3 on the new watch");
		expect(errors).toEqual([]);
		await informer.stop();
		expect(faults.list()).toEqual([]);
	}, 15_000);

	test("graceful deletion: a bound pod keeps deletionTimestamp until a grace-0 DELETE; the informer sees MODIFIED then DELETED", async () => {
		const core = kc.makeApiClient(k8s.CoreV1Api);
		const informer = k8s.makeInformer(
			kc,
			"/api/v1/namespaces/default/pods",
			() => core.listNamespacedPod({ namespace: "default", labelSelector: "grace=1" }),
			"grace=1",
		);
		const seen: string[] = [];
		const state = (p: k8s.V1Pod) =>
			p.metadata?.deletionTimestamp ? `terminating ${p.metadata.deletionGracePeriodSeconds}` : "live";
		informer.on("add", (p) => seen.push(`ADDED ${state(p)}`));
		informer.on("update", (p) => seen.push(`MODIFIED ${state(p)}`));
		informer.on("delete", (p) => seen.push(`DELETED ${state(p)}`));
		await informer.start();
		// node-2 has no kubelet in this file: only the test's own grace-0 DELETE finishes it
		const body = pod("graceful", { grace: "1" }, "node-2");
		body.spec!.terminationGracePeriodSeconds = 20;
		await core.createNamespacedPod({ namespace: "default", body });
		await until(() => seen.length === 1, "ADDED");
		const marked = await core.deleteNamespacedPod({ name: "graceful", namespace: "default" });
		expect([
			marked.metadata?.deletionTimestamp instanceof Date,
			marked.metadata?.deletionGracePeriodSeconds,
		]).toEqual([true, 20]);
		const read = await core.readNamespacedPod({ name: "graceful", namespace: "default" });
		expect([read.metadata?.deletionGracePeriodSeconds, read.status?.phase]).toEqual([20, "Pending"]);
		await until(() => seen.length === 2, "MODIFIED");
		// what kubelet sends once the sandbox is gone
		await core.deleteNamespacedPod({
			name: "graceful",
			namespace: "default",
			gracePeriodSeconds: 0,
			body: { preconditions: { uid: read.metadata?.uid } },
		});
		await until(() => seen.length === 3, "DELETED");
		expect(seen).toEqual(["ADDED live", "MODIFIED terminating 20", "DELETED terminating 0"]);
		const gone = await apiError(core.readNamespacedPod({ name: "graceful", namespace: "default" }));
		expect(gone.code).toBe(404);
		await informer.stop();
	});

	test("as=Table: a list, one object, and a watch whose first event carries the columns", async () => {
		const accept =
			"application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
		type Table = {
			kind: string;
			apiVersion: string;
			columnDefinitions: { name: string; priority: number }[];
			rows: { cells: unknown[]; object: { kind: string; metadata: { name: string } } }[];
		};
		const get = async (path: string) => {
			const r = await fetch(`${http.url}${path}`, { headers: { accept } });
			return { type: r.headers.get("content-type"), body: (await r.json()) as Table };
		};
		const list = await get("/api/v1/namespaces/kube-system/configmaps?labelSelector=!nope&limit=500");
		expect(list.type).toBe("application/json;as=Table;v=v1;g=meta.k8s.io");
		expect([list.body.kind, list.body.apiVersion]).toEqual(["Table", "meta.k8s.io/v1"]);
		expect(list.body.columnDefinitions.map((c) => c.name)).toEqual(["Name", "Data", "Age"]);
		expect(list.body.rows.map((r) => [r.cells[0], r.cells[1], r.object.kind])).toEqual([
			["eni-config", 1, "PartialObjectMetadata"],
		]);
		const none = await get("/api/v1/namespaces/kube-system/configmaps?labelSelector=nope");
		expect(none.body.rows).toEqual([]);
		const one = await get("/api/v1/nodes/node-1?includeObject=Object");
		expect(one.body.rows.map((r) => [r.cells.slice(0, 3), r.cells[4], r.object.kind])).toEqual([
			[["node-1", "Ready", "<none>"], "v1.32.4", "Node"],
		]);
		const ctl = new AbortController();
		const w = await fetch(`${http.url}/api/v1/nodes?watch=true`, { headers: { accept }, signal: ctl.signal });
		const reader = w.body!.getReader();
		let text = "";
		while (!text.includes("}\n")) text += new TextDecoder().decode((await reader.read()).value);
		ctl.abort();
		const first = JSON.parse(text.trim().split("\n")[0]!) as { type: string; object: Table };
		expect([
			first.type,
			first.object.kind,
			first.object.columnDefinitions.length,
			first.object.rows[0]?.cells[0],
		]).toEqual(["ADDED", "Table", 10, "node-1"]);
	});

	test("raw watch: bookmarks when asked, ERROR 410 for a compacted resourceVersion", async () => {
		const watch = new k8s.Watch(kc);
		const events: string[] = [];
		const req = await watch.watch(
			"/api/v1/namespaces/kube-system/configmaps",
			{ allowWatchBookmarks: true },
			(type, obj) => events.push(`${type} ${obj.metadata?.name ?? obj.metadata?.resourceVersion}`),
			() => {},
		);
		await until(() => events.length === 2, "ADDED + BOOKMARK");
		expect(events[0]).toBe("ADDED eni-config");
		expect(events[1]).toMatch(/^BOOKMARK \d+$/);
		req.abort();
		const old = String(kube.store.resourceVersion - 1);
		kube.store.compact();
		let ended: unknown = "open";
		const errs: { code?: number }[] = [];
		await watch.watch(
			"/api/v1/pods",
			{ resourceVersion: old },
			(type, obj) => type === "ERROR" && errs.push(obj),
			(err) => {
				ended = err;
			},
		);
		await until(() => ended !== "open", "the watch to end");
		expect(errs.map((e) => e.code)).toEqual([410]);
	});

	test("CRD registration, then CustomObjectsApi CRUD; strategic merge is 415 on custom resources", async () => {
		const ext = kc.makeApiClient(k8s.ApiextensionsV1Api);
		await ext.createCustomResourceDefinition({
			body: {
				metadata: { name: "widgets.example.com" },
				spec: {
					group: "example.com",
					scope: "Namespaced",
					names: { plural: "widgets", singular: "widget", kind: "Widget", listKind: "WidgetList" },
					versions: [
						{
							name: "v1",
							served: true,
							storage: true,
							subresources: { status: {} },
							schema: { openAPIV3Schema: { type: "object", x_kubernetes_preserve_unknown_fields: true } },
						},
					],
				},
			},
		});
		const res = (await (await fetch(`${http.url}/apis/example.com/v1`)).json()) as {
			resources: { name: string; namespaced: boolean }[];
		};
		expect(res.resources.map((r) => `${r.name}:${r.namespaced}`)).toEqual([
			"widgets:true",
			"widgets/status:true",
		]);
		const co = kc.makeApiClient(k8s.CustomObjectsApi);
		const base = { group: "example.com", version: "v1", namespace: "default", plural: "widgets" };
		const w = (await co.createNamespacedCustomObject({
			...base,
			body: {
				apiVersion: "example.com/v1",
				kind: "Widget",
				metadata: { name: "w1" },
				spec: { size: 1 },
				status: { ok: true },
			},
		})) as KubeObject;
		expect([w.metadata.generation, w.status]).toEqual([1, undefined]);
		const p = (await co.patchNamespacedCustomObject(
			{ ...base, name: "w1", body: { spec: { size: 2 }, status: { ok: false } } },
			merge,
		)) as KubeObject;
		expect([p.metadata.generation, p.spec, p.status]).toEqual([2, { size: 2 }, undefined]);
		const s = (await co.patchNamespacedCustomObjectStatus(
			{ ...base, name: "w1", body: { status: { ok: true } } },
			merge,
		)) as KubeObject;
		expect([s.metadata.generation, s.status]).toEqual([2, { ok: true }]);
		const e = await apiError(
			co.patchNamespacedCustomObject({ ...base, name: "w1", body: { spec: { size: 3 } } }, strategic),
		);
		expect([e.code, e.body.reason]).toEqual([415, "UnsupportedMediaType"]);
		const list = (await co.listNamespacedCustomObject(base)) as { items: KubeObject[] };
		expect(list.items.map((i) => i.metadata.name)).toEqual(["w1"]);
		await co.deleteNamespacedCustomObject({ ...base, name: "w1" });
		// Terway's CRDs are preregistered: a cluster-scoped Node CR with status.
		const node = (await co.createClusterCustomObject({
			group: "network.alibabacloud.com",
			version: "v1beta1",
			plural: "nodes",
			body: {
				apiVersion: "network.alibabacloud.com/v1beta1",
				kind: "Node",
				metadata: { name: "node-1" },
				spec: {},
			},
		})) as KubeObject;
		expect(node.metadata.namespace).toBeUndefined();
	});

	test("faults: throttle (429), error (Status with that code), request log", async () => {
		const core = kc.makeApiClient(k8s.CoreV1Api);
		faults.add({
			id: "slow",
			match: { face: "kube", action: "configmaps" },
			effect: { kind: "throttle", retryAfterMs: 2000 },
			times: 1,
		});
		const t = await apiError(core.listNamespacedConfigMap({ namespace: "default" }));
		expect([t.code, t.body.reason]).toEqual([429, "TooManyRequests"]);
		faults.add({
			id: "boom",
			match: { face: "kube", action: "nodes" },
			effect: { kind: "error", code: "InternalError", status: 500, message: "etcd is down" },
			times: 1,
		});
		const b = await apiError(core.readNode({ name: "node-1" }));
		expect([b.code, b.body.reason, b.body.message]).toEqual([500, "InternalError", "etcd is down"]);
		expect((await core.readNode({ name: "node-1" })).metadata?.name).toBe("node-1");
		const faulted = log.since(0, (e) => e.fault === "slow" || e.fault === "boom");
		expect(faulted.map((e) => `${e.face} ${e.what} ${e.status}`)).toEqual([
			"kube GET /api/v1/namespaces/default/configmaps 429",
			"kube GET /api/v1/nodes/node-1 500",
		]);
	});
});

describe("client-node over HTTPS (child process)", () => {
	// Under Bun, client-node ignores the kubeconfig CA (cloud-sim.md §4.3); NODE_EXTRA_CA_CERTS works.
	const script = `
import * as k8s from "@kubernetes/client-node";
const kc = new k8s.KubeConfig();
kc.loadFromFile(process.argv[2]);
try {
	const ns = await kc.makeApiClient(k8s.CoreV1Api).listNamespace();
	console.log("OK " + ns.items.map((n) => n.metadata.name).join(","));
} catch (e) {
	console.log("FAIL " + (e.code ?? e.message));
}`;

	async function run(env: Record<string, string>): Promise<string> {
		const file = join(ROOT, `tests/sim/.kube-https-probe-${process.pid}.ts`);
		writeFileSync(file, script);
		const config = kube.writeKubeconfig(join(dir, "https.kubeconfig"), https);
		try {
			const p = Bun.spawn([process.execPath, file, config], {
				cwd: ROOT,
				env: { ...process.env, ...env },
				stdout: "pipe",
				stderr: "pipe",
			});
			const out = await new Response(p.stdout).text();
			await p.exited;
			return out.trim();
		} finally {
			rmSync(file, { force: true });
		}
	}

	test("with NODE_EXTRA_CA_CERTS the generated CA is trusted", async () => {
		const ca = join(dir, "ca.pem");
		writeFileSync(ca, https.tls.caCert);
		expect(await run({ NODE_EXTRA_CA_CERTS: ca })).toBe(
			"OK default,informed,kube-node-lease,kube-public,kube-system",
		);
	});

	test("without it the kubeconfig CA alone is not used (documented client-node/Bun limitation)", async () => {
		expect(await run({ NODE_EXTRA_CA_CERTS: "" })).toStartWith("FAIL");
	});
});

describe.skipIf(!KUBECTL)("kubectl over HTTPS", () => {
	let config: string;
	beforeAll(() => {
		config = kube.writeKubeconfig(join(dir, "kubectl.kubeconfig"), https);
	});

	async function kubectl(...args: string[]): Promise<{ code: number; out: string; err: string }> {
		const p = Bun.spawn([KUBECTL!, "--kubeconfig", config, "--cache-dir", join(dir, "cache"), ...args], {
			env: { ...process.env, HOME: dir, KUBECONFIG: config },
			stdout: "pipe",
			stderr: "pipe",
		});
		const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
		return { code: await p.exited, out, err };
	}

	test("get nodes: STATUS, ROLES, VERSION from the server's Table; -o wide adds the priority-1 columns", async () => {
		const r = await kubectl("get", "nodes");
		expect(r.err).toBe("");
		expect(r.out).toMatch(
			/^NAME\s+STATUS\s+ROLES\s+AGE\s+VERSION\nnode-1\s+Ready\s+<none>\s+\d+[smhdy]\S*\s+v1\.32\.4\n$/,
		);
		const w = await kubectl("get", "nodes", "-o", "wide");
		expect(w.out).toMatch(
			/^NAME\s+STATUS\s+ROLES\s+AGE\s+VERSION\s+INTERNAL-IP\s+EXTERNAL-IP\s+OS-IMAGE\s+KERNEL-VERSION\s+CONTAINER-RUNTIME\nnode-1\s+Ready\s+<none>\s+\S+\s+v1\.32\.4\s+<none>\s+<none>\s+<unknown>\s+<unknown>\s+<unknown>\n$/,
		);
	});

	test("get pods -o wide (IP, NODE), get cm (DATA), get ns; a terminating pod, then a force delete", async () => {
		const core = kc.makeApiClient(k8s.CoreV1Api);
		await core.createNamespacedPod({ namespace: "default", body: pod("wide", { app: "wide" }) });
		await core.patchNamespacedPodStatus(
			{
				name: "wide",
				namespace: "default",
				body: {
					status: {
						phase: "Running",
						podIP: "10.0.0.7",
						podIPs: [{ ip: "10.0.0.7" }],
						containerStatuses: [
							{
								name: "c",
								image: "busybox",
								imageID: "",
								ready: true,
								restartCount: 0,
								state: { running: {} },
							},
						],
					},
				},
			},
			merge,
		);
		const one = await kubectl("get", "pod", "wide", "-o", "wide");
		expect(one.err).toBe("");
		expect(one.out).toMatch(
			/^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\s+IP\s+NODE\s+NOMINATED NODE\s+READINESS GATES\nwide\s+1\/1\s+Running\s+0\s+\S+\s+10\.0\.0\.7\s+node-1\s+<none>\s+<none>\n$/,
		);
		const all = await kubectl("get", "pods", "-o", "wide", "-l", "app=wide");
		expect(all.out).toBe(one.out);
		const cm = await kubectl("get", "cm", "-n", "kube-system");
		expect(cm.out).toMatch(/^NAME\s+DATA\s+AGE\neni-config\s+1\s+\S+\n$/);
		const ns = await kubectl("get", "ns", "kube-system", "default");
		expect(ns.out).toMatch(/^NAME\s+STATUS\s+AGE\nkube-system\s+Active\s+\S+\ndefault\s+Active\s+\S+\n$/);

		// node-2 has no kubelet here: the pod stays Terminating until forced
		await core.createNamespacedPod({ namespace: "default", body: pod("term", {}, "node-2") });
		await core.deleteNamespacedPod({ name: "term", namespace: "default" });
		const t = await kubectl("get", "pod", "term");
		expect(t.out).toMatch(/^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\nterm\s+0\/1\s+Terminating\s+0\s+\S+\n$/);
		const f = await kubectl("delete", "pod", "term", "--grace-period=0", "--force");
		expect([f.code, f.out]).toEqual([0, 'pod "term" force deleted\n']);
		expect((await kubectl("get", "pod", "term")).err).toBe(
			'Error from server (NotFound): pods "term" not found\n',
		);
		const d = await kubectl("delete", "pod", "wide"); // node-1's kubelet finishes it
		expect([d.code, d.out]).toEqual([0, 'pod "wide" deleted\n']);
	});

	test("apply -f, patch (strategic and merge), get -A -o json, delete, get networkpolicies", async () => {
		const manifest = join(dir, "m.yaml");
		writeFileSync(
			manifest,
			`apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: default
  labels: {app: web}
spec:
  nodeName: node-1
  containers:
  - name: c
    image: busybox
    env: [{name: A, value: "1"}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny, namespace: default}
spec:
  podSelector: {}
  policyTypes: [Ingress]
---
apiVersion: network.alibabacloud.com/v1beta1
kind: PodENI
metadata: {name: web, namespace: default}
spec: {allocations: []}
`,
		);
		const a = await kubectl("apply", "-f", manifest);
		expect([a.code, a.out, a.err]).toEqual([
			0,
			"pod/web created\nnetworkpolicy.networking.k8s.io/deny created\npodeni.network.alibabacloud.com/web created\n",
			"",
		]);
		const again = await kubectl("apply", "-f", manifest);
		expect(again.out).toBe(
			"pod/web unchanged\nnetworkpolicy.networking.k8s.io/deny unchanged\npodeni.network.alibabacloud.com/web unchanged\n",
		);
		const sp = await kubectl(
			"patch",
			"pod",
			"web",
			"-p",
			'{"spec":{"containers":[{"name":"c","env":[{"name":"B","value":"2"}]}]}}',
		);
		expect([sp.code, sp.out]).toEqual([0, "pod/web patched\n"]);
		const mp = await kubectl(
			"patch",
			"pod",
			"web",
			"--type",
			"merge",
			"-p",
			'{"metadata":{"labels":{"extra":"yes"}}}',
		);
		expect([mp.code, mp.out]).toEqual([0, "pod/web patched\n"]);
		const list = JSON.parse((await kubectl("get", "pods", "-A", "-o", "json")).out) as {
			items: KubeObject[];
		};
		const web = list.items.find((p) => p.metadata.name === "web")!;
		expect(web.metadata.labels).toEqual({ app: "web", extra: "yes" });
		expect((web.spec as { containers: { env: unknown }[] }).containers[0]!.env).toEqual([
			{ name: "A", value: "1" },
			{ name: "B", value: "2" },
		]);
		const np = await kubectl("get", "networkpolicies");
		expect(np.out).toMatch(/^NAME\s+POD-SELECTOR\s+AGE\ndeny\s+<none>\s+\S+\n$/);
		const eni = await kubectl("get", "podenis");
		expect(eni.out).toMatch(/^NAME\s+AGE\nweb\s+\S+\n$/);
		const d = await kubectl("delete", "-f", manifest);
		expect([d.code, d.out]).toEqual([
			0,
			'pod "web" deleted\nnetworkpolicy.networking.k8s.io "deny" deleted\npodeni.network.alibabacloud.com "web" deleted\n',
		]);
		expect((await kubectl("get", "pods", "web")).err).toBe(
			'Error from server (NotFound): pods "web" not found\n',
		);
	});
});
