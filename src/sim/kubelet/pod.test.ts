import { describe, expect, test } from "bun:test";
import type { V1Pod } from "@kubernetes/client-node";
import { FakeIpPool } from "./fake-ip-pool.ts";
import {
	capabilityArgsFor,
	cniArgsFor,
	isTerminating,
	podIpsFromResult,
	runningStatusPatch,
	sandboxIdFor,
} from "./pod.ts";

const pod: V1Pod = {
	metadata: {
		name: "web",
		namespace: "shop",
		uid: "0d8f3c2a-1111-2222-3333-444455556666",
		annotations: {
			"kubernetes.io/ingress-bandwidth": "10M",
			"kubernetes.io/egress-bandwidth": "1Mi",
			team: "a",
		},
	},
	spec: {
		nodeName: "node1",
		containers: [
			{
				name: "app",
				image: "nginx",
				ports: [{ containerPort: 80, hostPort: 8080 }, { containerPort: 9090 }],
			},
			{
				name: "dns",
				image: "coredns",
				ports: [{ containerPort: 53, hostPort: 53, protocol: "UDP", hostIP: "198.18.0.10" }],
			},
		],
	},
};

describe("what containerd derives from a pod", () => {
	test("sandbox id: 64 hex, stable per UID", () => {
		const id = sandboxIdFor("0d8f3c2a-1111");
		expect(id).toMatch(/^[0-9a-f]{64}$/);
		expect(sandboxIdFor("0d8f3c2a-1111")).toBe(id);
		expect(sandboxIdFor("0d8f3c2a-1112")).not.toBe(id);
	});

	test("CNI_ARGS pairs", () => {
		expect(cniArgsFor(pod, "abc")).toEqual([
			["IgnoreUnknown", "1"],
			["K8S_POD_NAMESPACE", "shop"],
			["K8S_POD_NAME", "web"],
			["K8S_POD_INFRA_CONTAINER_ID", "abc"],
			["K8S_POD_UID", "0d8f3c2a-1111-2222-3333-444455556666"],
		]);
	});

	test("capability args: hostPort mappings, bandwidth in bits/s with containerd's burst, annotations", () => {
		expect(capabilityArgsFor(pod)).toEqual({
			portMappings: [
				{ hostPort: 8080, containerPort: 80, protocol: "tcp" },
				{ hostPort: 53, containerPort: 53, protocol: "udp", hostIP: "198.18.0.10" },
			],
			bandwidth: {
				ingressRate: 10_000_000,
				ingressBurst: 0xffffffff,
				egressRate: 1_048_576,
				egressBurst: 0xffffffff,
			},
			"io.kubernetes.cri.pod-annotations": pod.metadata?.annotations,
		});
		expect(capabilityArgsFor({ metadata: {}, spec: { containers: [] } })).toEqual({
			portMappings: [],
			"io.kubernetes.cri.pod-annotations": {},
		});
		expect(() =>
			capabilityArgsFor({ metadata: { annotations: { "kubernetes.io/ingress-bandwidth": "fast" } } }),
		).toThrow(/bandwidth/);
	});

	test("terminating: deletionTimestamp or a final phase", () => {
		expect(isTerminating(pod)).toBe(false);
		expect(isTerminating({ ...pod, metadata: { deletionTimestamp: new Date() } })).toBe(true);
		expect(isTerminating({ ...pod, status: { phase: "Succeeded" } })).toBe(true);
		expect(isTerminating({ ...pod, status: { phase: "Running" } })).toBe(false);
	});
});

describe("pod IPs from a result", () => {
	test("addresses of the sandbox eth0 (or without interface), no prefix, IPv4 first", () => {
		expect(
			podIpsFromResult({
				cniVersion: "1.0.0",
				interfaces: [{ name: "veth1" }, { name: "eth0", sandbox: "/run/netns/x" }],
				ips: [
					{ address: "fd00::5/64", interface: 1 },
					{ address: "198.18.100.5/24", interface: 1 },
					{ address: "198.18.0.1/32", interface: 0 },
				],
			}),
		).toEqual(["198.18.100.5", "fd00::5"]);
		expect(podIpsFromResult({ ips: [{ address: "198.18.100.9/24" }] })).toEqual(["198.18.100.9"]);
		expect(podIpsFromResult({ cniVersion: "0.2.0", ip4: { ip: "198.18.100.3/24" } })).toEqual([
			"198.18.100.3",
		]);
		expect(podIpsFromResult({ cniVersion: "1.0.0" })).toEqual([]);
	});
});

test("status patch: Running, IPs, hostIP, conditions, one containerStatus per container", () => {
	const now = new Date("2026-01-02T03:04:05.678Z");
	const { status } = runningStatusPatch(pod, {
		podIPs: ["198.18.100.5", "fd00::5"],
		hostIP: "198.18.0.10",
		sandboxId: "f".repeat(64),
		now,
	});
	expect(status.phase).toBe("Running");
	expect([status.podIP, status.podIPs, status.hostIP, status.hostIPs]).toEqual([
		"198.18.100.5",
		[{ ip: "198.18.100.5" }, { ip: "fd00::5" }],
		"198.18.0.10",
		[{ ip: "198.18.0.10" }],
	]);
	expect(status.startTime).toBe("2026-01-02T03:04:05Z");
	const conds = status.conditions as { type: string; status: string }[];
	expect(conds.map((c) => `${c.type}=${c.status}`)).toEqual([
		"PodReadyToStartContainers=True",
		"Initialized=True",
		"Ready=True",
		"ContainersReady=True",
		"PodScheduled=True",
	]);
	const cs = status.containerStatuses as { name: string; ready: boolean; containerID: string }[];
	expect(cs.map((c) => c.name)).toEqual(["app", "dns"]);
	expect(cs[0]?.containerID).toMatch(/^containerd:\/\/[0-9a-f]{64}$/);
	expect(cs[0]?.containerID).not.toBe(cs[1]?.containerID);
	// no IPs / no host IP: the keys are left out rather than written empty
	const bare = runningStatusPatch(pod, { podIPs: [], sandboxId: "f".repeat(64), now }).status;
	expect(["podIP", "podIPs", "hostIP", "hostIPs"].filter((k) => k in bare)).toEqual([]);
});

describe("fake IP pool (loopback mode)", () => {
	test("lowest free first, skipping network, gateway and broadcast; release and reserve", () => {
		const pool = new FakeIpPool("198.19.200.77/30");
		expect(pool.cidr).toBe("198.19.200.76/30");
		expect(pool.allocate()).toBe("198.19.200.78");
		expect(() => pool.allocate()).toThrow(/exhausted/);
		pool.release("198.19.200.78");
		expect(pool.reserve("198.19.200.78")).toBe(true);
		expect(pool.reserve("198.18.0.1")).toBe(false);
		expect(pool.used).toBe(1);
		const big = new FakeIpPool("198.19.128.0/24");
		big.reserve("198.19.128.2");
		expect([big.allocate(), big.allocate()]).toEqual(["198.19.128.3", "198.19.128.4"]);
	});

	test("only IPv4 ranges of /30 or wider", () => {
		expect(() => new FakeIpPool("fd00::/64")).toThrow(/IPv4/);
		expect(() => new FakeIpPool("198.19.0.1/32")).toThrow(/30/);
	});
});
