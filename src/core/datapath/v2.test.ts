/**
 * The datapathv2 plan: the veth plan's ops unchanged, then the redirect program on the host
 * veth's ingress (after the policy programs when NetworkPolicy is on), its pin root; the
 * fallback to `veth` when terwayd has not pinned the programs; CHECK of the attachment.
 */
import { describe, expect, test } from "bun:test";
import {
	checkPlan,
	type DatapathInput,
	formatOp,
	hostVethName,
	type NsState,
	planFor,
	V2_OUT_PROGRAM,
	v2Plan,
	vethPlan,
} from "./index.ts";

const V4 = { ip: "10.0.1.5", prefixLen: 24, gateway: "10.0.1.253", cidr: "10.0.1.0/24" };
const V6 = { ip: "fd00:1::5", prefixLen: 64, gateway: "fd00:1::1", cidr: "fd00:1::/64" };
const ROOT = "/sys/fs/bpf/tw-node-1";

const input = (
	stack: "v4" | "dual",
	extra: { policy?: boolean; v2?: string | undefined } = { v2: ROOT },
): DatapathInput => ({
	containerId: "c0ffee",
	ifName: "eth0",
	mtu: 1500,
	alloc: {
		ipv4: V4,
		...(stack === "dual" ? { ipv6: V6 } : {}),
		eni: { id: "eni-1", mac: "02:00:00:00:0e:01", link: "eth1", ifindex: 3 },
		routeTable: 1003,
		serviceCidrs: ["10.96.0.0/12"],
		...(extra.policy ? { policy: { pinRoot: ROOT } } : {}),
		...(extra.v2 ? { datapathv2: { pinRoot: extra.v2 } } : {}),
	},
});

const H = hostVethName("c0ffee", "eth0");
const show = (ops: { op: string }[]) =>
	ops.map((o) => formatOp(o as Parameters<typeof formatOp>[0]).replaceAll(H, "HOST"));

describe("datapathv2 plan", () => {
	test("v4: the veth plan's ops, then terway_v2_out on the host veth ingress; pin root from the allocation", () => {
		const i = input("v4");
		const p = v2Plan(i);
		const veth = vethPlan(i);
		expect(p.datapath).toBe("datapathv2");
		expect(p.pinRoot).toBe(ROOT);
		expect(p.hostLink).toBe(H);
		expect(p.podLink).toBe("eth0");
		expect(p.ops.slice(0, -1)).toEqual(veth.ops);
		expect(show(p.ops.slice(-1))).toEqual([
			"host: tc filter add dev HOST ingress bpf pinned progs/terway_v2_out  # tcx, pinned link",
		]);
		expect(p.notes).toEqual([]);
	});

	test("dual stack: one program serves both families", () => {
		const p = v2Plan(input("dual"));
		expect(p.ops.filter((o) => o.op === "bpf")).toHaveLength(1);
		expect(p.ops.filter((o) => o.op === "rule")).toHaveLength(4);
	});

	test("with NetworkPolicy: the policy programs first, the redirect last (TCX runs in attach order)", () => {
		const p = v2Plan(input("v4", { policy: true, v2: ROOT }));
		expect(show(p.ops.filter((o) => o.op === "bpf"))).toEqual([
			"host: tc filter add dev HOST ingress bpf pinned progs/terway_pol_from  # tcx, pinned link",
			"host: tc filter add dev HOST egress bpf pinned progs/terway_pol_to  # tcx, pinned link",
			"host: tc filter add dev HOST ingress bpf pinned progs/terway_v2_out  # tcx, pinned link",
		]);
	});

	test("policy and datapathv2 pinned under different roots: refused, naming both", () => {
		const i = input("v4", { policy: true, v2: "/sys/fs/bpf/other" });
		expect(() => v2Plan(i)).toThrow(
			"datapathv2: pin root /sys/fs/bpf/other differs from the policy pin root /sys/fs/bpf/tw-node-1",
		);
	});

	test("planFor: datapathv2 with the programs pinned -> v2 plan; without -> veth plan and a note", () => {
		expect(planFor("datapathv2", input("v4")).datapath).toBe("datapathv2");
		const fallback = planFor("datapathv2", input("v4", { v2: undefined }));
		expect(fallback.datapath).toBe("veth");
		expect(fallback.ops).toEqual(vethPlan(input("v4", { v2: undefined })).ops);
		expect(fallback.notes).toEqual([
			"datapathv2: terwayd has not pinned the eBPF redirect programs (kernel without TCX or the helpers, see its log): using the veth datapath",
		]);
		expect(() => v2Plan(input("v4", { v2: undefined }))).toThrow("no datapathv2 pin root");
		// a veth allocation never gets the program, even when terwayd pinned it
		expect(planFor("veth", input("v4")).ops.some((o) => o.op === "bpf")).toBe(false);
	});

	test("CHECK: the redirect program must be attached to the host veth ingress", () => {
		const p = v2Plan(input("v4"));
		const host: NsState = {
			links: [{ name: H, mtu: 1500, up: true }],
			addrs: [],
			routes: [],
			rules: [],
			neighs: [],
			sysctls: {},
			qdiscs: [],
			bpf: [{ link: H, direction: "ingress", program: "terway_pol_from" }],
		};
		const drift = checkPlan(p, { host, pod: undefined }).filter((d) => d.includes("bpf"));
		expect(drift.map((d) => d.replaceAll(H, "HOST"))).toEqual([
			"host: bpf program terway_v2_out is not attached to HOST ingress (attached: terway_pol_from)",
		]);
		host.bpf?.push({ link: H, direction: "ingress", program: V2_OUT_PROGRAM });
		expect(checkPlan(p, { host, pod: undefined }).filter((d) => d.includes("bpf"))).toEqual([]);
	});
});
