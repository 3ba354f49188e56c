/**
 * The kubelet stand-in in netns mode, for real: Debian's reference `ptp` + `host-local` plugins
 * run from a conflist, spawned inside a node namespace, for pods created through an apiserver
 * (the sim's own, src/sim/kube, over HTTP as client-node under Bun needs).
 * Proven by ping from the node into the pod, and by what DEL leaves behind (nothing).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CoreV1Api, KubeConfig, PatchStrategy, setHeaderOptions, type V1Pod } from "@kubernetes/client-node";
import { openHandles } from "../../src/ffi/handles.ts";
import { createNetns, listNetns, type Netns } from "../../src/linux/netns.ts";
import { simNetns } from "../../src/sim/contracts.ts";
import { KubeApiServer, type Listener } from "../../src/sim/kube/index.ts";
import { parseConfList } from "../../src/sim/kubelet/cni-config.ts";
import { CniRunner } from "../../src/sim/kubelet/cni-exec.ts";
import { Kubelet } from "../../src/sim/kubelet/kubelet.ts";
import { sandboxIdFor } from "../../src/sim/kubelet/pod.ts";
import { canRun, cleanupNetns, ipJson, prefixFor } from "../helpers/env.ts";

const P = prefixFor("kl");
const CNI_BIN = "/usr/lib/cni";
const SUBNET = "198.18.100.0/24";

const suite = "tests/sim/kubelet.test.ts";
const ok = canRun(suite, {
	root: true,
	check: () =>
		existsSync(join(CNI_BIN, "ptp")) ? undefined : `${CNI_BIN}/ptp missing (apt containernetworking-plugins)`,
});

let tmp: string;
let api: KubeApiServer;
let listener: Listener;
let core: CoreV1Api;
const nodes: Netns[] = [];
const kubelets: Kubelet[] = [];
/** Every plugin exec of every kubelet: [start, end] in performance.now() ms. */
const execs: { plugin: string; command: string; containerId: string; start: number; end: number }[] = [];

function client(server: string): CoreV1Api {
	const kc = new KubeConfig();
	kc.loadFromOptions({
		clusters: [{ name: "s", server, skipTLSVerify: true }],
		users: [{ name: "u", token: "t" }],
		contexts: [{ name: "c", cluster: "s", user: "u" }],
		currentContext: "c",
	});
	return kc.makeApiClient(CoreV1Api);
}

async function until<T>(
	what: string,
	fn: () => Promise<T | undefined> | T | undefined,
	ms = 15_000,
): Promise<T> {
	const end = Date.now() + ms;
	for (;;) {
		const v = await fn();
		if (v !== undefined) return v;
		if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
		await Bun.sleep(25);
	}
}

async function read(name: string): Promise<V1Pod | undefined> {
	try {
		return await core.readNamespacedPod({ name, namespace: "default" });
	} catch (e) {
		if ((e as { code?: number }).code === 404) return undefined;
		throw e;
	}
}

async function running(name: string): Promise<V1Pod> {
	return until(`${name} Running`, async () => {
		const p = await read(name);
		return p?.status?.phase === "Running" ? p : undefined;
	});
}

async function createPod(name: string, node: string): Promise<V1Pod> {
	return core.createNamespacedPod({
		namespace: "default",
		body: {
			metadata: { name, namespace: "default" },
			spec: { nodeName: node, containers: [{ name: "app", image: "busybox" }] },
		},
	});
}

/** ping from inside a named namespace, without blocking the event loop (the apiserver is in this process). */
async function pingFrom(ns: string, ip: string): Promise<boolean> {
	const p = Bun.spawn(["ip", "netns", "exec", ns, "ping", "-c1", "-W1", ip], {
		stdout: "ignore",
		stderr: "ignore",
	});
	return (await p.exited) === 0;
}

/** A node: its namespace and a conf dir with a ptp + host-local conflist. */
function makeNode(
	node: string,
	ipam: Record<string, unknown>,
): { netns: Netns; confDir: string; dataDir: string } {
	const netns = createNetns(simNetns.node(P, node));
	nodes.push(netns);
	const confDir = join(tmp, node, "net.d");
	const dataDir = join(tmp, node, "ipam");
	mkdirSync(confDir, { recursive: true });
	writeFileSync(
		join(confDir, "10-klnet.conflist"),
		JSON.stringify({
			cniVersion: "1.0.0",
			name: "klnet",
			plugins: [{ type: "ptp", ipMasq: false, ipam: { dataDir, ...ipam } }],
		}),
	);
	return { netns, confDir, dataDir };
}

