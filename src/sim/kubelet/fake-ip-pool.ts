/**
 * Loopback mode's pod addresses: a per-node IPv4 range handed out lowest-first, so pods get a
 * stable, unique-per-node `status.podIP` without any datapath. Pure, in memory; rebuilt after a
 * restart from the pods that already show an IP (`reserve`).
 */
import { formatIPv4, networkOf, parseCIDR, parseIPv4, prefixContains } from "../../core/net/ip.ts";

export class FakeIpPool {
	readonly cidr: string;
	readonly #base: number;
	readonly #size: number;
	readonly #used = new Set<number>();

	/** `cidr`: IPv4 (198.18.0.0/15 in the sim); the network, the first (gateway) and broadcast are skipped. */
	constructor(cidr: string) {
		const p = parseCIDR(cidr);
		if (p.family !== 4 || p.prefixlen > 30)
			throw new Error(`fake pod range ${cidr}: want an IPv4 prefix of /30 or wider`);
		const net = networkOf(p);
		this.cidr = `${formatIPv4(net.bytes)}/${p.prefixlen}`;
		this.#base = new DataView(net.bytes.buffer, net.bytes.byteOffset).getUint32(0);
		this.#size = 2 ** (32 - p.prefixlen);
	}

	#ip(offset: number): string {
		const b = new Uint8Array(4);
		new DataView(b.buffer).setUint32(0, (this.#base + offset) >>> 0);
		return formatIPv4(b);
	}

	#offset(ip: string): number | undefined {
		let bytes: Uint8Array;
		try {
			bytes = parseIPv4(ip);
		} catch {
			return undefined;
		}
		if (!prefixContains(parseCIDR(this.cidr), { family: 4, bytes })) return undefined;
		return new DataView(bytes.buffer, bytes.byteOffset).getUint32(0) - this.#base;
	}

	/** The lowest free address; throws when the range is exhausted. */
	allocate(): string {
		for (let off = 2; off < this.#size - 1; off++) {
			if (!this.#used.has(off)) {
				this.#used.add(off);
				return this.#ip(off);
			}
		}
		throw new Error(`fake pod range ${this.cidr} is exhausted`);
	}

	/** Mark an address used (a pod that already has it); false when it is not in the range. */
	reserve(ip: string): boolean {
		const off = this.#offset(ip);
		if (off === undefined) return false;
		this.#used.add(off);
		return true;
	}

	release(ip: string): void {
		const off = this.#offset(ip);
		if (off !== undefined) this.#used.delete(off);
	}

	get used(): number {
		return this.#used.size;
	}
}
