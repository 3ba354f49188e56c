/**
 * Dynamic shell completion against a real terwayd (harness: loopback sim, local API on a temp
 * socket): `terwayctl __complete pods|enis` prints what the daemon knows, nothing (exit 0) when
 * it is down, and the generated bash script offers those ids for `eni inspect` / `mapping`.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { script } from "../../src/cli/commands/completion/generate.ts";
import { buildProgram } from "../../src/cli/main.ts";
import type { EniInfo, MappingRow } from "../../src/daemon/api-types.ts";
import { type Harness, startDaemon } from "./harness.ts";

const entry = new URL("../../src/bin/terwayctl.ts", import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), "terway-complete-"));
let h: Harness;

beforeAll(async () => {
	h = await startDaemon();
	expect((await h.alloc("web-0")).status).toBe(200);
	expect((await h.alloc("web-1")).status).toBe(200);
});
afterAll(async () => {
	await h?.stop();
	rmSync(dir, { recursive: true, force: true });
});

/** Run a child without blocking this process: the daemon under test answers from here. */
async function run(argv: string[], env?: Record<string, string | undefined>) {
	const p = Bun.spawn(argv, { stdout: "pipe", stderr: "pipe", ...(env ? { env } : {}) });
	const [out, err, code] = await Promise.all([
		new Response(p.stdout).text(),
		new Response(p.stderr).text(),
		p.exited,
	]);
	return { code, out, err };
}
const cli = (...args: string[]) => run([process.execPath, entry, ...args]);

test("__complete pods and enis print the daemon's pod names and ENI ids, one per line, sorted", async () => {
	const rows = (await h.call<MappingRow[]>("GET", "/v1/mapping")).body;
	const pods = [...new Set(rows.flatMap((r) => (r.pod ? [r.pod] : [])))].sort();
	expect(pods).toEqual(["default/web-0", "default/web-1"]);
	const p = await cli("__complete", "pods", "--socket", h.socket);
	expect(p).toEqual({ code: 0, out: `${pods.join("\n")}\n`, err: "" });

	const enis = (await h.call<EniInfo[]>("GET", "/v1/enis")).body.map((e) => e.id).sort();
	expect(enis.length).toBeGreaterThan(0);
	const e = await cli("__complete", "enis", "--socket", h.socket);
	expect(e).toEqual({ code: 0, out: `${enis.join("\n")}\n`, err: "" });
});

test("with no daemon on the socket: nothing at all, exit 0", async () => {
	expect(await cli("__complete", "pods", "--socket", join(dir, "nobody.sock"))).toEqual({
		code: 0,
		out: "",
		err: "",
	});
	expect(await cli("__complete", "enis", "--socket", join(dir, "nobody.sock"))).toEqual({
		code: 0,
		out: "",
		err: "",
	});
});

test("bash completes ENI ids for eni inspect and pod names for mapping --pod from the running daemon", async () => {
	const program = buildProgram();
	const eni = program.commands.find((c) => c.name() === "eni");
	const mapping = program.commands.find((c) => c.name() === "mapping");
	if (
		!eni?.commands.some((c) => c.name() === "inspect") ||
		!mapping?.options.some((o) => o.long === "--pod")
	) {
		console.warn("SKIP bash dynamic completion: `eni inspect` / `mapping --pod` are not registered yet");
		return;
	}
	// `terwayctl` on PATH is this checkout, talking to the harness's daemon
	const bin = join(dir, "bin");
	Bun.spawnSync(["mkdir", "-p", bin]);
	writeFileSync(
		join(bin, "terwayctl"),
		`#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(entry)} "$@"\n`,
	);
	chmodSync(join(bin, "terwayctl"), 0o755);
	const f = join(dir, "terwayctl.bash");
	writeFileSync(f, script("bash", program));
	const complete = async (line: string) => {
		const r = await run(
			[
				"bash",
				"-c",
				`source ${JSON.stringify(f)}; read -ra COMP_WORDS <<< "$LINE"; [[ $LINE == *" " ]] && COMP_WORDS+=(""); COMP_CWORD=$((\${#COMP_WORDS[@]} - 1)); _terwayctl; printf '%s\\n' "\${COMPREPLY[@]}"`,
			],
			{ ...process.env, LINE: line, PATH: `${bin}:${process.env.PATH}`, TERWAY_DAEMON_SOCKET: h.socket },
		);
		return r.out.split("\n").filter(Boolean).sort();
	};
	const enis = (await h.call<EniInfo[]>("GET", "/v1/enis")).body.map((e) => e.id).sort();
	expect(await complete("terwayctl eni inspect ")).toEqual(enis);
	expect(await complete("terwayctl mapping --pod default/web-")).toEqual(["default/web-0", "default/web-1"]);
});
