/**
 * @module cli/commands/diagnose/checks/mapping
 *
 * pod -> IP -> ENI across the layers. terwayd's `/v1/mapping` already cross-checks each IP of
 * its store with the cloud API, metadata and the ENI's node setup; this check names the layer
 * that disagrees and its fix. Then, per allocated pod, the host side of the pod's datapath (its
 * veth, the `/32` route, the `512 to` and `2048 from` rules, sysctls) is planned from the
 * allocation exactly as the CNI plugin plans it and compared with the kernel (CHECK's logic).
 */
import { checkPlan } from "../../../../core/datapath/check.ts";
import { formatOp } from "../../../../core/datapath/format.ts";
import { planFor } from "../../../../core/datapath/index.ts";
import type { Plan } from "../../../../core/datapath/types.ts";
import type { AllocResponse, MappingRow } from "../../../../daemon/api-types.ts";
import { errorLine } from "../../../errors.ts";
import type { Check, DiagnoseContext } from "../context.ts";
import { type Finding, finding, type Layer } from "../findings.ts";
import { nodeConflist } from "./config.ts";
import { skippedNoDaemon } from "./daemon.ts";

/** The layers a mapping row's checks say disagree, most telling first. */
export function disagreeing(row: MappingRow): Layer[] {
	const out: Layer[] = [];
	if (row.checks.cloud === false) out.push("cloud");
	if (row.checks.metadata === false) out.push("metadata");
	if (row.checks.kernel === false) out.push("kernel");
	if (row.checks.store === false) out.push("store");
	return out;
}

function podArgs(pod: string): string {
	const [ns, name] = pod.split("/");
	return `-n ${ns} ${name}`;
}

/** The fix for a mapping row whose first disagreeing layer is `layer`. */
export function mappingFix(row: MappingRow, layer: Layer, socket: string): string {
	const gc = `curl --unix-socket ${socket} -X POST http://terwayd/v1/gc`;
	switch (layer) {
		case "cloud":
			return row.pod
				? `${row.ip} was unassigned from ${row.eniId} (or the ENI detached) behind terwayd's back: the pod has no working IP; delete it so it gets a new one (kubectl delete pod ${podArgs(row.pod)}), then let GC forget the IP (${gc})`
				: `the store keeps an IP the cloud no longer has on ${row.eniId}: run GC (${gc})`;
		case "metadata":
			return `metadata does not list ${row.ip} on ${row.mac}: if it persists past a minute, check the ENI (terwayctl eni inspect ${row.eniId}) and restart terwayd to reconcile`;
		case "kernel":
			return `the node side of ${row.eniId} drifted: let terwayd repair it (${gc}) or restart terwayd`;
		case "store":
			return `the cloud has ${row.ip} on ${row.eniId} but terwayd's store does not: run GC (${gc}); if it stays, release it with terwayctl eni`;
		default:
			return `run GC (${gc})`;
	}
}

/** Findings of the daemon's mapping rows (one per row with problems). */
export function mappingFindings(rows: MappingRow[], socket: string): Finding[] {
	const out: Finding[] = [];
	for (const row of rows) {
		if (row.problems.length === 0) continue;
		const layers = disagreeing(row);
		const layer = layers[0] ?? "store";
		const held = row.pod
			? `${row.pod} -> ${row.ip} -> ${row.eniId}`
			: `${row.ip} -> ${row.eniId} (${row.state})`;
		out.push(
			finding({
				id: `mapping.${layer}`,
				layer,
				severity: row.pod ? "error" : "warn",
				subject: row.pod ?? row.ip,
				message: `${held}: ${row.problems.join("; ")}${layers.length ? ` [disagrees: ${layers.join(", ")}]` : ""}`,
				fix: mappingFix(row, layer, socket),
				details: { row },
			}),
		);
	}
	return out;
}

/** The host-side ops of a pod's plan (the pod namespace is not entered by diagnose). */
export function hostPlan(plan: Plan): Plan {
	return { ...plan, ops: plan.ops.filter((o) => o.side === "host") };
}

/**
 * Per-op drift of `plan` against what `observe` read: [message, the op that restores it, whether
 * it is an eBPF program attachment (the ebpf layer) rather than links/routes/rules (kernel)].
 */
export function podDrift(plan: Plan, observed: Parameters<typeof checkPlan>[1]): [string, string, boolean][] {
	const out: [string, string, boolean][] = [];
	for (const op of plan.ops) {
		for (const d of checkPlan({ ...plan, ops: [op] }, observed)) out.push([d, formatOp(op), op.op === "bpf"]);
	}
	return out;
}

