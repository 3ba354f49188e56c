import { describe, expect, test } from "bun:test";
import { CNI_CODES, CniError, serializeError } from "./errors.ts";
import type { Result } from "./types.ts";
import {
	compareVersions,
	convertResult,
	SUPPORTED_VERSIONS,
	toCurrentResult,
	versionAtLeast,
	versionResult,
} from "./version.ts";

const full: Result = {
	cniVersion: "1.1.0",
	interfaces: [
		{ name: "cali0123456789a", mac: "02:00:00:00:00:01" },
		{
			name: "eth0",
			mac: "02:00:00:00:00:02",
			mtu: 1500,
			sandbox: "/run/netns/p",
			socketPath: "/s",
			pciID: "0:1",
		},
	],
	ips: [
		{ address: "10.0.1.5/24", gateway: "10.0.1.253", interface: 1 },
		{ address: "fd00::5/64", gateway: "fd00::1", interface: 1 },
	],
	routes: [{ dst: "0.0.0.0/0", gw: "169.254.1.1", mtu: 1400, table: 100, scope: 0, priority: 5, advmss: 1 }],
	dns: { nameservers: ["10.96.0.10"] },
};

describe("versions", () => {
	test("supported list and comparison", () => {
		expect(SUPPORTED_VERSIONS).toEqual(["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]);
		expect(compareVersions("0.4.0", "1.0.0")).toBe(-1);
		expect(compareVersions("1.10.0", "1.9.0")).toBe(1);
		expect(versionAtLeast("1.1.0", "1.1.0")).toBe(true);
		expect(() => compareVersions("1.0", "1.0.0")).toThrow(CniError);
	});

	test("VERSION echoes a supported input version, else answers the current one", () => {
		expect(versionResult("0.4.0")).toEqual({
			cniVersion: "0.4.0",
			supportedVersions: [...SUPPORTED_VERSIONS],
		});
		expect(versionResult(undefined).cniVersion).toBe("1.1.0");
		expect(versionResult("0.2.0").cniVersion).toBe("1.1.0");
	});
});

describe("convertResult", () => {
	test("1.1.0 keeps everything", () => {
		expect(convertResult(full, "1.1.0")).toEqual(full);
	});

	test("1.0.0 drops the 1.1-only fields", () => {
		expect(convertResult(full, "1.0.0")).toEqual({
			cniVersion: "1.0.0",
			interfaces: [
				{ name: "cali0123456789a", mac: "02:00:00:00:00:01" },
				{ name: "eth0", mac: "02:00:00:00:00:02", mtu: 1500, sandbox: "/run/netns/p" },
			],
			ips: full.ips,
			routes: [{ dst: "0.0.0.0/0", gw: "169.254.1.1" }],
			dns: { nameservers: ["10.96.0.10"] },
		});
	});

	for (const v of ["0.3.0", "0.3.1", "0.4.0"]) {
		test(`${v} adds ips[].version and keeps name/mac/sandbox`, () => {
			expect(convertResult(full, v)).toEqual({
				cniVersion: v,
				interfaces: [
					{ name: "cali0123456789a", mac: "02:00:00:00:00:01" },
					{ name: "eth0", mac: "02:00:00:00:00:02", sandbox: "/run/netns/p" },
				],
				ips: [
					{ version: "4", address: "10.0.1.5/24", gateway: "10.0.1.253", interface: 1 },
					{ version: "6", address: "fd00::5/64", gateway: "fd00::1", interface: 1 },
				],
				routes: [{ dst: "0.0.0.0/0", gw: "169.254.1.1" }],
				dns: { nameservers: ["10.96.0.10"] },
			});
		});
	}

	test("an unsupported target is code 1", () => {
		try {
			convertResult(full, "0.2.0");
			throw new Error("no throw");
		} catch (e) {
			expect((e as CniError).code).toBe(CNI_CODES.IncompatibleCniVersion);
		}
	});

	test("round trip through 0.4.0 back to current loses only what 0.4.0 cannot say", () => {
		const back = toCurrentResult(convertResult(full, "0.4.0"));
		expect(back.ips).toEqual(full.ips);
		expect(back.interfaces?.[1]).toEqual({ name: "eth0", mac: "02:00:00:00:00:02", sandbox: "/run/netns/p" });
	});
});

describe("CniError", () => {
	test("serializes as the spec's error JSON, details only when given", () => {
		expect(JSON.parse(serializeError(new CniError(7, "bad mtu"), "1.0.0"))).toEqual({
			cniVersion: "1.0.0",
			code: 7,
			msg: "bad mtu",
		});
		expect(new CniError(104, "drift", "a; b").toJSON("1.1.0")).toEqual({
			cniVersion: "1.1.0",
			code: 104,
			msg: "drift",
			details: "a; b",
		});
	});

	test("codes: the spec's table, libcni's 8 and 999, ours from 100", () => {
		expect(CNI_CODES.InvalidEnvironmentVariables).toBe(4);
		expect(CNI_CODES.InvalidNetNS).toBe(8);
		expect(CNI_CODES.TryAgainLater).toBe(11);
		expect(CNI_CODES.PluginNotAvailable).toBe(50);
		expect(CNI_CODES.PluginNotAvailableLimitedConnectivity).toBe(51);
		expect(CNI_CODES.Internal).toBe(999);
		const ours = Object.values(CNI_CODES).filter((c) => c >= 100 && c !== 999);
		expect(new Set(ours).size).toBe(ours.length);
	});
});
