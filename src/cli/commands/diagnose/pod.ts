/**
 * @module cli/commands/diagnose/pod
 *
 * `terwayctl diagnose pod NS/NAME [--to IP[:PORT]]`: one pod's full path on this node — its IPs
 * and ENI (terwayd's allocation), the host veth, the policy rule and routing table its packets
 * take out (`2048: from <podIP> lookup <ENI table>` and that table's routes) and in (`512: to
 * <podIP> lookup main` and the `/32` route to the veth), each read from the kernel through
 * src/linux/netlink in the node namespace; the drift from what the plugin planned; and, with
 * `--to`, the NetworkPolicy verdict from the pinned policy maps (when they exist).
 */
import type { AllocResponse } from "../../../daemon/api-types.ts";
import { EXIT, ExitError, errorLine } from "../../errors.ts";
import { style } from "../../output.ts";
import { parsePeer, parsePodRef } from "./args.ts";
import { hostPlan, mappingFindings, planOfAlloc, podDrift } from "./checks/mapping.ts";
import { DiagnoseContext, type DiagnoseDeps, type PolicyVerdict } from "./context.ts";
import { type Finding, finding, isProblem, sortFindings, summarize } from "./findings.ts";
import { type DiagnoseOptions, realDeps, withKernel } from "./index.ts";
import { type Paint, PLAIN, renderFinding } from "./render.ts";

export type PodOptions = DiagnoseOptions & { pod: string; to?: string; proto?: string };

type Hop = { rule?: string; table?: number | string; routes: string[] };

export type PodPath = {
	schema: 1;
	pod: string;
	containerId: string;
	datapath: AllocResponse["datapath"];
	ips: string[];
	eni: AllocResponse["eni"];
	routeTable: number;
	hostVeth?: string;
	/** Per pod IP: the way out (rule + table routes) and the way in (rule + main route). */
	paths: { ip: string; egress: Hop; ingress: Hop }[];
	policy?: { to: string; port?: number; proto: string; verdict?: PolicyVerdict; note?: string };
	findings: Finding[];
	problems: boolean;
};

const bare = (cidr: string | undefined) => cidr?.replace(/\/(32|128)$/, "");
const tableName = (t: number) => (t === 254 ? "main" : String(t));

