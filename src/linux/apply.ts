/**
 * The executor of datapath plans (src/core/datapath): `applyPlan` runs a plan op by op through
 * the Linux layer with ensure semantics, reporting `{changed}` per op and keeping an undo log,
 * so a failure part-way rolls back exactly what this call changed (never what was already
 * there) and throws ApplyError; `teardown` removes what ADD made and tolerates every missing
 * piece (DEL is idempotent); `observe` reads back the state CHECK compares with.
 *
 * `bpf` ops attach a program terwayd pinned under the plan's pin root (BPF_OBJ_GET only: no
 * object is loaded here) with a pinned TCX link, and teardown detaches and unpins that link
 * before the link goes (its pin is named by the ifindex), so nothing stays pinned after DEL.
 *
 * `shared` ops (the ENI table's routes, node sysctls) are ensured but never undone or torn
 * down: other pods rely on them. Everything is synchronous: netlink sockets are bound to their
 * namespace when opened, so the JS thread never stays in the pod's namespace.
 */

import { formatOp } from "../core/datapath/format.ts";
import type { HostView, PodView } from "../core/datapath/leftovers.ts";
import { MAIN_TABLE } from "../core/datapath/names.ts";
import type { NsState, Observed, Op, Plan } from "../core/datapath/types.ts";
import { ERRNO, ErrnoError } from "../ffi/errno.ts";
import { objGet } from "../ffi/libbpf/index.ts";
import { detach, ensureAttached, listAttached } from "./bpf/attach.ts";
import { DEFAULT_PIN_ROOT, PinLayout } from "./bpf/bpffs.ts";
import { sweepDefunctLinkPins } from "./bpf/link-pins.ts";
import { isNotFoundError, LinuxError } from "./errors.ts";
import { Netlink } from "./netlink/handle.ts";
import type { RouteSpec, RuleSpec } from "./netlink/types.ts";
import type { Netns } from "./netns.ts";
import { ensureSysctl, sysctlGet, sysctlSet } from "./sysctl.ts";
import { ensureTbf, qdiscDel, qdiscList } from "./tc.ts";

/** The two namespaces a plan acts in. `pod` may be missing for teardown/observe (netns gone). */
export type PlanNamespaces = { host: Netns; pod: Netns };

export type OpOutcome = { op: Op; changed: boolean };

export type ApplyReport = {
	outcomes: OpOutcome[];
	/** MAC of the pod-side link named in the plan (for the CNI result). */
	podMac?: string;
	/** MAC of the host-side link, if the plan has one. */
	hostMac?: string;
};

/** Why an apply failed: "eni-not-found" (the ENI link is not on the node), "conflict", or "kernel". */
export type ApplyFailure = "eni-not-found" | "conflict" | "kernel";

/** A plan failed at `index`; what it had changed was rolled back (`rollbackErrors` lists what could not be). */
export class ApplyError extends Error {
	override readonly name = "ApplyError";
	constructor(
		message: string,
		readonly op: Op,
		readonly index: number,
		readonly reason: ApplyFailure,
		readonly rollbackErrors: string[],
		options?: { cause?: unknown },
	) {
		super(message, options);
	}
}

/** A request the executor refuses before touching anything more (it already exists, wrong link). */
class ConflictError extends Error {
	constructor(
		message: string,
		readonly reason: ApplyFailure,
	) {
		super(message);
	}
}

type Handles = {
	host: Netlink;
	pod: Netlink | undefined;
	ns: { host: Netns; pod: Netns | undefined };
	/** bpffs root of the plan's `bpf` ops. */
	pinRoot: string;
};

type Undo = { op: Op; prev?: string };

function open(ns: { host: Netns; pod?: Netns | undefined }, pinRoot: string | undefined): Handles {
	const host = Netlink.at(ns.host);
	try {
		return {
			host,
			pod: ns.pod ? Netlink.at(ns.pod) : undefined,
			ns: { host: ns.host, pod: ns.pod },
			pinRoot: pinRoot ?? DEFAULT_PIN_ROOT,
		};
	} catch (e) {
		host.close();
		throw e;
	}
}