async function startKubelet(node: string, n: { netns: Netns; confDir: string }): Promise<Kubelet> {
	const k = new Kubelet({
		nodeName: node,
		prefix: P,
		mode: "netns",
		kube: { server: listener.url },
		confDir: n.confDir,
		cniPath: [CNI_BIN],
		cacheDir: join(tmp, node, "cache"),
		nodeNetns: n.netns,
		hostIP: "198.18.0.10",
		execTimeoutMs: 20_000,
		retryMs: { initial: 60_000, max: 60_000 }, // no retry inside a test's time
		onExec: (r) => {
			const end = performance.now();
			execs.push({
				plugin: r.plugin,
				command: r.command,
				containerId: r.containerId,
				start: end - r.durationMs,
				end,
			});
		},
	});
	kubelets.push(k);
	await k.start();
	return k;
}

/** Wait until the kubelet has torn the pod's sandbox down: lease released and namespace gone. */
async function tornDown(dataDir: string, ip: string, podNs: string): Promise<void> {
	await until(`teardown of ${podNs}`, () =>
		!leases(dataDir).includes(ip) && !listNetns().includes(podNs) ? true : undefined,
	);
}

function leases(dataDir: string): string[] {
	const d = join(dataDir, "klnet");
	return existsSync(d) ? readdirSync(d).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f)) : [];
}

