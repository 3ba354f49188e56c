/**
 * Which instance is asking. The real service knows the caller from the network; the sim has
 * three ways, one per way of serving:
 *
 * - netns mode: one listener at 100.100.100.200:80 in the VPC namespace; nodes reach it through
 *   the VPC router, so the source address is the node's primary ENI IP → `identifyBySourceIp`.
 * - loopback mode, one shared listener: the client names itself in the sim-only header
 *   `X-Sim-Instance-Id: i-…` → `identifyByHeader`. (A real client never sends it; tests and the
 *   loopback daemon add it.)
 * - loopback mode, one listener per node (world.json `nodes[].metadata`): the port is the
 *   identity → `identifyAs(instanceId)` for that listener's handler.
 */
import type { InstanceView, MetadataSource } from "../contracts.ts";

/** The connection's remote end, as `Bun.Server.requestIP(req)` gives it. */
export type Peer = { address: string };

export type Identify = (req: Request, peer: Peer, source: MetadataSource) => InstanceView | undefined;

/** The sim-only header naming the calling instance in loopback mode. */
export const SIM_INSTANCE_HEADER = "X-Sim-Instance-Id";

/** "::ffff:198.18.0.10" (an IPv4 peer on a dual-stack socket) → "198.18.0.10". */
export function plainIpv4(address: string): string {
	const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
	return m ? m[1]! : address;
}

/** netns mode: the instance whose primary ENI holds the peer's source address. */
export const identifyBySourceIp: Identify = (_req, peer, source) =>
	source.instanceByIp(plainIpv4(peer.address));

/** loopback mode (shared listener): the instance named by `X-Sim-Instance-Id`. */
export const identifyByHeader: Identify = (req, _peer, source) => {
	const id = req.headers.get(SIM_INSTANCE_HEADER)?.trim();
	return id ? source.instance(id) : undefined;
};

/** loopback mode (a listener per instance): always `instanceId`. */
export function identifyAs(instanceId: string): Identify {
	return (_req, _peer, source) => source.instance(instanceId);
}
