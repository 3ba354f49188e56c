/**
 * Root suite: the plugin's commands end to end in-process (skel -> handlers -> planner ->
 * executor) against real namespaces, with the daemon port answering a literal allocation (the
 * daemon client is wired in a later pass). ADD -> CHECK -> drift -> DEL -> DEL again, a failing
 * ADD that releases its allocation and leaves nothing, DEL without the daemon.
 * Names carry prefixFor("dq").
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Attachment, Result } from "../../src/core/cni/types.ts";
import { hostVethName, nodePlan } from "../../src/core/datapath/index.ts";
import { openHandles } from "../../src/ffi/handles.ts";
import { applyPlan } from "../../src/linux/apply.ts";
import { Netlink } from "../../src/linux/netlink/handle.ts";
import { createNetns, Netns } from "../../src/linux/netns.ts";
import { ensureSysctl } from "../../src/linux/sysctl.ts";
import { type Allocation, type DaemonPort, makeHandlers } from "../../src/plugin/commands.ts";
import { DaemonUnavailableError } from "../../src/plugin/errors.ts";
import { nullLogger } from "../../src/plugin/log.ts";
import type { PendingRelease } from "../../src/plugin/release-journal.ts";
import { canRun, cleanupNetns, ipJson, ping, prefixFor, sh } from "../helpers/env.ts";
import { runCni } from "./cni-in-process.ts";

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
	async gc(valid: Attachment[]) {
		if (this.unavailable) throw new DaemonUnavailableError("connect ENOENT");
		const keep = new Set(valid.map((a) => a.containerID));
		const heldIps: string[] = [];
		for (const [id, a] of this.held) {
			if (!keep.has(id)) {
				this.held.delete(id);
				this.released.push(id);
			} else heldIps.push(...[a.ipv4?.ip, a.ipv6?.ip].filter((x): x is string => !!x));
		}
		return { heldIps };
	}
}

const CONF = { cniVersion: "1.0.0", name: "terway", type: "terway", capabilities: { bandwidth: true } };

describe.skipIf(!canRun("tests/netns/datapath-plugin.test.ts"))("plugin commands on real namespaces", () => {
	let node: Netns;
	let vpc: Netns;
	const daemon = new Records();
	const journaled: PendingRelease[] = [];
	const handlers = makeHandlers({
		daemon,
		hostNetns: () => Netns.open(NODE),
		journal: (r) => journaled.push(r),
	});

	async function cni(cmd: string, containerId: string, netns: string, stdin: object) {
		const r = await runCni(handlers, nullLogger, cmd, containerId, netns, stdin);
		return { ...r, json: r.out ? JSON.parse(r.out) : undefined };
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

	type IpRule = { priority: number; src?: string; dst?: string; dstlen?: number; table?: string };
	/** `ip -j rule` of both families, as iproute2 prints it (the cross-check of the netlink layer). */
	const allRules = () => [
		...ipJson<IpRule[]>(NODE, ["-4", "rule", "show"]),
		...ipJson<IpRule[]>(NODE, ["-6", "rule", "show"]),
	];
	/** The node's rules and main-table routes that name one of `ips` (bare addresses). */
	const traces = (...ips: string[]) => ({
		rules: allRules().filter((r) => ips.includes(r.src ?? "") || ips.includes(r.dst ?? "")),
		routes: [
			...ipJson<{ dst: string; dev?: string }[]>(NODE, ["-4", "route", "show", "table", "main"]),
			...ipJson<{ dst: string; dev?: string }[]>(NODE, ["-6", "route", "show", "table", "main"]),
		].filter((r) => ips.includes(r.dst.split("/")[0] ?? "")),
	});
	/** A second pod's allocation: same ENI, its own addresses (the fake VPC answers them too). */
	const allocFor = (n: number): Allocation => ({
		...ALLOC,
		ipv4: { ...(ALLOC.ipv4 as NonNullable<Allocation["ipv4"]>), ip: `10.0.2.${n}` },
		ipv6: { ...(ALLOC.ipv6 as NonNullable<Allocation["ipv6"]>), ip: `fd00:2::${n}` },
	});

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
		for (const n of [6, 7]) {
			nlVpc.neighAdd({ link: `${P}v1`, ip: `10.0.2.${n}`, mac: ENI_MAC });
			nlVpc.neighAdd({ link: `${P}v1`, ip: `fd00:2::${n}`, mac: ENI_MAC });
		}
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
		expect(journaled.map((j) => j.containerId)).toEqual(["c4"]);
	});

	test("DEL with terwayd unreachable and NO prevResult: the pod's addresses come from the host veth's routes; no link, rule or route is left; the release is journaled", async () => {
		const podName = `${P}-p5`;
		createNetns(podName).close();
		const netns = `/run/netns/${podName}`;
		const add = await cni("ADD", "c5", netns, CONF);
		expect(add.code).toBe(0);
		expect(traces("10.0.2.5", "fd00:2::5").rules).toHaveLength(4);
		journaled.splice(0);
		daemon.unavailable = true;
		try {
			const del = await cni("DEL", "c5", netns, CONF);
			expect(del).toEqual({ code: 0, out: "", json: undefined });
			// repeated: nothing left to find, still fine
			expect((await cni("DEL", "c5", netns, CONF)).code).toBe(0);
		} finally {
			daemon.unavailable = false;
		}
		expect(nodeLinks()).toEqual(["lo", ENI].sort());
		expect(nodeRules()).toEqual([]);
		expect(traces("10.0.2.5", "fd00:2::5")).toEqual({ rules: [], routes: [] });
		expect(journaled.map((j) => [j.containerId, j.pod.name, j.reason])).toEqual([
			["c5", "c5", "normal release"],
			["c5", "c5", "normal release"],
		]);
		// terwayd still holds it until it applies the journal
		expect(daemon.held.has("c5")).toBe(true);
		await daemon.release({ containerId: "c5" });
	});

	test("DEL without a record or prevResult and the host routes gone: the addresses of the veth's pod end stand in", async () => {
		const podName = `${P}-p6`;
		createNetns(podName).close();
		const netns = `/run/netns/${podName}`;
		expect((await cni("ADD", "c6", netns, CONF)).code).toBe(0);
		const host = hostVethName("c6", "eth0");
		sh(["ip", "-n", NODE, "-4", "route", "del", "10.0.2.5/32", "dev", host]);
		sh(["ip", "-n", NODE, "-6", "route", "del", "fd00:2::5/128", "dev", host]);
		// the daemon answers, but has forgotten the container
		daemon.held.delete("c6");
		const del = await cni("DEL", "c6", netns, CONF);
		expect(del).toEqual({ code: 0, out: "", json: undefined });
		expect(nodeLinks()).toEqual(["lo", ENI].sort());
		expect(traces("10.0.2.5", "fd00:2::5")).toEqual({ rules: [], routes: [] });
	});

	test("DEL without a record never takes another pod's rules: a foreign eth0 holding a live pod's address is not our veth's peer", async () => {
		const live = `${P}-p7`;
		createNetns(live).close();
		const add = await cni("ADD", "c7", `/run/netns/${live}`, CONF);
		expect(add.code).toBe(0);
		// a netns whose eth0 (not a veth of ours) carries the live pod's addresses
		const other = `${P}-p8`;
		createNetns(other).close();
		sh(["ip", "-n", other, "link", "add", "eth0", "type", "veth", "peer", "name", "x0"]);
		sh(["ip", "-n", other, "addr", "add", "10.0.2.5/32", "dev", "eth0"]);
		sh(["ip", "-n", other, "link", "set", "eth0", "up"]);
		const before = traces("10.0.2.5", "fd00:2::5");
		expect(before.rules).toHaveLength(4);
		daemon.unavailable = true;
		try {
			expect((await cni("DEL", "c8", `/run/netns/${other}`, CONF)).code).toBe(0);
		} finally {
			daemon.unavailable = false;
		}
		expect(traces("10.0.2.5", "fd00:2::5")).toEqual(before);
		const check = await cni("CHECK", "c7", `/run/netns/${live}`, { ...CONF, prevResult: add.json });
		expect(check).toEqual({ code: 0, out: "", json: undefined });
		expect((await cni("DEL", "c7", `/run/netns/${live}`, CONF)).code).toBe(0);
		expect(traces("10.0.2.5", "fd00:2::5")).toEqual({ rules: [], routes: [] });
	});

	test("GC: the leftovers of unlisted attachments go (our veths, their routes, the rules of addresses no listed attachment holds); a listed pod still works; nothing foreign is touched", async () => {
		const gc11 = { ...CONF, cniVersion: "1.1.0" };
		const pods = { g1: `${P}-g1`, g2: `${P}-g2` };
		for (const ns of Object.values(pods)) createNetns(ns).close();
		daemon.held.set("g1", allocFor(6));
		daemon.held.set("g2", allocFor(7));
		const a1 = await cni("ADD", "g1", `/run/netns/${pods.g1}`, CONF);
		const a2 = await cni("ADD", "g2", `/run/netns/${pods.g2}`, CONF);
		expect([a1.code, a2.code]).toEqual([0, 0]);
		expect(ping(pods.g1, "10.0.2.253")).toBe(true);
		// g1 becomes a leftover: terwayd forgot it and its DEL never came
		daemon.held.delete("g1");
		// leftover rules of an earlier pod whose veth is already gone (10.0.2.9)
		sh(["ip", "-n", NODE, "rule", "add", "prio", "512", "to", "10.0.2.9", "lookup", "main"]);
		sh(["ip", "-n", NODE, "rule", "add", "prio", "2048", "from", "10.0.2.9", "lookup", String(TABLE)]);
		// not ours: other shapes, priorities and links, even on a leftover address
		const foreignRules = [
			["prio", "512", "from", "10.0.2.6", "lookup", String(TABLE)],
			["prio", "2048", "to", "10.0.2.9", "lookup", String(TABLE)],
			["prio", "1000", "from", "10.0.2.6", "lookup", String(TABLE)],
			["prio", "512", "to", "10.0.2.0/24", "lookup", "main"],
		];
		for (const r of foreignRules) sh(["ip", "-n", NODE, "rule", "add", ...r]);
		sh(["ip", "-n", NODE, "link", "add", "caliFOREIGN0001", "type", "veth", "peer", "name", `${P}f1`]);
		sh(["ip", "-n", NODE, "link", "add", `${P}x`, "type", "veth", "peer", "name", `${P}f2`]);
		const foreignLinks = ["caliFOREIGN0001", `${P}f1`, `${P}x`, `${P}f2`];
		try {
			const before = allRules().filter(
				(r) => ![512, 2048].includes(r.priority) || r.src === "10.0.2.7" || r.dst === "10.0.2.7",
			);
			const gc = await cni("GC", "", "", {
				...gc11,
				"cni.dev/valid-attachments": [{ containerID: "g2", ifname: "eth0" }],
			});
			expect(gc).toEqual({ code: 0, out: "", json: undefined });
			expect(nodeLinks()).toEqual(["lo", ENI, hostVethName("g2", "eth0"), ...foreignLinks].sort());
			expect(traces("10.0.2.6", "fd00:2::6", "10.0.2.9").rules).toEqual([
				expect.objectContaining({ priority: 512, src: "10.0.2.6", table: String(TABLE) }),
				expect.objectContaining({ priority: 1000, src: "10.0.2.6", table: String(TABLE) }),
				expect.objectContaining({ priority: 2048, dst: "10.0.2.9", table: String(TABLE) }),
			]);
			expect(traces("10.0.2.6", "fd00:2::6", "10.0.2.9").routes).toEqual([]);
			// everything else of the node's rules is as it was (g2's four included)
			const after = allRules().filter(
				(r) => ![512, 2048].includes(r.priority) || r.src === "10.0.2.7" || r.dst === "10.0.2.7",
			);
			expect(after).toEqual(before);
			expect(allRules()).toContainEqual(
				expect.objectContaining({ priority: 512, dst: "10.0.2.0", dstlen: 24 }),
			);
			expect(traces("10.0.2.7", "fd00:2::7").rules).toHaveLength(4);
			const check = await cni("CHECK", "g2", `/run/netns/${pods.g2}`, { ...CONF, prevResult: a2.json });
			expect(check).toEqual({ code: 0, out: "", json: undefined });
			expect(ping(pods.g2, "10.0.2.253")).toBe(true);
			expect(ping(pods.g2, "fd00:2::1")).toBe(true);
			// a second GC finds nothing more
			expect(
				(
					await cni("GC", "", "", {
						...gc11,
						"cni.dev/valid-attachments": [{ containerID: "g2", ifname: "eth0" }],
					})
				).code,
			).toBe(0);
			expect(traces("10.0.2.7", "fd00:2::7").rules).toHaveLength(4);
		} finally {
			for (const r of foreignRules) sh(["ip", "-n", NODE, "rule", "del", ...r], { allowFail: true });
			for (const r of [
				["prio", "512", "to", "10.0.2.9", "lookup", "main"],
				["prio", "2048", "from", "10.0.2.9", "lookup", String(TABLE)],
			])
				sh(["ip", "-n", NODE, "rule", "del", ...r], { allowFail: true });
			sh(["ip", "-n", NODE, "link", "del", "caliFOREIGN0001"], { allowFail: true });
			sh(["ip", "-n", NODE, "link", "del", `${P}x`], { allowFail: true });
		}
		expect((await cni("DEL", "g2", `/run/netns/${pods.g2}`, CONF)).code).toBe(0);
		expect(nodeLinks()).toEqual(["lo", ENI].sort());
		expect(nodeRules()).toEqual([]);
	});

	test("GC with terwayd unreachable still cleans the node, then answers 11", async () => {
		const ns = `${P}-g3`;
		createNetns(ns).close();
		expect((await cni("ADD", "g3", `/run/netns/${ns}`, CONF)).code).toBe(0);
		daemon.unavailable = true;
		try {
			const gc = await cni("GC", "", "", { ...CONF, cniVersion: "1.1.0", "cni.dev/valid-attachments": [] });
			expect(gc.json?.code).toBe(11);
		} finally {
			daemon.unavailable = false;
		}
		expect(nodeLinks()).toEqual(["lo", ENI].sort());
		expect(traces("10.0.2.5", "fd00:2::5")).toEqual({ rules: [], routes: [] });
		await daemon.release({ containerId: "g3" });
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
