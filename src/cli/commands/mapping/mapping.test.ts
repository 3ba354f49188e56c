import { afterAll, describe, expect, test } from "bun:test";
import type { MappingRow } from "../../../daemon/api-types.ts";
import { cli, FakeDaemon, shape } from "../status/harness.ts";
import { filterRows, ipOrder, mappingDocument, parsePodFilter } from "./index.ts";

const OK: MappingRow[] = [
	{
		pod: "default/web-2",
		containerId: "bbbbbbbbbbbbbbbbbbbbbbbb",
		ip: "198.18.16.20",
		eniId: "eni-bp1b",
		mac: "00:16:3e:00:00:02",
		state: "allocated",
		checks: { store: true, cloud: true, metadata: true, kernel: true },
		problems: [],
	},
	{
		pod: "default/web-1",
		containerId: "aaaaaaaaaaaaaaaaaaaaaaaa",
		ip: "198.18.16.9",
		eniId: "eni-bp1a",
		mac: "00:16:3e:00:00:01",
		state: "allocated",
		checks: { store: true, cloud: true, metadata: true, kernel: true },
		problems: [],
	},
	{
		ip: "198.18.16.10",
		eniId: "eni-bp1a",
		mac: "00:16:3e:00:00:01",
		state: "idle",
		checks: { store: true, cloud: true },
		problems: [],
	},
];
const BAD: MappingRow = {
	pod: "kube-system/dns",
	containerId: "cccccccccccccccccccccccc",
	ip: "198.18.16.30",
	eniId: "eni-bp1b",
	mac: "00:16:3e:00:00:02",
	state: "allocated",
	checks: { store: true, cloud: false, metadata: true, kernel: true },
	problems: ["the cloud does not list 198.18.16.30 on eni-bp1b"],
};

