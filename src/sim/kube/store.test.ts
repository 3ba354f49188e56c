import { describe, expect, test } from "bun:test";
import type { KubeObject } from "../contracts.ts";
import { TERWAY_CRDS } from "./crds/index.ts";
import { isKubeApiError, type KubeApiError } from "./errors.ts";
import { KubeStore, type WatchEvent } from "./store.ts";

const pods = { apiVersion: "v1", resource: "pods", namespace: "default" };
const nodes = { apiVersion: "v1", resource: "nodes" };

function pod(name: string, extra: Partial<KubeObject> = {}): KubeObject {
	return {
		apiVersion: "v1",
		kind: "Pod",
		metadata: { name, labels: { app: name } },
		spec: { nodeName: "n1", containers: [{ name: "c", image: "busybox" }] },
		...extra,
	};
}

function fails(fn: () => unknown): KubeApiError {
	try {
		fn();
	} catch (e) {
		if (isKubeApiError(e)) return e;
		throw e;
	}
	throw new Error("expected a KubeApiError");
}

const fixedNow = () => new Date("2025-03-01T12:00:00.123Z");

describe("KubeStore writes", () => {
	test("create sets uid, creationTimestamp, resourceVersion; pods start Pending; AlreadyExists", () => {
		const s = new KubeStore({ now: fixedNow });
		const rv0 = s.resourceVersion;
		const p = s.create(pods, pod("a", { status: { phase: "Running" } }));
		expect(p.metadata.uid).toMatch(/^[0-9a-f-]{36}$/);
		expect(p.metadata.creationTimestamp).toBe("2025-03-01T12:00:00Z");
		expect(p.metadata.resourceVersion).toBe(String(rv0 + 1));
		expect(p.metadata.namespace).toBe("default");
		expect(p.status).toEqual({ phase: "Pending" });
		const e = fails(() => s.create(pods, pod("a")));
		expect([e.code, e.reason, e.message]).toEqual([409, "AlreadyExists", 'pods "a" already exists']);
	});

	test("generateName, name validation, namespace must exist, kind must match", () => {
		const s = new KubeStore();
		const p = s.create(pods, { apiVersion: "v1", kind: "Pod", metadata: { name: "", generateName: "web-" } });
		expect(p.metadata.name).toMatch(/^web-[a-z0-9]{5}$/);
		expect(fails(() => s.create(pods, pod("Bad_Name"))).code).toBe(422);
		const ns = fails(() => s.create({ ...pods, namespace: "nope" }, pod("x")));
		expect([ns.code, ns.message]).toEqual([404, 'namespaces "nope" not found']);
		expect(fails(() => s.create(pods, { ...pod("y"), kind: "Node" })).code).toBe(400);
	});

	test("get and NotFound", () => {
		const s = new KubeStore();
		const e = fails(() => s.get({ ...pods, name: "zzz" }));
		expect(e.toStatus()).toEqual({
			kind: "Status",
			apiVersion: "v1",
			metadata: {},
			status: "Failure",
			message: 'pods "zzz" not found',
			reason: "NotFound",
			details: { name: "zzz", kind: "pods" },
			code: 404,
		});
	});

	test("update: optimistic concurrency and no-op writes keep the RV", () => {
		const s = new KubeStore();
		const p = s.create(pods, pod("a"));
		const u = s.update(pods, { ...p, metadata: { ...p.metadata, labels: { app: "b" } } });
		expect(Number(u.metadata.resourceVersion)).toBeGreaterThan(Number(p.metadata.resourceVersion));
		const stale = fails(() => s.update(pods, { ...p, metadata: { ...p.metadata, labels: { app: "c" } } }));
		expect([stale.code, stale.reason]).toEqual([409, "Conflict"]);
		expect(stale.message).toContain("the object has been modified");
		const same = s.update(pods, u);
		expect(same.metadata.resourceVersion).toBe(u.metadata.resourceVersion);
	});

	test("status subresource: main writes keep status, /status writes change only status", () => {
		const s = new KubeStore();
		s.create(pods, pod("a"));
		const st = s.patch(
			{ ...pods, name: "a" },
			"merge",
			{ status: { phase: "Running", podIP: "10.0.0.5" }, spec: { nodeName: "evil" } },
			{ subresource: "status" },
		);
		expect(st.status).toEqual({ phase: "Running", podIP: "10.0.0.5" });
		expect((st.spec as { nodeName: string }).nodeName).toBe("n1");
		const main = s.patch({ ...pods, name: "a" }, "merge", {
			metadata: { labels: { x: "y" } },
			status: { phase: "Failed" },
		});
		expect(main.status).toEqual({ phase: "Running", podIP: "10.0.0.5" });
		expect(main.metadata.labels).toEqual({ app: "a", x: "y" });
	});

	test("patch: strategic on built-ins, 415 on custom resources, RV precondition", () => {
		const s = new KubeStore();
		for (const c of TERWAY_CRDS) s.registerCrd(c);
		s.upsert({
			apiVersion: "v1",
			kind: "Node",
			metadata: { name: "n1" },
			status: { conditions: [{ type: "Ready", status: "True" }] },
		});
		const n = s.patch(
			{ ...nodes, name: "n1" },
			"strategic",
			{ status: { conditions: [{ type: "SufficientIP", status: "True" }] } },
			{ subresource: "status" },
		);
		expect((n.status as { conditions: { type: string }[] }).conditions.map((c) => c.type)).toEqual([
			"Ready",
			"SufficientIP",
		]);
		const eni = { apiVersion: "network.alibabacloud.com/v1beta1", resource: "podenis", namespace: "default" };
		s.create(eni, {
			apiVersion: "network.alibabacloud.com/v1beta1",
			kind: "PodENI",
			metadata: { name: "p" },
			spec: { a: 1 },
		});
		const e = fails(() => s.patch({ ...eni, name: "p" }, "strategic", { spec: { a: 2 } }));
		expect([e.code, e.reason]).toEqual([415, "UnsupportedMediaType"]);
		const stale = fails(() =>
			s.patch({ ...eni, name: "p" }, "merge", { metadata: { resourceVersion: "1" }, spec: { a: 2 } }),
		);
		expect(stale.code).toBe(409);
	});

	test("generation bumps on spec changes only (custom resources)", () => {
		const s = new KubeStore();
		for (const c of TERWAY_CRDS) s.registerCrd(c);
		const ref = { apiVersion: "network.alibabacloud.com/v1beta1", resource: "podnetworkings" };
		const o = s.create(ref, {
			apiVersion: ref.apiVersion,
			kind: "PodNetworking",
			metadata: { name: "pn" },
			spec: { x: 1 },
			status: { s: 1 },
		});
		expect(o.metadata.generation).toBe(1);
		expect(o.status).toBeUndefined();
		const a = s.patch({ ...ref, name: "pn" }, "merge", { spec: { x: 2 }, status: { s: 2 } });
		expect([a.metadata.generation, a.status]).toEqual([2, undefined]);
		const b = s.patch({ ...ref, name: "pn" }, "merge", { metadata: { labels: { l: "v" } } });
		expect(b.metadata.generation).toBe(2);
		const c = s.patch({ ...ref, name: "pn" }, "merge", { status: { s: 3 } }, { subresource: "status" });
		expect([c.metadata.generation, c.status]).toEqual([2, { s: 3 }]);
		// custom resources need a resourceVersion on PUT
		expect(fails(() => s.update(ref, { ...c, metadata: { name: "pn" } })).code).toBe(422);
	});

	test("finalizers: delete marks, removing the last finalizer deletes", () => {
		const s = new KubeStore({ now: fixedNow });
		// not bound to a node: no grace period, so the finalizer alone holds it (graceful pods below)
		s.create(
			pods,
			pod("f", { metadata: { name: "f", finalizers: ["x/y"] }, spec: { containers: [{ name: "c" }] } }),
		);
		const marked = s.delete({ ...pods, name: "f" });
		expect(marked.metadata.deletionTimestamp).toBe("2025-03-01T12:00:00Z");
		expect(s.get({ ...pods, name: "f" }).metadata.deletionTimestamp).toBe("2025-03-01T12:00:00Z");
		expect(
			fails(() => s.patch({ ...pods, name: "f" }, "merge", { metadata: { finalizers: ["x/y", "new"] } }))
				.code,
		).toBe(422);
		s.patch({ ...pods, name: "f" }, "json", [{ op: "remove", path: "/metadata/finalizers" }]);
		expect(s.tryGet({ ...pods, name: "f" })).toBeUndefined();
	});

	test("deleting a namespace deletes its contents; deleting a CRD removes its resource", () => {
		const s = new KubeStore();
		s.create(
			{ apiVersion: "v1", resource: "namespaces" },
			{ apiVersion: "v1", kind: "Namespace", metadata: { name: "tmp" } },
		);
		s.create({ ...pods, namespace: "tmp" }, pod("a"));
		s.delete({ apiVersion: "v1", resource: "namespaces", name: "tmp" });
		expect(s.list({ ...pods, namespace: "tmp" }).items).toEqual([]);
		s.registerCrd(TERWAY_CRDS[0]!);
		expect(s.registry.find("network.alibabacloud.com", "v1beta1", "podenis")).toBeDefined();
		s.delete({
			apiVersion: "apiextensions.k8s.io/v1",
			resource: "customresourcedefinitions",
			name: "podenis.network.alibabacloud.com",
		});
		expect(s.registry.find("network.alibabacloud.com", "v1beta1", "podenis")).toBeUndefined();
		expect(
			fails(() => s.list({ apiVersion: "network.alibabacloud.com/v1beta1", resource: "podenis" })).code,
		).toBe(404);
	});
});

