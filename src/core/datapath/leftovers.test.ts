/**
 * The leftover finders as data: which addresses DEL recovers from the node, and what GC removes
 * (and, as much, what it never touches).
 */
import { describe, expect, test } from "bun:test";
import { teardownPlanFromResult } from "./fallback.ts";
import {
	formatOp,
	gcPlan,
	type HostView,
	hostVethName,
	isPodVethName,
	podRuleIp,
	recoverPodIps,
} from "./index.ts";

const A = hostVethName("ca", "eth0");
const B = hostVethName("cb", "eth0");
const rule = (priority: number, sel: { from?: string; to?: string }, table: number, extra = {}) => ({
	family: (sel.from ?? sel.to ?? "").includes(":") ? (6 as const) : (4 as const),
	priority,
	table,
	action: "to-table",
	...sel,
	...extra,
});

const host = (): HostView => ({
	links: [
		{ name: "lo", index: 1 },
		{ name: "eth1", index: 2, kind: "veth", peerIndex: 9 },
		{ name: A, index: 10, kind: "veth", peerIndex: 2 },
		{ name: B, index: 11, kind: "veth", peerIndex: 2 },
		{ name: "caliFOREIGN0001", index: 12, kind: "veth", peerIndex: 13 },
		{ name: hostVethName("cc", "eth0"), index: 14, kind: "macvlan" },
	],
	routes: [
		{ family: 4, dst: "10.0.0.0/24", dev: "eth1" },
		{ family: 4, dst: "10.0.2.5/32", dev: A },
		{ family: 6, dst: "fd00:2::5/128", dev: A },
		{ family: 4, dst: "10.0.2.6/32", dev: B },
		{ family: 4, dst: "10.0.2.8/32", dev: "eth1" },
	],
	rules: [
		rule(512, { from: "10.0.0.10/32" }, 1004), // terwayd's rule for an ENI primary IP
		rule(512, { to: "10.0.2.5/32" }, 254),
		rule(2048, { from: "10.0.2.5/32" }, 1004),
		rule(512, { to: "fd00:2::5/128" }, 254),
		rule(2048, { from: "fd00:2::5/128" }, 1004),
		rule(512, { to: "10.0.2.6/32" }, 254),
		rule(2048, { from: "10.0.2.6/32" }, 1004),
		rule(512, { to: "10.0.2.9/32" }, 254), // an orphan: no veth any more
		rule(2048, { from: "10.0.2.9/32" }, 1004),
		rule(2048, { from: "10.0.2.9/32" }, 1004, { iif: "eth1" }),
		rule(2048, { to: "10.0.2.9/32" }, 1004),
		rule(1000, { from: "10.0.2.9/32" }, 1004),
		rule(512, { to: "10.0.2.0/24" }, 254),
	],
});

describe("recoverPodIps", () => {
	test("the host veth's /32 and /128 routes", () => {
		expect(recoverPodIps(A, "eth0", host())).toEqual(["10.0.2.5/32", "fd00:2::5/128"]);
	});
	test("no host veth: nothing (a pod-side eth0 without it is not ours)", () => {
		const pod = {
			links: [{ name: "eth0", index: 2, kind: "veth" }],
			addrs: [{ link: "eth0", cidr: "10.0.2.7/32", scope: "global" }],
		};
		expect(recoverPodIps(hostVethName("zz", "eth0"), "eth0", host(), pod)).toEqual([]);
	});
	test("routes gone: the global addresses of the veth's own peer, unless routed to another link", () => {
		const h = host();
		h.routes = h.routes.filter((r) => r.dev !== A);
		const pod = {
			links: [{ name: "eth0", index: 2, kind: "veth" }],
			addrs: [
				{ link: "eth0", cidr: "10.0.2.5/32", scope: "global" },
				{ link: "eth0", cidr: "10.0.2.8/32", scope: "global" },
				{ link: "eth0", cidr: "fe80::1/64", scope: "link" },
				{ link: "eth0", cidr: "fd00:2:0::5/128", scope: "global" },
			],
		};
		expect(recoverPodIps(A, "eth0", h, pod)).toEqual(["10.0.2.5/32", "fd00:2::5/128"]);
		// another link's peer index: not ours
		expect(
			recoverPodIps(A, "eth0", h, { ...pod, links: [{ name: "eth0", index: 3, kind: "veth" }] }),
		).toEqual([]);
	});
	test("the teardown plan: the veth, then both rules of each address (prevResult's and the node's, once)", () => {
		const plan = teardownPlanFromResult(
			"ca",
			"eth0",
			{ cniVersion: "1.0.0", ips: [{ address: "10.0.2.5/32" }] },
			"cali",
			["10.0.2.5/32", "fd00:2::5/128"],
		);
		expect(plan.ops.map(formatOp)).toEqual([
			`host: ip link add ${A} address ee:ee:ee:ee:ee:ee mtu 0 type veth peer name eth0 mtu 0 netns pod`,
			"host: ip -4 rule add prio 512 to 10.0.2.5/32 lookup main",
			"host: ip -4 rule add prio 2048 from 10.0.2.5/32 lookup 0",
			"host: ip -6 rule add prio 512 to fd00:2::5/128 lookup main",
			"host: ip -6 rule add prio 2048 from fd00:2::5/128 lookup 0",
		]);
	});
});

