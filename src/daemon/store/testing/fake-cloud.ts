/**
 * The smallest "cloud" the crash test needs: ClientToken-idempotent answers (cloud-sim §1.4,
 * same token + same params → same result), computed from the token alone, so the fixture
 * before a kill and the recovering parent after it get the very same result, as ECS would.
 */

import type { Intent, IntentParams } from "../types.ts";

/** Token format used by the crash fixture: `tok-<run>-<n>`. */
export function assignResult(
	clientToken: string,
	p: IntentParams["assignIpv4"],
	family: 4 | 6,
): { ips: string[] } {
	const m = /^tok-(\d+)-(\d+)$/.exec(clientToken);
	if (!m) throw new Error(`unexpected token ${clientToken}`);
	const run = Number(m[1]);
	const n = Number(m[2]);
	const ips = Array.from({ length: p.count }, (_, i) => {
		const k = n * 4 + i; // count ≤ 4
		return family === 4
			? `10.${100 + run}.${k >> 8}.${k & 255}`
			: `fd00:${run.toString(16)}::${k.toString(16)}`;
	});
	return { ips };
}

/** Replay of a pending token op: what the cloud returns for the same token. */
export function replay(it: Intent): { ips: string[] } {
	if ((it.op !== "assignIpv4" && it.op !== "assignIpv6") || !it.clientToken) {
		throw new Error(`not replayable: ${it.op}`);
	}
	return assignResult(
		it.clientToken,
		it.params as IntentParams["assignIpv4"],
		it.op === "assignIpv4" ? 4 : 6,
	);
}
