import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type CniNetworkConfigList, parseConfList } from "./cni-config.ts";
import {
	buildEnv,
	buildPluginConfig,
	CniPluginError,
	CniPluginNotFoundError,
	CniRunner,
	CniTimeoutError,
	decodePluginError,
	type RuntimeConf,
} from "./cni-exec.ts";
import { installFakePlugin } from "./testing/fake-plugin.ts";

const root = mkdtempSync(join(tmpdir(), "kl-exec-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const binA = join(root, "binA");
const binB = join(root, "binB");
mkdirSync(binA);
mkdirSync(binB);
installFakePlugin(binB, ["fakemain", "fakechain"]);

type Record_ = { type: string; env: Record<string, string>; stdin: Record<string, unknown> };
let n = 0;
function setup(extra: { main?: object; chain?: object; cniVersion?: string } = {}) {
	const dir = join(root, `case${n++}`);
	mkdirSync(dir);
	const recordFile = join(dir, "records.ndjson");
	const list: CniNetworkConfigList = parseConfList(
		join(dir, "10-test.conflist"),
		JSON.stringify({
			cniVersion: extra.cniVersion ?? "1.0.0",
			name: "testnet",
			plugins: [
				{
					type: "fakemain",
					ip: "198.18.100.7/24",
					recordFile,
					capabilities: { portMappings: true },
					...extra.main,
				},
				{ type: "fakechain", recordFile, capabilities: { bandwidth: true, dns: false }, ...extra.chain },
			],
		}),
	);
	const runner = new CniRunner({
		cniPath: [binA, binB],
		cacheDir: join(dir, "cache"),
		timeoutMs: 5_000,
		baseEnv: { PATH: "/usr/bin:/bin", CNI_LEAK: "must not pass", KEEP: "1" },
	});
	const records = (): Record_[] =>
		existsSync(recordFile)
			? readFileSync(recordFile, "utf8")
					.trim()
					.split("\n")
					.map((l) => JSON.parse(l) as Record_)
			: [];
	return { dir, list, runner, records };
}

const rt: RuntimeConf = {
	containerId: "a".repeat(64),
	netns: "/run/netns/twxx-node1-12345678",
	ifName: "eth0",
	args: [
		["IgnoreUnknown", "1"],
		["K8S_POD_NAMESPACE", "default"],
		["K8S_POD_NAME", "web"],
		["K8S_POD_INFRA_CONTAINER_ID", "a".repeat(64)],
		["K8S_POD_UID", "12345678-aaaa"],
	],
	capabilityArgs: {
		portMappings: [{ hostPort: 8080, containerPort: 80, protocol: "tcp" }],
		bandwidth: { ingressRate: 1000 },
	},
};

describe("pure pieces", () => {
	test("env: exactly the six CNI variables, over the base env minus its CNI_*", () => {
		expect(buildEnv("ADD", rt, ["/a", "/b"], { PATH: "/bin", CNI_LEAK: "x" })).toEqual({
			PATH: "/bin",
			CNI_COMMAND: "ADD",
			CNI_CONTAINERID: "a".repeat(64),
			CNI_NETNS: "/run/netns/twxx-node1-12345678",
			CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web;K8S_POD_INFRA_CONTAINER_ID=${"a".repeat(64)};K8S_POD_UID=12345678-aaaa`,
			CNI_IFNAME: "eth0",
			CNI_PATH: "/a:/b",
		});
		// STATUS/GC: no container parameters, but the variables are present and empty (libcni AsEnv)
		expect(buildEnv("GC", {}, ["/a"], {})).toEqual({
			CNI_COMMAND: "GC",
			CNI_CONTAINERID: "",
			CNI_NETNS: "",
			CNI_ARGS: "",
			CNI_IFNAME: "",
			CNI_PATH: "/a",
		});
	});

	test("stdin: list name/version injected, runtimeConfig filtered by declared capabilities, prevResult", () => {
		const list = { name: "net", cniVersion: "1.0.0" };
		const plugin = {
			type: "p",
			name: "ignored",
			cniVersion: "0.3.1",
			capabilities: { bandwidth: true, portMappings: false, ips: true },
		};
		expect(buildPluginConfig(list, plugin, { cniVersion: "1.0.0", ips: [] }, rt.capabilityArgs)).toEqual({
			type: "p",
			name: "net",
			cniVersion: "1.0.0",
			capabilities: { bandwidth: true, portMappings: false, ips: true },
			prevResult: { cniVersion: "1.0.0", ips: [] },
			runtimeConfig: { bandwidth: { ingressRate: 1000 } },
		});
		// no declared capability with an arg -> no runtimeConfig key at all; no prevResult on the first
		expect(buildPluginConfig(list, { type: "p" }, undefined, rt.capabilityArgs)).toEqual({
			type: "p",
			name: "net",
			cniVersion: "1.0.0",
		});
	});

	test("error decoding follows libcni pluginErr", () => {
		expect(decodePluginError('{"code":7,"msg":"bad","details":"d"}', "", 1)).toEqual({
			code: 7,
			msg: "bad",
			details: "d",
		});
		expect(decodePluginError("", "boom\n", 1)).toEqual({
			code: 0,
			msg: 'netplugin failed: "boom\\n"',
			details: "",
		});
		expect(decodePluginError("", "", 2)).toEqual({
			code: 0,
			msg: "netplugin failed with no error message: exit status 2",
			details: "",
		});
		expect(decodePluginError("oops", "", 1).msg).toStartWith(
			'netplugin failed but error parsing its diagnostic message "oops"',
		);
	});
});

describe("running a chain through the fake plugin", () => {
	test("ADD runs in order with env, injected config and prevResult chaining; result cached as libcni does", async () => {
		const { list, runner, records } = setup();
		const result = await runner.add(list, rt);
		expect(result).toEqual({
			cniVersion: "1.0.0",
			interfaces: [{ name: "eth0", mac: "02:00:00:00:00:01", sandbox: rt.netns }, { name: "fakechain0" }],
			ips: [{ address: "198.18.100.7/24", interface: 0 }],
		});
		const rs = records();
		expect(rs.map((r) => `${r.type}:${r.env.CNI_COMMAND}`)).toEqual(["fakemain:ADD", "fakechain:ADD"]);
		expect(rs[0]?.env).toEqual(buildEnv("ADD", rt, [binA, binB], {}));
		expect(rs[0]?.stdin.prevResult).toBeUndefined();
		expect(rs[0]?.stdin.runtimeConfig).toEqual({ portMappings: rt.capabilityArgs.portMappings });
		expect(rs[0]?.stdin.name).toBe("testnet");
		expect(rs[1]?.stdin.prevResult).toEqual({
			cniVersion: "1.0.0",
			interfaces: [{ name: "eth0", mac: "02:00:00:00:00:01", sandbox: rt.netns }],
			ips: [{ address: "198.18.100.7/24", interface: 0 }],
		});
		expect(rs[1]?.stdin.runtimeConfig).toEqual({ bandwidth: { ingressRate: 1000 } });

		const cached = await runner.cached("testnet", rt);
		expect(cached?.kind).toBe("cniCacheV1");
		expect(cached?.result).toEqual(result);
		expect(cached?.netns).toBe(rt.netns);
		expect(cached?.cniArgs).toEqual(rt.args);
		expect(Buffer.from(cached?.config ?? "", "base64").toString()).toBe(list.bytes);
		expect(runner.cachePath("testnet", rt)).toEndWith(`/cache/results/testnet-${rt.containerId}-eth0`);
	});

	test("CHECK in order and DEL in reverse, both with the cached result; DEL drops the cache", async () => {
		const { list, runner, records } = setup();
		const result = await runner.add(list, rt);
		await runner.check(list, rt);
		await runner.del(list, rt);
		const rs = records().slice(2);
		expect(rs.map((r) => `${r.type}:${r.env.CNI_COMMAND}`)).toEqual([
			"fakemain:CHECK",
			"fakechain:CHECK",
			"fakechain:DEL",
			"fakemain:DEL",
		]);
		for (const r of rs) expect(r.stdin.prevResult).toEqual(result);
		expect(await runner.cached("testnet", rt)).toBeUndefined();
		// a second DEL (nothing cached) still runs every plugin, without prevResult
		await runner.del(list, rt);
		const again = records().slice(6);
		expect(again.map((r) => `${r.type}:${r.env.CNI_COMMAND}:${r.stdin.prevResult === undefined}`)).toEqual([
			"fakechain:DEL:true",
			"fakemain:DEL:true",
		]);
	});

	test("a 0.3.1 list: DEL has no prevResult and CHECK is refused", async () => {
		const { list, runner, records } = setup({ cniVersion: "0.3.1" });
		await runner.add(list, rt);
		await runner.del(list, rt);
		expect(
			records()
				.slice(2)
				.map((r) => r.stdin.prevResult),
		).toEqual([undefined, undefined]);
		await expect(runner.check(list, rt)).rejects.toThrow(/does not support the CHECK command/);
	});

	test("a failing plugin surfaces its error JSON as CniPluginError; later plugins do not run", async () => {
		const { list, runner, records } = setup({
			main: { fail: { command: "ADD", code: 11, msg: "pool warming up", details: "try later" } },
		});
		const e = await runner.add(list, rt).catch((x: unknown) => x);
		expect(e).toBeInstanceOf(CniPluginError);
		const pe = e as CniPluginError;
		expect({
			code: pe.code,
			msg: pe.msg,
			details: pe.details,
			plugin: pe.plugin,
			command: pe.command,
			exitCode: pe.exitCode,
		}).toEqual({
			code: 11,
			msg: "pool warming up",
			details: "try later",
			plugin: "fakemain",
			command: "ADD",
			exitCode: 1,
		});
		expect(pe.message).toBe('plugin type="fakemain" failed (add): pool warming up; try later');
		expect(records().map((r) => r.type)).toEqual(["fakemain"]);
		expect(await runner.cached("testnet", rt)).toBeUndefined();
	});

	test("stderr is the message when stdout is empty", async () => {
		const { list, runner } = setup({
			chain: { fail: { command: "ADD", code: 5, msg: "disk on fire" }, stderrOnly: true },
		});
		const e = (await runner.add(list, rt).catch((x: unknown) => x)) as CniPluginError;
		expect(e).toBeInstanceOf(CniPluginError);
		expect(e.msg).toBe('netplugin failed: "disk on fire\\n"');
		expect(e.stderr).toBe("disk on fire\n");
	});

	test("a plugin that hangs is killed at the timeout", async () => {
		const { list } = setup({ main: { sleepMs: 10_000 } });
		const runner = new CniRunner({ cniPath: [binB], cacheDir: join(root, "tcache"), timeoutMs: 300 });
		const t0 = performance.now();
		const e = await runner.add(list, rt).catch((x: unknown) => x);
		expect(e).toBeInstanceOf(CniTimeoutError);
		expect((e as CniTimeoutError).message).toBe('plugin type="fakemain" timed out (add) after 300 ms');
		expect(performance.now() - t0).toBeLessThan(5_000);
	});

	test("a plugin missing from CNI_PATH", async () => {
		const { list } = setup();
		const runner = new CniRunner({ cniPath: [binA], cacheDir: join(root, "nc") });
		const e = await runner.add(list, rt).catch((x: unknown) => x);
		expect(e).toBeInstanceOf(CniPluginNotFoundError);
		expect((e as Error).message).toBe(`failed to find plugin "fakemain" in path [${binA}]`);
	});

	test("invalid container ID or ifname is refused before anything runs", async () => {
		const { list, runner, records } = setup();
		await expect(runner.add(list, { ...rt, containerId: "-bad" })).rejects.toThrow(/invalid container ID/);
		await expect(runner.add(list, { ...rt, ifName: "a-very-long-ifname" })).rejects.toThrow(
			/invalid interface name/,
		);
		expect(records()).toEqual([]);
	});

	test("STATUS and GC (1.1.0): no container env; GC DELs stale cached attachments and sends both keys", async () => {
		const { list, runner, records } = setup({ cniVersion: "1.1.0" });
		const other = { ...rt, containerId: "b".repeat(64), netns: "/run/netns/other" };
		await runner.add(list, rt);
		await runner.add(list, other);
		await runner.status(list);
		const valid = [{ containerID: rt.containerId, ifname: "eth0" }];
		await runner.gc(list, valid);
		const rs = records().slice(4);
		expect(
			rs.map((r) => `${r.type}:${r.env.CNI_COMMAND}:${(r.env.CNI_CONTAINERID ?? "?").slice(0, 1)}`),
		).toEqual([
			"fakemain:STATUS:",
			"fakechain:STATUS:",
			"fakechain:DEL:b",
			"fakemain:DEL:b",
			"fakemain:GC:",
			"fakechain:GC:",
		]);
		expect(rs[2]?.env.CNI_NETNS).toBe("/run/netns/other");
		expect(rs[4]?.stdin["cni.dev/valid-attachments"]).toEqual(valid);
		expect(rs[4]?.stdin["cni.dev/attachments"]).toEqual(valid);
		expect(rs[4]?.env.CNI_IFNAME).toBe("");
		expect((await runner.cachedAttachments()).map((a) => a.containerId)).toEqual([rt.containerId]);
	});

	test("STATUS and GC are no-ops (libcni) below 1.1.0", async () => {
		const { list, runner, records } = setup();
		await runner.status(list);
		await runner.gc(list, []);
		expect(records()).toEqual([]);
	});
});
