/**
 * The kubelet stand-in of the offline world: one `Kubelet` per simulated node watches the pods
 * bound to that node and gives them a network the way kubelet + containerd do, then reports them
 * Running through the pod status subresource. It is what makes the sim's pods real enough for
 * the Terway daemon and plugin to be exercised end to end (DESIGN.md "The offline world").
 *
 * Modes:
 * - `netns`: per pod, a network namespace `simNetns.pod(prefix, node, uid)` is created, the
 *   network from the conf dir (lexically first file) is ADDed through `CniRunner` with the
 *   plugins spawned inside the node's namespace (`nodeNetns`), so host-side links land in the
 *   node, exactly where a real node would have them. containerd's `cni-loopback` network
 *   (loopback plugin, ifname `lo`) is ADDed first when that plugin is in CNI_PATH.
 * - `loopback`: no namespaces, no CNI. A pod is marked Running with an address from a per-node
 *   fake range (`podCidr`; default a /24 in 198.19.128.0/17 picked from the node name; pass
 *   distinct ranges when several nodes run). Enough for controllers that wait for `podIP`; the
 *   daemon's real allocations are exercised in netns mode.
 * - `hostNetwork` pods never get a sandbox network: podIP = hostIP, as with a real kubelet.
 *
 * Lifecycle per pod (work is serialized per pod UID; different pods proceed in parallel):
 * - new (not terminating; no sandbox yet): create netns → ADD → merge-patch `status`
 *   (phase Running, podIP/podIPs, hostIP, conditions, containerStatuses). A failed ADD is
 *   followed by DEL and netns removal (the spec's runtime guarantee), a `FailedCreatePodSandBox`
 *   Warning event, and a retry with backoff; the pod is not marked Running.
 * - terminating (deletionTimestamp, Succeeded/Failed) or deleted: DEL (with the cached result as
 *   prevResult) → delete the netns → for a pod still present with deletionTimestamp, the final
 *   DELETE with gracePeriodSeconds 0 (kubelet's status manager does this once containers are gone).
 * - restart (`start()` on a node with state): pods already Running with a cached result are
 *   adopted untouched; cached results (and `<prefix>-<node>-<uid8>` namespaces) whose pods are
 *   gone are DELeted and removed.
 *
 * The kube client is @kubernetes/client-node (a ListWatch on `/api/v1/pods` with
 * `fieldSelector=spec.nodeName=<node>`). Under Bun it must use HTTP with `skipTLSVerify: true`
 * (cloud-sim.md §4.3); `{ server }` options build such a KubeConfig. It never touches a
 * namespace that is not this node's pod namespace, and never spawns anything but CNI plugins.
 */
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { join } from "node:path";
import {
	CoreV1Api,
	KubeConfig,
	ListWatch,
	PatchStrategy,
	setHeaderOptions,
	type V1Pod,
	type V1PodList,
	Watch,
} from "@kubernetes/client-node";
import { createNetns, deleteNetns, listNetns, NETNS_RUN_DIR, type Netns } from "../../linux/netns.ts";
import { SIM_RUN_DIR, simNetns } from "../contracts.ts";
import { type CniNetworkConfigList, loadConfDir } from "./cni-config.ts";
import {
	attachmentRuntimeConf,
	type CachedAttachment,
	type CniResult,
	CniRunner,
	type ExecRecord,
	type RuntimeConf,
} from "./cni-exec.ts";
import { FakeIpPool } from "./fake-ip-pool.ts";
import {
	capabilityArgsFor,
	cniArgsFor,
	isTerminating,
	podIpsFromResult,
	runningStatusPatch,
	sandboxIdFor,
} from "./pod.ts";

/** containerd's loopback network (go-cni `WithLoNetwork`). */
export const LOOPBACK_NETWORK: CniNetworkConfigList = {
	file: "(builtin cni-loopback)",
	name: "cni-loopback",
	cniVersion: "0.3.1",
	disableCheck: false,
	disableGC: false,
	plugins: [{ type: "loopback" }],
	bytes: '{"cniVersion":"0.3.1","name":"cni-loopback","plugins":[{"type":"loopback"}]}',
};

