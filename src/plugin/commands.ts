/**
 * ADD, DEL, CHECK, STATUS and GC on top of a daemon port: ask terwayd for the allocation, plan
 * the datapath (pure), apply it through src/linux/apply.ts, answer the CNI result. The port is
 * an interface so this file does not depend on the daemon client (the wiring pass implements
 * it over the local API, src/daemon/api-types.ts); tests pass a literal allocation.
 *
 * ADD: allocate (idempotent per container) -> plan -> apply; a failure rolls the datapath back
 *   (apply.ts) and releases the allocation, then rethrows for main.ts to classify.
 * DEL: idempotent; the plan comes from the daemon's record, or, when it has none or cannot be
 *   asked, from the container id plus the pod's addresses as prevResult and the node give them
 *   (the host veth's /32 and /128 routes, else its pod peer's addresses: core/datapath/
 *   leftovers.ts), so the pod's policy rules go too; a missing or empty netns only skips the pod side.
 * CHECK: the daemon's record -> plan -> observe -> drift list (DriftError when any), plus
 *   prevResult's addresses must be the allocation's.
 * GC: terwayd releases the allocations of attachments not listed; then the node's leftovers of
 *   unlisted attachments go (our veths by name, the rules of addresses no listed attachment
 *   holds; leftovers.ts gcPlan); a daemon failure is reported after the node is cleaned.
 */
import { existsSync } from "node:fs";
import { CNI_CODES, CniError } from "../core/cni/errors.ts";
import type { Attachment, Result } from "../core/cni/types.ts";
import {
	type AllocInfo,
	checkPlan,
	type DatapathInput,
	gcPlan,
	hostVethName,
	mergeBandwidth,
	type Plan,
	planFor,
	recoverPodIps,
	resultFor,
	teardownPlanFromResult,
	V2_OUT_PROGRAM,
} from "../core/datapath/index.ts";
import { applyPlan, observe, readHostView, readPodView, teardown } from "../linux/apply.ts";
import { PinLayout } from "../linux/bpf/bpffs.ts";
import { isNotFoundError } from "../linux/errors.ts";
import { Netlink } from "../linux/netlink/handle.ts";
import { Netns } from "../linux/netns.ts";
import { DaemonUnavailableError, DriftError } from "./errors.ts";
import type { PendingRelease } from "./release-journal.ts";
import type { CmdArgs, CniHandlers, GcArgs, StatusArgs } from "./skel.ts";

export type PodRef = { namespace: string; name: string; uid?: string };

/** What the daemon answers for a container (AllocResponse, structurally). */
export type Allocation = AllocInfo & {
	datapath: "veth" | "datapathv2" | "exclusive";
	bandwidth?: { ingressBps?: number; egressBps?: number };
	/** True when the allocation already existed (a repeated ADD). */
	existing?: boolean;
};

/** terwayd as the plugin needs it. Failures: DaemonUnavailableError / DaemonApiError. */
export interface DaemonPort {
	allocate(req: { pod: PodRef; containerId: string; netns: string; ifname: string }): Promise<Allocation>;
	/** The stored allocation of this container, or undefined when there is none. */
	lookup(req: { pod: PodRef; containerId: string }): Promise<Allocation | undefined>;
	/** Idempotent: releasing an unknown container is fine. */
	release(req: { pod: PodRef; containerId: string; reason: string }): Promise<void>;
	/** Resolves when the daemon can serve ADD. */
	status(): Promise<void>;
	/**
	 * Release allocations of attachments not in `valid`; answers the addresses allocated to the
	 * valid ones (GC keeps their rules on the node).
	 */
	gc(valid: Attachment[]): Promise<{ heldIps: string[] }>;
}

export type NodeIps = { ipv4?: string; ipv6?: string };

export type CommandDeps = {
	daemon: DaemonPort;
	/**
	 * The node's own addresses (exclusive ENI routes them through the host peer). A function is
	 * called only for exclusive-ENI plans (the veth datapath does not need them).
	 */
	nodeIps?: NodeIps | (() => NodeIps);
	/** The namespace the plugin runs in (default: the current one). */
	hostNetns?: () => Netns;
	/**
	 * Durably record a release terwayd could not take (DEL with the daemon unreachable); the
	 * daemon applies it when it starts (release-journal.ts). Without it such a DEL fails with 11.
	 */
	journal?: (r: PendingRelease) => void;
};

/**
 * The node's addresses as the host namespace has them: the first global IPv4 and IPv6 address
 * not on a pod-facing veth (the daemon gives ENI links the node primary IP too, so any global
 * one is the node's). Used only for exclusive-ENI plans.
 */
