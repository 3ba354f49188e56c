/**
 * Root tier: src/linux/tc.ts against the real kernel, cross-checked with `tc -j`. Two namespaces
 * of our own (prefix "<run>tc"), one veth between them made with `ip` (the netlink link API is
 * someone else's), 198.18.0.0/30 on the wire. Everything made here is removed in afterAll.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { openHandles } from "../../src/ffi/handles.ts";
import { isNotFoundError, LinuxError } from "../../src/linux/errors.ts";
import { createNetns, type Netns } from "../../src/linux/netns.ts";
import {
	classAdd,
	classDel,
	classList,
	classReplace,
	ensureClsact,
	ensureHtb,
	ensureHtbClass,
	ensureTbf,
	qdiscAdd,
	qdiscDel,
	qdiscList,
	qdiscReplace,
} from "../../src/linux/tc.ts";
import { canRun, cleanupNetns, prefixFor, sh } from "../helpers/env.ts";

const P = prefixFor("tc");
const A = `${P}a`;
const B = `${P}b`;
const LA = `${P}0`; // in A
const LB = `${P}1`; // in B
const BUN = process.execPath;
const FIXTURE = `${import.meta.dir}/tc-traffic-fixture.ts`;

type TcJson = {
	kind: string;
	handle: string;
	parent?: string;
	root?: boolean;
	options?: Record<string, unknown>;
};
const tcJson = (ns: string, what: "qdisc", dev: string): TcJson[] => {
	const out = sh(["tc", "-n", ns, "-j", what, "show", "dev", dev]).out.trim();
	return out ? (JSON.parse(out) as TcJson[]) : [];
};
// Debian 12's tc has no JSON output for classes ("tc -j class show" prints text): parse the text.
const tcClassIds = (ns: string, dev: string): string[] =>
	[...tcText(ns, "class", dev).matchAll(/^class htb (\S+) /gm)].map((m) => m[1] as string).sort();
const tcText = (ns: string, what: "qdisc" | "class", dev: string): string =>
	sh(["tc", "-n", ns, "-d", what, "show", "dev", dev]).out;

function thrown(fn: () => unknown): unknown {
	try {
		fn();
	} catch (e) {
		return e;
	}
	throw new Error("expected a throw");
}

describe.skipIf(!canRun("tests/netns/tc.test.ts"))("tc in a network namespace", () => {
	let a: Netns;
	let b: Netns;

	beforeAll(() => {
		cleanupNetns(P);
		a = createNetns(A);
		b = createNetns(B);
		sh(["ip", "-n", A, "link", "add", LA, "type", "veth", "peer", "name", LB, "netns", B]);
		sh(["ip", "-n", A, "addr", "add", "198.18.0.1/30", "dev", LA]);
		sh(["ip", "-n", B, "addr", "add", "198.18.0.2/30", "dev", LB]);
		for (const [ns, l] of [
			[A, LA],
			[B, LB],
			[A, "lo"],
			[B, "lo"],
		] as const) {
			sh(["ip", "-n", ns, "link", "set", l, "up"]);
		}
	});

	afterAll(() => {
		a?.close();
		b?.close();
		cleanupNetns(P);
		expect(openHandles()).toEqual([]);
	});

	test("clsact: ensure adds it once, tc sees ffff: under ffff:fff1, delete removes it", () => {
		expect(ensureClsact(a, LA)).toEqual({ changed: true });
		const dump = tcText(A, "qdisc", LA);
		expect(ensureClsact(a, LA)).toEqual({ changed: false });
		expect(tcText(A, "qdisc", LA)).toBe(dump);
		const q = tcJson(A, "qdisc", LA).find((x) => x.kind === "clsact");
		expect(q).toMatchObject({ kind: "clsact", handle: "ffff:", parent: "ffff:fff1" });
		expect(qdiscList(a, LA).find((x) => x.kind === "clsact")).toEqual({
			link: LA,
			ifindex: expect.any(Number),
			kind: "clsact",
			handle: "ffff:",
			parent: "ffff:fff1",
		});
		expect(isExists(() => qdiscAdd(a, LA, { kind: "clsact" }))).toBe(true);
		qdiscDel(a, LA, { kind: "clsact" });
		expect(tcJson(A, "qdisc", LA).some((x) => x.kind === "clsact")).toBe(false);
	});

	test("tbf: ensure, idempotent, replace changes the rate, list matches tc, delete", () => {
		expect(ensureTbf(a, LA, { rate: 1_000_000, burst: 32_768, latencyMs: 50 })).toEqual({ changed: true });
		const dump = tcText(A, "qdisc", LA);
		expect(ensureTbf(a, LA, { rate: 1_000_000, burst: 32_768, latencyMs: 50 })).toEqual({ changed: false });
		expect(tcText(A, "qdisc", LA)).toBe(dump);

		const t = tcJson(A, "qdisc", LA).find((x) => x.kind === "tbf");
		expect(t?.handle).toBe("1:");
		expect(t?.root).toBe(true);
		expect(t?.options?.rate).toBe(125_000); // tc -j prints bytes/s
		expect(t?.options?.burst).toBe(32_768);
		const mine = qdiscList(a, LA).find((x) => x.kind === "tbf");
		expect(mine).toEqual({
			link: LA,
			ifindex: expect.any(Number),
			kind: "tbf",
			handle: "1:",
			parent: "root",
			tbf: { rate: 1_000_000, burst: 32_768, limit: 6250 + 32_768 },
		});
		// the whole-namespace list carries link names too
		expect(qdiscList(a).find((x) => x.kind === "tbf")?.link).toBe(LA);

		qdiscReplace(a, LA, { kind: "tbf", rate: 2_000_000, burst: 32_768, limit: 100_000 });
		expect(tcJson(A, "qdisc", LA).find((x) => x.kind === "tbf")?.options?.rate).toBe(250_000);
		expect(qdiscList(a, LA).find((x) => x.kind === "tbf")?.tbf).toEqual({
			rate: 2_000_000,
			burst: 32_768,
			limit: 100_000,
		});
		// ensure back to the first spec changes it, once
		expect(ensureTbf(a, LA, { rate: 1_000_000, burst: 32_768, latencyMs: 50 })).toEqual({ changed: true });
		expect(ensureTbf(a, LA, { rate: 1_000_000, burst: 32_768, latencyMs: 50 })).toEqual({ changed: false });

		qdiscDel(a, LA, { kind: "tbf" });
		expect(tcJson(A, "qdisc", LA).some((x) => x.kind === "tbf")).toBe(false);
	});

	test("htb + classes: add, list matches tc, ensure idempotent, replace, delete", () => {
		expect(ensureHtb(a, LA, { defaultClass: "1:10" })).toEqual({ changed: true });
		expect(ensureHtb(a, LA, { defaultClass: "10" })).toEqual({ changed: false });
		const h = tcJson(A, "qdisc", LA).find((x) => x.kind === "htb");
		expect(h?.handle).toBe("1:");
		expect(String(h?.options?.default)).toMatch(/^(0x)?10$/);
		expect(qdiscList(a, LA).find((x) => x.kind === "htb")?.htb).toEqual({ defaultClass: "1:10", r2q: 10 });

		classAdd(a, LA, { classid: "1:10", rate: 1_000_000, ceil: 2_000_000, prio: 1 });
		expect(
			ensureHtbClass(a, LA, { classid: "1:20", rate: 5_000_000, burst: 20_000, cburst: 30_000 }),
		).toEqual({
			changed: true,
		});
		const classDump = tcText(A, "class", LA);
		expect(
			ensureHtbClass(a, LA, { classid: "1:20", rate: 5_000_000, burst: 20_000, cburst: 30_000 }),
		).toEqual({
			changed: false,
		});
		expect(ensureHtbClass(a, LA, { classid: "1:10", rate: 1_000_000, ceil: 2_000_000, prio: 1 })).toEqual({
			changed: false,
		});
		expect(tcText(A, "class", LA)).toBe(classDump);

		expect(tcClassIds(A, LA)).toEqual(["1:10", "1:20"]);
		const mine = classList(a, LA).sort((x, y) => x.classid.localeCompare(y.classid));
		expect(mine).toEqual([
			{
				link: LA,
				ifindex: expect.any(Number),
				kind: "htb",
				classid: "1:10",
				parent: "root", // the kernel reports top-level htb classes under root
				htb: {
					rate: 1_000_000,
					ceil: 2_000_000,
					burst: expect.any(Number),
					cburst: expect.any(Number),
					prio: 1,
				},
			},
			{
				link: LA,
				ifindex: expect.any(Number),
				kind: "htb",
				classid: "1:20",
				parent: "root",
				htb: { rate: 5_000_000, ceil: 5_000_000, burst: 20_000, cburst: 30_000, prio: 0 },
			},
		]);
		expect(tcText(A, "class", LA)).toMatch(/class htb 1:10 .*rate 1Mbit ceil 2Mbit/);
		expect(classList(a).map((c) => c.link)).toEqual([LA, LA]);

		classReplace(a, LA, { classid: "1:10", rate: 3_000_000, ceil: 4_000_000 });
		expect(tcText(A, "class", LA)).toMatch(/class htb 1:10 .*rate 3Mbit ceil 4Mbit/);
		expect(isExists(() => classAdd(a, LA, { classid: "1:10", rate: 1_000_000 }))).toBe(true);

		classDel(a, LA, "1:20");
		expect(tcClassIds(A, LA)).toEqual(["1:10"]);

		// switching the root qdisc kind through ensure replaces htb (and its classes) with tbf
		expect(ensureTbf(a, LA, { rate: 8_000_000, burst: 16_000, limit: 64_000 })).toEqual({ changed: true });
		expect(tcJson(A, "qdisc", LA).map((q) => q.kind)).toContain("tbf");
		expect(tcJson(A, "qdisc", LA).some((q) => q.kind === "htb")).toBe(false);
		qdiscDel(a, LA, { kind: "tbf" });
	});

	test("bad input: typed errors, nothing changed", () => {
		const before = tcText(A, "qdisc", LA);
		const nodev = thrown(() => ensureTbf(a, "nosuchdev0", { rate: 1_000_000, burst: 32_768, latencyMs: 50 }));
		expect(nodev).toBeInstanceOf(LinuxError);
		expect(isNotFoundError(nodev)).toBe(true);
		expect((nodev as Error).message).toContain("nosuchdev0");
		// the peer exists only in B: not visible from A
		expect(isNotFoundError(thrown(() => qdiscList(a, LB)))).toBe(true);

		for (const fn of [
			() => qdiscAdd(a, LA, { kind: "tbf", rate: 1_000_000, burst: 32_768, limit: 1000, handle: "1:5" }),
			() => qdiscAdd(a, LA, { kind: "tbf", rate: 1_000_000, burst: 32_768, limit: 1000, handle: "zz:" }),
			() => qdiscAdd(a, LA, { kind: "tbf", rate: 0, burst: 32_768, limit: 1000 }),
			() => qdiscAdd(a, LA, { kind: "tbf", rate: Number.NaN, burst: 32_768, limit: 1000 }),
			() => qdiscAdd(a, LA, { kind: "tbf", rate: 1e15, burst: 32_768, limit: 1000 }),
			() => qdiscAdd(a, LA, { kind: "tbf", rate: 1_000_000, burst: 0, limit: 1000 }),
			() => qdiscAdd(a, LA, { kind: "tbf", rate: 1_000_000, burst: 1000 }),
			() => qdiscAdd(a, LA, { kind: "htb", defaultClass: "xyz" }),
			() => classAdd(a, LA, { classid: "1:", rate: 1_000_000 }),
			() => classAdd(a, LA, { classid: "1:10", rate: 2_000_000, ceil: 1_000_000 }),
			() => classDel(a, LA, "bogus"),
		]) {
			expect(thrown(fn)).toBeInstanceOf(LinuxError);
		}
		// a class without its htb qdisc: the kernel says so, still a LinuxError
		expect(thrown(() => classAdd(a, LA, { classid: "1:10", rate: 1_000_000 }))).toBeInstanceOf(LinuxError);
		// deleting what is not there
		expect(thrown(() => qdiscDel(a, LA, { kind: "tbf" }))).toBeInstanceOf(LinuxError);
		expect(tcText(A, "qdisc", LA)).toBe(before);
	});

	test("tbf really limits a TCP transfer between the namespaces (>= 3x less than unlimited)", async () => {
		const unlimited = await transfer();
		ensureTbf(a, LA, { rate: 1_000_000, burst: 16_000, latencyMs: 100 });
		try {
			const limited = await transfer();
			// 1 s at 1 Mbit/s is 125 kB (+ burst); give it 8x slack so load cannot make it flaky
			expect(limited).toBeGreaterThan(0);
			expect(limited).toBeLessThan(1_000_000);
			expect(unlimited).toBeGreaterThanOrEqual(3 * limited);
		} finally {
			qdiscDel(a, LA, { kind: "tbf" });
		}
	}, 30_000);
});

function isExists(fn: () => unknown): boolean {
	const e = thrown(fn);
	return e instanceof LinuxError && (e.cause as { code?: string } | undefined)?.code === "EEXIST";
}

/** Bytes received in B during 1 s of A sending as fast as it can. */
async function transfer(): Promise<number> {
	const sink = Bun.spawn(["ip", "netns", "exec", B, BUN, FIXTURE, "sink", "198.18.0.2", "5201", "1000"], {
		stdout: "pipe",
		stderr: "pipe",
	});
	const reader = sink.stdout.getReader();
	let text = "";
	while (!text.includes("ready")) {
		const { value, done } = await reader.read();
		if (done) break;
		text += new TextDecoder().decode(value);
	}
	sh(["ip", "netns", "exec", A, BUN, FIXTURE, "send", "198.18.0.2", "5201", "1500"]);
	for (;;) {
		const { value, done } = await reader.read();
		if (done) break;
		text += new TextDecoder().decode(value);
	}
	await sink.exited;
	const lines = text.trim().split("\n");
	return Number(lines[lines.length - 1]);
}
