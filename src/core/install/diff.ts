/**
 * @module core/install/diff
 *
 * A unified diff of two texts (`diff -u` shape: `---`/`+++` headers, `@@ -a,b +c,d @@` hunks
 * with 3 lines of context), for `terwayctl install --dry-run`. Line-based LCS; the files it
 * compares are a few dozen lines, so the quadratic table is fine. Pure.
 */

type Edit = { op: " " | "-" | "+"; line: string };

function splitLines(text: string): string[] {
	if (text === "") return [];
	const lines = text.split("\n");
	if (lines[lines.length - 1] === "") lines.pop();
	return lines;
}

/** The shortest edit script between `a` and `b` (by longest common subsequence). */
function edits(a: string[], b: string[]): Edit[] {
	const n = a.length;
	const m = b.length;
	// lcs[i][j] = LCS length of a[i..] and b[j..]
	const lcs: number[][] = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(0));
	for (let i = n - 1; i >= 0; i--) {
		const row = lcs[i] as number[];
		const next = lcs[i + 1] as number[];
		for (let j = m - 1; j >= 0; j--) {
			row[j] = a[i] === b[j] ? (next[j + 1] ?? 0) + 1 : Math.max(next[j] ?? 0, row[j + 1] ?? 0);
		}
	}
	const out: Edit[] = [];
	let i = 0;
	let j = 0;
	while (i < n || j < m) {
		if (i < n && j < m && a[i] === b[j]) {
			out.push({ op: " ", line: a[i] as string });
			i++;
			j++;
		} else if (i < n && (j >= m || (lcs[i + 1]?.[j] ?? 0) >= (lcs[i]?.[j + 1] ?? 0))) {
			out.push({ op: "-", line: a[i] as string });
			i++;
		} else {
			out.push({ op: "+", line: b[j] as string });
			j++;
		}
	}
	return out;
}

/**
 * `diff -u` of `before` → `after` labelled `name`; "" when equal. An absent side (undefined) is
 * shown as /dev/null, as git does for created and deleted files.
 *
 * @example
 * unifiedDiff("/etc/cni/net.d/10-terway.conflist", undefined, '{"a": 1}\n')
 * // --- /dev/null\n+++ b/etc/cni/net.d/10-terway.conflist\n@@ -0,0 +1 @@\n+{"a": 1}\n
 */
export function unifiedDiff(
	name: string,
	before: string | undefined,
	after: string | undefined,
	context = 3,
): string {
	if (before === after) return "";
	const a = splitLines(before ?? "");
	const b = splitLines(after ?? "");
	const script = edits(a, b);
	const rel = name.replace(/^\/+/, "");
	const head = [
		before === undefined ? "--- /dev/null" : `--- a/${rel}`,
		after === undefined ? "+++ /dev/null" : `+++ b/${rel}`,
	];
	const hunks: string[] = [];
	let k = 0;
	// line numbers (1-based) of script[k] in a and b
	const posA: number[] = [];
	const posB: number[] = [];
	let la = 1;
	let lb = 1;
	for (const e of script) {
		posA.push(la);
		posB.push(lb);
		if (e.op !== "+") la++;
		if (e.op !== "-") lb++;
	}
	while (k < script.length) {
		if (script[k]?.op === " ") {
			k++;
			continue;
		}
		const start = Math.max(0, k - context);
		let end = k;
		// extend while changes are within 2*context of each other
		for (;;) {
			while (end < script.length && script[end]?.op !== " ") end++;
			let gap = end;
			while (gap < script.length && script[gap]?.op === " ") gap++;
			if (gap < script.length && gap - end <= 2 * context) end = gap;
			else break;
		}
		const stop = Math.min(script.length, end + context);
		const slice = script.slice(start, stop);
		const aCount = slice.filter((e) => e.op !== "+").length;
		const bCount = slice.filter((e) => e.op !== "-").length;
		const aStart = aCount === 0 ? (posA[start] ?? 1) - 1 : (posA[start] ?? 1);
		const bStart = bCount === 0 ? (posB[start] ?? 1) - 1 : (posB[start] ?? 1);
		const range = (s: number, c: number) => (c === 1 ? `${s}` : `${s},${c}`);
		hunks.push(`@@ -${range(aStart, aCount)} +${range(bStart, bCount)} @@`);
		for (const e of slice) hunks.push(`${e.op}${e.line}`);
		k = stop;
	}
	return `${[...head, ...hunks].join("\n")}\n`;
}
