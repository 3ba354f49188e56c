/**
 * The sim's request log: every API call and world transition, in order, in a ring buffer
 * (and optionally appended to a JSONL file), read by `terwayctl sim log` and by tests that
 * assert call sequences ("Detach before Delete").
 */
import { appendFileSync } from "node:fs";
import type { RequestLogEntry } from "./contracts.ts";

export class RequestLog {
	#entries: RequestLogEntry[] = [];
	#seq = 0;
	#followers = new Set<(e: RequestLogEntry) => void>();

	constructor(
		private readonly capacity = 10_000,
		private readonly file?: string,
	) {}

	record(e: Omit<RequestLogEntry, "seq" | "time">): RequestLogEntry {
		const entry: RequestLogEntry = { seq: ++this.#seq, time: new Date().toISOString(), ...e };
		this.#entries.push(entry);
		if (this.#entries.length > this.capacity) this.#entries.splice(0, this.#entries.length - this.capacity);
		if (this.file) appendFileSync(this.file, `${JSON.stringify(entry)}\n`);
		for (const f of this.#followers) f(entry);
		return entry;
	}

	/** Entries after `seq` (all when 0), optionally filtered. */
	since(seq = 0, filter?: (e: RequestLogEntry) => boolean): RequestLogEntry[] {
		return this.#entries.filter((e) => e.seq > seq && (!filter || filter(e)));
	}

	/** Call `fn` for each new entry until the returned function is called. */
	follow(fn: (e: RequestLogEntry) => void): () => void {
		this.#followers.add(fn);
		return () => this.#followers.delete(fn);
	}

	get lastSeq(): number {
		return this.#seq;
	}
}
