/**
 * Per-vSwitch address allocator.
 *
 * IPv4 (VPC docs, cloud-sim.md §1.7): the network address and the last three addresses of the
 * vSwitch CIDR are reserved; the gateway instances see is the first of those three (x.x.x.253 in a
 * /24). IPv6 (our choice, documented here): the vSwitch /64's `::` (subnet-router anycast) and
 * `::1` are reserved and `::1` is the gateway (metadata `ipv6-gateway`, e.g. fd00:198:18:1::1).
 *
 * Picks are random (the default, as in ECS) or sequential (lowest free first), drawn from the
 * world's seeded RNG. `availableLimit` caps how many IPv4 addresses the vSwitch can ever hand out,
 * for exhaustion scenarios; `available` (AvailableIpAddressCount) is derived from it.
 */
import type { ScenarioVSwitch } from "../contracts.ts";
import { bigToIp, type Cidr, ipToBig, parseNetwork } from "./addr.ts";
import type { Rng } from "./rng.ts";

export type AllocMode = "random" | "sequential";

class Range {
	readonly used = new Set<bigint>();
	constructor(
		readonly family: 4 | 6,
		readonly lo: bigint,
		readonly hi: bigint,
		readonly capacity: bigint,
	) {}
	get free(): bigint {
		return this.capacity - BigInt(this.used.size);
	}
	pick(rng: Rng, mode: AllocMode): bigint {
		const size = this.hi - this.lo + 1n;
		let off = mode === "random" ? rng.big(size) : 0n;
		for (let i = 0n; i < size; i++, off++) {
			const n = this.lo + (off % size);
			if (!this.used.has(n)) return n;
		}
		throw new Error("allocator: no free address although capacity said so");
	}
	allocate(count: number, rng: Rng, mode: AllocMode): string[] {
		if (BigInt(count) > this.free) throw new Error("allocator: not enough free addresses");
		const out: string[] = [];
		for (let i = 0; i < count; i++) {
			const n = this.pick(rng, mode);
			this.used.add(n);
			out.push(bigToIp(n, this.family));
		}
		return out;
	}
	release(ip: string) {
		this.used.delete(ipToBig(ip).n);
	}
	mark(ip: string) {
		this.used.add(ipToBig(ip).n);
	}
}

export class VSwitchPool {
	readonly cidr: Cidr;
	readonly cidr6: Cidr | undefined;
	readonly gateway: string;
	readonly gateway6: string | undefined;
	readonly #v4: Range;
	readonly #v6: Range | undefined;

	constructor(
		readonly vsw: ScenarioVSwitch,
		private readonly mode: AllocMode = "random",
	) {
		this.cidr = parseNetwork(vsw.cidr);
		const usable = this.cidr.last - 3n - this.cidr.first; // first+1 .. last-3
		const cap =
			vsw.availableLimit !== undefined && BigInt(vsw.availableLimit) < usable
				? BigInt(vsw.availableLimit)
				: usable;
		this.#v4 = new Range(4, this.cidr.first + 1n, this.cidr.last - 3n, cap);
		this.gateway = bigToIp(this.cidr.last - 2n, 4);
		if (vsw.ipv6Cidr) {
			this.cidr6 = parseNetwork(vsw.ipv6Cidr);
			this.#v6 = new Range(
				6,
				this.cidr6.first + 2n,
				this.cidr6.last,
				this.cidr6.last - this.cidr6.first - 1n,
			);
			this.gateway6 = bigToIp(this.cidr6.first + 1n, 6);
		}
	}

	/** AvailableIpAddressCount: IPv4 addresses this vSwitch can still hand out. */
	get available(): number {
		return Number(this.#v4.free);
	}
	get available6(): bigint {
		return this.#v6?.free ?? 0n;
	}
	get hasIpv6(): boolean {
		return this.#v6 !== undefined;
	}

	allocate(count: number, rng: Rng): string[] {
		return this.#v4.allocate(count, rng, this.mode);
	}
	allocate6(count: number, rng: Rng): string[] {
		if (!this.#v6) throw new Error(`allocator: vSwitch ${this.vsw.id} has no IPv6 CIDR`);
		return this.#v6.allocate(count, rng, this.mode);
	}
	release(ips: readonly string[]) {
		for (const ip of ips) this.#v4.release(ip);
	}
	release6(ips: readonly string[]) {
		for (const ip of ips) this.#v6?.release(ip);
	}
	/** Mark addresses as used (restoring a snapshot). */
	mark(ips: readonly string[], ips6: readonly string[]) {
		for (const ip of ips) this.#v4.mark(ip);
		for (const ip of ips6) this.#v6?.mark(ip);
	}
}