describe("KubeStore lists", () => {
	const s = new KubeStore();
	for (const [i, n] of ["b", "a", "c", "d"].entries()) {
		s.create(pods, pod(n, { spec: { nodeName: i % 2 ? "n2" : "n1" } }));
	}
	s.create({ ...pods, namespace: "kube-system" }, pod("k"));
	s.patch({ ...pods, name: "d" }, "merge", { status: { phase: "Succeeded" } }, { subresource: "status" });

	test("all namespaces, sorted by namespace/name", () => {
		const all = s.list({ apiVersion: "v1", resource: "pods" });
		expect(all.kind).toBe("PodList");
		expect(all.items.map((p) => `${p.metadata.namespace}/${p.metadata.name}`)).toEqual([
			"default/a",
			"default/b",
			"default/c",
			"default/d",
			"kube-system/k",
		]);
		expect(all.metadata.resourceVersion).toBe(String(s.resourceVersion));
	});

	test("field and label selectors", () => {
		const names = (o: Parameters<KubeStore["list"]>[1]) => s.list(pods, o).items.map((p) => p.metadata.name);
		expect(names({ fieldSelector: "spec.nodeName=n1,status.phase!=Succeeded,status.phase!=Failed" })).toEqual(
			["b", "c"],
		);
		expect(names({ fieldSelector: "metadata.name=a" })).toEqual(["a"]);
		expect(names({ labelSelector: "app in (a,d)" })).toEqual(["a", "d"]);
		expect(names({ labelSelector: "app notin (a,d),app!=b" })).toEqual(["c"]);
		expect(fails(() => s.list(pods, { fieldSelector: "spec.image=x" })).message).toBe(
			"field label not supported: spec.image",
		);
	});

	test("limit and continue", () => {
		const p1 = s.list(pods, { limit: 3 });
		expect(p1.items.map((p) => p.metadata.name)).toEqual(["a", "b", "c"]);
		expect(p1.metadata.remainingItemCount).toBe(1);
		const p2 = s.list(pods, { limit: 3, continue: p1.metadata.continue! });
		expect(p2.items.map((p) => p.metadata.name)).toEqual(["d"]);
		expect(p2.metadata.continue).toBeUndefined();
		expect(p2.metadata.resourceVersion).toBe(p1.metadata.resourceVersion);
	});
});

