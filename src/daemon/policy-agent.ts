/**
 * @module daemon/policy-agent
 *
 * NetworkPolicy enforcement in terwayd: the agent owns the policy maps (the plugin only attaches
 * the pinned programs to each pod's host veth). It
 * - loads bpf/policy.bpf.c at start (maps pinned by name, programs at `<pinRoot>/progs/`), so a
 *   pod set up while terwayd runs finds them;
 * - watches NetworkPolicies, Pods (every namespace: remote pods need identities too) and
 *   Namespaces through the informer, debounces events briefly, recompiles (core/policy
 *   `compile`, with the previous result so identities stay put) and writes only the diff;
 * - survives restarts without dropping allowed traffic: the maps stay pinned, the identity and
 *   rule assignments are kept in the state dir, and the first write after a start is the diff
 *   against what the maps hold (readState), not a rewrite;
 * - reports each policy's status once per change as a Kubernetes Event on the NetworkPolicy
 *   (PolicyApplied / PolicyError) and on `GET /v1/policy`;
 * - sweeps pinned TCX links whose veth went away without a DEL that knew about them.
 * It never unpins maps or programs (that would drop enforcement on running pods).
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import type { V1ObjectReference } from "@kubernetes/client-node";
import {
	type Compiled,
	type CompileInput,
	compile,
	diff,
	type MapDiff,
	type MapState,
	type NamespaceInfo,
	type NetworkPolicy,
	type PodInfo,
	type PolicyStatus,
	type Protocol,
} from "../core/policy/index.ts";
import { Informer, type KubeTransport } from "../k8s/watch.ts";
import { sweepDefunctLinkPins } from "../linux/bpf/link-pins.ts";
import { PolicyProgram } from "../linux/bpf/policy.ts";
import { PolicyMaps } from "../linux/bpf/policy-maps.ts";
import type { PodRef, PolicyResponse } from "./api-types.ts";
import type { Logger } from "./log.ts";

/** Event reasons on a NetworkPolicy. */
export const PolicyEventReason = { Applied: "PolicyApplied", Error: "PolicyError" } as const;

/** The maps as the agent uses them (src/linux/bpf/policy-maps.ts PolicyMaps fits). */
export interface PolicyMapsPort {
	apply(d: MapDiff): unknown;
	readState(): MapState;
}

/** Where events go (k8s EventRecorder fits). */
export interface PolicyEvents {
	event(
		ref: V1ObjectReference,
		type: "Normal" | "Warning",
		reason: string,
		message: string,
	): Promise<unknown>;
}

/** What terwayd's API and the allocation path need from the agent. */
export interface PolicyPort {
	/** Set when policy is enforced: the alloc reply tells the plugin to attach the programs. */
	readonly pinRoot: string | undefined;
	/** A pod on this node got addresses: make them known to the maps before it starts (bounded wait). */
	podAllocated(pod: PodRef, ips: string[]): Promise<void>;
	/** The pod's allocation is gone. */
	podReleased(pod: PodRef): void;
	info(): PolicyResponse;
	stop(): Promise<void>;
}

/** Policy enforcement that is off, and why. */
export class PolicyOff implements PolicyPort {
	readonly pinRoot = undefined;
	constructor(readonly reason: string) {}
	async podAllocated(): Promise<void> {}
	podReleased(): void {}
	info(): PolicyResponse {
		return {
			enabled: false,
			reason: this.reason,
			policies: [],
			identities: 0,
			entries: { ips: 0, policy: 0 },
			syncs: 0,
		};
	}
	async stop(): Promise<void> {}
}

export type PolicyAgentOptions = {
	/** The API server (KubeClient fits). */
	kube: KubeTransport;
	events: PolicyEvents;
	nodeName: string;
	/** This node's own addresses (HOST identity): the primary IP and the node's ENI IPs. */
	nodeIps: () => string[];
	pinRoot: string;
	maps: PolicyMapsPort;
	log: Logger;
	/** Where identity and rule id assignments are kept across restarts (a JSON file). */
	idsFile?: string;
	/** Events -> map write delay, so a burst is one write (default 10 ms). */
	debounceMs?: number;
	/** Housekeeping of defunct TCX link pins (default: none) and its period (default 30 s). */
	sweep?: () => string[];
	sweepEveryMs?: number;
	/** Closes what the maps hold (the loaded object) at stop. */
	close?: () => void;
};

