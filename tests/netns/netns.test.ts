import { afterAll, describe, expect, test } from "bun:test";
import { ERRNO } from "../../src/ffi/errno.ts";
import { openHandles } from "../../src/ffi/handles.ts";
import { readFileSyncFd, withNetns } from "../../src/ffi/libc/index.ts";
import { isExistsError, isNotFoundError, LinuxError } from "../../src/linux/errors.ts";
import { createNetns, deleteNetns, listNetns, Netns } from "../../src/linux/netns.ts";
import { canRun, cleanupNetns, prefixFor, sh } from "../helpers/env.ts";

const P = prefixFor("ns");

describe.skipIf(!canRun("tests/netns/netns.test.ts"))("named network namespaces", () => {
	afterAll(() => {
		cleanupNetns(P);
		expect(openHandles()).toEqual([]);
	});

	test("create is visible to ip netns and is a different namespace; delete removes it", () => {
		const name = `${P}-a`;
		{
			using ns = createNetns(name);
			using host = Netns.current();
			expect(ns.name).toBe(name);
			expect(ns.inode).not.toBe(host.inode);
			expect(sh(["ip", "netns", "list"]).out).toContain(name);
			expect(listNetns()).toContain(name);
			// the same namespace ip netns exec enters
			const inner = sh(["ip", "netns", "exec", name, "readlink", "/proc/self/ns/net"]).out.trim();
			expect(inner).toBe(ns.inode);
		}
		expect(deleteNetns(name)).toBe(true);
		expect(sh(["ip", "netns", "list"]).out).not.toContain(name);
		expect(deleteNetns(name)).toBe(false);
	});

	test("run() enters for a synchronous section only and comes back home", () => {
		using ns = createNetns(`${P}-b`);
		using host = Netns.current();
		const innerInode = ns.run(() => {
			using cur = Netns.current();
			return cur.inode;
		});
		expect(innerInode).toBe(ns.inode);
		using after = Netns.current();
		expect(after.inode).toBe(host.inode);
		deleteNetns(`${P}-b`);
	});

	test("sysctl written inside a namespace stays inside it", () => {
		using ns = createNetns(`${P}-c`);
		const hostBefore = readFileSyncFd("/proc/sys/net/ipv4/conf/all/forwarding");
		// a fresh namespace starts with forwarding off; what we read inside is its own value
		expect(ns.run(() => readFileSyncFd("/proc/sys/net/ipv4/conf/all/forwarding")).trim()).toBe("0");
		expect(readFileSyncFd("/proc/sys/net/ipv4/conf/all/forwarding")).toBe(hostBefore);
		deleteNetns(`${P}-c`);
	});

	test("a section returning a Promise is refused, and the thread still returns home", () => {
		using ns = createNetns(`${P}-d`);
		using host = Netns.current();
		expect(() => withNetns(ns.fd, () => Promise.resolve(1))).toThrow(/synchronous/);
		using after = Netns.current();
		expect(after.inode).toBe(host.inode);
		deleteNetns(`${P}-d`);
	});

	test("a duplicate name fails with EEXIST and leaves the first one intact", () => {
		using ns = createNetns(`${P}-e`);
		let err: unknown;
		try {
			createNetns(`${P}-e`);
		} catch (e) {
			err = e;
		}
		expect(err).toBeInstanceOf(LinuxError);
		expect(isExistsError(err)).toBe(true);
		expect(String(err)).toContain(`network namespace ${P}-e already exists`);
		using again = Netns.open(`${P}-e`);
		expect(again.inode).toBe(ns.inode);
		deleteNetns(`${P}-e`);
	});

	test("bad names and unknown namespaces give typed errors and create nothing", () => {
		const before = listNetns();
		expect(() => createNetns("a/b")).toThrow(/invalid network namespace name "a\/b"/);
		expect(() => createNetns("..")).toThrow(LinuxError);
		expect(() => createNetns("")).toThrow(LinuxError);
		expect(() => createNetns("x".repeat(256))).toThrow(/longer than 255 bytes/);
		let err: unknown;
		try {
			Netns.open(`${P}-missing`);
		} catch (e) {
			err = e;
		}
		expect(isNotFoundError(err)).toBe(true);
		expect(String(err)).toContain(`/run/netns/${P}-missing does not exist`);
		expect(() => Netns.openPath("/etc/hostname")).toThrow(/is not a network namespace/);
		expect(listNetns()).toEqual(before);
	});

	test("errno is carried through", () => {
		let err: unknown;
		try {
			Netns.openPath(`/run/netns/${P}-nope`);
		} catch (e) {
			err = e;
		}
		expect((err as LinuxError).cause).toMatchObject({ errno: ERRNO.ENOENT, code: "ENOENT", fn: "open" });
	});
});
