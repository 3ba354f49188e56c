/**
 * Address arithmetic for the world: CIDRs as bigint ranges, so allocators, overlap checks and
 * "inside the VPC" checks are plain comparisons. Parsing and formatting come from core/net/ip.ts.
 * Pure; no I/O.
 */
import { formatIP, type IpFamily, parseCIDR, parseIP } from "../../core/net/ip.ts";

/** A CIDR as a range of integers: `first` is the network address, `last` the last address. */
export type Cidr = { text: string; family: IpFamily; prefixlen: number; first: bigint; last: bigint };

export function bytesToBig(b: Uint8Array): bigint {
	let n = 0n;
	for (const x of b) n = (n << 8n) | BigInt(x);
	return n;
}

export function bigToIp(n: bigint, family: IpFamily): string {
	const len = family === 4 ? 4 : 16;
	const out = new Uint8Array(len);
	let v = n;
	for (let i = len - 1; i >= 0; i--) {
		out[i] = Number(v & 0xffn);
		v >>= 8n;
	}
	return formatIP(out);
}

/** Parse "198.18.0.0/24" strictly: host bits must be zero. Throws with the reason. */
export function parseNetwork(text: string): Cidr {
	const p = parseCIDR(text);
	const bits = BigInt(p.bytes.length * 8);
	const n = bytesToBig(p.bytes);
	const hostBits = bits - BigInt(p.prefixlen);
	const size = 1n << hostBits;
	if (n % size !== 0n) throw new Error(`host bits are set (network is ${bigToIp(n - (n % size), p.family)})`);
	return { text, family: p.family, prefixlen: p.prefixlen, first: n, last: n + size - 1n };
}

export function ipToBig(ip: string): { family: IpFamily; n: bigint } {
	const a = parseIP(ip);
	return { family: a.family, n: bytesToBig(a.bytes) };
}

export function cidrContains(outer: Cidr, inner: Cidr): boolean {
	return outer.family === inner.family && inner.first >= outer.first && inner.last <= outer.last;
}

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
	return a.family === b.family && a.first <= b.last && b.first <= a.last;
}

export function cidrHas(c: Cidr, ip: string): boolean {
	try {
		const a = ipToBig(ip);
		return a.family === c.family && a.n >= c.first && a.n <= c.last;
	} catch {
		return false;
	}
}

/** The only ranges the sim may use (the project's address rule; never 10/8, 172.16/12, 192.168/16). */
export const SIM_IPV4_RANGE = parseNetwork("198.18.0.0/15");
export const SIM_IPV6_RANGE = parseNetwork("fd00::/8");
