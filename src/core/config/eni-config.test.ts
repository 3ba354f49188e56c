import { describe, expect, test } from "bun:test";
import {
	DEFAULTS,
	EniConfigError,
	IGNORED_LEGACY_KEYS,
	KNOWN_KEYS,
	mergePatch,
	parseDaemonConfig,
	parseEniConf,
	resolveEniConf,
} from "./eni-config.ts";
import type { EniConfig } from "./types.ts";

/** The error message for a bad eni_conf (fails the test when it parses). */
function errorOf(input: unknown): string {
	try {
		parseEniConf(input);
	} catch (e) {
		if (e instanceof EniConfigError) return e.message;
		throw e;
	}
	throw new Error(`parsed without error: ${JSON.stringify(input)}`);
}

describe("defaults (Terway Populate / mod tags)", () => {
	test("an empty eni_conf", () => {
		const { config, warnings } = parseEniConf({});
		expect(config).toEqual({
			version: undefined,
			accessKey: undefined,
			accessSecret: undefined,
			credentialPath: undefined,
			regionId: undefined,
			serviceCidrs: [],
			vswitches: {},
			vswitchSelectionPolicy: "random",
			vswitchPolicy: "random",
			eniTags: {},
			eniTagFilter: {},
			eniTagBlockList: [],
			securityGroups: [],
			resourceGroupId: undefined,
			maxPoolSize: 0,
			minPoolSize: 0,
			ipWarmUpSize: 0,
			minEni: 0,
			maxEni: 0,
			eniCapRatio: 1,
			eniCapShift: 0,
			eniSelectionPolicy: "most_ips",
			ipStack: "ipv4",
			enableEniTrunking: false,
			enableErdma: false,
			enableIpPrefix: false,
			ipv4PrefixCount: 0,
			ipv6PrefixCount: 0,
			ipamType: "",
			customStatefulWorkloadKinds: ["statefulset"],
			idleIpReclaimAfterMs: undefined,
			idleIpReclaimIntervalMs: 600_000,
			idleIpReclaimBatchSize: 5,
			idleIpReclaimJitterFactor: 0.1,
			ipPoolSyncPeriodMs: 120_000,
			backoffOverride: {},
			rateLimit: {},
			extraRoutes: [],
			disableDevicePlugin: false,
			kubeClientQps: undefined,
			kubeClientBurst: undefined,
			enablePatchPodIps: true,
			eniipVirtualType: "Veth",
			datapath: "veth",
		});
		expect(warnings).toEqual([]);
	});
	test("JSON text as stored in the ConfigMap", () => {
		expect(parseEniConf('{"max_pool_size": 5}').config.maxPoolSize).toBe(5);
		expect(DEFAULTS.ipPoolSyncPeriodMs).toBe(120_000);
	});
	test("null means unset", () => {
		expect(parseEniConf({ max_pool_size: null, ip_pool_sync_period: "" }).config.maxPoolSize).toBe(0);
	});
	test("the chart's sample eni_conf parses", () => {
		const { config } = parseEniConf(`{
			"version": "1",
			"max_pool_size": 5,
			"min_pool_size": 0,
			"credential_path": "/var/addon/token-config",
			"vswitches": {"cn-hangzhou-i": ["vsw-aaa", "vsw-bbb"]},
			"eni_tags": {"ack.aliyun.com": "c123"},
			"service_cidr": "172.21.0.0/20",
			"security_group": "sg-123",
			"vswitch_selection_policy": "ordered"
		}`);
		expect(config.vswitches).toEqual({ "cn-hangzhou-i": ["vsw-aaa", "vsw-bbb"] });
		expect(config.securityGroups).toEqual(["sg-123"]);
		expect(config.vswitchPolicy).toBe("most");
	});
});