describe("KubeStore watch", () => {
	function collect(): { events: WatchEvent[]; send: (e: WatchEvent) => void; summary: () => string[] } {
		const events: WatchEvent[] = [];
		return {
			events,
			send: (e) => events.push(e),
			summary: () =>
				events.map(
					(e) =>
						`${e.type} ${(e.object.metadata as { name?: string; resourceVersion: string }).name ?? (e.object as { code?: number }).code}`,
				),
		};
	}

	test("initial state, then live events with selector transitions", () => {
		const s = new KubeStore();
		s.create(pods, pod("a"));
		const c = collect();
		const w = s.watch(pods, { labelSelector: "app=a" }, c.send);
		s.create(pods, pod("b"));
		s.patch({ ...pods, name: "a" }, "merge", { metadata: { annotations: { x: "1" } } });
		s.patch({ ...pods, name: "a" }, "merge", { metadata: { labels: { app: "z" } } });
		s.patch({ ...pods, name: "a" }, "merge", { metadata: { labels: { app: "a" } } });
		s.delete({ ...pods, name: "a" }, { gracePeriodSeconds: 0 });
		w.close();
		s.create(pods, pod("late", { metadata: { name: "late", labels: { app: "a" } } }));
		expect(c.summary()).toEqual(["ADDED a", "MODIFIED a", "DELETED a", "ADDED a", "DELETED a"]);
	});

	test("replay from a resourceVersion; 410 Expired when compacted or beyond the history", () => {
		const s = new KubeStore({ historyLimit: 3 });
		const a = s.create(pods, pod("a"));
		s.create(pods, pod("b"));
		const c = collect();
		s.watch(pods, { resourceVersion: a.metadata.resourceVersion as string }, c.send);
		expect(c.summary()).toEqual(["ADDED b"]);
		for (const n of ["c", "d", "e"]) s.create(pods, pod(n));
		const old = collect();
		let closed = "";
		s.watch(pods, { resourceVersion: a.metadata.resourceVersion as string }, old.send, (r) => {
			closed = r;
		});
		expect(old.events).toHaveLength(1);
		expect(old.events[0]!.type).toBe("ERROR");
		expect(old.events[0]!.object).toMatchObject({ kind: "Status", code: 410, reason: "Expired" });
		expect(closed).toBe("expired");
		const cur = s.resourceVersion;
		s.compact();
		const after = collect();
		s.watch(pods, { resourceVersion: String(cur - 1) }, after.send);
		expect(after.events[0]?.type).toBe("ERROR");
	});

	test("dropWatches closes watches of one resource", () => {
		const s = new KubeStore();
		const reasons: string[] = [];
		s.watch(
			pods,
			{},
			() => {},
			(r) => reasons.push(`pods ${r}`),
		);
		s.watch(
			nodes,
			{},
			() => {},
			(r) => reasons.push(`nodes ${r}`),
		);
		expect(s.dropWatches("pods")).toBe(1);
		expect(reasons).toEqual(["pods dropped"]);
		expect(s.openWatches).toBe(1);
	});

	test("bookmark carries the current resourceVersion", () => {
		const s = new KubeStore();
		expect(s.bookmark(pods)).toEqual({
			type: "BOOKMARK",
			object: { kind: "Pod", apiVersion: "v1", metadata: { resourceVersion: String(s.resourceVersion) } },
		});
	});
});

