/**
 * The diagnose TUI through ink-testing-library: first render (header, gauges, counts, the list),
 * navigation (j/k/arrows, enter -> detail -> raw JSON, esc/backspace back), refresh (r and the
 * interval), q; plus the pure model (gauges, items, window) and that `--help` loads no react/ink.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { render } from "ink-testing-library";
import type { MappingRow, StatusResponse } from "../../daemon/api-types.ts";
import { finding, makeReport } from "../commands/diagnose/findings.ts";
import { eniInfo, status as nodeStatus, webRow } from "../commands/diagnose/testkit.ts";
import { App } from "./App.tsx";
import { gauge, itemsOf, type Overview, windowOf } from "./model.ts";

/** The diagnose testkit's node with a fuller pool, and its pod as the cloud lost its IP. */
const status: StatusResponse = {
	...nodeStatus,
	pool: { min: 2, max: 10, idle: 5, allocated: 3, capacity: 30, enis: 2 },
};

const rows: MappingRow[] = [
	{
		...webRow,
		containerId: "c1",
		checks: { store: true, cloud: false, metadata: true },
		problems: ["the cloud does not list 10.0.1.5 on eni-1"],
	},
];

function overview(n: number): Overview {
	return {
		at: new Date("2026-01-01T00:00:00Z"),
		report: makeReport({
			node: "node-1",
			socket: "/s",
			startedAt: new Date(),
			durationMs: 1,
			checks: ["mapping"],
			findings: [
				finding({
					id: "mapping.cloud",
					layer: "cloud",
					severity: "error",
					subject: "default/web",
					message: `the cloud does not list 10.0.1.5 (load ${n})`,
					fix: "kubectl delete pod -n default web",
				}),
				finding({ id: "pool.watermarks", layer: "daemon", severity: "ok", subject: "node-1", message: "ok" }),
			],
		}),
		status,
		enis: [eniInfo],
		mapping: rows,
	};
}

/** A loader counting its calls. */
function loader() {
	const l = { calls: 0, load: async () => overview(++l.calls) };
	return l;
}

async function until(frame: () => string | undefined, want: string | RegExp): Promise<string> {
	for (let i = 0; i < 200; i++) {
		const f = frame() ?? "";
		if (typeof want === "string" ? f.includes(want) : want.test(f)) return f;
		await Bun.sleep(10);
	}
	throw new Error(`screen never showed ${want}:\n${frame()}`);
}

const DOWN = "\u001B[B";
const ENTER = "\r";
const ESC = "\u001B";

describe("model", () => {
	test("gauges", () => {
		expect(gauge(5, 10, 10)).toBe("[#####.....]");
		expect(gauge(0, 0, 4)).toBe("[....]");
		expect(gauge(20, 10, 4)).toBe("[####]");
	});

	test("items: non-ok findings, then ENIs, then pods (a pod with problems is marked)", () => {
		const items = itemsOf(overview(1));
		expect(items.map((i) => i.section)).toEqual(["findings", "enis", "pods"]);
		expect(items[2]).toMatchObject({ key: "pod:default/web", severity: "error" });
		expect(items[2]!.label).toContain("(problems)");
	});

	test("the list window keeps the cursor visible", () => {
		expect(windowOf(5, 3, 10)).toEqual([0, 5]);
		expect(windowOf(100, 0, 10)).toEqual([0, 10]);
		expect(windowOf(100, 50, 10)).toEqual([45, 55]);
		expect(windowOf(100, 99, 10)).toEqual([90, 100]);
	});
});

