/**
 * Test helpers for the store: temp directories, a manual clock, and a seeded pool.
 * Not imported by product code.
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Store } from "../store.ts";
import type { StoreClock } from "../types.ts";

export class ManualClock implements StoreClock {
	t: number;
	constructor(t = 1_700_000_000_000) {
		this.t = t;
	}
	now(): number {
		return this.t;
	}
	tick(ms = 1000): number {
		this.t += ms;
		return this.t;
	}
}

/** A temp dir removed on dispose: `using dir = tempDir()`. */
export function tempDir(prefix = "terway-store-"): { path: string; [Symbol.dispose](): void } {
	const path = mkdtempSync(join(tmpdir(), prefix));
	return { path, [Symbol.dispose]: () => rmSync(path, { recursive: true, force: true }) };
}

/**
 * One InUse secondary ENI `eni-<n>` per entry with `v4` IPv4s (10.0.<n>.10+i, the first one
 * primary) and `v6` IPv6s (2001:db8:<n>::10+i).
 */
export function seedPool(store: Store, enis: { v4: number; v6?: number }[]): void {
	enis.forEach((e, n) => {
		const eniId = `eni-${n}`;
		const primary = e.v4 > 0 ? `10.0.${n}.10` : null;
		store.upsertEni({
			eniId,
			mac: `02:00:00:00:00:${n.toString(16).padStart(2, "0")}`,
			type: "secondary",
			vswitchId: "vsw-a",
			status: "InUse",
			primaryIp: primary,
			ours: true,
		});
		const ips = [
			...Array.from({ length: e.v4 }, (_, i) => ({ ip: `10.0.${n}.${10 + i}`, primary: i === 0 })),
			...Array.from({ length: e.v6 ?? 0 }, (_, i) => ({ ip: `2001:db8:${n}::${(0x10 + i).toString(16)}` })),
		];
		store.upsertIps(eniId, ips);
	});
}

export const openStore = (dir: string, clock: StoreClock = new ManualClock()) =>
	Store.open(join(dir, "state.db"), { clock });