type Row = { key: string; good: unknown; field: keyof EniConfig; want: unknown; bad: unknown; msg: string };
// Every key: a valid value and what it becomes, and a wrong one with its exact message.
const rows: Row[] = [
	{
		key: "version",
		good: "1",
		field: "version",
		want: "1",
		bad: 1,
		msg: "eni_conf.version: 1 is not a string",
	},
	{
		key: "access_key",
		good: "AK",
		field: "accessKey",
		want: "AK",
		bad: 7,
		msg: "eni_conf.access_key: (redacted) is not a string",
	},
	{
		key: "access_secret",
		good: "SK",
		field: "accessSecret",
		want: "SK",
		bad: [],
		msg: "eni_conf.access_secret: (redacted) is not a string",
	},
	{
		key: "credential_path",
		good: "/var/addon/token-config",
		field: "credentialPath",
		want: "/var/addon/token-config",
		bad: true,
		msg: "eni_conf.credential_path: true is not a string",
	},
	{
		key: "region_id",
		good: "cn-hangzhou",
		field: "regionId",
		want: "cn-hangzhou",
		bad: 3,
		msg: "eni_conf.region_id: 3 is not a string",
	},
	{
		key: "service_cidr",
		good: "172.21.0.0/20,fd00:1::/112",
		field: "serviceCidrs",
		want: ["172.21.0.0/20", "fd00:1::/112"],
		bad: "172.21.0.0/33",
		msg: 'eni_conf.service_cidr: "172.21.0.0/33" has "172.21.0.0/33", which is not a CIDR',
	},
	{
		key: "vswitches",
		good: { "cn-h-i": ["vsw-1", "vsw-1", "vsw-2"] },
		field: "vswitches",
		want: { "cn-h-i": ["vsw-1", "vsw-2"] },
		bad: ["vsw-1"],
		msg: 'eni_conf.vswitches: ["vsw-1"] is not an object of zone → [vSwitch ids] (like {"cn-hangzhou-i": ["vsw-1"]})',
	},
	{
		key: "vswitch_selection_policy",
		good: "most",
		field: "vswitchPolicy",
		want: "most",
		bad: "fastest",
		msg: 'eni_conf.vswitch_selection_policy: "fastest" is not one of random, ordered, most',
	},
	{
		key: "eni_tags",
		good: { team: "a" },
		field: "eniTags",
		want: { team: "a" },
		bad: { team: 1 },
		msg: "eni_conf.eni_tags.team: 1 is not a string",
	},
	{
		key: "eni_tag_filter",
		good: { k: "v" },
		field: "eniTagFilter",
		want: { k: "v" },
		bad: "k=v",
		msg: 'eni_conf.eni_tag_filter: "k=v" is not an object of strings',
	},
	{
		key: "eni_tag_block_list",
		good: [{ key: "k", value: "v" }],
		field: "eniTagBlockList",
		want: [{ key: "k", value: "v" }],
		bad: [{ value: "v" }],
		msg: 'eni_conf.eni_tag_block_list[0]: {"value":"v"} is not {"key": string, "value": string}',
	},
	{
		key: "security_group",
		good: "sg-1",
		field: "securityGroups",
		want: ["sg-1"],
		bad: ["sg-1"],
		msg: 'eni_conf.security_group: ["sg-1"] is not a string',
	},
	{
		key: "security_groups",
		good: ["sg-1", "sg-2"],
		field: "securityGroups",
		want: ["sg-1", "sg-2"],
		bad: "sg-1",
		msg: 'eni_conf.security_groups: "sg-1" is not a list of strings',
	},
	{
		key: "resource_group_id",
		good: "rg-1",
		field: "resourceGroupId",
		want: "rg-1",
		bad: {},
		msg: "eni_conf.resource_group_id: {} is not a string",
	},
	{
		key: "max_pool_size",
		good: 5,
		field: "maxPoolSize",
		want: 5,
		bad: "ten",
		msg: 'eni_conf.max_pool_size: "ten" is not an integer',
	},
	{
		key: "min_pool_size",
		good: 0,
		field: "minPoolSize",
		want: 0,
		bad: 1.5,
		msg: "eni_conf.min_pool_size: 1.5 is not an integer",
	},
	{
		key: "ip_warm_up_size",
		good: 8,
		field: "ipWarmUpSize",
		want: 8,
		bad: "8",
		msg: 'eni_conf.ip_warm_up_size: "8" is not an integer',
	},
	{
		key: "min_eni",
		good: 1,
		field: "minEni",
		want: 1,
		bad: true,
		msg: "eni_conf.min_eni: true is not an integer",
	},
	{
		key: "max_eni",
		good: 2,
		field: "maxEni",
		want: 2,
		bad: "2",
		msg: 'eni_conf.max_eni: "2" is not an integer',
	},
	{
		key: "eni_cap_ratio",
		good: 0.5,
		field: "eniCapRatio",
		want: 0.5,
		bad: "half",
		msg: 'eni_conf.eni_cap_ratio: "half" is not a number',
	},
	{
		key: "eni_cap_shift",
		good: -1,
		field: "eniCapShift",
		want: -1,
		bad: 0.5,
		msg: "eni_conf.eni_cap_shift: 0.5 is not an integer",
	},
	{
		key: "eni_selection_policy",
		good: "least_ips",
		field: "eniSelectionPolicy",
		want: "least_ips",
		bad: "most",
		msg: 'eni_conf.eni_selection_policy: "most" is not one of most_ips, least_ips',
	},
	{
		key: "ip_stack",
		good: "dual",
		field: "ipStack",
		want: "dual",
		bad: "ipv5",
		msg: 'eni_conf.ip_stack: "ipv5" is not one of ipv4, dual',
	},
	{
		key: "enable_eni_trunking",
		good: true,
		field: "enableEniTrunking",
		want: true,
		bad: "true",
		msg: 'eni_conf.enable_eni_trunking: "true" is not a boolean (true or false)',
	},
	{
		key: "enable_erdma",
		good: true,
		field: "enableErdma",
		want: true,
		bad: 1,
		msg: "eni_conf.enable_erdma: 1 is not a boolean (true or false)",
	},
	{
		key: "enable_ip_prefix",
		good: false,
		field: "enableIpPrefix",
		want: false,
		bad: "no",
		msg: 'eni_conf.enable_ip_prefix: "no" is not a boolean (true or false)',
	},
	{
		key: "ipv4_prefix_count",
		good: 0,
		field: "ipv4PrefixCount",
		want: 0,
		bad: "1",
		msg: 'eni_conf.ipv4_prefix_count: "1" is not an integer',
	},
	{
		key: "ipv6_prefix_count",
		good: 0,
		field: "ipv6PrefixCount",
		want: 0,
		bad: false,
		msg: "eni_conf.ipv6_prefix_count: false is not an integer",
	},
	{
		key: "ipam_type",
		good: "crd",
		field: "ipamType",
		want: "crd",
		bad: "central",
		msg: 'eni_conf.ipam_type: "central" is not one of crd',
	},
	{
		key: "custom_stateful_workload_kinds",
		good: ["StatefulSet", "CloneSet"],
		field: "customStatefulWorkloadKinds",
		want: ["statefulset", "cloneset"],
		bad: [""],
		msg: 'eni_conf.custom_stateful_workload_kinds[0]: "" is not a non-empty string',
	},
	{
		key: "idle_ip_reclaim_after",
		good: "1h30m",
		field: "idleIpReclaimAfterMs",
		want: 5_400_000,
		bad: "30 minutes",
		msg: 'eni_conf.idle_ip_reclaim_after: "30 minutes" is not a duration (like "30s", "10m", "1h")',
	},
	{
		key: "idle_ip_reclaim_interval",
		good: "5m",
		field: "idleIpReclaimIntervalMs",
		want: 300_000,
		bad: 300,
		msg: 'eni_conf.idle_ip_reclaim_interval: 300 is not a duration string (like "30s", "10m", "1h")',
	},
	{
		key: "idle_ip_reclaim_batch_size",
		good: 10,
		field: "idleIpReclaimBatchSize",
		want: 10,
		bad: "5",
		msg: 'eni_conf.idle_ip_reclaim_batch_size: "5" is not an integer',
	},
	{
		key: "idle_ip_reclaim_jitter_factor",
		good: "0.2",
		field: "idleIpReclaimJitterFactor",
		want: 0.2,
		bad: "lots",
		msg: 'eni_conf.idle_ip_reclaim_jitter_factor: "lots" is not a number (like "0.1")',
	},
	{
		key: "ip_pool_sync_period",
		good: "30s",
		field: "ipPoolSyncPeriodMs",
		want: 30_000,
		bad: "30",
		msg: 'eni_conf.ip_pool_sync_period: "30" is not a duration (like "30s", "10m", "1h")',
	},
	{
		key: "backoff_override",
		good: { create_eni: { Duration: 2e9, Factor: 2, Steps: 3, InitialDelay: "500ms" } },
		field: "backoffOverride",
		want: { create_eni: { durationMs: 2000, factor: 2, steps: 3, initialDelayMs: 500 } },
		bad: { create_eni: { Durration: 1 } },
		msg: 'eni_conf.backoff_override.create_eni.Durration: 1 is an unknown backoff field (did you mean "Duration"?)',
	},
	{
		key: "rate_limit",
		good: { CreateNetworkInterface: 100 },
		field: "rateLimit",
		want: { CreateNetworkInterface: 100 },
		bad: { CreateNetworkInterface: "fast" },
		msg: 'eni_conf.rate_limit.CreateNetworkInterface: "fast" is not an integer',
	},
	{
		key: "extra_routes",
		good: [{ dst: "100.100.100.200/32" }],
		field: "extraRoutes",
		want: ["100.100.100.200/32"],
		bad: [{ dst: "nope" }],
		msg: 'eni_conf.extra_routes[0].dst: "nope" is not a CIDR',
	},
	{
		key: "disable_device_plugin",
		good: true,
		field: "disableDevicePlugin",
		want: true,
		bad: "yes",
		msg: 'eni_conf.disable_device_plugin: "yes" is not a boolean (true or false)',
	},
	{
		key: "kube_client_qps",
		good: 20.5,
		field: "kubeClientQps",
		want: 20.5,
		bad: "20",
		msg: 'eni_conf.kube_client_qps: "20" is not a number',
	},
	{
		key: "kube_client_burst",
		good: 30,
		field: "kubeClientBurst",
		want: 30,
		bad: 2.5,
		msg: "eni_conf.kube_client_burst: 2.5 is not an integer",
	},
	{
		key: "enable_patch_pod_ips",
		good: false,
		field: "enablePatchPodIps",
		want: false,
		bad: "false",
		msg: 'eni_conf.enable_patch_pod_ips: "false" is not a boolean (true or false)',
	},
	{
		key: "eniip_virtual_type",
		good: "ipvlan",
		field: "datapath",
		want: "datapathv2",
		bad: "macvlan",
		msg: 'eni_conf.eniip_virtual_type: "macvlan" is not one of Veth, IPVlan',
	},
];

