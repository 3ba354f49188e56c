/** Summary statistics of a list of timings (ms). */
export type Stats = { n: number; median: number; p90: number; mean: number; min: number; max: number };

export function summarise(samples: number[]): Stats {
	const s = [...samples].sort((a, b) => a - b);
	const n = s.length;
	if (n === 0)
		return { n, median: Number.NaN, p90: Number.NaN, mean: Number.NaN, min: Number.NaN, max: Number.NaN };
	const at = (i: number) => s[Math.min(n - 1, Math.max(0, i))] as number;
	const median = n % 2 === 1 ? at((n - 1) / 2) : (at(n / 2 - 1) + at(n / 2)) / 2;
	return {
		n,
		median,
		// nearest-rank p90
		p90: at(Math.ceil(0.9 * n) - 1),
		mean: s.reduce((a, b) => a + b, 0) / n,
		min: at(0),
		max: at(n - 1),
	};
}

/** Fixed-width text table; numbers right-aligned. */
export function table(header: string[], rows: (string | number)[][]): string {
	const cells = [header, ...rows.map((r) => r.map((c) => (typeof c === "number" ? c.toFixed(2) : c)))];
	const width = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? "").length)));
	return cells
		.map((r, ri) =>
			r
				.map((c, i) => (i === 0 || ri === 0 ? c.padEnd(width[i] ?? 0) : c.padStart(width[i] ?? 0)))
				.join("   ")
				.trimEnd(),
		)
		.join("\n");
}
