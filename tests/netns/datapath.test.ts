/**
 * Root suite for the datapath planners + executor (src/core/datapath, src/linux/apply.ts) on a
 * real kernel. Three namespaces per run, all named prefixFor("dp"):
 *
 *   <P>-pod (eth0) === veth === <P>-node (cali<hash>)   <P>-node (<P>e1, the stand-in ENI)
 *                                                           === veth ===  <P>-vpc (<P>v1: the
 *                                                           vSwitch gateway 10.0.1.253/24, fd00:1::1/64,
 *                                                           static neighbours pod IP -> ENI MAC, as a VPC)
 *
 * The planner gets a literal AllocResponse (input data, not a mock). Checked: pings from the
 * pod's IP to the gateway (v4, v6); traffic leaves by the ENI (without the `from` rule it no
 * longer reaches the VPC and checkPlan names the rule); idempotent re-apply; tbf visible in
 * `tc -j qdisc`; teardown leaves nothing but the shared ENI-table routes (cross-checked with
 * `ip -j`); failures half-way roll back fully; the exclusive plan moves the ENI in and out.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
	checkPlan,
	type DatapathInput,
	exclusivePlan,
	formatOp,
	hostVethName,
	nodePlan,
	vethPlan,
} from "../../src/core/datapath/index.ts";
import { openHandles } from "../../src/ffi/handles.ts";
import { ApplyError, applyPlan, observe, teardown } from "../../src/linux/apply.ts";
import { Netlink } from "../../src/linux/netlink/handle.ts";
import { createNetns, type Netns } from "../../src/linux/netns.ts";
import { ensureSysctl } from "../../src/linux/sysctl.ts";
import { canRun, cleanupNetns, ipJson, ping, prefixFor, sh } from "../helpers/env.ts";

const P = prefixFor("dp");
const NODE = `${P}-node`;
const POD = `${P}-pod`;
const POD_X = `${P}-px`;
const VPC = `${P}-vpc`;
const ENI = `${P}e1`;
const VPC_IF = `${P}v1`;
const ENI_MAC = "02:00:00:00:0e:01";
const TABLE = 1003;

/** What the daemon answers for a pod (src/daemon/api-types.ts AllocResponse), literally. */
const ALLOC = {
	pod: { namespace: "default", name: "web-0" },
	containerId: `${P}c1`,
	ipv4: { ip: "10.0.1.5", prefixLen: 24, gateway: "10.0.1.253", cidr: "10.0.1.0/24" },
	ipv6: { ip: "fd00:1::5", prefixLen: 64, gateway: "fd00:1::1", cidr: "fd00:1::/64" },
	eni: { id: "eni-dp1", mac: ENI_MAC, link: ENI, ifindex: 2 },
	routeTable: TABLE,
	datapath: "veth" as const,
	serviceCidrs: ["10.96.0.0/12"],
	existing: false,
};

const inputFor = (containerId: string, extra: Partial<DatapathInput> = {}): DatapathInput => ({
	containerId,
	ifName: "eth0",
	alloc: ALLOC,
	mtu: 1500,
	...extra,
});

type IpRoute = { dst: string; gateway?: string; dev?: string; table?: string };
type IpRule = { priority: number; src?: string; dst?: string; table: string };

/** Links, routes (all tables) and rules of a namespace, as `ip -j` prints them (stats left out). */
function dump(ns: string) {
	return {
		links: ipJson<{ ifname: string; address?: string }[]>(ns, ["link", "show"])
			.map((l) => `${l.ifname} ${l.address ?? ""}`)
			.sort(),
		addrs: ipJson<{ ifname: string; addr_info: { local: string; prefixlen: number; scope: string }[] }[]>(
			ns,
			["addr", "show"],
		)
			.flatMap((a) =>
				a.addr_info.filter((x) => x.scope !== "link").map((x) => `${a.ifname} ${x.local}/${x.prefixlen}`),
			)
			.sort(),
		routes: [
			...ipJson<IpRoute[]>(ns, ["-4", "route", "show", "table", "all"]),
			...ipJson<IpRoute[]>(ns, ["-6", "route", "show", "table", "all"]),
		]
			.filter((r) => r.table !== "local" && !r.dst.startsWith("fe80::") && r.dst !== "multicast")
			.map((r) => `${r.dst} ${r.gateway ?? ""} ${r.dev ?? ""} ${r.table ?? "main"}`)
			.sort(),
		rules: [...ipJson<IpRule[]>(ns, ["-4", "rule", "show"]), ...ipJson<IpRule[]>(ns, ["-6", "rule", "show"])]
			.map((r) => `${r.priority} ${r.src ?? ""} ${r.dst ?? ""} ${r.table}`)
			.sort(),
	};
}