describe("every key", () => {
	test("the table covers every known key", () => {
		expect([...new Set(rows.map((r) => r.key))].sort()).toEqual([...KNOWN_KEYS].sort());
	});
	for (const r of rows) {
		test(`${r.key}: valid`, () => {
			const extra =
				r.key === "access_key"
					? { access_secret: "s" }
					: r.key === "access_secret"
						? { access_key: "a" }
						: {};
			expect<unknown>(parseEniConf({ [r.key]: r.good, ...extra }).config[r.field]).toEqual(r.want);
		});
		test(`${r.key}: wrong type or value`, () => {
			const extra =
				r.key === "access_key"
					? { access_secret: "s" }
					: r.key === "access_secret"
						? { access_key: "a" }
						: {};
			expect(errorOf({ [r.key]: r.bad, ...extra })).toBe(r.msg);
		});
	}
});

describe("ranges and special values", () => {
	const cases: [string, object, string][] = [
		["negative pool size", { max_pool_size: -1 }, "eni_conf.max_pool_size: -1 must be at least 0"],
		["negative min_eni", { min_eni: -2 }, "eni_conf.min_eni: -2 must be at least 0"],
		["cap ratio 0", { eni_cap_ratio: 0 }, "eni_conf.eni_cap_ratio: 0 must be greater than 0"],
		["ipv6 prefix count 2", { ipv6_prefix_count: 2 }, "eni_conf.ipv6_prefix_count: 2 must be at most 1"],
		[
			"reclaim batch 0",
			{ idle_ip_reclaim_batch_size: 0 },
			"eni_conf.idle_ip_reclaim_batch_size: 0 must be at least 1",
		],
		[
			"jitter above 1",
			{ idle_ip_reclaim_jitter_factor: "1.5" },
			"eni_conf.idle_ip_reclaim_jitter_factor: 1.5 must be at most 1",
		],
		[
			"zero duration",
			{ idle_ip_reclaim_after: "0s" },
			'eni_conf.idle_ip_reclaim_after: "0s" must be a positive duration',
		],
		[
			"negative duration",
			{ ip_pool_sync_period: "-1m" },
			'eni_conf.ip_pool_sync_period: "-1m" must be a positive duration',
		],
		["qps 0", { kube_client_qps: 0 }, "eni_conf.kube_client_qps: 0 must be greater than 0"],
		[
			"rate limit 0",
			{ rate_limit: { AttachNetworkInterface: 0 } },
			"eni_conf.rate_limit.AttachNetworkInterface: 0 must be at least 1",
		],
		[
			"ip_stack ipv6, rejected as Terway's daemon does",
			{ ip_stack: "ipv6" },
			'eni_conf.ip_stack: "ipv6" is not supported by the daemon (Terway\'s Config.Validate rejects it too); use ipv4 or dual',
		],
		[
			"two IPv4 service CIDRs",
			{ service_cidr: "10.0.0.0/16,10.1.0.0/16" },
			'eni_conf.service_cidr: "10.0.0.0/16,10.1.0.0/16" has more than one IPv4 CIDR (expected "v4[,v6]")',
		],
		[
			"11 security groups",
			{ security_group: "sg-0", security_groups: Array.from({ length: 10 }, (_, i) => `sg-${i + 1}`) },
			'eni_conf.security_groups: ["sg-0","sg-1","sg-2","sg-3","sg-4","sg-5","sg-6","sg-7",... has 11 security groups; at most 10 are allowed',
		],
		[
			"vswitch id not a string",
			{ vswitches: { z: ["vsw-1", 2] } },
			"eni_conf.vswitches.z[1]: 2 is not a vSwitch id",
		],
		[
			"zone not a list",
			{ vswitches: { z: "vsw-1" } },
			'eni_conf.vswitches.z: "vsw-1" is not a list of vSwitch ids',
		],
		[
			"backoff steps",
			{ backoff_override: { x: { Steps: -1 } } },
			"eni_conf.backoff_override.x.Steps: -1 must be at least 0",
		],
		[
			"backoff factor",
			{ backoff_override: { x: { Factor: "2" } } },
			'eni_conf.backoff_override.x.Factor: "2" is not a non-negative number',
		],
		[
			"backoff duration",
			{ backoff_override: { x: { Cap: "soon" } } },
			'eni_conf.backoff_override.x.Cap: "soon" is not a duration (nanoseconds or like "1s")',
		],
		[
			"extra route without dst",
			{ extra_routes: [{ to: "1.1.1.1/32" }] },
			'eni_conf.extra_routes[0]: {"to":"1.1.1.1/32"} is not {"dst": CIDR}',
		],
	];
	for (const [name, input, msg] of cases) test(name, () => expect(errorOf(input)).toBe(msg));

	test("security_group and security_groups merge without duplicates", () => {
		expect(
			parseEniConf({ security_group: "sg-1", security_groups: ["sg-1", "sg-2"] }).config.securityGroups,
		).toEqual(["sg-1", "sg-2"]);
	});
	test("eniip_virtual_type is case-insensitive and canonicalised", () => {
		const c = parseEniConf({ eniip_virtual_type: "IPVLAN" }).config;
		expect([c.eniipVirtualType, c.datapath]).toEqual(["IPVlan", "datapathv2"]);
		expect(parseEniConf({ eniip_virtual_type: "veth" }).config.datapath).toBe("veth");
	});
	test("vswitch_selection_policy: ordered maps to most-available, as Terway does", () => {
		expect(parseEniConf({ vswitch_selection_policy: "ordered" }).config.vswitchPolicy).toBe("most");
		expect(parseEniConf({ vswitch_selection_policy: "random" }).config.vswitchPolicy).toBe("random");
	});
	test("ipam_type preferCRD is read as crd with a warning", () => {
		const p = parseEniConf({ ipam_type: "preferCRD" });
		expect(p.config.ipamType).toBe("crd");
		expect(p.warnings).toEqual(['eni_conf.ipam_type: "preferCRD" is treated as "crd"']);
	});
	test("jitter factor also accepted as a number", () => {
		expect(parseEniConf({ idle_ip_reclaim_jitter_factor: 0.3 }).config.idleIpReclaimJitterFactor).toBe(0.3);
	});
	test("secrets are never echoed", () => {
		const m = errorOf({ access_key: 12345678, access_secret: { s: "TOP-SECRET" } });
		expect(m).not.toContain("12345678");
		expect(m).not.toContain("TOP-SECRET");
	});
});