/** The finding of one pod's drift in one layer. */
function driftFinding(
	pod: { pod: string; containerId: string; ips: string[] },
	alloc: AllocResponse,
	layer: "kernel" | "ebpf",
	drift: [string, string, boolean][],
): Finding {
	const restore = drift.map(([, op]) => op.replace(/^host: /, "")).join("; ");
	return finding({
		id: layer === "kernel" ? "kernel.pod-datapath" : "ebpf.attach",
		layer,
		severity: "error",
		subject: pod.pod,
		message: `${pod.ips.join(", ")} via ${alloc.eni.id} (${alloc.eni.link}, table ${alloc.routeTable}): ${drift.map(([d]) => d.replace(/^host: /, "")).join("; ")}`,
		fix: `re-run the pod's network setup: delete the pod so kubelet recreates it (kubectl delete pod ${podArgs(pod.pod)})${layer === "kernel" ? `, or restore by hand: ${restore}` : ` (it attaches: ${restore})`}`,
		details: { containerId: pod.containerId, drift: drift.map(([d, op]) => ({ drift: d, restore: op })) },
	});
}

/** The pods terwayd holds on this node: unique (pod, containerId) of allocated rows. */
export function allocatedPods(rows: MappingRow[]): { pod: string; containerId: string; ips: string[] }[] {
	const m = new Map<string, { pod: string; containerId: string; ips: string[] }>();
	for (const r of rows) {
		if (r.state !== "allocated" || !r.pod || !r.containerId) continue;
		const k = `${r.pod} ${r.containerId}`;
		const e = m.get(k) ?? { pod: r.pod, containerId: r.containerId, ips: [] };
		e.ips.push(r.ip);
		m.set(k, e);
	}
	return [...m.values()];
}

/** The plan the CNI plugin would make for this allocation (conflist mtu/veth prefix when readable). */
export function planOfAlloc(ctx: DiagnoseContext, containerId: string, alloc: AllocResponse): Plan {
	const c = nodeConflist(ctx);
	return planFor(alloc.datapath, {
		containerId,
		ifName: "eth0",
		alloc,
		mtu: c.ok ? c.terway.mtu : 1500,
		vethPrefix: c.ok ? c.terway.vethPrefix : "cali",
	});
}

async function podDatapathFindings(ctx: DiagnoseContext, rows: MappingRow[]): Promise<Finding[]> {
	const kernel = ctx.deps.kernel;
	const pods = allocatedPods(rows);
	if (!kernel)
		return [
			finding({
				id: "kernel.pod-datapath",
				layer: "kernel",
				severity: "info",
				subject: "",
				message: `skipped the host side of ${pods.length} pod(s): no netlink access (run as root on the node)`,
			}),
		];
	const out: Finding[] = [];
	let good = 0;
	for (const p of pods) {
		let alloc: AllocResponse;
		try {
			alloc = await ctx.pod(p.pod, p.containerId);
		} catch (e) {
			// released between the two reads: not a finding
			if (/404|NotFound/.test(errorLine(e))) continue;
			throw e;
		}
		const plan = hostPlan(planOfAlloc(ctx, p.containerId, alloc));
		const drift = podDrift(plan, { host: kernel.observeHost(plan), pod: undefined });
		if (drift.length === 0) {
			good++;
			continue;
		}
		const links = drift.filter(([, , bpf]) => !bpf);
		const progs = drift.filter(([, , bpf]) => bpf);
		if (links.length) out.push(driftFinding(p, alloc, "kernel", links));
		if (progs.length) out.push(driftFinding(p, alloc, "ebpf", progs));
	}
	if (good > 0 || pods.length === 0)
		out.push(
			finding({
				id: "kernel.pod-datapath",
				layer: "kernel",
				severity: "ok",
				subject: "",
				message: `${good} of ${pods.length} pod(s): veth, routes, rules and sysctls on the node as planned`,
			}),
		);
	return out;
}

export const mappingCheck: Check = {
	id: "mapping",
	title: "pod -> IP -> ENI across store, cloud, metadata and kernel",
	async run(ctx: DiagnoseContext): Promise<Finding[]> {
		if (!(await ctx.daemonUp())) return [skippedNoDaemon("mapping", "store", "the mapping check")];
		const rows = await ctx.mapping();
		const out = mappingFindings(rows, ctx.deps.socket);
		const enis = new Set(rows.map((r) => r.eniId));
		if (out.length === 0)
			out.push(
				finding({
					id: "mapping",
					layer: "store",
					severity: "ok",
					subject: "",
					message: `${rows.length} IP(s) on ${enis.size} ENI(s) agree across store, cloud, metadata and the ENIs' node setup`,
				}),
			);
		out.push(...(await podDatapathFindings(ctx, rows)));
		return out;
	},
};
