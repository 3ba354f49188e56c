import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
	CniConfigError,
	confFiles,
	loadConfDir,
	parseConfList,
	parseSingleConf,
	versionAtLeast,
} from "./cni-config.ts";

const root = mkdtempSync(join(tmpdir(), "kl-conf-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

let n = 0;
function dirWith(files: Record<string, string>): string {
	const d = join(root, `d${n++}`);
	mkdirSync(d);
	for (const [name, text] of Object.entries(files)) writeFileSync(join(d, name), text);
	return d;
}

const goodList = JSON.stringify({
	cniVersion: "1.0.0",
	name: "podnet",
	plugins: [
		{ type: "ptp", ipam: { type: "host-local" } },
		{ type: "bandwidth", capabilities: { bandwidth: true } },
	],
});

function errorOf(fn: () => unknown): CniConfigError {
	try {
		fn();
	} catch (e) {
		if (e instanceof CniConfigError) return e;
		throw e;
	}
	throw new Error("did not throw");
}

describe("conf dir: containerd's file choice", () => {
	test("the lexically first .conf/.conflist/.json wins; other extensions are ignored", async () => {
		const d = dirWith({
			"99-other.conflist": goodList.replace("podnet", "other"),
			"10-first.conflist": goodList,
			"00-readme.txt": "not a config",
			"50-single.conf": JSON.stringify({ cniVersion: "0.4.0", name: "single", type: "bridge" }),
		});
		expect((await confFiles(d)).map((f) => f.slice(d.length + 1))).toEqual([
			"10-first.conflist",
			"50-single.conf",
			"99-other.conflist",
		]);
		const list = await loadConfDir(d);
		expect(list.name).toBe("podnet");
		expect(list.file).toBe(join(d, "10-first.conflist"));
		expect(list.plugins.map((p) => p.type)).toEqual(["ptp", "bandwidth"]);
		expect(list.bytes).toBe(goodList);
	});

	test("a single .conf becomes a list of one", async () => {
		const d = dirWith({
			"10-a.conf": JSON.stringify({ cniVersion: "0.4.0", name: "single", type: "bridge", x: 1 }),
		});
		const list = await loadConfDir(d);
		expect({ name: list.name, cniVersion: list.cniVersion, plugins: list.plugins }).toEqual({
			name: "single",
			cniVersion: "0.4.0",
			plugins: [{ cniVersion: "0.4.0", name: "single", type: "bridge", x: 1 }],
		});
	});

	test("an empty or missing dir is an error naming it", async () => {
		const d = dirWith({ "x.txt": "" });
		await expect(loadConfDir(d)).rejects.toThrow(`${d}: no network config found`);
		await expect(loadConfDir(join(root, "nope"))).rejects.toThrow(/cannot read the CNI conf dir/);
	});

	test("a broken first file is an error (not skipped), naming the file", async () => {
		const d = dirWith({ "00-bad.conflist": "{nope", "10-good.conflist": goodList });
		await expect(loadConfDir(d)).rejects.toThrow(`${join(d, "00-bad.conflist")}: not valid JSON`);
	});
});

describe("validation names the file and the field", () => {
	const cases: [string, unknown, string][] = [
		["missing name", { cniVersion: "1.0.0", plugins: [{ type: "a" }] }, "name"],
		["bad name", { name: "a b", cniVersion: "1.0.0", plugins: [{ type: "a" }] }, "name"],
		["missing cniVersion", { name: "n", plugins: [{ type: "a" }] }, "cniVersion"],
		["unknown cniVersion", { name: "n", cniVersion: "9.9.9", plugins: [{ type: "a" }] }, "cniVersion"],
		["no plugins", { name: "n", cniVersion: "1.0.0" }, "plugins"],
		["empty plugins", { name: "n", cniVersion: "1.0.0", plugins: [] }, "plugins"],
		[
			"plugin without type",
			{ name: "n", cniVersion: "1.0.0", plugins: [{ type: "a" }, { ipam: {} }] },
			"plugins[1].type",
		],
		[
			"type with a slash",
			{ name: "n", cniVersion: "1.0.0", plugins: [{ type: "../sh" }] },
			"plugins[0].type",
		],
		["plugin not an object", { name: "n", cniVersion: "1.0.0", plugins: ["ptp"] }, "plugins[0]"],
		[
			"non-boolean capability",
			{ name: "n", cniVersion: "1.0.0", plugins: [{ type: "a", capabilities: { bandwidth: "yes" } }] },
			"plugins[0].capabilities.bandwidth",
		],
		[
			"disableCheck not a bool",
			{ name: "n", cniVersion: "1.0.0", disableCheck: 1, plugins: [{ type: "a" }] },
			"disableCheck",
		],
	];
	for (const [what, raw, field] of cases) {
		test(what, () => {
			const e = errorOf(() => parseConfList("/etc/cni/net.d/10-x.conflist", JSON.stringify(raw)));
			expect(e.file).toBe("/etc/cni/net.d/10-x.conflist");
			expect(e.field).toBe(field);
			expect(e.message).toStartWith(`/etc/cni/net.d/10-x.conflist: field "${field}": `);
		});
	}

	test("not an object", () => {
		expect(errorOf(() => parseConfList("f.conflist", "[1]")).message).toBe(
			"f.conflist: must be a JSON object",
		);
	});

	test("a conflist saved as .conf is told apart", () => {
		const e = errorOf(() => parseSingleConf("f.conf", goodList));
		expect(e.field).toBe("type");
		expect(e.message).toContain("looks like a conflist");
	});

	test("disableCheck/disableGC accept booleans and libcni's strings", () => {
		const l = parseConfList(
			"f",
			JSON.stringify({
				name: "n",
				cniVersion: "1.1.0",
				disableCheck: "true",
				disableGC: true,
				plugins: [{ type: "a" }],
			}),
		);
		expect([l.disableCheck, l.disableGC]).toEqual([true, true]);
	});
});

test("versionAtLeast", () => {
	expect(versionAtLeast("0.4.0", "0.4.0")).toBe(true);
	expect(versionAtLeast("1.0.0", "0.4.0")).toBe(true);
	expect(versionAtLeast("0.3.1", "0.4.0")).toBe(false);
	expect(versionAtLeast("1.1.0", "1.1.0")).toBe(true);
	expect(versionAtLeast("1.0.0", "1.1.0")).toBe(false);
});