describe.skipIf(!ok)("kubelet stand-in, netns mode, reference ptp + host-local", () => {
	let node1: { netns: Netns; confDir: string; dataDir: string };
	let kubelet: Kubelet;
	const node1Ns = simNetns.node(P, "node1");

	beforeAll(async () => {
		tmp = mkdtempSync(join(tmpdir(), "kl-root-"));
		api = new KubeApiServer();
		listener = api.listen();
		core = client(listener.url);
		node1 = makeNode("node1", { type: "host-local", subnet: SUBNET });
	});

	afterAll(async () => {
		for (const k of kubelets) await k.stop();
		await api?.close();
		for (const n of nodes) n.close();
		cleanupNetns(P);
		rmSync(tmp, { recursive: true, force: true });
		expect(openHandles()).toEqual([]);
		expect(listNetns().filter((n) => n.startsWith(P))).toEqual([]);
	});

	test("a plugin spawned by the runner with a netns is born in that namespace", async () => {
		const bin = join(tmp, "bin");
		mkdirSync(bin, { recursive: true });
		writeFileSync(
			join(bin, "whereami"),
			'#!/bin/sh\ncat >/dev/null\nprintf \'{"cniVersion":"1.0.0","netns":"%s"}\' "$(readlink /proc/self/ns/net)"\n',
		);
		chmodSync(join(bin, "whereami"), 0o755);
		const list = parseConfList(
			"x.conflist",
			JSON.stringify({ cniVersion: "1.0.0", name: "w", plugins: [{ type: "whereami" }] }),
		);
		const rt = { containerId: "c1", netns: "/run/netns/none", ifName: "eth0", args: [], capabilityArgs: {} };
		const inside = await new CniRunner({
			cniPath: [bin],
			cacheDir: join(tmp, "wcache"),
			netns: node1.netns,
		}).add(list, rt);
		expect(inside.netns).toBe(node1.netns.inode);
		const outside = await new CniRunner({ cniPath: [bin], cacheDir: join(tmp, "wcache2") }).add(list, rt);
		expect(outside.netns).not.toBe(node1.netns.inode);
	});

	test("pod → ADD inside the node namespace → Running with its IP → reachable from the node", async () => {
		kubelet = await startKubelet("node1", node1);
		expect(kubelet.network?.plugins.map((p) => p.type)).toEqual(["ptp"]);
		const created = await createPod("web", "node1");
		const pod = await running("web");
		const ip = pod.status?.podIP ?? "";
		expect(ip).toMatch(/^198\.18\.100\.\d+$/);
		expect(pod.status?.podIPs).toEqual([{ ip }]);
		expect(pod.status?.hostIP).toBe("198.18.0.10");
		expect(pod.status?.conditions?.find((c) => c.type === "Ready")?.status).toBe("True");

		const podNs = simNetns.pod(P, "node1", created.metadata?.uid ?? "");
		expect(listNetns()).toContain(podNs);
		// the pod side: eth0 with the address, and lo up (containerd's cni-loopback network)
		type Addr = { ifname: string; flags: string[]; addr_info: { local: string; prefixlen: number }[] };
		const inPod = ipJson<Addr[]>(podNs, ["addr", "show"]);
		expect(inPod.find((l) => l.ifname === "eth0")?.addr_info.map((a) => a.local)).toContain(ip);
		expect(inPod.find((l) => l.ifname === "lo")?.flags).toContain("UP");
		// the host side of the veth is in the node namespace (with ptp's gateway), not in ours
		const nodeLinks = ipJson<Addr[]>(node1Ns, ["addr", "show"]);
		const hostVeth = nodeLinks.find((l) => l.addr_info.some((a) => a.local === "198.18.100.1"));
		expect(hostVeth).toBeDefined();
		const ours = ipJson<{ ifname: string }[]>(undefined, ["link", "show"]).map((l) => l.ifname);
		expect(ours).not.toContain(hostVeth?.ifname);

		expect(await pingFrom(node1Ns, ip)).toBe(true);
		expect(leases(node1.dataDir)).toEqual([ip]);
	});

	test("delete → DEL (lease released, cache dropped) → namespace gone", async () => {
		const pod = (await read("web")) as V1Pod;
		const uid = pod.metadata?.uid ?? "";
		const cache = join(tmp, "node1", "cache", "results", `klnet-${sandboxIdFor(uid)}-eth0`);
		expect(existsSync(cache)).toBe(true);
		await core.deleteNamespacedPod({ name: "web", namespace: "default" });
		await until("web gone", async () => ((await read("web")) === undefined ? true : undefined));
		await tornDown(node1.dataDir, pod.status?.podIP ?? "", simNetns.pod(P, "node1", uid));
		expect(leases(node1.dataDir)).toEqual([]);
		expect(existsSync(cache)).toBe(false);
		expect(listNetns()).not.toContain(simNetns.pod(P, "node1", uid));
		const nodeLinks = ipJson<{ ifname: string }[]>(node1Ns, ["link", "show"]).map((l) => l.ifname);
		expect(nodeLinks).toEqual(["lo"]);
		expect(kubelet.log.map((e) => e.reason)).toContain("SandboxRemoved");
	});

	test("pods created together are set up in parallel, with distinct IPs, all reachable; all torn down", async () => {
		const names = ["p1", "p2", "p3", "p4", "p5", "p6"];
		const k = kubelet;
		const firstExec = execs.length;
		const before = k.log.length;
		const created = await Promise.all(names.map((n) => createPod(n, "node1")));
		const pods = await Promise.all(names.map((n) => running(n)));
		const ips = pods.map((p) => p.status?.podIP ?? "");
		expect(new Set(ips).size).toBe(names.length);
		for (const ip of ips) expect(ip).toMatch(/^198\.18\.100\.\d+$/);
		expect(leases(node1.dataDir).sort()).toEqual([...ips].sort());
		const reach = await Promise.all(ips.map((ip) => pingFrom(node1Ns, ip)));
		expect(reach).toEqual(names.map(() => true));
		// each pod was set up exactly once
		const created1 = k.log
			.slice(before)
			.filter((e) => e.reason === "SandboxCreated")
			.map((e) => e.pod);
		expect(created1.sort()).toEqual(names.map((n) => `default/${n}`));
		// different pods in parallel: some ptp ADDs of different sandboxes overlap in time
		const adds = execs.slice(firstExec).filter((e) => e.plugin === "ptp" && e.command === "ADD");
		expect(adds).toHaveLength(names.length);
		const overlapping = adds.some((a) =>
			adds.some((b) => a.containerId !== b.containerId && a.start < b.end && b.start < a.end),
		);
		expect(overlapping).toBe(true);
		// one pod's work is serialized: its lo ADD ended before its eth0 ADD began
		for (const a of adds) {
			const lo = execs.find(
				(e) => e.plugin === "loopback" && e.command === "ADD" && e.containerId === a.containerId,
			);
			expect(lo !== undefined && lo.end <= a.start).toBe(true);
		}

		await Promise.all(names.map((n) => core.deleteNamespacedPod({ name: n, namespace: "default" })));
		await Promise.all(
			created.map((c, i) =>
				tornDown(node1.dataDir, ips[i] ?? "", simNetns.pod(P, "node1", c.metadata?.uid ?? "")),
			),
		);
		await k.idle();
		expect(leases(node1.dataDir)).toEqual([]);
		expect(ipJson<{ ifname: string }[]>(node1Ns, ["link", "show"]).map((l) => l.ifname)).toEqual(["lo"]);
	});

	test("a failing plugin: Warning event, logged, pod not Running, nothing left behind", async () => {
		// node2's IPAM type does not exist: ptp fails ADD with its error JSON
		const node2 = makeNode("node2", { type: "no-such-ipam", subnet: "198.18.101.0/24" });
		const k2 = await startKubelet("node2", node2);
		const created = await createPod("broken", "node2");
		const ev = await until("FailedCreatePodSandBox event", async () =>
			(await core.listNamespacedEvent({ namespace: "default" })).items.find(
				(e) => e.involvedObject?.name === "broken" && e.reason === "FailedCreatePodSandBox",
			),
		);
		expect(ev.type).toBe("Warning");
		expect(ev.message).toContain('plugin type="ptp" failed (add)');
		expect(ev.message).toContain("no-such-ipam");
		await k2.idle();
		const broken = await read("broken");
		expect(broken?.status?.phase).not.toBe("Running");
		expect(broken?.status?.podIP).toBeUndefined();
		expect(k2.log.find((e) => e.reason === "FailedCreatePodSandBox")?.pod).toBe("default/broken");
		// the runtime DELed after the failed ADD and dropped the namespace
		expect(listNetns()).not.toContain(simNetns.pod(P, "node2", created.metadata?.uid ?? ""));
		expect(
			ipJson<{ ifname: string }[]>(simNetns.node(P, "node2"), ["link", "show"]).map((l) => l.ifname),
		).toEqual(["lo"]);
		await core.deleteNamespacedPod({ name: "broken", namespace: "default" });
		await until("broken gone", async () => ((await read("broken")) === undefined ? true : undefined));
	});

	test("restart: a Running pod is adopted as is; a pod deleted meanwhile is DELed and its namespace removed", async () => {
		await createPod("keep", "node1");
		await createPod("drop", "node1");
		const keep = await running("keep");
		const drop = await running("drop");
		const keepIp = keep.status?.podIP ?? "(none)";
		expect(leases(node1.dataDir).sort()).toEqual([keepIp, drop.status?.podIP ?? "(none)"].sort());
		await kubelet.stop();
		// while the kubelet is down, "drop" is force-deleted
		await core.deleteNamespacedPod({ name: "drop", namespace: "default", gracePeriodSeconds: 0 });
		const dropNs = simNetns.pod(P, "node1", drop.metadata?.uid ?? "");
		expect(listNetns()).toContain(dropNs);

		const rvBefore = (await read("keep"))?.metadata?.resourceVersion;
		kubelet = await startKubelet("node1", node1);
		await kubelet.idle();
		expect(leases(node1.dataDir)).toEqual([keepIp]);
		expect(listNetns()).not.toContain(dropNs);
		expect(listNetns()).toContain(simNetns.pod(P, "node1", keep.metadata?.uid ?? ""));
		expect((await read("keep"))?.metadata?.resourceVersion).toBe(rvBefore); // not written again
		expect(kubelet.log.find((e) => e.reason === "Adopted")?.pod).toBe("default/keep");
		expect(await pingFrom(node1Ns, keepIp)).toBe(true);

		await core.deleteNamespacedPod({ name: "keep", namespace: "default" });
		await until("keep gone", async () => ((await read("keep")) === undefined ? true : undefined));
		await tornDown(node1.dataDir, keepIp, simNetns.pod(P, "node1", keep.metadata?.uid ?? ""));
		expect(leases(node1.dataDir)).toEqual([]);
	});

	test("a terminating pod (held by a finalizer) loses its network before the object goes", async () => {
		const created = await core.createNamespacedPod({
			namespace: "default",
			body: {
				metadata: { name: "held", namespace: "default", finalizers: ["sim.terway/test"] },
				spec: { nodeName: "node1", containers: [{ name: "app", image: "busybox" }] },
			},
		});
		const ip = (await running("held")).status?.podIP ?? "";
		const podNs = simNetns.pod(P, "node1", created.metadata?.uid ?? "");
		expect(leases(node1.dataDir)).toEqual([ip]);
		await core.deleteNamespacedPod({ name: "held", namespace: "default" });
		await tornDown(node1.dataDir, ip, podNs);
		// still there (terminating), with its network gone
		expect((await read("held"))?.metadata?.deletionTimestamp).toBeDefined();
		expect(leases(node1.dataDir)).toEqual([]);
		await core.patchNamespacedPod(
			{ name: "held", namespace: "default", body: { metadata: { finalizers: null } } },
			setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
		);
		await until("held gone", async () => ((await read("held")) === undefined ? true : undefined));
		await kubelet.idle();
		expect(listNetns().filter((n) => n.startsWith(simNetns.node(P, "node1")))).toEqual([
			simNetns.node(P, "node1"),
		]);
	});
});
