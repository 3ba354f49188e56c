/**
 * HTTP listeners inside a network namespace: the metadata service at 100.100.100.200:80, the
 * OpenAPI and the apiserver on the VPC namespace's lo (NETNS_ENDPOINTS).
 *
 * Bun.serve creates and binds its socket synchronously, so calling it inside `ns.run` (the JS
 * thread is in the namespace only for that call) leaves a listener that belongs to the
 * namespace; the accept loop then runs normally. The server's `requestIP(req)` is the peer's
 * address as the VPC sees it, which is how the metadata service tells nodes apart.
 *
 * Caution: do not call Bun.spawnSync while such a server must answer a request from the child
 * (the event loop is blocked, so the child waits forever); use Bun.spawn.
 */
import type { Netns } from "../../linux/netns.ts";

/** The options Bun.serve takes (fetch handler, hostname, port, ...). */
export type ServeOptions = Parameters<typeof Bun.serve>[0];

/**
 * Start `Bun.serve(options)` bound inside `ns`. The caller owns the server (`server.stop()`).
 * @example
 * const md = serveIn(vpc.vpcNetns, { hostname: "100.100.100.200", port: 80,
 *   fetch: (req, srv) => new Response(srv.requestIP(req)?.address) });
 */
export function serveIn(ns: Netns, options: ServeOptions): ReturnType<typeof Bun.serve> {
	return ns.run(() => Bun.serve(options));
}