export function hostNodeIps(vethPrefix = "cali"): NodeIps {
	using nl = Netlink.current();
	const out: NodeIps = {};
	for (const a of nl.addrList()) {
		if (a.scope !== "global" || a.link === "lo" || a.link.startsWith(vethPrefix)) continue;
		if (a.family === 4) out.ipv4 ??= a.ip;
		else out.ipv6 ??= a.ip;
	}
	return out;
}

function podOf(a: CmdArgs, required: boolean): PodRef {
	const { podNamespace, podName, podUid } = a.args;
	if (podNamespace && podName)
		return podUid
			? { namespace: podNamespace, name: podName, uid: podUid }
			: { namespace: podNamespace, name: podName };
	if (required) {
		throw new CniError(
			CNI_CODES.InvalidEnvironmentVariables,
			"CNI_ARGS must carry K8S_POD_NAMESPACE and K8S_POD_NAME",
			`CNI_ARGS=${Object.entries(a.args.raw)
				.map(([k, v]) => `${k}=${v}`)
				.join(";")}`,
		);
	}
	return { namespace: podNamespace ?? "", name: podName ?? "" };
}

/** Open CNI_NETNS: ADD/CHECK need it (code 8 when it is not a netns); DEL tolerates its absence. */
function openPodNetns(path: string, required: boolean): Netns | undefined {
	if (path === "") return undefined;
	try {
		return Netns.openPath(path);
	} catch (e) {
		if (!required && isNotFoundError(e)) return undefined;
		if (!required && e instanceof Error && /does not exist/.test(e.message)) return undefined;
		throw new CniError(CNI_CODES.InvalidNetNS, `CNI_NETNS ${path}: ${(e as Error).message}`, "", {
			cause: e,
		});
	}
}

function inputFor(a: CmdArgs, alloc: Allocation, deps: CommandDeps): DatapathInput {
	const t = a.conf.terway;
	const input: DatapathInput = {
		containerId: a.containerId,
		ifName: a.ifName,
		alloc,
		mtu: t.mtu,
		vethPrefix: t.vethPrefix,
		hostStackCidrs: t.hostStackCidrs,
		disableHostPeer: t.disableHostPeer,
	};
	if (deps.nodeIps && alloc.datapath === "exclusive")
		input.nodeIps = typeof deps.nodeIps === "function" ? deps.nodeIps() : deps.nodeIps;
	const bw = mergeBandwidth(alloc.bandwidth, a.conf.net.runtimeConfig?.bandwidth);
	if (bw) input.bandwidth = bw;
	return input;
}

/**
 * The plan for this allocation. datapathv2 needs terwayd's pinned programs: when they are gone
 * from the pin root (terwayd restarting, pins removed) an ADD plans `veth` and logs it (the pod
 * works, unaccelerated). CHECK and DEL keep the datapathv2 plan: CHECK then reports the missing
 * program, DEL removes the program's link pin with the pod.
 */
function planOf(
	a: CmdArgs,
	alloc: Allocation,
	deps: CommandDeps,
	purpose: "add" | "check" | "del",
): { plan: Plan; input: DatapathInput } {
	let eff: Allocation = alloc;
	const v2 = alloc.datapath === "datapathv2" ? alloc.datapathv2 : undefined;
	const v2Missing = v2 && purpose === "add" && !existsSync(new PinLayout(v2.pinRoot).program(V2_OUT_PROGRAM));
	if (v2Missing) {
		const { datapathv2: _gone, ...rest } = alloc;
		eff = rest;
	}
	const input = inputFor(a, eff, deps);
	const plan = planFor(eff.datapath, input);
	if (v2Missing)
		plan.notes.splice(
			0,
			plan.notes.length,
			`datapathv2: ${V2_OUT_PROGRAM} is not pinned under ${v2.pinRoot} (terwayd restarting?): using the veth datapath`,
		);
	const vt = a.conf.terway.eniipVirtualType;
	if (vt === "ipvlan" && plan.datapath === "datapathv2")
		plan.notes.push(
			"eniip_virtual_type ipvlan: migrated to datapathv2 (eBPF-accelerated veth), as Terway does",
		);
	else if (vt === "ipvlan" && alloc.datapath !== "exclusive")
		plan.notes.push("eniip_virtual_type ipvlan: this kernel has no ipvlan; using the veth datapath");
	for (const n of plan.notes) a.log.info({ datapath: plan.datapath }, n);
	return { plan, input };
}

