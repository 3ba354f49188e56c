/** Output helpers shared by commands: aligned tables, colour only on a TTY. */

const tty = Boolean(process.stdout.isTTY) && !process.env.NO_COLOR;

export const style = {
	bold: (s: string) => (tty ? `\x1b[1m${s}\x1b[0m` : s),
	dim: (s: string) => (tty ? `\x1b[2m${s}\x1b[0m` : s),
	green: (s: string) => (tty ? `\x1b[32m${s}\x1b[0m` : s),
	red: (s: string) => (tty ? `\x1b[31m${s}\x1b[0m` : s),
	yellow: (s: string) => (tty ? `\x1b[33m${s}\x1b[0m` : s),
};

/** Rows as an aligned text table with an upper-case header. */
export function table(headers: string[], rows: (string | number | undefined)[][]): string {
	const cells = [
		headers.map((h) => h.toUpperCase()),
		...rows.map((r) => r.map((c) => (c === undefined ? "-" : String(c)))),
	];
	const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? "").length)));
	return cells
		.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join("  "))
		.join("\n");
}

export function printJson(doc: unknown): void {
	console.log(JSON.stringify(doc, null, 2));
}
