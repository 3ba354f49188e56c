/**
 * `terwayctl diagnose` through the real program (a child process, as a user runs it): help with
 * examples and exit codes, usage errors (exit 2, one line, nothing checked), and a node where
 * nothing answers (no daemon, refused cloud and metadata endpoints): exit 1 with the whole JSON
 * document and nothing else on stdout. Offline: every endpoint is a closed local port.
 */
import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parsePeer, parsePodRef } from "./args.ts";
import type { DiagnoseReport } from "./findings.ts";

const ENTRY = join(import.meta.dir, "../../../bin/terwayctl.ts");

function cli(args: string[], env: Record<string, string> = {}) {
	const r = Bun.spawnSync([process.execPath, ENTRY, ...args], {
		stdout: "pipe",
		stderr: "pipe",
		env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/root", ...env },
	});
	return { code: r.exitCode, out: r.stdout.toString(), err: r.stderr.toString() };
}

describe("terwayctl diagnose (CLI)", () => {
	test("--help lists the checks, the exit codes and examples; pod --help its arguments", () => {
		const h = cli(["diagnose", "--help"]);
		expect(h.code).toBe(0);
		for (const s of [
			"--no-tui",
			"--json",
			"--socket",
			"--kubeconfig",
			"--timeout",
			"Exit codes: 0",
			"diagnose pod default/web-1",
		])
			expect(h.out).toContain(s);
		const p = cli(["diagnose", "pod", "--help"]);
		expect(p.code).toBe(0);
		expect(p.out).toContain("--to <ip[:port]>");
	});

	test("usage errors exit 2 with one line naming the value", () => {
		const bad = [
			[["diagnose", "pod", "web-1"], 'pod "web-1": want NAMESPACE/NAME'],
			[["diagnose", "pod", "default/web-1", "--to", "10.0.0.1:99999"], '--to "10.0.0.1:99999"'],
			[["diagnose", "--timeout", "soon"], '--timeout "soon": want a positive number of seconds'],
			[["diagnose", "--interval", "0"], '--interval "0": want a positive number of seconds'],
			[["diagnose", "pod", "default/a", "--proto", "gre"], "gre"],
			[["diagnose", "--frobnicate"], "unknown option"],
			[
				["diagnose", "--config", "/nonexistent/terwayd.json"],
				"--config /nonexistent/terwayd.json: no such file",
			],
		] as const;
		for (const [args, msg] of bad) {
			const r = cli([...args]);
			expect({ args, code: r.code }).toEqual({ args, code: 2 });
			expect(r.err).toContain(msg);
		}
	});

	test("nothing answers: exit 1, the JSON document alone on stdout, daemon/cloud/metadata each an error with its fix", () => {
		const dir = mkdtempSync(join(tmpdir(), "twdiag-"));
		try {
			writeFileSync(
				join(dir, "10-terway.conflist"),
				JSON.stringify({ cniVersion: "1.1.0", name: "terway", plugins: [{ type: "terway" }] }),
			);
			const r = cli(
				["diagnose", "--json", "--no-tui", "--timeout", "2", "--socket", join(dir, "none.sock")],
				{
					CNI_CONF_DIR: dir,
					REGION_ID: "cn-hangzhou",
					ECS_ENDPOINT: "127.0.0.1:1",
					VPC_ENDPOINT: "127.0.0.1:1",
					ALICLOUD_CLIENT_SCHEME: "HTTP",
					ALIBABA_CLOUD_ACCESS_KEY_ID: "LTAI-test",
					ALIBABA_CLOUD_ACCESS_KEY_SECRET: "secret",
					TERWAY_METADATA_URL: "http://127.0.0.1:1",
					TERWAY_BPF_PIN_ROOT: join(dir, "bpf"),
				},
			);
			expect(r.code).toBe(1);
			const doc = JSON.parse(r.out) as DiagnoseReport;
			expect(doc).toMatchObject({ schema: 1, node: "", problems: true });
			const byId = new Map(doc.findings.map((f) => [f.id, f]));
			expect(byId.get("daemon.reachable")).toMatchObject({ layer: "daemon", severity: "error" });
			expect(byId.get("daemon.reachable")!.fix).toContain("terwayctl daemon");
			expect(byId.get("metadata.reachable")).toMatchObject({ layer: "metadata", severity: "error" });
			expect(byId.get("config.conflist")).toMatchObject({ severity: "ok" });
			// the instance id comes from the daemon or metadata: with neither the cloud call is skipped
			expect(byId.get("cloud.credentials")).toMatchObject({ layer: "cloud", severity: "info" });
			expect(doc.findings.filter((f) => f.id.endsWith(".failed"))).toEqual([]);
		} finally {
			rmSync(dir, { recursive: true, force: true });
		}
	}, 30_000);
});

describe("argument parsing", () => {
	test("pod references", () => {
		expect(parsePodRef("kube-system/coredns-1")).toEqual({ namespace: "kube-system", name: "coredns-1" });
		for (const bad of ["web", "/web", "a/b/c", "Default/web", "a/"])
			expect(() => parsePodRef(bad)).toThrow(/want NAMESPACE\/NAME/);
	});

	test("peers: IP, IP:PORT, [IPv6]:PORT, bare IPv6", () => {
		expect(parsePeer("10.0.0.1")).toEqual({ ip: "10.0.0.1" });
		expect(parsePeer("10.0.0.1:80")).toEqual({ ip: "10.0.0.1", port: 80 });
		expect(parsePeer("[fd00::1]:443")).toEqual({ ip: "fd00::1", port: 443 });
		expect(parsePeer("fd00::1")).toEqual({ ip: "fd00::1" });
		for (const bad of ["10.0.0.1:0", "host:80", "10.0.0.1:x"]) expect(() => parsePeer(bad)).toThrow(/--to/);
	});
});