export function makeHandlers(deps: CommandDeps): CniHandlers {
	const hostNs = deps.hostNetns ?? (() => Netns.current());

	return {
		async add(a: CmdArgs): Promise<Result> {
			const pod = podOf(a, true);
			using podNs = openPodNetns(a.netns, true) as Netns;
			const alloc = await deps.daemon.allocate({
				pod,
				containerId: a.containerId,
				netns: a.netns,
				ifname: a.ifName,
			});
			const { plan, input } = planOf(a, alloc, deps, "add");
			using host = hostNs();
			try {
				const rep = applyPlan(plan, { host, pod: podNs });
				a.log.debug(
					{ changed: rep.outcomes.filter((o) => o.changed).length, ops: plan.ops.length },
					"datapath applied",
				);
				const observed: { netns: string; podMac?: string; hostMac?: string } = { netns: a.netns };
				if (rep.podMac) observed.podMac = rep.podMac;
				if (rep.hostMac) observed.hostMac = rep.hostMac;
				return resultFor(plan, input, observed);
			} catch (e) {
				try {
					await deps.daemon.release({
						pod,
						containerId: a.containerId,
						reason: `roll back: ${(e as Error).message}`,
					});
				} catch (re) {
					a.log.warn(
						{ err: re },
						"releasing the allocation after a failed ADD failed; daemon GC will reclaim it",
					);
				}
				throw e;
			}
		},

		async del(a: CmdArgs): Promise<void> {
			const pod = podOf(a, false);
			let alloc: Allocation | undefined;
			let unreachable: DaemonUnavailableError | undefined;
			try {
				alloc = pod.name ? await deps.daemon.lookup({ pod, containerId: a.containerId }) : undefined;
			} catch (e) {
				if (!(e instanceof DaemonUnavailableError)) throw e;
				unreachable = e;
				a.log.warn({ err: e }, "terwayd unreachable: tearing down from the container id and prevResult");
			}
			using podNs = openPodNetns(a.netns, false);
			using host = hostNs();
			let plan: Plan;
			if (alloc) plan = planOf(a, alloc, deps, "del").plan;
			else {
				// no record to plan from: the pod's addresses as the node still shows them, so the
				// policy rules of those addresses go with the veth even without prevResult
				const prefix = a.conf.terway.vethPrefix;
				const recovered = recoverPodIps(
					hostVethName(a.containerId, a.ifName, prefix),
					a.ifName,
					readHostView(host),
					podNs ? readPodView(podNs, a.ifName) : undefined,
				);
				plan = teardownPlanFromResult(a.containerId, a.ifName, a.conf.net.prevResult, prefix, recovered);
				a.log.info({ recovered, note: plan.notes[0] }, "no allocation record: teardown by container id");
			}
			const { removed } = teardown(plan, { host, pod: podNs });
			a.log.debug({ removed }, "datapath removed");
			if (!pod.name) return;
			const reason = "normal release";
			if (!unreachable) {
				try {
					await deps.daemon.release({ pod, containerId: a.containerId, reason });
					return;
				} catch (e) {
					if (!(e instanceof DaemonUnavailableError)) throw e;
					unreachable = e;
				}
			}
			// DEL never blocks pod deletion on the daemon: journal the release, terwayd applies it later
			if (!deps.journal) throw unreachable;
			deps.journal({ pod, containerId: a.containerId, reason, time: new Date().toISOString() });
			a.log.warn({ err: unreachable }, "terwayd unreachable: release journaled for the daemon to apply");
		},

		async check(a: CmdArgs): Promise<void> {
			const pod = podOf(a, true);
			const alloc = await deps.daemon.lookup({ pod, containerId: a.containerId });
			if (!alloc) throw new DriftError(["terwayd has no allocation for this container"]);
			const { plan, input } = planOf(a, alloc, deps, "check");
			const drifts: string[] = [];
			const want = resultFor(plan, input, { netns: a.netns }).ips?.map((i) => i.address) ?? [];
			for (const ip of a.conf.net.prevResult?.ips ?? []) {
				if (!want.includes(ip.address))
					drifts.push(`prevResult address ${ip.address} is not the allocation's (${want.join(", ")})`);
			}
			using podNs = openPodNetns(a.netns, true) as Netns;
			using host = hostNs();
			drifts.push(...checkPlan(plan, observe(plan, { host, pod: podNs })));
			if (drifts.length > 0) throw new DriftError(drifts);
		},

		async status(_a: StatusArgs): Promise<void> {
			await deps.daemon.status();
		},

		async gc(a: GcArgs): Promise<void> {
			// spec: GC keeps cleaning after an error, then reports it
			let daemonError: unknown;
			let heldIps: string[] = [];
			try {
				heldIps = (await deps.daemon.gc(a.validAttachments)).heldIps;
			} catch (e) {
				daemonError = e;
				a.log.warn({ err: e }, "GC: terwayd did not release; cleaning the node's leftovers anyway");
			}
			using host = hostNs();
			const plan = gcPlan(a.validAttachments, readHostView(host), {
				vethPrefix: a.conf.terway.vethPrefix,
				heldIps,
			});
			if (plan.ops.length > 0) {
				const { removed } = teardown(plan, { host });
				a.log.info({ links: plan.links, ips: plan.ips, removed }, "GC removed host-side leftovers");
			}
			if (daemonError !== undefined) throw daemonError;
		},
	};
}
