/**
 * `terwayctl sim serve`: one process, one world. It composes the parts written against
 * contracts.ts — the world model, the ECS/VPC OpenAPI, the metadata service, the fake
 * kube-apiserver, the VPC datapath (netns mode), a kubelet stand-in per node — plus the control
 * API, and writes the files `sim` subcommands and nodes use (layout.ts).
 *
 * Netns mode: the faces listen inside the VPC namespace at NETNS_ENDPOINTS (what nodes use) and
 * on 127.0.0.1 (what the host's tools use); metadata tells nodes apart by source address.
 * Loopback mode: everything on 127.0.0.1; one metadata listener per node.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { deleteNetns, listNetns, Netns } from "../linux/netns.ts";
import { type KubeObject, NETNS_ENDPOINTS, type Scenario, simPinRoot } from "./contracts.ts";
import type { SimPod, SimStatus } from "./control/client.ts";
import { serveControl } from "./control/server.ts";
import { FaultEngine } from "./faults.ts";
import { KubeApiServer, type Listener, writeKubeconfig } from "./kube/index.ts";
import { Kubelet } from "./kubelet/kubelet.ts";
import { type WorldInfo, type WorldMode, worldPaths } from "./layout.ts";
import { createMetadataHandler, identifyAs, identifyBySourceIp } from "./metadata/index.ts";
import { serveIn, VpcDatapath } from "./netns/index.ts";
import {
	findPlugin,
	installTerwayBin,
	type SimCni,
	TERWAY_CONFLIST,
	Terwayd,
	terwayConflist,
	terwaydPaths,
} from "./node-cni.ts";
import { createOpenApiHandler } from "./openapi/index.ts";
import { RequestLog } from "./request-log.ts";
import { defaultScenario, loadScenarioFile } from "./world/scenario.ts";
import { createWorld, loadWorld, type World } from "./world/world.ts";

export type RunWorldOptions = {
	prefix: string;
	mode: WorldMode;
	nodes?: number;
	scenarioFile?: string;
	/** A world snapshot (`sim snapshot`) to restore instead of seeding from a scenario. */
	stateFile?: string;
	/** Directories searched for CNI plugins (CNI_PATH). */
	cniPath?: string[];
	/** Root of world directories (tests use a temp dir). */
	runDir?: string;
	/**
	 * The nodes' pod network (netns mode): Debian's `ptp` (default) or Terway, i.e. a
	 * `10-terway.conflist`, a CNI bin dir with `terway`, and a terwayd per node (node-cni.ts).
	 */
	cni?: SimCni;
	/** How to start terwayctl again (`[binary]` or `[bun, entry.ts]`); needed for `cni: "terway"`. */
	self?: string[];
};

/** How long `sim up` waits for every node's terwayd to be ready. */
const TERWAYD_READY_MS = 60_000;

/** eni_conf of the scenario's kube-system/eni-config ConfigMap (what terwayd reads). */
function scenarioEniConf(scenario: Scenario): unknown {
	const cm = scenario.kubernetes.objects.find(
		(o) =>
			o.kind === "ConfigMap" && o.metadata.name === "eni-config" && o.metadata.namespace === "kube-system",
	);
	const text = (cm?.data as Record<string, string> | undefined)?.eni_conf;
	if (!text)
		throw new Error("--cni terway: the scenario has no kube-system/eni-config ConfigMap with eni_conf");
	return JSON.parse(text);
}

type Stoppable = { stop(closeActive?: boolean): unknown };

/** Debian's reference plugins, used by the kubelet stand-in until a node has Terway's conflist. */
const DEFAULT_CNI_PATH = ["/opt/cni/bin", "/usr/lib/cni"];

/** The pod network a node gets by default: the reference ptp plugin with a per-node range. */
export function defaultConflist(nodeIndex: number): string {
	return JSON.stringify(
		{
			cniVersion: "1.0.0",
			name: "sim-ptp",
			plugins: [
				{
					type: "ptp",
					ipMasq: false,
					ipam: {
						type: "host-local",
						ranges: [[{ subnet: `198.19.${nodeIndex}.0/24` }]],
						routes: [{ dst: "0.0.0.0/0" }],
					},
				},
			],
		},
		null,
		2,
	);
}

