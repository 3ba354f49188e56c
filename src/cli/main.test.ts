import { describe, expect, test } from "bun:test";
import { VERSION } from "./meta.ts";

const entry = new URL("../bin/terwayctl.ts", import.meta.url).pathname;

function cli(...args: string[]) {
	const r = Bun.spawnSync([process.execPath, entry, ...args], { stdout: "pipe", stderr: "pipe" });
	return { code: r.exitCode, out: r.stdout.toString(), err: r.stderr.toString() };
}

describe("terwayctl CLI contract", () => {
	test("--version prints the package version and exits 0", () => {
		expect(cli("--version")).toEqual({ code: 0, out: `terwayctl ${VERSION}\n`, err: "" });
	});

	test("--help lists the commands and exits 0", () => {
		const r = cli("--help");
		expect(r.code).toBe(0);
		expect(r.out).toContain("Usage: terwayctl");
		expect(r.out).toContain("version");
	});

	test("a usage error exits 2 with one readable line on stderr", () => {
		const r = cli("no-such-command");
		expect(r.code).toBe(2);
		expect(r.out).toBe("");
		expect(r.err.split("\n")[0]).toBe("error: unknown command 'no-such-command'");
	});

	test("version --json is one JSON document naming the native libraries", () => {
		const r = cli("version", "--json");
		expect(r.code).toBe(0);
		const doc = JSON.parse(r.out);
		expect(doc.version).toBe(VERSION);
		expect(doc.libraries.map((l: { name: string }) => l.name)).toEqual(["libnl-route-3", "libbpf"]);
		expect(doc.bpfObjects.map((o: { name: string }) => o.name)).toContain("counter");
	});
});
