/**
 * The daemon's Kubernetes surface on one node (Terway `pkg/k8s/k8s.go`, terway-features.md
 * §3.2–§4.4, cloud-sim.md §4.2): read the `eni-config` and per-node dynamic config ConfigMaps,
 * watch the pods of this node, write the `k8s.aliyun.com/pod-ips` annotation, the node's
 * capacity annotations, extended resources and `SufficientIP` condition, and record core/v1
 * Events.
 *
 * It returns raw config strings: parsing `eni_conf` belongs to core/config. It decides nothing
 * about IPs; the daemon calls it.
 */
import * as k8s from "@kubernetes/client-node";
import { isNotFound, type KubeClient } from "./client.ts";
import { Informer, type InformerOptions, type KubeObjectLike } from "./watch.ts";

/** Annotation the daemon writes on a pod: comma-separated eth0 IPs (Felix patch 0003 reads it). */
export const ANNOTATION_POD_IPS = "k8s.aliyun.com/pod-ips";
/** Node annotations Terway writes (terway-features.md §3.3, §4.3). */
export const ANNOTATION_MAX_AVAILABLE_IP = "k8s.aliyun.com/max-available-ip";
export const ANNOTATION_MAX_MEMBER_ENI_IP = "k8s.aliyun.com/max-member-eni-ip";
export const ANNOTATION_MAX_ERDMA_IP = "k8s.aliyun.com/max-erdma-ip";
export const ANNOTATION_TRUNK_ON = "k8s.aliyun.com/trunk-on";
/** Node label naming the dynamic-config ConfigMap in the daemon namespace (§3.2). */
export const LABEL_TERWAY_CONFIG = "terway-config";
/** Extended resources on node status (device plugins / controlplane, §3.14). */
export const RESOURCE_ENI = "aliyun/eni";
export const RESOURCE_MEMBER_ENI = "aliyun/member-eni";
export const RESOURCE_ERDMA = "aliyun/erdma";
/** Node condition type and its two reasons (§4.3). */
export const CONDITION_SUFFICIENT_IP = "SufficientIP";
export const REASON_SUFFICIENT_IP = "SufficientIP";
export const REASON_INSUFFICIENT_IP = "InsufficientIP";
/** How often an unchanged SufficientIP condition is refreshed (Terway: 5 min heartbeat). */
export const CONDITION_HEARTBEAT_MS = 5 * 60_000;
/** Event source component of the daemon (§4.4). */
export const EVENT_COMPONENT = "terway-daemon";
export const ENI_CONFIG_NAME = "eni-config";
export const ENI_CONF_KEY = "eni_conf";

/** Event reasons the daemon emits (§4.4). */
export const EventReason = {
	AllocIPFailed: "AllocIPFailed",
	AllocIPSucceed: "AllocIPSucceed",
	VirtualModeChanged: "VirtualModeChanged",
	ConfigCheck: "ConfigCheck",
	ParseFailed: "ParseFailed",
	ResourceInvalid: "ResourceInvalid",
	ConfigError: "ConfigError",
	PrefixModeImmutable: "PrefixModeImmutable",
} as const;
export type EventReason = (typeof EventReason)[keyof typeof EventReason];

/** A pod as the watch delivers it (raw JSON: timestamps are strings). */
export type PodObject = KubeObjectLike & {
	metadata: {
		name: string;
		namespace: string;
		uid: string;
		resourceVersion?: string;
		labels?: Record<string, string>;
		annotations?: Record<string, string>;
		deletionTimestamp?: string;
	};
	spec?: { nodeName?: string; hostNetwork?: boolean };
	status?: { phase?: string; podIP?: string; podIPs?: { ip: string }[] };
};

/** A required ConfigMap or key is missing: names it. */
export class ConfigMapMissingError extends Error {
	override readonly name = "ConfigMapMissingError";
}

const merge = k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch);
const strategic = k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.StrategicMergePatch);

