/**
 * @module daemon/store/pick
 *
 * Built-in pick policies for {@link Store.allocate}. Pure: they see only the candidate
 * list the store passes in (inside its write transaction) and return a choice or null.
 */

import type { Candidate, Pick, PickPolicy, Want } from "./types.ts";

const fits = (c: Candidate, want: Want) => (!want.v4 || c.v4.length > 0) && (!want.v6 || c.v6.length > 0);

/** Idle count of the family that decides (IPv4 when wanted, else IPv6). */
const idleOf = (c: Candidate, want: Want) => (want.v4 ? c.v4.length : c.v6.length);

/** Oldest idleSince among the wanted families' first (oldest) entries. */
const oldestOf = (c: Candidate, want: Want) =>
	Math.min(
		want.v4 ? (c.v4[0]?.idleSince ?? Number.POSITIVE_INFINITY) : Number.POSITIVE_INFINITY,
		want.v6 ? (c.v6[0]?.idleSince ?? Number.POSITIVE_INFINITY) : Number.POSITIVE_INFINITY,
	);

export function pickBy(policy: PickPolicy, candidates: Candidate[], want: Want): Pick | null {
	const ok = candidates.filter((c) => fits(c, want));
	if (ok.length === 0) return null;
	// Candidates arrive in eni_id order; sort is stable, so ties keep that order (deterministic).
	const ranked = [...ok].sort((a, b) => {
		switch (policy) {
			case "most-ips":
				return idleOf(b, want) - idleOf(a, want);
			case "least-ips":
				return idleOf(a, want) - idleOf(b, want);
			default:
				return oldestOf(a, want) - oldestOf(b, want);
		}
	});
	const c = ranked[0]!;
	// Each family list is already oldest-idle first (store query order).
	return { ipv4: want.v4 ? c.v4[0]!.ip : null, ipv6: want.v6 ? c.v6[0]!.ip : null };
}
