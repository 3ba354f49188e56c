import { describe, expect, test } from "bun:test";
import { FAKE_VPC, FakeMetadataSource, fakeEni } from "./fake-source.ts";
import { ipv6sBody, type MetadataSnapshot, netmaskOf, resolve } from "./tree.ts";

function snapshot(instanceId = "i-sim000001"): MetadataSnapshot {
	const src = new FakeMetadataSource();
	src.attach(
		"i-sim000001",
		fakeEni({
			eniId: "eni-sim0000a1",
			mac: "00:16:3e:aa:bb:01",
			primaryIp: "198.18.0.30",
			ips: ["198.18.0.30", "198.18.0.31", "198.18.0.32"],
			ipv6s: ["fd00:198:18::a", "fd00:198:18::b"],
		}),
	);
	const instance = src.instance(instanceId)!;
	return {
		instance,
		enis: src.metadataEnis(instanceId),
		vpc: FAKE_VPC,
		ramCredentials: () => "{ sts }",
	};
}

const path = (s: MetadataSnapshot, p: string) => resolve(s, p.split("/").filter(Boolean));

describe("metadata tree: values in Terway's formats (cloud-sim.md §3.2)", () => {
	const s = snapshot();
	test.each([
		["instance-id", "i-sim000001"],
		["region-id", "cn-hangzhou"],
		["zone-id", "cn-hangzhou-i"],
		["instance/instance-type", "ecs.g7.large"],
		["hostname", "iZsim000001Z"],
		["vpc-id", "vpc-sim0001"],
		["vpc-cidr-block", "198.18.0.0/15"],
		["vswitch-id", "vsw-sim0001"],
		["vswitch-cidr-block", "198.18.0.0/24"],
		["mac", "00:16:3e:00:00:01"],
		["private-ipv4", "198.18.0.11"],
		["network-type", "vpc"],
		["network/interfaces/macs/00:16:3e:aa:bb:01/network-interface-id", "eni-sim0000a1"],
		["network/interfaces/macs/00:16:3e:aa:bb:01/primary-ip-address", "198.18.0.30"],
		[
			"network/interfaces/macs/00:16:3e:aa:bb:01/private-ipv4s",
			'["198.18.0.30","198.18.0.31","198.18.0.32"]',
		],
		["network/interfaces/macs/00:16:3e:aa:bb:01/ipv6s", "[fd00:198:18::a,fd00:198:18::b]"],
		["network/interfaces/macs/00:16:3e:aa:bb:01/gateway", "198.18.0.253"],
		["network/interfaces/macs/00:16:3e:aa:bb:01/netmask", "255.255.255.0"],
		["network/interfaces/macs/00:16:3e:aa:bb:01/ipv6-gateway", "fd00:198:18::1"],
		["network/interfaces/macs/00:16:3e:aa:bb:01/vswitch-id", "vsw-sim0001"],
		["network/interfaces/macs/00:16:3e:aa:bb:01/vswitch-cidr-block", "198.18.0.0/24"],
		["network/interfaces/macs/00:16:3e:aa:bb:01/vswitch-ipv6-cidr-block", "fd00:198:18::/64"],
		["network/interfaces/macs/00:16:3e:aa:bb:01/vpc-id", "vpc-sim0001"],
		["network/interfaces/macs/00:16:3e:aa:bb:01/vpc-cidr-block", "198.18.0.0/15"],
		["network/interfaces/macs/00:16:3e:00:00:01/private-ipv4s", '["198.18.0.11"]'],
		["network/interfaces/macs/00:16:3e:00:00:01/ipv6s", "[fd00:198:18::11]"],
		["ram/security-credentials/TerwaySimRole", "{ sts }"],
	])("%s → %s", (p, body) => {
		expect(path(s, p)).toEqual({ kind: "value", body });
	});

	test("private-ipv4s is a JSON array, primary first; ipv6s is bracketed but not JSON", () => {
		const v4 = path(s, "network/interfaces/macs/00:16:3e:aa:bb:01/private-ipv4s");
		const v6 = path(s, "network/interfaces/macs/00:16:3e:aa:bb:01/ipv6s");
		if (v4.kind !== "value" || v6.kind !== "value") throw new Error("expected values");
		expect(JSON.parse(v4.body)).toEqual(["198.18.0.30", "198.18.0.31", "198.18.0.32"]);
		expect(() => JSON.parse(v6.body)).toThrow();
		// Terway's parse: strip brackets, split on ",".
		expect(v6.body.replaceAll("[", "").replaceAll("]", "").split(",")).toEqual([
			"fd00:198:18::a",
			"fd00:198:18::b",
		]);
	});

	test("MACs match case-insensitively", () => {
		expect(path(s, "network/interfaces/macs/00:16:3E:AA:BB:01/vswitch-id")).toEqual({
			kind: "value",
			body: "vsw-sim0001",
		});
	});
});

