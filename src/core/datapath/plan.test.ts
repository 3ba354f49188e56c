/**
 * Plans as data: each datapath x stack written out as iproute2-like lines (a readable snapshot),
 * plus the structural promises (order, shared ops, names) and checkPlan's drift messages.
 */
import { describe, expect, test } from "bun:test";
import {
	checkPlan,
	type DatapathInput,
	exclusivePlan,
	formatOp,
	hostVethName,
	mergeBandwidth,
	type NsState,
	nodePlan,
	type Observed,
	planFor,
	resultFor,
	tbfParams,
	vethPlan,
} from "./index.ts";

const V4 = { ip: "10.0.1.5", prefixLen: 24, gateway: "10.0.1.253", cidr: "10.0.1.0/24" };
const V6 = { ip: "fd00:1::5", prefixLen: 64, gateway: "fd00:1::1", cidr: "fd00:1::/64" };

/** A literal daemon AllocResponse (input data). */
const alloc = (stack: "v4" | "v6" | "dual") => ({
	pod: { namespace: "default", name: "web-0" },
	containerId: "c0ffee",
	...(stack !== "v6" ? { ipv4: V4 } : {}),
	...(stack !== "v4" ? { ipv6: V6 } : {}),
	eni: { id: "eni-1", mac: "02:00:00:00:0e:01", link: "eth1", ifindex: 3 },
	routeTable: 1003,
	datapath: "veth" as const,
	serviceCidrs: ["10.96.0.0/12", "fd00:96::/112"],
	existing: false,
});

const input = (stack: "v4" | "v6" | "dual", extra: Partial<DatapathInput> = {}): DatapathInput => ({
	containerId: "c0ffee",
	ifName: "eth0",
	alloc: alloc(stack),
	mtu: 1500,
	...extra,
});

const H = hostVethName("c0ffee", "eth0");
const lines = (i: DatapathInput, kind: "veth" | "exclusive") =>
	(kind === "veth" ? vethPlan(i) : exclusivePlan(i)).ops.map(formatOp).map((l) => l.replaceAll(H, "HOST"));

describe("names", () => {
	test("host veth: prefix + hash, 15 bytes, stable, per container and ifname", () => {
		expect(H).toMatch(/^cali[0-9a-f]{11}$/);
		expect(hostVethName("c0ffee", "eth0")).toBe(H);
		expect(hostVethName("c0ffee", "eth1")).not.toBe(H);
		expect(hostVethName("c0ffef", "eth0")).not.toBe(H);
		expect(hostVethName("c0ffee", "eth0", "veth")).toMatch(/^veth[0-9a-f]{11}$/);
		expect(hostVethName("c0ffee", "eth0", "tw")).toHaveLength(15);
	});
});

