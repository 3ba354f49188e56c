import { describe, expect, test } from "bun:test";
import {
	ERRNO,
	ErrnoError,
	errnoName,
	isExists,
	isNotFound,
	isNotSupported,
	isPermission,
	NlError,
	NotSupportedError,
} from "./errno.ts";

describe("ErrnoError", () => {
	test("carries the function, the errno, its name and a readable message", () => {
		const e = new ErrnoError("open", ERRNO.ENOENT, "/run/netns/x");
		expect(e.message).toBe("open /run/netns/x: no such file or directory (ENOENT)");
		expect({ fn: e.fn, errno: e.errno, code: e.code }).toEqual({ fn: "open", errno: 2, code: "ENOENT" });
	});

	test("unknown errno values still print", () => {
		expect(errnoName(4095)).toBe("E4095");
		expect(new ErrnoError("bpf", 4095).message).toBe("bpf: error 4095 (E4095)");
	});

	test("NlError keeps the NLE code and the errno it stands for", () => {
		const e = new NlError("rtnl_link_add", 6, ERRNO.EEXIST, "Object exists", "veth0");
		expect(e.message).toBe("rtnl_link_add veth0: object exists (NLE 6) (EEXIST)");
		expect(e.nle).toBe(6);
		expect(isExists(e)).toBe(true);
	});

	test("predicates branch on meaning, not numbers", () => {
		expect(isNotFound(new ErrnoError("x", ERRNO.ENODEV))).toBe(true);
		expect(isNotFound(new ErrnoError("x", ERRNO.EEXIST))).toBe(false);
		expect(isPermission(new ErrnoError("x", ERRNO.EPERM))).toBe(true);
		expect(isNotSupported(new ErrnoError("x", ERRNO.EOPNOTSUPP))).toBe(true);
		expect(isNotSupported(new NotSupportedError("libbpf.so.1", "install libbpf1"))).toBe(true);
		expect(isNotFound(new Error("plain"))).toBe(false);
	});
});
