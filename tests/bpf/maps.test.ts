/**
 * Root suite: map operations and pins on the loaded counter object (no traffic). Pins live
 * under /sys/fs/bpf/<prefixFor("bm")> and are removed in afterAll.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, rmSync } from "node:fs";
import { ERRNO, ErrnoError, isExists } from "../../src/ffi/errno.ts";
import { openHandles } from "../../src/ffi/handles.ts";
import { BPF_EXIST, BPF_NOEXIST, mapInfo, objGet, objPin, progInfo } from "../../src/ffi/libbpf/index.ts";
import {
	COUNTER_MAPS,
	Counter,
	CounterMaps,
	ifKey,
	ifStats,
	pinProgram,
	TypedMap,
	unpin,
} from "../../src/linux/bpf/index.ts";
import { LinuxError } from "../../src/linux/errors.ts";
import { canRun, prefixFor } from "../helpers/env.ts";

const P = prefixFor("bm");
const PIN_ROOT = `/sys/fs/bpf/${P}`;
let counter: Counter | undefined;

function errnoOf(fn: () => unknown): number | undefined {
	try {
		fn();
	} catch (e) {
		if (e instanceof ErrnoError) return e.errno;
		throw e;
	}
	return undefined;
}

describe.skipIf(!canRun("tests/bpf/maps.test.ts"))("counter maps and pins", () => {
	beforeAll(() => {
		rmSync(PIN_ROOT, { recursive: true, force: true });
		counter = Counter.load({ pinRoot: PIN_ROOT });
	});

	afterAll(() => {
		counter?.close();
		rmSync(PIN_ROOT, { recursive: true, force: true });
		expect(openHandles()).toEqual([]);
	});

	test("object lists its programs and maps; map info matches the codecs", () => {
		expect(counter!.object.programNames()).toEqual(["terway_counter"]);
		expect(counter!.object.mapNames().sort()).toEqual(["terway_dropsw", "terway_ifstats"]);
		const info = mapInfo(counter!.object.mapFd(COUNTER_MAPS.stats.name));
		expect({ name: info.name, key: info.keySize, value: info.valueSize, max: info.maxEntries }).toEqual({
			name: "terway_ifstats",
			key: ifKey.size,
			value: ifStats.size,
			max: 1024,
		});
		expect(() => counter!.object.mapFd("terway_nope")).toThrow(/bpf_object__find_map_by_name.*ENOENT/);
	});

	test("update flags, lookup, delete, iterate, batch update", () => {
		const stats = counter!.maps.stats;
		const k = (ifindex: number) => ({ ifindex, pad: 0 });
		const v = (n: bigint) => ({ packets: n, bytes: n * 100n, drops: 0n });
		expect(stats.get(k(900001))).toBeUndefined();
		expect(errnoOf(() => stats.set(k(900001), v(1n), BPF_EXIST))).toBe(ERRNO.ENOENT);
		stats.set(k(900001), v(1n), BPF_NOEXIST);
		expect(errnoOf(() => stats.set(k(900001), v(2n), BPF_NOEXIST))).toBe(ERRNO.EEXIST);
		stats.set(k(900001), v(3n), BPF_EXIST);
		expect(stats.get(k(900001))).toEqual(v(3n));

		expect(
			stats.setMany([
				[k(900002), v(4n)],
				[k(900003), v(5n)],
			]),
		).toBe(2);
		expect(
			[...stats.entries()]
				.filter(([key]) => key.ifindex >= 900001)
				.sort((a, b) => a[0].ifindex - b[0].ifindex)
				.map(([key, val]) => [key.ifindex, val.packets]),
		).toEqual([
			[900001, 3n],
			[900002, 4n],
			[900003, 5n],
		]);
		expect(stats.delete(k(900002))).toBe(true);
		expect(stats.delete(k(900002))).toBe(false);
		expect([...stats.keys()].map((x) => x.ifindex).sort()).toEqual([900001, 900003]);
		stats.delete(k(900001));
		stats.delete(k(900003));
	});

	test("maps are pinned by name; unpinMap/pinMap, extra pins, TypedMap.openPinned checks sizes", () => {
		const byName = `${PIN_ROOT}/${COUNTER_MAPS.dropSwitch.name}`;
		expect(existsSync(byName)).toBe(true);
		counter!.object.unpinMap(COUNTER_MAPS.dropSwitch.name);
		expect(existsSync(byName)).toBe(false);
		counter!.object.pinMap(COUNTER_MAPS.dropSwitch.name, byName);
		expect(existsSync(byName)).toBe(true);
		// libbpf keeps one pin path per map: another path is refused, objPin makes extra pins.
		const extra = `${PIN_ROOT}/extra_dropsw`;
		expect(errnoOf(() => counter!.object.pinMap(COUNTER_MAPS.dropSwitch.name, extra))).toBe(ERRNO.EINVAL);
		objPin(counter!.object.mapFd(COUNTER_MAPS.dropSwitch.name), extra);
		counter!.maps.setDrop(true);
		{
			using m = TypedMap.openPinned(extra, COUNTER_MAPS.dropSwitch);
			expect(m.get({ value: 0 })).toEqual({ value: 1 });
		}
		counter!.maps.setDrop(false);
		expect(() => TypedMap.openPinned(extra, COUNTER_MAPS.stats)).toThrow(LinuxError);
		expect(unpin(extra)).toBe(true);
		expect(() => CounterMaps.openPinned(`${PIN_ROOT}/nowhere`)).toThrow(/cannot be opened/);
	});

	test("a program pinned by path can be reopened; pinning twice replaces", () => {
		const path = pinProgram(counter!.object, "terway_counter", PIN_ROOT);
		expect(pinProgram(counter!.object, "terway_counter", PIN_ROOT)).toBe(path);
		{
			using fd = objGet(path);
			expect(progInfo(fd.fd).id).toBe(progInfo(counter!.programFd).id);
		}
		expect(unpin(path)).toBe(true);
		expect(unpin(path)).toBe(false);
		let err: unknown;
		try {
			objGet(path).close();
		} catch (e) {
			err = e;
		}
		expect(err).toBeInstanceOf(ErrnoError);
		expect(isExists(err)).toBe(false);
		expect((err as ErrnoError).errno).toBe(ERRNO.ENOENT);
	});
});