/** The three routes every pod on the ENI shares (ensured by the plans, never torn down). */
/** Sysctls a fresh namespace already has at the wanted value (all.forwarding=1 is inherited). */
const UNCHANGED_DEFAULTS = [
	"host: sysctl net/ipv4/conf/HOST/forwarding=1",
	"host: sysctl net/ipv6/conf/HOST/disable_ipv6=0",
	"host: sysctl net/ipv6/conf/HOST/forwarding=1",
	"pod: sysctl net/ipv6/conf/all/disable_ipv6=0",
	"pod: sysctl net/ipv6/conf/eth0/disable_ipv6=0",
];

const SHARED_ROUTES = [
	`default 10.0.1.253 ${ENI} ${TABLE}`,
	`default fd00:1::1 ${ENI} ${TABLE}`,
	`fd00:1::1  ${ENI} ${TABLE}`,
];

describe.skipIf(!canRun("tests/netns/datapath.test.ts"))("datapath plans on a real kernel", () => {
	let node: Netns;
	let pod: Netns;
	let vpc: Netns;

	beforeAll(() => {
		cleanupNetns(P);
		node = createNetns(NODE);
		pod = createNetns(POD);
		vpc = createNetns(VPC);
		// the stand-in ENI: a veth from the node to the VPC, carrying the ENI's MAC
		using nlNode = Netlink.at(node);
		using nlVpc = Netlink.at(vpc);
		nlNode.linkAdd({ kind: "veth", name: ENI, mac: ENI_MAC, peerName: VPC_IF, peerNetns: vpc });
		ensureSysctl(node, `net/ipv6/conf/${ENI}/accept_dad`, 0);
		ensureSysctl(vpc, `net/ipv6/conf/${VPC_IF}/accept_dad`, 0);
		nlNode.linkSet(ENI, { up: true });
		nlNode.linkSet("lo", { up: true });
		nlVpc.linkSet(VPC_IF, { up: true });
		nlVpc.linkSet("lo", { up: true });
		nlVpc.addrAdd({ link: VPC_IF, cidr: "10.0.1.253/24" });
		nlVpc.addrAdd({ link: VPC_IF, cidr: "fd00:1::1/64", nodad: true });
		// the VPC knows which ENI owns each pod IP (no ARP for secondary IPs in a VPC)
		nlVpc.neighAdd({ link: VPC_IF, ip: "10.0.1.5", mac: ENI_MAC });
		nlVpc.neighAdd({ link: VPC_IF, ip: "fd00:1::5", mac: ENI_MAC });
		// node-wide settings, once
		applyPlan(nodePlan({ ipv4: true, ipv6: true, eniLinks: [ENI] }), { host: node, pod: node });
	});

	afterAll(() => {
		node?.close();
		pod?.close();
		vpc?.close();
		cleanupNetns(P);
		expect(sh(["ip", "netns", "list"]).out).not.toContain(P);
		expect(openHandles().filter((h) => h.what.includes(P))).toEqual([]);
	});

	test("veth dual stack: apply, ping the vSwitch gateway from the pod IP (v4 and v6), CHECK clean", () => {
		const baseline = dump(NODE);
		const plan = vethPlan(inputFor(ALLOC.containerId));
		const host = hostVethName(ALLOC.containerId, "eth0");
		const rep = applyPlan(plan, { host: node, pod });
		// everything had work to do, except sysctls already at their value (inherited defaults)
		const unchanged = rep.outcomes
			.filter((o) => !o.changed)
			.map((o) => formatOp(o.op).replaceAll(host, "HOST"));
		expect(unchanged).toEqual(UNCHANGED_DEFAULTS);
		expect(rep.podMac).toMatch(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
		expect(rep.hostMac).toBe("ee:ee:ee:ee:ee:ee");

		expect(ping(POD, "10.0.1.253")).toBe(true);
		expect(ping(POD, "fd00:1::1")).toBe(true);
		expect(checkPlan(plan, observe(plan, { host: node, pod }))).toEqual([]);

		// what ip sees: the pod's /32 and /128, its routes, the node's rules and routes
		expect(dump(POD).addrs).toEqual(["eth0 10.0.1.5/32", "eth0 fd00:1::5/128"]);
		// (the kernel adds the /128's own prefix route)
		expect(dump(POD).routes).toEqual([
			"default 169.254.1.1 eth0 main",
			"default fe80::1 eth0 main",
			"fd00:1::5  eth0 main",
		]);
		const after = dump(NODE);
		expect(after.rules.filter((r) => !baseline.rules.includes(r))).toEqual([
			`2048 10.0.1.5  ${TABLE}`,
			`2048 fd00:1::5  ${TABLE}`,
			"512 all 10.0.1.5 main",
			"512 all fd00:1::5 main",
		]);
		expect(after.routes.filter((r) => !baseline.routes.includes(r))).toEqual(
			[`10.0.1.5  ${host} main`, `fd00:1::5  ${host} main`, ...SHARED_ROUTES].sort(),
		);

		// a second apply (a repeated ADD) changes nothing
		expect(
			applyPlan(plan, { host: node, pod })
				.outcomes.filter((o) => o.changed)
				.map((o) => formatOp(o.op)),
		).toEqual([]);
	});

	test("traffic leaves by the ENI: without the from rule it no longer reaches the VPC, CHECK names it", () => {
		const plan = vethPlan(inputFor(ALLOC.containerId));
		sh(["ip", "-n", NODE, "-4", "rule", "del", "prio", "2048", "from", "10.0.1.5", "lookup", String(TABLE)]);
		expect(ping(POD, "10.0.1.253", 1)).toBe(false);
		expect(ping(POD, "fd00:1::1", 1)).toBe(true);
		expect(checkPlan(plan, observe(plan, { host: node, pod }))).toEqual([
			`host: rule 2048 from 10.0.1.5/32 lookup ${TABLE} is missing`,
		]);
		// re-applying repairs exactly that
		const changed = applyPlan(plan, { host: node, pod }).outcomes.filter((o) => o.changed);
		expect(changed.map((o) => formatOp(o.op))).toEqual([
			`host: ip -4 rule add prio 2048 from 10.0.1.5/32 lookup ${TABLE}`,
		]);
		expect(ping(POD, "10.0.1.253")).toBe(true);

		// drift of another kind: the pod link down
		sh(["ip", "-n", POD, "link", "set", "eth0", "down"]);
		expect(checkPlan(plan, observe(plan, { host: node, pod }))).toContain("pod: link eth0 is down");
		applyPlan(plan, { host: node, pod });
		expect(checkPlan(plan, observe(plan, { host: node, pod }))).toEqual([]);
	});

	test("teardown removes exactly what ADD made (shared ENI routes stay), and runs twice", () => {
		const plan = vethPlan(inputFor(ALLOC.containerId));
		const { removed } = teardown(plan, { host: node, pod });
		expect(removed).toHaveLength(5); // 4 rules + the veth
		const n = dump(NODE);
		expect(n.links).toEqual(["lo 00:00:00:00:00:00", `${ENI} ${ENI_MAC}`]);
		expect(n.rules.filter((r) => r.startsWith("512 ") || r.startsWith("2048 "))).toEqual([]);
		expect(n.routes).toEqual([...SHARED_ROUTES].sort());
		expect(dump(POD).links).toEqual(["lo 00:00:00:00:00:00"]);
		expect(teardown(plan, { host: node, pod }).removed).toEqual([]);
		expect(teardown(plan, { host: node, pod: undefined }).removed).toEqual([]);
		const drift = checkPlan(plan, observe(plan, { host: node, pod }));
		expect(drift).toContain(`host: link ${hostVethName(ALLOC.containerId, "eth0")} is missing`);
	});

	test("bandwidth: tbf on the host veth (ingress) and on the pod's eth0 (egress), visible in tc -j", () => {
		const plan = vethPlan(
			inputFor(`${P}c2`, { bandwidth: { ingressBps: 10_000_000, egressBps: 5_000_000 } }),
		);
		applyPlan(plan, { host: node, pod });
		const host = hostVethName(`${P}c2`, "eth0");
		type Q = { kind: string; root?: boolean; options?: { rate?: number } };
		const hq = ipJsonTc(NODE, host).find((q) => q.root);
		const pq = ipJsonTc(POD, "eth0").find((q) => q.root);
		expect(hq?.kind).toBe("tbf");
		expect(hq?.options?.rate).toBe(10_000_000 / 8);
		expect(pq?.kind).toBe("tbf");
		expect(pq?.options?.rate).toBe(5_000_000 / 8);
		expect(checkPlan(plan, observe(plan, { host: node, pod }))).toEqual([]);
		expect(ping(POD, "10.0.1.253")).toBe(true);
		teardown(plan, { host: node, pod });
		expect(dump(POD).links).toEqual(["lo 00:00:00:00:00:00"]);

		function ipJsonTc(ns: string, dev: string): Q[] {
			const out = sh(["tc", "-n", ns, "-j", "qdisc", "show", "dev", dev]).out.trim();
			return JSON.parse(out || "[]") as Q[];
		}
	});

	test("a pre-existing link with the host veth's name: ADD fails, that link is untouched, nothing else made", () => {
		const cid = `${P}c3`;
		const name = hostVethName(cid, "eth0");
		sh(["ip", "-n", NODE, "link", "add", name, "type", "veth", "peer", "name", `${P}x3`]);
		const before = { node: dump(NODE), pod: dump(POD) };
		const plan = vethPlan(inputFor(cid));
		let err: unknown;
		try {
			applyPlan(plan, { host: node, pod });
		} catch (e) {
			err = e;
		}
		expect(err).toBeInstanceOf(ApplyError);
		expect((err as ApplyError).reason).toBe("conflict");
		expect((err as ApplyError).index).toBe(0);
		expect((err as ApplyError).message).toContain(`link ${name} already exists`);
		expect({ node: dump(NODE), pod: dump(POD) }).toEqual(before);
		sh(["ip", "-n", NODE, "link", "del", name]);
	});

	test("a failure at the last op rolls back everything this ADD changed", () => {
		const before = { node: dump(NODE), pod: dump(POD) };
		const plan = vethPlan(inputFor(`${P}c4`, { bandwidth: { egressBps: 1_000_000 } }));
		const last = plan.ops.length - 1;
		let err: unknown;
		try {
			applyPlan(
				plan,
				{ host: node, pod },
				{
					beforeOp: (_o, i) => {
						if (i === last) throw new Error("injected failure");
					},
				},
			);
		} catch (e) {
			err = e;
		}
		expect(err).toBeInstanceOf(ApplyError);
		expect((err as ApplyError).index).toBe(last);
		expect((err as ApplyError).rollbackErrors).toEqual([]);
		expect({ node: dump(NODE), pod: dump(POD) }).toEqual(before);
		// and a later ADD of the same pod works
		applyPlan(plan, { host: node, pod });
		expect(ping(POD, "10.0.1.253")).toBe(true);
		teardown(plan, { host: node, pod });
		expect({ node: dump(NODE), pod: dump(POD) }).toEqual(before);
	});

	describe("exclusive ENI", () => {
		let px: Netns;
		beforeAll(() => {
			px = createNetns(POD_X);
		});
		afterAll(() => px?.close());

		test("the ENI moves into the pod as eth0, pings the gateway (v4, v6), and moves back on teardown", () => {
			const before = { node: dump(NODE), pod: dump(POD_X) };
			const plan = exclusivePlan(inputFor(`${P}c5`, { nodeIps: { ipv4: "192.168.0.10" } }));
			applyPlan(plan, { host: node, pod: px });
			const links = ipJson<{ ifname: string; address: string; operstate: string }[]>(POD_X, ["link", "show"]);
			expect(links.find((l) => l.ifname === "eth0")?.address).toBe(ENI_MAC);
			expect(links.some((l) => l.ifname === "veth1")).toBe(true);
			expect(dump(NODE).links).not.toContain(`${ENI} ${ENI_MAC}`);
			expect(ping(POD_X, "10.0.1.253")).toBe(true);
			expect(ping(POD_X, "fd00:1::1")).toBe(true);
			expect(checkPlan(plan, observe(plan, { host: node, pod: px }))).toEqual([]);
			expect(dump(POD_X).routes).toContain("10.96.0.0/12 169.254.1.1 veth1 main");

			const { removed } = teardown(plan, { host: node, pod: px });
			expect(removed.length).toBe(2); // the host peer veth and the move
			// back as before, except that the kernel flushed the ENI's routes on the node when the
			// link left the namespace (the shared ENI-table routes: the next veth ADD ensures them)
			const viaEni = (r: string) => r.includes(` ${ENI} `);
			expect({ node: dump(NODE), pod: dump(POD_X) }).toEqual({
				node: { ...before.node, routes: before.node.routes.filter((r) => !viaEni(r)) },
				pod: before.pod,
			});
			expect(teardown(plan, { host: node, pod: px }).removed).toEqual([]);
			// the ENI works for the veth datapath again
			const veth = vethPlan(inputFor(`${P}c6`));
			applyPlan(veth, { host: node, pod });
			expect(ping(POD, "10.0.1.253")).toBe(true);
			teardown(veth, { host: node, pod });
			expect(dump(NODE)).toEqual(before.node);
		});

		test("a conflicting host peer name half-way moves the ENI back out", () => {
			const cid = `${P}c7`;
			const name = hostVethName(cid, "eth0");
			sh(["ip", "-n", NODE, "link", "add", name, "type", "veth", "peer", "name", `${P}x7`]);
			const before = { node: dump(NODE), pod: dump(POD_X) };
			const plan = exclusivePlan(inputFor(cid));
			let err: unknown;
			try {
				applyPlan(plan, { host: node, pod: px });
			} catch (e) {
				err = e;
			}
			expect(err).toBeInstanceOf(ApplyError);
			expect((err as ApplyError).op.op).toBe("veth");
			expect((err as ApplyError).index).toBeGreaterThan(3);
			expect((err as ApplyError).rollbackErrors).toEqual([]);
			// the ENI is back under its name, up; only the routes the kernel flushed as it left differ
			const viaEni = (r: string) => r.includes(` ${ENI} `);
			expect({ node: dump(NODE), pod: dump(POD_X) }).toEqual({
				node: { ...before.node, routes: before.node.routes.filter((r) => !viaEni(r)) },
				pod: before.pod,
			});
			expect(ipJson<{ ifname: string; flags: string[] }[]>(NODE, ["link", "show", ENI])[0]?.flags).toContain(
				"UP",
			);
			sh(["ip", "-n", NODE, "link", "del", name]);
		});

		test("an ENI that is not on the node: eni-not-found, nothing made", () => {
			const plan = exclusivePlan(
				inputFor(`${P}c8`, { alloc: { ...ALLOC, eni: { ...ALLOC.eni, link: `${P}e9` } } }),
			);
			const before = { node: dump(NODE), pod: dump(POD_X) };
			expect(() => applyPlan(plan, { host: node, pod: px })).toThrow(ApplyError);
			try {
				applyPlan(plan, { host: node, pod: px });
			} catch (e) {
				expect((e as ApplyError).reason).toBe("eni-not-found");
			}
			expect({ node: dump(NODE), pod: dump(POD_X) }).toEqual(before);
		});
	});
});