describe("TUI", () => {
	test("renders the overview: node, pool gauges, counts, the list with the worst first", async () => {
		const l = loader();
		const ui = render(<App load={l.load} intervalMs={0} />);
		const f = await until(ui.lastFrame, "Findings (1)");
		expect(f).toContain("node node-1 (i-1)  terwayd ready");
		expect(f).toContain(`idle      ${gauge(5, 10)} 5 (min 2, max 10)`);
		expect(f).toContain(`allocated ${gauge(3, 30)} 3 of capacity 30   ENIs 2`);
		expect(f).toContain("1 error");
		expect(f).toContain("> ERROR cloud    default/web: the cloud does not list 10.0.1.5 (load 1)");
		expect(f).toContain("ENIs (1)");
		expect(f).toContain("Pods (1)");
		ui.unmount();
	});

	test("navigation: j/down move, enter opens detail then raw JSON, esc/backspace go back", async () => {
		const l = loader();
		const ui = render(<App load={l.load} intervalMs={0} />);
		await until(ui.lastFrame, "Findings (1)");
		ui.stdin.write("j");
		await until(ui.lastFrame, /> eni-1/);
		ui.stdin.write(ENTER);
		let f = await until(ui.lastFrame, "ENIs: eni-1");
		expect(f).toContain("vSwitch   vsw-1   primary IP 10.0.1.4");
		ui.stdin.write(ENTER);
		f = await until(ui.lastFrame, "raw JSON: eni:eni-1");
		expect(f).toContain('"routeTable": 1003');
		ui.stdin.write(ESC);
		await until(ui.lastFrame, "ENIs: eni-1");
		ui.stdin.write("\u007F"); // backspace
		await until(ui.lastFrame, /> eni-1/);
		ui.stdin.write(DOWN);
		await until(ui.lastFrame, /> default\/web/);
		ui.stdin.write("k");
		ui.stdin.write("k");
		f = await until(ui.lastFrame, /> ERROR/);
		ui.stdin.write(ENTER);
		f = await until(ui.lastFrame, "fix       kubectl delete pod -n default web");
		expect(f).toContain("layer     cloud");
		ui.unmount();
	});

	test("r refreshes now; the interval refreshes by itself", async () => {
		const l = loader();
		const ui = render(<App load={l.load} intervalMs={0} />);
		await until(ui.lastFrame, "(load 1)");
		ui.stdin.write("r");
		await until(ui.lastFrame, "(load 2)");
		expect(l.calls).toBe(2);
		ui.unmount();

		const t = loader();
		const timed = render(<App load={t.load} intervalMs={20} />);
		await until(timed.lastFrame, "(load 3)");
		timed.unmount();
	});

	test("a failed refresh keeps the last overview and says why", async () => {
		let n = 0;
		const load = async () => {
			n++;
			if (n > 1) throw new Error("terwayd went away");
			return overview(1);
		};
		const ui = render(<App load={load} intervalMs={0} />);
		await until(ui.lastFrame, "(load 1)");
		ui.stdin.write("r");
		const f = await until(ui.lastFrame, "refresh failed: terwayd went away");
		expect(f).toContain("(load 1)");
		ui.unmount();
	});

	test("q quits: the app unmounts and keys no longer move the cursor", async () => {
		const l = loader();
		const ui = render(<App load={l.load} intervalMs={0} />);
		await until(ui.lastFrame, "> ERROR");
		// control: while running, j moves the cursor
		ui.stdin.write("j");
		await until(ui.lastFrame, /> eni-1/);
		ui.stdin.write("k");
		await until(ui.lastFrame, "> ERROR");
		ui.stdin.write("q");
		// exit() unmounts the tree: ink leaves an empty last frame
		await until(ui.lastFrame, /^$/);
		ui.stdin.write("j");
		expect(ui.lastFrame()).toBe("");
		ui.unmount();
	});
});

test("terwayctl --help loads neither react nor ink (the TUI is imported lazily)", () => {
	const code = `const m = await import(${JSON.stringify(join(import.meta.dir, "../main.ts"))});
await m.run(["bun", "terwayctl", "--help"]);
const ks = Object.keys(require.cache).filter((k) => /node_modules\\/(ink|react)\\//.test(k));
process.stderr.write("LOADED " + ks.length + "\\n");`;
	const r = Bun.spawnSync([process.execPath, "-e", code], { stdout: "pipe", stderr: "pipe" });
	expect(r.stderr.toString()).toContain("LOADED 0");
});
