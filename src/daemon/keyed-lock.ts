/**
 * @module daemon/keyed-lock
 *
 * Per-key serialization: requests for the same pod run one after another (Terway's
 * `pendingPods`, but queued instead of failing fast), different pods in parallel.
 */
export class KeyedLock {
	readonly #tails = new Map<string, Promise<void>>();

	/** Runs `fn` after every earlier `run` with the same key has settled. */
	async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
		const prev = this.#tails.get(key) ?? Promise.resolve();
		let release!: () => void;
		const mine = new Promise<void>((r) => {
			release = r;
		});
		const tail = prev.then(() => mine);
		this.#tails.set(key, tail);
		try {
			await prev;
			return await fn();
		} finally {
			release();
			if (this.#tails.get(key) === tail) this.#tails.delete(key);
		}
	}

	/** Keys with a request running or queued. */
	get size(): number {
		return this.#tails.size;
	}
}
