/**
 * The host-side state of the veth datapaths, found without the daemon's record (pure):
 *
 * - `recoverPodIps`: DEL with no allocation to plan from (terwayd unreachable or forgetful) and
 *   no (or an incomplete) prevResult. The host veth is named from the container id; the /32 and
 *   /128 routes of the main table through it are the pod's addresses (vethPlan adds exactly
 *   those). When those routes are gone but the pair is intact, the addresses of the pod's end
 *   (CNI_IFNAME, verified to be that veth's peer) stand in. An address the main table routes to
 *   another link belongs to someone else and is never taken.
 * - `gcPlan`: CNI GC (spec 1.1, `cni.dev/valid-attachments`). Ours on the node are exactly: veths
 *   named `<prefix><hex>` (hostVethName's shape, 15 bytes) and the rules of the planners' two
 *   shapes, `512: to <ip>/32|128 lookup main` and `2048: from <ip>/32|128 lookup <table>` (no
 *   other selector). A veth not named for a valid attachment is a leftover (its routes go with
 *   it); a rule is a leftover unless its address is held by a valid attachment (routed to a valid
 *   attachment's veth, or allocated to one by terwayd). Anything else (other links, terwayd's
 *   own `512: from <ENI primary> lookup <table>`, rules at other priorities or with other
 *   selectors) is never touched.
 *
 * Both answer in terms teardown (src/linux/apply.ts) executes: host `veth` ops delete a link,
 * `rule` ops delete the rules of that priority and address whatever their table.
 */
import type { Attachment } from "../cni/types.ts";
import { formatCIDR, parseCIDR } from "../net/ip.ts";
import { HOST_VETH_MAC, hostVethName, MAIN_TABLE, PRIO_FROM_CONTAINER, PRIO_TO_CONTAINER } from "./names.ts";
import type { Op, Plan } from "./types.ts";

/** The host namespace as the leftover finders read it. */
export type HostView = {
	links: { name: string; index: number; kind?: string | undefined; peerIndex?: number | undefined }[];
	/** Main-table routes. */
	routes: { family: 4 | 6; dst: string; dev?: string | undefined }[];
	rules: {
		family: 4 | 6;
		priority: number;
		table: number;
		action: string;
		from?: string | undefined;
		to?: string | undefined;
		iif?: string | undefined;
		oif?: string | undefined;
		fwmark?: number | undefined;
	}[];
};

/** The pod namespace: its links and the addresses of CNI_IFNAME. */
export type PodView = {
	links: { name: string; index: number; kind?: string | undefined }[];
	addrs: { link: string; cidr: string; scope: string | number }[];
};

/**
 * `ip` as the canonical host prefix ("10.0.2.5/32", "fd00:2::5/128"); a bare address counts as
 * one. undefined for anything else (a network prefix, "default", garbage).
 */
export function hostPrefixOf(ip: string): string | undefined {
	try {
		const p = parseCIDR(ip, { allowBare: true });
		return p.prefixlen === p.bytes.length * 8 ? formatCIDR(p) : undefined;
	} catch {
		return undefined;
	}
}

/** The pod's addresses as host prefixes, from the host veth's routes (else its peer's addresses). */
export function recoverPodIps(hostLink: string, podLink: string, host: HostView, pod?: PodView): string[] {
	const veth = host.links.find((l) => l.name === hostLink);
	if (!veth) return [];
	const out = new Set<string>();
	for (const r of host.routes) {
		if (r.dev !== hostLink) continue;
		const ip = hostPrefixOf(r.dst);
		if (ip) out.add(ip);
	}
	const peer = pod?.links.find((l) => l.name === podLink);
	if (pod && peer && veth.kind === "veth" && peer.kind === "veth" && veth.peerIndex === peer.index) {
		const elsewhere = new Set(
			host.routes.filter((r) => r.dev !== hostLink).map((r) => hostPrefixOf(r.dst) ?? ""),
		);
		for (const a of pod.addrs) {
			if (a.link !== podLink || a.scope !== "global") continue;
			const ip = hostPrefixOf(a.cidr.split("/")[0] ?? "");
			if (ip && !elsewhere.has(ip)) out.add(ip);
		}
	}
	return [...out];
}