describe("cross-field checks", () => {
	const cases: [string, object, string][] = [
		[
			"min above max",
			{ max_pool_size: 5, min_pool_size: 6 },
			"eni_conf.min_pool_size: 6 is greater than max_pool_size, 5",
		],
		[
			"min above the default max",
			{ min_pool_size: 2 },
			"eni_conf.min_pool_size: 2 is greater than max_pool_size, 0 (the default)",
		],
		["min_eni above max_eni", { min_eni: 3, max_eni: 2 }, "eni_conf.min_eni: 3 is greater than max_eni (2)"],
		[
			"prefix mode without crd",
			{ enable_ip_prefix: true },
			'eni_conf.enable_ip_prefix: true needs "ipam_type": "crd" (prefix mode is centralized-IPAM only)',
		],
		["access_key alone", { access_key: "AK" }, "eni_conf.access_secret: is missing (access_key is set)"],
		[
			"access_secret alone",
			{ access_secret: "SK" },
			"eni_conf.access_key: is missing (access_secret is set)",
		],
	];
	for (const [name, input, msg] of cases) test(name, () => expect(errorOf(input)).toBe(msg));
	test("min == max is fine; min_eni with max_eni 0 (no cap) is fine", () => {
		expect(parseEniConf({ max_pool_size: 5, min_pool_size: 5 }).config.minPoolSize).toBe(5);
		expect(parseEniConf({ min_eni: 3 }).config.minEni).toBe(3);
	});
	test("an invalid pool size does not also produce a min>max complaint", () => {
		expect(errorOf({ max_pool_size: "x", min_pool_size: 3 })).toBe(
			'eni_conf.max_pool_size: "x" is not an integer',
		);
	});
	test("warnings for statically odd but legal combinations", () => {
		expect(parseEniConf({ ipv4_prefix_count: 4 }).warnings).toEqual([
			'eni_conf.ipv4_prefix_count: prefix counts are ignored without "enable_ip_prefix": true',
		]);
		expect(parseEniConf({ ip_stack: "dual", service_cidr: "10.96.0.0/12" }).warnings).toEqual([
			"eni_conf.service_cidr: dual stack with only an IPv4 service CIDR",
		]);
		expect(
			parseEniConf({ ipam_type: "crd", enable_ip_prefix: true, ip_stack: "dual", ipv6_prefix_count: 1 })
				.warnings,
		).toEqual(["eni_conf.ipv6_prefix_count: ignored in dual stack (one IPv6 prefix per ENI)"]);
		expect(parseEniConf({ idle_ip_reclaim_after: "1m", idle_ip_reclaim_interval: "5m" }).warnings).toEqual([
			"eni_conf.idle_ip_reclaim_after: 1m is shorter than idle_ip_reclaim_interval (5m)",
		]);
	});
});

