/**
 * @module daemon/kube
 *
 * The daemon's Kubernetes hooks over `k8s/NodeAgent`: the pod watch on this node (a deleted pod
 * releases its IP without any CNI DEL), the `k8s.aliyun.com/pod-ips` annotation on alloc, the
 * node's `SufficientIP` condition and `max-available-ip` annotation, and Warning events for
 * failed allocations. Every write is best effort and never blocks or fails an API request; the
 * informer survives 410 Gone (relist) and apiserver restarts (backoff reconnect).
 */
import { mergePatch, resolveEniConf } from "../core/config/eni-config.ts";
import type { EniConfig, JsonObject } from "../core/config/types.ts";
import {
	ANNOTATION_MAX_AVAILABLE_IP,
	ConfigMapMissingError,
	ENI_CONFIG_NAME,
	EventReason,
	type Informer,
	isNotFound,
	type NodeAgent,
	type PodObject,
	podRef,
} from "../k8s/index.ts";
import type { PodRef } from "./api-types.ts";
import type { Daemon } from "./daemon.ts";
import type { Logger } from "./log.ts";

export interface KubeHooks {
	state(): "connected" | "disconnected";
	synced(): boolean;
	podExists(namespace: string, name: string, uid?: string): boolean;
	bandwidthOf(
		namespace: string,
		name: string,
	):
		| { ingressBps?: number; egressBps?: number }
		| undefined
		| Promise<{ ingressBps?: number; egressBps?: number } | undefined>;
	podAllocated(pod: PodRef, ips: string[]): void;
	allocFailed(pod: PodRef, message: string): void;
	setSufficientIp(sufficient: boolean, message: string): void;
	onStart?(d: Daemon): void;
	stop(): Promise<void>;
}

/** `10M`, `1G`, `500k` → bits per second (Kubernetes bandwidth annotations). */
export function parseBandwidth(v: string | undefined): number | undefined {
	if (!v) return undefined;
	const m = /^(\d+(?:\.\d+)?)([kKMGT]?)$/.exec(v.trim());
	if (!m) return undefined;
	const mult: Record<string, number> = { "": 1, k: 1e3, K: 1e3, M: 1e6, G: 1e9, T: 1e12 };
	return Math.round(Number(m[1]) * (mult[m[2] ?? ""] ?? 1));
}

/** Node label selecting exclusive ENI mode (Terway: `k8s.aliyun.com/exclusive-mode-eni-type: eniOnly`). */
export const LABEL_EXCLUSIVE = "k8s.aliyun.com/exclusive-mode-eni-type";

/** The cluster's config could not be used; `where` names the source, `cause` is the reason. */
export class ClusterConfigError extends Error {
	override readonly name = "ClusterConfigError";
	constructor(
		message: string,
		readonly where: string,
		opts: { cause?: unknown } = {},
	) {
		super(message, opts);
	}
}

export type ClusterConfig = {
	eniConf: EniConfig;
	/** The node is labelled for exclusive ENI mode. */
	exclusive: boolean;
	/** The node's dynamic-config ConfigMap (node label `terway-config`), when it has one. */
	overlay?: string;
	/** NetworkPolicy enforcement: on unless the eni-config ConfigMap says `disable_network_policy: "true"`. */
	networkPolicy: boolean;
	warnings: string[];
};

/** The eni-config ConfigMap key that turns NetworkPolicy enforcement off (Terway's). */
export const DISABLE_NETWORK_POLICY = "disable_network_policy";

/**
 * Whether NetworkPolicy is enforced, from the eni-config ConfigMap's `disable_network_policy`
 * ("true" / "false", any case; absent = enforced, also when the ConfigMap is missing). Another
 * value is a {@link ClusterConfigError} naming the key and value.
 */
export async function networkPolicyEnabled(agent: NodeAgent, namespace: string): Promise<boolean> {
	const where = `ConfigMap ${namespace}/${ENI_CONFIG_NAME}`;
	let v: string | undefined;
	try {
		const cm = await agent.kube.core.readNamespacedConfigMap({ name: ENI_CONFIG_NAME, namespace });
		v = cm.data?.[DISABLE_NETWORK_POLICY];
	} catch (e) {
		if (isNotFound(e)) return true;
		throw e;
	}
	if (v === undefined || v.trim() === "") return true;
	const b = v.trim().toLowerCase();
	if (b === "true") return false;
	if (b === "false") return true;
	throw new ClusterConfigError(
		`${where}: ${DISABLE_NETWORK_POLICY}: ${JSON.stringify(v)} is not "true" or "false"`,
		where,
	);
}

