import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { statSync } from "node:fs";
import type {
	AllocResponse,
	GcReport,
	MappingRow,
	PoolSummary,
	StatusResponse,
} from "../../src/daemon/api-types.ts";
import { canRun } from "../helpers/env.ts";
import { type Harness, startDaemon } from "./harness.ts";

let h: Harness;
beforeAll(async () => {
	h = await startDaemon({ eniConf: { min_pool_size: 2, max_pool_size: 5 } });
});
afterAll(async () => {
	await h.stop();
});

const state = () => JSON.stringify({ a: h.store.allocations(), i: h.store.ips() });

describe("local API", () => {
	test("malformed requests get 4xx naming the field and change nothing", async () => {
		await h.daemon.pool.idle();
		const before = state();
		const cases: [string, string, unknown, number, string | undefined][] = [
			["POST", "/v1/alloc", "{not json", 400, "body"],
			[
				"POST",
				"/v1/alloc",
				{ pod: { namespace: "default" }, containerId: "c", netns: "/x", ifname: "eth0" },
				400,
				"pod.name",
			],
			[
				"POST",
				"/v1/alloc",
				{ pod: { namespace: "default", name: "a" }, containerId: 7, netns: "/x", ifname: "eth0" },
				400,
				"containerId",
			],
			[
				"POST",
				"/v1/alloc",
				{ pod: { namespace: "default", name: "a" }, containerId: "c", netns: "rel", ifname: "eth0" },
				400,
				"netns",
			],
			["POST", "/v1/release", { pod: "x" }, 400, "pod"],
			["GET", "/v1/alloc", undefined, 400, "method"],
			["GET", "/v1/pods/default/nobody", undefined, 404, undefined],
			["GET", "/v1/nope", undefined, 404, undefined],
		];
		for (const [m, p, b, status, field] of cases) {
			const r = await h.call(m, p, b);
			expect({ m, p, status: r.status, field: r.body.error?.field }).toEqual({ m, p, status, field });
			expect(typeof r.body.error?.message).toBe("string");
		}
		expect(state()).toBe(before);
	});

	test("alloc, pod info, release, then pod info is 404", async () => {
		const a = await h.alloc("web-0", "cid1");
		expect(a.status).toBe(200);
		expect(a.body.datapath).toBe("veth");
		expect(a.body.ipv4?.gateway).toMatch(/^198\.18\./);
		expect(a.body.ipv4?.prefixLen).toBe(20);
		const info = await h.call<AllocResponse>("GET", "/v1/pods/default/web-0?containerId=cid1");
		expect(info.body.ipv4?.ip).toBe(a.body.ipv4?.ip);
		expect(info.body.existing).toBe(true);
		const rel = await h.call("POST", "/v1/release", {
			pod: { namespace: "default", name: "web-0" },
			containerId: "cid1",
		});
		expect(rel.body).toEqual({ released: true, ips: [a.body.ipv4?.ip] });
		const again = await h.call("POST", "/v1/release", { pod: { namespace: "default", name: "web-0" } });
		expect(again.body).toEqual({ released: false, ips: [] });
		expect((await h.call("GET", "/v1/pods/default/web-0")).status).toBe(404);
	});

	test("status, pool, enis, mapping, gc and metrics answer", async () => {
		await h.alloc("m-0");
		const st = await h.call<StatusResponse>("GET", "/v1/status");
		expect(st.body.kubernetes).toBe("standalone");
		expect(st.body.mode).toBe("shared");
		const pool = await h.call<{ pool: PoolSummary }>("GET", "/v1/pool");
		expect(pool.body.pool.capacity).toBe(140);
		const enis = await h.call<unknown[]>("GET", "/v1/enis");
		expect(enis.body.length).toBeGreaterThan(0);
		const mapping = await h.call<MappingRow[]>("GET", "/v1/mapping");
		expect(mapping.body.flatMap((r: { problems: string[] }) => r.problems)).toEqual([]);
		expect(mapping.body.some((r: { pod?: string }) => r.pod === "default/m-0")).toBe(true);
		const gc = await h.call<GcReport>("GET", "/v1/gc");
		// the sandbox netns paths of these fake pods do not exist: standalone GC offers them
		expect(gc.body.applied).toBe(false);
		expect(gc.body.allocations.some((a: { pod: string }) => a.pod === "default/m-0")).toBe(true);
		const run = await h.call("POST", "/v1/gc");
		expect(run.body.applied).toBe(true);
		expect(h.store.allocations()).toEqual([]);
		const metrics = await fetch("http://terwayd/metrics", { unix: h.socket } as RequestInit).then((r) =>
			r.text(),
		);
		expect(metrics).toContain("terway_resource_pool_idle_count");
		expect(metrics).toContain("aliyun_openapi_latency_bucket");
		expect(metrics).toContain("terwayd_alloc_latency_ms_count");
	});

	test("per-pod serialization: the same pod+container concurrently gets one allocation", async () => {
		const rs = await Promise.all(Array.from({ length: 5 }, () => h.alloc("same", "c-same")));
		expect(new Set(rs.map((r) => r.body.ipv4?.ip)).size).toBe(1);
		expect(rs.filter((r) => r.body.existing === false).length).toBe(1);
	});

	test("the socket is 0600 and a non-root client cannot connect", async () => {
		expect(statSync(h.socket).mode & 0o777).toBe(0o600);
		if (!canRun("non-root socket client")) return;
		const r = Bun.spawnSync(
			[
				"setpriv",
				"--reuid=65534",
				"--regid=65534",
				"--clear-groups",
				"curl",
				"-sS",
				"--unix-socket",
				h.socket,
				"http://terwayd/v1/status",
			],
			{ stdout: "pipe", stderr: "pipe" },
		);
		expect(r.exitCode).not.toBe(0);
		expect(r.stdout.toString()).not.toContain("instanceId");
	});
});

