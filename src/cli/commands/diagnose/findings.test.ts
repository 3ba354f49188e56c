import { describe, expect, test } from "bun:test";
import { exitCodeOf, type Finding, finding, makeReport, sortFindings, summarize } from "./findings.ts";
import { renderFinding, renderJson, renderText } from "./render.ts";

const f = (o: Partial<Finding> & Pick<Finding, "severity">): Finding =>
	finding({ id: "x", layer: "daemon", subject: "", message: "m", ...o });

describe("findings", () => {
	test("exit code: 0 with ok/info only, 1 with any warn or error", () => {
		expect(exitCodeOf([])).toBe(0);
		expect(exitCodeOf([f({ severity: "ok" }), f({ severity: "info" })])).toBe(0);
		expect(exitCodeOf([f({ severity: "ok" }), f({ severity: "warn" })])).toBe(1);
		expect(exitCodeOf([f({ severity: "error" })])).toBe(1);
	});

	test("summary counts every severity", () => {
		expect(summarize([f({ severity: "ok" }), f({ severity: "ok" }), f({ severity: "error" })])).toEqual({
			ok: 2,
			info: 0,
			warn: 0,
			error: 1,
		});
	});

	test("sorted worst first, then by layer order, id and subject", () => {
		const sorted = sortFindings([
			f({ severity: "ok", id: "a" }),
			f({ severity: "warn", layer: "leak", id: "leak.veth", subject: "b" }),
			f({ severity: "error", layer: "kernel", id: "kernel.pod-datapath" }),
			f({ severity: "warn", layer: "cloud", id: "mapping.cloud" }),
			f({ severity: "warn", layer: "leak", id: "leak.veth", subject: "a" }),
		]);
		expect(sorted.map((x) => `${x.severity} ${x.layer} ${x.id} ${x.subject}`)).toEqual([
			"error kernel kernel.pod-datapath ",
			"warn cloud mapping.cloud ",
			"warn leak leak.veth a",
			"warn leak leak.veth b",
			"ok daemon a ",
		]);
	});

	test("fix defaults to the empty string", () => {
		expect(finding({ id: "i", layer: "ebpf", severity: "info", subject: "", message: "m" }).fix).toBe("");
	});
});

describe("renderers", () => {
	const report = makeReport({
		node: "node-1",
		socket: "/run/t.sock",
		startedAt: new Date("2026-01-01T00:00:00Z"),
		durationMs: 12.4,
		checks: ["daemon", "mapping"],
		findings: [
			f({ severity: "ok", id: "daemon.reachable", subject: "/run/t.sock", message: "terwayd answers" }),
			f({
				severity: "error",
				id: "kernel.pod-datapath",
				layer: "kernel",
				subject: "default/web",
				message: "rule 2048 from 10.0.0.5/32 lookup 1003 is missing",
				fix: "ip -4 rule add prio 2048 from 10.0.0.5/32 lookup 1003",
			}),
		],
	});

	test("a finding with its fix on the next line", () => {
		expect(renderFinding(report.findings[0]!)).toBe(
			"[ERROR] kernel   default/web: rule 2048 from 10.0.0.5/32 lookup 1003 is missing\n" +
				"                 fix: ip -4 rule add prio 2048 from 10.0.0.5/32 lookup 1003",
		);
	});

	test("text report: header, problems, ok checks, verdict line", () => {
		expect(renderText(report).split("\n")).toEqual([
			"terwayctl diagnose — node node-1 (/run/t.sock)",
			"",
			"[ERROR] kernel   default/web: rule 2048 from 10.0.0.5/32 lookup 1003 is missing",
			"                 fix: ip -4 rule add prio 2048 from 10.0.0.5/32 lookup 1003",
			"",
			"[OK]    daemon   /run/t.sock: terwayd answers",
			"",
			"problems found: 1 error, 0 warn, 0 info, 1 ok (2 checks, 12 ms)",
		]);
	});

	test("JSON document: schema 1, the documented keys", () => {
		const doc = JSON.parse(renderJson(report));
		expect(Object.keys(doc)).toEqual([
			"schema",
			"node",
			"socket",
			"startedAt",
			"durationMs",
			"checks",
			"findings",
			"summary",
			"problems",
		]);
		expect(doc).toMatchObject({ schema: 1, problems: true, summary: { ok: 1, info: 0, warn: 0, error: 1 } });
		expect(Object.keys(doc.findings[0])).toEqual(["id", "layer", "severity", "subject", "message", "fix"]);
	});
});
