/**
 * Shutdown with pool work in flight (loopback sim): `daemon.stop()` aborts the cloud/metadata
 * calls the pool is waiting on and resolves only when that work has unwound, so the store can be
 * closed; nothing touches the store after it (no "closed database" error). An aborted mutation's
 * intent stays pending and the next start on the same state dir replays it: nothing leaks.
 */
import { afterEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Sim, startSim } from "../cloud/sim.ts";
import { type Harness, startDaemon } from "./harness.ts";

let h: Harness | undefined;
let sim: Sim | undefined;
let dir: string | undefined;
afterEach(async () => {
	await h?.stop();
	h = undefined;
	sim?.stop();
	if (dir) rmSync(dir, { recursive: true, force: true });
});

test("stop() during an ENI bring-up settles before the store closes; the next start finishes the work", async () => {
	dir = mkdtempSync(join(tmpdir(), "terwayd-shutdown-"));
	const errors: unknown[] = [];
	const onError = (e: unknown) => errors.push(e);
	process.on("unhandledRejection", onError);
	process.on("uncaughtException", onError);
	try {
		// metadata lags 3 s: the ENI's bring-up waits for its MAC while we stop
		sim = startSim({
			mutate: (s) => {
				s.nodes.instanceType = "ecs.sim.big";
				s.metadataLagMs = 3000;
			},
		});
		const opts = { sim, dir, eniConf: { min_pool_size: 0, max_pool_size: 0 } };
		const first = await startDaemon({ ...opts, noWarmUp: true });
		const pending = first.alloc("s-0");
		const deadline = Date.now() + 5000;
		while (first.calls("CreateNetworkInterface") === 0 && Date.now() < deadline) await Bun.sleep(10);
		expect(first.calls("CreateNetworkInterface")).toBe(1);
		const t0 = performance.now();
		await first.daemon.stop(0);
		const took = performance.now() - t0;
		expect(took).toBeLessThan(2000); // the 3 s metadata wait was aborted, not waited out
		expect(first.daemon.pool.busy).toBe(0);
		const r = await pending;
		expect([r.status, r.body.error?.code]).toEqual([503, "NotReady"]);
		// the socket and the store close after stop() (as SIGTERM does); then a new start
		const restarted = first.restart();
		await Bun.sleep(200);
		expect(errors).toEqual([]);
		// the next start on the same state dir picks the ENI up and serves from it
		h = await restarted;
		const again = await h.alloc("s-0");
		expect(again.status).toBe(200);
		expect(h.store.pendingIntents()).toEqual([]);
		expect(h.store.checkInvariants()).toEqual([]);
		expect(h.sim.world.describeEnis({}).filter((e) => e.type === "Secondary")).toHaveLength(1);
		expect(errors).toEqual([]);
	} finally {
		process.off("unhandledRejection", onError);
		process.off("uncaughtException", onError);
	}
}, 60_000);
