/**
 * @module cli/commands/diagnose/checks/leaks
 *
 * Leaked or orphaned resources: terwayd's own GC candidates (`GET /v1/gc`: allocations of gone
 * pods, our ENIs nobody holds, IPs gone from the cloud), ENIs tagged `creator=terway` attached to
 * this instance that terwayd does not know, and on the node veths/rules of the planners' shapes
 * that no allocation holds (core/datapath/leftovers gcPlan: exactly what CNI GC would remove).
 */
import { gcPlan } from "../../../../core/datapath/leftovers.ts";
import type { MappingRow } from "../../../../daemon/api-types.ts";
import { errorLine } from "../../../errors.ts";
import { TAG_CREATOR, TAG_CREATOR_VALUE } from "../../eni/merge.ts";
import type { Check, DiagnoseContext } from "../context.ts";
import { type Finding, finding } from "../findings.ts";
import { nodeConflist } from "./config.ts";
import { skippedNoDaemon } from "./daemon.ts";
import { allocatedPods } from "./mapping.ts";

/** A leak warning: what is left over (`subject`), why it is, and how it goes away. */
function leaked(id: string, subject: string, message: string, fix: string): Finding {
	return finding({ id, layer: "leak", severity: "warn", subject, message, fix });
}

function gcFix(socket: string): string {
	return `terwayd's GC removes it on its next pass (every 5 min); now: curl --unix-socket ${socket} -X POST http://terwayd/v1/gc`;
}

/** Host leftovers: veths and 512/2048 rules no allocation of `rows` holds. */
export function hostLeftoverFindings(
	host: Parameters<typeof gcPlan>[1],
	rows: MappingRow[],
	vethPrefix: string,
): Finding[] {
	const pods = allocatedPods(rows);
	const held = rows.filter((r) => r.state === "allocated").map((r) => r.ip);
	const plan = gcPlan(
		pods.map((p) => ({ containerID: p.containerId, ifname: "eth0" })),
		host,
		{ vethPrefix, heldIps: held },
	);
	const out: Finding[] = [];
	for (const link of plan.links)
		out.push(
			leaked(
				"leak.veth",
				link,
				`host veth ${link} belongs to no allocation terwayd holds`,
				`the runtime's CNI GC (or DEL) removes it; by hand: ip link del ${link}`,
			),
		);
	for (const op of plan.ops) {
		if (op.op !== "rule") continue;
		const sel = op.from ? `from ${op.from}` : `to ${op.to}`;
		out.push(
			leaked(
				"leak.rule",
				op.from ?? op.to ?? "",
				`rule ${op.priority} ${sel} lookup ${op.table === 254 ? "main" : op.table} is for an address no allocation holds`,
				`the runtime's CNI GC removes it; by hand: ip -${op.family} rule del prio ${op.priority} ${sel}`,
			),
		);
	}
	return out;
}

export const leaksCheck: Check = {
	id: "leaks",
	title: "leaked or orphaned ENIs, IPs, veths and rules",
	async run(ctx: DiagnoseContext): Promise<Finding[]> {
		if (!(await ctx.daemonUp())) return [skippedNoDaemon("leak", "leak", "the leak check")];
		const socket = ctx.deps.socket;
		const out: Finding[] = [];
		const gc = await ctx.gc();
		for (const a of gc.allocations)
			out.push(
				leaked(
					"leak.allocation",
					a.pod,
					`allocation of ${a.pod} (container ${a.containerId.slice(0, 12)}) is a GC candidate: ${a.reason}`,
					gcFix(socket),
				),
			);
		for (const e of gc.enis)
			out.push(leaked("leak.eni", e.eniId, `ENI ${e.eniId} is a GC candidate: ${e.reason}`, gcFix(socket)));
		for (const ip of gc.ips)
			out.push(
				leaked(
					"leak.ip",
					ip.ip,
					`${ip.ip}${ip.eniId ? ` on ${ip.eniId}` : ""} is a GC candidate: ${ip.reason}`,
					gcFix(socket),
				),
			);
		// our tagged ENIs on this instance that terwayd does not hold
		try {
			const st = await ctx.status();
			const cloud = await ctx.cloud();
			const known = new Set((await ctx.enis()).map((e) => e.id));
			const tagged = await cloud.ecs.describeEnis(
				{ instanceId: st.instanceId, tags: { [TAG_CREATOR]: TAG_CREATOR_VALUE } },
				{ signal: ctx.signal() },
			);
			for (const e of tagged) {
				if (known.has(e.eniId) || e.type === "Primary") continue;
				if (e.status !== "InUse") continue; // attaching/detaching: terwayd is working on it
				out.push(
					leaked(
						"leak.eni",
						e.eniId,
						`ENI ${e.eniId} (tagged creator=terway, ${e.ipv4s.length} IPv4) is attached to ${st.instanceId} but unknown to terwayd's store`,
						`check it with \`terwayctl eni inspect ${e.eniId}\`; terwayd adopts or releases it on restart (reconcile), or delete it with \`terwayctl eni delete ${e.eniId}\``,
					),
				);
			}
		} catch (e) {
			out.push(
				finding({
					id: "leak.eni",
					layer: "leak",
					severity: "info",
					subject: "",
					message: `skipped the tagged-ENI scan: ${errorLine(e)} (see cloud.credentials)`,
				}),
			);
		}
		const kernel = ctx.deps.kernel;
		if (kernel) {
			const c = nodeConflist(ctx);
			out.push(
				...hostLeftoverFindings(kernel.hostView(), await ctx.mapping(), c.ok ? c.terway.vethPrefix : "cali"),
			);
		} else
			out.push(
				finding({
					id: "leak.host",
					layer: "leak",
					severity: "info",
					subject: "",
					message: "skipped host veths/rules: no netlink access (run as root on the node)",
				}),
			);
		if (!out.some((f) => f.severity === "warn"))
			out.push(
				finding({
					id: "leak",
					layer: "leak",
					severity: "ok",
					subject: "",
					message: "no GC candidates, no unknown terway ENIs, no stray veths or rules",
				}),
			);
		return out;
	},
};