/**
 * The node's effective `eni_conf` in a cluster (Terway): `<namespace>/eni-config` key `eni_conf`
 * as the base, the daemon config file's `eni_conf` merged over it (JSON merge patch), then the
 * node's dynamic config (the ConfigMap its `terway-config` label names) over that; plus exclusive
 * mode from the node label. A missing eni-config is a warning (the file alone is used); a base
 * that is not JSON, or a merged result with a bad key or value, is a {@link ClusterConfigError}
 * whose cause names it (an `EniConfigError` for key/value problems).
 */
export async function clusterConfig(
	agent: NodeAgent,
	opts: { namespace: string; fileEniConf?: JsonObject },
): Promise<ClusterConfig> {
	const warnings: string[] = [];
	const cmName = `ConfigMap ${opts.namespace}/eni-config`;
	let base: JsonObject = {};
	try {
		base = JSON.parse(await agent.readEniConfig(opts.namespace)) as JsonObject;
	} catch (e) {
		if (e instanceof ConfigMapMissingError) warnings.push(`${e.message}; using the config file only`);
		else if (e instanceof SyntaxError)
			throw new ClusterConfigError(`${cmName}: eni_conf is not JSON: ${e.message}`, cmName, { cause: e });
		else throw e;
	}
	const node = await agent.getNode();
	const dyn = await agent.readDynamicConfig(node);
	const where = `${cmName}${dyn ? ` + ConfigMap ${opts.namespace}/${dyn.name}` : ""}`;
	let resolved: ReturnType<typeof resolveEniConf>;
	try {
		resolved = resolveEniConf(
			mergePatch(base, opts.fileEniConf ?? {}),
			dyn?.eniConf,
			dyn ? { overlayName: dyn.name } : {},
		);
	} catch (e) {
		throw new ClusterConfigError(`invalid config (${where}): ${(e as Error).message}`, where, { cause: e });
	}
	const networkPolicy = await networkPolicyEnabled(agent, opts.namespace);
	return {
		eniConf: resolved.config,
		exclusive: (node.metadata?.labels?.[LABEL_EXCLUSIVE] ?? "").toLowerCase() === "enionly",
		networkPolicy,
		...(dyn ? { overlay: dyn.name } : {}),
		warnings: [...warnings, ...resolved.warnings],
	};
}

export class NodeAgentHooks implements KubeHooks {
	readonly #agent: NodeAgent;
	readonly #log: Logger;
	#informer: Informer<PodObject> | undefined;
	#daemon: Daemon | undefined;
	#connected = false;
	readonly #patchPodIps: boolean;

	constructor(agent: NodeAgent, log: Logger, opts: { patchPodIps?: boolean } = {}) {
		this.#agent = agent;
		this.#log = log.child({ component: "kube" });
		this.#patchPodIps = opts.patchPodIps ?? true;
	}

