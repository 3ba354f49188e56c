/**
 * Go `time.ParseDuration` for config values ("30s", "1h30m", "1.5m", "0"), returning
 * milliseconds. Terway's `eni_conf` stores durations as Go duration strings
 * (`idle_ip_reclaim_after`, `ip_pool_sync_period`), so we accept exactly Go's syntax.
 *
 * Pure: no I/O. Returns `undefined` on a malformed string so the caller can name the key.
 */

const UNIT_MS: Record<string, number> = {
	ns: 1e-6,
	us: 1e-3,
	µs: 1e-3,
	μs: 1e-3,
	ms: 1,
	s: 1000,
	m: 60_000,
	h: 3_600_000,
};

const PART = /^(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/;

/** Parse a Go duration string into ms; `undefined` if it is not one. Negative durations are allowed here. */
export function parseGoDuration(text: string): number | undefined {
	let s = text;
	let sign = 1;
	if (s.startsWith("-") || s.startsWith("+")) {
		if (s.startsWith("-")) sign = -1;
		s = s.slice(1);
	}
	if (s === "0") return 0;
	if (s === "") return undefined;
	let total = 0;
	while (s.length > 0) {
		const m = PART.exec(s);
		if (!m) return undefined;
		const [whole, num, unit] = m as unknown as [string, string, string];
		total += Number(num) * (UNIT_MS[unit] ?? Number.NaN);
		s = s.slice(whole.length);
	}
	return Number.isFinite(total) ? sign * total : undefined;
}

/** Format ms back to a compact Go-style duration ("1h30m", "10s", "250ms") for messages. */
export function formatDuration(ms: number): string {
	if (ms === 0) return "0s";
	if (ms < 1000) return `${ms}ms`;
	let rest = Math.round(ms / 1000);
	const h = Math.floor(rest / 3600);
	rest -= h * 3600;
	const m = Math.floor(rest / 60);
	const s = rest - m * 60;
	return `${h ? `${h}h` : ""}${m ? `${m}m` : ""}${s ? `${s}s` : ""}`;
}
