/**
 * Root suite for src/sim/netns: the VPC of network namespaces, driven by hand-made WorldEvents
 * (no world model). Two nodes; node-to-node v4/v6 over the primary ENIs; a hot-plugged ENI
 * (eth1, API MAC, down) configured like the daemon would and carrying traffic; spoofed sources
 * dropped inside the VPC (port rx counter rises, the peer never sees an echo); eni.ips and
 * eni.detached cutting traffic; a metadata-style server in the VPC telling nodes apart by source
 * address; destroy() leaving nothing. Everything carries prefixFor("nd"); afterAll removes it.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { openHandles } from "../../src/ffi/handles.ts";
import { listNetns } from "../../src/linux/netns.ts";
import type { EniView, InstanceView, WorldEvent } from "../../src/sim/contracts.ts";
import { portName, serveIn, VpcDatapath, worldNetns } from "../../src/sim/netns/index.ts";
import { canRun, cleanupNetns, ipJson, ping, prefixFor, sh } from "../helpers/env.ts";

const P = prefixFor("nd");
const VPC = `${P}-vpc`;
const N1 = `${P}-node1`;
const N2 = `${P}-node2`;
const GW = "198.18.0.253";
const GW6 = "fd00:18::fffd";
const MAC = { e1: "00:16:3e:00:00:01", e2: "00:16:3e:00:00:02", e3: "00:16:3e:00:00:03" };

function eni(
	id: string,
	mac: string,
	instanceId: string,
	deviceIndex: number,
	ips: string[],
	ipv6s: string[],
): EniView {
	return {
		eniId: id,
		mac,
		type: deviceIndex === 0 ? "Primary" : "Secondary",
		status: "InUse",
		instanceId,
		deviceIndex,
		vpcId: "vpc-1",
		vswitchId: "vsw-1",
		zoneId: "cn-hangzhou-k",
		cidr: "198.18.0.0/24",
		gateway: GW,
		ipv6Cidr: "fd00:18::/64",
		ipv6Gateway: GW6,
		primaryIp: ips[0] ?? "",
		ips,
		ipv6s,
		securityGroupIds: ["sg-1"],
		tags: {},
		creationTime: "2025-01-01T00:00:00Z",
	};
}

function instance(n: number, primary: EniView): InstanceView {
	return {
		instanceId: `i-${n}`,
		regionId: "cn-hangzhou",
		zoneId: "cn-hangzhou-k",
		instanceType: "ecs.g7.large",
		nodeName: `node${n}`,
		hostname: `node${n}`,
		vpcId: "vpc-1",
		primaryEni: primary,
		ramRole: "role",
	};
}

const inst1 = instance(1, eni("eni-1", MAC.e1, "i-1", 0, ["198.18.0.11"], ["fd00:18::11"]));
const inst2 = instance(2, eni("eni-2", MAC.e2, "i-2", 0, ["198.18.0.12"], ["fd00:18::12"]));
const eni3 = eni("eni-3", MAC.e3, "i-1", 1, ["198.18.0.21", "198.18.0.22"], ["fd00:18::21"]);
const PORT3 = portName(MAC.e3);

type IpLink = { ifname: string; address: string; flags: string[]; stats64?: { rx: { packets: number } } };
type IpAddr = { ifname: string; addr_info: { local: string; prefixlen: number }[] };
type IpRoute = { dst: string; dev?: string; gateway?: string };
type IpNeigh = { dst: string; dev: string; lladdr?: string; state: string[] };
type IpRule = {
	priority: number;
	src?: string;
	srclen?: number;
	iif?: string;
	action?: string;
	goto?: number;
	table?: string;
};

const ns = (name: string, ...argv: string[]) => ["ip", "netns", "exec", name, ...argv];
/** ping from a bound source address; true when the reply came back. */
const pingFrom = (node: string, src: string, dst: string, count = 1) =>
	sh(
		ns(
			node,
			"ping",
			...(dst.includes(":") ? ["-6"] : []),
			"-c",
			String(count),
			"-i",
			"0.2",
			"-W",
			"1",
			"-I",
			src,
			dst,
		),
		{
			allowFail: true,
		},
	).code === 0;
