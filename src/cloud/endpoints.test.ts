import { describe, expect, test } from "bun:test";
import {
	clientScheme,
	DEFAULT_METADATA_URL,
	EndpointConfigError,
	hostPort,
	metadataBaseUrl,
	resolveEndpoints,
} from "./endpoints.ts";

describe("hostPort (ECS_ENDPOINT/VPC_ENDPOINT like Terway)", () => {
	const cases: [string, string][] = [
		["ecs-vpc.cn-hangzhou.aliyuncs.com", "ecs-vpc.cn-hangzhou.aliyuncs.com"],
		["https://ecs.cn-hangzhou.aliyuncs.com", "ecs.cn-hangzhou.aliyuncs.com"],
		["http://127.0.0.1:8080/", "127.0.0.1:8080"],
		["http://127.0.0.1:8080/some/path?x=1#f", "127.0.0.1:8080"],
		["127.0.0.1:8080/path", "127.0.0.1:8080"],
		["  HTTP://Host.Example:443  ", "host.example:443"],
		["http://user:pw@host:1", "host:1"],
		["http://[::1]:9000/", "[::1]:9000"],
		["100.100.0.10", "100.100.0.10"],
	];
	for (const [raw, want] of cases) test(JSON.stringify(raw), () => expect(hostPort(raw)).toBe(want));
	for (const bad of ["", "http://", "host:99999", "host:port", "a b"]) {
		test(`rejects ${JSON.stringify(bad)}`, () =>
			expect(() => hostPort(bad, "ECS_ENDPOINT")).toThrow(EndpointConfigError));
	}
});

describe("resolveEndpoints", () => {
	test("region defaults are VPC-internal, HTTPS", () => {
		expect(resolveEndpoints("cn-hangzhou", {})).toEqual({
			regionId: "cn-hangzhou",
			ecs: "ecs-vpc.cn-hangzhou.aliyuncs.com",
			vpc: "vpc-vpc.cn-hangzhou.aliyuncs.com",
			protocol: "HTTPS",
		});
	});
	test("public endpoint type", () => {
		const e = resolveEndpoints("cn-beijing", { ALICLOUD_ENDPOINT_TYPE: "public" });
		expect([e.ecs, e.vpc]).toEqual(["ecs.cn-beijing.aliyuncs.com", "vpc.cn-beijing.aliyuncs.com"]);
	});
	test("env overrides: host:port, scheme from ALICLOUD_CLIENT_SCHEME only", () => {
		expect(
			resolveEndpoints("cn-hangzhou", {
				ECS_ENDPOINT: "https://127.0.0.1:4000/",
				VPC_ENDPOINT: "127.0.0.1:4001",
				ALICLOUD_CLIENT_SCHEME: "http",
			}),
		).toEqual({ regionId: "cn-hangzhou", ecs: "127.0.0.1:4000", vpc: "127.0.0.1:4001", protocol: "HTTP" });
	});
	test("bad scheme / endpoint type name the variable", () => {
		expect(() => clientScheme({ ALICLOUD_CLIENT_SCHEME: "ftp" })).toThrow(/ALICLOUD_CLIENT_SCHEME/);
		expect(() => resolveEndpoints("cn-hangzhou", { ALICLOUD_ENDPOINT_TYPE: "intranet" })).toThrow(
			/ALICLOUD_ENDPOINT_TYPE/,
		);
		expect(() => resolveEndpoints("cn-hangzhou", { ECS_ENDPOINT: "http://" })).toThrow(/ECS_ENDPOINT/);
	});
});

describe("metadataBaseUrl (TERWAY_METADATA_URL)", () => {
	test("default is the real service", () => {
		expect(metadataBaseUrl({})).toBe(DEFAULT_METADATA_URL);
	});
	test("origin, or the meta-data URL form, or with a prefix", () => {
		expect(metadataBaseUrl({ TERWAY_METADATA_URL: "http://127.0.0.1:5000" })).toBe("http://127.0.0.1:5000");
		expect(metadataBaseUrl({ TERWAY_METADATA_URL: "http://127.0.0.1:5000/latest/meta-data/" })).toBe(
			"http://127.0.0.1:5000",
		);
		expect(metadataBaseUrl({ TERWAY_METADATA_URL: "http://h/proxy/latest/" })).toBe("http://h/proxy");
	});
	test("rejects non-http URLs", () => {
		expect(() => metadataBaseUrl({ TERWAY_METADATA_URL: "ftp://x" })).toThrow(/TERWAY_METADATA_URL/);
		expect(() => metadataBaseUrl({ TERWAY_METADATA_URL: "::" })).toThrow(/TERWAY_METADATA_URL/);
	});
});
