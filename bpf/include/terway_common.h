/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Structs shared between the eBPF programs in bpf/ and user space (src/linux/bpf/).
 *
 * Sync note: every struct here exists twice. The TypeScript mirrors are the DataView codecs in
 * src/linux/bpf/counter-maps.ts; src/linux/bpf/counter-maps.test.ts compares their sizes and
 * offsets with the BTF of the compiled object, so a change here without a change there fails
 * the tests. Keep explicit padding: no implicit holes, sizes a multiple of 8.
 * Map names are prefixed "terway_" and stay <= 15 bytes (BPF_OBJ_NAME_LEN - 1).
 */
#ifndef TERWAY_COMMON_H
#define TERWAY_COMMON_H

#include <linux/types.h>

/* Key of terway_ifstats: the ifindex the program runs on (skb->ifindex). */
struct terway_if_key {
	__u32 ifindex;
	__u32 pad; /* always 0 */
};

/* Value of terway_ifstats: packets seen (passed or dropped), their bytes, and drops. */
struct terway_if_stats {
	__u64 packets;
	__u64 bytes;
	__u64 drops;
};

/* terway_dropsw is an array with one slot: key 0 -> __u32 0 (pass) / 1 (drop everything). */
#define TERWAY_DROPSW_KEY 0

#define TERWAY_IFSTATS_MAX 1024

#endif /* TERWAY_COMMON_H */
