import { describe, expect, test } from "bun:test";
import { compareIp, orderEnis, pickIpForPod, selectVSwitch } from "./select.ts";
import { eni } from "./testkit.ts";
import type { PoolEni } from "./types.ts";

describe("pickIpForPod", () => {
	const busy = eni("eni-1", 8, 2); // 10 IPs
	const light = eni("eni-2", 1, 2); // 3 IPs
	test("most_ips takes from the ENI holding the most IPs", () => {
		expect(pickIpForPod([light, busy], { policy: "most_ips", dual: false })).toEqual({
			eniId: "eni-1",
			ipv4: "10.1.0.9",
		});
	});
	test("least_ips takes from the ENI holding the fewest", () => {
		expect(pickIpForPod([busy, light], { policy: "least_ips", dual: false })).toEqual({
			eniId: "eni-2",
			ipv4: "10.2.0.2",
		});
	});
	test("ties break by ENI id, whatever the input order", () => {
		const a = eni("eni-7", 1, 1);
		const b = eni("eni-3", 1, 1);
		expect(pickIpForPod([a, b], { policy: "most_ips", dual: false })?.eniId).toBe("eni-3");
		expect(pickIpForPod([b, a], { policy: "most_ips", dual: false })?.eniId).toBe("eni-3");
	});
	test("longest-idle IP first, then by address", () => {
		const e = eni("eni-1", 0, 4);
		(e.ips[1] as { idleSinceMs: number }).idleSinceMs = 50;
		(e.ips[2] as { idleSinceMs: number }).idleSinceMs = 10;
		(e.ips[3] as { idleSinceMs: number }).idleSinceMs = 10;
		(e.ips[0] as { idleSinceMs: number }).idleSinceMs = 99;
		expect(pickIpForPod([e], { policy: "most_ips", dual: false })?.ipv4).toBe("10.1.0.3");
	});
	test("an ENI with no free IP is passed over; none anywhere gives null", () => {
		const full = eni("eni-1", 5, 0);
		expect(pickIpForPod([full, light], { policy: "most_ips", dual: false })?.eniId).toBe("eni-2");
		expect(pickIpForPod([full], { policy: "most_ips", dual: false })).toBeNull();
		expect(pickIpForPod([], { policy: "least_ips", dual: false })).toBeNull();
	});
	test("only attached, non-primary, non-ERDMA ENIs serve", () => {
		const kinds: PoolEni[] = [
			eni("eni-1", 0, 3, { status: "attaching" }),
			eni("eni-2", 0, 3, { primary: true }),
			eni("eni-3", 0, 3, { erdma: true }),
			eni("eni-4", 0, 3, { status: "deleting" }),
		];
		expect(pickIpForPod(kinds, { policy: "most_ips", dual: false })).toBeNull();
	});
	test("reserved IPs go only to their pod", () => {
		const e = eni("eni-1", 0, 2);
		(e.ips[0] as { podId?: string }).podId = "ns/web-0";
		expect(pickIpForPod([e], { policy: "most_ips", dual: false })?.ipv4).toBe("10.1.0.2");
		expect(pickIpForPod([e], { policy: "most_ips", dual: false, podId: "ns/web-0" })?.ipv4).toBe("10.1.0.1");
	});
	test("a pod already holding an IP gets the same one back (retry after crash)", () => {
		expect(pickIpForPod([light, busy], { policy: "least_ips", dual: false, podId: "ns/p-eni-1-3" })).toEqual({
			eniId: "eni-1",
			ipv4: "10.1.0.4",
		});
	});
	test("releasing IPs are never handed out", () => {
		const e = eni("eni-1", 0, 1);
		(e.ips[0] as { state: string }).state = "releasing";
		expect(pickIpForPod([e], { policy: "most_ips", dual: false })).toBeNull();
	});
	test("dual: v4 and v6 come from the same ENI; ENIs without a free v6 are skipped", () => {
		const noV6 = eni("eni-1", 5, 5);
		const both = eni("eni-2", 0, 2, { v6: true });
		expect(pickIpForPod([noV6, both], { policy: "most_ips", dual: true })).toEqual({
			eniId: "eni-2",
			ipv4: "10.2.0.1",
			ipv6: "fd00:2::1",
		});
		expect(pickIpForPod([noV6], { policy: "most_ips", dual: true })).toBeNull();
	});
	test("dual: a pod holding only a v4 gets a free v6 from that ENI", () => {
		const e = eni("eni-1", 1, 1, { v6: true });
		const onlyV4 = e.ips.filter((ip) => !(ip.ipv6 && ip.podId));
		expect(
			pickIpForPod([{ ...e, ips: onlyV4 }], { policy: "most_ips", dual: true, podId: "ns/p-eni-1-0" }),
		).toEqual({
			eniId: "eni-1",
			ipv4: "10.1.0.1",
			ipv6: "fd00:1::2",
		});
	});
	test("orderEnis does not count IPv6 or releasing IPs", () => {
		const a = eni("eni-1", 2, 0, { v6: true });
		const b = eni("eni-2", 3, 0);
		expect(orderEnis([a, b], "most_ips").map((e) => e.eniId)).toEqual(["eni-2", "eni-1"]);
		for (const ip of b.ips) ip.state = "releasing";
		expect(orderEnis([a, b], "most_ips").map((e) => e.eniId)).toEqual(["eni-1", "eni-2"]);
	});
});

