/**
 * The plugin's logger: NDJSON lines with pino-compatible keys (level, time, msg, then bindings
 * such as cmd, containerID, netns, ifName), written synchronously to a file or stderr. Never
 * stdout: stdout carries only the CNI result (STYLE §2.5). No imports beyond node:fs, which is
 * loaded only when a file sink is used.
 */
import { appendFileSync } from "node:fs";

export type Level = "debug" | "info" | "warn" | "error";

/** pino's numeric levels, so pino-pretty reads our lines. */
const LEVELS: Record<Level, number> = { debug: 20, info: 30, warn: 40, error: 50 };

export type Fields = Record<string, unknown>;

export interface Logger {
	child(bindings: Fields): Logger;
	debug(fields: Fields, msg: string): void;
	info(fields: Fields, msg: string): void;
	warn(fields: Fields, msg: string): void;
	error(fields: Fields, msg: string): void;
}

/** Where a line goes (one complete line, newline included). */
export type Sink = (line: string) => void;

/** Append to a file, synchronously; a write failure is swallowed (logging must not fail a CNI call). */
export function fileSink(path: string): Sink {
	return (line) => {
		try {
			appendFileSync(path, line, { mode: 0o600 });
		} catch {
			// nowhere left to report it
		}
	};
}

const errFields = (v: unknown): unknown =>
	v instanceof Error ? { type: v.name, message: v.message, stack: v.stack } : v;

class NdjsonLogger implements Logger {
	constructor(
		private readonly sink: Sink,
		private readonly min: number,
		private readonly bindings: Fields,
		private readonly now: () => number,
	) {}

	child(bindings: Fields): Logger {
		return new NdjsonLogger(this.sink, this.min, { ...this.bindings, ...bindings }, this.now);
	}

	#write(level: Level, fields: Fields, msg: string): void {
		if (LEVELS[level] < this.min) return;
		const rec: Fields = { level: LEVELS[level], time: this.now(), msg, ...this.bindings };
		for (const [k, v] of Object.entries(fields)) rec[k] = errFields(v);
		let line: string;
		try {
			line = JSON.stringify(rec);
		} catch {
			line = JSON.stringify({ level: LEVELS[level], time: this.now(), msg, note: "unserializable fields" });
		}
		this.sink(`${line}\n`);
	}

	debug(fields: Fields, msg: string): void {
		this.#write("debug", fields, msg);
	}
	info(fields: Fields, msg: string): void {
		this.#write("info", fields, msg);
	}
	warn(fields: Fields, msg: string): void {
		this.#write("warn", fields, msg);
	}
	error(fields: Fields, msg: string): void {
		this.#write("error", fields, msg);
	}
}

/** A logger writing lines at `level` and above to `sink`. */
export function createLogger(opts: {
	sink: Sink;
	level?: Level;
	bindings?: Fields;
	now?: () => number;
}): Logger {
	return new NdjsonLogger(opts.sink, LEVELS[opts.level ?? "info"], opts.bindings ?? {}, opts.now ?? Date.now);
}

/** A logger that drops everything (tests, or before the config says where to log). */
export const nullLogger: Logger = createLogger({ sink: () => {}, level: "error" }).child({});