/** The Kubernetes Node object of an instance, as the cloud controller manager would make it. */
function nodeObject(world: World, instanceId: string, labels: Record<string, string>): KubeObject {
	const i = world.instance(instanceId)!;
	return {
		apiVersion: "v1",
		kind: "Node",
		metadata: {
			name: i.nodeName,
			labels: {
				...labels,
				"kubernetes.io/hostname": i.nodeName,
				"kubernetes.io/os": "linux",
				"topology.kubernetes.io/region": i.regionId,
				"topology.kubernetes.io/zone": i.zoneId,
				"node.kubernetes.io/instance-type": i.instanceType,
			},
		},
		spec: { providerID: `${i.regionId}.${i.instanceId}` },
		status: {
			addresses: [
				{ type: "InternalIP", address: i.primaryEni.primaryIp },
				{ type: "Hostname", address: i.hostname },
			],
			conditions: [
				{ type: "Ready", status: "True", reason: "KubeletReady", message: "sim kubelet is ready" },
			],
			nodeInfo: {
				kubeletVersion: "v1.32.0-sim",
				osImage: "terwayctl sim",
				kernelVersion: "",
				architecture: "amd64",
			},
			allocatable: { pods: "110", cpu: "2", memory: "8Gi" },
		},
	};
}

/**
 * Bring a world up and serve it until shutdown (control API or SIGTERM/SIGINT). Resolves after
 * everything it made is removed.
 */
