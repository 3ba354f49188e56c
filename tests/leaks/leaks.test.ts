/**
 * Runs last, in its own process: nothing this run created may remain on the machine.
 * The run's prefix comes from TW_RUN_PREFIX (scripts/test.sh), so this checks exactly what
 * the run made and nothing else on the machine.
 */
import { describe, expect, test } from "bun:test";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { canRun, ipJson, RUN_PREFIX, sh } from "../helpers/env.ts";

describe.skipIf(!canRun("tests/leaks"))(`leftovers of run ${RUN_PREFIX}`, () => {
	test("no network namespace with the run prefix", () => {
		const names = sh(["ip", "netns", "list"])
			.out.split("\n")
			.map((l) => l.split(" ")[0] ?? "");
		expect(names.filter((n) => n.startsWith(RUN_PREFIX))).toEqual([]);
	});

	test("no host link with the run prefix", () => {
		const links = ipJson<{ ifname: string }[]>(undefined, ["link", "show"]);
		expect(links.map((l) => l.ifname).filter((n) => n.startsWith(RUN_PREFIX))).toEqual([]);
	});

	test("no sim world directory with the run prefix", () => {
		let worlds: string[] = [];
		try {
			worlds = readdirSync("/run/terway-sim");
		} catch {
			// no world was ever started on this machine
		}
		expect(worlds.filter((n) => n.startsWith(RUN_PREFIX))).toEqual([]);
	});

	test("no bpffs pin with the run prefix", () => {
		let entries: string[] = [];
		try {
			entries = readdirSync("/sys/fs/bpf");
		} catch {
			// no bpffs mounted: nothing can be pinned
		}
		expect(entries.filter((n) => n.startsWith(RUN_PREFIX))).toEqual([]);
	});

	test("nothing pinned under the product's default root /sys/fs/bpf/terway during the run", () => {
		const started = Number(process.env.TW_RUN_STARTED ?? Number.NaN) * 1000;
		if (Number.isNaN(started)) {
			console.warn("SKIP default pin root check: TW_RUN_STARTED is not set (run through scripts/test.sh)");
			return;
		}
		const fresh: string[] = [];
		const walk = (dir: string) => {
			let names: string[] = [];
			try {
				names = readdirSync(dir);
			} catch {
				return; // absent: nothing pinned there
			}
			for (const n of names) {
				const p = join(dir, n);
				const st = statSync(p);
				if (st.mtimeMs >= started) fresh.push(p);
				if (st.isDirectory()) walk(p);
			}
		};
		walk("/sys/fs/bpf/terway");
		// tests pin under /sys/fs/bpf/<prefix>...; the default root belongs to a real node's terwayd
		expect(fresh).toEqual([]);
	});
});