describe("unknown and legacy keys", () => {
	const cases: [string, string][] = [
		["max_pool_sise", 'eni_conf.max_pool_sise: unknown key (did you mean "max_pool_size"?)'],
		["Max_Pool_Size", 'eni_conf.Max_Pool_Size: unknown key (did you mean "max_pool_size"?)'],
		[
			"vswitch-selection-policy",
			'eni_conf.vswitch-selection-policy: unknown key (did you mean "vswitch_selection_policy"?)',
		],
		["securitygroups", 'eni_conf.securitygroups: unknown key (did you mean "security_groups"?)'],
		[
			"idle_ip_reclaim_afer",
			'eni_conf.idle_ip_reclaim_afer: unknown key (did you mean "idle_ip_reclaim_after"?)',
		],
		["vswitch", 'eni_conf.vswitch: unknown key (did you mean "vswitches"?)'],
		["flux_capacitor", "eni_conf.flux_capacitor: unknown key"],
		["enable_eip_poll", 'eni_conf.enable_eip_poll: unknown key (did you mean "enable_eip_pool"?)'],
		[
			"disable_network_policy",
			'eni_conf.disable_network_policy: is a key of the eni-config ConfigMap ("disable_network_policy": "true"), not of eni_conf',
		],
		[
			"enable_network_policy",
			'eni_conf.enable_network_policy: is not a Terway key; network policy is turned off with the ConfigMap key "disable_network_policy"',
		],
	];
	for (const [key, msg] of cases) test(key, () => expect(errorOf({ [key]: 1 })).toBe(msg));

	test("ignored legacy keys warn, whatever their value", () => {
		for (const key of IGNORED_LEGACY_KEYS) {
			expect(parseEniConf({ [key]: { anything: true } }).warnings).toEqual([
				`eni_conf.${key}: no longer used by Terway; ignored`,
			]);
		}
	});
	test("all problems are reported at once, each with its key", () => {
		let err: EniConfigError | undefined;
		try {
			parseEniConf({ max_pool_size: "ten", vswitch_selection_policy: "fastest", max_pool_sise: 1 });
		} catch (e) {
			err = e as EniConfigError;
		}
		expect(err?.issues.map((i) => i.path)).toEqual([
			"eni_conf.max_pool_sise",
			"eni_conf.max_pool_size",
			"eni_conf.vswitch_selection_policy",
		]);
		expect(err?.message).toBe(
			'eni_conf.max_pool_sise: unknown key (did you mean "max_pool_size"?); eni_conf.max_pool_size: "ten" is not an integer; eni_conf.vswitch_selection_policy: "fastest" is not one of random, ordered, most',
		);
	});
	test("not an object / not JSON", () => {
		expect(errorOf("[1]")).toBe("eni_conf: [1] is not a JSON object");
		expect(errorOf("{")).toStartWith("eni_conf: is not valid JSON: ");
		expect(errorOf(null)).toBe("eni_conf: null is not a JSON object");
	});
});

