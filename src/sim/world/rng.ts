/**
 * The world's seeded randomness: one mulberry32 stream (state is a single uint32, so a snapshot
 * restores it exactly). IDs, MACs, random IP picks and latency draws all come from it, so a world
 * built twice from the same scenario and seed looks the same. Not for anything secret.
 */
export class Rng {
	constructor(public state: number) {
		this.state = state >>> 0;
	}
	/** Uniform in [0, 1). */
	next(): number {
		this.state = (this.state + 0x6d2b79f5) >>> 0;
		let t = this.state;
		t = Math.imul(t ^ (t >>> 15), t | 1);
		t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
		return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
	}
	/** Integer in [min, max]. */
	int(min: number, max: number): number {
		return min + Math.floor(this.next() * (max - min + 1));
	}
	/** Uniform bigint in [0, n). */
	big(n: bigint): bigint {
		if (n <= 0n) return 0n;
		let r = 0n;
		for (let bits = 0n; 1n << bits < n * 1024n; bits += 32n)
			r = (r << 32n) | BigInt(Math.floor(this.next() * 2 ** 32));
		return r % n;
	}
	/** `len` characters from `alphabet`. */
	chars(len: number, alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"): string {
		let s = "";
		for (let i = 0; i < len; i++) s += alphabet[Math.floor(this.next() * alphabet.length)];
		return s;
	}
}
