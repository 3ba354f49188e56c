/**
 * The policy codecs against the BTF of bpf/build/policy.bpf.o (every struct of
 * bpf/include/terway_policy.h: size and each field's offset and size; each map's key/value
 * sizes), and the pure conversions between map entries and the core/policy types.
 * The BTF part needs `make -C bpf` and bpftool; it skips with the reason otherwise.
 */
import { describe, expect, test } from "bun:test";
import {
	expectMapSizesMatch,
	expectStructsMatch,
	type LayoutCodec,
	loadBtf,
} from "../../../tests/helpers/btf.ts";
import { ID } from "../../core/policy/types.ts";
import {
	decodeDropEvent,
	dropEventCodec,
	ipEntryKey,
	ipKeyCidr,
	ipKeyCodec,
	POLICY_MAPS,
	policyEntryKey,
	policyKeyCodec,
	policyKeyEntry,
} from "./policy-maps.ts";

const btf = loadBtf("policy.bpf.o", "policy map");

describe.skipIf(!btf)("policy codecs match the object's BTF", () => {
	const types = btf ?? [];
	const structs = new Set<LayoutCodec>([dropEventCodec]);
	for (const spec of Object.values(POLICY_MAPS)) {
		structs.add(spec.key);
		structs.add(spec.value);
	}

	test("every struct of terway_policy.h: size, field offsets and field sizes", () => {
		expect(expectStructsMatch(types, structs).sort()).toEqual(
			[
				"terway_ct_key",
				"terway_ct_value",
				"terway_drop_event",
				"terway_ip_info",
				"terway_ip_key",
				"terway_name",
				"terway_policy_key",
				"terway_policy_value",
				"terway_pstats",
				"terway_pstats_key",
			].sort(),
		);
	});

	test("each map's declared key/value sizes equal its codecs'", () => {
		expectMapSizesMatch(types, Object.values(POLICY_MAPS));
	});
});

describe("policy entries <-> map keys", () => {
	test("ip keys: prefixlen counts the 32 family bits, host bits are cleared, cidr comes back canonical", () => {
		const k = ipEntryKey({ cidr: "10.1.2.3/8" });
		expect(k.prefixlen).toBe(40);
		expect(k.family).toBe(4);
		expect([...k.addr]).toEqual([10, ...new Array(15).fill(0)]);
		expect(ipKeyCidr(k)).toBe("10.0.0.0/8");
		const k6 = ipEntryKey({ cidr: "fd00::5/128" });
		expect(k6.prefixlen).toBe(160);
		expect(ipKeyCidr(ipKeyCodec.decode(ipKeyCodec.encode(k6)))).toBe("fd00::5/128");
	});

	test("a bad cidr is refused naming it", () => {
		expect(() => ipEntryKey({ cidr: "10.0.0.1" })).toThrow(/"10\.0\.0\.1"/);
		expect(() => ipEntryKey({ cidr: "fd00::/129" })).toThrow(/fd00::\/129/);
	});

	test("policy keys: prefixlen 72 for any protocol, 80 + bits for a port prefix, dport in network order", () => {
		const base = { endpoint: ID.FIRST_POD, peer: ID.ANY, direction: "egress" as const };
		expect(policyEntryKey({ ...base, proto: 0, port: 0, bits: 0 }).prefixlen).toBe(72);
		expect(policyEntryKey({ ...base, proto: 6, port: 0, bits: 0 }).prefixlen).toBe(80);
		const k = policyEntryKey({ ...base, proto: 17, port: 53, bits: 16 });
		expect(k).toEqual({ prefixlen: 96, endpoint: 256, peer: 0, direction: 1, proto: 17, dport: 53 });
		const bytes = policyKeyCodec.encode(k);
		expect([...bytes.subarray(12, 16)]).toEqual([1, 17, 0, 53]);
		expect(policyKeyEntry(policyKeyCodec.decode(bytes), { rule: 9, pad: 0 })).toEqual({
			...base,
			proto: 17,
			port: 53,
			bits: 16,
			rule: 9,
		});
		// 8000/13: the port bits past the prefix are cleared
		expect(policyEntryKey({ ...base, proto: 6, port: 8005, bits: 13 }).dport).toBe(8000);
	});

	test("bad policy entries are refused naming the field and value", () => {
		const base = { endpoint: 256, peer: 2, direction: "ingress" as const, proto: 6, port: 80, bits: 16 };
		expect(() => policyEntryKey({ ...base, bits: 17 })).toThrow(/bits 17/);
		expect(() => policyEntryKey({ ...base, port: 70000 })).toThrow(/port 70000/);
		expect(() => policyEntryKey({ ...base, proto: 0 })).toThrow(/bits 16/);
		expect(() => policyEntryKey({ ...base, direction: "sideways" as "ingress" })).toThrow(/sideways/);
	});

	test("drop events decode addresses, ports, protocol and reason into words", () => {
		const raw = dropEventCodec.encode({
			ts_ns: 5n,
			saddr: new Uint8Array([10, 1, 0, 3, ...new Array(12).fill(0)]),
			daddr: new Uint8Array([10, 0, 0, 1, ...new Array(12).fill(0)]),
			sport: 40000,
			dport: 80,
			proto: 6,
			family: 4,
			direction: 0,
			reason: 1,
			ifindex: 7,
			endpoint: 256,
			peer: ID.WORLD,
			pad: 0,
		});
		expect([...raw.subarray(40, 44)]).toEqual([0x9c, 0x40, 0, 80]);
		expect(decodeDropEvent(raw)).toEqual({
			tsNs: 5n,
			family: 4,
			saddr: "10.1.0.3",
			daddr: "10.0.0.1",
			sport: 40000,
			dport: 80,
			proto: 6,
			protoName: "tcp",
			direction: "ingress",
			reason: "policy-ingress",
			ifindex: 7,
			endpoint: 256,
			peer: 2,
		});
	});
});