describe("GC plan", () => {
	test("names and rule shapes that are ours", () => {
		expect(isPodVethName(A)).toBe(true);
		expect(isPodVethName("caliFOREIGN0001")).toBe(false);
		expect(isPodVethName("cali123")).toBe(false);
		expect(isPodVethName(hostVethName("ca", "eth0", "tw"), "tw")).toBe(true);
		const rules = host().rules.map(podRuleIp);
		expect(rules).toEqual([
			undefined,
			"10.0.2.5/32",
			"10.0.2.5/32",
			"fd00:2::5/128",
			"fd00:2::5/128",
			"10.0.2.6/32",
			"10.0.2.6/32",
			"10.0.2.9/32",
			"10.0.2.9/32",
			undefined,
			undefined,
			undefined,
			undefined,
		]);
	});
	test("unlisted veths and the rules of addresses no listed attachment holds", () => {
		const plan = gcPlan([{ containerID: "cb", ifname: "eth0" }], host());
		expect(plan.links).toEqual([A]);
		expect(plan.ips.sort()).toEqual(["10.0.2.5/32", "10.0.2.9/32", "fd00:2::5/128"]);
		expect(plan.held).toEqual(["10.0.2.6/32"]);
		expect(plan.ops.map(formatOp)).toEqual([
			`host: ip link add ${A} address ee:ee:ee:ee:ee:ee mtu 0 type veth peer name  mtu 0 netns pod`,
			"host: ip -4 rule add prio 512 to 10.0.2.5/32 lookup main",
			"host: ip -4 rule add prio 2048 from 10.0.2.5/32 lookup 1004",
			"host: ip -6 rule add prio 512 to fd00:2::5/128 lookup main",
			"host: ip -6 rule add prio 2048 from fd00:2::5/128 lookup 1004",
			"host: ip -4 rule add prio 512 to 10.0.2.9/32 lookup main",
			"host: ip -4 rule add prio 2048 from 10.0.2.9/32 lookup 1004",
		]);
	});
	test("addresses terwayd allocated to listed attachments keep their rules even without a veth", () => {
		const plan = gcPlan([{ containerID: "cb", ifname: "eth0" }], host(), {
			heldIps: ["10.0.2.9", "fd00:2::5"],
		});
		expect(plan.ips.sort()).toEqual(["10.0.2.5/32"]);
		expect(plan.links).toEqual([A]);
	});
	test("everything listed: nothing to do", () => {
		const h = host();
		h.rules = h.rules.filter((r) => !JSON.stringify(r).includes("10.0.2.9"));
		const plan = gcPlan(
			[
				{ containerID: "ca", ifname: "eth0" },
				{ containerID: "cb", ifname: "eth0" },
			],
			h,
		);
		expect(plan.ops).toEqual([]);
	});
});