/** Builds the pod's path from the daemon and the kernel. */
export async function podPath(deps: DiagnoseDeps, o: PodOptions): Promise<PodPath> {
	const ref = parsePodRef(o.pod);
	const peer = o.to ? parsePeer(o.to) : undefined;
	const key = `${ref.namespace}/${ref.name}`;
	const ctx = new DiagnoseContext(deps);
	let alloc: AllocResponse;
	try {
		alloc = await ctx.pod(key);
	} catch (e) {
		const msg = errorLine(e);
		if (/404|NotFound/.test(msg))
			throw new ExitError(
				`terwayd holds no allocation for pod ${key} on this node (is it scheduled here? is it host-network?)`,
			);
		throw e;
	}
	const ips = [alloc.ipv4?.ip, alloc.ipv6?.ip].filter((x): x is string => Boolean(x));
	const findings: Finding[] = [];
	const rows = (await ctx.mapping()).filter((r) => r.pod === key);
	findings.push(...mappingFindings(rows, deps.socket));
	const plan = planOfAlloc(ctx, alloc.containerId, alloc);
	const paths: PodPath["paths"] = [];
	const kernel = deps.kernel;
	if (kernel) {
		const hp = hostPlan(plan);
		const drift = podDrift(hp, { host: kernel.observeHost(hp), pod: undefined });
		const progs = drift.filter(([, , bpf]) => bpf);
		if (progs.length)
			findings.push(
				finding({
					id: "ebpf.attach",
					layer: "ebpf",
					severity: "error",
					subject: key,
					message: progs.map(([d]) => d.replace(/^host: /, "")).join("; "),
					fix: `delete the pod so kubelet recreates it (kubectl delete pod -n ${ref.namespace} ${ref.name}); the plugin attaches the pinned programs`,
				}),
			);
		findings.push(
			drift.length - progs.length
				? finding({
						id: "kernel.pod-datapath",
						layer: "kernel",
						severity: "error",
						subject: key,
						message: drift
							.filter(([, , bpf]) => !bpf)
							.map(([d]) => d.replace(/^host: /, ""))
							.join("; "),
						fix: `delete the pod so kubelet recreates it (kubectl delete pod -n ${ref.namespace} ${ref.name}), or restore by hand: ${drift
							.filter(([, , bpf]) => !bpf)
							.map(([, op]) => op.replace(/^host: /, ""))
							.join("; ")}`,
					})
				: finding({
						id: "kernel.pod-datapath",
						layer: "kernel",
						severity: "ok",
						subject: key,
						message: "veth, routes, rules and sysctls on the node as planned",
					}),
		);
		const view = kernel.hostView();
		for (const ip of ips) {
			const fam = ip.includes(":") ? 6 : 4;
			// the pod's packets arrive on its host veth: a rule for another iif (terwayd's ENI-primary
			// `from <ip> iif lo`), an oif or a fwmark does not take them
			const out = view.rules
				.filter((r) => r.family === fam && bare(r.from) === ip && !r.to)
				.filter((r) => (!r.iif || r.iif === plan.hostLink) && !r.oif && !r.fwmark)
				.sort((a, b) => a.priority - b.priority)[0];
			const inn = view.rules
				.filter((r) => r.family === fam && bare(r.to) === ip && !r.from)
				.filter((r) => !r.iif && !r.oif && !r.fwmark)
				.sort((a, b) => a.priority - b.priority)[0];
			const table = out?.table;
			paths.push({
				ip,
				egress: {
					...(out ? { rule: `${out.priority}: from ${out.from} lookup ${tableName(out.table)}` } : {}),
					...(table !== undefined ? { table } : {}),
					routes:
						table !== undefined
							? kernel
									.routes(table)
									.filter((r) => r.family === fam)
									.map(
										(r) => `${r.dst}${r.gateway ? ` via ${r.gateway}` : ""}${r.dev ? ` dev ${r.dev}` : ""}`,
									)
							: [],
				},
				ingress: {
					...(inn ? { rule: `${inn.priority}: to ${inn.to} lookup ${tableName(inn.table)}` } : {}),
					table: "main",
					routes: view.routes
						.filter((r) => r.family === fam && bare(r.dst) === ip)
						.map((r) => `${r.dst}${r.dev ? ` dev ${r.dev}` : ""}`),
				},
			});
		}
	} else
		findings.push(
			finding({
				id: "kernel.pod-datapath",
				layer: "kernel",
				severity: "info",
				subject: key,
				message: "the kernel side was not read: no netlink access (run as root on the node)",
			}),
		);
	let policy: PodPath["policy"];
	if (peer) {
		const proto = (o.proto ?? "tcp").toUpperCase();
		const port = peer.port;
		const base = { to: peer.ip, proto, ...(port !== undefined ? { port } : {}) };
		let maps: ReturnType<NonNullable<DiagnoseDeps["policy"]>>;
		try {
			maps = deps.policy?.();
		} catch (e) {
			maps = undefined;
			policy = { ...base, note: `policy maps cannot be opened: ${errorLine(e)}` };
		}
		if (maps && ips[0]) {
			const src = peer.ip.includes(":") ? (alloc.ipv6?.ip ?? ips[0]) : (alloc.ipv4?.ip ?? ips[0]);
			const verdict = maps.explain({
				from: src,
				to: peer.ip,
				proto,
				...(port !== undefined ? { port } : {}),
			});
			policy = { ...base, verdict };
		} else policy ??= { ...base, note: "policy maps not found: no NetworkPolicy is enforced on this node" };
		findings.push(
			finding({
				id: "ebpf.verdict",
				layer: "ebpf",
				severity: policy.verdict ? (policy.verdict.allowed ? "ok" : "info") : "info",
				subject: `${key} -> ${o.to}`,
				message: policy.verdict
					? `${policy.verdict.allowed ? "allowed" : "dropped"}: ${policy.verdict.reason}`
					: (policy.note ?? ""),
			}),
		);
	}
	const sorted = sortFindings(findings);
	return {
		schema: 1,
		pod: key,
		containerId: alloc.containerId,
		datapath: alloc.datapath,
		ips,
		eni: alloc.eni,
		routeTable: alloc.routeTable,
		...(plan.hostLink ? { hostVeth: plan.hostLink } : {}),
		paths,
		...(policy ? { policy } : {}),
		findings: sorted,
		problems: sorted.some(isProblem),
	};
}

export function renderPodPath(p: PodPath, paint: Paint = PLAIN): string {
	const lines = [
		`${paint.bold(`pod ${p.pod}`)} (container ${p.containerId.slice(0, 12)}, datapath ${p.datapath})`,
		`  IPs       ${p.ips.join(", ")}`,
		`  ENI       ${p.eni.id} ${p.eni.mac} on ${p.eni.link || "-"} (ifindex ${p.eni.ifindex}), table ${p.routeTable}`,
		`  host veth ${p.hostVeth ?? "-"}`,
	];
	for (const x of p.paths) {
		lines.push(`  ${x.ip}`);
		lines.push(
			`    out: ${x.egress.rule ?? paint.red("no from-rule")} -> ${x.egress.routes.join(" | ") || "no routes"}`,
		);
		lines.push(
			`    in:  ${x.ingress.rule ?? paint.red("no to-rule")} -> ${x.ingress.routes.join(" | ") || "no route"}`,
		);
	}
	if (p.policy) {
		const v = p.policy.verdict;
		lines.push(
			`  policy    ${p.policy.proto} ${p.policy.to}${p.policy.port ? `:${p.policy.port}` : ""}: ${v ? `${v.allowed ? paint.green("allowed") : paint.red("dropped")} (${v.reason})` : p.policy.note}`,
		);
	}
	lines.push("");
	for (const f of p.findings) lines.push(renderFinding(f, paint));
	const s = summarize(p.findings);
	lines.push(
		"",
		`${p.problems ? paint.red("problems found") : paint.green("no problems found")}: ${s.error} error, ${s.warn} warn`,
	);
	return lines.join("\n");
}

export async function diagnosePod(o: PodOptions): Promise<void> {
	parsePodRef(o.pod);
	if (o.to) parsePeer(o.to);
	const deps = await withKernel(realDeps(o));
	const p = await podPath(deps, o);
	console.log(o.json ? JSON.stringify(p, null, 2) : renderPodPath(p, style));
	if (p.problems) throw new ExitError(`pod ${p.pod}: problems found`, EXIT.problem, { printed: true });
}
