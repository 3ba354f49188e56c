/**
 * Root suite: the plugin on a datapathv2 allocation, in-process (skel -> handlers -> planner ->
 * executor) against real namespaces, with terwayd's side done by hand as its EniLinks does it
 * (programs pinned under a test pin root, terway_v2_in on the ENI). ADD attaches terway_v2_out to
 * the host veth and the pod's packets go through the redirect; CHECK is clean; DEL removes the
 * veth and its link pin; with the program pins gone an ADD falls back to the veth datapath with
 * one log line and the pod still works. Names carry prefixFor("dw"), pins /sys/fs/bpf/<prefix>.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, rmSync } from "node:fs";
import type { Attachment } from "../../src/core/cni/types.ts";
import { hostVethName, nodePlan } from "../../src/core/datapath/index.ts";
import { openHandles } from "../../src/ffi/handles.ts";
import { applyPlan } from "../../src/linux/apply.ts";
import { listAttached } from "../../src/linux/bpf/attach.ts";
import { PinLayout } from "../../src/linux/bpf/bpffs.ts";
import {
	attachV2ToEni,
	readV2Stats,
	removeDatapathV2,
	setupDatapathV2,
	V2_PROGRAMS,
} from "../../src/linux/bpf/datapathv2.ts";
import { Netlink } from "../../src/linux/netlink/handle.ts";
import { createNetns, Netns } from "../../src/linux/netns.ts";
import { ensureSysctl } from "../../src/linux/sysctl.ts";
import { type Allocation, type DaemonPort, makeHandlers } from "../../src/plugin/commands.ts";
import { createLogger } from "../../src/plugin/log.ts";
import { canRun, cleanupNetns, ping, prefixFor, sh } from "../helpers/env.ts";
import { runCni } from "./cni-in-process.ts";

const P = prefixFor("dw");
const NODE = `${P}-node`;
const VPC = `${P}-vpc`;
const ENI = `${P}e1`;
const ENI_MAC = "02:00:00:00:0f:02";
const PIN_ROOT = `/sys/fs/bpf/${P}`;

const ALLOC: Allocation = {
	ipv4: { ip: "10.0.3.5", prefixLen: 24, gateway: "10.0.3.253", cidr: "10.0.3.0/24" },
	eni: { id: "eni-dw1", mac: ENI_MAC, link: ENI, ifindex: 2 },
	routeTable: 1005,
	datapath: "datapathv2",
	serviceCidrs: ["10.96.0.0/12"],
	datapathv2: { pinRoot: PIN_ROOT },
};

class Records implements DaemonPort {
	readonly held = new Map<string, Allocation>();
	async allocate(req: { containerId: string }) {
		const a = this.held.get(req.containerId) ?? ALLOC;
		this.held.set(req.containerId, a);
		return a;
	}
	async lookup(req: { containerId: string }) {
		return this.held.get(req.containerId);
	}
	async release(req: { containerId: string }) {
		this.held.delete(req.containerId);
	}
	async status() {}
	async gc(_valid: Attachment[]) {
		return { heldIps: [] };
	}
}

const CONF = { cniVersion: "1.0.0", name: "terway", type: "terway" };

describe.skipIf(!canRun("tests/netns/datapathv2-plugin.test.ts"))("plugin on a datapathv2 allocation", () => {
	let node: Netns;
	let vpc: Netns;
	const lines: string[] = [];
	const log = createLogger({ sink: (l) => lines.push(l), level: "info" });
	const handlers = makeHandlers({ daemon: new Records(), hostNetns: () => Netns.open(NODE) });

	const cni = (cmd: string, containerId: string, netns: string, prevResult?: unknown) =>
		runCni(handlers, log, cmd, containerId, netns, prevResult ? { ...CONF, prevResult } : CONF);

	const linkPins = () => (existsSync(`${PIN_ROOT}/links`) ? readdirSync(`${PIN_ROOT}/links`).sort() : []);
	const ingressOf = (link: string) =>
		listAttached(node, link, { pinRoot: PIN_ROOT })
			.filter((a) => a.direction === "ingress")
			.map((a) => a.name);

	beforeAll(() => {
		cleanupNetns(P);
		rmSync(PIN_ROOT, { recursive: true, force: true });
		node = createNetns(NODE);
		vpc = createNetns(VPC);
		using nlNode = Netlink.at(node);
		using nlVpc = Netlink.at(vpc);
		nlNode.linkAdd({ kind: "veth", name: ENI, mac: ENI_MAC, peerName: `${P}v1`, peerNetns: vpc });
		nlNode.linkSet(ENI, { up: true });
		nlNode.linkSet("lo", { up: true });
		nlVpc.linkSet(`${P}v1`, { up: true });
		nlVpc.addrAdd({ link: `${P}v1`, cidr: "10.0.3.253/24" });
		for (const n of [5, 6]) nlVpc.neighAdd({ link: `${P}v1`, ip: `10.0.3.${n}`, mac: ENI_MAC });
		ensureSysctl(node, "net/ipv4/conf/all/rp_filter", 0);
		applyPlan(nodePlan({ ipv4: true, ipv6: false, eniLinks: [ENI] }), { host: node, pod: node });
		// terwayd's part (daemon/links.ts): programs pinned, terway_v2_in on the ENI
		expect(setupDatapathV2({ pinRoot: PIN_ROOT, skipCidrs: ALLOC.serviceCidrs })).toEqual({ ok: true });
		attachV2ToEni(node, ENI, PIN_ROOT);
	});

	afterAll(() => {
		node?.close();
		vpc?.close();
		cleanupNetns(P);
		removeDatapathV2(PIN_ROOT);
		rmSync(PIN_ROOT, { recursive: true, force: true });
		expect(openHandles().filter((h) => h.what.includes(P))).toEqual([]);
	});

	test("ADD attaches terway_v2_out; the pod's traffic is redirected; CHECK clean; DEL leaves no link pin", async () => {
		const pod = `${P}-p1`;
		createNetns(pod).close();
		const netns = `/run/netns/${pod}`;
		const pinsBefore = linkPins();
		const add = await cni("ADD", "c1", netns);
		expect({ code: add.code, msg: add.code ? add.out : "" }).toEqual({ code: 0, msg: "" });
		const host = hostVethName("c1", "eth0");
		expect(ingressOf(host)).toEqual([V2_PROGRAMS.out]);
		expect(linkPins().length).toBe(pinsBefore.length + 1);

		expect(ping(pod, "10.0.3.253", 1)).toBe(true); // the node learns the pod's neighbour
		const s0 = readV2Stats(PIN_ROOT);
		expect(ping(pod, "10.0.3.253", 3)).toBe(true);
		const s1 = readV2Stats(PIN_ROOT);
		expect(s1.outRedirect - s0.outRedirect).toBeGreaterThanOrEqual(3n);
		expect(s1.inRedirect - s0.inRedirect).toBeGreaterThanOrEqual(3n);

		const check = await cni("CHECK", "c1", netns, JSON.parse(add.out));
		expect({ code: check.code, out: check.out }).toEqual({ code: 0, out: "" });
		expect((await cni("DEL", "c1", netns)).code).toBe(0);
		expect(linkPins()).toEqual(pinsBefore);
		expect(sh(["ip", "-n", NODE, "link", "show", host], { allowFail: true }).code).not.toBe(0);
		sh(["ip", "netns", "del", pod]);
	});

	test("program pins gone (terwayd restarting): ADD falls back to veth with one log line; the pod works", async () => {
		const pins = new PinLayout(PIN_ROOT);
		removeDatapathV2(PIN_ROOT);
		expect(existsSync(pins.program(V2_PROGRAMS.out))).toBe(false);
		const pod = `${P}-p2`;
		createNetns(pod).close();
		const netns = `/run/netns/${pod}`;
		lines.length = 0;
		const add = await cni("ADD", "c2", netns);
		expect({ code: add.code, msg: add.code ? add.out : "" }).toEqual({ code: 0, msg: "" });
		const notes = lines.filter((l) => l.includes("datapathv2"));
		expect(notes).toHaveLength(1);
		expect(notes[0]).toContain(`terway_v2_out is not pinned under ${PIN_ROOT}`);
		expect(notes[0]).toContain('"datapath":"veth"');
		expect(ingressOf(hostVethName("c2", "eth0"))).toEqual([]);
		expect(ping(pod, "10.0.3.253", 2)).toBe(true);
		expect((await cni("DEL", "c2", netns)).code).toBe(0);
		sh(["ip", "netns", "del", pod]);
	});
});