export async function runWorld(opts: RunWorldOptions): Promise<void> {
	const paths = worldPaths(opts.prefix, opts.runDir);
	mkdirSync(paths.dir, { recursive: true, mode: 0o700 });
	writeFileSync(`${paths.dir}/pid`, String(process.pid));
	const progress: string[] = [];
	let phase: SimStatus["phase"] = "starting";
	const say = (line: string) => {
		progress.push(line);
		console.log(`[${new Date().toISOString()}] ${line}`);
	};

	const faults = new FaultEngine(1);
	const log = new RequestLog(10_000, paths.requests);
	let world: World;
	if (opts.stateFile) {
		world = loadWorld(JSON.parse(readFileSync(opts.stateFile, "utf8")), { faults, log });
		say(
			`restored world from ${opts.stateFile}: ${world.instances().length} nodes, ${world.enis().length} ENIs`,
		);
	} else {
		const seed = opts.scenarioFile ? await loadScenarioFile(opts.scenarioFile) : defaultScenario();
		if (opts.nodes !== undefined) seed.nodes.count = opts.nodes;
		world = createWorld(seed, { faults, log });
		say(`scenario ${seed.name}: ${seed.nodes.count} nodes of ${seed.nodes.instanceType} in ${seed.region}`);
	}
	const scenario: Scenario = world.scenario;

	const cni: SimCni = opts.cni ?? "ptp";
	if (cni === "terway" && opts.mode !== "netns")
		throw new Error("--cni terway needs netns mode (the plugin wires pods in node namespaces)");
	if (cni === "terway" && !opts.self?.length) throw new Error("--cni terway: runWorld needs opts.self");
	const servers: Stoppable[] = [];
	const kubelets: Kubelet[] = [];
	const daemons: Terwayd[] = [];
	/** The terwayds' bpffs pin roots (bpffs is machine-wide): removed exactly at shutdown. */
	const pinDirs: string[] = [];
	let datapath: VpcDatapath | undefined;
	let stopping: Promise<void> | undefined;
	let done: () => void = () => {};
	const finished = new Promise<void>((r) => {
		done = r;
	});

	const kube = new KubeApiServer({ faults, log, objects: scenario.kubernetes.objects });
	const openapi = createOpenApiHandler(world, { faults, log });
	const shutdown = (): Promise<void> => {
		stopping ??= (async () => {
			phase = "stopping";
			say("stopping");
			for (const k of kubelets) await k.stop().catch(() => undefined);
			// terwayd drains (SIGTERM), or is killed after 10 s; before the cloud goes away.
			await Promise.all(
				daemons.map(async (d) => say(`terwayd ${d.node} ${await d.stop().catch(() => "stop failed")}`)),
			);
			openapi.close();
			for (const s of servers) await s.stop(true);
			await kube.close();
			world.close();
			// Pod namespaces the kubelet made, then the VPC and nodes: exactly this world's names.
			const mine = listNetns().filter((n) => n.startsWith(`${opts.prefix}-`));
			datapath?.destroy();
			for (const n of mine) deleteNetns(n);
			// after the namespaces: the pinned links of their veths are defunct by now
			for (const d of pinDirs) rmSync(d, { recursive: true, force: true });
			rmSync(paths.control, { force: true });
			say("stopped");
			done();
		})();
		return stopping;
	};
	process.once("SIGTERM", () => void shutdown());
	process.once("SIGINT", () => void shutdown());

	const pods = async (): Promise<SimPod[]> =>
		kube.store.list({ apiVersion: "v1", resource: "pods" }).items.map((p) => {
			const st = (p.status ?? {}) as { phase?: string; podIP?: string };
			return {
				namespace: p.metadata.namespace ?? "default",
				name: p.metadata.name,
				node: String((p.spec as { nodeName?: string } | undefined)?.nodeName ?? ""),
				phase: st.phase ?? "Pending",
				...(st.podIP ? { podIP: st.podIP } : {}),
			};
		});

	serveControl(paths.control, {
		faults,
		log,
		status: async () => {
			const all = await pods();
			const enis = world.enis();
			return {
				prefix: opts.prefix,
				mode: opts.mode,
				phase,
				progress,
				nodes: world.instances().map((i) => {
					const mine = enis.filter((e) => e.instanceId === i.instanceId);
					return {
						name: i.nodeName,
						instanceId: i.instanceId,
						enis: mine.length,
						ips: mine.reduce((n, e) => n + e.ips.length + e.ipv6s.length, 0),
						pods: all.filter((p) => p.node === i.nodeName).length,
					};
				}),
				pods: all.length,
				faults: faults.list().length,
				requests: log.lastSeq,
			};
		},
		pods,
		addPod: async (p) => {
			const nodes = world.instances().map((i) => i.nodeName);
			if (p.node && !nodes.includes(p.node))
				throw new Error(`pod.node: no node ${JSON.stringify(p.node)} (nodes: ${nodes.join(", ")})`);
			const all = await pods();
			// the scheduler stand-in: the node with the fewest pods
			const node =
				p.node ??
				[...nodes].sort(
					(a, b) => all.filter((x) => x.node === a).length - all.filter((x) => x.node === b).length,
				)[0]!;
			kube.store.create(
				{ apiVersion: "v1", resource: "pods", namespace: p.namespace },
				{
					apiVersion: "v1",
					kind: "Pod",
					metadata: { name: p.name, namespace: p.namespace, labels: p.labels ?? { app: p.name } },
					spec: { nodeName: node, containers: [{ name: "app", image: "registry.sim.local/pause:3.10" }] },
					status: { phase: "Pending" },
				},
			);
			return { namespace: p.namespace, name: p.name, node, phase: "Pending" };
		},
		deletePod: async (ns, name) => {
			const ref = { apiVersion: "v1", resource: "pods", namespace: ns, name };
			if (!kube.store.tryGet(ref)) return false;
			kube.store.delete(ref, { gracePeriodSeconds: 30 });
			return true;
		},
		snapshot: () => world.snapshot(),
		shutdown: () => void shutdown(),
	});

	try {
		// Host-side listeners: the host's tools, and the kubelets in this process.
		const hostApi = Bun.serve({
			hostname: "127.0.0.1",
			port: 0,
			fetch: (req, srv) => openapi(req, { peer: srv.requestIP(req)?.address ?? "" }),
		});
		servers.push(hostApi);
		const kubeHttp: Listener = kube.listen({ hostname: "127.0.0.1" });
		const kubeTls = kube.listenTls({ hostname: "127.0.0.1" });
		kube.writeKubeconfig(paths.kubeconfig, kubeTls);
		say(`apiserver on ${kubeTls.url} (kubeconfig ${paths.kubeconfig}), OpenAPI on 127.0.0.1:${hostApi.port}`);

		const info: WorldInfo = {
			prefix: opts.prefix,
			mode: opts.mode,
			pid: process.pid,
			scenario: opts.stateFile ? `snapshot ${opts.stateFile}` : (opts.scenarioFile ?? "embedded default"),
			startedAt: new Date().toISOString(),
			endpoints: { openapi: "", apiserver: "", metadata: "" },
			host: { openapi: `127.0.0.1:${hostApi.port}`, apiserver: kubeHttp.url, apiserverTls: kubeTls.url },
			nodes: [],
			namespaces: [],
		};

		const metaLoopback = new Map<string, string>();
		if (opts.mode === "netns") {
			const vsws = world.vswitches();
			datapath = VpcDatapath.create(opts.prefix, {
				vpcCidr: scenario.vpc.cidr,
				...(scenario.vpc.ipv6Cidr ? { ipv6Cidr: scenario.vpc.ipv6Cidr } : {}),
				vswitches: vsws.map((v) => ({
					cidr: v.cidr,
					gateway: v.gateway,
					...(v.ipv6Cidr ? { ipv6Cidr: v.ipv6Cidr } : {}),
					...(v.ipv6Gateway ? { ipv6Gateway: v.ipv6Gateway } : {}),
				})),
			});
			say(`VPC ${scenario.vpc.id} ${scenario.vpc.cidr}: router namespace ${opts.prefix}-vpc`);
			const dp = datapath;
			world.on(async (e) => {
				await dp.handle(e);
				if (e.type === "instance.up")
					say(
						`${e.instance.nodeName} up: ${e.instance.instanceId} ${e.instance.primaryEni.primaryIp} (netns ${dp.nodeNetnsName(e.instance.nodeName)})`,
					);
			});
			await world.settled();
			const vpc = dp.vpcNetns;
			const metadata = createMetadataHandler({ source: world, identify: identifyBySourceIp, faults, log });
			servers.push(
				serveIn(vpc, {
					hostname: NETNS_ENDPOINTS.metadata,
					port: 80,
					fetch: (req, srv) => metadata(req, srv.requestIP(req) ?? { address: "" }),
				}),
				serveIn(vpc, {
					hostname: NETNS_ENDPOINTS.openapi,
					port: 80,
					fetch: (req, srv) => openapi(req, { peer: srv.requestIP(req)?.address ?? "" }),
				}),
			);
			vpc.run(() => kube.listen({ hostname: NETNS_ENDPOINTS.apiserver, port: 8080 }));
			info.endpoints = {
				openapi: `${NETNS_ENDPOINTS.openapi}:80`,
				apiserver: `http://${NETNS_ENDPOINTS.apiserver}:8080`,
				metadata: `http://${NETNS_ENDPOINTS.metadata}`,
			};
			info.namespaces = [`${opts.prefix}-vpc`, ...dp.nodes().map((n) => n.netns)];
			say(
				`metadata ${NETNS_ENDPOINTS.metadata}, OpenAPI ${NETNS_ENDPOINTS.openapi}, apiserver ${NETNS_ENDPOINTS.apiserver} inside the VPC`,
			);
		} else {
			for (const i of world.instances()) {
				const metadata = createMetadataHandler({
					source: world,
					identify: identifyAs(i.instanceId),
					faults,
					log,
				});
				const srv = Bun.serve({
					hostname: "127.0.0.1",
					port: 0,
					fetch: (req, s) => metadata(req, s.requestIP(req) ?? { address: "" }),
				});
				servers.push(srv);
				metaLoopback.set(i.instanceId, `http://127.0.0.1:${srv.port}`);
				say(`${i.nodeName} up: ${i.instanceId} ${i.primaryEni.primaryIp} (metadata 127.0.0.1:${srv.port})`);
			}
			info.endpoints = {
				openapi: info.host.openapi,
				apiserver: kubeHttp.url,
				metadata: "http://127.0.0.1 (one port per node)",
			};
		}

		const ak = scenario.accessKeys[0]!;
		for (const [n, i] of world.instances().entries()) {
			kube.store.upsert(nodeObject(world, i.instanceId, scenario.nodes.labels ?? {}));
			const np = paths.node(i.nodeName);
			mkdirSync(np.cniConfDir, { recursive: true });
			mkdirSync(np.cniCacheDir, { recursive: true });
			const netns = datapath?.nodeNetnsName(i.nodeName);
			let cniPath = opts.cniPath ?? DEFAULT_CNI_PATH;
			if (cni === "terway") {
				const tp = terwaydPaths(np.dir);
				mkdirSync(tp.binDir, { recursive: true });
				installTerwayBin(tp.binDir, opts.self!);
				cniPath = [tp.binDir, ...cniPath];
				writeFileSync(
					`${np.cniConfDir}/${TERWAY_CONFLIST}`,
					terwayConflist({
						socket: tp.socket,
						portmap: findPlugin("portmap", cniPath) !== undefined,
						logFile: tp.cniLog,
					}),
				);
			} else writeFileSync(`${np.cniConfDir}/10-sim-ptp.conflist`, defaultConflist(n + 1));
			const metadataUrl = metaLoopback.get(i.instanceId) ?? info.endpoints.metadata;
			const nodeKubeconfig = `${np.dir}/kubeconfig`;
			// bpffs is machine-wide: any terwayd of this node (ours, or one started by `sim exec`)
			// pins under the node's own root, which shutdown / `sim down` remove exactly
			const bpfPinRoot = simPinRoot(opts.prefix, i.nodeName);
			pinDirs.push(bpfPinRoot);
			info.pinDirs = [...pinDirs];
			// nodes reach the apiserver over plain HTTP (client-node under Bun ignores TLS options, cloud-sim §4.3)
			writeKubeconfig(nodeKubeconfig, { server: info.endpoints.apiserver, insecureSkipTlsVerify: true });
			writeFileSync(
				np.env,
				[
					`NODE_NAME=${i.nodeName}`,
					`INSTANCE_ID=${i.instanceId}`,
					`REGION_ID=${i.regionId}`,
					`ECS_ENDPOINT=${info.endpoints.openapi}`,
					`VPC_ENDPOINT=${info.endpoints.openapi}`,
					"ALICLOUD_CLIENT_SCHEME=HTTP",
					`ALIBABA_CLOUD_ACCESS_KEY_ID=${ak.id}`,
					`ALIBABA_CLOUD_ACCESS_KEY_SECRET=${ak.secret}`,
					`TERWAY_METADATA_URL=${metadataUrl}`,
					`KUBECONFIG=${nodeKubeconfig}`,
					`CNI_CONF_DIR=${np.cniConfDir}`,
					`TERWAY_BPF_PIN_ROOT=${bpfPinRoot}`,
					// so `terwayctl sim exec NODE -- terwayctl status|mapping|diagnose|policy dump` finds this node's
					`TERWAY_DAEMON_SOCKET=${np.dir}/terwayd.sock`,
					`TERWAY_BPF_PIN_ROOT=/sys/fs/bpf/${opts.prefix}-${i.nodeName}`,
					"",
				].join("\n"),
			);
			info.nodes.push({
				name: i.nodeName,
				instanceId: i.instanceId,
				primaryIp: i.primaryEni.primaryIp,
				...(netns ? { netns } : {}),
				...(metaLoopback.has(i.instanceId) ? { metadata: metaLoopback.get(i.instanceId) } : {}),
			});
			const kubelet = new Kubelet({
				nodeName: i.nodeName,
				prefix: opts.prefix,
				mode: opts.mode,
				kube: { server: kubeHttp.url },
				hostIP: i.primaryEni.primaryIp,
				confDir: np.cniConfDir,
				cacheDir: np.cniCacheDir,
				cniPath,
				...(netns ? { nodeNetns: Netns.open(netns) } : {}),
				onLog: (e) =>
					log.record({ face: "control", what: `kubelet ${e.node}: ${e.msg}`, detail: { level: e.level } }),
			});
			if (cni === "terway") {
				const nodeNs = netns ? Netns.open(netns) : undefined;
				let d: Terwayd;
				try {
					d = Terwayd.start({
						bpfPinRoot,
						node: i.nodeName,
						nodeDir: np.dir,
						self: opts.self!,
						...(nodeNs ? { netns: nodeNs } : {}),
						envFile: np.env,
						eniConf: scenarioEniConf(scenario),
					});
				} finally {
					nodeNs?.close();
				}
				daemons.push(d);
				say(`terwayd ${i.nodeName} starting (pid ${d.pid}, socket ${d.paths.socket})`);
			}
			await kubelet.start();
			kubelets.push(kubelet);
			say(`kubelet ${i.nodeName} watching its pods`);
		}
		await Promise.all(
			daemons.map(async (d) => {
				const st = await d.waitReady(TERWAYD_READY_MS);
				say(
					`terwayd ${d.node} ready: pool idle ${st.pool?.idle ?? "?"} (min ${st.pool?.min ?? "?"}, max ${st.pool?.max ?? "?"})`,
				);
			}),
		);
		writeFileSync(paths.info, JSON.stringify(info, null, 2));
		phase = "ready";
		say(`world ${opts.prefix} ready`);
	} catch (e) {
		say(`failed: ${(e as Error).message}`);
		await shutdown();
		throw e;
	}
	await finished;
}
