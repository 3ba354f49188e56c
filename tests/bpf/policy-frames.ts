/**
 * Crafted Ethernet frames for BPF_PROG_TEST_RUN of the policy programs (tests only): IPv4 and
 * IPv6 with TCP, UDP, SCTP, ICMP / ICMPv6 (echo, errors, neighbour discovery), optional IPv6
 * extension headers and ARP. Checksums are left zero: the programs never verify them.
 */
import { parseIP } from "../../src/core/net/ip.ts";

export type L4 =
	| { proto: "tcp" | "udp" | "sctp"; sport: number; dport: number }
	| { proto: "icmp"; type: number; code?: number; id?: number }
	| { proto: "raw"; number: number; bytes?: number };

const ETH_P_IP = 0x0800;
const ETH_P_IPV6 = 0x86dd;
const ETH_P_ARP = 0x0806;

function eth(type: number, payload: Uint8Array): Uint8Array {
	const f = new Uint8Array(14 + payload.length);
	f.set([0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01], 0);
	f[12] = type >> 8;
	f[13] = type & 0xff;
	f.set(payload, 14);
	return f;
}

function l4Bytes(l4: L4, v6: boolean): { proto: number; bytes: Uint8Array } {
	if (l4.proto === "raw") return { proto: l4.number, bytes: new Uint8Array(l4.bytes ?? 16) };
	if (l4.proto === "tcp" || l4.proto === "udp" || l4.proto === "sctp") {
		const len = l4.proto === "tcp" ? 20 : l4.proto === "udp" ? 8 : 12;
		const b = new Uint8Array(len + 16);
		const dv = new DataView(b.buffer);
		dv.setUint16(0, l4.sport);
		dv.setUint16(2, l4.dport);
		if (l4.proto === "tcp") {
			b[12] = 0x50;
			b[13] = 0x02; // SYN
		}
		if (l4.proto === "udp") dv.setUint16(4, b.length);
		return { proto: l4.proto === "tcp" ? 6 : l4.proto === "udp" ? 17 : 132, bytes: b };
	}
	if (l4.proto === "icmp") {
		const b = new Uint8Array(8 + 16);
		b[0] = l4.type;
		b[1] = l4.code ?? 0;
		new DataView(b.buffer).setUint16(4, l4.id ?? 0);
		return { proto: v6 ? 58 : 1, bytes: b };
	}
	throw new Error(`unknown L4 ${JSON.stringify(l4)}`);
}

/**
 * One IP packet in an Ethernet frame from `src` to `dst` (family from the addresses).
 * `v6ext`: IPv6 extension headers to put before the L4 header ("hop", "dest", "frag").
 * `fragOffset`: non-zero makes it a later fragment (no L4 header is parsed).
 */
export function ipFrame(
	src: string,
	dst: string,
	l4: L4,
	opts: { v6ext?: ("hop" | "dest" | "frag")[]; fragOffset?: number } = {},
): Uint8Array {
	const s = parseIP(src);
	const d = parseIP(dst);
	if (s.family !== d.family) throw new Error(`${src} and ${dst} are not the same family`);
	const { proto, bytes } = l4Bytes(l4, s.family === 6);
	if (s.family === 4) {
		const ip = new Uint8Array(20 + bytes.length);
		const dv = new DataView(ip.buffer);
		ip[0] = 0x45;
		dv.setUint16(2, ip.length);
		dv.setUint16(6, (opts.fragOffset ?? 0) & 0x1fff);
		ip[8] = 64;
		ip[9] = proto;
		ip.set(s.bytes, 12);
		ip.set(d.bytes, 16);
		ip.set(bytes, 20);
		return eth(ETH_P_IP, ip);
	}
	const codes = { hop: 0, dest: 60, frag: 44 } as const;
	const exts = opts.v6ext ?? [];
	const chain = [...exts.map((e) => codes[e]), proto];
	const extBytes = new Uint8Array(8 * exts.length);
	exts.forEach((e, i) => {
		extBytes[i * 8] = chain[i + 1]!;
		if (e === "frag")
			new DataView(extBytes.buffer).setUint16(i * 8 + 2, ((opts.fragOffset ?? 0) & 0x1fff) << 3);
		else extBytes[i * 8 + 2] = 1; // PadN option filling the 8 bytes
		if (e !== "frag") extBytes[i * 8 + 3] = 4;
	});
	const ip = new Uint8Array(40 + extBytes.length + bytes.length);
	const dv = new DataView(ip.buffer);
	ip[0] = 0x60;
	dv.setUint16(4, extBytes.length + bytes.length);
	ip[6] = chain[0]!;
	ip[7] = 64;
	ip.set(s.bytes, 8);
	ip.set(d.bytes, 24);
	ip.set(extBytes, 40);
	ip.set(bytes, 40 + extBytes.length);
	return eth(ETH_P_IPV6, ip);
}

/** An ARP request "who has `target` tell `sender`". */
export function arpFrame(sender: string, target: string): Uint8Array {
	const a = new Uint8Array(28);
	a.set([0, 1, 0x08, 0, 6, 4, 0, 1]);
	a.set([0x02, 0, 0, 0, 0, 0x01], 8);
	a.set(parseIP(sender).bytes, 14);
	a.set(parseIP(target).bytes, 24);
	return eth(ETH_P_ARP, a);
}
