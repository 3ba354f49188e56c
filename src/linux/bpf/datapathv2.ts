/**
 * datapathv2 (bpf/datapathv2.bpf.c) from user space: probe the kernel once, load the object and
 * pin its two programs where the plan's `bpf` op and the ENI attach find them, keep the list of
 * destinations that must take the host stack (service CIDRs), read the redirect counters, and
 * attach the inbound program to an ENI.
 *
 * Pins under the pin root (default /sys/fs/bpf/terway):
 *   progs/terway_v2_out   tc ingress of each pod's host veth (the plan's `bpf` op)
 *   progs/terway_v2_in    tc ingress of each ENI (terwayd, daemon/links.ts)
 *   terway_v2_stats       per-CPU counters (V2_STAT slots)
 *   terway_v2_skip        LPM trie of CIDRs left to the host stack
 * The probe is the load itself (the verifier refuses unknown helpers: bpf_fib_lookup,
 * bpf_redirect_neigh, bpf_redirect_peer) plus TCX support; without them the caller falls back to
 * the `veth` datapath, whose addressing is the same.
 */
import { existsSync, readFileSync } from "node:fs";
import { ErrnoError } from "../../ffi/errno.ts";
import { mapLookup, objGet } from "../../ffi/libbpf/index.ts";
import { LinuxError } from "../errors.ts";
import type { Netns } from "../netns.ts";
import { ensureAttached, tcxSupported } from "./attach.ts";
import { DEFAULT_PIN_ROOT, ensurePinDir, PinLayout, unpin } from "./bpffs.ts";
import { type Codec, u32 } from "./codec.ts";
import { loadObject, pinProgram } from "./objects.ts";
import { TypedMap } from "./typed-map.ts";

/** Program names (the pins under <pinRoot>/progs/). */
export const V2_PROGRAMS = { out: "terway_v2_out", in: "terway_v2_in" } as const;

/** terway_v2_stats slots, as TERWAY_V2_STAT_* in bpf/datapathv2.bpf.c. */
export const V2_STAT = { outRedirect: 0, outPass: 1, inRedirect: 2, inPass: 3, inDrop: 4 } as const;
export type V2Stats = Record<keyof typeof V2_STAT, bigint>;

export const V2_MAPS = { stats: "terway_v2_stats", skip: "terway_v2_skip" } as const;

export type SkipKey = { prefixlen: number; family: number; addr: Uint8Array };

/** struct terway_ip_key (bpf/include/terway_policy.h): prefixlen counts family(32) + address bits. */
export const v2SkipKey: Codec<SkipKey> = {
	cName: "terway_ip_key",
	size: 24,
	encode(k) {
		const b = new Uint8Array(24);
		const dv = new DataView(b.buffer);
		dv.setUint32(0, k.prefixlen, true);
		dv.setUint32(4, k.family, true);
		b.set(k.addr.subarray(0, 16), 8);
		return b;
	},
	decode(b) {
		const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
		return { prefixlen: dv.getUint32(0, true), family: dv.getUint32(4, true), addr: b.slice(8, 24) };
	},
	encodeMany(ks) {
		const out = new Uint8Array(24 * ks.length);
		ks.forEach((k, i) => {
			out.set(this.encode(k), i * 24);
		});
		return out;
	},
};

const pinRootOf = (pinRoot?: string) => pinRoot ?? DEFAULT_PIN_ROOT;

export type V2Support = { ok: true } | { ok: false; reason: string };

const probes = new Map<string, V2Support>();

/**
 * Load the datapathv2 object under `pinRoot` and pin both programs there (replacing older pins),
 * then set the skip list to `skipCidrs`. Probes once per pin root per process: without TCX or
 * when the kernel refuses the programs (missing helpers), nothing is pinned and the answer says
 * why; the caller logs it and keeps the `veth` datapath. Throws when the pin root is unusable
 * (not on a bpffs) or a pin fails: a setup problem, not the kernel's.
 */
