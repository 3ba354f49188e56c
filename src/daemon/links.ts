/**
 * @module daemon/links
 *
 * The node side of an ENI (Terway `daemon/rule_linux.go`, `plugin/driver/nic`): its Linux link
 * found by MAC, set up, an address, a per-ENI route table `1000 + ifindex` with
 * `default via <vSwitch gateway> dev <link> onlink`, and a rule `from <ENI primary IP> iif lo lookup <table>`.
 * The link's address is the node's primary IP /32 (Terway §2.7), so an ENI primary IP handed to a pod
 * is never local on the node.
 * Pods' own `from <podIP>` rules are the CNI plugin's job; it reads the table from the alloc reply.
 *
 * Two implementations: `NetlinkEniLinks` (netlink in the namespace the daemon runs in; never
 * spawns `ip`) and `NoEniLinks` for worlds without kernel links (the loopback sim, where an
 * attached ENI is only a record): `--no-datapath-links` on the CLI selects it.
 *
 * datapathv2 (when configured): `prepareNode` probes the kernel once, loads and pins the redirect
 * programs (src/linux/bpf/datapathv2.ts; or says once why not, and pods keep the veth datapath),
 * and `ensure` attaches `terway_v2_in` to each ENI's tc ingress (pinned TCX link).
 */

import { existsSync } from "node:fs";
import { nodePlan } from "../core/datapath/node.ts";
import { listAttached } from "../linux/bpf/attach.ts";
import { attachV2ToEni, setupDatapathV2, V2_PROGRAMS } from "../linux/bpf/datapathv2.ts";
import { Netlink } from "../linux/netlink/handle.ts";
import { Netns } from "../linux/netns.ts";
import { ensureSysctl, sysctlPath } from "../linux/sysctl.ts";

export const ROUTE_TABLE_BASE = 1000;
/** Priority of the ENI primary-IP rule (Terway's pod rules use 512 too). */
export const ENI_RULE_PRIORITY = 512;

export type EniLinkSpec = {
	eniId: string;
	mac: string;
	primaryIp: string;
	gateway: string;
	/** vSwitch CIDR (informational). */
	cidr: string;
	/**
	 * Address put on the link as a /32. Terway puts the node's primary IP there (§2.7), not the
	 * ENI's own primary IP, because that one may be handed to a pod (the legacy pool uses it) and
	 * would then be a local address on the node. Default: `primaryIp`.
	 */
	addrIp?: string;
};

export type EniLinkInfo = { link: string; ifindex: number; table: number };

export interface EniLinks {
	/** False when the world has no kernel links (nothing is ensured, checks are skipped). */
	readonly enabled: boolean;
	/** The link carrying `mac`, or undefined. */
	find(mac: string): { link: string; ifindex: number } | undefined;
	/**
	 * Waits (≤ `timeoutMs`) for the link to appear, then ensures it; returns where it is. Rejects
	 * with `signal.reason` when `signal` aborts the wait.
	 */
	ensure(spec: EniLinkSpec, timeoutMs?: number, signal?: AbortSignal): Promise<EniLinkInfo>;
	/** What is missing on the node for this ENI (empty = all in place). */
	check(spec: EniLinkSpec): string[];
	/** Removes the ENI's rule (the table's routes go with the link). Best effort. */
	remove(spec: { primaryIp: string; table?: number }): void;
	/**
	 * Node-wide settings the pod datapaths rely on (core/datapath nodePlan: forwarding on,
	 * rp_filter off), ensured once at daemon start, never per pod. Returns the keys it changed.
	 */
	prepareNode(stack: { ipv4: boolean; ipv6: boolean }): string[];
	/** Set by prepareNode when the datapathv2 programs are pinned (pods may use datapathv2). */
	readonly datapathV2?: { pinRoot: string } | undefined;
}

export type EniLinksOptions = {
	/** datapathv2 is configured: pin its programs under pinRoot; skipCidrs (services) take the stack. */
	datapathv2?: { pinRoot: string; skipCidrs: string[] };
	/** Told once why datapathv2 cannot run here (pods then get the veth datapath). */
	onV2Fallback?: (reason: string) => void;
};

/** A world without kernel links: every ENI reports link "" / ifindex 0 / table 0. */
export class NoEniLinks implements EniLinks {
	readonly enabled = false;
	find(): undefined {
		return undefined;
	}
	async ensure(): Promise<EniLinkInfo> {
		return { link: "", ifindex: 0, table: 0 };
	}
	check(): string[] {
		return [];
	}
	remove(): void {}
	prepareNode(): string[] {
		return [];
	}
}

export class NetlinkEniLinks implements EniLinks {
	readonly enabled = true;
	datapathV2: { pinRoot: string } | undefined;

	constructor(readonly opts: EniLinksOptions = {}) {}