describe("veth plan", () => {
	test("v4", () => {
		expect(lines(input("v4"), "veth")).toEqual([
			"host: ip link add HOST address ee:ee:ee:ee:ee:ee mtu 1500 type veth peer name eth0 mtu 1500 netns pod",
			"host: sysctl net/ipv4/conf/HOST/forwarding=1",
			"host: sysctl net/ipv4/conf/HOST/proxy_arp=1",
			"host: ip link set HOST up",
			"pod: ip addr add 10.0.1.5/32 dev eth0",
			"pod: ip link set eth0 up",
			"pod: ip neigh add 169.254.1.1 lladdr ee:ee:ee:ee:ee:ee dev eth0 nud permanent",
			"pod: ip -4 route add default via 169.254.1.1 dev eth0 onlink",
			"host: ip -4 route add 10.0.1.5/32 dev HOST scope link",
			"host: ip -4 rule add prio 512 to 10.0.1.5/32 lookup main",
			"host: ip -4 rule add prio 2048 from 10.0.1.5/32 lookup 1003",
			"host: ip -4 route add default via 10.0.1.253 dev eth1 onlink table 1003  # shared",
		]);
	});

	test("v6", () => {
		expect(lines(input("v6"), "veth")).toEqual([
			"host: ip link add HOST address ee:ee:ee:ee:ee:ee mtu 1500 type veth peer name eth0 mtu 1500 netns pod",
			"host: sysctl net/ipv4/conf/HOST/forwarding=1",
			"host: sysctl net/ipv4/conf/HOST/proxy_arp=1",
			"host: sysctl net/ipv6/conf/HOST/disable_ipv6=0",
			"host: sysctl net/ipv6/conf/HOST/accept_dad=0",
			"host: sysctl net/ipv6/conf/HOST/forwarding=1",
			"pod: sysctl net/ipv6/conf/all/disable_ipv6=0",
			"pod: sysctl net/ipv6/conf/eth0/disable_ipv6=0",
			"pod: sysctl net/ipv6/conf/eth0/accept_ra=0",
			"pod: sysctl net/ipv6/conf/eth0/accept_dad=0",
			"host: ip link set HOST up",
			"pod: ip addr add fd00:1::5/128 dev eth0 nodad",
			"pod: ip link set eth0 up",
			"pod: ip neigh add fe80::1 lladdr ee:ee:ee:ee:ee:ee dev eth0 nud permanent",
			"pod: ip -6 route add default via fe80::1 dev eth0 onlink",
			"host: ip -6 route add fd00:1::5/128 dev HOST scope link",
			"host: ip -6 rule add prio 512 to fd00:1::5/128 lookup main",
			"host: ip -6 rule add prio 2048 from fd00:1::5/128 lookup 1003",
			"host: ip -6 route add fd00:1::1/128 dev eth1 table 1003  # shared",
			"host: ip -6 route add default via fd00:1::1 dev eth1 onlink table 1003  # shared",
		]);
	});

	test("dual stack, with bandwidth both ways", () => {
		const l = lines(
			input("dual", { bandwidth: { ingressBps: 10_000_000, egressBps: 2_000_000_000 } }),
			"veth",
		);
		expect(l.filter((x) => !x.includes("sysctl"))).toEqual([
			"host: ip link add HOST address ee:ee:ee:ee:ee:ee mtu 1500 type veth peer name eth0 mtu 1500 netns pod",
			"host: ip link set HOST up",
			"pod: ip addr add 10.0.1.5/32 dev eth0",
			"pod: ip addr add fd00:1::5/128 dev eth0 nodad",
			"pod: ip link set eth0 up",
			"pod: ip neigh add 169.254.1.1 lladdr ee:ee:ee:ee:ee:ee dev eth0 nud permanent",
			"pod: ip -4 route add default via 169.254.1.1 dev eth0 onlink",
			"pod: ip neigh add fe80::1 lladdr ee:ee:ee:ee:ee:ee dev eth0 nud permanent",
			"pod: ip -6 route add default via fe80::1 dev eth0 onlink",
			"host: ip -4 route add 10.0.1.5/32 dev HOST scope link",
			"host: ip -6 route add fd00:1::5/128 dev HOST scope link",
			"host: ip -4 rule add prio 512 to 10.0.1.5/32 lookup main",
			"host: ip -4 rule add prio 2048 from 10.0.1.5/32 lookup 1003",
			"host: ip -6 rule add prio 512 to fd00:1::5/128 lookup main",
			"host: ip -6 rule add prio 2048 from fd00:1::5/128 lookup 1003",
			"host: ip -4 route add default via 10.0.1.253 dev eth1 onlink table 1003  # shared",
			"host: ip -6 route add fd00:1::1/128 dev eth1 table 1003  # shared",
			"host: ip -6 route add default via fd00:1::1 dev eth1 onlink table 1003  # shared",
			// ingress to the pod: tbf on the host veth; burst = max(rate/1000 B, MTU+1500)
			"host: tc qdisc add dev HOST root tbf rate 10000000bit burst 3000 latency 25ms",
			// egress from the pod: tbf on eth0 in the pod
			"pod: tc qdisc add dev eth0 root tbf rate 2000000000bit burst 250000 latency 25ms",
		]);
		expect(l.filter((x) => x.includes("sysctl"))).toHaveLength(9);
	});

	test("v4 with NetworkPolicy: the pinned policy programs on both directions of the host veth, last", () => {
		const i = input("v4");
		i.alloc = { ...i.alloc, policy: { pinRoot: "/sys/fs/bpf/tw-node-1" } };
		const p = vethPlan(i);
		expect(p.pinRoot).toBe("/sys/fs/bpf/tw-node-1");
		expect(lines(i, "veth").slice(-3)).toEqual([
			"host: ip -4 route add default via 10.0.1.253 dev eth1 onlink table 1003  # shared",
			"host: tc filter add dev HOST ingress bpf pinned progs/terway_pol_from  # tcx, pinned link",
			"host: tc filter add dev HOST egress bpf pinned progs/terway_pol_to  # tcx, pinned link",
		]);
		// without policy: no bpf op, no pin root
		expect(vethPlan(input("v4")).ops.some((o) => o.op === "bpf")).toBe(false);
		expect(vethPlan(input("v4")).pinRoot).toBeUndefined();
	});

	test("every v4 onlink route comes after a v4 address in its namespace", () => {
		for (const stack of ["v4", "dual"] as const) {
			const ops = vethPlan(input(stack)).ops;
			const firstAddr = ops.findIndex((o) => o.op === "addr" && o.side === "pod" && !o.cidr.includes(":"));
			const firstRoute = ops.findIndex((o) => o.op === "route" && o.side === "pod" && o.family === 4);
			expect(firstAddr).toBeGreaterThanOrEqual(0);
			expect(firstAddr).toBeLessThan(firstRoute);
		}
	});

	test("no family -> error; a non-eth0 ifname gets its own host name", () => {
		const bad = input("v4");
		bad.alloc = { ...bad.alloc, ipv4: undefined };
		expect(() => vethPlan(bad)).toThrow("neither ipv4 nor ipv6");
		const p = vethPlan(input("v4", { ifName: "net1" }));
		expect(p.podLink).toBe("net1");
		expect(p.hostLink).toBe(hostVethName("c0ffee", "net1"));
	});

	test("datapathv2 falls back to the veth plan with a note", () => {
		const p = planFor("datapathv2", input("v4"));
		expect(p.datapath).toBe("veth");
		expect(p.notes[0]).toContain("datapathv2");
	});
});