	/** Start the pod watch; resolves when the first list is in. */
	async start(): Promise<void> {
		this.#informer = this.#agent.watchPods({
			delete: async (pod, info) => {
				const m = pod.metadata;
				if (!m?.namespace || !m.name || !this.#daemon) return;
				const live = this.#informer?.get(`${m.namespace}/${m.name}`);
				if (live) return; // re-created with the same name
				this.#log.info(
					{ pod: `${m.namespace}/${m.name}`, synthetic: info.synthetic },
					"pod deleted: releasing",
				);
				try {
					await this.#daemon.release({ pod: { namespace: m.namespace, name: m.name } }, "pod-deleted");
				} catch (e) {
					this.#log.warn({ err: e }, "release after pod deletion failed");
				}
			},
			error: (err) => {
				this.#connected = false;
				this.#log.warn({ err }, "pod watch error (retrying)");
			},
			// live again once a list or watch is answered, not only when a pod changes (a quiet node
			// would otherwise stay "disconnected" after an apiserver restart, and GC skip forever)
			connected: () => {
				this.#connected = true;
			},
		});
		this.#informer.start();
		await this.#informer.synced;
		this.#connected = true;
	}

	onStart(d: Daemon): void {
		this.#daemon = d;
		const cap = d.pool.capacity;
		void this.#agent
			.patchNodeAnnotations({ [ANNOTATION_MAX_AVAILABLE_IP]: String(cap) })
			.catch((e) => this.#log.warn({ err: e }, "node annotation patch failed"));
		this.setSufficientIp(true, "node has sufficient IP");
	}

	state(): "connected" | "disconnected" {
		return this.#connected ? "connected" : "disconnected";
	}

	synced(): boolean {
		return this.#informer?.hasSynced ?? false;
	}

	podExists(namespace: string, name: string, uid?: string): boolean {
		const p = this.#informer?.get(`${namespace}/${name}`);
		if (!p) return false;
		return !uid || !p.metadata?.uid || p.metadata.uid === uid;
	}

	/**
	 * From the pod's `kubernetes.io/{ingress,egress}-bandwidth` annotations. kubelet runs ADD as soon
	 * as the pod is bound, which can beat our watch to it: then one GET (bounded), not "no limit".
	 */
	async bandwidthOf(
		namespace: string,
		name: string,
	): Promise<{ ingressBps?: number; egressBps?: number } | undefined> {
		let annotations = this.#informer?.get(`${namespace}/${name}`)?.metadata?.annotations;
		if (!this.#informer?.get(`${namespace}/${name}`)) {
			try {
				const pod = await Promise.race([
					this.#agent.readPod(namespace, name),
					Bun.sleep(2_000).then(() => undefined),
				]);
				annotations = pod?.metadata?.annotations;
			} catch (e) {
				this.#log.warn(
					{ err: e, pod: `${namespace}/${name}` },
					"pod not in the watch yet and GET failed: no bandwidth limit",
				);
			}
		}
		const a = annotations;
		const ing = parseBandwidth(a?.["kubernetes.io/ingress-bandwidth"]);
		const eg = parseBandwidth(a?.["kubernetes.io/egress-bandwidth"]);
		if (ing === undefined && eg === undefined) return undefined;
		return {
			...(ing !== undefined ? { ingressBps: ing } : {}),
			...(eg !== undefined ? { egressBps: eg } : {}),
		};
	}

	podAllocated(pod: PodRef, ips: string[]): void {
		if (!this.#patchPodIps) return;
		void this.#agent
			.patchPodIps(pod.namespace, pod.name, ips)
			.catch((e) => this.#log.warn({ err: e, pod: `${pod.namespace}/${pod.name}` }, "pod-ips patch failed"));
	}

	allocFailed(pod: PodRef, message: string): void {
		const obj = this.#informer?.get(`${pod.namespace}/${pod.name}`);
		const ref = obj
			? podRef(obj)
			: {
					apiVersion: "v1",
					kind: "Pod",
					name: pod.name,
					namespace: pod.namespace,
					...(pod.uid ? { uid: pod.uid } : {}),
				};
		void this.#agent.events.event(ref, "Warning", EventReason.AllocIPFailed, message);
	}

	/**
	 * Patches are serialized and coalesced to the latest wish: two concurrent patches could land
	 * out of order and leave the node False after IPs came back (until the 5 min heartbeat).
	 */
	setSufficientIp(sufficient: boolean, message: string): void {
		this.#wantCond = { sufficient, message };
		this.#pumpCond();
	}

	#wantCond: { sufficient: boolean; message: string } | undefined;
	#condBusy = false;

	#pumpCond(): void {
		const want = this.#wantCond;
		if (this.#condBusy || !want) return;
		this.#wantCond = undefined;
		this.#condBusy = true;
		void this.#agent
			.ensureSufficientIP(want.sufficient, want.message)
			.catch((e) => this.#log.warn({ err: e }, "SufficientIP condition patch failed"))
			.finally(() => {
				this.#condBusy = false;
				this.#pumpCond();
			});
	}

	async stop(): Promise<void> {
		await this.#informer?.stop();
	}
}
