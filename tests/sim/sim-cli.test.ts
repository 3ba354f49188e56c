/**
 * `terwayctl sim` end to end, through the CLI as an admin uses it: up (netns and loopback),
 * kubectl against the written kubeconfig, the real ECS SDK, metadata from inside a node, a pod
 * through the kubelet stand-in, faults and the request log, and down leaving nothing behind.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, rmSync, writeFileSync } from "node:fs";
import EcsMod, * as $Ecs from "@alicloud/ecs20140526";
import * as $OpenApi from "@alicloud/openapi-core";
import type { WorldInfo } from "../../src/sim/layout.ts";
import { canRun, cleanupNetns, ipJson, prefixFor, sh } from "../helpers/env.ts";

const EcsClient = (EcsMod as unknown as { default?: typeof EcsMod }).default ?? EcsMod;
const entry = new URL("../../src/bin/terwayctl.ts", import.meta.url).pathname;
const cli = (...args: string[]) => sh([process.execPath, entry, ...args], { allowFail: true });
const P = prefixFor("sm");
const L = prefixFor("sl");

function netnsOf(prefix: string): string[] {
	return sh(["ip", "netns", "list"])
		.out.split("\n")
		.map((l) => l.split(" ")[0] ?? "")
		.filter((n) => n.startsWith(`${prefix}-`));
}

describe.skipIf(!canRun("tests/sim/sim-cli.test.ts"))("terwayctl sim, netns mode", () => {
	let info: WorldInfo;
	const kubectl = (...args: string[]) =>
		sh(["kubectl", "--kubeconfig", `/run/terway-sim/${P}/kubeconfig`, ...args], { allowFail: true });
	const inNode = (node: string, ...argv: string[]) => cli("sim", "exec", "--prefix", P, node, "--", ...argv);

	afterAll(() => {
		cli("sim", "down", "--prefix", P);
		cleanupNetns(`${P}-`);
	});

	test("up --nodes 2 brings the world up and writes its files", () => {
		const r = cli("sim", "up", "--prefix", P, "--nodes", "2", "--json");
		expect(r.err).not.toContain("failed");
		expect(r.code).toBe(0);
		info = JSON.parse(r.out);
		expect(info.nodes.map((n) => n.name)).toEqual(["node-1", "node-2"]);
		expect(netnsOf(P).sort()).toEqual([`${P}-node-1`, `${P}-node-2`, `${P}-vpc`]);
		const again = cli("sim", "up", "--prefix", P);
		expect(again.code).toBe(1);
		expect(again.err.trim()).toBe(
			`terwayctl: a world with prefix "${P}" is already up (terwayctl sim down --prefix ${P})`,
		);
	});

	test("kubectl lists the nodes with the written kubeconfig", () => {
		const r = kubectl("get", "nodes", "-o", "name");
		expect(r.code).toBe(0);
		expect(r.out.trim().split("\n")).toEqual(["node/node-1", "node/node-2"]);
	});

	test("metadata answers each node with its own data, from inside the node", () => {
		for (const n of info.nodes) {
			const r = inNode(
				n.name,
				"curl",
				"-s",
				"-m",
				"3",
				"http://100.100.100.200/latest/meta-data/instance-id",
			);
			expect(r.out).toBe(n.instanceId);
			const ip = inNode(
				n.name,
				"curl",
				"-s",
				"-m",
				"3",
				"http://100.100.100.200/latest/meta-data/private-ipv4",
			);
			expect(ip.out).toBe(n.primaryIp);
		}
	});

	test("nodes reach each other across the VPC", () => {
		const r = inNode("node-1", "ping", "-c", "1", "-W", "2", info.nodes[1]!.primaryIp);
		expect(r.code).toBe(0);
	});

	test("an ENI created and attached through the real SDK appears in the node with its MAC", async () => {
		const ecs = new EcsClient(
			new $OpenApi.$OpenApiUtil.Config({
				accessKeyId: "LTAI5tSimTerwayAccessKey01",
				accessKeySecret: "SimTerwaySecret0000000000000001",
				endpoint: info.host.openapi,
				protocol: "HTTP",
				regionId: "cn-hangzhou",
				readTimeout: 5000,
				connectTimeout: 5000,
			}),
		);
		const node1 = info.nodes[0]!;
		const vsw = (
			await ecs.describeNetworkInterfaces(
				new $Ecs.DescribeNetworkInterfacesRequest({ regionId: "cn-hangzhou", instanceId: node1.instanceId }),
			)
		).body?.networkInterfaceSets?.networkInterfaceSet?.[0]?.vSwitchId;
		const created = await ecs.createNetworkInterface(
			new $Ecs.CreateNetworkInterfaceRequest({
				regionId: "cn-hangzhou",
				vSwitchId: vsw,
				securityGroupIds: ["sg-bp1sim0000000000000001"],
				secondaryPrivateIpAddressCount: 1,
				clientToken: `t-${P}-1`,
			}),
		);
		const eniId = created.body!.networkInterfaceId!;
		const mac = created.body!.macAddress!;
		await ecs.attachNetworkInterface(
			new $Ecs.AttachNetworkInterfaceRequest({
				regionId: "cn-hangzhou",
				networkInterfaceId: eniId,
				instanceId: node1.instanceId,
			}),
		);
		let status = "";
		for (let i = 0; i < 50 && status !== "InUse"; i++) {
			await Bun.sleep(50);
			const d = await ecs.describeNetworkInterfaces(
				new $Ecs.DescribeNetworkInterfacesRequest({ regionId: "cn-hangzhou", networkInterfaceId: [eniId] }),
			);
			status = d.body?.networkInterfaceSets?.networkInterfaceSet?.[0]?.status ?? "";
		}
		expect(status).toBe("InUse");
		const links = ipJson<{ ifname: string; address: string; flags: string[] }[]>(`${P}-node-1`, [
			"link",
			"show",
		]);
		const eni = links.find((l) => l.address === mac);
		expect(eni?.ifname).toBe("eth1");
		expect(eni?.flags).not.toContain("UP"); // hot-plugged, unconfigured

		await ecs.detachNetworkInterface(
			new $Ecs.DetachNetworkInterfaceRequest({
				regionId: "cn-hangzhou",
				networkInterfaceId: eniId,
				instanceId: node1.instanceId,
			}),
		);
		let gone = false;
		for (let i = 0; i < 50 && !gone; i++) {
			await Bun.sleep(50);
			gone = !ipJson<{ address: string }[]>(`${P}-node-1`, ["link", "show"]).some((l) => l.address === mac);
		}
		expect(gone).toBe(true); // detach unplugs the link from the node
	});

	test("a pod comes up through the kubelet stand-in (reference ptp plugin) and answers ping", async () => {
		const add = cli("sim", "pod", "add", "web-1", "--prefix", P, "--node", "node-2");
		expect(add.out.trim()).toBe("pod default/web-1 bound to node-2");
		let pod: { phase: string; podIP?: string } | undefined;
		for (let i = 0; i < 100 && pod?.phase !== "Running"; i++) {
			await Bun.sleep(100);
			pod = (
				JSON.parse(cli("sim", "pod", "list", "--prefix", P, "--json").out) as {
					name: string;
					phase: string;
					podIP?: string;
				}[]
			).find((p) => p.name === "web-1");
		}
		expect(pod?.phase).toBe("Running");
		expect(inNode("node-2", "ping", "-c", "1", "-W", "2", pod!.podIP!).code).toBe(0);
		expect(cli("sim", "pod", "del", "web-1", "--prefix", P).code).toBe(0);
		for (let i = 0; i < 100 && netnsOf(P).length > 3; i++) await Bun.sleep(100);
		expect(netnsOf(P).sort()).toEqual([`${P}-node-1`, `${P}-node-2`, `${P}-vpc`]);
	});

	test("faults are injected and visible in the log; a bad rule names the field and adds nothing", () => {
		const bad = cli("sim", "fault", "add", "--prefix", P, "--effect", "error");
		expect(bad.code).toBe(1);
		expect(bad.err.trim()).toBe('terwayctl: effect.code: required for kind "error"');
		const ok = cli(
			"sim",
			"fault",
			"add",
			"--prefix",
			P,
			"--face",
			"metadata",
			"--action",
			"instance-id",
			"--effect",
			"error",
			"--code",
			"x",
			"--status",
			"500",
			"--times",
			"1",
		);
		expect(ok.code).toBe(0);
		expect(
			inNode(
				"node-1",
				"curl",
				"-s",
				"-o",
				"/dev/null",
				"-w",
				"%{http_code}",
				"-m",
				"3",
				"http://100.100.100.200/latest/meta-data/instance-id",
			).out,
		).toBe("500");
		expect(JSON.parse(cli("sim", "fault", "list", "--prefix", P, "--json").out)).toEqual([]); // times: 1, spent
		const log = cli("sim", "log", "--prefix", P, "--face", "metadata", "--json")
			.out.trim()
			.split("\n")
			.map((l) => JSON.parse(l));
		expect(log.some((e: { status?: number; fault?: string }) => e.status === 500 && e.fault === "f1")).toBe(
			true,
		);
	});

	test("down removes exactly this world", () => {
		const r = cli("sim", "down", "--prefix", P);
		expect(r.code).toBe(0);
		expect(netnsOf(P)).toEqual([]);
		expect(existsSync(`/run/terway-sim/${P}`)).toBe(false);
		expect(cli("sim", "status", "--prefix", P).err.trim()).toBe(
			`terwayctl: no world with prefix "${P}" (start one with: terwayctl sim up --prefix ${P})`,
		);
	});
});

describe.skipIf(!canRun("tests/sim/sim-cli.test.ts (loopback)"))("terwayctl sim, loopback mode", () => {
	afterAll(() => {
		cli("sim", "down", "--prefix", L);
	});

	test("up, kubectl, per-node metadata, down — with no namespaces at all", async () => {
		const up = cli("sim", "up", "--prefix", L, "--mode", "loopback", "--nodes", "1", "--json");
		expect(up.code).toBe(0);
		const info: WorldInfo = JSON.parse(up.out);
		expect(netnsOf(L)).toEqual([]);
		const nodes = sh([
			"kubectl",
			"--kubeconfig",
			`/run/terway-sim/${L}/kubeconfig`,
			"get",
			"nodes",
			"-o",
			"name",
		]).out.trim();
		expect(nodes).toBe("node/node-1");
		const res = await fetch(`${info.nodes[0]!.metadata}/latest/meta-data/instance-id`);
		expect(await res.text()).toBe(info.nodes[0]!.instanceId);
		expect(cli("sim", "down", "--prefix", L).code).toBe(0);
		expect(existsSync(`/run/terway-sim/${L}`)).toBe(false);
	});

	test("snapshot, down, up --state restores the same world", () => {
		const up = cli("sim", "up", "--prefix", L, "--mode", "loopback", "--nodes", "1", "--json");
		const before: WorldInfo = JSON.parse(up.out);
		const file = `/tmp/${L}-snapshot.json`;
		expect(cli("sim", "snapshot", "--prefix", L, "-o", file).code).toBe(0);
		expect(cli("sim", "down", "--prefix", L).code).toBe(0);
		const again = cli("sim", "up", "--prefix", L, "--mode", "loopback", "--state", file, "--json");
		expect(again.code).toBe(0);
		const after: WorldInfo = JSON.parse(again.out);
		expect(after.nodes.map((n) => [n.name, n.instanceId, n.primaryIp])).toEqual(
			before.nodes.map((n) => [n.name, n.instanceId, n.primaryIp]),
		);
		expect(after.scenario).toBe(`snapshot ${file}`);
		expect(cli("sim", "up", "--prefix", "twx", "--state", file, "--nodes", "2").err.trim()).toBe(
			"terwayctl: --state restores a whole world: it cannot be combined with --scenario or --nodes",
		);
		expect(cli("sim", "down", "--prefix", L).code).toBe(0);
		rmSync(file, { force: true });
	});

	test("bad input: prefix, nodes and scenario are refused before anything is made", () => {
		expect(cli("sim", "up", "--prefix", "Bad-Prefix").err.trim()).toBe(
			'terwayctl: --prefix "Bad-Prefix": must be 1-10 of [a-z0-9], starting with a letter',
		);
		const n = cli("sim", "up", "--prefix", L, "--nodes", "zero");
		expect({ code: n.code, err: n.err.trim() }).toEqual({
			code: 2,
			err: 'terwayctl: --nodes "zero": expected a number from 1 to 99',
		});
		expect(cli("sim", "up", "--prefix", L, "--scenario", "/nonexistent.yaml").err.trim()).toBe(
			"terwayctl: --scenario /nonexistent.yaml: no such file",
		);
		const bad = `/tmp/${L}-bad.yaml`;
		writeFileSync(bad, 'name: bad\nregion: cn-hangzhou\nvpc: {id: vpc-x, cidr: "198.18.0.0/33"}\n');
		const r = cli("sim", "up", "--prefix", L, "--mode", "loopback", "--scenario", bad);
		rmSync(bad);
		expect(r.code).toBe(1);
		expect(r.err).toContain(`vpc.cidr: "198.18.0.0/33" is not a CIDR`);
		expect(r.err.trim().split("\n")).toHaveLength(1);
		expect(existsSync(`/run/terway-sim/${L}`)).toBe(false);
	});
});