/** The rule ops that delete the planners' two policy rules of `ip` (a host prefix). */
export function podRuleOps(ip: string, table = 0): Op[] {
	const family = ip.includes(":") ? 6 : 4;
	return [
		{ op: "rule", side: "host", family, priority: PRIO_TO_CONTAINER, to: ip, table: MAIN_TABLE },
		// table 0 = unknown: teardown matches rules by priority and address only
		{ op: "rule", side: "host", family, priority: PRIO_FROM_CONTAINER, from: ip, table },
	];
}

/** The op deleting host link `name` (its peer, addresses, routes and qdiscs go with it). */
export function hostLinkDelOp(name: string, peer: string): Op {
	return {
		op: "veth",
		side: "host",
		name,
		mac: HOST_VETH_MAC,
		mtu: 0,
		peer: { side: "pod", name: peer, mtu: 0 },
	};
}

/** Whether `name` has hostVethName's shape for `prefix` (prefix + lowercase hex, 15 bytes). */
export function isPodVethName(name: string, prefix = "cali"): boolean {
	if (!name.startsWith(prefix) || name.length !== 15) return false;
	return /^[0-9a-f]+$/.test(name.slice(prefix.length));
}

/** The address of a rule of the planners' shapes (512 to / 2048 from, nothing else), else undefined. */
export function podRuleIp(r: HostView["rules"][number]): string | undefined {
	if (r.action !== "to-table" || r.iif || r.oif || r.fwmark) return undefined;
	if (r.priority === PRIO_TO_CONTAINER && r.to && !r.from && r.table === MAIN_TABLE)
		return hostPrefixOf(r.to);
	if (r.priority === PRIO_FROM_CONTAINER && r.from && !r.to && r.table !== MAIN_TABLE)
		return hostPrefixOf(r.from);
	return undefined;
}

export type GcPlan = Plan & {
	/** Leftover host veths (deleted with their routes). */
	links: string[];
	/** Addresses whose rules are removed. */
	ips: string[];
	/** Addresses kept because a valid attachment holds them. */
	held: string[];
};

/**
 * What GC removes on the node: leftover veths and the rules of addresses no valid attachment
 * holds. `heldIps` are the addresses terwayd has allocated to valid attachments (optional: the
 * routes of the valid attachments' veths count either way).
 */
export function gcPlan(
	valid: Attachment[],
	host: HostView,
	opts: { vethPrefix?: string; heldIps?: string[] } = {},
): GcPlan {
	const prefix = opts.vethPrefix ?? "cali";
	const keep = new Set(valid.map((a) => hostVethName(a.containerID, a.ifname, prefix)));
	const held = new Set<string>();
	for (const ip of opts.heldIps ?? []) {
		const p = hostPrefixOf(ip);
		if (p) held.add(p);
	}
	for (const r of host.routes) {
		if (!r.dev || !keep.has(r.dev)) continue;
		const p = hostPrefixOf(r.dst);
		if (p) held.add(p);
	}
	const ops: Op[] = [];
	const links: string[] = [];
	for (const l of host.links) {
		if (l.kind !== "veth" || !isPodVethName(l.name, prefix) || keep.has(l.name)) continue;
		links.push(l.name);
		ops.push(hostLinkDelOp(l.name, ""));
	}
	const ips = new Set<string>();
	const seen = new Set<string>();
	for (const r of host.rules) {
		const ip = podRuleIp(r);
		if (!ip || held.has(ip)) continue;
		ips.add(ip);
		const key = `${r.priority} ${ip}`;
		if (seen.has(key)) continue;
		seen.add(key);
		ops.push(
			r.priority === PRIO_TO_CONTAINER
				? { op: "rule", side: "host", family: r.family, priority: r.priority, to: ip, table: r.table }
				: { op: "rule", side: "host", family: r.family, priority: r.priority, from: ip, table: r.table },
		);
	}
	return {
		datapath: "veth",
		ops,
		podLink: "",
		notes: [],
		links,
		ips: [...ips],
		held: [...held],
	};
}