describe("metadata tree: absent paths are 404", () => {
	test("ipv6s, ipv6-gateway and vswitch-ipv6-cidr-block when the ENI has no IPv6", () => {
		const s = snapshot("i-sim000002");
		for (const leaf of ["ipv6s", "ipv6-gateway", "vswitch-ipv6-cidr-block"]) {
			expect(path(s, `network/interfaces/macs/00:16:3e:00:00:02/${leaf}`)).toEqual({ kind: "notFound" });
		}
	});

	test("ipv6s when the vSwitch has IPv6 but the ENI holds none", () => {
		const s = snapshot();
		s.enis[0] = { ...s.enis[0]!, ipv6s: [] };
		expect(path(s, "network/interfaces/macs/00:16:3e:00:00:01/ipv6s")).toEqual({ kind: "notFound" });
		expect(path(s, "network/interfaces/macs/00:16:3e:00:00:01/ipv6-gateway")).toEqual({
			kind: "value",
			body: "fd00:198:18::1",
		});
	});

	test.each([
		["no-such-path"],
		["network/interfaces/macs/00:16:3e:ff:ff:ff/private-ipv4s"],
		["network/interfaces/macs/00:16:3e:aa:bb:01/no-such-leaf"],
		["instance-id/deeper"],
		["ram/security-credentials/OtherRole"],
		["__proto__"],
		["constructor"],
	])("%s", (p) => {
		expect(path(snapshot(), p)).toEqual({ kind: "notFound" });
	});

	test("an instance without a RAM role has no ram/ at all", () => {
		const s = snapshot("i-sim000002");
		expect(path(s, "ram/")).toEqual({ kind: "notFound" });
		expect(path(s, "ram/security-credentials/")).toEqual({ kind: "notFound" });
	});

	test("vpc-cidr-block without VPC facts", () => {
		const s = snapshot();
		delete s.vpc;
		expect(path(s, "vpc-cidr-block")).toEqual({ kind: "notFound" });
		const dir = path(s, "");
		if (dir.kind !== "dir") throw new Error("expected a directory");
		expect(dir.entries).not.toContain("vpc-cidr-block");
	});
});

describe("metadata tree: directory listings (trailing / on sub-directories)", () => {
	const s = snapshot();
	test("root", () => {
		expect(path(s, "")).toEqual({
			kind: "dir",
			entries: [
				"hostname",
				"instance-id",
				"instance/",
				"mac",
				"network-type",
				"network/",
				"private-ipv4",
				"ram/",
				"region-id",
				"vpc-cidr-block",
				"vpc-id",
				"vswitch-cidr-block",
				"vswitch-id",
				"zone-id",
			],
		});
	});

	test("root of an instance without a RAM role", () => {
		const r = path(snapshot("i-sim000002"), "");
		if (r.kind !== "dir") throw new Error("expected a directory");
		expect(r.entries).not.toContain("ram/");
	});

	test.each([
		["instance/", ["instance-type"]],
		["network/", ["interfaces/"]],
		["network/interfaces/", ["macs/"]],
		["network/interfaces/macs/", ["00:16:3e:00:00:01/", "00:16:3e:aa:bb:01/"]],
		["network/interfaces/macs", ["00:16:3e:00:00:01/", "00:16:3e:aa:bb:01/"]],
		["ram/", ["security-credentials/"]],
		["ram/security-credentials/", ["TerwaySimRole"]],
	])("%s", (p, entries) => {
		expect(path(s, p)).toEqual({ kind: "dir", entries });
	});

	test("per-ENI directory lists exactly the leaves that answer", () => {
		expect(path(s, "network/interfaces/macs/00:16:3e:aa:bb:01/")).toEqual({
			kind: "dir",
			entries: [
				"gateway",
				"ipv6-gateway",
				"ipv6s",
				"netmask",
				"network-interface-id",
				"primary-ip-address",
				"private-ipv4s",
				"vpc-cidr-block",
				"vpc-id",
				"vswitch-cidr-block",
				"vswitch-id",
				"vswitch-ipv6-cidr-block",
			],
		});
		expect(path(snapshot("i-sim000002"), "network/interfaces/macs/00:16:3e:00:00:02/")).toEqual({
			kind: "dir",
			entries: [
				"gateway",
				"netmask",
				"network-interface-id",
				"primary-ip-address",
				"private-ipv4s",
				"vpc-cidr-block",
				"vpc-id",
				"vswitch-cidr-block",
				"vswitch-id",
			],
		});
	});
});

describe("helpers", () => {
	test.each([
		["198.18.0.0/24", "255.255.255.0"],
		["198.18.0.0/15", "255.254.0.0"],
		["198.18.0.0/32", "255.255.255.255"],
		["0.0.0.0/0", "0.0.0.0"],
		["198.18.0.16/28", "255.255.255.240"],
	])("netmaskOf(%s) = %s", (cidr, mask) => {
		expect(netmaskOf(cidr)).toBe(mask);
	});

	test("netmaskOf rejects non-IPv4 and bad lengths", () => {
		expect(netmaskOf("fd00::/64")).toBeUndefined();
		expect(netmaskOf("198.18.0.0/33")).toBeUndefined();
	});

	test("ipv6sBody", () => {
		expect(ipv6sBody([])).toBeUndefined();
		expect(ipv6sBody(["fd00::1"])).toBe("[fd00::1]");
	});
});