function close(h: Handles): void {
	h.host.close();
	h.pod?.close();
}

const nl = (h: Handles, side: "host" | "pod"): Netlink => {
	const x = side === "host" ? h.host : h.pod;
	if (!x) throw new LinuxError("apply", "the pod network namespace is not open");
	return x;
};
const nsOf = (h: Handles, side: "host" | "pod"): Netns => {
	const x = side === "host" ? h.ns.host : h.ns.pod;
	if (!x) throw new LinuxError("apply", "the pod network namespace is not open");
	return x;
};

function routeSpec(o: Extract<Op, { op: "route" }>): RouteSpec {
	const r: RouteSpec = { dst: o.dst, family: o.family, dev: o.dev };
	if (o.gateway) r.gateway = o.gateway;
	if (o.onlink) r.onlink = true;
	if (o.scope) r.scope = o.scope;
	if (o.table) r.table = o.table;
	return r;
}

function ruleSpec(o: Extract<Op, { op: "rule" }>): RuleSpec {
	const r: RuleSpec = { table: o.table, family: o.family, priority: o.priority };
	if (o.from) r.from = o.from;
	if (o.to) r.to = o.to;
	return r;
}

/** Run one op; returns whether it changed anything and the undo record. */
function applyOp(h: Handles, o: Op): { changed: boolean; undo?: Undo } {
	switch (o.op) {
		case "veth": {
			const host = nl(h, "host");
			const pod = nl(h, "pod");
			const have = host.linkFind(o.name);
			if (have) {
				// a repeated ADD finds its own pair; anything else of that name is a conflict
				if (have.kind === "veth" && pod.linkFind(o.peer.name)?.kind === "veth") return { changed: false };
				throw new ConflictError(`link ${o.name} already exists in the host namespace`, "conflict");
			}
			if (pod.linkFind(o.peer.name)) {
				throw new ConflictError(`link ${o.peer.name} already exists in the pod namespace`, "conflict");
			}
			host.linkAdd({
				kind: "veth",
				name: o.name,
				mac: o.mac,
				mtu: o.mtu,
				peerName: o.peer.name,
				peerNetns: nsOf(h, "pod"),
				peerMtu: o.peer.mtu,
			});
			return { changed: true, undo: { op: o } };
		}
		case "move": {
			const host = nl(h, "host");
			const pod = nl(h, "pod");
			const have = host.linkFind(o.name);
			if (!have) {
				const moved = pod.linkFind(o.newName);
				if (moved?.mac === o.mac) return { changed: false };
				throw new ConflictError(`ENI link ${o.name} (${o.mac}) is not on the node`, "eni-not-found");
			}
			if (have.mac !== o.mac) {
				throw new ConflictError(
					`link ${o.name} has mac ${have.mac}, not the ENI's ${o.mac}`,
					"eni-not-found",
				);
			}
			if (pod.linkFind(o.newName)) {
				throw new ConflictError(`link ${o.newName} already exists in the pod namespace`, "conflict");
			}
			if (have.up) host.linkSet(o.name, { up: false });
			host.linkSet(o.name, { netns: nsOf(h, "pod"), name: o.newName });
			return { changed: true, undo: { op: o, prev: have.up ? "up" : "down" } };
		}
		case "up": {
			const want: { up: true; mtu?: number } = { up: true };
			if (o.mtu !== undefined) want.mtu = o.mtu;
			const r = nl(h, o.side).ensureLinkSet(o.name, want);
			return { changed: r.changed, undo: r.changed ? { op: o } : undefined };
		}
		case "addr": {
			const r = nl(h, o.side).ensureAddr({ link: o.link, cidr: o.cidr, nodad: o.nodad === true });
			return { changed: r.changed, undo: r.changed ? { op: o } : undefined };
		}
		case "neigh": {
			const r = nl(h, o.side).ensureNeigh({ link: o.link, ip: o.ip, mac: o.mac });
			return { changed: r.changed, undo: r.changed ? { op: o } : undefined };
		}
		case "route": {
			const r = nl(h, o.side).ensureRoute(routeSpec(o));
			return { changed: r.changed, undo: r.changed && !o.shared ? { op: o } : undefined };
		}
		case "rule": {
			const r = nl(h, o.side).ensureRule(ruleSpec(o));
			return { changed: r.changed, undo: r.changed ? { op: o } : undefined };
		}
		case "sysctl": {
			const ns = nsOf(h, o.side);
			const prev = sysctlGet(ns, o.key);
			const r = ensureSysctl(ns, o.key, o.value);
			return { changed: r.changed, undo: r.changed && !o.shared ? { op: o, prev } : undefined };
		}
		case "tbf": {
			const r = ensureTbf(nsOf(h, o.side), o.link, { rate: o.rate, burst: o.burst, latencyMs: o.latencyMs });
			return { changed: r.changed, undo: r.changed ? { op: o } : undefined };
		}
		case "bpf": {
			const r = attachPinned(h, o);
			return { changed: r.changed, undo: r.changed ? { op: o } : undefined };
		}
	}
}

