/**
 * @module core/config/conflist
 *
 * Terway's CNI network config list, `10-terway.conflist` (terway-features §2.2), generated from
 * what the node runs: the datapath (from `eni_conf.eniip_virtual_type`), the pod MTU, the
 * `bandwidth` capability, and the plugins chained after terway (portmap, bandwidth, tuning, ...).
 * `terwayctl install` writes it on a node and `terwayctl sim up --cni terway` in each sim node.
 *
 * Decisions:
 * - `cniVersion` is 1.1.0 when terway is alone (STATUS and GC from the runtime); with chained
 *   plugins it is the existing list's version when given, else 1.0.0 (the highest Debian's
 *   reference plugins speak).
 * - A chained `bandwidth` plugin is kept, and then terway does not also claim the `bandwidth`
 *   capability (the runtime would hand the limits to both and shape twice).
 * - Chained plugins are kept as written, minus the per-plugin `cniVersion`/`name` libcni fills
 *   in (Terway's `terway-cli cni` strips them too). `cilium-cni` is dropped: terwayctl does its
 *   eBPF itself.
 *
 * Pure: no I/O. Parsing an existing conflist never throws on a foreign shape: what is not a
 * list of plugin objects is ignored (the caller reports it as replaced, not chained).
 */
import type { Datapath } from "./types.ts";

/** The conflist file name Terway installs (its DaemonSet writes /etc/cni/net.d/10-terway.conflist). */
export const TERWAY_CONFLIST = "10-terway.conflist";

/** A CNI plugin config object of a conflist. */
export type PluginConfig = Record<string, unknown> & { type: string };

export type ConflistInput = {
	/** Datapath for shared-ENI pods (default `veth`). */
	datapath?: Datapath;
	/** Pod link MTU; absent = the plugin's default (1500). */
	mtu?: number;
	/** terwayd's socket when not the default /var/run/terway/terwayd.sock. */
	daemonSocket?: string;
	/** The plugin's NDJSON log file. */
	logFile?: string;
	/** Plugins chained after terway, in order (see {@link chainedPlugins}). */
	chained?: PluginConfig[];
	/** The version to write when chaining (the existing list's); ignored when terway is alone. */
	cniVersion?: string;
};

/** Debian's portmap as Terway's docs chain it (docs/cni-chain.md). */
export const PORTMAP_PLUGIN: PluginConfig = {
	type: "portmap",
	capabilities: { portMappings: true },
	externalSetMarkChain: "KUBE-MARK-MASQ",
};

/** `eniip_virtual_type` as Terway's `terway-cli cni` writes it for each datapath. */
function virtualType(datapath: Datapath): string {
	return datapath === "datapathv2" ? "datapathv2" : "Veth";
}

/** The terway plugin object. */
export function terwayPlugin(input: ConflistInput): PluginConfig {
	const bandwidthChained = (input.chained ?? []).some((p) => p.type === "bandwidth");
	return {
		type: "terway",
		...(bandwidthChained ? {} : { capabilities: { bandwidth: true } }),
		eniip_virtual_type: virtualType(input.datapath ?? "veth"),
		...(input.mtu !== undefined ? { mtu: input.mtu } : {}),
		...(input.daemonSocket ? { daemon_socket: input.daemonSocket } : {}),
		...(input.logFile ? { log_file: input.logFile } : {}),
	};
}

/** The conflist document. */
export function buildConflist(input: ConflistInput): {
	cniVersion: string;
	name: string;
	plugins: PluginConfig[];
} {
	const chained = input.chained ?? [];
	const cniVersion = chained.length === 0 ? "1.1.0" : (input.cniVersion ?? "1.0.0");
	return { cniVersion, name: "terway", plugins: [terwayPlugin(input), ...chained] };
}

/** The conflist as written to disk: 2-space JSON and a final newline. */
export function renderConflist(input: ConflistInput): string {
	return `${JSON.stringify(buildConflist(input), null, 2)}\n`;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
	typeof v === "object" && v !== null && !Array.isArray(v);

/** Plugins of ours or that terwayctl replaces: never carried over from an existing list. */
const NOT_CHAINED = new Set(["terway", "cilium-cni"]);

/**
 * The plugins an existing conflist chains after terway (everything but terway itself and
 * cilium-cni, in order, per-plugin `cniVersion`/`name` removed), and its `cniVersion`.
 * Text that is not a conflist yields no plugins.
 */
export function chainedPlugins(existing: string | undefined): {
	plugins: PluginConfig[];
	cniVersion?: string;
} {
	if (!existing) return { plugins: [] };
	let doc: unknown;
	try {
		doc = JSON.parse(existing);
	} catch {
		return { plugins: [] };
	}
	if (!isObject(doc) || !Array.isArray(doc.plugins)) return { plugins: [] };
	const plugins: PluginConfig[] = [];
	for (const p of doc.plugins) {
		if (!isObject(p) || typeof p.type !== "string" || NOT_CHAINED.has(p.type)) continue;
		const { cniVersion: _v, name: _n, ...rest } = p;
		plugins.push(rest as PluginConfig);
	}
	return {
		plugins,
		...(typeof doc.cniVersion === "string" && plugins.length > 0 ? { cniVersion: doc.cniVersion } : {}),
	};
}