describe("exclusive plan", () => {
	test("v4 with host peer, service CIDR, node IP and host-stack CIDRs", () => {
		const l = lines(
			input("v4", { nodeIps: { ipv4: "192.168.0.10" }, hostStackCidrs: ["169.254.20.10/32"] }),
			"exclusive",
		);
		expect(l).toEqual([
			"host: ip link set eth1 down; ip link set eth1 netns pod name eth0  # 02:00:00:00:0e:01",
			"pod: ip addr add 10.0.1.5/32 dev eth0",
			"pod: ip link set eth0 mtu 1500 up",
			"pod: ip -4 route add default via 10.0.1.253 dev eth0 onlink",
			"host: ip link add HOST address ee:ee:ee:ee:ee:ee mtu 1500 type veth peer name veth1 mtu 1500 netns pod",
			"host: sysctl net/ipv4/conf/HOST/forwarding=1",
			"host: sysctl net/ipv4/conf/HOST/proxy_arp=1",
			"host: ip link set HOST up",
			"pod: ip addr add 10.0.1.5/32 dev veth1",
			"pod: ip link set veth1 up",
			"pod: ip neigh add 169.254.1.1 lladdr ee:ee:ee:ee:ee:ee dev veth1 nud permanent",
			"pod: ip -4 route add 169.254.1.1/32 dev veth1 scope link",
			"pod: ip -4 route add 10.96.0.0/12 via 169.254.1.1 dev veth1 onlink",
			"pod: ip -4 route add 192.168.0.10/32 via 169.254.1.1 dev veth1 onlink",
			"pod: ip -4 route add 169.254.20.10/32 via 169.254.1.1 dev veth1 onlink",
			"host: ip -4 route add 10.0.1.5/32 dev HOST scope link",
		]);
	});

	test("v6", () => {
		const l = lines(input("v6"), "exclusive").filter((x) => !x.includes("sysctl"));
		expect(l).toEqual([
			"host: ip link set eth1 down; ip link set eth1 netns pod name eth0  # 02:00:00:00:0e:01",
			"pod: ip addr add fd00:1::5/128 dev eth0 nodad",
			"pod: ip link set eth0 mtu 1500 up",
			"pod: ip -6 route add fd00:1::1/128 dev eth0 scope link",
			"pod: ip -6 route add default via fd00:1::1 dev eth0 onlink",
			"host: ip link add HOST address ee:ee:ee:ee:ee:ee mtu 1500 type veth peer name veth1 mtu 1500 netns pod",
			"host: ip link set HOST up",
			"pod: ip addr add fd00:1::5/128 dev veth1 nodad",
			"pod: ip link set veth1 up",
			"pod: ip neigh add fe80::1 lladdr ee:ee:ee:ee:ee:ee dev veth1 nud permanent",
			"pod: ip -6 route add fe80::1/128 dev veth1 scope link",
			"pod: ip -6 route add fd00:96::/112 via fe80::1 dev veth1 onlink",
			"host: ip -6 route add fd00:1::5/128 dev HOST scope link",
		]);
	});

	test("dual stack, no host peer, egress bandwidth; ingress noted as unsupported", () => {
		const i = input("dual", {
			disableHostPeer: true,
			bandwidth: { ingressBps: 1_000_000, egressBps: 1_000_000 },
		});
		const p = exclusivePlan(i);
		expect(p.hostLink).toBeUndefined();
		expect(p.ops.map(formatOp).filter((x) => !x.includes("sysctl"))).toEqual([
			"host: ip link set eth1 down; ip link set eth1 netns pod name eth0  # 02:00:00:00:0e:01",
			"pod: ip addr add 10.0.1.5/32 dev eth0",
			"pod: ip addr add fd00:1::5/128 dev eth0 nodad",
			"pod: ip link set eth0 mtu 1500 up",
			"pod: ip -4 route add default via 10.0.1.253 dev eth0 onlink",
			"pod: ip -6 route add fd00:1::1/128 dev eth0 scope link",
			"pod: ip -6 route add default via fd00:1::1 dev eth0 onlink",
			"pod: tc qdisc add dev eth0 root tbf rate 1000000bit burst 3000 latency 25ms",
		]);
		expect(p.notes).toEqual(["ingress bandwidth is not supported on an exclusive ENI: not applied"]);
	});

	test("a second interface (not eth0) gets no host peer", () => {
		expect(exclusivePlan(input("v4", { ifName: "net1" })).ops.some((o) => o.op === "veth")).toBe(false);
	});
});

