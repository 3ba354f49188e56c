import { afterAll, describe, expect, test } from "bun:test";
import { ERRNO, ErrnoError, isNotFound, isPermission } from "../errno.ts";
import { openHandles } from "../handles.ts";
import {
	BpfObject,
	checkInt,
	libbpfVersion,
	libbpfWarnings,
	mapLookup,
	objGet,
	setLibbpfLogger,
} from "./index.ts";

afterAll(() => {
	expect(openHandles()).toEqual([]);
});

describe("libbpf error mapping", () => {
	test("checkInt: negative return is -errno, named after the libbpf function", () => {
		expect(checkInt("bpf_x", 5)).toBe(5);
		let err: unknown;
		try {
			checkInt("bpf_map_lookup_elem", -ERRNO.ENOENT, "map fd 3");
		} catch (e) {
			err = e;
		}
		expect(err).toBeInstanceOf(ErrnoError);
		const e = err as ErrnoError;
		expect([e.fn, e.errno, e.code]).toEqual(["bpf_map_lookup_elem", 2, "ENOENT"]);
		expect(e.message).toBe("bpf_map_lookup_elem map fd 3: no such file or directory (ENOENT)");
		expect(isNotFound(e)).toBe(true);
	});

	test("libbpf is >= 1.1", () => {
		const v = libbpfVersion();
		expect(v.major > 1 || (v.major === 1 && v.minor >= 1)).toBe(true);
		expect(v.text).toStartWith("v");
	});

	test("int API: bpf_obj_get of a missing pin throws ENOENT (EPERM when unprivileged)", () => {
		let err: unknown;
		try {
			objGet("/sys/fs/bpf/terway-no-such-pin-for-tests").close();
		} catch (e) {
			err = e;
		}
		expect(err).toBeInstanceOf(ErrnoError);
		expect((err as ErrnoError).fn).toBe("bpf_obj_get");
		expect(isNotFound(err) || isPermission(err)).toBe(true);
	});

	test("int API: a closed fd gives EBADF (EPERM when unprivileged)", () => {
		let err: unknown;
		try {
			mapLookup(987654, new Uint8Array(4), 4);
		} catch (e) {
			err = e;
		}
		expect(err).toBeInstanceOf(ErrnoError);
		expect<number[]>([ERRNO.EBADF, ERRNO.EPERM]).toContain((err as ErrnoError).errno);
	});

	test("pointer API: bpf_object__open_mem of bytes that are not ELF reports errno, captures the warning, leaks nothing", () => {
		const lines: string[] = [];
		setLibbpfLogger((level, msg) => lines.push(`${level}: ${msg}`));
		let err: unknown;
		try {
			BpfObject.openMem(new TextEncoder().encode("not an ELF object at all"), { name: "junk" }).close();
		} catch (e) {
			err = e;
		} finally {
			setLibbpfLogger(undefined);
		}
		expect(err).toBeInstanceOf(ErrnoError);
		const e = err as ErrnoError;
		expect(e.fn).toBe("bpf_object__open_mem");
		expect(e.errno).toBeGreaterThan(0);
		expect(e.message).toContain("junk");
		expect(lines.some((l) => l.startsWith("warn: "))).toBe(true);
		expect(libbpfWarnings().length).toBeGreaterThan(0);
	});
});
