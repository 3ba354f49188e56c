/**
 * @module cli/commands/diagnose/checks/config
 *
 * Conflist sanity: `10-terway.conflist` exists where the runtime reads it, parses, its first
 * plugin is `type: terway` with a config the plugin accepts, and its `eniip_virtual_type` gives
 * the datapath the cluster's eni-config asks for. Also the eBPF layer's presence (policy maps).
 */
import type { Datapath as ConfigDatapath } from "../../../../core/config/types.ts";
import { parseNetConf, type TerwayOptions } from "../../../../plugin/netconf.ts";
import { errorLine } from "../../../errors.ts";
import type { Check, DiagnoseContext, PolicyPort } from "../context.ts";
import { type Finding, finding } from "../findings.ts";

export type ParsedConflist =
	| { ok: true; path: string; terway: TerwayOptions; doc: Record<string, unknown> }
	| { ok: false; path: string; problem: string; missing: boolean };

/** The terway plugin of a conflist text, validated by the plugin's own parser. */
export function parseConflistText(path: string, text: string): ParsedConflist {
	let doc: unknown;
	try {
		doc = JSON.parse(text);
	} catch (e) {
		return { ok: false, path, missing: false, problem: `not JSON: ${(e as Error).message}` };
	}
	const list = doc as { name?: unknown; cniVersion?: unknown; plugins?: unknown };
	if (typeof doc !== "object" || doc === null || !Array.isArray(list.plugins) || list.plugins.length === 0)
		return { ok: false, path, missing: false, problem: `"plugins" must be a non-empty list` };
	const first = list.plugins[0] as Record<string, unknown>;
	if (first?.type !== "terway")
		return {
			ok: false,
			path,
			missing: false,
			problem: `the first plugin is type ${JSON.stringify(first?.type)}, not "terway"`,
		};
	try {
		const conf = parseNetConf(JSON.stringify({ ...first, name: list.name, cniVersion: list.cniVersion }));
		return { ok: true, path, terway: conf.terway, doc: doc as Record<string, unknown> };
	} catch (e) {
		return { ok: false, path, missing: false, problem: `the terway plugin rejects it: ${errorLine(e)}` };
	}
}

/** The conflist of this node, parsed once per run. */
export function nodeConflist(ctx: DiagnoseContext): ParsedConflist {
	const c = ctx.deps.conflist();
	if (!c.file) return { ok: false, path: c.path, missing: true, problem: "does not exist" };
	return parseConflistText(c.file.path, c.file.text);
}

/** The datapath a conflist's eniip_virtual_type selects (IPVlan migrates to datapathv2, as in Terway). */
export function conflistDatapath(t: TerwayOptions): ConfigDatapath {
	return t.eniipVirtualType === "veth" ? "veth" : "datapathv2";
}

export const conflistCheck: Check = {
	id: "config",
	title: "conflist sanity",
	async run(ctx: DiagnoseContext): Promise<Finding[]> {
		const c = nodeConflist(ctx);
		if (!c.ok)
			return [
				finding({
					id: "config.conflist",
					layer: "config",
					severity: "error",
					subject: c.path,
					message: c.problem,
					fix: c.missing
						? "install it: `terwayctl install` on the node (the terway DaemonSet's init container does this); pass --cni-conf-dir when the runtime reads another directory"
						: "rewrite it: `terwayctl install` regenerates 10-terway.conflist from the eni-config",
				}),
			];
		const out: Finding[] = [
			finding({
				id: "config.conflist",
				layer: "config",
				severity: "ok",
				subject: c.path,
				message: `parses; type terway, eniip_virtual_type ${c.terway.eniipVirtualType}, mtu ${c.terway.mtu}`,
			}),
		];
		let want: Awaited<ReturnType<DiagnoseContext["deps"]["eniConfig"]>>;
		try {
			want = await ctx.deps.eniConfig();
		} catch (e) {
			out.push(
				finding({
					id: "config.datapath",
					layer: "config",
					severity: "warn",
					subject: "eni-config",
					message: `cannot read the eni-config: ${errorLine(e)}`,
					fix: "check --kubeconfig / KUBECONFIG and that ConfigMap kube-system/eni-config exists",
				}),
			);
			return out;
		}
		if (!want) {
			out.push(
				finding({
					id: "config.datapath",
					layer: "config",
					severity: "info",
					subject: "eni-config",
					message: "no kubeconfig: the conflist's datapath was not compared with the eni-config",
				}),
			);
			return out;
		}
		const have = conflistDatapath(c.terway);
		out.push(
			have === want.datapath
				? finding({
						id: "config.datapath",
						layer: "config",
						severity: "ok",
						subject: c.path,
						message: `datapath ${have} matches ${want.source}`,
					})
				: finding({
						id: "config.datapath",
						layer: "config",
						severity: "warn",
						subject: c.path,
						message: `the conflist selects datapath ${have}, ${want.source} asks for ${want.datapath}`,
						fix: "regenerate the conflist from the eni-config: `terwayctl install` (new pods get the new datapath; existing ones keep theirs)",
					}),
		);
		return out;
	},
};

