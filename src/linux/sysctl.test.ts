import { describe, expect, test } from "bun:test";
import { LinuxError } from "./errors.ts";
import { sysctlPath } from "./sysctl.ts";

describe("sysctlPath (sysctl(8) key rules, no I/O)", () => {
	test.each([
		["net.ipv4.ip_forward", "net/ipv4/ip_forward"],
		["net.ipv4.conf.eth0.rp_filter", "net/ipv4/conf/eth0/rp_filter"],
		["net.ipv4.conf.eth0/100.rp_filter", "net/ipv4/conf/eth0.100/rp_filter"],
		["net/ipv4/conf/eth0.100/rp_filter", "net/ipv4/conf/eth0.100/rp_filter"],
		["net/ipv6/conf/all/forwarding", "net/ipv6/conf/all/forwarding"],
		["net.core.somaxconn", "net/core/somaxconn"],
	])("%s -> %s", (key, want) => {
		expect(sysctlPath(key)).toBe(want);
	});

	test.each([
		"",
		"kernel.pid_max",
		"vm.swappiness",
		"net",
		"/proc/sys/net/ipv4/ip_forward",
		"net..ipv4",
		"net.ipv4.conf..rp_filter",
		"net/../kernel/pid_max",
		"net/ipv4/./ip_forward",
		"net.ipv4.ip_forward.",
		"net.ipv4 .ip_forward",
		"net.ipv4.ip_forward\0",
		"net//ipv4",
	])("rejects %p with a LinuxError naming the key", (key) => {
		let err: unknown;
		try {
			sysctlPath(key);
		} catch (e) {
			err = e;
		}
		expect(err).toBeInstanceOf(LinuxError);
		expect((err as Error).message).toContain(JSON.stringify(key));
	});
});