export type KubeletLogEntry = {
	time: string;
	level: "info" | "warn" | "error";
	node: string;
	/** "namespace/name" when about one pod. */
	pod?: string;
	/** Kubernetes event reason ("FailedCreatePodSandBox") or a short tag ("cni.add"). */
	reason: string;
	msg: string;
};

export type KubeletOptions = {
	nodeName: string;
	/** The sim run's prefix: pod namespaces are `${prefix}-${node}-${uid8}`. */
	prefix: string;
	mode: "netns" | "loopback";
	/** A client-node KubeConfig, or the apiserver URL (HTTP; skipTLSVerify is set) and a token. */
	kube: KubeConfig | { server: string; token?: string };
	/** netns mode: CNI conf dir; the lexically first .conf/.conflist/.json is the pod network. */
	confDir?: string;
	/** netns mode: CNI_PATH directories. Default ["/opt/cni/bin"]. */
	cniPath?: string[];
	/** libcni result cache. Default `${SIM_RUN_DIR}/${prefix}/kubelet/${node}/cni`. */
	cacheDir?: string;
	/** netns mode: the node's namespace; CNI plugins are spawned inside it. */
	nodeNetns?: Netns;
	/** The node's primary IP (status.hostIP). Default: the Node object's InternalIP, if readable. */
	hostIP?: string;
	/** loopback mode: the fake pod range of this node. */
	podCidr?: string;
	/** Per plugin exec. Default 60 s. */
	execTimeoutMs?: number;
	/** Sandbox retry backoff after a failure: first and max delay. Default 1 s .. 30 s. */
	retryMs?: { initial: number; max: number };
	/** netns mode: run the loopback network for `lo` when the plugin is found. Default true. */
	loopbackNetwork?: boolean;
	/** Receives every log entry (they are also kept in `log`). */
	onLog?: (e: KubeletLogEntry) => void;
	/** Receives every plugin exec. */
	onExec?: (r: ExecRecord) => void;
};

type Sandbox = {
	id: string;
	/** netns name (netns mode, non-hostNetwork). */
	netns?: string;
	ips: string[];
	/** loopback mode: the fake address to release. */
	fakeIp?: string;
};

type PodState = {
	uid: string;
	key: string;
	latest: V1Pod;
	gone: boolean;
	dirty: boolean;
	running: Promise<void> | undefined;
	sandbox: Sandbox | undefined;
	/** The status we patched is visible (or the pod was adopted as Running). */
	reported: boolean;
	failures: number;
	retry: ReturnType<typeof setTimeout> | undefined;
	finalDeleteSent: boolean;
};

const IFNAME = "eth0";

function podKey(pod: V1Pod): string {
	return `${pod.metadata?.namespace ?? "default"}/${pod.metadata?.name ?? "?"}`;
}

function errMsg(e: unknown): string {
	return e instanceof Error ? e.message : String(e);
}

function httpCode(e: unknown): number | undefined {
	const c = (e as { code?: unknown } | null)?.code;
	return typeof c === "number" ? c : undefined;
}

function defaultPodCidr(nodeName: string): string {
	const h = createHash("sha256").update(nodeName).digest();
	return `198.19.${128 + ((h[0] ?? 0) % 128)}.0/24`;
}

/** A kubelet stand-in for one simulated node. */
export class Kubelet {
	readonly nodeName: string;
	readonly prefix: string;
	readonly mode: "netns" | "loopback";
	readonly cacheDir: string;
	/** Recent log entries (bounded), newest last. */
	readonly log: KubeletLogEntry[] = [];
	readonly #opts: KubeletOptions;
	readonly #kc: KubeConfig;
	readonly #api: CoreV1Api;
	readonly #pods = new Map<string, PodState>();
	readonly #runner: CniRunner | undefined;
	#network: CniNetworkConfigList | undefined;
	#withLoopback = false;
	#hostIP: string | undefined;
	#pool: FakeIpPool | undefined;
	#informer: ListWatch<V1Pod> | undefined;
	#restartTimer: ReturnType<typeof setTimeout> | undefined;
	#stopped = true;
	/** While `start()` waits for the first list+watch: the error that stopped it, if any. */
	#startError: { error: unknown } | undefined;