describe("crash recovery", () => {
	test("a pending assign intent is replayed with its ClientToken after a restart", async () => {
		const eni = h.store.enis().find((e) => e.status === "InUse")!;
		const token = `tw-replay-${Date.now()}`;
		h.store.beginIntent("assignIpv4", { eniId: eni.eniId, count: 2 }, token);
		// the call reached the cloud, then the daemon "died" before recording the answer
		h = await h.restart();
		await h.daemon.pool.idle();
		expect(h.store.pendingIntents()).toEqual([]);
		expect(h.store.checkInvariants()).toEqual([]);
		const mapping = await h.call<MappingRow[]>("GET", "/v1/mapping");
		expect(mapping.body.flatMap((r: { problems: string[] }) => r.problems)).toEqual([]);
	});

	test("a crash after a detach completed and before the delete began leaves no IP reserved for good", async () => {
		// an ENI no pod uses (earlier tests may hold some): release every allocation first
		for (const a of h.store.allocations()) {
			const [namespace, name] = a.podKey.split("/") as [string, string];
			await h.call("POST", "/v1/release", { pod: { namespace, name } });
		}
		const eni = h.store
			.enis()
			.find(
				(e) => e.ours && e.status === "InUse" && h.store.ips({ eniId: e.eniId, state: "idle" }).length > 0,
			)!;
		expect(eni).toBeDefined();
		// #deleteEni's first step, journaled and done; the process died before beginIntent("deleteEni")
		const id = h.store.beginIntent(
			"detachEni",
			{ eniId: eni.eniId, instanceId: h.daemon.pool.node.instanceId },
			null,
		);
		expect(h.store.ips({ eniId: eni.eniId, state: "releasing" }).length).toBeGreaterThan(0);
		h.store.completeIntent(id, { status: "Available" });
		h = await h.restart();
		await h.daemon.pool.idle();
		expect(h.store.pendingIntents()).toEqual([]);
		expect(h.store.ips({ state: "releasing" })).toEqual([]);
		expect(h.store.checkInvariants()).toEqual([]);
		const mapping = await h.call<MappingRow[]>("GET", "/v1/mapping");
		expect(mapping.body.flatMap((r: { problems: string[] }) => r.problems)).toEqual([]);
	});
});