/** The condition entry to patch, or undefined when the current one is fresh and equal (Terway logic). */
export function sufficientIPCondition(
	current: k8s.V1NodeCondition | undefined,
	sufficient: boolean,
	message: string,
	now: Date,
): Record<string, string> | undefined {
	const status = sufficient ? "True" : "False";
	const reason = sufficient ? REASON_SUFFICIENT_IP : REASON_INSUFFICIENT_IP;
	const heartbeat = current?.lastHeartbeatTime ? new Date(current.lastHeartbeatTime).getTime() : 0;
	if (
		current &&
		current.status === status &&
		current.reason === reason &&
		(current.message ?? "") === message &&
		heartbeat + CONDITION_HEARTBEAT_MS > now.getTime()
	)
		return undefined;
	const transition =
		current && current.status === status && current.lastTransitionTime
			? new Date(current.lastTransitionTime)
			: now;
	return {
		type: CONDITION_SUFFICIENT_IP,
		status,
		reason,
		message,
		lastHeartbeatTime: iso(now),
		lastTransitionTime: iso(transition),
	};
}

/** RFC 3339 in seconds, as metav1.Time marshals. */
function iso(d: Date): string {
	return `${d.toISOString().slice(0, 19)}Z`;
}

export type NodeAgentOptions = {
	nodeName: string;
	/** The daemon's namespace, where the dynamic-config ConfigMap lives (default kube-system). */
	namespace?: string;
	now?: () => Date;
};

/** What the daemon reads and writes about its node and its pods. */
export class NodeAgent {
	readonly kube: KubeClient;
	readonly nodeName: string;
	readonly namespace: string;
	readonly events: EventRecorder;
	readonly #now: () => Date;

	constructor(kube: KubeClient, opts: NodeAgentOptions) {
		this.kube = kube;
		this.nodeName = opts.nodeName;
		this.namespace = opts.namespace ?? "kube-system";
		this.#now = opts.now ?? (() => new Date());
		this.events = new EventRecorder(kube, {
			component: EVENT_COMPONENT,
			host: opts.nodeName,
			now: this.#now,
		});
	}

	getNode(): Promise<k8s.V1Node> {
		return this.kube.core.readNode({ name: this.nodeName });
	}

	/**
	 * The `eni_conf` key of `kube-system/eni-config`, unparsed. Throws ConfigMapMissingError if
	 * the ConfigMap or the key is missing.
	 */
	async readEniConfig(namespace = "kube-system"): Promise<string> {
		let cm: k8s.V1ConfigMap;
		try {
			cm = await this.kube.core.readNamespacedConfigMap({ name: ENI_CONFIG_NAME, namespace });
		} catch (e) {
			if (isNotFound(e))
				throw new ConfigMapMissingError(`ConfigMap ${namespace}/${ENI_CONFIG_NAME} not found`);
			throw e;
		}
		const v = cm.data?.[ENI_CONF_KEY];
		if (v === undefined)
			throw new ConfigMapMissingError(`ConfigMap ${namespace}/${ENI_CONFIG_NAME} has no key ${ENI_CONF_KEY}`);
		return v;
	}

	/**
	 * The per-node dynamic config (Terway `getDynamicConfig`): the node's `terway-config` label
	 * names a ConfigMap in the daemon namespace whose `eni_conf` is merge-patched over the base.
	 * Undefined when the node has no such label; `eniConf` undefined when the ConfigMap or key is
	 * missing (Terway then warns and falls back to the base config; the caller decides).
	 */
	async readDynamicConfig(
		node?: k8s.V1Node,
	): Promise<{ name: string; eniConf: string | undefined } | undefined> {
		const n = node ?? (await this.getNode());
		const name = n.metadata?.labels?.[LABEL_TERWAY_CONFIG];
		if (!name) return undefined;
		try {
			const cm = await this.kube.core.readNamespacedConfigMap({ name, namespace: this.namespace });
			return { name, eniConf: cm.data?.[ENI_CONF_KEY] };
		} catch (e) {
			if (isNotFound(e)) return { name, eniConf: undefined };
			throw e;
		}
	}

