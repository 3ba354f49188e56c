/**
 * Network sysctls of one network namespace (host or pod): read, write, ensure, and typed helpers
 * for the ones the datapaths use (forwarding, rp_filter, proxy_arp, IPv6 on/off, accept_ra).
 *
 * /proc/sys/net/* entries belong to the network namespace of the task that *opens* them, so every
 * read and write opens the file inside `ns.run(...)` (a synchronous section) and the JS thread goes
 * straight back. It never spawns sysctl(8).
 *
 * Key syntax, as sysctl(8) (procps slashdot()): the FIRST separator decides the form.
 * - dotted `net.ipv4.conf.eth0.rp_filter`: '.' separates components and '/' stands for a literal
 *   '.', so a VLAN link `eth0.100` is written `net.ipv4.conf.eth0/100.rp_filter`;
 * - slash `net/ipv4/conf/eth0.100/rp_filter`: '/' separates and '.' is literal.
 * The typed helpers build slash keys, so link names with dots just work.
 *
 * Allowed keys: only under `net.` (the subtree that is per network namespace; kernel.*, vm.* and
 * friends are host-global and not this module's business). No absolute paths ("/proc/sys/..."),
 * no empty, "." or ".." components, no whitespace or NUL. A bad key throws LinuxError before any
 * file is opened.
 */

import { InvalidValueError } from "../core/net/value-error.ts";
import { isNotFound } from "../ffi/errno.ts";
import { readFileSyncFd, writeFileSyncFd } from "../ffi/libc/index.ts";
import { LinuxError } from "./errors.ts";
import type { Netns } from "./netns.ts";

const PROC_SYS = "/proc/sys";

/**
 * A sysctl key -> its path below /proc/sys ("net/ipv4/conf/eth0.100/rp_filter"), validated.
 * Pure; exported for tests and for messages.
 */
export function sysctlPath(key: string): string {
	const fail = (reason: string): never => {
		const cause = new InvalidValueError("sysctl key", key, reason);
		throw new LinuxError("sysctl", cause.message, cause);
	};
	if (typeof key !== "string" || key.length === 0) return fail("empty");
	if (key.length > 256) fail("too long");
	if (/[\s\0]/.test(key)) fail("contains whitespace or NUL");
	if (key.startsWith("/")) fail("absolute paths are not accepted; give a key like net.ipv4.ip_forward");
	const first = key.search(/[./]/);
	const path =
		first >= 0 && key[first] === "."
			? key.replace(/[./]/g, (c) => (c === "." ? "/" : ".")) // dotted form: swap, as sysctl(8)
			: key;
	const parts = path.split("/");
	for (const p of parts) {
		if (p === "" || p === "." || p === "..") fail('empty, "." or ".." component');
	}
	if (parts[0] !== "net" || parts.length < 2) fail("only net.* keys (per network namespace) are allowed");
	return parts.join("/");
}

/** The dotted spelling of a slash path (for messages): dots in components become '/'. */
function dotted(path: string): string {
	return path.replace(/[./]/g, (c) => (c === "/" ? "." : "/"));
}

function label(ns: Netns): string {
	return ns.name ?? ns.path;
}

function fsError(op: string, ns: Netns, path: string, e: unknown): LinuxError {
	const key = dotted(path);
	if (isNotFound(e)) return new LinuxError(op, `sysctl ${key} in netns ${label(ns)}: no such key`, e);
	return new LinuxError(op, `sysctl ${key} in netns ${label(ns)}: ${(e as Error).message}`, e);
}

/** Read a sysctl in `ns`; the value without its trailing newline (multi-value entries keep tabs). */
export function sysctlGet(ns: Netns, key: string): string {
	const path = sysctlPath(key);
	try {
		return ns.run(() => readFileSyncFd(`${PROC_SYS}/${path}`)).replace(/\n$/, "");
	} catch (e) {
		throw fsError("sysctl.get", ns, path, e);
	}
}

