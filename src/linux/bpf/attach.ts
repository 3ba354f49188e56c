/**
 * Attach tc programs to an interface inside a network namespace: TCX links (kernel >= 6.6,
 * pinned so they outlive the process) or clsact + direct-action cls_bpf (any kernel), list
 * what is attached, detach.
 *
 * Every libbpf call that takes an ifindex runs inside `ns.run(...)`, and the ifindex is
 * resolved in that same section (ffi-probe Q1/Q3: ifindexes are per netns).
 * Ownership: "ours" are the TCX links pinned at PinLayout.link(netns inode, ifindex, direction,
 * program name) — one per program, since TCX runs several programs on one hook in attach order
 * (the policy program, then datapathv2's redirect) — and the clsact filter at our
 * handle/priority; other programs are listed, never touched.
 */
import { existsSync, readdirSync } from "node:fs";
import { ERRNO, ErrnoError } from "../../ffi/errno.ts";
import {
	BPF_TC_EGRESS,
	BPF_TC_INGRESS,
	BPF_TCX_EGRESS,
	BPF_TCX_INGRESS,
	linkCreate,
	linkDetach,
	linkInfo,
	linkUpdate,
	objGet,
	objPin,
	progGetFdById,
	progInfo,
	progQuery,
	tcAttach,
	tcDetach,
	tcHookCreate,
	tcQuery,
} from "../../ffi/libbpf/index.ts";
import { ifNameToIndex } from "../../ffi/libc/index.ts";
import { LinuxError } from "../errors.ts";
import type { Netns } from "../netns.ts";
import { DEFAULT_PIN_ROOT, PinLayout, unpin } from "./bpffs.ts";

export type TcDirection = "ingress" | "egress";
export type TcMode = "tcx" | "clsact";

/** Our clsact filter slot (cilium uses the same handle/priority pair). */
export const TC_HANDLE = 1;
export const TC_PRIORITY = 1;

export type TcTarget = {
	/** The namespace the interface lives in. */
	ns: Netns;
	ifName: string;
	direction: TcDirection;
};

export type TcAttachOptions = {
	/** "auto" (default): TCX when the kernel has it, else clsact. */
	mode?: TcMode | "auto";
	/** Where TCX links are pinned (default /sys/fs/bpf/terway). */
	pinRoot?: string;
	/** clsact filter slot (default TC_HANDLE/TC_PRIORITY). */
	handle?: number;
	priority?: number;
};

export type TcAttachment = {
	mode: TcMode;
	direction: TcDirection;
	ifName: string;
	ifindex: number;
	progId: number;
	/** TCX: the link pin. */
	linkPin?: string;
	/** clsact: the filter slot. */
	handle?: number;
	priority?: number;
};

/** One program found on an interface. */
export type AttachedProgram = {
	progId: number;
	name: string;
	mode: TcMode;
	direction: TcDirection;
	/** TCX: our link pin when this program is attached through it. */
	linkPin?: string;
	/** clsact: the filter slot. */
	handle?: number;
	priority?: number;
};

const tcxType = (d: TcDirection) => (d === "ingress" ? BPF_TCX_INGRESS : BPF_TCX_EGRESS);
const tcPoint = (d: TcDirection) => (d === "ingress" ? BPF_TC_INGRESS : BPF_TC_EGRESS);

let tcxProbe: boolean | undefined;

/**
 * Whether the kernel supports TCX (6.6+): BPF_PROG_QUERY for BPF_TCX_INGRESS on lo (ifindex 1
 * in every netns) succeeds there and fails with EINVAL on older kernels. Cached.
 */
export function tcxSupported(): boolean {
	if (tcxProbe === undefined) {
		try {
			progQuery(1, BPF_TCX_INGRESS);
			tcxProbe = true;
		} catch (e) {
			if (e instanceof ErrnoError && e.errno === ERRNO.EINVAL) tcxProbe = false;
			else throw e;
		}
	}
	return tcxProbe;
}