	/**
	 * Watch the pods bound to this node (fieldSelector spec.nodeName). `activeOnly` also drops
	 * Succeeded/Failed pods, as Terway's pod list does; a pod that finishes then arrives as a
	 * delete. Call `.start()` on the result, `await .synced`, and `.stop()` at shutdown.
	 */
	watchPods(
		handlers: Omit<InformerOptions<PodObject>, "path" | "fieldSelector"> & { activeOnly?: boolean } = {},
	): Informer<PodObject> {
		const { activeOnly, ...rest } = handlers;
		const fieldSelector = [
			`spec.nodeName=${this.nodeName}`,
			...(activeOnly ? ["status.phase!=Succeeded", "status.phase!=Failed"] : []),
		].join(",");
		return new Informer<PodObject>(this.kube, { ...rest, path: "/api/v1/pods", fieldSelector });
	}

	/** GET one pod; undefined when it does not exist. */
	async readPod(namespace: string, name: string): Promise<k8s.V1Pod | undefined> {
		try {
			return await this.kube.core.readNamespacedPod({ name, namespace });
		} catch (e) {
			if (isNotFound(e)) return undefined;
			throw e;
		}
	}

	/** Merge-patch the `k8s.aliyun.com/pod-ips` annotation (comma list; empty list removes it). */
	async patchPodIps(namespace: string, name: string, ips: readonly string[]): Promise<k8s.V1Pod> {
		return this.kube.core.patchNamespacedPod(
			{
				name,
				namespace,
				body: { metadata: { annotations: { [ANNOTATION_POD_IPS]: ips.length > 0 ? ips.join(",") : null } } },
			},
			merge,
		);
	}

	/** Merge-patch node annotations (`null` removes one), e.g. {@link ANNOTATION_MAX_AVAILABLE_IP}. */
	async patchNodeAnnotations(annotations: Record<string, string | null>): Promise<k8s.V1Node> {
		return this.kube.core.patchNode({ name: this.nodeName, body: { metadata: { annotations } } }, merge);
	}

	/**
	 * Set extended resources (e.g. {@link RESOURCE_MEMBER_ENI}) in node `status.capacity` and
	 * `status.allocatable` through the status subresource; `null` removes one. Other resources
	 * (cpu, memory, pods) are left alone.
	 */
	async patchNodeResources(resources: Record<string, string | number | null>): Promise<k8s.V1Node> {
		const q: Record<string, string | null> = {};
		for (const [k, v] of Object.entries(resources)) q[k] = v === null ? null : String(v);
		return this.kube.core.patchNodeStatus(
			{ name: this.nodeName, body: { status: { capacity: q, allocatable: q } } },
			merge,
		);
	}

	/**
	 * Ensure the node's `SufficientIP` condition (strategic merge by `type` on the status
	 * subresource, so Ready and the others stay). Unchanged and younger than the 5 min
	 * heartbeat → no request. `lastTransitionTime` moves only when the status flips.
	 */
	async ensureSufficientIP(sufficient: boolean, message = ""): Promise<{ changed: boolean }> {
		const node = await this.getNode();
		const current = node.status?.conditions?.find((c) => c.type === CONDITION_SUFFICIENT_IP);
		const cond = sufficientIPCondition(current, sufficient, message, this.#now());
		if (!cond) return { changed: false };
		await this.kube.core.patchNodeStatus(
			{ name: this.nodeName, body: { status: { conditions: [cond] } } },
			strategic,
		);
		return { changed: true };
	}

	/** An ObjectReference for an event about this node. */
	nodeRef(node?: k8s.V1Node): k8s.V1ObjectReference {
		return {
			apiVersion: "v1",
			kind: "Node",
			name: this.nodeName,
			// kubelet uses the node name as the UID of its node events; keep the real one when known
			uid: node?.metadata?.uid ?? this.nodeName,
		};
	}
}

/** An ObjectReference for an event about a pod. */
export function podRef(pod: PodObject | k8s.V1Pod): k8s.V1ObjectReference {
	const m = pod.metadata;
	return {
		apiVersion: "v1",
		kind: "Pod",
		name: m?.name,
		namespace: m?.namespace,
		uid: m?.uid,
		...(m?.resourceVersion ? { resourceVersion: m.resourceVersion } : {}),
	};
}

export type EventType = "Normal" | "Warning";

type Seen = { namespace: string; name: string; count: number; first: Date };

/**
 * core/v1 Events with client-go's dedup (tools/record EventCorrelator, reduced): the same
 * (object, type, reason, message, source) again bumps `count` and `lastTimestamp` of the event
 * already written (PATCH) instead of creating a new one. Never throws: a failed write is
 * returned as `undefined` and reported to `onError`.
 */
export class EventRecorder {
	readonly #kube: KubeClient;
	readonly #component: string;
	readonly #host: string | undefined;
	readonly #now: () => Date;
	readonly #seen = new Map<string, Seen>();
	readonly #pending = new Map<string, Promise<unknown>>();
	readonly #max: number;
	#seq = 0;
	onError: ((e: unknown) => void) | undefined;