type BpfOp = Extract<Op, { op: "bpf" }>;

/**
 * Attach the program terwayd pinned at `<pinRoot>/progs/<program>` to the host link (TCX with a
 * pinned link, clsact where the kernel has no TCX). Only BPF_OBJ_GET of the pinned program: the
 * plugin never loads an object. A missing pin means terwayd has not loaded its programs.
 */
function attachPinned(h: Handles, o: BpfOp): { changed: boolean } {
	const path = new PinLayout(h.pinRoot).program(o.program);
	let prog: ReturnType<typeof objGet>;
	try {
		prog = objGet(path);
	} catch (e) {
		if (e instanceof ErrnoError && e.errno === ERRNO.ENOENT)
			throw new LinuxError(
				"bpf",
				`program ${o.program} is not pinned at ${path} (terwayd loads it at start; is its policy agent running?)`,
				e,
			);
		throw e;
	}
	using _prog = prog;
	const r = ensureAttached({ ns: h.ns.host, ifName: o.link, direction: o.direction }, prog.fd, {
		pinRoot: h.pinRoot,
	});
	return { changed: r.changed };
}

/**
 * Remove this op's attachment from the link (its program's pinned TCX link — other programs on
 * the hook stay — or our clsact filter); false if there was none.
 */
function detachPinned(h: Handles, o: BpfOp): boolean {
	// the link went first (the kernel detached the program): only its link pin may remain
	const gone = () => sweepDefunctLinkPins(h.pinRoot).length > 0;
	if (!h.host.linkFind(o.link)) return gone();
	try {
		return detach(
			{ ns: h.ns.host, ifName: o.link, direction: o.direction },
			{ pinRoot: h.pinRoot, program: o.program },
		).changed;
	} catch (e) {
		// the link is going away right now (its pod namespace was just deleted)
		if (isGoneError(e)) return gone();
		throw e;
	}
}

/** ENODEV / ENOENT from libbpf or "no such device" from our layer: the link vanished meanwhile. */
function isGoneError(e: unknown): boolean {
	if (e instanceof ErrnoError) return e.errno === ERRNO.ENODEV || e.errno === ERRNO.ENOENT;
	if (e instanceof LinuxError) return /no such device/i.test(e.message) || isGoneError(e.cause);
	return isNotFoundError(e);
}