describe("KubeStore graceful pod deletion", () => {
	type Meta = { deletionTimestamp?: string; deletionGracePeriodSeconds?: number; resourceVersion?: string };
	const m = (o: KubeObject) => o.metadata as Meta;
	function events(s: KubeStore): string[] {
		const out: string[] = [];
		s.watch(pods, { resourceVersion: String(s.resourceVersion) }, (e) => {
			const md = e.object.metadata as { name: string } & Meta;
			out.push(`${e.type} ${md.name} ${md.deletionGracePeriodSeconds ?? "-"}`);
		});
		return out;
	}

	test("a bound pod gets deletionTimestamp (now + 30 s) and stays; kubelet's grace-0 DELETE removes it", () => {
		const s = new KubeStore({ now: fixedNow });
		s.create(pods, pod("g"));
		const seen = events(s);
		const marked = s.delete({ ...pods, name: "g" });
		expect([m(marked).deletionTimestamp, m(marked).deletionGracePeriodSeconds]).toEqual([
			"2025-03-01T12:00:30Z",
			30,
		]);
		expect(m(s.get({ ...pods, name: "g" })).deletionTimestamp).toBe("2025-03-01T12:00:30Z");
		// a repeated DELETE without a shorter grace changes nothing
		const again = s.delete({ ...pods, name: "g" });
		expect(m(again).resourceVersion).toBe(m(marked).resourceVersion);
		expect(m(s.delete({ ...pods, name: "g" }, { gracePeriodSeconds: 45 })).resourceVersion).toBe(
			m(marked).resourceVersion,
		);
		// a shorter one moves the deadline
		const shorter = s.delete({ ...pods, name: "g" }, { gracePeriodSeconds: 10 });
		expect([m(shorter).deletionTimestamp, m(shorter).deletionGracePeriodSeconds]).toEqual([
			"2025-03-01T12:00:10Z",
			10,
		]);
		const uid = s.get({ ...pods, name: "g" }).metadata.uid as string;
		expect(
			fails(() => s.delete({ ...pods, name: "g" }, { gracePeriodSeconds: 0, preconditions: { uid: "x" } }))
				.code,
		).toBe(409);
		const final = s.delete({ ...pods, name: "g" }, { gracePeriodSeconds: 0, preconditions: { uid } });
		expect([m(final).deletionTimestamp, m(final).deletionGracePeriodSeconds]).toEqual([
			"2025-03-01T12:00:00Z",
			0,
		]);
		expect(s.tryGet({ ...pods, name: "g" })).toBeUndefined();
		expect(seen).toEqual(["MODIFIED g 30", "MODIFIED g 10", "DELETED g 0"]);
	});

	test("grace from spec.terminationGracePeriodSeconds; unbound, finished and force-deleted pods go at once", () => {
		const s = new KubeStore({ now: fixedNow });
		s.create(pods, pod("t", { spec: { nodeName: "n1", terminationGracePeriodSeconds: 5, containers: [] } }));
		s.create(pods, pod("unbound", { spec: { containers: [{ name: "c" }] } }));
		s.create(pods, pod("done"));
		s.patch(
			{ ...pods, name: "done" },
			"merge",
			{ status: { phase: "Succeeded" } },
			{ subresource: "status" },
		);
		s.create(pods, pod("force"));
		const seen = events(s);
		expect(m(s.delete({ ...pods, name: "t" })).deletionTimestamp).toBe("2025-03-01T12:00:05Z");
		for (const n of ["unbound", "done"]) s.delete({ ...pods, name: n });
		s.delete({ ...pods, name: "force" }, { gracePeriodSeconds: 0 });
		expect(seen).toEqual(["MODIFIED t 5", "DELETED unbound 0", "DELETED done 0", "DELETED force 0"]);
		expect(s.list(pods).items.map((p) => p.metadata.name)).toEqual(["t"]);
		// other kinds are not graceful: a ConfigMap goes at once, with no deletion fields
		const cms = { apiVersion: "v1", resource: "configmaps", namespace: "default" };
		s.create(cms, { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "c" } });
		expect(m(s.delete({ ...cms, name: "c" })).deletionTimestamp).toBeUndefined();
		expect(s.tryGet({ ...cms, name: "c" })).toBeUndefined();
	});

	test("finalizers and grace together: the object goes when both are done, in either order", () => {
		const s = new KubeStore({ now: fixedNow });
		const withFinalizer = (name: string) =>
			pod(name, { metadata: { name, finalizers: ["x/y"] }, spec: { nodeName: "n1", containers: [] } });
		const dropFinalizers = (name: string) =>
			s.patch({ ...pods, name }, "merge", { metadata: { finalizers: null } });
		// finalizer removed first: still terminating until the grace-0 DELETE
		s.create(pods, withFinalizer("a"));
		s.delete({ ...pods, name: "a" });
		dropFinalizers("a");
		expect(m(s.get({ ...pods, name: "a" })).deletionGracePeriodSeconds).toBe(30);
		s.delete({ ...pods, name: "a" }, { gracePeriodSeconds: 0 });
		expect(s.tryGet({ ...pods, name: "a" })).toBeUndefined();
		// grace-0 DELETE first: held by the finalizer with grace 0, gone when it is removed
		s.create(pods, withFinalizer("b"));
		s.delete({ ...pods, name: "b" });
		const held = s.delete({ ...pods, name: "b" }, { gracePeriodSeconds: 0 });
		expect([m(held).deletionGracePeriodSeconds, m(s.get({ ...pods, name: "b" })).deletionTimestamp]).toEqual([
			0,
			"2025-03-01T12:00:00Z",
		]);
		dropFinalizers("b");
		expect(s.tryGet({ ...pods, name: "b" })).toBeUndefined();
	});
});
