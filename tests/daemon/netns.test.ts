/**
 * terwayd inside the netns sim: `sim up --nodes 2`, the daemon run INSIDE each node namespace
 * (`sim exec`), queried with `curl --unix-socket`; real ENI links, route tables and rules.
 * Root only. Also: a bad config key refuses to start, naming it (no root needed).
 */
import { afterAll, describe, expect, test } from "bun:test";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { canRun, ipJson, prefixFor, sh } from "../helpers/env.ts";

const entry = join(import.meta.dir, "../../src/bin/terwayctl.ts");
const P = prefixFor("dn");
const cli = (...args: string[]) => sh([process.execPath, entry, ...args], { allowFail: true });
const nodeDir = (n: string) => `/run/terway-sim/${P}/nodes/${n}`;
const sock = (n: string) => `${nodeDir(n)}/terwayd.sock`;
const curl = (n: string, path: string, data?: string) => {
	const r = sh(
		[
			"curl",
			"-sS",
			"--unix-socket",
			sock(n),
			...(data ? ["-XPOST", "-d", data] : []),
			`http://terwayd${path}`,
		],
		{
			allowFail: true,
		},
	);
	return r.code === 0 ? JSON.parse(r.out) : undefined;
};

test("a config with a wrong key refuses to start, naming it", () => {
	const f = `/tmp/terwayd-bad-${process.pid}.json`;
	writeFileSync(f, JSON.stringify({ eni_conf: { max_pool_sise: 5 } }));
	const r = cli("daemon", "--config", f);
	expect(r.code).toBe(2);
	expect(r.err).toContain("max_pool_sise");
	writeFileSync(f, JSON.stringify({ eni_conf: { max_pool_size: "ten" } }));
	const r2 = cli("daemon", "--config", f);
	expect(r2.code).toBe(2);
	expect(r2.err).toContain("max_pool_size");
	rmSync(f, { force: true });
}, 30_000);

describe.skipIf(!canRun("terwayd in netns sim nodes"))("terwayd in netns sim nodes", () => {
	const procs: ReturnType<typeof Bun.spawn>[] = [];
	afterAll(async () => {
		// SIGTERM each `sim exec` wrapper (it forwards the signal to the daemon and exits with its
		// status once the daemon has drained and stopped)
		for (const p of procs) p.kill("SIGTERM");
		const codes = await Promise.race([
			Promise.all(procs.map((p) => p.exited)),
			Bun.sleep(10_000).then(() => undefined),
		]);
		const logs = ["node-1", "node-2"].map(
			(n) => sh(["cat", `${nodeDir(n)}/terwayd.log`], { allowFail: true }).out,
		);
		// never leave a daemon behind, whatever happened above
		for (const p of procs) if (p.exitCode === null) p.kill("SIGKILL");
		const leftover = sh(["pgrep", "-f", "--", `daemon .*--socket /run/terway-sim/${P}/`], { allowFail: true })
			.out.split("\n")
			.filter(Boolean);
		cli("sim", "down", "--prefix", P);
		const netns = sh(["ip", "netns", "list"], { allowFail: true }).out;
		expect(codes).toEqual(procs.map(() => 0));
		for (const l of logs) expect(l).toContain('"msg":"stopped"');
		expect(leftover).toEqual([]);
		expect(netns).not.toContain(`${P}-`);
	}, 30_000);

	test("each node's daemon keeps its pool within the watermarks; links, tables, rules and mapping agree", async () => {
		const up = cli("sim", "up", "--prefix", P, "--nodes", "2");
		expect(up.code).toBe(0);
		const cfg = `/run/terway-sim/${P}/terwayd.json`;
		writeFileSync(
			cfg,
			JSON.stringify({
				eni_conf: {
					min_pool_size: 2,
					max_pool_size: 5,
					vswitches: { "cn-hangzhou-i": ["vsw-bp1simpod000000000001"] },
				},
			}),
		);
		for (const n of ["node-1", "node-2"]) {
			procs.push(
				Bun.spawn(
					[
						process.execPath,
						entry,
						"sim",
						"exec",
						"--prefix",
						P,
						n,
						"--",
						process.execPath,
						entry,
						"daemon",
						"--config",
						cfg,
						"--state-dir",
						`${nodeDir(n)}/terwayd`,
						"--socket",
						sock(n),
					],
					{ stdout: "ignore", stderr: Bun.file(`${nodeDir(n)}/terwayd.log`) },
				),
			);
		}
		for (const n of ["node-1", "node-2"]) {
			const end = Date.now() + 40_000;
			let st: { phase?: string; pool?: { idle: number; min: number; max: number } } | undefined;
			while (Date.now() < end) {
				st = curl(n, "/v1/status");
				if (st?.phase === "ready") break;
				await Bun.sleep(250);
			}
			expect(st?.phase).toBe("ready");
			expect(st!.pool!.idle).toBeGreaterThanOrEqual(2);
			expect(st!.pool!.idle).toBeLessThanOrEqual(5 + 10);
		}
		const a = curl(
			"node-1",
			"/v1/alloc",
			JSON.stringify({
				pod: { namespace: "default", name: "nx" },
				containerId: "c1",
				netns: "/proc/1/ns/net",
				ifname: "eth0",
			}),
		);
		expect(a.ipv4.ip).toMatch(/^198\.18\./);
		expect(a.eni.link).toMatch(/^eth\d+$/);
		const ns = `${P}-node-1`;
		const links = ipJson<{ ifname: string; address: string }[]>(ns, ["link", "show"]);
		expect(links.find((l) => l.address === a.eni.mac)?.ifname).toBe(a.eni.link);
		const routes = ipJson<{ dst: string; gateway?: string; dev: string }[]>(ns, [
			"route",
			"show",
			"table",
			String(a.routeTable),
		]);
		expect(routes).toContainEqual(
			expect.objectContaining({ dst: "default", gateway: a.ipv4.gateway, dev: a.eni.link }),
		);
		const rules = ipJson<{ table: string; priority: number }[]>(ns, ["rule", "show"]);
		expect(rules.some((r) => r.table === String(a.routeTable))).toBe(true);
		const mapping = curl("node-1", "/v1/mapping") as { problems: string[] }[];
		expect(mapping.flatMap((r) => r.problems)).toEqual([]);
		const pool = curl("node-2", "/v1/pool");
		expect(pool.pool.idle).toBeLessThanOrEqual(pool.pool.max + 10);
	}, 90_000);
});
