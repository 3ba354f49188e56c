/**
 * "Did you mean …?" for unknown config keys: the closest known key by edit distance, or by
 * case/separator-insensitive equality (Go's encoding/json matched keys case-insensitively, so
 * `Max_Pool_Size` worked in Terway and deserves a pointed hint here). Pure.
 */

/** Levenshtein distance (insert/delete/substitute, each 1). */
export function editDistance(a: string, b: string): number {
	const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
	for (let i = 1; i <= a.length; i++) {
		let diag = prev[0] ?? 0;
		prev[0] = i;
		for (let j = 1; j <= b.length; j++) {
			const up = prev[j] ?? 0;
			const cost = a[i - 1] === b[j - 1] ? 0 : 1;
			prev[j] = Math.min(up + 1, (prev[j - 1] ?? 0) + 1, diag + cost);
			diag = up;
		}
	}
	return prev[b.length] ?? 0;
}

const norm = (s: string) => s.toLowerCase().replace(/[-_ .]/g, "");

/**
 * The best near miss among `known` for `key`, or undefined when nothing is close
 * (distance ≤ 2, or ≤ 3 for keys longer than 12 characters).
 */
export function suggestKey(key: string, known: readonly string[]): string | undefined {
	const nk = norm(key);
	const same = known.find((k) => norm(k) === nk);
	if (same) return same;
	let best: string | undefined;
	let bestD = Number.POSITIVE_INFINITY;
	for (const k of known) {
		const d = editDistance(key.toLowerCase(), k);
		if (d < bestD || (d === bestD && best !== undefined && k < best)) {
			best = k;
			bestD = d;
		}
	}
	const limit = key.length > 12 ? 3 : 2;
	return bestD <= limit ? best : undefined;
}
