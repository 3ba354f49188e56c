/**
 * Root suite: the counter program loaded from embedded bytes, attached to a veth inside our own
 * namespaces by TCX and by clsact, real pings counted and dropped, pins surviving in a second
 * process. Everything it makes carries prefixFor("bc") and lives under /sys/fs/bpf/<prefix>.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, rmSync } from "node:fs";
import { openHandles } from "../../src/ffi/handles.ts";
import { BPF_TCX_INGRESS, progAttach, progDetach, progInfo, progQuery } from "../../src/ffi/libbpf/index.ts";
import { ifNameToIndex } from "../../src/ffi/libc/index.ts";
import {
	COUNTER_MAPS,
	Counter,
	CounterMaps,
	detach,
	ensureAttached,
	listAttached,
	PinLayout,
	resolveMode,
	type TcTarget,
} from "../../src/linux/bpf/index.ts";
import { Netns } from "../../src/linux/netns.ts";
import { canRun, cleanupNetns, ipJson, ping, prefixFor, sh } from "../helpers/env.ts";

const P = prefixFor("bc");
const NS_A = `${P}a`;
const NS_B = `${P}b`;
const VETH_A = `${P}va`;
const VETH_B = `${P}vb`;
const ADDR_A = "198.18.20.1";
const ADDR_B = "198.18.20.2";
const PIN_ROOT = `/sys/fs/bpf/${P}`;

const FIXTURE = `${import.meta.dir}/counter-fixture.ts`;
const BUN = process.execPath; // the bun running this suite

function fixture(action?: "drop-on" | "drop-off"): {
	packets: string;
	drops: string;
	dropping: boolean;
	interfaces: number[];
	leaks: number;
} {
	const r = sh([BUN, FIXTURE, PIN_ROOT, String(ifindexB), ...(action ? [action] : [])]);
	return JSON.parse(r.out.trim().split("\n").at(-1)!);
}

let nsB: Netns;
let ifindexB = 0;
let counter: Counter | undefined;

describe.skipIf(!canRun("tests/bpf/counter.test.ts"))("counter program on a veth (TCX, clsact, pins)", () => {
	const target = (): TcTarget => ({ ns: nsB, ifName: VETH_B, direction: "ingress" });

	beforeAll(() => {
		cleanupNetns(P);
		rmSync(PIN_ROOT, { recursive: true, force: true });
		sh(["ip", "netns", "add", NS_A]);
		sh(["ip", "netns", "add", NS_B]);
		sh(["ip", "-n", NS_A, "link", "add", VETH_A, "type", "veth", "peer", "name", VETH_B, "netns", NS_B]);
		sh(["ip", "-n", NS_A, "addr", "add", `${ADDR_A}/24`, "dev", VETH_A]);
		sh(["ip", "-n", NS_B, "addr", "add", `${ADDR_B}/24`, "dev", VETH_B]);
		for (const [ns, dev] of [
			[NS_A, VETH_A],
			[NS_B, VETH_B],
		] as const) {
			sh(["ip", "-n", ns, "link", "set", dev, "up"]);
			sh(["ip", "-n", ns, "link", "set", "lo", "up"]);
		}
		nsB = Netns.open(NS_B);
		ifindexB = ipJson<{ ifindex: number }[]>(NS_B, ["link", "show", VETH_B])[0]!.ifindex;
		counter = Counter.load({ pinRoot: PIN_ROOT });
	});

	afterAll(() => {
		counter?.close();
		nsB?.close();
		cleanupNetns(P);
		rmSync(PIN_ROOT, { recursive: true, force: true });
		expect(openHandles()).toEqual([]);
	});

	const stats = () => counter!.maps.statsFor(ifindexB);

	test("loads from embedded bytes and pins its maps by name under the pin root", () => {
		const pins = new PinLayout(PIN_ROOT);
		expect(existsSync(pins.map(COUNTER_MAPS.stats.name))).toBe(true);
		expect(existsSync(pins.map(COUNTER_MAPS.dropSwitch.name))).toBe(true);
		expect(progInfo(counter!.programFd).name).toBe("terway_counter");
		expect(counter!.maps.dropping).toBe(false);
		expect(ping(NS_A, ADDR_B)).toBe(true); // not attached yet: nothing counted
		expect(stats()).toEqual({ packets: 0n, bytes: 0n, drops: 0n });
	});

	test("auto mode picks TCX on this kernel", () => {
		expect(resolveMode("auto")).toBe("tcx");
	});

	for (const mode of ["tcx", "clsact"] as const) {
		test(`${mode}: attach, count, drop, pass, detach`, () => {
			const progId = progInfo(counter!.programFd).id;
			const first = ensureAttached(target(), counter!.programFd, { mode, pinRoot: PIN_ROOT });
			expect(first.changed).toBe(true);
			expect(first.mode).toBe(mode);
			expect(first.progId).toBe(progId);
			expect(ensureAttached(target(), counter!.programFd, { mode, pinRoot: PIN_ROOT }).changed).toBe(false);

			const listed = listAttached(nsB, VETH_B, { pinRoot: PIN_ROOT });
			expect(
				listed.map((l) => ({ progId: l.progId, name: l.name, mode: l.mode, direction: l.direction })),
			).toEqual([{ progId, name: "terway_counter", mode, direction: "ingress" }]);
			if (mode === "tcx") {
				expect(listed[0]!.linkPin).toBe(first.linkPin);
				expect(existsSync(first.linkPin!)).toBe(true);
				expect(nsB.run(() => progQuery(ifindexB, BPF_TCX_INGRESS)).progIds).toEqual([progId]);
			} else {
				const tc = sh(["tc", "-n", NS_B, "filter", "show", "dev", VETH_B, "ingress"]).out;
				expect(tc).toContain("terway_counter");
				expect(tc).toContain("direct-action");
			}

			const s0 = stats();
			expect(ping(NS_A, ADDR_B, 3)).toBe(true);
			const s1 = stats();
			expect(s1.packets - s0.packets).toBeGreaterThanOrEqual(3n);
			expect(s1.bytes).toBeGreaterThan(s0.bytes);
			expect(s1.drops).toBe(s0.drops);

			counter!.maps.setDrop(true);
			expect(ping(NS_A, ADDR_B, 2)).toBe(false);
			const s2 = stats();
			expect(s2.drops - s1.drops).toBeGreaterThanOrEqual(2n);

			counter!.maps.setDrop(false);
			expect(ping(NS_A, ADDR_B, 2)).toBe(true);
			expect(stats().drops).toBe(s2.drops);

			expect(detach(target(), { mode, pinRoot: PIN_ROOT }).changed).toBe(true);
			expect(detach(target(), { mode, pinRoot: PIN_ROOT }).changed).toBe(false);
			expect(listAttached(nsB, VETH_B, { pinRoot: PIN_ROOT })).toEqual([]);
			expect(nsB.run(() => progQuery(ifindexB, BPF_TCX_INGRESS)).progIds).toEqual([]);
			expect(sh(["tc", "-n", NS_B, "filter", "show", "dev", VETH_B, "ingress"]).out).not.toContain(
				"terway_counter",
			);
			const s3 = stats();
			expect(ping(NS_A, ADDR_B, 2)).toBe(true);
			expect(stats()).toEqual(s3);
		});
	}

	test("ffi: TCX by prog attach (no link) counts until bpf_prog_detach2", () => {
		const fd = counter!.programFd;
		const progId = progInfo(fd).id;
		nsB.run(() => progAttach(fd, ifNameToIndex(VETH_B), BPF_TCX_INGRESS));
		expect(
			listAttached(nsB, VETH_B, { pinRoot: PIN_ROOT }).map((l) => [l.progId, l.mode, l.linkPin]),
		).toEqual([[progId, "tcx", undefined]]);
		const s0 = stats();
		expect(ping(NS_A, ADDR_B, 2)).toBe(true);
		expect(stats().packets - s0.packets).toBeGreaterThanOrEqual(2n);
		nsB.run(() => progDetach(fd, ifNameToIndex(VETH_B), BPF_TCX_INGRESS));
		expect(nsB.run(() => progQuery(ifindexB, BPF_TCX_INGRESS)).progIds).toEqual([]);
		// Our detach() only touches what it owns (the pinned link / our clsact slot).
		expect(detach(target(), { pinRoot: PIN_ROOT }).changed).toBe(false);
	});

	test("pinned link and maps outlive the loading object; a second process reads and flips them", () => {
		const att = ensureAttached(target(), counter!.programFd, { mode: "tcx", pinRoot: PIN_ROOT });
		expect(att.changed).toBe(true);
		counter!.close();
		counter = undefined;

		expect(ping(NS_A, ADDR_B, 2)).toBe(true);
		const seen = fixture();
		expect(seen.interfaces).toContain(ifindexB);
		expect(Number(seen.packets)).toBeGreaterThanOrEqual(2);
		expect(seen.dropping).toBe(false);
		expect(seen.leaks).toBe(0);

		expect(fixture("drop-on").dropping).toBe(true);
		expect(ping(NS_A, ADDR_B, 2)).toBe(false);
		const dropped = fixture("drop-off");
		expect(Number(dropped.drops)).toBeGreaterThanOrEqual(2);
		expect(dropped.dropping).toBe(false);
		expect(ping(NS_A, ADDR_B, 2)).toBe(true);

		// And this process, its object long closed, reads the same pins.
		using maps = CounterMaps.openPinned(PIN_ROOT);
		expect(maps.statsFor(ifindexB).drops).toBe(BigInt(dropped.drops));

		// A fresh load reuses the pinned maps (counts carry over) and updates the pinned link in place.
		counter = Counter.load({ pinRoot: PIN_ROOT });
		expect(counter.maps.statsFor(ifindexB).drops).toBe(BigInt(dropped.drops));
		const again = ensureAttached(target(), counter.programFd, { mode: "tcx", pinRoot: PIN_ROOT });
		expect(again.changed).toBe(true);
		expect(again.progId).not.toBe(att.progId);
		expect(listAttached(nsB, VETH_B, { pinRoot: PIN_ROOT }).map((l) => l.progId)).toEqual([again.progId]);
		expect(detach(target(), { pinRoot: PIN_ROOT }).changed).toBe(true);
		expect(listAttached(nsB, VETH_B, { pinRoot: PIN_ROOT })).toEqual([]);
	});
});