/** Ignore "not there" (the piece is already gone); rethrow anything else. */
function tolerant(fn: () => void): void {
	try {
		fn();
	} catch (e) {
		if (isNotFoundError(e)) return;
		// EADDRNOTAVAIL: an IPv6 address the kernel already flushed (link set down)
		if (e instanceof LinuxError && /no such device|not found|No such file|EADDRNOTAVAIL/i.test(e.message))
			return;
		throw e;
	}
}

/** Undo one change (tolerating pieces already gone, e.g. an address whose link was deleted). */
function undoOp(h: Handles, u: Undo): void {
	const o = u.op;
	switch (o.op) {
		case "veth":
			tolerant(() => nl(h, "host").linkDel(o.name));
			return;
		case "move":
			moveBack(h, o, u.prev !== "down");
			return;
		case "up":
			tolerant(() => nl(h, o.side).linkSet(o.name, { up: false }));
			return;
		case "addr":
			tolerant(() => nl(h, o.side).addrDel({ link: o.link, cidr: o.cidr }));
			return;
		case "neigh":
			tolerant(() => nl(h, o.side).neighDel({ link: o.link, ip: o.ip }));
			return;
		case "route":
			tolerant(() => nl(h, o.side).routeDel(routeSpec(o)));
			return;
		case "rule":
			tolerant(() => nl(h, o.side).ruleDel(ruleSpec(o)));
			return;
		case "sysctl":
			if (u.prev !== undefined) tolerant(() => sysctlSet(nsOf(h, o.side), o.key, u.prev as string));
			return;
		case "tbf":
			tolerant(() => qdiscDel(nsOf(h, o.side), o.link, { kind: "tbf" }));
			return;
		case "bpf":
			tolerant(() => detachPinned(h, o));
			return;
	}
}

/** Links (per side) an undo log deletes: the veths it created, both ends. */
function linksDeletedBy(undo: Undo[]): { host: Set<string>; pod: Set<string> } {
	const out = { host: new Set<string>(), pod: new Set<string>() };
	for (const u of undo) {
		if (u.op.op === "veth") {
			out.host.add(u.op.name);
			out.pod.add(u.op.peer.name);
		}
	}
	return out;
}

/** Whether an op's effect lives on a link that is deleted anyway (no need to undo it first). */
function onGoneLink(o: Op, gone: { host: Set<string>; pod: Set<string> }): boolean {
	const set = gone[o.side];
	switch (o.op) {
		case "up":
			return set.has(o.name);
		case "addr":
		case "neigh":
			return set.has(o.link);
		case "route":
			return set.has(o.dev);
		case "tbf":
			return set.has(o.link);
		case "sysctl":
			return [...set].some((l) => o.key.includes(`/conf/${l}/`));
		default:
			return false;
	}
}

/**
 * Move an ENI from the pod back to the node under its own name (down while it moves, then up
 * again unless `up` is false: on the node an ENI is up, as the daemon keeps it). The kernel
 * flushes its pod addresses and routes as it leaves the namespace.
 */
function moveBack(h: Handles, o: Extract<Op, { op: "move" }>, up = true): boolean {
	const pod = h.pod;
	if (!pod) return false;
	const l = pod.linkFind(o.newName);
	if (!l || l.mac !== o.mac) return false;
	if (l.up) pod.linkSet(o.newName, { up: false });
	pod.linkSet(o.newName, { netns: h.ns.host, name: o.name });
	if (up) h.host.linkSet(o.name, { up: true });
	return true;
}

/**
 * Apply `plan`. On failure every change made so far is undone in reverse order and ApplyError
 * is thrown (message: the op, iproute2-style, and the kernel's reason).
 * `beforeOp` is a hook for tests (throw from it to inject a failure at op `i`).
 */