type PodObject = {
	metadata?: {
		name?: string;
		namespace?: string;
		labels?: Record<string, string>;
		deletionTimestamp?: string;
	};
	spec?: {
		nodeName?: string;
		hostNetwork?: boolean;
		containers?: { ports?: { name?: string; containerPort?: number; protocol?: string }[] }[];
	};
	status?: { phase?: string; podIP?: string; podIPs?: { ip: string }[] };
};
type NamespaceObject = { metadata?: { name?: string; labels?: Record<string, string> } };
type PolicyObject = NetworkPolicy & { apiVersion?: string; kind?: string };

const PROTOCOLS = new Set<string>(["TCP", "UDP", "SCTP"]);

/**
 * What the compiler needs of a Pod object; undefined for pods that take no identity of their own
 * (hostNetwork: their address is the node's; finished pods: their address may be reused).
 */
export function podInfoOf(p: PodObject, nodeName: string, hintIps?: string[]): PodInfo | undefined {
	const m = p.metadata;
	if (!m?.name || !m.namespace) return undefined;
	if (p.spec?.hostNetwork) return undefined;
	const phase = p.status?.phase;
	if (phase === "Succeeded" || phase === "Failed") return undefined;
	let ips = (p.status?.podIPs ?? []).map((x) => x.ip).filter((x) => !!x);
	if (ips.length === 0 && p.status?.podIP) ips = [p.status.podIP];
	if (ips.length === 0 && hintIps) ips = [...hintIps];
	const ports: PodInfo["ports"] = [];
	for (const c of p.spec?.containers ?? []) {
		for (const port of c.ports ?? []) {
			if (typeof port.containerPort !== "number") continue;
			const protocol = (port.protocol ?? "TCP").toUpperCase();
			if (!PROTOCOLS.has(protocol)) continue;
			ports.push({
				...(port.name ? { name: port.name } : {}),
				port: port.containerPort,
				protocol: protocol as Protocol,
			});
		}
	}
	return {
		namespace: m.namespace,
		name: m.name,
		labels: m.labels ?? {},
		ips,
		local: p.spec?.nodeName === nodeName,
		ports,
	};
}

/** An Event reference to a NetworkPolicy. */
export function policyRef(p: PolicyObject): V1ObjectReference {
	const m = p.metadata;
	return {
		apiVersion: "networking.k8s.io/v1",
		kind: "NetworkPolicy",
		name: m.name,
		namespace: m.namespace,
		...(m.uid ? { uid: m.uid } : {}),
		...(m.resourceVersion ? { resourceVersion: m.resourceVersion } : {}),
	};
}

/**
 * The statuses whose (ok, message) differ from what was last reported, and the new record. A
 * policy that is gone is forgotten (reported again if it comes back).
 */
export function statusChanges(
	last: ReadonlyMap<string, string>,
	now: readonly PolicyStatus[],
): { changed: PolicyStatus[]; record: Map<string, string> } {
	const record = new Map<string, string>();
	const changed: PolicyStatus[] = [];
	for (const s of now) {
		const v = `${s.ok}\u0000${s.message}`;
		record.set(s.policy, v);
		if (last.get(s.policy) !== v) changed.push(s);
	}
	return { changed, record };
}

const isEmpty = (d: MapDiff): boolean =>
	d.ips.set.length + d.ips.del.length + d.policy.set.length + d.policy.del.length === 0 &&
	d.idNames.set.length + d.idNames.del.length + d.ruleNames.set.length + d.ruleNames.del.length === 0;

type Ids = { identities: [string, number][]; rules: [string, number][] };