describe("node overlay (dynamic config, RFC 7396)", () => {
	const base = {
		max_pool_size: 5,
		min_pool_size: 1,
		vswitches: { z1: ["vsw-1"], z2: ["vsw-2"] },
		eni_tags: { a: "1" },
	};
	test("overlay keys win; objects merge; null deletes", () => {
		const { config } = resolveEniConf(
			JSON.stringify(base),
			'{"max_pool_size": 20, "vswitches": {"z1": ["vsw-9"], "z2": null}, "eni_tags": null}',
		);
		expect(config.maxPoolSize).toBe(20);
		expect(config.minPoolSize).toBe(1);
		expect(config.vswitches).toEqual({ z1: ["vsw-9"] });
		expect(config.eniTags).toEqual({});
	});
	test("no or empty overlay: the base", () => {
		expect(resolveEniConf(base).config.maxPoolSize).toBe(5);
		expect(resolveEniConf(base, "").config.maxPoolSize).toBe(5);
		expect(resolveEniConf(base, {}).config.maxPoolSize).toBe(5);
	});
	test("errors from the overlay say so", () => {
		expect(() =>
			resolveEniConf(base, { max_pool_size: "lots" }, { overlayName: "terway-config-big" }),
		).toThrow('eni_conf.max_pool_size (from node config terway-config-big): "lots" is not an integer');
		expect(() => resolveEniConf(base, { max_pool_size: 0 }, { overlayName: "small" })).toThrow(
			"eni_conf.min_pool_size: 1 is greater than max_pool_size, 0 (from node config small)",
		);
		expect(() => resolveEniConf(base, "{oops", { overlayName: "x" })).toThrow(
			"eni_conf (node config x): is not valid JSON",
		);
	});
	test("mergePatch follows RFC 7396", () => {
		expect(mergePatch({ a: "b", c: { d: "e", f: "g" } }, { a: "z", c: { f: null } })).toEqual({
			a: "z",
			c: { d: "e" },
		});
		expect(mergePatch({ a: [1, 2] }, { a: [3] })).toEqual({ a: [3] });
		expect(mergePatch({ a: { b: 1 } }, { a: 1 })).toEqual({ a: 1 });
		expect(mergePatch({ a: 1 }, { b: { c: null } })).toEqual({ a: 1, b: {} });
		expect(mergePatch({ a: 1 }, [1])).toEqual({ a: 1 });
	});
});

