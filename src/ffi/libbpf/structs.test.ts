import { describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import {
	LAYOUT,
	linkUpdateOpts,
	mapBatchOpts,
	objectOpenOpts,
	parseLinkInfo,
	parseMapInfo,
	parseProgInfo,
	progAttachOpts,
	progQueryOpts,
	readProgQueryOpts,
	readTcOpts,
	readTestRunOpts,
	tcHook,
	tcOpts,
	testRunOpts,
} from "./structs.ts";

const dv = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);

/** Fields the installed (6.1) uapi headers do not have yet: checked against kernel 6.6 uapi by hand. */
const NOT_IN_HEADERS = new Set([
	"bpf_link_info.tcx_ifindex",
	"bpf_link_info.tcx_attach_type",
	"bpf_link_info.size",
]);

function cLayout(): Map<string, number> | string {
	const cc = Bun.which("cc") ?? Bun.which("gcc");
	if (!cc) return "no C compiler";
	if (!existsSync("/usr/include/bpf/libbpf.h")) return "libbpf-dev headers missing";
	const lines: string[] = [];
	for (const [s, fields] of Object.entries(LAYOUT)) {
		for (const f of Object.keys(fields)) {
			if (NOT_IN_HEADERS.has(`${s}.${f}`)) continue;
			const expr = f === "size" ? `sizeof(struct ${s})` : `offsetof(struct ${s}, ${f})`;
			lines.push(`printf("${s}.${f} %zu\\n", ${expr});`);
		}
	}
	const dir = mkdtempSync(`${tmpdir()}/twlayout-`);
	try {
		writeFileSync(
			`${dir}/l.c`,
			`#include <stdio.h>\n#include <stddef.h>\n#include <bpf/libbpf.h>\n#include <bpf/bpf.h>\n#include <linux/bpf.h>\nint main(void){${lines.join("\n")}return 0;}\n`,
		);
		const b = Bun.spawnSync([cc, "-o", `${dir}/l`, `${dir}/l.c`], { stderr: "pipe" });
		if (b.exitCode !== 0) throw new Error(`layout probe failed to compile: ${b.stderr.toString()}`);
		const out = Bun.spawnSync([`${dir}/l`]).stdout.toString();
		return new Map(
			out
				.trim()
				.split("\n")
				.map((l) => {
					const [k, v] = l.split(" ");
					return [k!, Number(v)] as const;
				}),
		);
	} finally {
		rmSync(dir, { recursive: true, force: true });
	}
}