const rxPackets = (nsName: string, link: string) =>
	ipJson<IpLink[]>(nsName, ["-s", "link", "show", link])[0]?.stats64?.rx.packets ?? -1;
/** Echo requests a node has received (Icmp InEchos / Icmp6 InEchos). */
function inEchos(node: string, v6 = false): number {
	if (v6) {
		const m = /Icmp6InEchos\s+(\d+)/.exec(sh(ns(node, "cat", "/proc/net/snmp6")).out);
		return Number(m?.[1]);
	}
	const lines = sh(ns(node, "cat", "/proc/net/snmp"))
		.out.split("\n")
		.filter((l) => l.startsWith("Icmp:"));
	const [head, vals] = lines.map((l) => l.split(/\s+/));
	return Number(vals?.[head?.indexOf("InEchos") ?? -1]);
}
/** The VPC's state as `ip` sees it (for idempotency comparisons). */
const vpcDump = () => ({
	routes: ipJson(VPC, ["route", "show", "table", "all"]),
	routes6: ipJson(VPC, ["-6", "route", "show", "table", "main"]),
	neigh: ipJson<IpNeigh[]>(VPC, ["neigh", "show"]).filter((n) => n.state.includes("PERMANENT")),
	rules: ipJson(VPC, ["rule", "show"]),
	rules6: ipJson(VPC, ["-6", "rule", "show"]),
	proxies: sh(["ip", "-n", VPC, "-6", "neigh", "show", "proxy"]).out.split("\n").sort(),
});
const portRules = (port: string) =>
	[...ipJson<IpRule[]>(VPC, ["-4", "rule", "show"]), ...ipJson<IpRule[]>(VPC, ["-6", "rule", "show"])].filter(
		(r) => r.iif === port,
	);

async function curlIn(node: string, url: string, iface?: string): Promise<{ code: number; out: string }> {
	const p = Bun.spawn(ns(node, "curl", "-s", "-m", "3", ...(iface ? ["--interface", iface] : []), url), {
		stdout: "pipe",
		stderr: "pipe",
	});
	const [out, code] = await Promise.all([new Response(p.stdout).text(), p.exited]);
	return { code, out };
}

