/**
 * Pure pod facts for the kubelet stand-in: what containerd derives from a pod before it calls
 * CNI (sandbox ID, CNI_ARGS, capability args), which pod IPs a CNI result yields, and the
 * status kubelet writes when the pod runs. No I/O.
 */
import { createHash } from "node:crypto";
import type { V1Pod, V1PodCondition } from "@kubernetes/client-node";
import { parseBandwidth } from "../../core/net/bandwidth.ts";
import type { CniResult } from "./cni-exec.ts";

/**
 * The pod's sandbox ("pause container") ID: 64 hex like containerd's, derived from the pod UID
 * so that a restarted kubelet finds its cached CNI results again.
 */
export function sandboxIdFor(podUid: string): string {
	return createHash("sha256").update(`terwayctl-sim-sandbox:${podUid}`).digest("hex");
}

/** CNI_ARGS as the CRI plugin of containerd passes them. */
export function cniArgsFor(pod: V1Pod, sandboxId: string): [string, string][] {
	return [
		["IgnoreUnknown", "1"],
		["K8S_POD_NAMESPACE", pod.metadata?.namespace ?? "default"],
		["K8S_POD_NAME", pod.metadata?.name ?? ""],
		["K8S_POD_INFRA_CONTAINER_ID", sandboxId],
		["K8S_POD_UID", pod.metadata?.uid ?? ""],
	];
}

/**
 * The capability args containerd offers (libcni keeps only those a plugin declares):
 * `portMappings` from container ports with a hostPort, `bandwidth` from the
 * kubernetes.io/ingress-bandwidth and egress-bandwidth annotations (bits/s; containerd sets the
 * burst to MaxUint32), and `io.kubernetes.cri.pod-annotations`. A bad bandwidth annotation throws
 * (kubelet refuses such a pod too).
 */
export function capabilityArgsFor(pod: V1Pod): Record<string, unknown> {
	const caps: Record<string, unknown> = {};
	const portMappings = [];
	for (const c of pod.spec?.containers ?? []) {
		for (const p of c.ports ?? []) {
			if (!p.hostPort) continue;
			portMappings.push({
				hostPort: p.hostPort,
				containerPort: p.containerPort,
				protocol: (p.protocol ?? "TCP").toLowerCase(),
				...(p.hostIP ? { hostIP: p.hostIP } : {}),
			});
		}
	}
	caps.portMappings = portMappings;
	const ann = pod.metadata?.annotations ?? {};
	const ingress = ann["kubernetes.io/ingress-bandwidth"];
	const egress = ann["kubernetes.io/egress-bandwidth"];
	if (ingress !== undefined || egress !== undefined) {
		const bw: Record<string, number> = {};
		if (ingress !== undefined) {
			bw.ingressRate = parseBandwidth(ingress);
			bw.ingressBurst = 0xffffffff;
		}
		if (egress !== undefined) {
			bw.egressRate = parseBandwidth(egress);
			bw.egressBurst = 0xffffffff;
		}
		caps.bandwidth = bw;
	}
	caps["io.kubernetes.cri.pod-annotations"] = { ...ann };
	return caps;
}

/**
 * Pod IPs from a CNI result: the addresses on the sandbox interface `ifName` (or with no
 * interface index), without prefix length, IPv4 first (containerd makes the first IPv4 the
 * primary pod IP). 0.1/0.2 results (`ip4`/`ip6`) are read too.
 */
export function podIpsFromResult(result: CniResult, ifName = "eth0"): string[] {
	const out: string[] = [];
	const ifaces = result.interfaces ?? [];
	for (const ip of result.ips ?? []) {
		const iface = ip.interface === undefined ? undefined : ifaces[ip.interface];
		if (iface && iface.name !== ifName) continue;
		out.push(ip.address.split("/")[0] ?? ip.address);
	}
	if (result.ip4?.ip) out.push(result.ip4.ip.split("/")[0] ?? "");
	if (result.ip6?.ip) out.push(result.ip6.ip.split("/")[0] ?? "");
	const unique = [...new Set(out.filter((s) => s !== ""))];
	return [...unique.filter((s) => !s.includes(":")), ...unique.filter((s) => s.includes(":"))];
}

/** True once the pod is being deleted or has finished: its sandbox should go. */
export function isTerminating(pod: V1Pod): boolean {
	return (
		pod.metadata?.deletionTimestamp !== undefined ||
		pod.status?.phase === "Succeeded" ||
		pod.status?.phase === "Failed"
	);
}

/**
 * The merge patch of `pods/<p>/status` that marks the pod Running and Ready with its IPs
 * (kubelet's status manager writes the same fields). Lists are replaced wholesale by a merge
 * patch, which is what we want for conditions and containerStatuses here.
 */
export function runningStatusPatch(
	pod: V1Pod,
	o: { podIPs: string[]; hostIP?: string; sandboxId: string; now: Date },
): { status: Record<string, unknown> } {
	const t = o.now.toISOString().replace(/\.\d{3}Z$/, "Z");
	const cond = (type: string): V1PodCondition =>
		({ type, status: "True", lastProbeTime: null, lastTransitionTime: t }) as unknown as V1PodCondition;
	const status: Record<string, unknown> = {
		phase: "Running",
		conditions: [
			cond("PodReadyToStartContainers"),
			cond("Initialized"),
			cond("Ready"),
			cond("ContainersReady"),
			cond("PodScheduled"),
		],
		startTime: pod.status?.startTime ?? t,
		containerStatuses: (pod.spec?.containers ?? []).map((c, i) => ({
			name: c.name,
			image: c.image ?? "",
			imageID: "",
			containerID: `containerd://${o.sandboxId.slice(0, 56)}${String(i).padStart(8, "0")}`,
			ready: true,
			started: true,
			restartCount: 0,
			state: { running: { startedAt: t } },
		})),
	};
	if (o.podIPs.length > 0) {
		status.podIP = o.podIPs[0];
		status.podIPs = o.podIPs.map((ip) => ({ ip }));
	}
	if (o.hostIP) {
		status.hostIP = o.hostIP;
		status.hostIPs = [{ ip: o.hostIP }];
	}
	return { status };
}