describe("libbpf struct layouts", () => {
	const c = cLayout();
	test.skipIf(typeof c === "string")("LAYOUT matches sizeof/offsetof from the installed headers", () => {
		if (typeof c === "string") return;
		const ours = new Map<string, number>();
		for (const [s, fields] of Object.entries(LAYOUT)) {
			for (const [f, v] of Object.entries(fields)) {
				if (!NOT_IN_HEADERS.has(`${s}.${f}`)) ours.set(`${s}.${f}`, v);
			}
		}
		expect(c.size).toBeGreaterThan(30);
		expect(Object.fromEntries(ours)).toEqual(Object.fromEntries(c));
	});
	if (typeof c === "string") console.warn(`SKIP struct layout check: ${c}`);

	test("opts builders set sz and leave the rest zero", () => {
		for (const [b, size] of [
			[tcHook({ ifindex: 0, attachPoint: 0 }), 24],
			[tcOpts(), 32],
			[mapBatchOpts(), 24],
			[progQueryOpts({ progIds: null, progCnt: 0 }), 40],
			[progAttachOpts(), 16],
			[linkUpdateOpts(), 16],
			[objectOpenOpts({}), 80],
		] as const) {
			expect(b.length).toBe(size);
			expect(dv(b).getBigUint64(0, true)).toBe(BigInt(size));
			expect(b.subarray(8).every((x) => x === 0)).toBe(true);
		}
	});

	test("bpf_tc_hook and bpf_tc_opts fields land where libbpf reads them", () => {
		const h = dv(tcHook({ ifindex: 7, attachPoint: 2, parent: 0xffff_fff2 }));
		expect([h.getInt32(8, true), h.getUint32(12, true), h.getUint32(16, true)]).toEqual([7, 2, 0xffff_fff2]);
		const o = tcOpts({ progFd: 9, flags: 1, handle: 1, priority: 3 });
		const v = dv(o);
		expect([
			v.getInt32(8, true),
			v.getUint32(12, true),
			v.getUint32(20, true),
			v.getUint32(24, true),
		]).toEqual([9, 1, 1, 3]);
		v.setUint32(16, 42, true); // what bpf_tc_attach writes back
		expect(readTcOpts(o)).toEqual({ progId: 42, handle: 1, priority: 3 });
	});

	test("bpf_prog_query_opts carries the ids pointer and count in/out", () => {
		const q = progQueryOpts({ progIds: 0x1000, progCnt: 16, progAttachFlags: 0x2000 });
		const v = dv(q);
		expect(v.getBigUint64(16, true)).toBe(0x1000n);
		expect(v.getUint32(24, true)).toBe(16);
		expect(v.getBigUint64(32, true)).toBe(0x2000n);
		v.setUint32(24, 2, true);
		v.setUint32(12, 5, true);
		expect(readProgQueryOpts(q)).toEqual({ attachFlags: 5, progCnt: 2 });
	});

	test("map batch, prog attach, link update and open opts", () => {
		const m = dv(mapBatchOpts({ elemFlags: 1, flags: 2 }));
		expect([m.getBigUint64(8, true), m.getBigUint64(16, true)]).toEqual([1n, 2n]);
		const a = dv(progAttachOpts({ flags: 4, replaceProgFd: 11 }));
		expect([a.getUint32(8, true), a.getInt32(12, true)]).toEqual([4, 11]);
		const u = dv(linkUpdateOpts({ flags: 4, oldProgFd: 12 }));
		expect([u.getUint32(8, true), u.getInt32(12, true)]).toEqual([4, 12]);
		const o = dv(objectOpenOpts({ objectName: 0x10, pinRootPath: 0x20 }));
		expect([o.getBigUint64(8, true), o.getBigUint64(24, true)]).toEqual([0x10n, 0x20n]);
	});

	test("info parsers read names at their offsets, NUL-trimmed", () => {
		const p = new Uint8Array(LAYOUT.bpf_prog_info.size);
		const pv = dv(p);
		pv.setUint32(0, 3, true);
		pv.setUint32(4, 77, true);
		p.set([1, 2, 3, 4, 5, 6, 7, 8], 8);
		p.set(new TextEncoder().encode("terway_counter"), 64);
		expect(parseProgInfo(p)).toEqual({ type: 3, id: 77, tag: "0102030405060708", name: "terway_counter" });

		const m = new Uint8Array(LAYOUT.bpf_map_info.size);
		const mv = dv(m);
		[1, 5, 8, 24, 1024, 0].forEach((x, i) => {
			mv.setUint32(i * 4, x, true);
		});
		m.set(new TextEncoder().encode("terway_ifstats_x"), 24); // 16 bytes, no NUL
		expect(parseMapInfo(m)).toEqual({
			type: 1,
			id: 5,
			keySize: 8,
			valueSize: 24,
			maxEntries: 1024,
			flags: 0,
			name: "terway_ifstats_x",
		});

		const l = new Uint8Array(24);
		const lv = dv(l);
		[11, 3, 77, 0, 9, 46].forEach((x, i) => {
			lv.setUint32(i * 4, x, true);
		});
		expect(parseLinkInfo(l)).toEqual({ type: 11, id: 3, progId: 77, tcx: { ifindex: 9, attachType: 46 } });
		lv.setUint32(0, 1, true);
		expect(parseLinkInfo(l)).toEqual({ type: 1, id: 3, progId: 77 });
	});

	test("bpf_test_run_opts carries data/ctx pointers and sizes in, retval and sizes out", () => {
		const o = testRunOpts({
			dataIn: 0x1000,
			dataSizeIn: 64,
			dataOut: 0x2000,
			dataSizeOut: 1514,
			ctxIn: 0x3000,
			ctxSizeIn: 192,
			repeat: 3,
		});
		const v = dv(o);
		expect(o.length).toBe(80);
		expect(v.getBigUint64(0, true)).toBe(80n);
		expect([v.getBigUint64(8, true), v.getBigUint64(16, true), v.getBigUint64(32, true)]).toEqual([
			0x1000n,
			0x2000n,
			0x3000n,
		]);
		expect([
			v.getUint32(24, true),
			v.getUint32(28, true),
			v.getUint32(48, true),
			v.getInt32(60, true),
		]).toEqual([64, 1514, 192, 3]);
		v.setUint32(56, 0xffff_ffff, true); // TC_ACT_UNSPEC as the kernel writes it (__u32)
		v.setUint32(28, 60, true);
		v.setUint32(64, 123, true);
		expect(readTestRunOpts(o)).toEqual({ retval: -1, dataSizeOut: 60, ctxSizeOut: 0, durationNs: 123 });
	});
});