/** "auto" -> "tcx" | "clsact". */
export function resolveMode(mode: TcMode | "auto" = "auto"): TcMode {
	if (mode !== "auto") return mode;
	return tcxSupported() ? "tcx" : "clsact";
}

/** ifindex of `ifName` in the calling thread's netns (call inside ns.run). */
function ifindexHere(t: TcTarget): number {
	const ifindex = ifNameToIndex(t.ifName);
	if (ifindex === 0) {
		throw new LinuxError(
			"bpf.attach",
			`link ${t.ifName} in netns ${t.ns.name ?? t.ns.path}: no such device`,
			new ErrnoError("if_nametoindex", ERRNO.ENODEV, t.ifName),
		);
	}
	return ifindex;
}

function nsInode(ns: Netns): number {
	return Number(/\[(\d+)\]/.exec(ns.inode)?.[1] ?? 0);
}

function linkPinFor(t: TcTarget, ifindex: number, pinRoot: string | undefined, program: string): string {
	return new PinLayout(pinRoot ?? DEFAULT_PIN_ROOT).link(nsInode(t.ns), ifindex, t.direction, program);
}

/**
 * Our TCX link pins on one hook: every program's (`..._<direction>_<program>`) and the unnamed
 * pin of older versions (`..._<direction>`); only `program`'s when given.
 */
function linkPinsOn(t: TcTarget, ifindex: number, pinRoot: string | undefined, program?: string): string[] {
	const base = new PinLayout(pinRoot ?? DEFAULT_PIN_ROOT).link(nsInode(t.ns), ifindex, t.direction);
	if (program !== undefined) {
		const one = linkPinFor(t, ifindex, pinRoot, program);
		return existsSync(one) ? [one] : [];
	}
	const dir = base.slice(0, base.lastIndexOf("/"));
	const name = base.slice(dir.length + 1);
	let names: string[];
	try {
		names = readdirSync(dir);
	} catch (e) {
		if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
		throw e;
	}
	return names.filter((n) => n === name || n.startsWith(`${name}_`)).map((n) => `${dir}/${n}`);
}

/**
 * Make sure the program behind `progFd` is attached to the target by `mode`, exactly once, in
 * our slot. TCX: reuse our pinned link for this program name (updating it when the program was
 * reloaded), or create and pin one after what runs there already. clsact: add the qdisc when
 * missing and put the program in our filter slot.
 */
export function ensureAttached(
	t: TcTarget,
	progFd: number,
	opts: TcAttachOptions = {},
): TcAttachment & { changed: boolean } {
	const mode = resolveMode(opts.mode);
	const prog = progInfo(progFd);
	const progId = prog.id;
	if (mode === "tcx") {
		return t.ns.run(() => {
			const ifindex = ifindexHere(t);
			const pin = linkPinFor(t, ifindex, opts.pinRoot, prog.name);
			const base = { mode, direction: t.direction, ifName: t.ifName, ifindex, progId, linkPin: pin } as const;
			if (existsSync(pin)) {
				using link = objGet(pin);
				const info = linkInfo(link.fd);
				if (info.tcx?.ifindex === ifindex && info.tcx.attachType === tcxType(t.direction)) {
					if (info.progId === progId) return { ...base, changed: false };
					linkUpdate(link.fd, progFd);
					return { ...base, changed: true };
				}
				// A stale pin (its device is gone): drop it and attach afresh.
				unpin(pin);
			}
			new PinLayout(opts.pinRoot ?? DEFAULT_PIN_ROOT).prepare(pin);
			using link = linkCreate(progFd, ifindex, tcxType(t.direction));
			objPin(link.fd, pin); // closing our fd below leaves the pinned link attached
			return { ...base, changed: true };
		});
	}
	const handle = opts.handle ?? TC_HANDLE;
	const priority = opts.priority ?? TC_PRIORITY;
	return t.ns.run(() => {
		const ifindex = ifindexHere(t);
		const hook = { ifindex, attachPoint: tcPoint(t.direction) };
		const base = {
			mode,
			direction: t.direction,
			ifName: t.ifName,
			ifindex,
			progId,
			handle,
			priority,
		} as const;
		// An existing clsact with nothing yet in this direction answers EINVAL (no chain): none.
		const created = tcHookCreate(hook);
		if (!created && tcQueryOrNone(hook, handle, priority)?.progId === progId)
			return { ...base, changed: false };
		tcAttach(hook, { progFd, handle, priority, replace: true });
		return { ...base, changed: true };
	});
}