/** The running agent. */
export class PolicyAgent implements PolicyPort {
	readonly #o: PolicyAgentOptions;
	readonly #log: Logger;
	readonly #policies: Informer<PolicyObject>;
	readonly #pods: Informer<PodObject>;
	readonly #namespaces: Informer<NamespaceObject>;
	/** What the maps hold (as last written or read back). */
	#state: MapState | undefined;
	#compiled: Compiled | undefined;
	#prevIds: Pick<Compiled, "identities" | "rules"> | undefined;
	#reported = new Map<string, string>();
	readonly #hints = new Map<string, string[]>();
	#timer: ReturnType<typeof setTimeout> | undefined;
	#sweepTimer: ReturnType<typeof setInterval> | undefined;
	#running: Promise<void> = Promise.resolve();
	#started = false;
	#stopped = false;
	#syncs = 0;
	#lastSync: string | undefined;
	#lastError: string | undefined;
	#idsWritten = "";

	constructor(o: PolicyAgentOptions) {
		this.#o = o;
		this.#log = o.log.child({ component: "policy" });
		const kick = () => this.#kick();
		const handlers = { add: kick, update: kick, delete: kick, error: (e: Error) => this.#watchError(e) };
		this.#policies = new Informer<PolicyObject>(o.kube, {
			path: "/apis/networking.k8s.io/v1/networkpolicies",
			...handlers,
		});
		this.#pods = new Informer<PodObject>(o.kube, { path: "/api/v1/pods", ...handlers });
		this.#namespaces = new Informer<NamespaceObject>(o.kube, { path: "/api/v1/namespaces", ...handlers });
	}

	get pinRoot(): string {
		return this.#o.pinRoot;
	}

	/**
	 * Read what the pinned maps hold, start the watches and, once all three have listed, write
	 * the first diff. Resolves after that first write.
	 */
	async start(): Promise<void> {
		this.#state = this.#o.maps.readState();
		this.#prevIds = this.#loadIds();
		this.#log.info(
			{
				pinRoot: this.#o.pinRoot,
				ips: this.#state.ips.size,
				policy: this.#state.policy.size,
				keptIds: this.#prevIds ? this.#prevIds.identities.size : 0,
			},
			"policy maps opened",
		);
		this.#policies.start();
		this.#pods.start();
		this.#namespaces.start();
		await Promise.all([this.#policies.synced, this.#pods.synced, this.#namespaces.synced]);
		this.#started = true;
		await this.#enqueue();
		this.#sweep();
		const every = this.#o.sweepEveryMs ?? 30_000;
		if (this.#o.sweep && every > 0) this.#sweepTimer = setInterval(() => this.#sweep(), every);
	}

	async stop(): Promise<void> {
		if (this.#stopped) return;
		this.#stopped = true;
		clearTimeout(this.#timer);
		clearInterval(this.#sweepTimer);
		await Promise.allSettled([this.#policies.stop(), this.#pods.stop(), this.#namespaces.stop()]);
		await this.#running;
		try {
			this.#o.close?.();
		} catch (e) {
			this.#log.warn({ err: e }, "closing the policy object failed");
		}
	}

	async podAllocated(pod: PodRef, ips: string[]): Promise<void> {
		if (this.#stopped || ips.length === 0) return;
		this.#hints.set(`${pod.namespace}/${pod.name}`, ips);
		if (!this.#started) return;
		// the maps know the pod before its sandbox runs; bounded so an alloc never hangs on it
		await Promise.race([this.#enqueue(), Bun.sleep(1_000)]);
	}

	podReleased(pod: PodRef): void {
		if (this.#hints.delete(`${pod.namespace}/${pod.name}`)) this.#kick();
	}

	info(): PolicyResponse {
		const st = this.#state;
		const out: PolicyResponse = {
			enabled: true,
			pinRoot: this.#o.pinRoot,
			policies: (this.#compiled?.status ?? []).map((s) => ({ ...s })),
			identities: st ? new Set([...st.ips.values()].map((e) => e.identity)).size : 0,
			entries: { ips: st?.ips.size ?? 0, policy: st?.policy.size ?? 0 },
			syncs: this.#syncs,
		};
		if (this.#lastSync) out.lastSync = this.#lastSync;
		if (this.#lastError) out.lastError = this.#lastError;
		return out;
	}

	/** Resolves once a sync that starts after this call has finished. */
	sync(): Promise<void> {
		return this.#enqueue();
	}

	// ------------------------------------------------------------------ internals

	#kick(): void {
		if (!this.#started || this.#stopped || this.#timer) return;
		this.#timer = setTimeout(() => {
			this.#timer = undefined;
			void this.#enqueue();
		}, this.#o.debounceMs ?? 10);
	}

	#enqueue(): Promise<void> {
		const p = this.#running.then(() => this.#syncNow());
		this.#running = p.catch(() => {});
		return this.#running;
	}

	#input(): CompileInput {
		const node = this.#o.nodeName;
		const pods: PodInfo[] = [];
		const seen = new Set<string>();
		for (const p of this.#pods.list()) {
			const key = `${p.metadata?.namespace}/${p.metadata?.name}`;
			seen.add(key);
			const hint = p.spec?.nodeName === node ? this.#hints.get(key) : undefined;
			const info = podInfoOf(p, node, hint);
			if (info) pods.push(info);
		}
		// a pod allocated before the watch delivered it: a local pod with the daemon's addresses
		for (const [key, ips] of this.#hints) {
			if (seen.has(key)) continue;
			const [namespace, name] = key.split("/") as [string, string];
			pods.push({ namespace, name, labels: {}, ips, local: true, ports: [] });
		}
		const namespaces: NamespaceInfo[] = this.#namespaces
			.list()
			.filter((n) => n.metadata?.name)
			.map((n) => ({ name: n.metadata!.name!, labels: n.metadata?.labels ?? {} }));
		return { policies: this.#policies.list(), pods, namespaces, nodeIps: this.#o.nodeIps() };
	}

	#syncNow(): void {
		if (this.#stopped || !this.#state) return;
		const t0 = performance.now();
		let next: Compiled;
		try {
			next = compile(this.#input(), this.#compiled ?? this.#restored());
		} catch (e) {
			this.#lastError = `compile: ${(e as Error).message}`;
			this.#log.error({ err: e }, "policy compile failed; maps unchanged");
			return;
		}
		const d = diff(this.#state, next.state);
		if (!isEmpty(d)) {
			try {
				this.#o.maps.apply(d);
			} catch (e) {
				this.#lastError = `map write: ${(e as Error).message}`;
				this.#log.error({ err: e }, "policy map write failed; re-reading the maps, retrying");
				try {
					this.#state = this.#o.maps.readState();
				} catch {
					// keep the old view; the retry diffs against it
				}
				setTimeout(() => this.#kick(), 500);
				return;
			}
		}
		this.#state = next.state;
		this.#compiled = next;
		this.#syncs++;
		this.#lastSync = new Date().toISOString();
		this.#lastError = undefined;
		this.#saveIds(next);
		for (const w of next.warnings ?? []) this.#log.warn({}, w);
		if (!isEmpty(d))
			this.#log.info(
				{
					ips: `+${d.ips.set.length}/-${d.ips.del.length}`,
					policy: `+${d.policy.set.length}/-${d.policy.del.length}`,
					ms: Math.round((performance.now() - t0) * 10) / 10,
				},
				"policy maps updated",
			);
		this.#report(next.status);
	}

	/** The first compile after a start: the kept id assignments with what the maps hold. */
	#restored(): Compiled | undefined {
		if (!this.#prevIds || !this.#state) return undefined;
		return { state: this.#state, status: [], ...this.#prevIds };
	}

	#report(status: PolicyStatus[]): void {
		const { changed, record } = statusChanges(this.#reported, status);
		this.#reported = record;
		for (const s of changed) {
			const [namespace, name] = s.policy.split("/") as [string, string];
			const obj = this.#policies.get(`${namespace}/${name}`);
			const ref = obj ? policyRef(obj) : policyRef({ metadata: { namespace, name } });
			const reason = s.ok ? PolicyEventReason.Applied : PolicyEventReason.Error;
			const message = `node ${this.#o.nodeName}: ${s.message}`;
			if (!s.ok) this.#log.warn({ policy: s.policy }, s.message);
			void this.#o.events
				.event(ref, s.ok ? "Normal" : "Warning", reason, message)
				.catch((e) => this.#log.warn({ err: e, policy: s.policy }, "policy event failed"));
		}
	}

	#watchError(e: Error): void {
		if (!this.#stopped) this.#log.warn({ err: e }, "policy watch error (retrying)");
	}

	#sweep(): void {
		if (!this.#o.sweep || this.#stopped) return;
		try {
			const removed = this.#o.sweep();
			if (removed.length) this.#log.info({ removed }, "removed defunct TCX link pins");
		} catch (e) {
			this.#log.warn({ err: e }, "link pin sweep failed");
		}
	}

	#loadIds(): Pick<Compiled, "identities" | "rules"> | undefined {
		const f = this.#o.idsFile;
		if (!f || !existsSync(f)) return undefined;
		try {
			const ids = JSON.parse(readFileSync(f, "utf8")) as Ids;
			return { identities: new Map(ids.identities), rules: new Map(ids.rules) };
		} catch (e) {
			this.#log.warn({ err: e, file: f }, "policy id assignments unreadable; assigning afresh");
			return undefined;
		}
	}

	#saveIds(c: Compiled): void {
		const f = this.#o.idsFile;
		if (!f) return;
		const text = JSON.stringify({ identities: [...c.identities], rules: [...c.rules] } satisfies Ids);
		if (text === this.#idsWritten) return;
		try {
			writeFileSync(`${f}.tmp`, text, { mode: 0o600 });
			renameSync(`${f}.tmp`, f);
			this.#idsWritten = text;
		} catch (e) {
			this.#log.warn({ err: e, file: f }, "could not keep the policy id assignments");
		}
	}
}

/**
 * Load the policy programs under `pinRoot` (maps pinned by name and reused when already there,
 * programs pinned at `<pinRoot>/progs/`) and make the agent over their maps; PolicyOff with the
 * kernel's reason when they cannot be loaded (no BTF, no CAP_BPF, too old a kernel) or do not
 * pass a harmless frame in a test run.
 */
export function openPolicyAgent(
	o: Omit<PolicyAgentOptions, "maps" | "close" | "sweep">,
): PolicyAgent | PolicyOff {
	let prog: PolicyProgram;
	try {
		prog = PolicyProgram.load({ pinRoot: o.pinRoot });
	} catch (e) {
		return new PolicyOff(`the kernel cannot load the policy programs: ${(e as Error).message}`);
	}
	// an ARP frame must pass both programs untouched; a kernel that refuses test runs is no verdict
	let bad: string[] = [];
	try {
		bad = prog
			.selfTest()
			.filter((r) => !r.ok)
			.map((r) => `${r.program} returned ${r.retval}`);
	} catch {
		bad = [];
	}
	if (bad.length > 0) {
		prog.close();
		return new PolicyOff(`the policy programs failed their self-test (${bad.join(", ")})`);
	}
	return new PolicyAgent({
		...o,
		maps: prog.maps,
		close: () => prog.close(),
		sweep: () => sweepDefunctLinkPins(o.pinRoot),
	});
}

/**
 * Policy turned off by configuration while maps from an earlier run are still pinned: empty
 * them, so the programs still attached to running pods' veths enforce nothing (no endpoint is
 * isolated) instead of stale policies. Returns how many entries went; 0 when nothing is pinned.
 */
export function clearPinnedPolicy(pinRoot: string): number {
	if (!existsSync(`${pinRoot}/terway_ipid`)) return 0;
	const maps = PolicyMaps.openPinned(pinRoot);
	try {
		const empty: MapState = { ips: new Map(), policy: new Map(), idNames: new Map(), ruleNames: new Map() };
		const d = diff(maps.readState(), empty);
		maps.apply(d);
		return d.ips.del.length + d.policy.del.length;
	} finally {
		maps.close();
	}
}