export function setupDatapathV2(opts: { pinRoot?: string; skipCidrs?: string[] } = {}): V2Support {
	const pinRoot = pinRootOf(opts.pinRoot);
	const known = probes.get(pinRoot);
	if (known && !known.ok) return known;
	if (!tcxSupported()) {
		const r = { ok: false, reason: "the kernel has no TCX (tc BPF links, Linux 6.6+)" } as const;
		probes.set(pinRoot, r);
		return r;
	}
	ensurePinDir(pinRoot); // not the kernel's fault: throws (the pin root is not on a bpffs)
	let obj: ReturnType<typeof loadObject>;
	try {
		obj = loadObject("datapathv2", { pinRoot });
	} catch (e) {
		const r = {
			ok: false,
			reason: `the kernel refused the datapathv2 programs (bpf_fib_lookup, bpf_redirect_neigh, bpf_redirect_peer): ${(e as Error).message}`,
		} as const;
		probes.set(pinRoot, r);
		return r;
	}
	try {
		pinProgram(obj, V2_PROGRAMS.out, pinRoot);
		pinProgram(obj, V2_PROGRAMS.in, pinRoot);
	} finally {
		obj.close();
	}
	if (opts.skipCidrs) setSkipCidrs(opts.skipCidrs, pinRoot);
	probes.set(pinRoot, { ok: true });
	return { ok: true };
}

/** Whether terwayd pinned the datapathv2 programs under `pinRoot` (what the plugin checks). */
export function datapathV2Ready(pinRoot?: string): boolean {
	const pins = new PinLayout(pinRootOf(pinRoot));
	return existsSync(pins.program(V2_PROGRAMS.out)) && existsSync(pins.program(V2_PROGRAMS.in));
}

/** Remove the program and map pins of datapathv2 (links stay until their devices go). */
export function removeDatapathV2(pinRoot?: string): string[] {
	const pins = new PinLayout(pinRootOf(pinRoot));
	const removed: string[] = [];
	for (const p of [
		pins.program(V2_PROGRAMS.out),
		pins.program(V2_PROGRAMS.in),
		pins.map(V2_MAPS.stats),
		pins.map(V2_MAPS.skip),
	]) {
		if (unpin(p)) removed.push(p);
	}
	probes.delete(pinRootOf(pinRoot));
	return removed;
}

/** Key of a CIDR in terway_v2_skip ("10.96.0.0/12", "fd00:96::/108"). */
export function skipKey(cidr: string): SkipKey {
	const [ip, len] = cidr.split("/");
	const v6 = (ip ?? "").includes(":");
	const bits = Number(len ?? (v6 ? 128 : 32));
	const addr = new Uint8Array(16);
	const parsed = v6 ? parseV6(ip ?? "") : parseV4(ip ?? "");
	if (!parsed || !Number.isInteger(bits) || bits < 0 || bits > (v6 ? 128 : 32))
		throw new LinuxError("datapathv2", `skip CIDR ${JSON.stringify(cidr)} is not an IPv4 or IPv6 CIDR`);
	addr.set(parsed);
	return { prefixlen: 32 + bits, family: v6 ? 6 : 4, addr };
}

function parseV4(s: string): Uint8Array | undefined {
	const parts = s.split(".").map(Number);
	if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) return undefined;
	return Uint8Array.from(parts);
}

function parseV6(s: string): Uint8Array | undefined {
	const [head, tail, extra] = s.split("::");
	if (extra !== undefined) return undefined;
	const h = head ? head.split(":") : [];
	const t = tail ? tail.split(":") : [];
	const missing = 8 - h.length - t.length;
	if (tail === undefined ? missing !== 0 : missing < 1) return undefined;
	const groups = [...h, ...Array(tail === undefined ? 0 : missing).fill("0"), ...t];
	const out = new Uint8Array(16);
	for (const [i, g] of groups.entries()) {
		if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
		const v = Number.parseInt(g, 16);
		out[i * 2] = v >> 8;
		out[i * 2 + 1] = v & 0xff;
	}
	return out;
}