describe("node plan and bandwidth helpers", () => {
	test("node-wide sysctls are shared", () => {
		const p = nodePlan({ ipv4: true, ipv6: true, eniLinks: ["eth1"] });
		expect(p.ops.map(formatOp)).toEqual([
			"host: sysctl net/ipv4/ip_forward=1  # shared",
			"host: sysctl net/ipv4/conf/all/rp_filter=0  # shared",
			"host: sysctl net/ipv4/conf/default/rp_filter=0  # shared",
			"host: sysctl net/ipv4/conf/eth1/rp_filter=0  # shared",
			"host: sysctl net/ipv6/conf/all/disable_ipv6=0  # shared",
			"host: sysctl net/ipv6/conf/all/forwarding=1  # shared",
			"host: sysctl net/ipv6/conf/eth1/disable_ipv6=0  # shared",
		]);
	});

	test("runtimeConfig bandwidth overrides the daemon's per direction", () => {
		expect(
			mergeBandwidth({ ingressBps: 1e6, egressBps: 2e6 }, { egressRate: 5e6, egressBurst: 80_000 }),
		).toEqual({
			ingressBps: 1e6,
			egressBps: 5e6,
			egressBurstBits: 80_000,
		});
		expect(mergeBandwidth(undefined, { ingressRate: 0 })).toBeUndefined();
		expect(tbfParams(8_000_000, 80_000, 1500)).toEqual({ rate: 8_000_000, burst: 10_000, latencyMs: 25 });
		expect(tbfParams(8_000_000, 8, 1500).burst).toBe(1500);
	});
});

/** The state a correct apply of `plan` leaves, built by hand for the drift tests. */
function goodState(): Observed {
	const host: NsState = {
		links: [{ name: H, kind: "veth", mac: "ee:ee:ee:ee:ee:ee", mtu: 1500, up: true }],
		addrs: [],
		routes: [
			{ family: 4, dst: "10.0.1.5/32", dev: H, onlink: false, table: 254 },
			{ family: 4, dst: "default", gateway: "10.0.1.253", dev: "eth1", onlink: true, table: 1003 },
		],
		rules: [
			{ family: 4, priority: 512, to: "10.0.1.5/32", table: 254, action: "to-table" },
			{ family: 4, priority: 2048, from: "10.0.1.5/32", table: 1003, action: "to-table" },
		],
		neighs: [],
		sysctls: { [`net/ipv4/conf/${H}/forwarding`]: "1", [`net/ipv4/conf/${H}/proxy_arp`]: "1" },
		qdiscs: [],
	};
	const pod: NsState = {
		links: [{ name: "eth0", kind: "veth", mac: "02:11:22:33:44:55", mtu: 1500, up: true }],
		addrs: [{ link: "eth0", cidr: "10.0.1.5/32" }],
		routes: [
			{ family: 4, dst: "default", gateway: "169.254.1.1", dev: "eth0", onlink: true, table: 254 },
			{ family: 4, dst: "10.50.0.0/16", gateway: "169.254.1.1", dev: "eth0", onlink: true, table: 254 },
		],
		rules: [],
		neighs: [{ link: "eth0", ip: "169.254.1.1", mac: "ee:ee:ee:ee:ee:ee", permanent: true }],
		sysctls: {},
		qdiscs: [],
	};
	return { host, pod };
}

