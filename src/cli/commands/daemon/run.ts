/**
 * `terwayctl daemon`: reads and validates the config (refusing to start with a message naming a
 * bad key or value), wires the cloud clients, the store, the links, Kubernetes (when a kubeconfig
 * or in-cluster config exists; standalone otherwise), starts terwayd and serves the local API.
 * SIGTERM/SIGINT drain in-flight requests and exit 0. Logs are NDJSON on stderr.
 */
import { mkdirSync, readFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { createCloud } from "../../../cloud/index.ts";
import { isEniConfigError, parseDaemonConfig } from "../../../core/config/eni-config.ts";
import type { EniConfig } from "../../../core/config/types.ts";
import { cloudBackoffs } from "../../../daemon/backoffs.ts";
import { Daemon } from "../../../daemon/daemon.ts";
import { ClusterConfigError, clusterConfig, type KubeHooks, NodeAgentHooks } from "../../../daemon/kube.ts";
import { type EniLinks, NetlinkEniLinks, NoEniLinks } from "../../../daemon/links.ts";
import { createLogger, type LogLevel } from "../../../daemon/log.ts";
import { DEFAULT_RELEASE_JOURNAL } from "../../../daemon/pending-releases.ts";
import {
	clearPinnedPolicy,
	openPolicyAgent,
	PolicyAgent,
	PolicyOff,
	type PolicyPort,
} from "../../../daemon/policy-agent.ts";
import { serveUnix } from "../../../daemon/server.ts";
import { lockStateDir, StateDirLockedError, type StateLock } from "../../../daemon/state-lock.ts";
import { Store } from "../../../daemon/store/index.ts";
import { KubeClient, loadKubeConfig, NodeAgent } from "../../../k8s/index.ts";
import { ExitError } from "../../errors.ts";
import { VERSION } from "../../meta.ts";

export type DaemonCliOptions = {
	config?: string;
	kubeconfig?: string;
	socket?: string;
	stateDir?: string;
	node?: string;
	datapathLinks?: boolean;
	logLevel?: LogLevel;
};

function readConfigFile(path: string): unknown {
	let text: string;
	try {
		text = readFileSync(path, "utf8");
	} catch (e) {
		throw new ExitError(`cannot read config ${path}: ${(e as Error).message}`, 2);
	}
	try {
		if (/\.ya?ml$/i.test(path)) return Bun.YAML.parse(text);
		return JSON.parse(text);
	} catch (e) {
		throw new ExitError(
			`config ${path} is not valid ${/\.ya?ml$/i.test(path) ? "YAML" : "JSON"}: ${(e as Error).message}`,
			2,
		);
	}
}

function configError(e: unknown, where: string): never {
	if (isEniConfigError(e)) {
		const lines = e.issues.map((i) => `${i.path}: ${i.message}`);
		throw new ExitError(`invalid config (${where}): ${lines.join("; ")}`, 2);
	}
	throw e;
}

/**
 * terwayd's bpffs root (policy and datapathv2): the config file's `bpf_pin_root` when it has one, else
 * $TERWAY_BPF_PIN_ROOT (the sim's node environment sets a per-node root, bpffs being
 * machine-wide), else the default.
 */
function policyPinRoot(raw: unknown, fromConfig: string): string {
	if ((raw as Record<string, unknown> | undefined)?.bpf_pin_root !== undefined) return fromConfig;
	const env = process.env.TERWAY_BPF_PIN_ROOT;
	if (!env) return fromConfig;
	if (!env.startsWith("/"))
		throw new ExitError(`TERWAY_BPF_PIN_ROOT=${JSON.stringify(env)} is not an absolute path`, 2);
	return env;
}

export async function runDaemon(opts: DaemonCliOptions): Promise<void> {
	const raw = opts.config ? readConfigFile(opts.config) : { eni_conf: {} };
	let parsed: ReturnType<typeof parseDaemonConfig>;
	try {
		parsed = parseDaemonConfig(raw);
	} catch (e) {
		configError(e, opts.config ?? "defaults");
	}
	const cfg = parsed.config;
	const log = createLogger({ level: opts.logLevel ?? "info", bindings: { name: "terwayd" } });
	for (const w of parsed.warnings) log.warn({}, w);
	const nodeName = opts.node ?? cfg.nodeName ?? process.env.NODE_NAME ?? hostname();
	const socket = opts.socket ?? cfg.socket;
	const stateDir = opts.stateDir ?? cfg.stateDir;
	const kubeconfig = opts.kubeconfig ?? cfg.kubeconfig ?? process.env.KUBECONFIG;
	// one bpffs root for everything terwayd pins (policy maps and programs, datapathv2 programs)
	const bpfPinRoot = policyPinRoot(raw, cfg.bpfPinRoot);

	// one terwayd per state dir, taken before anything touches the cluster, the cloud or the store
	mkdirSync(stateDir, { recursive: true, mode: 0o700 });
	let lock: StateLock;
	try {
		lock = lockStateDir(stateDir, (m) => log.warn({}, m));
	} catch (e) {
		if (e instanceof StateDirLockedError) throw new ExitError(`refusing to start: ${e.message}`);
		throw e;
	}
	process.on("exit", () => lock.release());

	// Kubernetes (optional): eni-config ConfigMap as the base, the file's eni_conf over it, then the node overlay.
	let eniConf: EniConfig = cfg.eniConf;
	let hooks: NodeAgentHooks | undefined;
	let exclusive = false;
	let policy: PolicyPort = new PolicyOff("standalone: no Kubernetes API to read NetworkPolicies from");
	const loaded = loadKubeConfig(kubeconfig ? { kubeconfig } : {});
	if (loaded) {
		const kube = new KubeClient(loaded);
		const agent = new NodeAgent(kube, { nodeName, namespace: cfg.configMap.namespace });
		let cc: Awaited<ReturnType<typeof clusterConfig>>;
		try {
			cc = await clusterConfig(agent, { namespace: cfg.configMap.namespace, fileEniConf: cfg.eniConfRaw });
		} catch (e) {
			if (e instanceof ClusterConfigError) {
				if (isEniConfigError(e.cause)) configError(e.cause, e.where);
				throw new ExitError(e.message, 2);
			}
			throw new ExitError(
				`cannot read the cluster's config (eni-config, node ${nodeName}): ${(e as Error).message}`,
			);
		}
		eniConf = cc.eniConf;
		exclusive = cc.exclusive;
		const cm = `${cfg.configMap.namespace}/${cfg.configMap.name}`;
		policy = cc.networkPolicy
			? openPolicyAgent({
					kube,
					events: agent.events,
					nodeName,
					nodeIps: () => daemon.nodeIps(),
					pinRoot: bpfPinRoot,
					log,
					idsFile: join(stateDir, "policy-ids.json"),
				})
			: new PolicyOff(`ConfigMap ${cm} sets disable_network_policy: "true"`);
		if (policy instanceof PolicyOff && !cc.networkPolicy) {
			// maps of an earlier run would keep enforcing on its pods' veths: empty them
			try {
				const n = clearPinnedPolicy(bpfPinRoot);
				if (n > 0)
					log.info({ pinRoot: bpfPinRoot, entries: n }, "NetworkPolicy off: emptied the pinned maps");
			} catch (e) {
				log.warn({ err: e, pinRoot: bpfPinRoot }, "NetworkPolicy off: could not empty the pinned maps");
			}
		}
		for (const w of cc.warnings) log.warn({}, w);
		hooks = new NodeAgentHooks(agent, log, { patchPodIps: eniConf.enablePatchPodIps });
		await hooks.start();
		log.info(
			{ server: kube.server, exclusive, ...(cc.overlay ? { overlay: cc.overlay } : {}) },
			"connected to Kubernetes",
		);
	} else {
		log.info({}, "no kubeconfig and not in a cluster: standalone");
	}

	const bo = cloudBackoffs(eniConf.backoffOverride);
	for (const w of bo.warnings) log.warn({}, w);
	const cloud = await createCloud({
		...(eniConf.regionId || cfg.region ? { regionId: eniConf.regionId ?? cfg.region } : {}),
		// Terway's order: access_key/access_secret from the config, then env, then the file, then the RAM role
		credentials: {
			...(eniConf.accessKey && eniConf.accessSecret
				? { accessKeyId: eniConf.accessKey, accessKeySecret: eniConf.accessSecret }
				: {}),
			...(eniConf.credentialPath ? { credentialPath: eniConf.credentialPath } : {}),
		},
		ecs: { rateLimits: eniConf.rateLimit, backoffs: bo.backoffs },
	});
	// datapathv2: terwayd probes the kernel once and pins the redirect programs (or logs why not)
	const v2 = eniConf.datapath === "datapathv2" && !exclusive;
	const links: EniLinks =
		opts.datapathLinks === false
			? new NoEniLinks()
			: new NetlinkEniLinks(
					v2
						? {
								datapathv2: { pinRoot: bpfPinRoot, skipCidrs: eniConf.serviceCidrs },
								onV2Fallback: (reason) => log.warn({}, reason),
							}
						: {},
				);
	const store = Store.open(join(stateDir, "state.db"));
	if (policy instanceof PolicyOff) log.info({ reason: policy.reason }, "NetworkPolicy enforcement off");
	else log.info({ pinRoot: policy.pinRoot }, "NetworkPolicy programs loaded and pinned");
	const daemon = new Daemon({
		store,
		ecs: cloud.ecs,
		metadata: cloud.metadata,
		links,
		log,
		eniConf,
		nodeName,
		instance: {
			...(cfg.instanceId ? { instanceId: cfg.instanceId } : {}),
			...(cfg.instanceType ? { instanceType: cfg.instanceType } : {}),
			...(cfg.zone ? { zoneId: cfg.zone } : {}),
		},
		exclusive,
		...(hooks ? { kube: hooks as KubeHooks } : {}),
		policy,
		version: VERSION,
		// the CNI plugin's DEL journal (src/plugin/release-journal.ts uses the same default and env)
		releaseJournal: process.env.TERWAY_RELEASE_JOURNAL || DEFAULT_RELEASE_JOURNAL,
	});

	let server: ReturnType<typeof serveUnix> | undefined;
	let stopping: Promise<void> | undefined;
	// SIGTERM/SIGINT: refuse new mutations, let in-flight requests finish, stop and settle the
	// pool (nothing touches the store after daemon.stop()), then close the socket and the store.
	const stop = (sig: string): Promise<void> => {
		stopping ??= (async () => {
			log.info({ signal: sig }, "draining");
			try {
				await daemon.stop();
			} catch (e) {
				log.error({ err: e }, "shutdown failed");
			}
			server?.stop(true);
			store.close();
			lock.release();
			log.info({}, "stopped");
		})();
		return stopping;
	};
	const done = new Promise<void>((resolve) => {
		process.on("SIGTERM", () => void stop("SIGTERM").then(resolve));
		process.on("SIGINT", () => void stop("SIGINT").then(resolve));
	});
	try {
		await daemon.start();
	} catch (e) {
		if (stopping) {
			// a signal during startup aborted it: that is a clean stop, not a failure
			await done;
			return;
		}
		log.error({ err: e }, "startup failed");
		await daemon.stop(0);
		store.close();
		lock.release();
		throw new ExitError(`terwayd failed to start: ${(e as Error).message}`);
	}
	if (policy instanceof PolicyAgent && !stopping) {
		// the maps keep what they held meanwhile (pinned); wait a bounded time for the first write
		const first = policy.start().then(
			() => log.info({}, "NetworkPolicy maps in sync"),
			(e) => log.error({ err: e }, "policy agent failed to start"),
		);
		await Promise.race([first, Bun.sleep(10_000)]);
	}
	if (!stopping) {
		server = serveUnix(daemon, socket, log);
		void daemon.warmUp().then(
			() => {
				if (!stopping) log.info({ pool: daemon.summary() }, "ready");
			},
			(e) => {
				if (!stopping) log.error({ err: e }, "warm-up failed");
			},
		);
	}
	await done;
}