/** Replace the skip list with exactly `cidrs` (the service CIDRs: kube-proxy DNATs in the stack). */
export function setSkipCidrs(cidrs: string[], pinRoot?: string): void {
	const keys = cidrs.map(skipKey);
	const pins = new PinLayout(pinRootOf(pinRoot));
	using m = TypedMap.openPinned(pins.map(V2_MAPS.skip), { name: V2_MAPS.skip, key: v2SkipKey, value: u32 });
	const want = new Set(keys.map((k) => keyId(k)));
	for (const [k] of [...m.entries()]) if (!want.has(keyId(k))) m.delete(k);
	for (const k of keys) m.set(k, { value: 1 });
}

/** The skip list as CIDRs (v6 uncompressed: fd00:96:0:0:0:0:0:0/108). */
export function readSkipCidrs(pinRoot?: string): string[] {
	const pins = new PinLayout(pinRootOf(pinRoot));
	using m = TypedMap.openPinned(pins.map(V2_MAPS.skip), { name: V2_MAPS.skip, key: v2SkipKey, value: u32 });
	return [...m.keys()].map((k) => {
		const bits = k.prefixlen - 32;
		if (k.family === 4) return `${[...k.addr.subarray(0, 4)].join(".")}/${bits}`;
		const groups: string[] = [];
		for (let i = 0; i < 16; i += 2)
			groups.push((((k.addr[i] ?? 0) << 8) | (k.addr[i + 1] ?? 0)).toString(16));
		return `${groups.join(":")}/${bits}`;
	});
}

const keyId = (k: SkipKey) => `${k.family}/${k.prefixlen}/${[...k.addr].join(".")}`;

/** Number of possible CPUs (per-CPU map values hold one slot each). */
function possibleCpus(): number {
	const text = readFileSync("/sys/devices/system/cpu/possible", "utf8").trim();
	let n = 0;
	for (const part of text.split(",")) {
		const [a, b] = part.split("-").map(Number);
		n += b === undefined ? 1 : (b as number) - (a as number) + 1;
	}
	return n;
}

/** The redirect counters, summed over CPUs (zeros when datapathv2 was never loaded there). */
export function readV2Stats(pinRoot?: string): V2Stats {
	const out = Object.fromEntries(Object.keys(V2_STAT).map((k) => [k, 0n])) as V2Stats;
	const path = new PinLayout(pinRootOf(pinRoot)).map(V2_MAPS.stats);
	if (!existsSync(path)) return out;
	using fd = objGet(path);
	const cpus = possibleCpus();
	for (const [name, slot] of Object.entries(V2_STAT) as [keyof typeof V2_STAT, number][]) {
		const v = mapLookup(fd.fd, u32.encode({ value: slot }), 8 * cpus);
		if (!v) continue;
		const dv = new DataView(v.buffer, v.byteOffset, v.byteLength);
		for (let c = 0; c < cpus; c++) out[name] += dv.getBigUint64(c * 8, true);
	}
	return out;
}

/**
 * Attach the pinned inbound program to an ENI's tc ingress (TCX link pinned under the pin root,
 * idempotent). Throws when terwayd has not pinned it (setupDatapathV2 first).
 */
export function attachV2ToEni(ns: Netns, link: string, pinRoot?: string): { changed: boolean } {
	const path = new PinLayout(pinRootOf(pinRoot)).program(V2_PROGRAMS.in);
	let prog: ReturnType<typeof objGet>;
	try {
		prog = objGet(path);
	} catch (e) {
		throw new LinuxError(
			"datapathv2",
			`${V2_PROGRAMS.in} is not pinned at ${path}`,
			e instanceof ErrnoError ? e : undefined,
		);
	}
	using _p = prog;
	const r = ensureAttached({ ns, ifName: link, direction: "ingress" }, prog.fd, {
		mode: "tcx",
		pinRoot: pinRootOf(pinRoot),
	});
	return { changed: r.changed };
}