describe("terwayctl mapping", () => {
	const d = new FakeDaemon({ mapping: OK });
	afterAll(() => d.close());

	test("--help has examples", async () => {
		const r = await cli(["mapping", "--help"]);
		expect(r.code).toBe(0);
		expect(r.out).toContain("Examples:");
		expect(r.out).toContain("--pod <ns/name>");
	});

	test("a consistent node: table sorted by ENI then IP, exit 0", async () => {
		const r = await cli(["mapping", "--socket", d.socket]);
		expect(r.err).toBe("");
		expect(r.code).toBe(0);
		expect(r.out).toBe(
			[
				"POD            IP            ENI       STATE      PROBLEMS",
				"default/web-1  198.18.16.9   eni-bp1a  allocated  -",
				"-              198.18.16.10  eni-bp1a  idle       -",
				"default/web-2  198.18.16.20  eni-bp1b  allocated  -",
				"3 IPs: 2 allocated, 1 idle, 0 releasing; no problems",
				"",
			].join("\n"),
		);
	});

	test("-o wide adds container, MAC and each source's check", async () => {
		const r = await cli(["mapping", "--socket", d.socket, "-o", "wide"]);
		expect(r.code).toBe(0);
		const [head, first, idle] = r.out.split("\n");
		expect(head?.split(/\s+/)).toEqual([
			"POD",
			"IP",
			"ENI",
			"STATE",
			"CONTAINER",
			"MAC",
			"STORE",
			"CLOUD",
			"METADATA",
			"KERNEL",
			"PROBLEMS",
		]);
		expect(first?.split(/\s+/)).toEqual([
			"default/web-1",
			"198.18.16.9",
			"eni-bp1a",
			"allocated",
			"aaaaaaaaaaaa",
			"00:16:3e:00:00:01",
			"ok",
			"ok",
			"ok",
			"ok",
			"-",
		]);
		expect(idle?.split(/\s+/).slice(6)).toEqual(["ok", "ok", "-", "-", "-"]);
	});

	test("--json: rows and a summary (schema pinned); -o yaml the same", async () => {
		const r = await cli(["mapping", "--socket", d.socket, "--json"]);
		expect(r.code).toBe(0);
		const doc = JSON.parse(r.out);
		expect(doc.summary).toEqual({ rows: 3, allocated: 2, idle: 1, releasing: 0, problems: 0 });
		expect(shape(doc)).toEqual({
			rows: [
				{
					checks: { cloud: "boolean", kernel: "boolean", metadata: "boolean", store: "boolean" },
					containerId: "string",
					eniId: "string",
					ip: "string",
					mac: "string",
					pod: "string",
					problems: [],
					state: "string",
				},
			],
			summary: {
				allocated: "number",
				idle: "number",
				problems: "number",
				releasing: "number",
				rows: "number",
			},
		});
		const y = await cli(["mapping", "--socket", d.socket, "-o", "yaml"]);
		expect(Bun.YAML.parse(y.out)).toEqual(doc);
	});

	test("filters: --pod and --eni", async () => {
		const p = await cli(["mapping", "--socket", d.socket, "--pod", "default/web-2", "--json"]);
		expect(p.code).toBe(0);
		expect(JSON.parse(p.out).rows.map((x: MappingRow) => x.ip)).toEqual(["198.18.16.20"]);
		const e = await cli(["mapping", "--socket", d.socket, "--eni", "eni-bp1a", "--json"]);
		expect(JSON.parse(e.out).rows.map((x: MappingRow) => x.ip)).toEqual(["198.18.16.9", "198.18.16.10"]);
	});

	test("a filter that matches nothing: exit 1 naming it", async () => {
		const r = await cli(["mapping", "--socket", d.socket, "--pod", "default/nope"]);
		expect(r.code).toBe(1);
		expect(r.err).toBe("terwayctl: terwayd holds no IP for pod default/nope\n");
	});

	test("malformed filters are usage errors (exit 2) naming the expected form", async () => {
		const p = await cli(["mapping", "--socket", d.socket, "--pod", "web-1"]);
		expect(p.code).toBe(2);
		expect(p.err).toBe('terwayctl: --pod "web-1": expected NAMESPACE/NAME, e.g. default/web-1\n');
		const e = await cli(["mapping", "--socket", d.socket, "--eni", "foo", "--json"]);
		expect(e.code).toBe(2);
		expect(JSON.parse(e.out).error.message).toBe(
			'--eni "foo": not an ENI id; expected the form eni-xxxx (e.g. eni-bp1g6nzq2pvlz1x0ngys)',
		);
	});

	test("a row with a problem: shown in the table, exit 1; --json is still one document; -q prints nothing", async () => {
		d.docs.mapping = [...OK, BAD];
		try {
			const r = await cli(["mapping", "--socket", d.socket]);
			expect(r.code).toBe(1);
			expect(r.out).toContain(
				"kube-system/dns  198.18.16.30  eni-bp1b  allocated  the cloud does not list 198.18.16.30 on eni-bp1b",
			);
			expect(r.out).toContain("1 with problems");
			expect(r.err).toBe("terwayctl: 1 of 4 mappings have problems\n");
			const j = await cli(["mapping", "--socket", d.socket, "--json"]);
			expect(j.code).toBe(1);
			expect(j.err).toBe("");
			expect(JSON.parse(j.out).summary.problems).toBe(1);
			const q = await cli(["mapping", "--socket", d.socket, "-q"]);
			expect(q).toEqual({ code: 1, out: "", err: "" });
			const ok = await cli(["mapping", "--socket", d.socket, "--pod", "default/web-1", "-q"]);
			expect(ok).toEqual({ code: 0, out: "", err: "" });
		} finally {
			d.docs.mapping = OK;
		}
	});

	test("no daemon: the clear message, exit 1", async () => {
		const r = await cli(["mapping", "--socket", `${d.dir}/none.sock`]);
		expect(r.code).toBe(1);
		expect(r.err).toContain("terwayd is not reachable on");
		expect(r.err).toContain("start it with `terwayctl daemon`");
	});

	test("unknown option: exit 2 with the nearest one", async () => {
		const r = await cli(["mapping", "--po", "default/x"]);
		expect(r.code).toBe(2);
		expect(r.err.split("\n")[0]).toBe("error: unknown option '--po' (Did you mean --pod?)");
	});

	test("pure helpers", () => {
		expect(parsePodFilter("a/b")).toBe("a/b");
		expect(() => parsePodFilter("a/b/c")).toThrow("expected NAMESPACE/NAME");
		expect(ipOrder("10.0.0.9", "10.0.0.10")).toBeLessThan(0);
		expect(ipOrder("fd00::1", "10.0.0.10")).toBeGreaterThan(0);
		expect(filterRows(OK, { eni: "eni-bp1b" }).map((r) => r.ip)).toEqual(["198.18.16.20"]);
		expect(mappingDocument([BAD]).summary.problems).toBe(1);
	});
});
