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
import type { Check, DiagnoseContext } from "../context.ts";
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
		return { ok: false, path, missing: false, problem: `${path} is not JSON: ${(e as Error).message}` };
	}
	const list = doc as { name?: unknown; cniVersion?: unknown; plugins?: unknown };
	if (typeof doc !== "object" || doc === null || !Array.isArray(list.plugins) || list.plugins.length === 0)
		return { ok: false, path, missing: false, problem: `${path}: "plugins" must be a non-empty list` };
	const first = list.plugins[0] as Record<string, unknown>;
	if (first?.type !== "terway")
		return {
			ok: false,
			path,
			missing: false,
			problem: `${path}: the first plugin is type ${JSON.stringify(first?.type)}, not "terway"`,
		};
	try {
		const conf = parseNetConf(JSON.stringify({ ...first, name: list.name, cniVersion: list.cniVersion }));
		return { ok: true, path, terway: conf.terway, doc: doc as Record<string, unknown> };
	} catch (e) {
		return { ok: false, path, missing: false, problem: `${path}: ${errorLine(e)}` };
	}
}

/** The conflist of this node, parsed once per run. */
export function nodeConflist(ctx: DiagnoseContext): ParsedConflist {
	const c = ctx.deps.conflist();
	if (!c.file) return { ok: false, path: c.path, missing: true, problem: `${c.path} does not exist` };
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

export const ebpfCheck: Check = {
	id: "ebpf",
	title: "eBPF policy maps",
	async run(ctx: DiagnoseContext): Promise<Finding[]> {
		let where: string | undefined;
		try {
			where = ctx.deps.policy?.()?.where;
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
		return [
			where
				? finding({
						id: "ebpf.maps",
						layer: "ebpf",
						severity: "ok",
						subject: where,
						message: "policy maps are pinned and readable",
					})
				: finding({
						id: "ebpf.maps",
						layer: "ebpf",
						severity: "info",
						subject: "",
						message:
							"policy maps not found: NetworkPolicy enforcement is off on this node (or not built yet)",
					}),
		];
	},
};
