/**
 * The diagnose TUI in a real terminal: tmux (a private server, `-S <tmp>/tmux.sock`) runs the compiled
 * `terwayctl` (built here with the Makefile's flags, so ink and its WASM layout engine are
 * checked inside `bun build --compile`) as `sim exec node-1 -- terwayctl diagnose` against a
 * `sim up --cni terway` world; keys go in with `send-keys`, the screen comes back with
 * `capture-pane -p`. Skipped with a visible reason when tmux is missing or not root.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { canRun, prefixFor, sh } from "../helpers/env.ts";
import { ENTRY, SimWorld, scenario } from "./world.ts";

const P = prefixFor("tu");
const hasTmux = sh(["sh", "-c", "command -v tmux"], { allowFail: true }).code === 0;
const runnable = canRun("e2e: diagnose TUI under tmux", {
	check: () => (hasTmux ? undefined : "tmux is not installed (make setup installs it)"),
});
const tmp = runnable ? mkdtempSync(join(tmpdir(), `${P}-`)) : "";
const w = new SimWorld(P);
const bin = join(tmp, "terwayctl");
const SESSION = `${P}-tui`;

// a private server whose socket lives in this test's temp dir (removed with it)
const tmux = (...args: string[]) => sh(["tmux", "-S", join(tmp, "tmux.sock"), ...args], { allowFail: true });
const screen = () => tmux("capture-pane", "-p", "-t", SESSION).out;

async function until(want: string | RegExp, ms = 30_000): Promise<string> {
	const end = Date.now() + ms;
	for (;;) {
		const s = screen();
		if (typeof want === "string" ? s.includes(want) : want.test(s)) return s;
		if (Date.now() > end) throw new Error(`the screen never showed ${want}:\n${s}`);
		await Bun.sleep(100);
	}
}

describe.skipIf(!runnable)("e2e: diagnose TUI in a real terminal (tmux, compiled binary)", () => {
	beforeAll(async () => {
		sh([
			process.execPath,
			"build",
			join(import.meta.dir, "../../src/bin/terwayctl.ts"),
			"--compile",
			"--minify",
			"--bytecode",
			"--format=esm",
			"--splitting",
			"--external",
			"react-devtools-core",
			"--define",
			'process.env.NODE_ENV="production"',
			"--outfile",
			bin,
		]);
		const f = scenario(join(tmp, "scenario.json"), { eniConf: { min_pool_size: 1, max_pool_size: 5 } });
		w.up("--nodes", "1", "--scenario", f);
		await w.addPod("web", "node-1");
		await w.pod("web");
	}, 180_000);

	afterAll(() => {
		tmux("kill-server");
		w.down();
		rmSync(tmp, { recursive: true, force: true });
	}, 60_000);

	test("overview, list -> detail -> raw -> back, refresh, quit", async () => {
		const argv = [process.execPath, ENTRY, "sim", "exec", "--prefix", P, "node-1", "--", bin, "diagnose"];
		// the shell prints the TUI's exit status once it has left the alternate screen
		const cmd = `${[...argv, "--interval", "30"].map((x) => `'${x}'`).join(" ")}; echo "TUI-EXIT=$?"; sleep 60`;
		const r = tmux("new-session", "-d", "-x", "120", "-y", "40", "-s", SESSION, cmd);
		expect(r.code).toBe(0);

		// the overview: node, pool gauges, finding counts, the list
		let s = await until("Pods (1)");
		expect(s).toContain("terwayctl diagnose  node node-1");
		expect(s).toMatch(/pool {2}idle {6}\[[#.]{20}\] \d+ \(min 1, max 5\)/);
		expect(s).toMatch(/allocated \[[#.]{20}\] 1 of capacity \d+/);
		expect(s).toMatch(/findings {2}\d+ error {2}\d+ warn {2}\d+ info {2}\d+ ok/);
		expect(s).toContain("ENIs (1)");
		expect(s).toContain("default/web");
		expect(s).toContain("↑/↓ j/k move  enter details  r refresh  q quit");

		// the first item is selected; down to the pod (findings: the info ones, then ENIs, then pods)
		for (let i = 0; i < 20 && !/> default\/web/.test(screen()); i++) {
			tmux("send-keys", "-t", SESSION, "j");
			await Bun.sleep(100);
		}
		await until(/> default\/web/);
		tmux("send-keys", "-t", SESSION, "Enter");
		s = await until("Pods: default/web");
		expect(s).toMatch(/store ok {2}cloud ok {2}metadata ok/);
		tmux("send-keys", "-t", SESSION, "Enter");
		s = await until("raw JSON: pod:default/web");
		expect(s).toContain('"state": "allocated"');
		tmux("send-keys", "-t", SESSION, "Escape");
		await until("Pods: default/web");
		tmux("send-keys", "-t", SESSION, "BSpace");
		await until(/> default\/web/);

		// r refreshes: the "updated" clock moves on
		const before = /updated (\d\d:\d\d:\d\d)/.exec(screen())?.[1];
		await Bun.sleep(1100);
		tmux("send-keys", "-t", SESSION, "r");
		await until(new RegExp(`updated (?!${before})\\d\\d:\\d\\d:\\d\\d(?! refreshing)`));

		// q quits: the TUI exits 0 and the shell's screen is back (the alternate screen is left)
		tmux("send-keys", "-t", SESSION, "q");
		s = await until("TUI-EXIT=");
		expect(s).toContain("TUI-EXIT=0");
		expect(s).not.toContain("Pods (1)");
	}, 120_000);
});