/**
 * Remove our attachment(s) from the target: the pinned TCX links (detached, then unpinned; only
 * `program`'s when given, else every program's on that hook) and/or our clsact filter. mode
 * "all" (default) removes both. The clsact qdisc itself stays (other filters may live on it).
 */
export function detach(
	t: TcTarget,
	opts: {
		mode?: TcMode | "all";
		pinRoot?: string;
		handle?: number;
		priority?: number;
		program?: string;
	} = {},
): {
	changed: boolean;
} {
	const mode = opts.mode ?? "all";
	return t.ns.run(() => {
		const ifindex = ifindexHere(t);
		let changed = false;
		if (mode === "tcx" || mode === "all") {
			for (const pin of linkPinsOn(t, ifindex, opts.pinRoot, opts.program?.slice(0, 15))) {
				using link = objGet(pin);
				// Detach first: an unpin alone would leave it attached while anyone holds an fd.
				linkDetach(link.fd);
				unpin(pin);
				changed = true;
			}
		}
		if (mode === "clsact" || mode === "all") {
			const hook = { ifindex, attachPoint: tcPoint(t.direction) };
			if (tcQueryOrNone(hook, opts.handle ?? TC_HANDLE, opts.priority ?? TC_PRIORITY)) {
				changed =
					tcDetach(hook, { handle: opts.handle ?? TC_HANDLE, priority: opts.priority ?? TC_PRIORITY }) ||
					changed;
			}
		}
		return { changed };
	});
}

/** tc query that also treats "no clsact qdisc" (EINVAL from libbpf) as nothing attached. */
function tcQueryOrNone(hook: { ifindex: number; attachPoint: number }, handle: number, priority: number) {
	try {
		return tcQuery(hook, { handle, priority });
	} catch (e) {
		if (e instanceof ErrnoError && e.errno === ERRNO.EINVAL) return undefined;
		throw e;
	}
}

/**
 * What runs on the interface: every TCX program (ours or not) and the program in our clsact slot,
 * for both directions, with names from the kernel.
 */
export function listAttached(
	ns: Netns,
	ifName: string,
	opts: { pinRoot?: string; handle?: number; priority?: number } = {},
): AttachedProgram[] {
	const handle = opts.handle ?? TC_HANDLE;
	const priority = opts.priority ?? TC_PRIORITY;
	const found: Omit<AttachedProgram, "name">[] = [];
	ns.run(() => {
		const ifindex = ifindexHere({ ns, ifName, direction: "ingress" });
		for (const direction of ["ingress", "egress"] as const) {
			if (tcxSupported()) {
				const pinned = new Map<number, string>();
				for (const pin of linkPinsOn({ ns, ifName, direction }, ifindex, opts.pinRoot)) {
					using link = objGet(pin);
					pinned.set(linkInfo(link.fd).progId, pin);
				}
				for (const progId of progQuery(ifindex, tcxType(direction)).progIds) {
					const linkPin = pinned.get(progId);
					found.push({ progId, mode: "tcx", direction, ...(linkPin ? { linkPin } : {}) });
				}
			}
			const q = tcQueryOrNone({ ifindex, attachPoint: tcPoint(direction) }, handle, priority);
			if (q) found.push({ progId: q.progId, mode: "clsact", direction, handle, priority });
		}
	});
	return found.map((f) => ({ ...f, name: progName(f.progId) }));
}

/** A program's kernel name by id ("" when it went away meanwhile). */
function progName(id: number): string {
	try {
		using fd = progGetFdById(id);
		return progInfo(fd.fd).name;
	} catch (e) {
		if (e instanceof ErrnoError && e.errno === ERRNO.ENOENT) return "";
		throw e;
	}
}