/** Findings of the pinned policy maps against terwayd's allocations and its policy agent. */
async function policyFindings(ctx: DiagnoseContext, maps: PolicyPort): Promise<Finding[]> {
	const out: Finding[] = [
		finding({
			id: "ebpf.maps",
			layer: "ebpf",
			severity: "ok",
			subject: maps.where,
			message: `policy maps pinned and readable: ${maps.entries.ips} address(es), ${maps.entries.policy} rule entr${maps.entries.policy === 1 ? "y" : "ies"}`,
		}),
	];
	if (!(await ctx.daemonUp())) return out;
	const missing = (await ctx.mapping()).filter(
		(r) => r.state === "allocated" && r.pod && !maps.localPod(r.ip),
	);
	for (const r of missing)
		out.push(
			finding({
				id: "ebpf.identity",
				layer: "ebpf",
				severity: "warn",
				subject: r.pod ?? r.ip,
				message: `${r.ip} (allocated to ${r.pod}) has no local pod identity in terway_ipid: its NetworkPolicy is not enforced as compiled`,
				fix: "terwayd's policy agent writes it when it sees the pod: check `terwayctl policy dump` and terwayd's log (informer errors); restarting terwayd rewrites the maps' diff",
			}),
		);
	let agent: Awaited<ReturnType<DiagnoseContext["policyStatus"]>> | undefined;
	try {
		agent = await ctx.policyStatus();
	} catch {
		return out; // an older terwayd without /v1/policy
	}
	for (const p of agent.policies.filter((x) => !x.ok))
		out.push(
			finding({
				id: "ebpf.policy",
				layer: "ebpf",
				severity: "warn",
				subject: p.policy,
				message: `NetworkPolicy not applied: ${p.message}`,
				fix: `fix the policy (kubectl -n ${p.policy.split("/")[0]} edit networkpolicy ${p.policy.split("/")[1] ?? ""}); terwayd recompiles on change`,
			}),
		);
	if (agent.lastError)
		out.push(
			finding({
				id: "ebpf.sync",
				layer: "ebpf",
				severity: "warn",
				subject: maps.where,
				message: `terwayd's last policy map write failed: ${agent.lastError}`,
				fix: "read terwayd's log; the next policy or pod change retries the write (or restart terwayd)",
			}),
		);
	return out;
}

export const ebpfCheck: Check = {
	id: "ebpf",
	title: "eBPF policy maps",
	async run(ctx: DiagnoseContext): Promise<Finding[]> {
		let maps: PolicyPort | undefined;
		try {
			maps = ctx.deps.policy?.();
		} catch (e) {
			return [
				finding({
					id: "ebpf.maps",
					layer: "ebpf",
					severity: "warn",
					subject: "",
					message: `the policy maps cannot be opened: ${errorLine(e)}`,
					fix: "run as root on the node with bpffs mounted at /sys/fs/bpf; restart terwayd to re-pin its maps",
				}),
			];
		}
		if (maps) return policyFindings(ctx, maps);
		let why = "";
		try {
			if (await ctx.daemonUp()) {
				const a = await ctx.policyStatus();
				if (!a.enabled) why = ` (terwayd: network policy is off${a.reason ? `: ${a.reason}` : ""})`;
			}
		} catch {
			// older terwayd: no /v1/policy
		}
		return [
			finding({
				id: "ebpf.maps",
				layer: "ebpf",
				severity: "info",
				subject: "",
				message: `policy maps not found: NetworkPolicy is not enforced on this node${why}`,
			}),
		];
	},
};