export function applyPlan(
	plan: Plan,
	ns: PlanNamespaces,
	opts: { beforeOp?: (op: Op, index: number) => void } = {},
): ApplyReport {
	const h = open(ns, plan.pinRoot);
	const undo: Undo[] = [];
	const outcomes: OpOutcome[] = [];
	try {
		for (const [i, o] of plan.ops.entries()) {
			try {
				opts.beforeOp?.(o, i);
				const r = applyOp(h, o);
				outcomes.push({ op: o, changed: r.changed });
				if (r.undo) undo.push(r.undo);
			} catch (e) {
				const rollbackErrors: string[] = [];
				const gone = linksDeletedBy(undo);
				for (const u of undo.reverse()) {
					if (onGoneLink(u.op, gone)) continue;
					try {
						undoOp(h, u);
					} catch (re) {
						rollbackErrors.push(`${formatOp(u.op)}: ${(re as Error).message}`);
					}
				}
				const reason: ApplyFailure = e instanceof ConflictError ? e.reason : "kernel";
				throw new ApplyError(`${formatOp(o)}: ${(e as Error).message}`, o, i, reason, rollbackErrors, {
					cause: e,
				});
			}
		}
		const report: ApplyReport = { outcomes };
		const podMac = plan.podLink ? h.pod?.linkFind(plan.podLink)?.mac : undefined;
		if (podMac) report.podMac = podMac;
		const hostMac = plan.hostLink ? h.host.linkFind(plan.hostLink)?.mac : undefined;
		if (hostMac) report.hostMac = hostMac;
		return report;
	} finally {
		close(h);
	}
}

/**
 * Remove what `applyPlan(plan)` made: move ENIs back, delete the host-side links (a veth takes
 * its peer, addresses, routes, neighbours and qdiscs with it), delete the policy rules. Missing
 * pieces are fine, so it can run twice, or after a half-made ADD, or with the pod namespace gone
 * (`pod` undefined). Shared ops stay. Returns what it removed, iproute2-style.
 */
export function teardown(plan: Plan, ns: { host: Netns; pod?: Netns | undefined }): { removed: string[] } {
	const h = open(ns, plan.pinRoot);
	const removed: string[] = [];
	try {
		for (const o of [...plan.ops].reverse()) {
			if (o.op === "bpf") {
				// before the link goes: its TCX link pin is named by the link's ifindex
				if (detachPinned(h, o)) removed.push(formatOp(o));
			} else if (o.op === "move") {
				if (moveBack(h, o)) removed.push(formatOp(o));
			} else if (o.op === "veth") {
				if (h.host.ensureLinkDel(o.name).changed) removed.push(formatOp(o));
			} else if (o.op === "rule") {
				// matched by priority and addresses whatever the table (a teardown from prevResult
				// does not know the ENI's table); the rule's own table is used to delete it
				const n = nl(h, o.side);
				for (const r of n.ruleList({ family: o.family })) {
					if (r.priority !== o.priority || r.action !== "to-table") continue;
					if ((r.from ?? "") !== (o.from ?? "") || (r.to ?? "") !== (o.to ?? "")) continue;
					// the planners' rules have no other selector: one that does is not ours
					if (r.iif || r.oif || r.fwmark) continue;
					tolerant(() => n.ruleDel(ruleSpec({ ...o, table: r.table })));
					removed.push(formatOp({ ...o, table: r.table }));
				}
			}
		}
		return { removed };
	} finally {
		close(h);
	}
}

