/**
 * Pod bandwidth -> tbf parameters, as Terway's pkg/tc (terway-features §2.12): rate in bits/s,
 * burst = max(rate/1000 bytes, MTU + 1500) unless a burst is given, limit = 25 ms of queue at
 * the rate plus the burst (tc's "latency 25ms"). Pure.
 *
 * Where shaping goes on this kernel (no ifb, no fq): ingress to the pod is a tbf on the host
 * veth's egress; egress from the pod is a tbf on the pod link's egress, inside the pod
 * namespace (Terway does the same; a pod with CAP_NET_ADMIN could remove it, which is also true
 * of Terway). Exclusive ENI: egress only (on the ENI inside the pod); ingress is not supported
 * there (Terway docs/qos.md).
 */
import type { BandwidthEntry } from "../cni/types.ts";
import type { Bandwidth } from "./types.ts";

/** tc's "latency" for pod shaping. */
export const TBF_LATENCY_MS = 25;

/** tbf parameters for a rate (bits/s), optional burst (bits) and the link MTU. */
export function tbfParams(rateBps: number, burstBits: number | undefined, mtu: number) {
	const rateBytes = Math.floor(rateBps / 8);
	const computed = Math.max(Math.floor(rateBytes / 1000), mtu + 1500);
	const burst = burstBits ? Math.max(Math.ceil(burstBits / 8), mtu) : computed;
	return { rate: rateBps, burst, latencyMs: TBF_LATENCY_MS };
}

/**
 * The pod's limits: the daemon's (from the kubernetes.io/*-bandwidth annotations), overridden
 * per direction by the runtime's `runtimeConfig.bandwidth` (Terway: runtimeConfig wins). A rate
 * of 0 means no limit.
 */
export function mergeBandwidth(
	fromDaemon: { ingressBps?: number; egressBps?: number } | undefined,
	fromRuntime: BandwidthEntry | undefined,
): Bandwidth | undefined {
	const out: Bandwidth = {};
	const ingress = fromRuntime?.ingressRate || fromDaemon?.ingressBps;
	const egress = fromRuntime?.egressRate || fromDaemon?.egressBps;
	if (ingress) out.ingressBps = ingress;
	if (egress) out.egressBps = egress;
	if (fromRuntime?.ingressRate && fromRuntime.ingressBurst) out.ingressBurstBits = fromRuntime.ingressBurst;
	if (fromRuntime?.egressRate && fromRuntime.egressBurst) out.egressBurstBits = fromRuntime.egressBurst;
	return Object.keys(out).length > 0 ? out : undefined;
}
