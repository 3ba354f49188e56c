import { afterAll, describe, expect, test } from "bun:test";
import { cli, FakeDaemon, READY, shape } from "./harness.ts";
import { duration, poolGauge } from "./index.ts";

describe("terwayctl status", () => {
	const d = new FakeDaemon({ status: READY });
	afterAll(() => d.close());

	test("--help has examples and the exit codes", async () => {
		const r = await cli(["status", "--help"]);
		expect(r.code).toBe(0);
		expect(r.out).toContain("Examples:");
		expect(r.out).toContain("--socket <path>");
		expect(r.out).toContain("exit 1 when not ready");
	});

	test("a ready daemon: a few lines, exit 0", async () => {
		const r = await cli(["status", "--socket", d.socket]);
		expect(r.err).toBe("");
		expect(r.code).toBe(0);
		expect(r.out.split("\n").filter(Boolean)).toEqual([
			"terwayd    ready  v0.1.0, up 1h2m",
			"node       node-1  instance i-bp1test0000000000001 (ecs.g7.large), shared ENI mode",
			"pool       [####++....|.............] allocated 2, idle 1  (min 0, max 5, capacity 12)",
			"enis       1",
			"inhibit    none",
			"kubernetes connected",
		]);
	});

	test("--json is the daemon's status document (schema pinned)", async () => {
		const r = await cli(["status", "--socket", d.socket, "--json"]);
		expect(r.code).toBe(0);
		const doc = JSON.parse(r.out);
		expect(doc).toEqual(READY);
		expect(shape(doc)).toEqual({
			instanceId: "string",
			instanceType: "string",
			kubernetes: "string",
			mode: "string",
			node: "string",
			phase: "string",
			pool: {
				allocated: "number",
				capacity: "number",
				enis: "number",
				idle: "number",
				max: "number",
				min: "number",
			},
			ready: "boolean",
			uptimeSeconds: "number",
			version: "string",
		});
	});

	test("-o yaml prints the same document as YAML", async () => {
		const r = await cli(["status", "--socket", d.socket, "-o", "yaml"]);
		expect(r.code).toBe(0);
		expect(Bun.YAML.parse(r.out)).toEqual(READY);
	});

	test("not ready: the lines, the inhibit reason, and exit 1 (one JSON document with --json)", async () => {
		d.docs.status = {
			...READY,
			ready: false,
			phase: "warming",
			inhibit: { reason: "IpNotEnough", until: "2026-11-27T06:00:00Z" },
		};
		try {
			const r = await cli(["status", "--socket", d.socket]);
			expect(r.code).toBe(1);
			expect(r.out).toContain("warming (not ready)");
			expect(r.out).toContain("inhibit    IpNotEnough until 2026-11-27T06:00:00Z");
			expect(r.err).toBe("terwayctl: terwayd is not ready (phase warming, inhibited: IpNotEnough)\n");
			const j = await cli(["status", "--socket", d.socket, "--json"]);
			expect(j.code).toBe(1);
			expect(JSON.parse(j.out).phase).toBe("warming");
			expect(j.err).toBe("");
		} finally {
			d.docs.status = READY;
		}
	});

	test("no daemon: one clear line saying how to start it, exit 1; JSON with --json", async () => {
		const r = await cli(["status", "--socket", `${d.dir}/nothing.sock`]);
		expect(r.code).toBe(1);
		expect(r.out).toBe("");
		expect(r.err).toBe(
			`terwayctl: terwayd is not reachable on ${d.dir}/nothing.sock (no socket there); start it with \`terwayctl daemon\` (or check the terway DaemonSet pod), or pass --socket\n`,
		);
		const j = await cli(["status", "--socket", `${d.dir}/nothing.sock`, "--json"]);
		expect(j.code).toBe(1);
		expect(JSON.parse(j.out).error.message).toContain("terwayd is not reachable");
	});

	test("TERWAY_DAEMON_SOCKET is the default socket", async () => {
		const r = await cli(["status", "--json"], { TERWAY_DAEMON_SOCKET: d.socket });
		expect(r.code).toBe(0);
		expect(JSON.parse(r.out).node).toBe("node-1");
	});

	test("usage errors exit 2 with the nearest valid choice", async () => {
		const a = await cli(["stauts"]);
		expect(a.code).toBe(2);
		expect(a.err.split("\n")[0]).toBe("error: unknown command 'stauts' (Did you mean status?)");
		const b = await cli(["status", "--sockt", "/x"]);
		expect(b.code).toBe(2);
		expect(b.err.split("\n")[0]).toBe("error: unknown option '--sockt' (Did you mean --socket?)");
		const c = await cli(["status", "-o", "wide"]);
		expect(c.code).toBe(2);
		expect(c.err.split("\n")[0]).toContain("argument 'wide' is invalid. Allowed choices are json, yaml.");
		const j = await cli(["--json", "stauts"]);
		expect(j.code).toBe(2);
		expect(JSON.parse(j.out)).toEqual({
			error: { message: "unknown command 'stauts'", kind: "UsageError", suggestion: "status" },
		});
	});

	test("gauge and duration", () => {
		expect(poolGauge({ min: 0, max: 10, idle: 0, allocated: 0, capacity: 10, enis: 0 }, 10)).toBe(
			"[..........]",
		);
		expect(poolGauge({ min: 0, max: 5, idle: 5, allocated: 5, capacity: 10, enis: 1 }, 10)).toBe(
			"[#####+++++]",
		);
		expect(duration(59)).toBe("59s");
		expect(duration(90061)).toBe("1d1h");
	});
});
