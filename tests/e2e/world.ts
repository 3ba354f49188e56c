/**
 * A `terwayctl sim up --cni terway` world for the end-to-end tests: pods through the sim's
 * apiserver (the kubelet stand-in runs our plugin from 10-terway.conflist), the plugin exec'd by
 * hand as a runtime does, each node's terwayd over its socket. Test helper, not a test.
 */
import { closeSync, openSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Netns } from "../../src/linux/netns.ts";
import { simNetns } from "../../src/sim/contracts.ts";
import { sandboxIdFor } from "../../src/sim/kubelet/pod.ts";
import type { WorldInfo } from "../../src/sim/layout.ts";
import { parseEnvFile } from "../../src/sim/node-cni.ts";
import { ipJson, ping, sh } from "../helpers/env.ts";

export const ENTRY = join(import.meta.dir, "../../src/bin/terwayctl.ts");
const ROOT = join(import.meta.dir, "../..");

export type PodView = {
	name: string;
	node: string;
	uid: string;
	netns: string;
	ips: string[];
	v4: string;
	v6?: string;
};

/** `ip -j rule` and `ip -j route` rows, the fields the e2e tests read. */
export type IpRule = { priority: number; src?: string; dst?: string; table?: string };
export type IpRoute = { dst: string; dev?: string; table?: string };

/** True when iperf3 is installed (the TCP tests skip without it). */
export function hasIperf3(): boolean {
	return sh(["sh", "-c", "command -v iperf3"], { allowFail: true }).code === 0;
}

/** The default scenario with these changes (eni_conf keys merged into the ConfigMap's). */
export function scenario(
	file: string,
	o: { instanceType?: string; eniConf?: Record<string, unknown>; labels?: Record<string, string> },
): string {
	const s = Bun.YAML.parse(readFileSync(join(ROOT, "src/sim/scenarios/default.yaml"), "utf8")) as {
		nodes: { instanceType: string; labels?: Record<string, string> };
		kubernetes: { objects: { kind: string; metadata: { name: string }; data?: Record<string, string> }[] };
	};
	if (o.instanceType) s.nodes.instanceType = o.instanceType;
	if (o.labels) s.nodes.labels = o.labels;
	const cm = s.kubernetes.objects.find((x) => x.kind === "ConfigMap" && x.metadata.name === "eni-config")!;
	cm.data!.eni_conf = JSON.stringify({ ...JSON.parse(cm.data!.eni_conf!), ...o.eniConf });
	writeFileSync(file, JSON.stringify(s));
	return file;
}

export class SimWorld {
	info!: WorldInfo;
	/** terwayds this test started again after killing the sim's (stopped by down()). */
	readonly #restarted = new Map<string, ReturnType<typeof Bun.spawn>>();
	constructor(readonly prefix: string) {}

	cli(...args: string[]) {
		return sh([process.execPath, ENTRY, ...args], { allowFail: true });
	}

	up(...args: string[]): void {
		const r = this.cli("sim", "up", "--prefix", this.prefix, "--cni", "terway", ...args);
		if (r.code !== 0) throw new Error(`sim up failed (${r.code}): ${r.err.slice(-1500)}`);
		this.info = JSON.parse(readFileSync(`/run/terway-sim/${this.prefix}/world.json`, "utf8"));
	}

	down(): void {
		for (const [node, p] of this.#restarted) {
			if (p.exitCode === null) p.kill("SIGTERM");
			const end = Date.now() + 10_000;
			while (p.exitCode === null && p.signalCode === null && Date.now() < end) Bun.sleepSync(50);
			if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
			this.#restarted.delete(node);
		}
		this.cli("sim", "down", "--prefix", this.prefix);
	}

