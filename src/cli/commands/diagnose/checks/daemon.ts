/**
 * @module cli/commands/diagnose/checks/daemon
 *
 * terwayd itself: reachable on its socket and ready (`/v1/status`), and its IP pool within the
 * eni-config watermarks (idle vs min/max_pool_size, the reason allocation is paused).
 */
import type { StatusResponse } from "../../../../daemon/api-types.ts";
import { errorLine } from "../../../errors.ts";
import type { Check, DiagnoseContext } from "../context.ts";
import { type Finding, finding } from "../findings.ts";

/** The daemon-down finding every daemon-backed check can point at. */
export function skippedNoDaemon(id: string, layer: Finding["layer"], what: string): Finding {
	return finding({
		id,
		layer,
		severity: "info",
		subject: "",
		message: `skipped ${what}: terwayd is not reachable (see daemon.reachable)`,
	});
}

export const daemonCheck: Check = {
	id: "daemon",
	title: "terwayd reachable and ready",
	async run(ctx: DiagnoseContext): Promise<Finding[]> {
		const socket = ctx.deps.socket;
		let st: Awaited<ReturnType<DiagnoseContext["status"]>>;
		try {
			st = await ctx.status();
		} catch (e) {
			const msg = errorLine(e).replace(/; start it with .*$/, "");
			return [
				finding({
					id: "daemon.reachable",
					layer: "daemon",
					severity: "error",
					subject: socket,
					message: msg,
					fix: "start terwayd: `terwayctl daemon --config <file>` on the node (in a cluster: the terway DaemonSet pod, `kubectl -n kube-system logs ds/terway`); pass --socket if it listens elsewhere",
				}),
			];
		}
		const out: Finding[] = [
			finding({
				id: "daemon.reachable",
				layer: "daemon",
				severity: "ok",
				subject: socket,
				message: `terwayd ${st.version} on node ${st.node} (${st.instanceId}, ${st.instanceType}, ${st.mode} ENI) answers, up ${st.uptimeSeconds}s`,
				details: { status: st },
			}),
		];
		out.push(
			st.ready
				? finding({
						id: "daemon.ready",
						layer: "daemon",
						severity: "ok",
						subject: st.node,
						message: `phase ${st.phase}`,
					})
				: finding({
						id: "daemon.ready",
						layer: "daemon",
						severity: st.phase === "draining" ? "error" : "warn",
						subject: st.node,
						message: `terwayd is ${st.phase}, not serving pods yet`,
						fix:
							st.phase === "draining"
								? "terwayd is shutting down: make sure it is restarted (DaemonSet) or start it again"
								: "wait for start-up (reconcile, warm-up); if it stays there, read terwayd's log for the cloud or metadata call it waits on",
					}),
		);
		if (st.kubernetes === "disconnected")
			out.push(
				finding({
					id: "daemon.kubernetes",
					layer: "daemon",
					severity: "warn",
					subject: st.node,
					message: "terwayd lost its connection to the Kubernetes API (pod GC and annotations wait)",
					fix: "check the apiserver and terwayd's kubeconfig / ServiceAccount (kubectl auth can-i --as=system:serviceaccount:kube-system:terway list pods)",
				}),
			);
		return out;
	},
};

function inhibitFix(reason: string): string {
	if (/IpNotEnough|vswitch/i.test(reason))
		return "the vSwitch has no free IPs: add vSwitches with free addresses to eni_conf.vswitches for this zone, or free IPs in it";
	if (/quota/i.test(reason)) return "raise the private-IP quota of the account, or lower max_pool_size";
	if (/limit/i.test(reason))
		return "the instance type's ENI/IP limit is reached: move pods to other nodes or use a larger instance type";
	return "read terwayd's log for the cloud error; allocation resumes by itself after the pause";
}

/** The pool.watermarks finding: idle against min/max_pool_size (no shared pool in exclusive ENI mode). */
function watermarkFinding(st: StatusResponse): Finding {
	const p = st.pool;
	const watermarks = (f: Pick<Finding, "severity" | "message" | "details"> & { fix?: string }): Finding =>
		finding({ id: "pool.watermarks", layer: "daemon", subject: st.node, ...f });
	if (st.mode === "exclusive")
		return watermarks({
			severity: "info",
			message: `exclusive ENI mode: no shared IP pool (${p.enis} ENI(s))`,
		});
	const facts = `idle ${p.idle}, allocated ${p.allocated}, capacity ${p.capacity}, ${p.enis} ENI(s); min_pool_size ${p.min}, max_pool_size ${p.max}`;
	const details = { pool: p };
	if (p.idle < p.min && p.idle + p.allocated < p.capacity)
		return watermarks({
			severity: "warn",
			message: `pool below min_pool_size: ${facts}`,
			fix: st.inhibit
				? inhibitFix(st.inhibit.reason)
				: "terwayd refills the pool in the background; if it stays below, read terwayd's log for failing AssignPrivateIpAddresses/CreateNetworkInterface calls",
			details,
		});
	if (p.idle > p.max)
		return watermarks({
			severity: "warn",
			message: `pool above max_pool_size: ${facts}`,
			fix: "terwayd releases surplus idle IPs on its next pool sync; if it stays above, read terwayd's log for failing UnassignPrivateIpAddresses calls",
			details,
		});
	return watermarks({
		severity: "ok",
		message: p.idle < p.min ? `pool at capacity: ${facts}` : `pool within watermarks: ${facts}`,
		details,
	});
}

export const poolCheck: Check = {
	id: "pool",
	title: "IP pool within watermarks",
	async run(ctx: DiagnoseContext): Promise<Finding[]> {
		if (!(await ctx.daemonUp())) return [skippedNoDaemon("pool.watermarks", "daemon", "the pool check")];
		const st = await ctx.status();
		const out: Finding[] = [];
		if (st.inhibit)
			out.push(
				finding({
					id: "pool.inhibit",
					layer: "daemon",
					severity: "warn",
					subject: st.node,
					message: `allocation is paused: ${st.inhibit.reason} (until ${st.inhibit.until})`,
					fix: inhibitFix(st.inhibit.reason),
					details: { inhibit: st.inhibit },
				}),
			);
		out.push(watermarkFinding(st));
		return out;
	},
};