describe("selectVSwitch", () => {
	const c = [
		{ vswitchId: "vsw-a", availableIpCount: 5 },
		{ vswitchId: "vsw-b", availableIpCount: 0 },
		{ vswitchId: "vsw-c", availableIpCount: 50 },
		{ vswitchId: "vsw-d", availableIpCount: 50 },
	];
	const NOW = 1000;
	const cases: [
		string,
		Parameters<typeof selectVSwitch>[0],
		Record<string, number>,
		number,
		string | null,
	][] = [
		["ordered: first usable in config order", "ordered", {}, 0.9, "vsw-a"],
		["ordered: blocked ones skipped", "ordered", { "vsw-a": NOW + 1 }, 0, "vsw-c"],
		["ordered: an expired block no longer counts", "ordered", { "vsw-a": NOW }, 0, "vsw-a"],
		["most: most available, ties by config order", "most", {}, 0, "vsw-c"],
		["most: blocked skipped", "most", { "vsw-c": NOW + 1 }, 0, "vsw-d"],
		["random: rng 0 → first usable", "random", {}, 0, "vsw-a"],
		["random: rng 0.5 → middle usable (exhausted one skipped)", "random", {}, 0.5, "vsw-c"],
		["random: rng just below 1 → last usable", "random", {}, 0.999, "vsw-d"],
		["all blocked → null", "most", { "vsw-a": NOW + 1, "vsw-c": NOW + 1, "vsw-d": NOW + 1 }, 0, null],
	];
	for (const [name, policy, blocked, r, want] of cases) {
		test(name, () => {
			expect(selectVSwitch(policy, c, blocked, NOW, () => r)).toBe(want);
		});
	}
	test("no candidates or all exhausted → null", () => {
		expect(selectVSwitch("random", [], {}, 0, () => 0)).toBeNull();
		expect(
			selectVSwitch("ordered", [{ vswitchId: "vsw-x", availableIpCount: 0 }], {}, 0, () => 0),
		).toBeNull();
	});
	test("random covers every usable vSwitch uniformly", () => {
		const seen = new Map<string, number>();
		for (let i = 0; i < 300; i++) {
			const id = selectVSwitch("random", c, {}, 0, () => i / 300) as string;
			seen.set(id, (seen.get(id) ?? 0) + 1);
		}
		expect(Object.fromEntries(seen)).toEqual({ "vsw-a": 100, "vsw-c": 100, "vsw-d": 100 });
	});
});

describe("compareIp", () => {
	test("numeric, v4 before v6", () => {
		expect(["10.0.0.10", "fd00::1", "10.0.0.9", "9.0.0.1", "fd00::a", "fd00::2"].sort(compareIp)).toEqual([
			"9.0.0.1",
			"10.0.0.9",
			"10.0.0.10",
			"fd00::1",
			"fd00::2",
			"fd00::a",
		]);
	});
});