function readSide(h: Handles, side: "host" | "pod", plan: Plan): NsState {
	const n = nl(h, side);
	const ns = nsOf(h, side);
	const sysctls: Record<string, string> = {};
	const qdiscs: NsState["qdiscs"] = [];
	let bpf: NsState["bpf"];
	const bpfSeen = new Map<string, ReturnType<typeof listAttached>>();
	const links = n.linkList();
	for (const o of plan.ops) {
		if (o.side !== side) continue;
		if (o.op === "sysctl") {
			try {
				sysctls[o.key] = sysctlGet(ns, o.key);
			} catch {
				// missing key (its link is gone): absent
			}
		} else if (o.op === "bpf" && links.some((l) => l.name === o.link)) {
			bpf ??= [];
			const seen = bpfSeen.get(o.link) ?? listAttached(ns, o.link, { pinRoot: h.pinRoot });
			bpfSeen.set(o.link, seen);
			for (const a of seen) {
				const dup = bpf.some((b) => b.link === o.link && b.direction === a.direction && b.program === a.name);
				if (a.direction === o.direction && !dup)
					bpf.push({ link: o.link, direction: a.direction, program: a.name });
			}
		} else if (o.op === "tbf" && links.some((l) => l.name === o.link)) {
			for (const q of qdiscList(ns, o.link)) {
				if (q.parent !== "root") continue;
				const e: NsState["qdiscs"][number] = { link: o.link, kind: q.kind };
				if (q.tbf) e.rate = q.tbf.rate;
				qdiscs.push(e);
			}
		}
	}
	return {
		links: links.map((l) => {
			const x: NsState["links"][number] = { name: l.name, mtu: l.mtu, up: l.up };
			if (l.kind) x.kind = l.kind;
			if (l.mac) x.mac = l.mac;
			return x;
		}),
		addrs: n.addrList().map((a) => ({ link: a.link, cidr: a.cidr })),
		routes: n.routeList({ table: "all" }).map((r) => {
			const x: NsState["routes"][number] = { family: r.family, dst: r.dst, onlink: r.onlink, table: r.table };
			if (r.gateway) x.gateway = r.gateway;
			if (r.dev) x.dev = r.dev;
			return x;
		}),
		rules: n.ruleList().map((r) => {
			const x: NsState["rules"][number] = {
				family: r.family,
				priority: r.priority,
				table: r.table,
				action: r.action,
			};
			if (r.from) x.from = r.from;
			if (r.to) x.to = r.to;
			return x;
		}),
		neighs: n.neighList().map((x) => {
			const e: NsState["neighs"][number] = { link: x.link, ip: x.ip, permanent: x.permanent };
			if (x.mac) e.mac = x.mac;
			return e;
		}),
		sysctls,
		qdiscs,
		...(bpf ? { bpf } : {}),
	};
}

/** Read the state of both namespaces that `checkPlan(plan, ...)` compares. */
export function observe(plan: Plan, ns: { host: Netns; pod?: Netns | undefined }): Observed {
	const h = open(ns, plan.pinRoot);
	try {
		return { host: readSide(h, "host", plan), pod: h.pod ? readSide(h, "pod", plan) : undefined };
	} finally {
		close(h);
	}
}

/**
 * The host namespace as core/datapath/leftovers.ts reads it: links (with a veth's peer index),
 * the main table's routes, every rule. For DEL without an allocation and for GC.
 */
export function readHostView(host: Netns): HostView {
	using n = Netlink.at(host);
	return {
		links: n
			.linkList()
			.map((l) => ({ name: l.name, index: l.index, kind: l.kind, peerIndex: l.parentIndex })),
		routes: n.routeList({ table: MAIN_TABLE }).map((r) => ({ family: r.family, dst: r.dst, dev: r.dev })),
		rules: n.ruleList().map((r) => ({
			family: r.family,
			priority: r.priority,
			table: r.table,
			action: r.action,
			from: r.from,
			to: r.to,
			iif: r.iif,
			oif: r.oif,
			fwmark: r.fwmark,
		})),
	};
}

/** The pod namespace's links and the addresses of `link` (leftovers.ts recoverPodIps). */
export function readPodView(pod: Netns, link: string): PodView {
	using n = Netlink.at(pod);
	const links = n.linkList().map((l) => ({ name: l.name, index: l.index, kind: l.kind }));
	if (!links.some((l) => l.name === link)) return { links, addrs: [] };
	return { links, addrs: n.addrList({ link }).map((a) => ({ link: a.link, cidr: a.cidr, scope: a.scope })) };
}
