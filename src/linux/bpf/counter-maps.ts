/**
 * Map names and key/value codecs of bpf/counter.bpf.c. Sync note: mirrors
 * bpf/include/terway_common.h; counter-maps.test.ts checks sizes and offsets against the BTF
 * of bpf/build/counter.bpf.o. No object import here, so the codecs load without the build.
 */
import { struct, u32 } from "./codec.ts";

export const COUNTER_PROGRAM = "terway_counter";

/** struct terway_if_key { __u32 ifindex; __u32 pad; } */
export const ifKey = struct("terway_if_key", 8, {
	ifindex: { offset: 0, type: "u32" },
	pad: { offset: 4, type: "u32" },
});

/** struct terway_if_stats { __u64 packets, bytes, drops; } */
export const ifStats = struct("terway_if_stats", 24, {
	packets: { offset: 0, type: "u64" },
	bytes: { offset: 8, type: "u64" },
	drops: { offset: 16, type: "u64" },
});

export const COUNTER_MAPS = {
	/** hash: terway_if_key -> terway_if_stats, max 1024 interfaces. */
	stats: { name: "terway_ifstats", key: ifKey, value: ifStats },
	/** array[1]: key 0 -> 0 pass / 1 drop everything. */
	dropSwitch: { name: "terway_dropsw", key: u32, value: u32 },
} as const;