/** Write a sysctl in `ns` (one write(2), as sysctl(8) does). */
export function sysctlSet(ns: Netns, key: string, value: string | number): void {
	const path = sysctlPath(key);
	const v = String(value);
	if (v.length === 0 || /[\n\0]/.test(v)) {
		const cause = new InvalidValueError("sysctl value", value, "must be non-empty, one line");
		throw new LinuxError("sysctl.set", `sysctl ${dotted(path)}: ${cause.message}`, cause);
	}
	try {
		ns.run(() => writeFileSyncFd(`${PROC_SYS}/${path}`, v));
	} catch (e) {
		throw fsError("sysctl.set", ns, path, e);
	}
}

const norm = (s: string): string => s.trim().split(/\s+/).join(" ");

/** Set the sysctl only when it differs (whitespace-insensitive); `{changed}` says whether it wrote. */
export function ensureSysctl(ns: Netns, key: string, value: string | number): { changed: boolean } {
	if (norm(sysctlGet(ns, key)) === norm(String(value))) return { changed: false };
	sysctlSet(ns, key, value);
	return { changed: true };
}

function linkPart(link: string): string {
	if (
		typeof link !== "string" ||
		link.length === 0 ||
		link.length > 15 ||
		link.includes("/") ||
		link === "." ||
		link === ".." ||
		/[\s\0]/.test(link)
	) {
		const cause = new InvalidValueError("link name", link, "must be 1-15 bytes without '/' or whitespace");
		throw new LinuxError("sysctl", cause.message, cause);
	}
	return link;
}

/** `all`, `default` or a link name: the conf/ directory entries. */
export type ConfTarget = "all" | "default" | (string & {});

/** IPv4 forwarding (net.ipv4.ip_forward) or IPv6 forwarding (net.ipv6.conf.all.forwarding). */
export function ensureIpForward(ns: Netns, family: 4 | 6, on = true): { changed: boolean } {
	const key = family === 4 ? "net/ipv4/ip_forward" : "net/ipv6/conf/all/forwarding";
	return ensureSysctl(ns, key, on ? 1 : 0);
}

/** Per-link IPv4 forwarding (net.ipv4.conf.<link>.forwarding). */
export function ensureIpv4Forwarding(ns: Netns, link: ConfTarget, on = true): { changed: boolean } {
	return ensureSysctl(ns, `net/ipv4/conf/${linkPart(link)}/forwarding`, on ? 1 : 0);
}

/** Reverse-path filter: 0 off, 1 strict, 2 loose (net.ipv4.conf.<link>.rp_filter). */
export function ensureRpFilter(ns: Netns, link: ConfTarget, mode: 0 | 1 | 2): { changed: boolean } {
	return ensureSysctl(ns, `net/ipv4/conf/${linkPart(link)}/rp_filter`, mode);
}

/** Answer ARP for addresses routed via other links (net.ipv4.conf.<link>.proxy_arp). */
export function ensureProxyArp(ns: Netns, link: ConfTarget, on = true): { changed: boolean } {
	return ensureSysctl(ns, `net/ipv4/conf/${linkPart(link)}/proxy_arp`, on ? 1 : 0);
}

/** IPv6 on a link or all/default (net.ipv6.conf.<link>.disable_ipv6 = !enabled). */
export function ensureIpv6Enabled(ns: Netns, link: ConfTarget, enabled = true): { changed: boolean } {
	return ensureSysctl(ns, `net/ipv6/conf/${linkPart(link)}/disable_ipv6`, enabled ? 0 : 1);
}

/** Router advertisements: 0 ignore, 1 accept unless forwarding, 2 accept even when forwarding. */
export function ensureIpv6AcceptRa(ns: Netns, link: ConfTarget, mode: 0 | 1 | 2): { changed: boolean } {
	return ensureSysctl(ns, `net/ipv6/conf/${linkPart(link)}/accept_ra`, mode);
}

/** Per-link IPv6 forwarding (net.ipv6.conf.<link>.forwarding). */
export function ensureIpv6Forwarding(ns: Netns, link: ConfTarget, on = true): { changed: boolean } {
	return ensureSysctl(ns, `net/ipv6/conf/${linkPart(link)}/forwarding`, on ? 1 : 0);
}
