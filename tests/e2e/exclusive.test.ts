/**
 * End to end, exclusive ENI: a `sim up --nodes 2 --cni terway` world whose nodes carry
 * k8s.aliyun.com/exclusive-mode-eni-type=eniOnly, so each terwayd runs in exclusive mode and a pod
 * gets a whole ENI moved into its namespace as eth0. The pods reach each other and the nodes;
 * deleting a pod gives the ENI back to the node. Root only.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { canRun, ipJson, prefixFor, sh } from "../helpers/env.ts";
import { type PodView, pingFrom, SimWorld, scenario } from "./world.ts";

const P = prefixFor("ex");
const tmp = mkdtempSync(join(tmpdir(), `${P}-`));
const w = new SimWorld(P);

type IpLink = { ifname: string; address: string };

describe.skipIf(!canRun("e2e: exclusive ENI in the netns sim"))(
	"e2e: exclusive ENI (terway, netns sim)",
	() => {
		let x: PodView;
		let y: PodView;
		beforeAll(async () => {
			const f = scenario(join(tmp, "scenario.json"), {
				labels: { "k8s.aliyun.com/exclusive-mode-eni-type": "eniOnly" },
			});
			w.up("--nodes", "2", "--scenario", f);
			await Promise.all([w.addPod("x", "node-1"), w.addPod("y", "node-2")]);
			x = await w.pod("x", 60_000);
			y = await w.pod("y", 60_000);
		}, 120_000);
		afterAll(() => {
			w.down();
			rmSync(tmp, { recursive: true, force: true });
		}, 60_000);

		test("the daemons run in exclusive mode", async () => {
			for (const n of ["node-1", "node-2"])
				expect((await w.daemon<{ mode: string }>(n, "/v1/status")).mode).toBe("exclusive");
		});

		test("the pod's eth0 is an ENI (its MAC is the cloud's ENI MAC for the pod IP) and it left the node", async () => {
			const eth0 = ipJson<IpLink[]>(x.netns, ["link", "show", "eth0"])[0]!;
			const mapping = await w.daemon<{ ip: string; mac: string }[]>("node-1", "/v1/mapping");
			expect(mapping.find((r) => r.ip === x.v4)?.mac).toBe(eth0.address);
			const nodeMacs = ipJson<IpLink[]>(w.nodeNs("node-1"), ["link", "show"]).map((l) => l.address);
			expect(nodeMacs).not.toContain(eth0.address);
		});

		test("exclusive pods reach each other and the nodes", () => {
			expect(pingFrom(x.netns, y.v4)).toBe(true);
			expect(pingFrom(y.netns, x.v4)).toBe(true);
			expect(pingFrom(x.netns, w.primaryIp("node-1"))).toBe(true);
			expect(pingFrom(x.netns, w.primaryIp("node-2"))).toBe(true);
		});

		test("deleting the pod hands its ENI back (plugin DEL) and terwayd releases it", async () => {
			await w.deletePod("x");
			await w.podGone("x");
			const end = Date.now() + 15_000;
			const held = async () =>
				(await w.daemon<{ ip: string; state: string }[]>("node-1", "/v1/mapping")).some(
					(r) => r.ip === x.v4 && r.state !== "idle",
				);
			while ((await held()) && Date.now() < end) await Bun.sleep(200);
			expect(await held()).toBe(false);
			expect(sh(["ip", "netns", "list"]).out).not.toContain(x.netns);
		}, 30_000);
	},
);
