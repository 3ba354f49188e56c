/**
 * Root suite: the plugin's commands end to end in-process (skel -> handlers -> planner ->
 * executor) against real namespaces, with the daemon port answering a literal allocation (the
 * daemon client is wired in a later pass). ADD -> CHECK -> drift -> DEL -> DEL again, a failing
 * ADD that releases its allocation and leaves nothing, DEL without the daemon.
 * Names carry prefixFor("dq").
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Result } from "../../src/core/cni/types.ts";
import { hostVethName, nodePlan } from "../../src/core/datapath/index.ts";
import { openHandles } from "../../src/ffi/handles.ts";
import { applyPlan } from "../../src/linux/apply.ts";
import { Netlink } from "../../src/linux/netlink/handle.ts";
import { createNetns, Netns } from "../../src/linux/netns.ts";
import { ensureSysctl } from "../../src/linux/sysctl.ts";
import { type Allocation, type DaemonPort, makeHandlers } from "../../src/plugin/commands.ts";
import { DaemonUnavailableError } from "../../src/plugin/errors.ts";
import { nullLogger } from "../../src/plugin/log.ts";
import { mapError } from "../../src/plugin/main.ts";
import { runSkel } from "../../src/plugin/skel.ts";
import { canRun, cleanupNetns, ipJson, ping, prefixFor, sh } from "../helpers/env.ts";

const P = prefixFor("dq");
const NODE = `${P}-node`;
const VPC = `${P}-vpc`;
const ENI = `${P}e1`;
const ENI_MAC = "02:00:00:00:0f:01";
const TABLE = 1004;

/** The daemon's answer for every pod here (AllocResponse fields), literally. */
const ALLOC: Allocation = {
	ipv4: { ip: "10.0.2.5", prefixLen: 24, gateway: "10.0.2.253", cidr: "10.0.2.0/24" },
	ipv6: { ip: "fd00:2::5", prefixLen: 64, gateway: "fd00:2::1", cidr: "fd00:2::/64" },
	eni: { id: "eni-dq1", mac: ENI_MAC, link: ENI, ifindex: 2 },
	routeTable: TABLE,
	datapath: "veth",
	serviceCidrs: ["10.96.0.0/12"],
};

/** An in-memory stand-in for terwayd's allocation record (what the wiring pass replaces). */
class Records implements DaemonPort {
	readonly held = new Map<string, Allocation>();
	readonly released: string[] = [];
	unavailable = false;
	async allocate(req: { containerId: string }) {
		if (this.unavailable) throw new DaemonUnavailableError("connect ENOENT");
		const a = this.held.get(req.containerId) ?? ALLOC;
		this.held.set(req.containerId, a);
		return a;
	}
	async lookup(req: { containerId: string }) {
		if (this.unavailable) throw new DaemonUnavailableError("connect ENOENT");
		return this.held.get(req.containerId);
	}
	async release(req: { containerId: string }) {
		this.held.delete(req.containerId);
		this.released.push(req.containerId);
	}
	async status() {
		if (this.unavailable) throw new DaemonUnavailableError("connect ENOENT");
	}
	async gc() {}
}

const CONF = { cniVersion: "1.0.0", name: "terway", type: "terway", capabilities: { bandwidth: true } };