describe.skipIf(!canRun("tests/sim/netns-datapath.test.ts"))("sim netns datapath (VPC of namespaces)", () => {
	let vpc: VpcDatapath;
	const handle = (e: WorldEvent) => vpc.handle(e);

	beforeAll(() => {
		cleanupNetns(P);
		vpc = VpcDatapath.create(P, {
			vpcCidr: "198.18.0.0/16",
			ipv6Cidr: "fd00:18::/56",
			vswitches: [{ cidr: "198.18.0.0/24", gateway: GW, ipv6Cidr: "fd00:18::/64", ipv6Gateway: GW6 }],
		});
	});

	afterAll(() => {
		try {
			vpc?.destroy();
		} finally {
			cleanupNetns(P);
		}
		expect(openHandles().filter((h) => h.what.includes(P))).toEqual([]);
	});

	test("create: router netns with gateways and endpoints on lo, no default route, local rule moved", () => {
		expect(listNetns()).toContain(VPC);
		const lo = ipJson<IpAddr[]>(VPC, ["addr", "show", "lo"])[0]?.addr_info.map(
			(a) => `${a.local}/${a.prefixlen}`,
		);
		expect(lo).toEqual(
			expect.arrayContaining([
				`${GW}/32`,
				`${GW6}/128`,
				"100.100.100.200/32",
				"100.100.0.10/32",
				"100.100.0.20/32",
			]),
		);
		expect(ipJson(VPC, ["route", "show", "default"])).toEqual([]);
		expect(ipJson(VPC, ["-6", "route", "show", "default"])).toEqual([]);
		expect(sh(["ip", "netns", "exec", VPC, "cat", "/proc/sys/net/ipv4/ip_forward"]).out.trim()).toBe("1");
		expect(sh(["ip", "netns", "exec", VPC, "cat", "/proc/sys/net/ipv6/conf/all/forwarding"]).out.trim()).toBe(
			"1",
		);
		for (const v of ["-4", "-6"]) {
			const rules = ipJson<IpRule[]>(VPC, [v, "rule", "show"]);
			expect(rules.find((r) => r.priority === 0)).toBeUndefined();
			expect(rules.find((r) => r.priority === 1000)).toMatchObject({ table: "local" });
		}
		expect(vpc.vpcNetns.name).toBe(VPC);
	});

	test("instance.up: node namespaces with eth0 = primary ENI; node-to-node ping v4 and v6", async () => {
		await handle({ type: "instance.up", instance: inst1 });
		await handle({ type: "instance.up", instance: inst2 });
		expect(vpc.nodeNetnsName("node1")).toBe(N1);
		expect(vpc.nodeNetnsPath("node2")).toBe(`/run/netns/${N2}`);
		expect(vpc.nodes().map((n) => n.netns)).toEqual([N1, N2]);
		const eth0 = ipJson<IpLink[]>(N1, ["link", "show", "eth0"])[0];
		expect(eth0?.address).toBe(MAC.e1);
		expect(eth0?.flags).toContain("UP");
		const addrs = ipJson<IpAddr[]>(N1, ["addr", "show", "eth0"])[0]?.addr_info.map(
			(a) => `${a.local}/${a.prefixlen}`,
		);
		expect(addrs).toEqual(expect.arrayContaining(["198.18.0.11/24", "fd00:18::11/64"]));
		expect(ipJson<IpRoute[]>(N1, ["route", "show", "default"])).toMatchObject([{ gateway: GW, dev: "eth0" }]);
		expect(ipJson<IpRoute[]>(N1, ["-6", "route", "show", "default"])).toMatchObject([
			{ gateway: GW6, dev: "eth0" },
		]);
		// the VPC side of the primary ENI
		const p1 = portName(MAC.e1);
		expect(ipJson<IpLink[]>(VPC, ["link", "show", p1])[0]?.address).toBe("ee:ff:ff:ff:ff:ff");
		expect(ipJson<IpRoute[]>(VPC, ["route", "show", "dev", p1]).map((r) => r.dst)).toEqual(["198.18.0.11"]);
		expect(
			ipJson<IpNeigh[]>(VPC, ["neigh", "show", "dev", p1])
				.filter((n) => n.state.includes("PERMANENT"))
				.map((n) => [n.dst, n.lladdr])
				.sort(),
		).toEqual([
			["198.18.0.11", MAC.e1],
			["fd00:18::11", MAC.e1],
		]);
		for (const [k, v] of [
			["net/ipv4/conf/PORT/proxy_arp", "1"],
			["net/ipv4/neigh/PORT/proxy_delay", "0"],
			["net/ipv6/neigh/PORT/proxy_delay", "0"],
			["net/ipv6/conf/PORT/proxy_ndp", "1"],
		] as const) {
			expect(sh(ns(VPC, "cat", `/proc/sys/${k.replace("PORT", p1)}`)).out.trim()).toBe(v);
		}
		expect(ping(N1, "198.18.0.12")).toBe(true);
		expect(ping(N2, "198.18.0.11")).toBe(true);
		expect(ping(N1, "fd00:18::12")).toBe(true);
		expect(ping(N2, "fd00:18::11")).toBe(true);
		expect(ping(N1, GW)).toBe(true);
		// instance.up again changes nothing
		const before = vpcDump();
		await handle({ type: "instance.up", instance: inst1 });
		expect(vpcDump()).toEqual(before);
	});

	test("metadata-style server in the VPC answers each node and sees its primary IP", async () => {
		const server = serveIn(vpc.vpcNetns, {
			hostname: "100.100.100.200",
			port: 80,
			fetch: (req, srv) =>
				Response.json({ ip: srv.requestIP(req)?.address, path: new URL(req.url).pathname }),
		});
		try {
			const [a, b] = await Promise.all([
				curlIn(N1, "http://100.100.100.200/latest/meta-data/instance-id"),
				curlIn(N2, "http://100.100.100.200/latest/meta-data/instance-id"),
			]);
			expect([a.code, b.code]).toEqual([0, 0]);
			expect(JSON.parse(a.out)).toEqual({ ip: "198.18.0.11", path: "/latest/meta-data/instance-id" });
			expect(JSON.parse(b.out)).toEqual({ ip: "198.18.0.12", path: "/latest/meta-data/instance-id" });
			// a node cannot pose as another: node1 sending from node2's address is dropped by the VPC
			sh(ns(N1, "ip", "addr", "add", "198.18.0.12/32", "dev", "lo"));
			const spoof = await curlIn(N1, "http://100.100.100.200/", "198.18.0.12");
			expect(spoof.code).not.toBe(0);
			sh(ns(N1, "ip", "addr", "del", "198.18.0.12/32", "dev", "lo"));
		} finally {
			server.stop(true);
		}
	});

	test("eni.attached: eth1 appears in the node with the ENI MAC, down and unconfigured; the VPC routes its IPs", async () => {
		await handle({ type: "eni.attached", instance: inst1, eni: eni3 });
		const eth1 = ipJson<IpLink[]>(N1, ["link", "show", "eth1"])[0];
		expect(eth1?.address).toBe(MAC.e3);
		expect(eth1?.flags).not.toContain("UP");
		expect(ipJson<IpAddr[]>(N1, ["-4", "addr", "show", "eth1"])[0]?.addr_info ?? []).toEqual([]);
		expect(ipJson<IpLink[]>(VPC, ["link", "show", PORT3])[0]?.address).toBe("ee:ff:ff:ff:ff:ff");
		expect(
			ipJson<IpRoute[]>(VPC, ["route", "show", "dev", PORT3])
				.map((r) => r.dst)
				.sort(),
		).toEqual(["198.18.0.21", "198.18.0.22"]);
		expect(ipJson<IpRoute[]>(VPC, ["-6", "route", "show", "dev", PORT3]).map((r) => r.dst)).toContain(
			"fd00:18::21",
		);
		// source check: exactly the ENI's IPs (plus IPv6 link-local), then blackhole
		expect(
			portRules(PORT3)
				.map((r) => `${r.priority} ${r.src ?? "all"} ${r.goto ?? r.action}`)
				.sort(),
		).toEqual([
			"100 198.18.0.11 1000", // node primary IP -> the gateway only (ARP for it, as Terway sends)
			"100 198.18.0.21 1000",
			"100 198.18.0.22 1000",
			"100 fd00:18::21 1000",
			"100 fe80:: 1000",
			"200 all blackhole",
			"200 all blackhole",
		]);
		// IPv6 proxies: every port answers for the gateway and its on-link peers
		const proxies = sh(["ip", "-n", VPC, "-6", "neigh", "show", "proxy"]).out;
		expect(proxies).toContain(`fd00:18::21 dev ${portName(MAC.e2)} proxy`);
		expect(proxies).toContain(`${GW6} dev ${PORT3} proxy`);
		const before = vpcDump();
		await handle({ type: "eni.attached", instance: inst1, eni: eni3 });
		expect(vpcDump()).toEqual(before);
	});

	test("configured like the daemon would, traffic from assigned IPs flows ENI -> VPC -> other node", () => {
		for (const cmd of [
			["ip", "link", "set", "eth1", "up"],
			["ip", "addr", "add", "198.18.0.21/32", "dev", "eth1"],
			["ip", "addr", "add", "198.18.0.22/32", "dev", "eth1"],
			["ip", "addr", "add", "fd00:18::21/128", "dev", "eth1", "nodad"],
			["ip", "route", "add", "default", "via", GW, "dev", "eth1", "onlink", "table", "100"],
			["ip", "-6", "route", "add", GW6, "dev", "eth1", "table", "100"],
			["ip", "-6", "route", "add", "default", "via", GW6, "dev", "eth1", "table", "100"],
			["ip", "rule", "add", "from", "198.18.0.21", "lookup", "100"],
			["ip", "rule", "add", "from", "198.18.0.22", "lookup", "100"],
			["ip", "-6", "rule", "add", "from", "fd00:18::21", "lookup", "100"],
		]) {
			sh(ns(N1, ...cmd));
		}
		const rx = rxPackets(VPC, PORT3);
		expect(pingFrom(N1, "198.18.0.21", "198.18.0.12", 2)).toBe(true);
		expect(pingFrom(N1, "198.18.0.22", "198.18.0.12")).toBe(true);
		expect(pingFrom(N1, "fd00:18::21", "fd00:18::12", 2)).toBe(true);
		expect(ping(N2, "198.18.0.21")).toBe(true);
		expect(ping(N2, "fd00:18::21")).toBe(true);
		// it really went through the ENI's port, not eth0
		expect(rxPackets(VPC, PORT3)).toBeGreaterThanOrEqual(rx + 5);
	});

	test("a source not assigned to the ENI is dropped inside the VPC (port rx rises, the peer sees nothing)", () => {
		for (const cmd of [
			["ip", "addr", "add", "198.18.0.99/32", "dev", "eth1"],
			["ip", "addr", "add", "fd00:18::99/128", "dev", "eth1", "nodad"],
			["ip", "rule", "add", "from", "198.18.0.99", "lookup", "100"],
			["ip", "-6", "rule", "add", "from", "fd00:18::99", "lookup", "100"],
			// the gateway is known, so the spoofed packets do leave the node (no ARP/NS involved)
			["ip", "neigh", "replace", GW, "lladdr", "ee:ff:ff:ff:ff:ff", "dev", "eth1", "nud", "permanent"],
			["ip", "-6", "neigh", "replace", GW6, "lladdr", "ee:ff:ff:ff:ff:ff", "dev", "eth1", "nud", "permanent"],
		]) {
			sh(ns(N1, ...cmd));
		}
		const rx = rxPackets(VPC, PORT3);
		const echos = inEchos(N2);
		const echos6 = inEchos(N2, true);
		expect(pingFrom(N1, "198.18.0.99", "198.18.0.12", 3)).toBe(false);
		expect(pingFrom(N1, "fd00:18::99", "fd00:18::12", 3)).toBe(false);
		expect(rxPackets(VPC, PORT3)).toBeGreaterThanOrEqual(rx + 6);
		expect([inEchos(N2), inEchos(N2, true)]).toEqual([echos, echos6]);
		// the same path from an assigned address still works, and the peer counts it
		expect(pingFrom(N1, "198.18.0.21", "198.18.0.12")).toBe(true);
		expect(inEchos(N2)).toBe(echos + 1);
	});

	test("an address of another ENI (node2's primary) sent out of eth1 is dropped too, also towards the VPC itself", () => {
		sh(ns(N1, "ip", "addr", "add", "198.18.0.12/32", "dev", "eth1"));
		sh(ns(N1, "ip", "rule", "add", "from", "198.18.0.12", "lookup", "100"));
		try {
			const rx = rxPackets(VPC, PORT3);
			const vpcEchos = inEchos(VPC);
			expect(pingFrom(N1, "198.18.0.12", GW, 2)).toBe(false);
			expect(rxPackets(VPC, PORT3)).toBeGreaterThanOrEqual(rx + 2);
			expect(inEchos(VPC)).toBe(vpcEchos); // never delivered to the router
			expect(pingFrom(N1, "198.18.0.21", GW)).toBe(true);
			expect(inEchos(VPC)).toBe(vpcEchos + 1);
		} finally {
			sh(ns(N1, "ip", "rule", "del", "from", "198.18.0.12", "lookup", "100"));
			sh(ns(N1, "ip", "addr", "del", "198.18.0.12/32", "dev", "eth1"));
		}
	});

	test("eni.ips removing an IP cuts traffic to and from it; applying it twice is a no-op", async () => {
		const less: EniView = { ...eni3, ips: ["198.18.0.21"] };
		await handle({ type: "eni.ips", instanceId: "i-1", eni: less });
		expect(ipJson<IpRoute[]>(VPC, ["route", "show", "dev", PORT3]).map((r) => r.dst)).toEqual([
			"198.18.0.21",
		]);
		expect(ipJson<IpNeigh[]>(VPC, ["neigh", "show", "dev", PORT3]).map((n) => n.dst)).not.toContain(
			"198.18.0.22",
		);
		expect(portRules(PORT3).map((r) => r.src)).not.toContain("198.18.0.22");
		expect(pingFrom(N1, "198.18.0.22", "198.18.0.12")).toBe(false);
		expect(ping(N2, "198.18.0.22", 1)).toBe(false);
		expect(pingFrom(N1, "198.18.0.21", "198.18.0.12")).toBe(true);
		const before = vpcDump();
		await handle({ type: "eni.ips", instanceId: "i-1", eni: less });
		expect(vpcDump()).toEqual(before);
		// and an added one starts to work
		await handle({ type: "eni.ips", instanceId: "i-1", eni: eni3 });
		expect(pingFrom(N1, "198.18.0.22", "198.18.0.12")).toBe(true);
		expect(
			vpc
				.ports()
				.find((p) => p.eniId === "eni-3")
				?.ips.sort(),
		).toEqual(["198.18.0.21", "198.18.0.22"]);
	});

	test("eni.detached removes the link from the node and cuts its traffic", async () => {
		await handle({ type: "eni.detached", instanceId: "i-1", eniId: "eni-3", mac: MAC.e3 });
		expect(ipJson<IpLink[]>(N1, ["link", "show"]).map((l) => l.ifname)).toEqual(["lo", "eth0"]);
		expect(ipJson<IpLink[]>(VPC, ["link", "show"]).map((l) => l.ifname)).not.toContain(PORT3);
		expect(portRules(PORT3)).toEqual([]);
		expect(sh(["ip", "-n", VPC, "-6", "neigh", "show", "proxy"]).out).not.toContain("fd00:18::21");
		expect(ping(N2, "198.18.0.21", 1)).toBe(false);
		expect(ping(N2, "fd00:18::21", 1)).toBe(false);
		expect(ping(N1, "198.18.0.12")).toBe(true); // the primary ENI is untouched
		expect(vpc.ports().map((p) => p.eniId)).toEqual(["eni-1", "eni-2"]);
		// detaching again is harmless
		await handle({ type: "eni.detached", instanceId: "i-1", eniId: "eni-3", mac: MAC.e3 });
	});

	test("events the datapath cannot apply are errors", async () => {
		await expect(handle({ type: "eni.ips", instanceId: "i-1", eni: eni3 })).rejects.toThrow("not attached");
		const ghost = instance(9, eni("eni-9", "00:16:3e:00:00:09", "i-9", 0, ["198.18.0.19"], []));
		await expect(handle({ type: "eni.attached", instance: ghost, eni: eni3 })).rejects.toThrow("is not up");
		expect(() => VpcDatapath.create(P, { vpcCidr: "198.18.0.0/16", vswitches: [] })).toThrow(
			"already exists",
		);
		expect(() => VpcDatapath.create("bad/prefix", { vpcCidr: "198.18.0.0/16", vswitches: [] })).toThrow(
			"prefix",
		);
	});

	test("destroy() removes exactly this world's namespaces and handles", () => {
		expect(worldNetns(P).sort()).toEqual([N1, N2, VPC]);
		vpc.destroy();
		vpc.destroy();
		expect(worldNetns(P)).toEqual([]);
		expect(listNetns().filter((n) => n.startsWith(P))).toEqual([]);
		expect(openHandles().filter((h) => h.what.includes(P))).toEqual([]);
	});
});