	constructor(
		kube: KubeClient,
		opts: {
			component: string;
			host?: string;
			now?: () => Date;
			maxCache?: number;
			onError?: (e: unknown) => void;
		},
	) {
		this.#kube = kube;
		this.#component = opts.component;
		this.#host = opts.host;
		this.#now = opts.now ?? (() => new Date());
		this.#max = opts.maxCache ?? 4096;
		this.onError = opts.onError;
	}

	/** Dedup key of an event (client-go getEventKey). */
	static key(
		ref: k8s.V1ObjectReference,
		type: string,
		reason: string,
		message: string,
		source: string,
	): string {
		return [
			source,
			ref.kind,
			ref.namespace ?? "",
			ref.name,
			ref.uid ?? "",
			ref.apiVersion ?? "",
			type,
			reason,
			message,
		].join("\u0000");
	}

	/** Record an event; resolves to the written Event, or undefined if the write failed. */
	event(
		ref: k8s.V1ObjectReference,
		type: EventType,
		reason: string,
		message: string,
	): Promise<k8s.CoreV1Event | undefined> {
		const key = EventRecorder.key(ref, type, reason, message, `${this.#component}/${this.#host ?? ""}`);
		// One write per key at a time, so a burst of the same event does not create duplicates.
		const prev = this.#pending.get(key) ?? Promise.resolve();
		const p = prev.then(() => this.#write(key, ref, type, reason, message));
		this.#pending.set(key, p);
		void p.finally(() => {
			if (this.#pending.get(key) === p) this.#pending.delete(key);
		});
		return p;
	}

	async #write(
		key: string,
		ref: k8s.V1ObjectReference,
		type: EventType,
		reason: string,
		message: string,
	): Promise<k8s.CoreV1Event | undefined> {
		const now = this.#now();
		const seen = this.#seen.get(key);
		try {
			if (seen) {
				try {
					const ev = await this.#kube.core.patchNamespacedEvent(
						{
							name: seen.name,
							namespace: seen.namespace,
							body: { count: seen.count + 1, lastTimestamp: iso(now), message },
						},
						merge,
					);
					seen.count++;
					this.#touch(key, seen);
					return ev;
				} catch (e) {
					if (!isNotFound(e)) throw e;
					this.#seen.delete(key); // expired (events have a TTL): write a new one
				}
			}
			const namespace = ref.namespace || "default";
			const name = `${ref.name}.${(BigInt(now.getTime()) * 1_000_000n + BigInt(this.#seq++ % 1_000_000)).toString(16)}`;
			const ev = await this.#kube.core.createNamespacedEvent({
				namespace,
				body: {
					metadata: { name, namespace },
					involvedObject: ref,
					reason,
					message,
					type,
					count: 1,
					firstTimestamp: now,
					lastTimestamp: now,
					source: { component: this.#component, ...(this.#host ? { host: this.#host } : {}) },
					reportingComponent: this.#component,
					reportingInstance: this.#host ?? "",
				},
			});
			this.#touch(key, { namespace, name, count: 1, first: now });
			return ev;
		} catch (e) {
			this.onError?.(e);
			return undefined;
		}
	}

	#touch(key: string, s: Seen): void {
		this.#seen.delete(key);
		this.#seen.set(key, s);
		if (this.#seen.size > this.#max) {
			const oldest = this.#seen.keys().next().value;
			if (oldest !== undefined) this.#seen.delete(oldest);
		}
	}
}
