/**
 * @module daemon/log
 *
 * terwayd's logger: NDJSON lines on stderr with pino-compatible keys (`level` as pino's number,
 * `time` epoch ms, `pid`, `hostname`, bindings, `msg`), so `pino-pretty` reads them offline.
 * Tiny on purpose (STYLE.md §2.5 allows an in-house writer); it never throws and never buffers
 * (each line is one synchronous write, so a SIGKILL loses at most the line being written).
 */
import { hostname } from "node:os";

export type LogFields = Record<string, unknown>;

export interface Logger {
	child(bindings: LogFields): Logger;
	debug(fields: LogFields, msg: string): void;
	info(fields: LogFields, msg: string): void;
	warn(fields: LogFields, msg: string): void;
	error(fields: LogFields, msg: string): void;
}

export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";

const LEVELS: Record<Exclude<LogLevel, "silent">, number> = { debug: 20, info: 30, warn: 40, error: 50 };

function errJson(e: unknown): unknown {
	if (e instanceof Error) {
		const extra =
			typeof (e as { toJSON?: unknown }).toJSON === "function"
				? (e as unknown as { toJSON(): object }).toJSON()
				: {};
		return { type: e.name, message: e.message, ...extra, stack: e.stack };
	}
	return e;
}

function replacer(_k: string, v: unknown): unknown {
	if (v instanceof Error) return errJson(v);
	if (typeof v === "bigint") return v.toString();
	return v;
}

/** A logger writing to `write` (default: stderr) at `level` and above. */
export function createLogger(
	opts: { level?: LogLevel; bindings?: LogFields; write?: (line: string) => void } = {},
): Logger {
	const min = opts.level === "silent" ? Number.POSITIVE_INFINITY : LEVELS[opts.level ?? "info"];
	const write = opts.write ?? ((line: string) => process.stderr.write(line));
	const base = { pid: process.pid, hostname: hostname() };
	const make = (bindings: LogFields): Logger => {
		const emit = (lvl: keyof typeof LEVELS, fields: LogFields, msg: string) => {
			const n = LEVELS[lvl];
			if (n < min) return;
			try {
				write(
					`${JSON.stringify({ level: n, time: Date.now(), ...base, ...bindings, ...fields, msg }, replacer)}\n`,
				);
			} catch {
				// a log line must never take the daemon down
			}
		};
		return {
			child: (b) => make({ ...bindings, ...b }),
			debug: (f, m) => emit("debug", f, m),
			info: (f, m) => emit("info", f, m),
			warn: (f, m) => emit("warn", f, m),
			error: (f, m) => emit("error", f, m),
		};
	};
	return make(opts.bindings ?? {});
}

/** A logger that drops everything (tests). */
export const silentLogger: Logger = createLogger({ level: "silent" });
