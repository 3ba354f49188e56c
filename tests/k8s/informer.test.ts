/**
 * The informer (src/k8s/watch.ts) against the sim's kube-apiserver on 127.0.0.1:0: initial
 * list, add/update/delete, 410 (a `gone` fault and a compaction) → relist with synthetic
 * events, and an apiserver restart on the same port → reconnect and converge.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KubeClient, loadKubeconfigFile } from "../../src/k8s/client.ts";
import { Informer, type KubeObjectLike } from "../../src/k8s/watch.ts";
import { FaultEngine } from "../../src/sim/faults.ts";
import { KubeApiServer, type Listener } from "../../src/sim/kube/index.ts";
import { RequestLog } from "../../src/sim/request-log.ts";

type Pod = KubeObjectLike & {
	metadata: { name: string; namespace: string; labels?: Record<string, string> };
};

let kube: KubeApiServer;
let http: Listener;
let client: KubeClient;
let dir: string;
const faults = new FaultEngine(1);
const log = new RequestLog();

beforeAll(() => {
	dir = mkdtempSync(join(tmpdir(), "terway-k8s-informer-"));
	kube = new KubeApiServer({ faults, log });
	http = kube.listen();
	client = new KubeClient(loadKubeconfigFile(kube.writeKubeconfig(join(dir, "kubeconfig"), http)));
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

const pods = (ns: string) => ({ apiVersion: "v1", resource: "pods", namespace: ns });
function pod(ns: string, name: string, nodeName = "node-1", labels: Record<string, string> = {}) {
	return {
		apiVersion: "v1",
		kind: "Pod",
		metadata: { name, namespace: ns, labels },
		spec: { nodeName, containers: [{ name: "c", image: "i" }] },
	};
}
function del(ns: string, name: string) {
	kube.store.delete({ ...pods(ns), name }, { gracePeriodSeconds: 0 });
}

function recorder() {
	const seen: string[] = [];
	const errors: Error[] = [];
	return {
		seen,
		errors,
		handlers: {
			add: (p: Pod) => void seen.push(`add ${p.metadata.name}`),
			update: (p: Pod, old: Pod) =>
				void seen.push(
					`update ${p.metadata.name} ${old.metadata.labels?.v ?? ""}->${p.metadata.labels?.v ?? ""}`,
				),
			delete: (p: Pod, i: { synthetic: boolean }) =>
				void seen.push(`delete ${p.metadata.name}${i.synthetic ? " (relist)" : ""}`),
			error: (e: Error) => void errors.push(e),
		},
	};
}

function ns(name: string) {
	kube.store.create(
		{ apiVersion: "v1", resource: "namespaces" },
		{ apiVersion: "v1", kind: "Namespace", metadata: { name } },
	);
}

const fast = { initialMs: 20, maxMs: 200 };

describe("informer on the sim apiserver", () => {
	test("initial list, then adds, updates and deletes in order; stop() ends it", async () => {
		ns("ns1");
		kube.store.create(pods("ns1"), pod("ns1", "a"));
		const r = recorder();
		const inf = new Informer<Pod>(client, {
			path: "/api/v1/namespaces/ns1/pods",
			...r.handlers,
			backoff: fast,
		}).start();
		await inf.synced;
		expect(inf.hasSynced).toBe(true);
		expect(r.seen).toEqual(["add a"]);
		kube.store.create(pods("ns1"), pod("ns1", "b"));
		kube.store.patch({ ...pods("ns1"), name: "a" }, "merge", { metadata: { labels: { v: "2" } } });
		del("ns1", "b");
		await until(() => r.seen.length === 4, "the three watch events");
		expect(r.seen).toEqual(["add a", "add b", "update a ->2", "delete b"]);
		expect(inf.list().map((p) => p.metadata.name)).toEqual(["a"]);
		expect(inf.get("ns1/a")?.metadata.labels).toEqual({ v: "2" });
		expect(inf.resourceVersion).toBe(String(kube.store.resourceVersion));
		await inf.stop();
		kube.store.create(pods("ns1"), pod("ns1", "after-stop"));
		await Bun.sleep(50);
		expect(r.seen).toHaveLength(4);
		expect(r.errors).toEqual([]);
		expect([inf.stats.lists, inf.stats.relists, inf.stats.errors]).toEqual([1, 0, 0]);
	});

	test("label and field selectors reach the server; the watch sends allowWatchBookmarks", async () => {
		ns("ns2");
		kube.store.create(pods("ns2"), pod("ns2", "on1", "node-1", { app: "x" }));
		kube.store.create(pods("ns2"), pod("ns2", "on2", "node-2", { app: "x" }));
		kube.store.create(pods("ns2"), pod("ns2", "on1-other", "node-1", { app: "y" }));
		const r = recorder();
		const seq = log.lastSeq;
		const inf = new Informer<Pod>(client, {
			path: "/api/v1/pods",
			labelSelector: "app=x",
			fieldSelector: "spec.nodeName=node-1",
			...r.handlers,
			backoff: fast,
		}).start();
		await inf.synced;
		expect(r.seen).toEqual(["add on1"]);
		kube.store.create(pods("ns2"), pod("ns2", "on1-late", "node-1", { app: "x" }));
		kube.store.create(pods("ns2"), pod("ns2", "on2-late", "node-2", { app: "x" }));
		// a MODIFIED that stops matching reaches this watcher as DELETED
		kube.store.patch({ ...pods("ns2"), name: "on1" }, "merge", { metadata: { labels: { app: "z" } } });
		await until(() => r.seen.length === 3, "events for node-1 app=x");
		expect(r.seen).toEqual(["add on1", "add on1-late", "delete on1"]);
		const watch = log.since(seq, (e) => String(e.detail?.query ?? "").includes("watch=true"))[0];
		const q = new URLSearchParams(String(watch?.detail?.query));
		expect([q.get("allowWatchBookmarks"), q.get("labelSelector"), q.get("fieldSelector")]).toEqual([
			"true",
			"app=x",
			"spec.nodeName=node-1",
		]);
		await inf.stop();
		expect(r.errors).toEqual([]);
	});

	test("a gone fault: the re-watch gets 410, the informer relists and synthesizes the events it missed", async () => {
		ns("ns3");
		kube.store.create(pods("ns3"), pod("ns3", "keep"));
		kube.store.create(pods("ns3"), pod("ns3", "doomed"));
		const r = recorder();
		const path = "/api/v1/namespaces/ns3/pods";
		const inf = new Informer<Pod>(client, { path, ...r.handlers, backoff: fast }).start();
		await inf.synced;
		// The next pods request (this DELETE) drops the open watches before it is applied, and the
		// re-watch is answered with an ERROR 410 event: the DELETED event is never streamed.
		faults.add({
			id: "drop3",
			match: { face: "kube", action: "pods" },
			effect: { kind: "watchDrop" },
			times: 1,
		});
		faults.add({ id: "gone3", match: { face: "kube", action: "pods" }, effect: { kind: "gone" }, times: 1 });
		const res = await client.fetch(`${path}/doomed`, {
			method: "DELETE",
			body: JSON.stringify({ gracePeriodSeconds: 0 }),
			headers: { "Content-Type": "application/json" },
		});
		expect(res.status).toBe(200);
		await until(() => r.seen.length === 3, "the relist's synthetic delete");
		// the list comes sorted by name, as the apiserver returns it
		expect(r.seen).toEqual(["add doomed", "add keep", "delete doomed (relist)"]);
		expect(inf.stats.relists).toBe(1);
		expect(inf.stats.lists).toBe(2);
		expect(log.since(0, (e) => e.fault === "gone3").length).toBe(1);
		expect(faults.list()).toEqual([]);
		// and it keeps watching after the relist
		kube.store.create(pods("ns3"), pod("ns3", "later"));
		await until(() => r.seen.includes("add later"), "add on the new watch");
		await inf.stop();
		expect(r.errors).toEqual([]);
	});

	test("apiserver restart on the same port with a compaction in between: reconnect, 410, relist converges", async () => {
		ns("ns4");
		kube.store.create(pods("ns4"), pod("ns4", "a"));
		kube.store.create(pods("ns4"), pod("ns4", "b"));
		const r = recorder();
		const inf = new Informer<Pod>(client, {
			path: "/api/v1/namespaces/ns4/pods",
			...r.handlers,
			backoff: fast,
		}).start();
		await inf.synced;
		const port = http.port;
		await http.stop();
		kube.handler.closeWatches();
		// while it is down: b goes, c comes, a changes, and the history is compacted
		del("ns4", "b");
		kube.store.create(pods("ns4"), pod("ns4", "c"));
		kube.store.patch({ ...pods("ns4"), name: "a" }, "merge", { metadata: { labels: { v: "3" } } });
		kube.store.compact();
		await until(() => inf.stats.errors >= 2, "reconnect attempts against the stopped server");
		http = kube.listen({ port });
		await until(() => r.seen.length === 5, "convergence after the restart");
		expect(r.seen).toEqual(["add a", "add b", "delete b (relist)", "update a ->3", "add c"]);
		expect(inf.stats.relists).toBe(1);
		expect(
			inf
				.list()
				.map((p) => p.metadata.name)
				.sort(),
		).toEqual(["a", "c"]);
		expect(r.errors.length).toBe(inf.stats.errors);
		await inf.stop();
	});

	test("a fresh apiserver on the same port and store: the watch resumes from its resourceVersion without a relist", async () => {
		ns("ns5");
		kube.store.create(pods("ns5"), pod("ns5", "a"));
		const r = recorder();
		const inf = new Informer<Pod>(client, {
			path: "/api/v1/namespaces/ns5/pods",
			...r.handlers,
			backoff: fast,
		}).start();
		await inf.synced;
		const port = http.port;
		await kube.close();
		kube.store.create(pods("ns5"), pod("ns5", "while-down"));
		await until(() => inf.stats.errors >= 1, "a failed reconnect");
		kube = new KubeApiServer({ store: kube.store, faults, log, terwayCrds: false });
		http = kube.listen({ port });
		await until(() => r.seen.includes("add while-down"), "the event replayed after the restart");
		kube.store.create(pods("ns5"), pod("ns5", "after"));
		await until(() => r.seen.includes("add after"), "a live event after the restart");
		expect(r.seen).toEqual(["add a", "add while-down", "add after"]);
		expect([inf.stats.lists, inf.stats.relists]).toEqual([1, 0]);
		await inf.stop();
	});

	test("5xx on the list is retried with backoff until it succeeds", async () => {
		ns("ns6");
		kube.store.create(pods("ns6"), pod("ns6", "a"));
		faults.add({
			id: "err6",
			match: { face: "kube", action: "pods" },
			effect: { kind: "error", status: 503, code: "ServiceUnavailable" },
			times: 2,
		});
		const r = recorder();
		const inf = new Informer<Pod>(client, {
			path: "/api/v1/namespaces/ns6/pods",
			...r.handlers,
			backoff: fast,
		}).start();
		await inf.synced;
		expect(r.seen).toEqual(["add a"]);
		expect(r.errors.map((e) => (e as { code?: number }).code)).toEqual([503, 503]);
		expect(inf.stats.lists).toBe(3);
		await inf.stop();
	});
});
