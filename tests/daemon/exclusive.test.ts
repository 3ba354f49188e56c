/**
 * Exclusive ENI mode in the loopback sim (one ENI per pod, Terway's `eniOnly` node pools): each
 * pod gets a new ENI of its own and that ENI's primary IP, datapath "exclusive"; releasing the pod
 * detaches and deletes its ENI; at the node's ENI limit the next pod is refused (507
 * EniLimitReached) and served again once an ENI is given back.
 */
import { afterEach, describe, expect, test } from "bun:test";
import type { StatusResponse } from "../../src/daemon/api-types.ts";
import { type Harness, startDaemon } from "./harness.ts";

let h: Harness | undefined;
afterEach(async () => {
	await h?.stop();
	h = undefined;
});

describe("exclusive ENI mode", () => {
	test("one ENI per pod with its primary IP; release deletes the ENI; the ENI limit refuses with 507", async () => {
		// ecs.g7.large: 3 adapters → 2 ENIs for pods
		h = await startDaemon({
			exclusive: true,
			mutate: (s) => {
				s.nodes.instanceType = "ecs.g7.large";
			},
			eniConf: { min_pool_size: 5, max_pool_size: 10 },
			allocWaitMs: 5000,
		});
		const hh = h;
		const st = await hh.call<StatusResponse>("GET", "/v1/status");
		expect(st.body.mode).toBe("exclusive");
		// no pool is kept in exclusive mode, whatever min_pool_size says
		expect(hh.store.enis().filter((e) => e.type !== "primary")).toEqual([]);
		expect(hh.calls("CreateNetworkInterface")).toBe(0);

		const [a, b] = await Promise.all([hh.alloc("ex-a"), hh.alloc("ex-b")]);
		for (const r of [a, b]) {
			expect(r.status).toBe(200);
			expect(r.body.datapath).toBe("exclusive");
			expect(r.body.ipv4?.ip).toBe(String(hh.store.eni(r.body.eni.id)?.primaryIp));
		}
		expect(a.body.eni.id).not.toBe(b.body.eni.id);
		expect(hh.calls("CreateNetworkInterface")).toBe(2);
		expect(hh.calls("AssignPrivateIpAddresses")).toBe(0);
		// each ENI serves exactly one pod
		for (const r of [a, b])
			expect(hh.store.allocations().filter((x) => x.eniId === r.body.eni.id)).toHaveLength(1);
		// a repeated ADD is the same ENI
		const again = await hh.alloc("ex-a");
		expect([again.body.existing, again.body.eni.id]).toEqual([true, a.body.eni.id]);

		const c = await hh.alloc("ex-c");
		expect(c.status).toBe(507);
		expect(c.body.error?.message).toContain("EniLimitReached");

		const rel = await hh.call("POST", "/v1/release", { pod: { namespace: "default", name: "ex-a" } });
		expect(rel.body).toEqual({ released: true, ips: [a.body.ipv4?.ip] });
		const deadline = Date.now() + 10_000;
		while (hh.store.eni(a.body.eni.id) && Date.now() < deadline) await Bun.sleep(20);
		expect(hh.store.eni(a.body.eni.id)).toBeNull();
		expect(hh.sim.world.eni(a.body.eni.id)).toBeUndefined();
		expect(hh.calls("DetachNetworkInterface")).toBe(1);
		expect(hh.calls("DeleteNetworkInterface")).toBe(1);

		const c2 = await hh.alloc("ex-c");
		expect(c2.status).toBe(200);
		expect(c2.body.eni.id).not.toBe(a.body.eni.id);
		expect(hh.store.checkInvariants()).toEqual([]);
	}, 60_000);

	test("a failed ENI delete after a release is retried: the ENI does not leak", async () => {
		h = await startDaemon({
			exclusive: true,
			mutate: (s) => {
				s.nodes.instanceType = "ecs.g7.large";
			},
			allocWaitMs: 5000,
		});
		const hh = h;
		const a = await hh.alloc("d-a");
		expect(a.status).toBe(200);
		const eniId = a.body.eni.id;
		hh.sim.faults.add({
			match: { face: "openapi", action: "DeleteNetworkInterface" },
			effect: { kind: "error", code: "Forbidden.RAM", status: 403 },
			times: 1,
		});
		const rel = await hh.call("POST", "/v1/release", { pod: { namespace: "default", name: "d-a" } });
		expect(rel.body).toEqual({ released: true, ips: [a.body.ipv4?.ip] });
		const deadline = Date.now() + 10_000;
		while (hh.store.eni(eniId) && Date.now() < deadline) await Bun.sleep(20);
		expect(hh.store.eni(eniId)).toBeNull();
		expect(hh.sim.world.eni(eniId)).toBeUndefined();
		// the first delete was refused, the retry went through
		expect(hh.calls("DeleteNetworkInterface")).toBe(2);
		expect(hh.store.checkInvariants()).toEqual([]);
	}, 30_000);
});
