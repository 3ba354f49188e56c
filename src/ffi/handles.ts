/**
 * Live-handle registry: every C object or fd wrapped by src/ffi/ registers here while open,
 * with the stack that opened it, so tests can assert nothing leaked (cilium/ebpf TraceFD).
 * A FinalizationRegistry is the last-resort closer only; GC timing is not a cleanup strategy.
 */

type Entry = { kind: string; what: string; stack: string };

const live = new Map<number, Entry>();
let nextId = 1;

const finalizer = new FinalizationRegistry<() => void>((release) => {
	try {
		release();
	} catch {
		// best effort: a forgotten handle is closed late, never crashes the process
	}
});

/** Register a live handle; returns the token to pass to `untrack`. */
export function track(kind: string, what: string, owner: object, release: () => void): number {
	const id = nextId++;
	live.set(id, { kind, what, stack: new Error().stack?.split("\n").slice(3, 7).join("\n") ?? "" });
	finalizer.register(owner, release, owner);
	return id;
}

export function untrack(id: number, owner: object): void {
	live.delete(id);
	finalizer.unregister(owner);
}

/** Handles still open, for leak checks in tests (`expect(openHandles()).toEqual([])`). */
export function openHandles(): { kind: string; what: string; stack: string }[] {
	return [...live.values()];
}
