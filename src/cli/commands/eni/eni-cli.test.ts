import { afterAll, describe, expect, test } from "bun:test";
import { cli, FakeDaemon, READY } from "../status/harness.ts";

// Happy paths need the cloud and metadata: tests/e2e/cli-inspect.test.ts runs them in the sim.
describe("terwayctl eni (commander level)", () => {
	const d = new FakeDaemon({ status: READY, enis: [] });
	afterAll(() => d.close());

	test("--help of each subcommand has examples; eni lists its subcommands", async () => {
		const top = await cli(["eni", "--help"]);
		expect(top.code).toBe(0);
		for (const s of ["list|ls", "inspect|show", "delete|rm"]) expect(top.out).toContain(s);
		for (const sub of ["list", "inspect", "delete"]) {
			const r = await cli(["eni", sub, "--help"]);
			expect(r.code).toBe(0);
			expect(r.out).toContain("Examples:");
			expect(r.out).toContain("--socket <path>");
			expect(r.out).toContain("--config <file>");
		}
		expect((await cli(["eni", "delete", "--help"])).out).toContain("--force");
	});

	test("a malformed id is a usage error naming the form, before anything is asked", async () => {
		for (const sub of ["inspect", "delete"]) {
			const r = await cli(["eni", sub, "foo", "--socket", d.socket]);
			expect(r).toEqual({
				code: 2,
				out: "",
				err: 'terwayctl: ENI id "foo": not an ENI id; expected the form eni-xxxx (e.g. eni-bp1g6nzq2pvlz1x0ngys)\n',
			});
		}
		const j = await cli(["eni", "delete", "i-bp1abc", "--json"]);
		expect(j.code).toBe(2);
		expect(JSON.parse(j.out).error.message).toContain("expected the form eni-xxxx");
	});

	test("unknown subcommand or option: exit 2 with the nearest choice", async () => {
		const a = await cli(["eni", "lst"]);
		expect(a.code).toBe(2);
		expect(a.err.split("\n")[0]).toBe("error: unknown command 'lst' (Did you mean one of list, ls?)");
		const j = await cli(["--json", "eni", "lst"]);
		expect(JSON.parse(j.out).error.suggestion).toBe("list");
		const b = await cli(["eni", "delete", "eni-bp1abcd", "--forse"]);
		expect(b.code).toBe(2);
		expect(b.err.split("\n")[0]).toBe("error: unknown option '--forse' (Did you mean --force?)");
		const c = await cli(["eni", "delete"]);
		expect(c.code).toBe(2);
		expect(c.err.split("\n")[0]).toBe("error: missing required argument 'id'");
	});

	test("nothing reachable: one line naming each source, exit 1", async () => {
		const r = await cli(["eni", "list", "--socket", `${d.dir}/none.sock`]);
		expect(r.code).toBe(1);
		expect(r.out).toBe("");
		expect(r.err.split("\n").length).toBe(2);
		expect(r.err).toStartWith("terwayctl: cannot tell which instance this is: metadata: ");
		expect(r.err).toContain("terwayd: terwayd is not reachable on");
	});

	test("metadata down, terwayd up: the instance comes from terwayd; the cloud cannot be asked without a region", async () => {
		const r = await cli(["eni", "list", "--socket", d.socket, "--json"]);
		expect(r.code).toBe(1);
		expect(r.err).toBe("");
		const doc = JSON.parse(r.out);
		expect(doc.instanceId).toBe(READY.instanceId);
		expect(doc.sources.daemon).toEqual({ ok: true });
		expect(doc.sources.metadata.ok).toBe(false);
		expect(doc.sources.cloud).toEqual({
			ok: false,
			error: "no region: metadata is unreachable and --config has no region_id",
		});
		expect(doc.enis).toEqual([]);
	});

	test("delete with the cloud unreachable: refused, nothing changed", async () => {
		const r = await cli(["eni", "delete", "eni-bp1abcd", "--socket", d.socket, "--yes"]);
		expect(r.code).toBe(1);
		expect(r.err).toBe(
			"terwayctl: cannot delete eni-bp1abcd: the cloud API is not available (no region: metadata is unreachable and --config has no region_id); nothing changed\n",
		);
	});

	test("--config that cannot be read is a usage error naming the file", async () => {
		const r = await cli(["eni", "list", "--config", `${d.dir}/missing.json`]);
		expect(r.code).toBe(2);
		expect(r.err).toStartWith(`terwayctl: --config ${d.dir}/missing.json: `);
	});
});
