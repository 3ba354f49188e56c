import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { CoreV1Api, KubeConfig, type V1Pod } from "@kubernetes/client-node";
import { KubeApiServer, type Listener } from "../kube/index.ts";
import { Kubelet } from "./kubelet.ts";
import { StubApiserver } from "./testing/stub-apiserver.ts";

// Loopback mode end to end against the sim's apiserver, through the real client-node
// (no root needed: no namespaces, no CNI). Graceful pod deletion (which the sim's apiserver does
// not model) is checked against the stub.

let api: KubeApiServer;
let listener: Listener;
let core: CoreV1Api;
const kubelets: Kubelet[] = [];

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
	ms = 10_000,
): Promise<T> {
	const end = Date.now() + ms;
	for (;;) {
		const v = await fn();
		if (v !== undefined && v !== false) return v;
		if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
		await Bun.sleep(20);
	}
}

function podSpec(name: string, node: string, extra: Partial<V1Pod["spec"]> = {}): V1Pod {
	return {
		metadata: { name, namespace: "default" },
		spec: { nodeName: node, containers: [{ name: "app", image: "busybox" }], ...extra },
	};
}

async function read(name: string): Promise<V1Pod | undefined> {
	try {
		return await core.readNamespacedPod({ name, namespace: "default" });
	} catch (e) {
		if ((e as { code?: number }).code === 404) return undefined;
		throw e;
	}
}

async function startKubelet(): Promise<Kubelet> {
	const k = new Kubelet({
		nodeName: "node1",
		prefix: "twunit",
		mode: "loopback",
		kube: { server: listener.url },
		podCidr: "198.19.200.0/24",
		hostIP: "198.18.0.10",
	});
	kubelets.push(k);
	await k.start();
	return k;
}

beforeAll(() => {
	api = new KubeApiServer();
	listener = api.listen();
	core = client(listener.url);
});
afterAll(async () => {
	for (const k of kubelets) await k.stop();
	await api.close();
});

async function notRunning(name: string): Promise<void> {
	const p = await read(name);
	expect(p).toBeDefined();
	expect(p?.status?.phase).not.toBe("Running");
	expect(p?.status?.podIP).toBeUndefined();
}

describe("kubelet, loopback mode", () => {
	test("a pod bound to the node becomes Running with a fake IP, conditions and hostIP", async () => {
		await startKubelet();
		await core.createNamespacedPod({ namespace: "default", body: podSpec("web", "node1") });
		const pod = await until("web Running", async () => {
			const p = await read("web");
			return p?.status?.phase === "Running" ? p : undefined;
		});
		expect(pod.status?.podIP).toBe("198.19.200.2");
		expect(pod.status?.podIPs).toEqual([{ ip: "198.19.200.2" }]);
		expect(pod.status?.hostIP).toBe("198.18.0.10");
		expect(pod.status?.conditions?.map((c) => `${c.type}=${c.status}`).sort()).toEqual([
			"ContainersReady=True",
			"Initialized=True",
			"PodReadyToStartContainers=True",
			"PodScheduled=True",
			"Ready=True",
		]);
		expect(
			pod.status?.containerStatuses?.map((c) => [c.name, c.ready, c.state?.running !== undefined]),
		).toEqual([["app", true, true]]);
	});

	test("pods of other nodes are not touched; hostNetwork pods get the host IP", async () => {
		await core.createNamespacedPod({ namespace: "default", body: podSpec("elsewhere", "node2") });
		await core.createNamespacedPod({
			namespace: "default",
			body: podSpec("hostnet", "node1", { hostNetwork: true }),
		});
		const host = await until("hostnet Running", async () => {
			const p = await read("hostnet");
			return p?.status?.phase === "Running" ? p : undefined;
		});
		expect(host.status?.podIP).toBe("198.18.0.10");
		await kubelets[0]?.idle();
		await notRunning("elsewhere");
	});

	test("a deleted pod's IP is reused", async () => {
		await core.deleteNamespacedPod({ name: "web", namespace: "default" });
		await until("web gone", async () => ((await read("web")) === undefined ? true : undefined));
		const k = kubelets[0] as Kubelet;
		await until("web's IP released", () =>
			k.log.some((e) => e.pod === "default/web" && e.reason === "SandboxRemoved") ? true : undefined,
		);
		await core.createNamespacedPod({ namespace: "default", body: podSpec("web2", "node1") });
		const p = await until("web2 Running", async () => {
			const x = await read("web2");
			return x?.status?.phase === "Running" ? x : undefined;
		});
		expect(p.status?.podIP).toBe("198.19.200.2");
	});

	test("after a restart, Running pods are adopted (no new status write) and IPs are not handed out twice", async () => {
		const first = kubelets[0] as Kubelet;
		await first.stop();
		const rvBefore = (await read("web2"))?.metadata?.resourceVersion;
		const k2 = await startKubelet();
		await k2.idle();
		expect((await read("web2"))?.metadata?.resourceVersion).toBe(rvBefore); // no status write
		expect(
			k2.log
				.filter((e) => e.reason === "Adopted")
				.map((e) => e.pod)
				.sort(),
		).toEqual(["default/hostnet", "default/web2"]);
		await core.createNamespacedPod({ namespace: "default", body: podSpec("web3", "node1") });
		const p = await until("web3 Running", async () => {
			const x = await read("web3");
			return x?.status?.phase === "Running" ? x : undefined;
		});
		expect(p.status?.podIP).toBe("198.19.200.3");
	});

	test("stop() ends the watch: later pods stay Pending", async () => {
		const k = kubelets[kubelets.length - 1] as Kubelet;
		await k.stop();
		await core.createNamespacedPod({ namespace: "default", body: podSpec("late", "node1") });
		await Bun.sleep(200);
		await notRunning("late");
	});
});

describe("kubelet, graceful deletion (stub apiserver: a scheduled pod first gets deletionTimestamp)", () => {
	test("teardown, then kubelet's final delete with gracePeriodSeconds 0 removes the pod", async () => {
		const stub = new StubApiserver();
		const k = new Kubelet({
			nodeName: "node1",
			prefix: "twunit",
			mode: "loopback",
			kube: { server: stub.url },
			podCidr: "198.19.202.0/24",
		});
		try {
			await k.start();
			const sc = client(stub.url);
			await sc.createNamespacedPod({ namespace: "default", body: podSpec("g", "node1") });
			await until("g Running", () =>
				stub.pod("default", "g")?.status?.phase === "Running" ? true : undefined,
			);
			await sc.deleteNamespacedPod({ name: "g", namespace: "default" });
			await until("g gone", () => (stub.pod("default", "g") === undefined ? true : undefined));
			// the user's DELETE (graceful) and the kubelet's final one
			expect(stub.requests.filter((r) => r === "DELETE /api/v1/namespaces/default/pods/g")).toHaveLength(2);
			expect(k.log.filter((e) => e.pod === "default/g").map((e) => e.reason)).toEqual([
				"Started",
				"SandboxRemoved",
			]);
		} finally {
			await k.stop();
			await stub.close();
		}
	});
});

test("start() rejects when the apiserver cannot be listed (instead of retrying quietly)", async () => {
	const gone = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response("") });
	const server = `http://127.0.0.1:${gone.port}`;
	await gone.stop(true);
	const k = new Kubelet({
		nodeName: "n9",
		prefix: "twunit",
		mode: "loopback",
		kube: { server },
		podCidr: "198.19.201.0/24",
	});
	await expect(k.start()).rejects.toThrow(/^kubelet n9: cannot list\/watch pods: /);
	await k.stop(); // a no-op after a failed start
});
