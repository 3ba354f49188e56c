/**
 * The TS codecs against the BTF of the compiled object (cilium's bpf_alignchecker idea): a C
 * struct change in bpf/include/terway_common.h without the matching codec change fails here.
 * Needs `make -C bpf` and bpftool (both part of `make setup`); skips with the reason otherwise.
 */
import { describe, expect, test } from "bun:test";
import { expectMapSizesMatch, expectStructsMatch, loadBtf } from "../../../tests/helpers/btf.ts";
import { COUNTER_MAPS } from "./counter-maps.ts";

const btf = loadBtf("counter.bpf.o", "counter map");

describe.skipIf(!btf)("counter map codecs match the object's BTF", () => {
	const types = btf ?? [];

	test("terway_if_key and terway_if_stats: size and every field offset", () => {
		expect(expectStructsMatch(types, [COUNTER_MAPS.stats.key, COUNTER_MAPS.stats.value])).toEqual([
			"terway_if_key",
			"terway_if_stats",
		]);
	});

	test("each map's declared key/value sizes equal its codecs'", () => {
		expectMapSizesMatch(types, Object.values(COUNTER_MAPS));
	});
});