	constructor(opts: KubeletOptions) {
		this.#opts = opts;
		this.nodeName = opts.nodeName;
		this.prefix = opts.prefix;
		this.mode = opts.mode;
		this.cacheDir = opts.cacheDir ?? join(SIM_RUN_DIR, opts.prefix, "kubelet", opts.nodeName, "cni");
		this.#hostIP = opts.hostIP;
		if (opts.kube instanceof KubeConfig) {
			this.#kc = opts.kube;
		} else {
			this.#kc = new KubeConfig();
			this.#kc.loadFromOptions({
				clusters: [{ name: "sim", server: opts.kube.server, skipTLSVerify: true }],
				users: [{ name: "kubelet", token: opts.kube.token ?? "sim-kubelet" }],
				contexts: [{ name: "sim", cluster: "sim", user: "kubelet" }],
				currentContext: "sim",
			});
		}
		this.#api = this.#kc.makeApiClient(CoreV1Api);
		if (opts.mode === "netns") {
			if (!opts.confDir) throw new Error(`kubelet ${opts.nodeName}: netns mode needs confDir`);
			this.#runner = new CniRunner({
				cniPath: opts.cniPath ?? ["/opt/cni/bin"],
				cacheDir: this.cacheDir,
				...(opts.execTimeoutMs !== undefined ? { timeoutMs: opts.execTimeoutMs } : {}),
				...(opts.nodeNetns ? { netns: opts.nodeNetns } : {}),
				...(opts.onExec ? { onExec: opts.onExec } : {}),
			});
		} else {
			this.#pool = new FakeIpPool(opts.podCidr ?? defaultPodCidr(opts.nodeName));
		}
	}

	/** The pod network in use (netns mode; after `start`). */
	get network(): CniNetworkConfigList | undefined {
		return this.#network;
	}

	/** The pod namespace name of a pod UID on this node. */
	podNetnsName(uid: string): string {
		return simNetns.pod(this.prefix, this.nodeName, uid);
	}

	/**
	 * Load the network config (netns mode), learn the host IP, list+watch this node's pods
	 * (resolves once the first list is handled and the watch is open), then clean up what a
	 * previous run left for pods that no longer exist.
	 */
	async start(): Promise<void> {
		if (!this.#stopped) return;
		if (this.#runner) {
			this.#network = await loadConfDir(this.#opts.confDir as string);
			this.#withLoopback =
				this.#opts.loopbackNetwork !== false &&
				(await this.#runner.findPlugin("loopback").then(
					() => true,
					() => false,
				));
		}
		if (this.#hostIP === undefined) this.#hostIP = await this.#readHostIP();
		this.#stopped = false;
		const fieldSelector = `spec.nodeName=${this.nodeName}`;
		const informer = new ListWatch<V1Pod>(
			"/api/v1/pods",
			new Watch(this.#kc),
			() => this.#api.listPodForAllNamespaces({ fieldSelector }) as Promise<V1PodList>,
			false,
			undefined,
			fieldSelector,
		);
		informer.on("add", (pod) => this.#observe(pod, false));
		informer.on("update", (pod) => this.#observe(pod, false));
		informer.on("delete", (pod) => this.#observe(pod, true));
		informer.on("error", (err) => this.#informerError(err));
		this.#informer = informer;
		const starting = { error: undefined as unknown };
		this.#startError = starting;
		await informer.start();
		this.#startError = undefined;
		if (starting.error !== undefined) {
			// the first list or watch failed: report it to the caller instead of retrying quietly
			this.#stopped = true;
			await informer.stop();
			this.#informer = undefined;
			throw new Error(`kubelet ${this.nodeName}: cannot list/watch pods: ${errMsg(starting.error)}`, {
				cause: starting.error,
			});
		}
		if (this.#runner) await this.#reconcileOrphans(informer.list());
	}

	/** End the watch, cancel retries, and wait for work in progress to finish. */
	async stop(): Promise<void> {
		if (this.#stopped) return;
		this.#stopped = true;
		clearTimeout(this.#restartTimer);
		await this.#informer?.stop();
		this.#informer = undefined;
		for (const s of this.#pods.values()) clearTimeout(s.retry);
		await this.idle();
	}

	/** Resolves when no pod work is running (retries scheduled for later do not count). */
	async idle(): Promise<void> {
		for (;;) {
			const busy = [...this.#pods.values()].map((s) => s.running).filter((p) => p !== undefined);
			if (busy.length === 0) return;
			await Promise.allSettled(busy);
		}
	}

	#log(level: KubeletLogEntry["level"], reason: string, msg: string, pod?: string): void {
		const e: KubeletLogEntry = { time: new Date().toISOString(), level, node: this.nodeName, reason, msg };
		if (pod !== undefined) e.pod = pod;
		this.log.push(e);
		if (this.log.length > 500) this.log.splice(0, this.log.length - 500);
		this.#opts.onLog?.(e);
	}

	async #readHostIP(): Promise<string | undefined> {
		try {
			const node = await this.#api.readNode({ name: this.nodeName });
			return node.status?.addresses?.find((a) => a.type === "InternalIP")?.address;
		} catch {
			return undefined; // no Node object (yet): hostIP stays unset
		}
	}

	#informerError(err: unknown): void {
		if (this.#stopped) return; // stop() aborts the watch, which reports an AbortError
		if (this.#startError) {
			this.#startError.error = err;
			return;
		}
		this.#log("warn", "watch", `pod watch failed, restarting in 1s: ${errMsg(err)}`);
		clearTimeout(this.#restartTimer);
		this.#restartTimer = setTimeout(() => {
			if (this.#stopped || !this.#informer) return;
			this.#informer.start().catch((e: unknown) => this.#informerError(e));
		}, 1000);
	}

	/** Informer callback: record the latest pod and make sure its worker runs. Never throws. */
	#observe(pod: V1Pod, gone: boolean): void {
		const uid = pod.metadata?.uid;
		if (!uid || this.#stopped) return;
		let s = this.#pods.get(uid);
		if (!s) {
			s = {
				uid,
				key: podKey(pod),
				latest: pod,
				gone: false,
				dirty: false,
				running: undefined,
				sandbox: undefined,
				reported: false,
				failures: 0,
				retry: undefined,
				finalDeleteSent: false,
			};
			this.#pods.set(uid, s);
		}
		s.latest = pod;
		s.gone ||= gone;
		this.#kick(s);
	}

	#kick(s: PodState): void {
		if (s.running) {
			s.dirty = true;
			return;
		}
		clearTimeout(s.retry);
		s.retry = undefined;
		s.running = (async () => {
			do {
				s.dirty = false;
				try {
					await this.#sync(s);
				} catch (e) {
					this.#log("error", "internal", `sync failed: ${errMsg(e)}`, s.key);
					this.#scheduleRetry(s);
				}
			} while (s.dirty && !this.#stopped);
		})().finally(() => {
			s.running = undefined;
			// an event that arrived between the loop's last check and here must not be lost
			if (s.dirty && !this.#stopped) this.#kick(s);
			else if (s.gone && !s.sandbox && !s.retry) this.#pods.delete(s.uid);
		});
	}

	#scheduleRetry(s: PodState): void {
		if (this.#stopped) return;
		const r = this.#opts.retryMs ?? { initial: 1000, max: 30_000 };
		const delay = Math.min(r.max, r.initial * 2 ** Math.min(s.failures, 20));
		s.failures++;
		clearTimeout(s.retry);
		s.retry = setTimeout(() => {
			s.retry = undefined;
			this.#kick(s);
		}, delay);
	}

	/** Bring one pod's sandbox in line with its latest state. */
	async #sync(s: PodState): Promise<void> {
		const pod = s.latest;
		if (s.gone || isTerminating(pod)) {
			if (!(await this.#teardown(s))) return;
			if (!s.gone && pod.metadata?.deletionTimestamp && !s.finalDeleteSent) await this.#finalDelete(s);
			return;
		}
		if (!s.sandbox) {
			if (await this.#adopt(s)) return;
			if (!(await this.#setup(s))) return;
		}
		if (!s.reported) await this.#report(s);
	}

	/** A pod already Running from a previous run whose sandbox is still there: keep it. */
	async #adopt(s: PodState): Promise<boolean> {
		const pod = s.latest;
		const podIP = pod.status?.podIP;
		if (pod.status?.phase !== "Running" || !podIP) return false;
		const id = sandboxIdFor(s.uid);
		if (pod.spec?.hostNetwork) {
			s.sandbox = { id, ips: [podIP] };
		} else if (this.#runner && this.#network) {
			const cached = await this.#runner.cached(this.#network.name, { containerId: id, ifName: IFNAME });
			const netns = this.podNetnsName(s.uid);
			if (!cached?.result || !existsSync(join(NETNS_RUN_DIR, netns))) return false;
			s.sandbox = { id, netns, ips: podIpsFromResult(cached.result, IFNAME) };
		} else if (this.#pool?.reserve(podIP)) {
			s.sandbox = { id, ips: [podIP], fakeIp: podIP };
		} else {
			return false;
		}
		s.reported = true;
		this.#log("info", "Adopted", `sandbox of running pod kept (podIP ${podIP})`, s.key);
		return true;
	}

	#runtimeConf(s: PodState, netnsPath: string, ifName: string): RuntimeConf {
		const id = sandboxIdFor(s.uid);
		return {
			containerId: id,
			netns: netnsPath,
			ifName,
			args: cniArgsFor(s.latest, id),
			capabilityArgs: capabilityArgsFor(s.latest),
		};
	}

	/** Create the sandbox network. False (with an event and a retry scheduled) on failure. */
	async #setup(s: PodState): Promise<boolean> {
		const pod = s.latest;
		const id = sandboxIdFor(s.uid);
		if (pod.spec?.hostNetwork) {
			s.sandbox = { id, ips: this.#hostIP ? [this.#hostIP] : [] };
			return true;
		}
		if (!this.#runner || !this.#network) {
			const ip = (this.#pool as FakeIpPool).allocate();
			s.sandbox = { id, ips: [ip], fakeIp: ip };
			return true;
		}
		const netns = this.podNetnsName(s.uid);
		const path = join(NETNS_RUN_DIR, netns);
		let rt: RuntimeConf;
		try {
			rt = this.#runtimeConf(s, path, IFNAME);
		} catch (e) {
			// e.g. a bad bandwidth annotation: kubelet refuses the pod the same way
			this.#log("warn", "FailedCreatePodSandBox", errMsg(e), s.key);
			await this.#event(s, "FailedCreatePodSandBox", `Failed to create pod sandbox: ${errMsg(e)}`);
			this.#scheduleRetry(s);
			return false;
		}
		try {
			if (listNetns().includes(netns)) deleteNetns(netns); // a half-made sandbox from before
			createNetns(netns).close();
			if (this.#withLoopback) await this.#runner.add(LOOPBACK_NETWORK, { ...rt, ifName: "lo" });
			const result: CniResult = await this.#runner.add(this.#network, rt);
			s.sandbox = { id, netns, ips: podIpsFromResult(result, IFNAME) };
			s.failures = 0;
			this.#log("info", "SandboxCreated", `network ready: ${s.sandbox.ips.join(",") || "(no IP)"}`, s.key);
			return true;
		} catch (e) {
			const msg = `Failed to create pod sandbox: failed to setup network for sandbox "${id}": ${errMsg(e)}`;
			this.#log("warn", "FailedCreatePodSandBox", msg, s.key);
			await this.#event(s, "FailedCreatePodSandBox", msg);
			// the runtime DELs after a failed ADD (CNI spec), then drops the namespace
			await this.#cniDel(s, rt);
			this.#dropNetns(netns);
			this.#scheduleRetry(s);
			return false;
		}
	}

	/** DEL the pod network (and cni-loopback); errors are logged and returned as false. */
	async #cniDel(s: PodState, rt: RuntimeConf): Promise<boolean> {
		if (!this.#runner || !this.#network) return true;
		let ok = true;
		const netnsPath = existsSync(rt.netns) ? rt.netns : ""; // spec: DEL with a gone netns
		try {
			await this.#runner.del(this.#network, { ...rt, netns: netnsPath });
		} catch (e) {
			ok = false;
			this.#log("warn", "FailedKillPod", `CNI DEL failed: ${errMsg(e)}`, s.key);
		}
		if (this.#withLoopback) {
			try {
				await this.#runner.del(LOOPBACK_NETWORK, { ...rt, netns: netnsPath, ifName: "lo" });
			} catch (e) {
				this.#log("warn", "FailedKillPod", `CNI DEL of lo failed: ${errMsg(e)}`, s.key);
			}
		}
		return ok;
	}

	#dropNetns(name: string): void {
		try {
			deleteNetns(name);
		} catch (e) {
			this.#log("warn", "netns", `could not delete namespace ${name}: ${errMsg(e)}`);
		}
	}

	/** Remove the sandbox network. False when DEL failed (a retry is scheduled). */
	async #teardown(s: PodState): Promise<boolean> {
		if (this.#runner && this.#network && !s.latest.spec?.hostNetwork) {
			const netns = this.podNetnsName(s.uid);
			const path = join(NETNS_RUN_DIR, netns);
			const id = sandboxIdFor(s.uid);
			const cached = await this.#runner.cached(this.#network.name, { containerId: id, ifName: IFNAME });
			const present = s.sandbox !== undefined || cached !== undefined || existsSync(path);
			if (present) {
				let rt: RuntimeConf;
				try {
					rt = cached ? attachmentRuntimeConf(cached) : this.#runtimeConf(s, path, IFNAME);
				} catch {
					rt = {
						containerId: id,
						netns: path,
						ifName: IFNAME,
						args: cniArgsFor(s.latest, id),
						capabilityArgs: {},
					};
				}
				if (!(await this.#cniDel(s, rt))) {
					this.#scheduleRetry(s);
					return false;
				}
				this.#dropNetns(netns);
				this.#log("info", "SandboxRemoved", "network torn down", s.key);
			}
		} else if (s.sandbox?.fakeIp) {
			this.#pool?.release(s.sandbox.fakeIp);
			this.#log("info", "SandboxRemoved", `fake IP ${s.sandbox.fakeIp} released`, s.key);
		}
		s.sandbox = undefined;
		s.reported = false;
		return true;
	}

	/** kubelet's final delete once the pod's containers are gone. */
	async #finalDelete(s: PodState): Promise<void> {
		const pod = s.latest;
		try {
			await this.#api.deleteNamespacedPod({
				name: pod.metadata?.name ?? "",
				namespace: pod.metadata?.namespace ?? "default",
				gracePeriodSeconds: 0,
				body: { gracePeriodSeconds: 0, preconditions: { uid: s.uid } },
			});
			s.finalDeleteSent = true;
		} catch (e) {
			const code = httpCode(e);
			if (code === 404 || code === 409) {
				s.finalDeleteSent = true; // already gone (or replaced by a new pod of that name)
				return;
			}
			this.#log("warn", "delete", `final delete failed: ${errMsg(e)}`, s.key);
			this.#scheduleRetry(s);
		}
	}

	/** Patch the pod status to Running with the sandbox's IPs. */
	async #report(s: PodState): Promise<void> {
		const pod = s.latest;
		const sb = s.sandbox as Sandbox;
		const patch = runningStatusPatch(pod, {
			podIPs: sb.ips,
			...(this.#hostIP ? { hostIP: this.#hostIP } : {}),
			sandboxId: sb.id,
			now: new Date(),
		});
		try {
			await this.#api.patchNamespacedPodStatus(
				{ name: pod.metadata?.name ?? "", namespace: pod.metadata?.namespace ?? "default", body: patch },
				setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
			);
			s.reported = true;
			this.#log("info", "Started", `pod Running, podIP ${sb.ips[0] ?? "(none)"}`, s.key);
		} catch (e) {
			if (httpCode(e) === 404) return; // deleted meanwhile: the DELETED event tears down
			this.#log("warn", "status", `status patch failed: ${errMsg(e)}`, s.key);
			this.#scheduleRetry(s);
		}
	}

	/** A core/v1 Warning event about the pod (best effort, as kubelet's recorder). */
	async #event(s: PodState, reason: string, message: string): Promise<void> {
		const pod = s.latest;
		const now = new Date();
		const namespace = pod.metadata?.namespace ?? "default";
		try {
			await this.#api.createNamespacedEvent({
				namespace,
				body: {
					metadata: { name: `${pod.metadata?.name}.${now.getTime().toString(16)}${s.failures}`, namespace },
					involvedObject: { kind: "Pod", apiVersion: "v1", name: pod.metadata?.name, namespace, uid: s.uid },
					reason,
					message,
					type: "Warning",
					source: { component: "kubelet", host: this.nodeName },
					firstTimestamp: now,
					lastTimestamp: now,
					count: 1,
					reportingComponent: "kubelet",
					reportingInstance: this.nodeName,
				},
			});
		} catch (e) {
			this.#log("warn", "event", `could not record event ${reason}: ${errMsg(e)}`, s.key);
		}
	}

	/**
	 * After a restart: DEL cached attachments (and drop pod namespaces) of this node whose pods
	 * no longer exist or are no longer meant to run. Live pods are handled by their own sync.
	 */
	async #reconcileOrphans(pods: readonly V1Pod[]): Promise<void> {
		const runner = this.#runner as CniRunner;
		const live = new Map<string, string>(); // sandbox id -> uid
		for (const p of pods) if (p.metadata?.uid) live.set(sandboxIdFor(p.metadata.uid), p.metadata.uid);
		const esc = (x: string) => x.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
		const mine = new RegExp(`^${esc(this.prefix)}-${esc(this.nodeName)}-[0-9a-f]{8}$`);
		const keepNetns = new Set([...live.values()].map((uid) => this.podNetnsName(uid)));
		const attachments: CachedAttachment[] = await runner.cachedAttachments();
		for (const a of attachments) {
			if (live.has(a.containerId)) continue;
			const network = a.networkName === LOOPBACK_NETWORK.name ? LOOPBACK_NETWORK : this.#network;
			if (!network || a.networkName !== network.name) continue;
			const rt = attachmentRuntimeConf(a);
			const nsName = rt.netns.startsWith(`${NETNS_RUN_DIR}/`) ? rt.netns.slice(NETNS_RUN_DIR.length + 1) : "";
			try {
				await runner.del(network, { ...rt, netns: existsSync(rt.netns) ? rt.netns : "" });
				this.#log(
					"info",
					"SandboxRemoved",
					`stale attachment ${a.containerId.slice(0, 12)} (${a.networkName}) removed`,
				);
			} catch (e) {
				this.#log(
					"warn",
					"FailedKillPod",
					`stale attachment ${a.containerId.slice(0, 12)}: DEL failed: ${errMsg(e)}`,
				);
				continue;
			}
			if (mine.test(nsName) && !keepNetns.has(nsName)) this.#dropNetns(nsName);
		}
		for (const name of listNetns()) {
			if (mine.test(name) && !keepNetns.has(name)) {
				this.#dropNetns(name);
				this.#log("info", "SandboxRemoved", `stale namespace ${name} removed`);
			}
		}
	}
}
