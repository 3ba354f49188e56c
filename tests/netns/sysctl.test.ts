/**
 * Root tier: src/linux/sysctl.ts in a namespace of our own (prefix "<run>sy"), cross-checked with
 * `ip netns exec <ns> sysctl -n`, and the host value left untouched.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { openHandles } from "../../src/ffi/handles.ts";
import { isNotFoundError, LinuxError } from "../../src/linux/errors.ts";
import { createNetns, type Netns } from "../../src/linux/netns.ts";
import {
	ensureIpForward,
	ensureIpv6Enabled,
	ensureProxyArp,
	ensureRpFilter,
	ensureSysctl,
	sysctlGet,
	sysctlSet,
} from "../../src/linux/sysctl.ts";
import { canRun, cleanupNetns, prefixFor, sh } from "../helpers/env.ts";

const P = prefixFor("sy");
const N = `${P}a`;
const VETH = `${P}0`;
const VLANISH = `${P}.100`; // a link name with a dot, as a VLAN sub-interface would have

const inNs = (key: string): string => sh(["ip", "netns", "exec", N, "sysctl", "-n", key]).out.trim();
const onHost = (key: string): string => sh(["sysctl", "-n", key]).out.trim();

describe.skipIf(!canRun("tests/netns/sysctl.test.ts"))("sysctl in a network namespace", () => {
	let ns: Netns;

	beforeAll(() => {
		cleanupNetns(P);
		ns = createNetns(N);
		sh(["ip", "-n", N, "link", "add", VETH, "type", "veth", "peer", "name", VLANISH]);
	});

	afterAll(() => {
		ns?.close();
		cleanupNetns(P);
		expect(openHandles()).toEqual([]);
	});

	test("ip_forward: set in the namespace, sysctl(8) agrees, host untouched, ensure idempotent", () => {
		const host4 = onHost("net.ipv4.ip_forward");
		const host6 = onHost("net.ipv6.conf.all.forwarding");
		expect(sysctlGet(ns, "net.ipv4.ip_forward")).toBe("0"); // a fresh netns starts with 0
		expect(ensureIpForward(ns, 4)).toEqual({ changed: true });
		expect(ensureIpForward(ns, 4)).toEqual({ changed: false });
		expect(inNs("net.ipv4.ip_forward")).toBe("1");
		expect(ensureIpForward(ns, 6)).toEqual({ changed: true });
		expect(inNs("net.ipv6.conf.all.forwarding")).toBe("1");
		expect(onHost("net.ipv4.ip_forward")).toBe(host4);
		expect(onHost("net.ipv6.conf.all.forwarding")).toBe(host6);

		sysctlSet(ns, "net/ipv4/ip_forward", 0);
		expect(inNs("net.ipv4.ip_forward")).toBe("0");
		expect(sysctlGet(ns, "net/ipv4/ip_forward")).toBe("0");
	});

	test("per-link keys, including a link name with a dot (slash form and sysctl(8) dotted form)", () => {
		expect(ensureRpFilter(ns, VETH, 2)).toEqual({ changed: true });
		expect(inNs(`net.ipv4.conf.${VETH}.rp_filter`)).toBe("2");
		expect(ensureProxyArp(ns, VLANISH)).toEqual({ changed: true });
		expect(ensureProxyArp(ns, VLANISH)).toEqual({ changed: false });
		// sysctl(8) spells the dot of the link name as '/' in dotted keys
		expect(inNs(`net.ipv4.conf.${VLANISH.replace(".", "/")}.proxy_arp`)).toBe("1");
		expect(sysctlGet(ns, `net.ipv4.conf.${VLANISH.replace(".", "/")}.proxy_arp`)).toBe("1");
		expect(sysctlGet(ns, `net/ipv4/conf/${VLANISH}/proxy_arp`)).toBe("1");
		expect(ensureIpv6Enabled(ns, VETH, false)).toEqual({ changed: true });
		expect(inNs(`net.ipv6.conf.${VETH}.disable_ipv6`)).toBe("1");
		// multi-value entries compare whitespace-insensitively
		const range = sysctlGet(ns, "net.ipv4.ip_local_port_range");
		expect(ensureSysctl(ns, "net.ipv4.ip_local_port_range", range.split(/\s+/).join(" "))).toEqual({
			changed: false,
		});
	});

	test("bad keys and missing keys: LinuxError, nothing written", () => {
		for (const key of [
			"kernel.pid_max",
			"/proc/sys/net/ipv4/ip_forward",
			"net/../kernel/pid_max",
			"net..ipv4",
			"",
		]) {
			expect(() => sysctlSet(ns, key, 1)).toThrow(LinuxError);
		}
		let err: unknown;
		try {
			sysctlGet(ns, "net.ipv4.conf.nosuchdev0.rp_filter");
		} catch (e) {
			err = e;
		}
		expect(err).toBeInstanceOf(LinuxError);
		expect(isNotFoundError(err)).toBe(true);
		expect((err as Error).message).toContain("nosuchdev0");
		expect(() => sysctlSet(ns, "net.ipv4.ip_forward", "1\n0")).toThrow(LinuxError);
		expect(() => ensureRpFilter(ns, "../x", 1)).toThrow(LinuxError);
		expect(inNs("net.ipv4.ip_forward")).toBe("0");
	});
});