describe("daemon config file", () => {
	test("minimal file: defaults", () => {
		const { config } = parseDaemonConfig({ eni_conf: {} });
		expect(config.socket).toBe("/var/run/terway/terwayd.sock");
		expect(config.stateDir).toBe("/var/lib/terway");
		expect(config.configMap).toEqual({ namespace: "kube-system", name: "eni-config" });
		expect(config.eniConf.maxPoolSize).toBe(0);
		expect(config.eniConfRaw).toEqual({});
	});
	test("every field", () => {
		const { config } = parseDaemonConfig({
			eni_conf: '{"max_pool_size": 3}',
			node_name: "n1",
			kubeconfig: "/etc/k.conf",
			config_map: "terway/my-config",
			socket: "/run/t.sock",
			state_dir: "/tmp/t",
			bpf_pin_root: "/sys/fs/bpf/tw-node-1",
			region: "cn-hangzhou",
			zone: "cn-hangzhou-i",
			instance_id: "i-1",
			instance_type: "ecs.g7.large",
		});
		expect(config).toEqual({
			eniConf: parseEniConf({ max_pool_size: 3 }).config,
			eniConfRaw: { max_pool_size: 3 },
			nodeName: "n1",
			kubeconfig: "/etc/k.conf",
			socket: "/run/t.sock",
			stateDir: "/tmp/t",
			bpfPinRoot: "/sys/fs/bpf/tw-node-1",
			region: "cn-hangzhou",
			zone: "cn-hangzhou-i",
			instanceId: "i-1",
			instanceType: "ecs.g7.large",
			configMap: { namespace: "terway", name: "my-config" },
		});
	});
	const bad: [string, unknown, string][] = [
		["missing eni_conf", {}, "config.eni_conf: is missing (an object, may be {})"],
		["unknown key", { eni_conf: {}, sockett: "/x" }, 'config.sockett: unknown key (did you mean "socket"?)'],
		[
			"relative socket",
			{ eni_conf: {}, socket: "t.sock" },
			'config.socket: "t.sock" is not an absolute path',
		],
		[
			"bad config_map",
			{ eni_conf: {}, config_map: "eni-config" },
			'config.config_map: "eni-config" is not "namespace/name"',
		],
		[
			"relative bpf_pin_root",
			{ eni_conf: {}, bpf_pin_root: "bpf/terway" },
			'config.bpf_pin_root: "bpf/terway" is not an absolute path',
		],
		["empty node_name", { eni_conf: {}, node_name: "" }, 'config.node_name: "" is empty'],
		[
			"eni_conf problems nest",
			{ eni_conf: { max_pool_size: "x" } },
			'config.eni_conf.max_pool_size: "x" is not an integer',
		],
		["eni_conf not an object", { eni_conf: 5 }, "config.eni_conf: 5 is not a JSON object"],
		["not JSON", "nope", "config: is not valid JSON: "],
		["not an object", [], "config: [] is not a JSON object"],
	];
	for (const [name, input, msg] of bad) {
		test(name, () => expect(() => parseDaemonConfig(input)).toThrow(msg));
	}
	test("warnings from eni_conf pass through", () => {
		expect(parseDaemonConfig({ eni_conf: { prefix: "x" } }).warnings).toEqual([
			"config.eni_conf.prefix: no longer used by Terway; ignored",
		]);
	});
});
