/**
 * The counter program (bpf/counter.bpf.c) as a typed object: load it, get its typed maps,
 * flip its drop switch, or open its pinned maps from another process.
 */
import type { BpfObject } from "../../ffi/libbpf/index.ts";
import { DEFAULT_PIN_ROOT, PinLayout } from "./bpffs.ts";
import { COUNTER_MAPS, COUNTER_PROGRAM } from "./counter-maps.ts";
import { loadObject } from "./objects.ts";
import { TypedMap } from "./typed-map.ts";

export type IfStats = { packets: bigint; bytes: bigint; drops: bigint };

/** The counter's maps, whoever owns the fds. */
export class CounterMaps {
	constructor(
		readonly stats: TypedMap<{ ifindex: number; pad: number }, IfStats>,
		readonly dropSwitch: TypedMap<{ value: number }, { value: number }>,
	) {}

	/** Stats of one interface (by ifindex in its netns), zeros when never seen. */
	statsFor(ifindex: number): IfStats {
		return this.stats.get({ ifindex, pad: 0 }) ?? { packets: 0n, bytes: 0n, drops: 0n };
	}

	/** Every interface seen, by ifindex. */
	allStats(): Map<number, IfStats> {
		const out = new Map<number, IfStats>();
		for (const [k, v] of this.stats.entries()) out.set(k.ifindex, v);
		return out;
	}

	/** Drop every packet on every interface running the program (true) or pass again (false). */
	setDrop(on: boolean): void {
		this.dropSwitch.set({ value: 0 }, { value: on ? 1 : 0 });
	}

	get dropping(): boolean {
		return (this.dropSwitch.get({ value: 0 })?.value ?? 0) !== 0;
	}

	close(): void {
		this.stats.close();
		this.dropSwitch.close();
	}

	[Symbol.dispose](): void {
		this.close();
	}

	/** Open the maps pinned under `pinRoot` (another process loaded the program). */
	static openPinned(pinRoot: string = DEFAULT_PIN_ROOT): CounterMaps {
		const pins = new PinLayout(pinRoot);
		const stats = TypedMap.openPinned(pins.map(COUNTER_MAPS.stats.name), COUNTER_MAPS.stats);
		try {
			return new CounterMaps(
				stats,
				TypedMap.openPinned(pins.map(COUNTER_MAPS.dropSwitch.name), COUNTER_MAPS.dropSwitch),
			);
		} catch (e) {
			stats.close();
			throw e;
		}
	}
}

/** The loaded counter object: its program fd and typed maps (borrowed from the object). */
export class Counter {
	readonly maps: CounterMaps;

	private constructor(readonly object: BpfObject) {
		this.maps = new CounterMaps(
			TypedMap.borrow(object.mapFd(COUNTER_MAPS.stats.name), COUNTER_MAPS.stats),
			TypedMap.borrow(object.mapFd(COUNTER_MAPS.dropSwitch.name), COUNTER_MAPS.dropSwitch),
		);
	}

	/** Borrowed fd of the tc program, valid until close(). */
	get programFd(): number {
		return this.object.programFd(COUNTER_PROGRAM);
	}

	/** Load (or reuse the pinned maps of) the counter under `pinRoot`. */
	static load(opts: { pinRoot?: string } = {}): Counter {
		const obj = loadObject("counter", opts);
		try {
			return new Counter(obj);
		} catch (e) {
			obj.close();
			throw e;
		}
	}

	/** Closes the object's fds; pinned maps and pinned links stay. */
	close(): void {
		this.object.close();
	}

	[Symbol.dispose](): void {
		this.close();
	}
}