	#with<T>(fn: (nl: Netlink) => T): T {
		const nl = Netlink.current();
		try {
			return fn(nl);
		} finally {
			nl.close();
		}
	}

	prepareNode(stack: { ipv4: boolean; ipv6: boolean }): string[] {
		const changed: string[] = [];
		using here = Netns.current();
		for (const op of nodePlan(stack).ops) {
			if (op.op === "sysctl" && ensureSysctl(here, op.key, op.value).changed)
				changed.push(`${op.key}=${op.value}`);
		}
		const v2 = this.opts.datapathv2;
		if (v2) {
			let r: ReturnType<typeof setupDatapathV2>;
			try {
				r = setupDatapathV2(v2);
			} catch (e) {
				r = { ok: false, reason: `pinning its programs under ${v2.pinRoot} failed: ${(e as Error).message}` };
			}
			if (r.ok) this.datapathV2 = { pinRoot: v2.pinRoot };
			else this.opts.onV2Fallback?.(`datapathv2 unavailable, pods use the veth datapath: ${r.reason}`);
		}
		return changed;
	}

	find(mac: string): { link: string; ifindex: number } | undefined {
		const want = mac.toLowerCase();
		return this.#with((nl) => {
			const l = nl.linkList().find((x) => x.mac?.toLowerCase() === want);
			return l ? { link: l.name, ifindex: l.index } : undefined;
		});
	}

	async ensure(spec: EniLinkSpec, timeoutMs = 10_000, signal?: AbortSignal): Promise<EniLinkInfo> {
		const deadline = Date.now() + timeoutMs;
		let found = this.find(spec.mac);
		while (!found) {
			signal?.throwIfAborted();
			if (Date.now() >= deadline)
				throw new Error(`no link with MAC ${spec.mac} (ENI ${spec.eniId}) on this node`);
			await Bun.sleep(100);
			found = this.find(spec.mac);
		}
		const { link, ifindex } = found;
		const table = ROUTE_TABLE_BASE + ifindex;
		this.#with((nl) => {
			// Before the link first comes up: with DAD the ENI's only link-local stays tentative for
			// ~1-2 s, and the kernel sends no neighbour solicitation (for the v6 gateway) without a
			// usable link-local, so a new pod's first v6 packets stall. EUI-64 link-locals from the
			// cloud's unique MACs cannot collide. Absent when IPv6 is off: nothing to do then.
			if (!nl.linkByName(link).up) {
				using here = Netns.current();
				if (existsSync(`/proc/sys/${sysctlPath(`net/ipv6/conf/${link}/accept_dad`)}`))
					ensureSysctl(here, `net/ipv6/conf/${link}/accept_dad`, 0);
			}
			nl.ensureLinkUp(link);
			nl.ensureAddr({ link, cidr: `${spec.addrIp ?? spec.primaryIp}/32` });
			nl.ensureRoute({ dst: "default", family: 4, gateway: spec.gateway, dev: link, onlink: true, table });
			// iif lo: only the node's own packets. Forwarded ones from a pod holding the ENI primary
			// IP must not match at 512, ahead of the pods' `512 to <podIP> lookup main` rules: its
			// replies to a pod on this node went out the ENI, and the VPC sent them back into this
			// rule again (a loop until the TTL ran out). Its own `2048 from` rule routes it out.
			nl.ensureRule({ from: `${spec.primaryIp}/32`, iif: "lo", table, priority: ENI_RULE_PRIORITY });
		});
		if (this.datapathV2) {
			using here = Netns.current();
			attachV2ToEni(here, link, this.datapathV2.pinRoot);
		}
		return { link, ifindex, table };
	}

	check(spec: EniLinkSpec): string[] {
		const found = this.find(spec.mac);
		if (!found) return [`no link with MAC ${spec.mac} on the node`];
		const { link, ifindex } = found;
		const table = ROUTE_TABLE_BASE + ifindex;
		return this.#with((nl) => {
			const problems: string[] = [];
			const l = nl.linkByName(link);
			if (!l.up) problems.push(`link ${link} is down`);
			const addr = `${spec.addrIp ?? spec.primaryIp}/32`;
			if (!nl.addrList({ link, family: 4 }).some((a) => a.cidr === addr))
				problems.push(`link ${link} lacks ${addr}`);
			const routes = nl.routeList({ table, family: 4 });
			if (!routes.some((r) => r.dst === "default" && r.gateway === spec.gateway && r.dev === link))
				problems.push(`table ${table} lacks default via ${spec.gateway} dev ${link}`);
			const rules = nl.ruleList({ family: 4 });
			if (
				!rules.some(
					(r) => r.table === table && (r.from === spec.primaryIp || r.from === `${spec.primaryIp}/32`),
				)
			)
				problems.push(`no rule from ${spec.primaryIp} lookup ${table}`);
			if (this.datapathV2) {
				using here = Netns.current();
				const on = listAttached(here, link, { pinRoot: this.datapathV2.pinRoot });
				if (!on.some((a) => a.direction === "ingress" && a.name === V2_PROGRAMS.in))
					problems.push(`datapathv2: ${V2_PROGRAMS.in} is not attached to ${link} ingress`);
			}
			return problems;
		});
	}

	remove(spec: { primaryIp: string; table?: number }): void {
		try {
			this.#with((nl) => {
				for (const r of nl.ruleList({ family: 4 })) {
					if (r.from !== spec.primaryIp && r.from !== `${spec.primaryIp}/32`) continue;
					if (spec.table !== undefined && r.table !== spec.table) continue;
					nl.ruleDel({ from: `${spec.primaryIp}/32`, table: r.table, priority: r.priority });
				}
			});
		} catch {
			// best effort: a missing rule is what we want
		}
	}
}