describe("checkPlan", () => {
	const plan = vethPlan(input("v4"));

	test("a matching state has no drift (extra routes of later plugins are tolerated)", () => {
		expect(checkPlan(plan, goodState())).toEqual([]);
	});

	test("every kind of drift is named", () => {
		const s = goodState();
		const pod = s.pod as NsState;
		s.host.rules = s.host.rules.filter((r) => r.priority !== 2048);
		pod.addrs = [{ link: "eth0", cidr: "10.0.1.6/32" }];
		(pod.links[0] as { up: boolean }).up = false;
		pod.neighs = [{ link: "eth0", ip: "169.254.1.1", mac: "02:00:00:00:00:99", permanent: false }];
		s.host.sysctls[`net/ipv4/conf/${H}/proxy_arp`] = "0";
		s.host.routes = s.host.routes.filter((r) => r.table !== 1003);
		expect(checkPlan(plan, s).map((d) => d.replaceAll(H, "HOST"))).toEqual([
			"host: sysctl net/ipv4/conf/HOST/proxy_arp is 0, want 1",
			"pod: address 10.0.1.5/32 on eth0 is missing",
			"pod: link eth0 is down",
			"pod: neighbour 169.254.1.1 on eth0 is 02:00:00:00:00:99 (not permanent), want ee:ee:ee:ee:ee:ee permanent",
			"host: rule 2048 from 10.0.1.5/32 lookup 1003 is missing",
			"host: route default via 10.0.1.253 dev eth1 table 1003 is missing",
		]);
	});

	test("a missing host veth and a gone pod namespace", () => {
		const s = goodState();
		s.host.links = [];
		const d = checkPlan(plan, { host: s.host, pod: undefined });
		expect(d[0]).toBe("pod: network namespace is gone");
		expect(d[1]).toBe(`host: link ${H} is missing`);
	});

	test("a wrong tbf rate", () => {
		const p = vethPlan(input("v4", { bandwidth: { ingressBps: 1_000_000 } }));
		const s = goodState();
		s.host.qdiscs = [{ link: H, kind: "tbf", rate: 2_000_000 }];
		expect(checkPlan(p, s).map((d) => d.replaceAll(H, "HOST"))).toEqual([
			"host: tbf on HOST has rate 2000000bit, want 1000000bit",
		]);
	});
});

describe("checkPlan: policy programs", () => {
	const i = input("v4");
	i.alloc = { ...i.alloc, policy: { pinRoot: "/sys/fs/bpf/terway" } };
	const plan = vethPlan(i);

	test("attached both ways: no drift; one missing or another program in its place: drift", () => {
		const s = goodState();
		s.host.bpf = [
			{ link: H, direction: "ingress", program: "terway_pol_from" },
			{ link: H, direction: "egress", program: "terway_pol_to" },
		];
		expect(checkPlan(plan, s)).toEqual([]);
		s.host.bpf = [{ link: H, direction: "egress", program: "other_prog" }];
		expect(checkPlan(plan, s).map((d) => d.replaceAll(H, "HOST"))).toEqual([
			"host: bpf program terway_pol_from is not attached to HOST ingress",
			"host: bpf program terway_pol_to is not attached to HOST egress (attached: other_prog)",
		]);
	});
});

describe("resultFor", () => {
	test("veth: host link, pod link with sandbox, /32 with the link-local gateway", () => {
		const i = input("dual");
		expect(resultFor(vethPlan(i), i, { netns: "/run/netns/p1", podMac: "02:11:22:33:44:55" })).toEqual({
			cniVersion: "1.1.0",
			interfaces: [
				{ name: H },
				{ name: "eth0", mtu: 1500, sandbox: "/run/netns/p1", mac: "02:11:22:33:44:55" },
			],
			ips: [
				{ address: "10.0.1.5/32", gateway: "169.254.1.1", interface: 1 },
				{ address: "fd00:1::5/128", gateway: "fe80::1", interface: 1 },
			],
			routes: [
				{ dst: "0.0.0.0/0", gw: "169.254.1.1" },
				{ dst: "::/0", gw: "fe80::1" },
			],
		});
	});

	test("exclusive: the vSwitch gateway", () => {
		const i = input("v4", { disableHostPeer: true });
		const r = resultFor(exclusivePlan(i), i, { netns: "/run/netns/p1" });
		expect(r.interfaces).toEqual([{ name: "eth0", mtu: 1500, sandbox: "/run/netns/p1" }]);
		expect(r.ips).toEqual([{ address: "10.0.1.5/32", gateway: "10.0.1.253", interface: 0 }]);
	});
});
