/**
 * A throwaway CA and server certificate for the fake apiserver's HTTPS listener, built with
 * node:crypto only (ECDSA P-256 keys, ecdsa-with-SHA256) and a minimal DER encoder for the
 * X.509 v3 structures of RFC 5280 §4.1. Enough for kubectl (Go crypto/x509) and Bun's TLS to
 * verify a chain CA → server with subjectAltName IPs and DNS names; nothing more (no CRLs,
 * no chains longer than one). Not for anything but the sim.
 */
import { createHash, generateKeyPairSync, type KeyObject, randomBytes, sign } from "node:crypto";
import { isIP } from "node:net";

function len(n: number): Buffer {
	if (n < 0x80) return Buffer.from([n]);
	const bytes: number[] = [];
	for (let v = n; v > 0; v >>= 8) bytes.unshift(v & 0xff);
	return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function tlv(tag: number, ...content: Buffer[]): Buffer {
	const body = Buffer.concat(content);
	return Buffer.concat([Buffer.from([tag]), len(body.length), body]);
}

const seq = (...c: Buffer[]) => tlv(0x30, ...c);
const set = (...c: Buffer[]) => tlv(0x31, ...c);
const octets = (b: Buffer) => tlv(0x04, b);
const bitString = (b: Buffer, unused = 0) => tlv(0x03, Buffer.from([unused]), b);
const bool = (v: boolean) => tlv(0x01, Buffer.from([v ? 0xff : 0]));
const utf8 = (s: string) => tlv(0x0c, Buffer.from(s, "utf8"));
const explicit = (n: number, c: Buffer) => tlv(0xa0 | n, c);

function integer(b: Buffer): Buffer {
	let i = 0;
	while (i < b.length - 1 && b[i] === 0 && (b[i + 1]! & 0x80) === 0) i++;
	const v = b.subarray(i);
	return tlv(0x02, (v[0]! & 0x80) !== 0 ? Buffer.concat([Buffer.from([0]), v]) : v);
}

function oid(dotted: string): Buffer {
	const parts = dotted.split(".").map(Number);
	const out = [40 * parts[0]! + parts[1]!];
	for (const p of parts.slice(2)) {
		const stack = [p & 0x7f];
		for (let v = p >> 7; v > 0; v >>= 7) stack.unshift((v & 0x7f) | 0x80);
		out.push(...stack);
	}
	return tlv(0x06, Buffer.from(out));
}

function time(d: Date): Buffer {
	const iso = d.toISOString().replace(/[-:T]/g, "").slice(0, 14); // YYYYMMDDHHMMSS
	return d.getUTCFullYear() < 2050
		? tlv(0x17, Buffer.from(`${iso.slice(2)}Z`))
		: tlv(0x18, Buffer.from(`${iso}Z`));
}

const name = (cn: string) => seq(set(seq(oid("2.5.4.3"), utf8(cn))));
const ECDSA_SHA256 = seq(oid("1.2.840.10045.4.3.2"));

function ext(id: string, critical: boolean, value: Buffer): Buffer {
	return seq(oid(id), ...(critical ? [bool(true)] : []), octets(value));
}

function keyId(spkiDer: Buffer): Buffer {
	// RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING contents. For a P-256
	// SPKI the key is the last 65 bytes (uncompressed point).
	return createHash("sha1")
		.update(spkiDer.subarray(spkiDer.length - 65))
		.digest();
}

function ipBytes(ip: string): Buffer {
	if (isIP(ip) === 4) return Buffer.from(ip.split(".").map(Number));
	const [head, tail] = ip.split("::") as [string, string?];
	const h = head ? head.split(":") : [];
	const t = tail ? tail.split(":") : [];
	const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill("0"), ...t];
	return Buffer.from(groups.flatMap((g) => [parseInt(g, 16) >> 8, parseInt(g, 16) & 0xff]));
}

type CertSpec = {
	subject: string;
	issuer: string;
	publicKey: KeyObject;
	signingKey: KeyObject;
	issuerSpki: Buffer;
	ca: boolean;
	hosts?: string[];
	days: number;
};

function certificate(s: CertSpec): string {
	const spki = s.publicKey.export({ type: "spki", format: "der" });
	const now = Date.now();
	const serial = randomBytes(16);
	serial[0]! &= 0x7f;
	const exts: Buffer[] = [
		ext("2.5.29.19", true, seq(...(s.ca ? [bool(true)] : []))),
		// keyUsage: CA → digitalSignature|keyCertSign|cRLSign; server → digitalSignature|keyEncipherment
		ext("2.5.29.15", true, s.ca ? bitString(Buffer.from([0x86]), 1) : bitString(Buffer.from([0xa0]), 5)),
		ext("2.5.29.14", false, octets(keyId(spki))),
	];
	if (!s.ca) {
		exts.push(ext("2.5.29.37", false, seq(oid("1.3.6.1.5.5.7.3.1"), oid("1.3.6.1.5.5.7.3.2"))));
		exts.push(ext("2.5.29.35", false, seq(tlv(0x80, keyId(s.issuerSpki)))));
		const names = (s.hosts ?? []).map((h) =>
			isIP(h) ? tlv(0x87, ipBytes(h)) : tlv(0x82, Buffer.from(h, "ascii")),
		);
		exts.push(ext("2.5.29.17", false, seq(...names)));
	}
	const tbs = seq(
		explicit(0, integer(Buffer.from([2]))),
		integer(serial),
		ECDSA_SHA256,
		name(s.issuer),
		seq(time(new Date(now - 3600_000)), time(new Date(now + s.days * 86400_000))),
		name(s.subject),
		spki,
		explicit(3, seq(...exts)),
	);
	const sig = sign("sha256", tbs, s.signingKey);
	const der = seq(tbs, ECDSA_SHA256, bitString(sig));
	const b64 = der.toString("base64").replace(/.{64}/g, "$&\n");
	return `-----BEGIN CERTIFICATE-----\n${b64}${b64.endsWith("\n") ? "" : "\n"}-----END CERTIFICATE-----\n`;
}

/** PEM material for an HTTPS listener: the CA (to put in a kubeconfig) and the server cert + key. */
export type TlsMaterial = { caCert: string; caKey: string; cert: string; key: string };

/**
 * Generate a CA and a server certificate for `hosts` (IPs and DNS names, e.g.
 * `["127.0.0.1", "localhost", "100.100.0.20"]`), valid for `days` (default 365).
 */
export function generateTls(hosts: string[], opts: { days?: number; cn?: string } = {}): TlsMaterial {
	const days = opts.days ?? 365;
	const ca = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
	const server = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
	const caSpki = ca.publicKey.export({ type: "spki", format: "der" });
	const caName = "terway-sim-ca";
	const caCert = certificate({
		subject: caName,
		issuer: caName,
		publicKey: ca.publicKey,
		signingKey: ca.privateKey,
		issuerSpki: caSpki,
		ca: true,
		days,
	});
	const cert = certificate({
		subject: opts.cn ?? "kube-apiserver",
		issuer: caName,
		publicKey: server.publicKey,
		signingKey: ca.privateKey,
		issuerSpki: caSpki,
		ca: false,
		hosts,
		days,
	});
	const pem = (k: KeyObject) => k.export({ type: "pkcs8", format: "pem" }).toString();
	return { caCert, caKey: pem(ca.privateKey), cert, key: pem(server.privateKey) };
}
