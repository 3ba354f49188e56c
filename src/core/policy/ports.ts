/**
 * NetworkPolicy ports: validation of a NetworkPolicyPort and the expansion of a numeric port or
 * port range into terway_policy LPM prefixes (a port range is the minimal set of aligned blocks,
 * each "the ports sharing the top `bits` bits of `port`"). Pure.
 */
import { type NetworkPolicyPort, PROTO, type Protocol } from "./types.ts";

/** One LPM port prefix: `bits` 16 = exactly `port`; 0 = any port. */
export type PortPrefix = { port: number; bits: number };

/**
 * The ports port..endPort as the fewest aligned prefixes (greedy largest aligned block: this is
 * minimal for a contiguous range). port <= endPort, both 0..65535.
 */
export function portRangePrefixes(port: number, endPort: number = port): PortPrefix[] {
	if (!isPort(port, 0) || !isPort(endPort, 0) || endPort < port) {
		throw new RangeError(`invalid port range ${port}-${endPort}`);
	}
	const out: PortPrefix[] = [];
	let cur = port;
	while (cur <= endPort) {
		let size = 1;
		let bits = 16;
		// grow while cur stays aligned to the doubled block and the block stays inside the range
		while (bits > 0 && cur % (size * 2) === 0 && cur + size * 2 - 1 <= endPort) {
			size *= 2;
			bits--;
		}
		out.push({ port: cur, bits });
		cur += size;
	}
	return out;
}

const isPort = (n: unknown, min: number): n is number =>
	typeof n === "number" && Number.isInteger(n) && n >= min && n <= 65535;

/** IANA_SVC_NAME as Kubernetes validates a named port: 1-15 of [a-z0-9-], a letter, no "--", no edge "-". */
const SVC_NAME = /^[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?$/;
const isSvcName = (s: string): boolean => SVC_NAME.test(s) && /[a-z]/.test(s) && !s.includes("--");

/** A validated NetworkPolicyPort. */
export type PortSpec =
	| { kind: "all" }
	| { kind: "proto"; proto: number }
	| { kind: "numbers"; proto: number; prefixes: PortPrefix[]; text: string }
	| { kind: "named"; proto: number; protocol: Protocol; name: string };

/** A port that failed validation: `path` names the field ("spec.ingress[0].ports[1].endPort"). */
export class PortError extends Error {
	override readonly name = "PortError";
	constructor(
		readonly path: string,
		readonly value: unknown,
		reason: string,
	) {
		super(`${path} ${JSON.stringify(value)}: ${reason}`);
	}
}

/** Validate one NetworkPolicyPort (protocol defaults to TCP) into a PortSpec; throws PortError. */
export function parsePort(p: NetworkPolicyPort, path: string): PortSpec {
	const protocol = p.protocol ?? "TCP";
	if (!Object.hasOwn(PROTO, protocol)) {
		throw new PortError(`${path}.protocol`, p.protocol, "must be TCP, UDP or SCTP");
	}
	const proto = PROTO[protocol];
	if (p.port === undefined || p.port === null) {
		if (p.endPort !== undefined && p.endPort !== null)
			throw new PortError(`${path}.endPort`, p.endPort, "needs a port");
		return { kind: "proto", proto };
	}
	if (typeof p.port === "string") {
		if (p.endPort !== undefined && p.endPort !== null)
			throw new PortError(`${path}.endPort`, p.endPort, `cannot be used with the named port ${p.port}`);
		if (!isSvcName(p.port))
			throw new PortError(`${path}.port`, p.port, "must be 1..65535 or a port name (IANA_SVC_NAME)");
		return { kind: "named", proto, protocol, name: p.port };
	}
	if (!isPort(p.port, 1)) throw new PortError(`${path}.port`, p.port, "must be 1..65535");
	if (p.endPort === undefined || p.endPort === null) {
		return { kind: "numbers", proto, prefixes: [{ port: p.port, bits: 16 }], text: `${p.port}` };
	}
	if (!isPort(p.endPort, 1)) throw new PortError(`${path}.endPort`, p.endPort, "must be 1..65535");
	if (p.endPort < p.port) throw new PortError(`${path}.endPort`, p.endPort, `must be >= port ${p.port}`);
	return {
		kind: "numbers",
		proto,
		prefixes: portRangePrefixes(p.port, p.endPort),
		text: `${p.port}-${p.endPort}`,
	};
}