	/** pid of the node's running terwayd (the sim's or one restarted here), by its command line. */
	terwaydPid(node: string): number | undefined {
		const want = `${this.nodeDir(node)}/terwayd.json`;
		for (const d of readdirSync("/proc")) {
			if (!/^\d+$/.test(d)) continue;
			try {
				const argv = readFileSync(`/proc/${d}/cmdline`, "utf8").split("\0");
				const stat = readFileSync(`/proc/${d}/stat`, "utf8");
				if (stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z")) continue;
				if (argv.includes("daemon") && argv.includes(want)) return Number(d);
			} catch {
				// the process went away meanwhile
			}
		}
		return undefined;
	}

	/** SIGKILL the node's terwayd (no drain: a crash) and wait until it is gone. */
	async killTerwayd(node: string): Promise<void> {
		const pid = this.terwaydPid(node);
		if (!pid) throw new Error(`no terwayd running for ${node}`);
		process.kill(pid, "SIGKILL");
		const end = Date.now() + 10_000;
		while (this.terwaydPid(node) !== undefined) {
			if (Date.now() > end) throw new Error(`terwayd ${node} (pid ${pid}) still there after SIGKILL`);
			await Bun.sleep(50);
		}
	}

	/**
	 * Start the node's terwayd again as the sim does (inside the node namespace, the node's env and
	 * config, log appended to its terwayd.log) and wait until it is ready; down() stops it.
	 */
	async restartTerwayd(node: string, timeoutMs = 60_000): Promise<void> {
		const dir = this.nodeDir(node);
		const env = { ...process.env, ...parseEnvFile(readFileSync(`${dir}/env`, "utf8")) };
		const log = openSync(`${dir}/terwayd.log`, "a");
		// setns only, as the sim does (`ip netns exec` would also remount /sys and hide bpffs)
		using ns = Netns.open(this.nodeNs(node));
		try {
			const p = ns.run(() =>
				Bun.spawn([process.execPath, ENTRY, "daemon", "--config", `${dir}/terwayd.json`], {
					env,
					stdin: "ignore",
					stdout: log,
					stderr: log,
					cwd: "/",
				}),
			);
			this.#restarted.set(node, p);
		} finally {
			closeSync(log);
		}
		const end = Date.now() + timeoutMs;
		for (;;) {
			const st = await this.daemon<{ phase?: string }>(node, "/v1/status").catch(() => undefined);
			if (st?.phase === "ready") return;
			if (Date.now() > end) throw new Error(`terwayd ${node} not ready ${timeoutMs} ms after the restart`);
			await Bun.sleep(100);
		}
	}

	/** A namespace with labels (the apiserver adds kubernetes.io/metadata.name). */
	async addNamespace(name: string, labels: Record<string, string>): Promise<void> {
		const r = await this.kube("POST", "/api/v1/namespaces", {
			apiVersion: "v1",
			kind: "Namespace",
			metadata: { name, labels },
		});
		if (r.status >= 300) throw new Error(`create namespace ${name}: ${r.status} ${JSON.stringify(r.json)}`);
	}

	/** A pod in any namespace with these labels (and annotations), bound to `node`. */
	async addPodIn(
		namespace: string,
		name: string,
		node: string,
		labels: Record<string, string>,
		annotations?: Record<string, string>,
	): Promise<void> {
		const r = await this.kube("POST", `/api/v1/namespaces/${namespace}/pods`, {
			apiVersion: "v1",
			kind: "Pod",
			metadata: { name, namespace, labels, ...(annotations ? { annotations } : {}) },
			spec: { nodeName: node, containers: [{ name: "app", image: "registry.sim.local/pause:3.10" }] },
			status: { phase: "Pending" },
		});
		if (r.status >= 300)
			throw new Error(`create pod ${namespace}/${name}: ${r.status} ${JSON.stringify(r.json)}`);
	}

	/** Wait for a pod of any namespace to be Running with its IPs. */
	async podIn(namespace: string, name: string, timeoutMs = 30_000): Promise<PodView> {
		const end = Date.now() + timeoutMs;
		for (;;) {
			const r = await this.kube("GET", `/api/v1/namespaces/${namespace}/pods/${name}`);
			const p = r.json as
				| {
						metadata: { uid: string };
						spec: { nodeName: string };
						status?: { phase?: string; podIPs?: { ip: string }[] };
				  }
				| undefined;
			if (p?.status?.phase === "Running" && p.status.podIPs?.length) {
				const ips = p.status.podIPs.map((x) => x.ip);
				const v6 = ips.find((i) => i.includes(":"));
				return {
					name,
					node: p.spec.nodeName,
					uid: p.metadata.uid,
					netns: simNetns.pod(this.prefix, p.spec.nodeName, p.metadata.uid),
					ips,
					v4: ips.find((i) => !i.includes(":"))!,
					...(v6 ? { v6 } : {}),
				};
			}
			if (Date.now() > end)
				throw new Error(`pod ${namespace}/${name} not Running in ${timeoutMs} ms: ${JSON.stringify(r.json)}`);
			await Bun.sleep(100);
		}
	}

	nodeDir(node: string): string {
		return `/run/terway-sim/${this.prefix}/nodes/${node}`;
	}
	nodeNs(node: string): string {
		return simNetns.node(this.prefix, node);
	}
	primaryIp(node: string): string {
		return this.info.nodes.find((n) => n.name === node)!.primaryIp;
	}

	/** What pods leave in a node: cali links, rules and routes naming one of `podIps`. */
	nodeState(
		node: string,
		podIps: Set<string>,
	): { vethLinks: string[]; podRules: string[]; podRoutes: string[] } {
		const ns = this.nodeNs(node);
		const rules = [
			...ipJson<IpRule[]>(ns, ["-4", "rule", "show"]),
			...ipJson<IpRule[]>(ns, ["-6", "rule", "show"]),
		];
		const routes = [
			...ipJson<IpRoute[]>(ns, ["-4", "route", "show", "table", "all"]),
			...ipJson<IpRoute[]>(ns, ["-6", "route", "show", "table", "all"]),
		];
		return {
			vethLinks: ipJson<{ ifname: string }[]>(ns, ["link", "show"])
				.map((l) => l.ifname)
				.filter((n) => n.startsWith("cali")),
			podRules: rules
				// not terwayd's `512 from <ENI primary IP>` (ENI-level; that IP may also serve a pod)
				.filter((r) => !(r.priority === 512 && r.src))
				.filter((r) => podIps.has(r.src ?? "") || podIps.has(r.dst ?? ""))
				.map((r) => `${r.priority} from ${r.src} to ${r.dst ?? "all"} lookup ${r.table}`),
			podRoutes: routes
				.filter((r) => r.dev?.startsWith("cali") || podIps.has(r.dst))
				.map((r) => `${r.dst} dev ${r.dev} table ${r.table ?? "main"}`),
		};
	}

	async kube(method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
		const r = await fetch(`${this.info.host.apiserver}${path}`, {
			method,
			headers: { "content-type": "application/json" },
			...(body ? { body: JSON.stringify(body) } : {}),
		});
		return { status: r.status, json: await r.json().catch(() => undefined) };
	}

	/** A pod in default labelled app=<name>, bound to `node`. */
	async addPod(name: string, node: string, annotations: Record<string, string> = {}): Promise<void> {
		await this.addPodIn("default", name, node, { app: name }, annotations);
	}

	async deletePod(name: string): Promise<void> {
		await this.kube("DELETE", `/api/v1/namespaces/default/pods/${name}`);
	}

	/** Wait for a pod of default to be Running with its IPs. */
	async pod(name: string, timeoutMs = 30_000): Promise<PodView> {
		return this.podIn("default", name, timeoutMs);
	}

	async podGone(name: string, timeoutMs = 30_000): Promise<void> {
		const end = Date.now() + timeoutMs;
		while ((await this.kube("GET", `/api/v1/namespaces/default/pods/${name}`)).status !== 404) {
			if (Date.now() > end) throw new Error(`pod ${name} still there after ${timeoutMs} ms`);
			await Bun.sleep(100);
		}
	}

	/** GET a terwayd endpoint on that node. */
	async daemon<T>(node: string, path: string): Promise<T> {
		const r = await fetch(`http://terwayd${path}`, { unix: `${this.nodeDir(node)}/terwayd.sock` });
		return (await r.json()) as T;
	}

	/** The conflist the node's kubelet runs. */
	conflist(node: string): { name: string; cniVersion: string; plugins: Record<string, unknown>[] } {
		return JSON.parse(readFileSync(`${this.nodeDir(node)}/cni/net.d/10-terway.conflist`, "utf8"));
	}

	/** The kubelet's cached ADD result for a pod's sandbox (libcni cache). */
	cachedResult(node: string, containerId: string): unknown {
		const dir = `${this.nodeDir(node)}/cni/cache/results`;
		const f = readdirSync(dir).find((x) => x.includes(containerId) && x.endsWith("-eth0"));
		if (!f) throw new Error(`no cached result for ${containerId} in ${dir}`);
		return JSON.parse(readFileSync(join(dir, f), "utf8")).result;
	}

	/** The sandbox (container) id the kubelet used for this pod. */
	sandboxId(uid: string): string {
		return sandboxIdFor(uid);
	}

	/** Exec the node's `terway` exactly as a runtime does, inside the node namespace (setns). */
	plugin(
		node: string,
		cmd: "ADD" | "DEL" | "CHECK",
		o: { id: string; netns: string; pod: string; prevResult?: unknown },
	): { code: number; out: string; err: string } {
		const list = this.conflist(node);
		const conf = {
			...list.plugins[0],
			name: list.name,
			cniVersion: list.cniVersion,
			...(o.prevResult ? { prevResult: o.prevResult } : {}),
		};
		const dir = this.nodeDir(node);
		// entered by setns only, as the kubelet runs plugins: `ip netns exec` would also remount
		// /sys, hiding bpffs and the policy programs the plugin attaches
		using ns = Netns.open(this.nodeNs(node));
		const r = ns.run(() =>
			Bun.spawnSync(
				[
					"env",
					"-i",
					`PATH=${process.env.PATH}`,
					`CNI_COMMAND=${cmd}`,
					`CNI_CONTAINERID=${o.id}`,
					`CNI_NETNS=${o.netns}`,
					"CNI_IFNAME=eth0",
					`CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=${o.pod};K8S_POD_INFRA_CONTAINER_ID=${o.id}`,
					`CNI_PATH=${dir}/cni/bin:/usr/lib/cni`,
					`${dir}/cni/bin/terway`,
				],
				{ stdin: new TextEncoder().encode(JSON.stringify(conf)), stdout: "pipe", stderr: "pipe" },
			),
		);
		return { code: r.exitCode ?? -1, out: r.stdout.toString(), err: r.stderr.toString() };
	}
}

/** ping from a namespace (v4 or v6 by the address); true when all replies came back. */
export function pingFrom(ns: string, addr: string, count = 2): boolean {
	return ping(ns, addr, count);
}
