/**
 * IPv4/IPv6 addresses, CIDR prefixes and MAC addresses: parse strictly, format canonically.
 *
 * Pure: no I/O, no Node modules. Everything that reaches the kernel is parsed here first, so a
 * bad string fails with an Error naming the value instead of an EINVAL from netlink. IPv6 text
 * follows RFC 4291 §2.2 on input and RFC 5952 (lowercase, longest zero run as "::") on output.
 */

/** 4 or 6. */
export type IpFamily = 4 | 6;

/** An address as raw network-order bytes (4 or 16). */
export type IpAddr = { family: IpFamily; bytes: Uint8Array };

/** An address plus prefix length; `bytes` keeps the host bits as written ("10.0.0.5/24"). */
export type IpPrefix = IpAddr & { prefixlen: number };

const fail = (what: string, value: string, why: string): never => {
	throw new Error(`invalid ${what} ${JSON.stringify(value)}: ${why}`);
};

const DEC_OCTET = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

function v4(s: string, orig: string): Uint8Array {
	const parts = s.split(".");
	if (parts.length !== 4) fail("IPv4 address", orig, "expected 4 dot-separated numbers");
	const out = new Uint8Array(4);
	parts.forEach((p, i) => {
		if (!DEC_OCTET.test(p)) fail("IPv4 address", orig, `bad octet ${JSON.stringify(p)}`);
		out[i] = Number(p);
	});
	return out;
}

/** Parse dotted-quad IPv4 ("198.18.0.1"); leading zeros are rejected (ambiguous octal). */
export function parseIPv4(s: string): Uint8Array {
	return v4(s, s);
}

/** Parse IPv6 text ("fd00::1", "::ffff:198.18.0.1"); zone ids ("%eth0") are rejected. */
export function parseIPv6(s: string): Uint8Array {
	if (s.includes("%")) fail("IPv6 address", s, "zone ids are not accepted");
	const halves = s.split("::");
	if (halves.length > 2) fail("IPv6 address", s, 'more than one "::"');
	const groups = (h: string): number[] => {
		if (h === "") return [];
		const parts = h.split(":");
		const out: number[] = [];
		parts.forEach((p, i) => {
			if (i === parts.length - 1 && p.includes(".")) {
				const b = v4(p, s);
				out.push((b[0]! << 8) | b[1]!, (b[2]! << 8) | b[3]!);
				return;
			}
			if (!/^[0-9a-fA-F]{1,4}$/.test(p)) fail("IPv6 address", s, `bad group ${JSON.stringify(p)}`);
			out.push(Number.parseInt(p, 16));
		});
		return out;
	};
	// an embedded IPv4 tail ("::ffff:1.2.3.4") may only end the whole address
	if (halves.length === 2 && halves[0]!.includes(".")) fail("IPv6 address", s, "IPv4 part must come last");
	const head = groups(halves[0]!);
	const tail = halves.length === 2 ? groups(halves[1]!) : [];
	if (halves.length === 1 && head.length !== 8) fail("IPv6 address", s, "expected 8 groups");
	if (halves.length === 2 && head.length + tail.length > 7)
		fail("IPv6 address", s, 'too many groups around "::"');
	const all = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
	const out = new Uint8Array(16);
	all.forEach((g, i) => {
		out[2 * i] = g >> 8;
		out[2 * i + 1] = g & 0xff;
	});
	return out;
}

/** Parse either family; the result says which. */
export function parseIP(s: string): IpAddr {
	if (typeof s !== "string" || s.length === 0) return fail("IP address", String(s), "empty");
	return s.includes(":") ? { family: 6, bytes: parseIPv6(s) } : { family: 4, bytes: parseIPv4(s) };
}

/** Parse "addr/len". With `{ allowBare: true }` a bare address means a host prefix (/32, /128). */
export function parseCIDR(s: string, opts: { allowBare?: boolean } = {}): IpPrefix {
	const slash = s.indexOf("/");
	if (slash < 0) {
		if (!opts.allowBare) return fail("CIDR", s, 'missing "/prefix-length"');
		const a = parseIP(s);
		return { ...a, prefixlen: a.bytes.length * 8 };
	}
	const a = parseIP(s.slice(0, slash));
	const lenText = s.slice(slash + 1);
	const max = a.bytes.length * 8;
	if (!/^(0|[1-9]\d{0,2})$/.test(lenText) || Number(lenText) > max) {
		return fail("CIDR", s, `prefix length must be 0..${max}`);
	}
	return { ...a, prefixlen: Number(lenText) };
}

/** The prefix with host bits cleared ("198.18.0.5/24" -> "198.18.0.0/24"). */
export function networkOf(p: IpPrefix): IpPrefix {
	const bytes = new Uint8Array(p.bytes);
	for (let bit = p.prefixlen; bit < bytes.length * 8; bit++) bytes[bit >> 3]! &= ~(0x80 >> (bit & 7));
	return { family: p.family, bytes, prefixlen: p.prefixlen };
}

/** Whether `addr` lies inside `prefix` (same family only). */
export function prefixContains(prefix: IpPrefix, addr: IpAddr): boolean {
	if (prefix.family !== addr.family) return false;
	const net = networkOf(prefix);
	const a = networkOf({ ...addr, prefixlen: prefix.prefixlen });
	return net.bytes.every((b, i) => b === a.bytes[i]);
}

/** Dotted quad. */
export function formatIPv4(b: Uint8Array): string {
	if (b.length !== 4) throw new Error(`IPv4 address must be 4 bytes, got ${b.length}`);
	return Array.from(b).join(".");
}

/** RFC 5952 text: lowercase hex, no leading zeros, the longest run (>= 2) of zero groups as "::". */
export function formatIPv6(b: Uint8Array): string {
	if (b.length !== 16) throw new Error(`IPv6 address must be 16 bytes, got ${b.length}`);
	const g = Array.from({ length: 8 }, (_, i) => (b[2 * i]! << 8) | b[2 * i + 1]!);
	let best = -1;
	let bestLen = 0;
	for (let i = 0; i < 8; ) {
		if (g[i] !== 0) {
			i++;
			continue;
		}
		let j = i;
		while (j < 8 && g[j] === 0) j++;
		if (j - i > bestLen && j - i >= 2) {
			best = i;
			bestLen = j - i;
		}
		i = j;
	}
	const hex = (xs: number[]) => xs.map((x) => x.toString(16)).join(":");
	if (best < 0) return hex(g);
	return `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`;
}

/** Format 4 or 16 bytes. */
export function formatIP(b: Uint8Array): string {
	return b.length === 4 ? formatIPv4(b) : formatIPv6(b);
}

/** "addr/len". */
export function formatCIDR(p: { bytes: Uint8Array; prefixlen: number }): string {
	return `${formatIP(p.bytes)}/${p.prefixlen}`;
}

/** Parse a 48-bit MAC "02:00:5e:10:00:01" (colon separated, two hex digits per byte). */
export function parseMAC(s: string): Uint8Array {
	if (typeof s !== "string" || !/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(s)) {
		return fail("MAC address", String(s), "expected six colon-separated hex bytes");
	}
	return Uint8Array.from(s.split(":"), (x) => Number.parseInt(x, 16));
}

/** Lowercase colon-separated MAC. */
export function formatMAC(b: Uint8Array): string {
	return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(":");
}

/** Whether two byte strings are equal (addresses, MACs). */
export function bytesEqual(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
	if (!a || !b) return a === b;
	return a.length === b.length && a.every((x, i) => x === b[i]);
}