describe.skipIf(!canRun("tests/netns/datapath-plugin.test.ts"))("plugin commands on real namespaces", () => {
	let node: Netns;
	let vpc: Netns;
	const daemon = new Records();
	const handlers = makeHandlers({ daemon, hostNetns: () => Netns.open(NODE) });

	async function cni(cmd: string, containerId: string, netns: string, stdin: object) {
		let out = "";
		const env: Record<string, string> = {
			CNI_COMMAND: cmd,
			CNI_CONTAINERID: containerId,
			CNI_NETNS: netns,
			CNI_IFNAME: "eth0",
			CNI_PATH: "/opt/cni/bin",
			CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=${containerId}`,
		};
		const code = await runSkel({
			handlers,
			ports: {
				getenv: (n) => env[n],
				readStdin: async () => JSON.stringify(stdin),
				writeStdout: (t) => {
					out += t;
				},
				writeStderr: () => {},
			},
			mapError,
			about: "test",
			log: nullLogger,
		});
		return { code, out, json: out ? JSON.parse(out) : undefined };
	}

	const nodeLinks = () =>
		ipJson<{ ifname: string }[]>(NODE, ["link", "show"])
			.map((l) => l.ifname)
			.sort();
	const nodeRules = () =>
		[
			...ipJson<{ priority: number }[]>(NODE, ["-4", "rule", "show"]),
			...ipJson<{ priority: number }[]>(NODE, ["-6", "rule", "show"]),
		]
			.map((r) => r.priority)
			.filter((p) => p === 512 || p === 2048);

	beforeAll(() => {
		cleanupNetns(P);
		node = createNetns(NODE);
		vpc = createNetns(VPC);
		using nlNode = Netlink.at(node);
		using nlVpc = Netlink.at(vpc);
		nlNode.linkAdd({ kind: "veth", name: ENI, mac: ENI_MAC, peerName: `${P}v1`, peerNetns: vpc });
		ensureSysctl(node, `net/ipv6/conf/${ENI}/accept_dad`, 0);
		ensureSysctl(vpc, `net/ipv6/conf/${P}v1/accept_dad`, 0);
		nlNode.linkSet(ENI, { up: true });
		// a node always has some IPv4 address; the kernel refuses onlink v4 routes in a netns without one
		nlNode.linkSet("lo", { up: true });
		nlVpc.linkSet(`${P}v1`, { up: true });
		nlVpc.addrAdd({ link: `${P}v1`, cidr: "10.0.2.253/24" });
		nlVpc.addrAdd({ link: `${P}v1`, cidr: "fd00:2::1/64", nodad: true });
		nlVpc.neighAdd({ link: `${P}v1`, ip: "10.0.2.5", mac: ENI_MAC });
		nlVpc.neighAdd({ link: `${P}v1`, ip: "fd00:2::5", mac: ENI_MAC });
		applyPlan(nodePlan({ ipv4: true, ipv6: true, eniLinks: [ENI] }), { host: node, pod: node });
	});

	afterAll(() => {
		node?.close();
		vpc?.close();
		cleanupNetns(P);
		expect(sh(["ip", "netns", "list"]).out).not.toContain(P);
		// every netns fd and netlink socket the commands opened was closed
		expect(openHandles().filter((h) => h.what.includes(P))).toEqual([]);
	});

	test("ADD -> result in the config's version; ping; ADD again is the same; CHECK clean; drift -> 104; DEL twice", async () => {
		const podName = `${P}-p1`;
		createNetns(podName).close();
		const netns = `/run/netns/${podName}`;
		const add = await cni("ADD", "c1", netns, CONF);
		expect(add.json?.msg).toBeUndefined();
		expect(add.code).toBe(0);
		const host = hostVethName("c1", "eth0");
		expect(add.json.cniVersion).toBe("1.0.0");
		expect(add.json.interfaces[0]).toEqual({ name: host, mac: "ee:ee:ee:ee:ee:ee" });
		expect(add.json.interfaces[1]).toMatchObject({ name: "eth0", mtu: 1500, sandbox: netns });
		expect(add.json.ips).toEqual([
			{ address: "10.0.2.5/32", gateway: "169.254.1.1", interface: 1 },
			{ address: "fd00:2::5/128", gateway: "fe80::1", interface: 1 },
		]);
		expect(ping(podName, "10.0.2.253")).toBe(true);
		expect(ping(podName, "fd00:2::1")).toBe(true);

		const again = await cni("ADD", "c1", netns, CONF);
		expect(again.code).toBe(0);
		expect(again.json).toEqual(add.json);

		const prevResult = add.json as Result;
		const check = await cni("CHECK", "c1", netns, { ...CONF, prevResult });
		expect(check).toEqual({ code: 0, out: "", json: undefined });

		sh(["ip", "-n", NODE, "-6", "rule", "del", "prio", "2048", "from", "fd00:2::5"]);
		const drift = await cni("CHECK", "c1", netns, { ...CONF, prevResult });
		expect(drift.code).toBe(1);
		expect(drift.json.code).toBe(104);
		expect(drift.json.details).toBe(`host: rule 2048 from fd00:2::5/128 lookup ${TABLE} is missing`);

		const del = await cni("DEL", "c1", netns, { ...CONF, prevResult });
		expect(del).toEqual({ code: 0, out: "", json: undefined });
		expect(nodeLinks()).toEqual(["lo", ENI].sort());
		expect(nodeRules()).toEqual([]);
		expect(daemon.released).toContain("c1");
		expect((await cni("DEL", "c1", netns, { ...CONF, prevResult })).code).toBe(0);
		expect((await cni("DEL", "c1", "", CONF)).code).toBe(0);
		sh(["ip", "netns", "del", podName]);
		expect((await cni("DEL", "c1", netns, CONF)).code).toBe(0);
	});

	test("ADD into a netns that does not exist -> 8, nothing allocated", async () => {
		const r = await cni("ADD", "c2", `/run/netns/${P}-nope`, CONF);
		expect(r.json.code).toBe(8);
		expect(daemon.held.has("c2")).toBe(false);
	});

	test("a failing ADD (eth0 already in the pod) -> 103, allocation released, nothing left on the node", async () => {
		const podName = `${P}-p3`;
		createNetns(podName).close();
		sh(["ip", "-n", podName, "link", "add", "eth0", "type", "veth", "peer", "name", "x0"]);
		const before = nodeLinks();
		const r = await cni("ADD", "c3", `/run/netns/${podName}`, CONF);
		expect(r.json.code).toBe(103);
		expect(r.json.msg).toContain("link eth0 already exists in the pod namespace");
		expect(daemon.released).toContain("c3");
		expect(daemon.held.has("c3")).toBe(false);
		expect(nodeLinks()).toEqual(before);
		expect(nodeRules()).toEqual([]);
		// the pod's own eth0 is untouched
		expect(ipJson<{ ifname: string }[]>(podName, ["link", "show"]).map((l) => l.ifname)).toContain("eth0");
	});

	test("DEL with terwayd unreachable still removes the datapath (from the container id and prevResult)", async () => {
		const podName = `${P}-p4`;
		createNetns(podName).close();
		const netns = `/run/netns/${podName}`;
		const add = await cni("ADD", "c4", netns, CONF);
		expect(add.code).toBe(0);
		daemon.unavailable = true;
		try {
			const del = await cni("DEL", "c4", netns, { ...CONF, prevResult: add.json });
			expect(del.code).toBe(0);
		} finally {
			daemon.unavailable = false;
		}
		expect(nodeLinks()).toEqual(["lo", ENI].sort());
		expect(nodeRules()).toEqual([]);
	});

	test("STATUS: 0 when the daemon serves, 50 when it is unreachable", async () => {
		const s11 = { ...CONF, cniVersion: "1.1.0" };
		expect((await cni("STATUS", "", "", s11)).code).toBe(0);
		daemon.unavailable = true;
		try {
			expect((await cni("STATUS", "", "", s11)).json.code).toBe(50);
		} finally {
			daemon.unavailable = false;
		}
	});
});
