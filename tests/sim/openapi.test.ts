/**
 * Contract tests for the sim's ECS/VPC OpenAPI, driven only through the real Alibaba Cloud SDKs
 * (@alicloud/ecs20140526, @alicloud/vpc20160428, @alicloud/credentials) over loopback HTTP, plus
 * hand-built legacy HMAC-SHA1 requests per the documented algorithm (cloud-sim.md §2.2).
 * No root needed; the fast latency profile keeps the whole file quick.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { createHmac, randomUUID } from "node:crypto";
import CredentialMod, { Config as CredentialConfig } from "@alicloud/credentials";
import EcsMod, * as $Ecs from "@alicloud/ecs20140526";
import * as $OpenApi from "@alicloud/openapi-core";
import VpcMod, * as $Vpc from "@alicloud/vpc20160428";
import * as $dara from "@darabonba/typescript";
import type { Scenario } from "../../src/sim/contracts.ts";
import { FaultEngine } from "../../src/sim/faults.ts";
import { createOpenApiHandler, type OpenApiHandler } from "../../src/sim/openapi/index.ts";
import { RequestLog } from "../../src/sim/request-log.ts";
import { defaultScenario, validateScenario } from "../../src/sim/world/scenario.ts";
import { type Clock, createWorld, type World } from "../../src/sim/world/world.ts";

// Under Bun a default import of these CJS packages may be the class or its module: take either.
const EcsClient = (EcsMod as unknown as { default?: typeof EcsMod }).default ?? EcsMod;
const VpcClient = (VpcMod as unknown as { default?: typeof VpcMod }).default ?? VpcMod;
const Credential = (CredentialMod as unknown as { default?: typeof CredentialMod }).default ?? CredentialMod;

const REGION = "cn-hangzhou";
const base = defaultScenario();
const AK = base.accessKeys[0]!;
const POD_VSW = "vsw-bp1simpod000000000001";
const POD_VSW_J = "vsw-bp1simpod000000000002";
const SG = base.securityGroups[0]!;

type SdkError = Error & {
	code?: string;
	statusCode?: number;
	data?: Record<string, unknown>;
	retryAfter?: number;
};

/** A clock whose time can jump forward (STS expiry) while timers stay real. */
function skewClock(): Clock & { skew: number } {
	const c = {
		skew: 0,
		now: () => Date.now() + c.skew,
		setTimeout: (fn: () => void, ms: number) => setTimeout(fn, ms),
		clearTimeout: (h: unknown) => clearTimeout(h as ReturnType<typeof setTimeout>),
	};
	return c;
}

type Sim = {
	world: World;
	faults: FaultEngine;
	log: RequestLog;
	handler: OpenApiHandler;
	port: number;
	clock: ReturnType<typeof skewClock>;
	stop(): void;
};

const running: Sim[] = [];
afterEach(() => {
	for (const s of running.splice(0)) s.stop();
});

function sim(mutate?: (s: Scenario) => void): Sim {
	const sc = structuredClone(base);
	mutate?.(sc);
	const faults = new FaultEngine(7);
	const log = new RequestLog();
	const clock = skewClock();
	const world = createWorld(validateScenario(sc), { seed: 42, faults, log, clock });
	const handler = createOpenApiHandler(world, { faults, log });
	const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: (req) => handler(req) });
	const s: Sim = {
		world,
		faults,
		log,
		handler,
		port: server.port!,
		clock,
		stop() {
			handler.close();
			world.close();
			server.stop(true);
		},
	};
	running.push(s);
	return s;
}

type ClientOpts = {
	accessKeyId?: string;
	accessKeySecret?: string;
	securityToken?: string;
	signatureAlgorithm?: string;
	readTimeout?: number;
};

function config(s: Sim, o: ClientOpts = {}) {
	return new $OpenApi.$OpenApiUtil.Config({
		accessKeyId: o.accessKeyId ?? AK.id,
		accessKeySecret: o.accessKeySecret ?? AK.secret,
		...(o.securityToken ? { securityToken: o.securityToken, type: "sts" } : {}),
		...(o.signatureAlgorithm ? { signatureAlgorithm: o.signatureAlgorithm } : {}),
		endpoint: `127.0.0.1:${s.port}`,
		protocol: "HTTP",
		regionId: REGION,
		readTimeout: o.readTimeout ?? 5000,
		connectTimeout: 5000,
	});
}
const ecs = (s: Sim, o?: ClientOpts) => new EcsClient(config(s, o));
const vpc = (s: Sim, o?: ClientOpts) => new VpcClient(config(s, o));

async function sdkError(p: Promise<unknown>): Promise<SdkError> {
	try {
		await p;
	} catch (e) {
		return e as SdkError;
	}
	throw new Error("expected the call to fail");
}

async function expectCode(p: Promise<unknown>, code: string, status: number): Promise<SdkError> {
	const e = await sdkError(p);
	expect({ code: e.code, status: e.statusCode }).toEqual({ code, status });
	expect(Object.keys(e.data ?? {}).sort()).toEqual(["Code", "HostId", "Message", "Recommend", "RequestId"]);
	return e;
}

async function create(c: InstanceType<typeof EcsClient>, extra: Record<string, unknown> = {}) {
	const r = await c.createNetworkInterface(
		new $Ecs.CreateNetworkInterfaceRequest({
			regionId: REGION,
			vSwitchId: POD_VSW,
			securityGroupIds: [SG],
			instanceType: "Secondary",
			description: "interface create by terway",
			tag: [{ key: "creator", value: "terway" }],
			...extra,
		}),
	);
	return r.body!;
}

async function describeOne(c: InstanceType<typeof EcsClient>, eniId: string) {
	const r = await c.describeNetworkInterfaces(
		new $Ecs.DescribeNetworkInterfacesRequest({
			regionId: REGION,
			networkInterfaceId: [eniId],
			maxResults: 500,
		}),
	);
	return r.body!.networkInterfaceSets?.networkInterfaceSet?.[0];
}

/** Poll Describe until the ENI reaches `want` (or is absent when want is "absent"); returns statuses seen. */
async function pollStatus(c: InstanceType<typeof EcsClient>, eniId: string, want: string): Promise<string[]> {
	const seen: string[] = [];
	const deadline = Date.now() + 3000;
	while (Date.now() < deadline) {
		const st = (await describeOne(c, eniId))?.status ?? "absent";
		if (seen.at(-1) !== st) seen.push(st);
		if (st === want) return seen;
		await Bun.sleep(5);
	}
	throw new Error(`ENI ${eniId} never reached ${want}; saw ${seen.join(" -> ")}`);
}

const node = (s: Sim, i = 0) => s.world.instances()[i]!;

async function attached(
	s: Sim,
	c: InstanceType<typeof EcsClient>,
	extra: Record<string, unknown> = {},
	inst = 0,
) {
	const e = await create(c, extra);
	await c.attachNetworkInterface(
		new $Ecs.AttachNetworkInterfaceRequest({
			regionId: REGION,
			networkInterfaceId: e.networkInterfaceId,
			instanceId: node(s, inst).instanceId,
		}),
	);
	await pollStatus(c, e.networkInterfaceId!, "InUse");
	return e;
}

describe("happy paths through the real SDKs", () => {
	test("DescribeInstanceTypes lists the catalogue with Terway's fields, filter by InstanceTypes", async () => {
		const s = sim();
		const c = ecs(s);
		const all = await c.describeInstanceTypes(new $Ecs.DescribeInstanceTypesRequest({ maxResults: 100 }));
		expect(all.body!.instanceTypes!.instanceType!.map((t) => t.instanceTypeId)).toEqual([
			"ecs.sim.tiny",
			"ecs.g7.large",
			"ecs.sim.big",
		]);
		const big = await c.describeInstanceTypes(
			new $Ecs.DescribeInstanceTypesRequest({ instanceTypes: ["ecs.sim.big"] }),
		);
		const t = big.body!.instanceTypes!.instanceType![0]!;
		expect({
			id: t.instanceTypeId,
			eni: t.eniQuantity,
			total: t.eniTotalQuantity,
			ips: t.eniPrivateIpAddressQuantity,
			ipv6: t.eniIpv6AddressQuantity,
			trunk: t.eniTrunkSupported,
			eri: t.eriQuantity,
			cards: t.networkCards?.networkCardInfo?.map((n) => n.networkCardIndex),
		}).toEqual({ id: "ecs.sim.big", eni: 8, total: 64, ips: 20, ipv6: 20, trunk: true, eri: 0, cards: [0] });
		expect(big.body!.nextToken).toBe("");
	});

	test("DescribeVSwitches (VPC client) derives AvailableIpAddressCount from the allocator", async () => {
		const s = sim();
		const r = await vpc(s).describeVSwitches(
			new $Vpc.DescribeVSwitchesRequest({ regionId: REGION, vSwitchId: POD_VSW }),
		);
		const v = r.body!.vSwitches!.vSwitch!;
		expect(v.length).toBe(1);
		expect({
			id: v[0]!.vSwitchId,
			zone: v[0]!.zoneId,
			cidr: v[0]!.cidrBlock,
			v6: v[0]!.ipv6CidrBlock,
			avail: v[0]!.availableIpAddressCount,
		}).toEqual({
			id: POD_VSW,
			zone: "cn-hangzhou-i",
			cidr: "198.18.16.0/20",
			v6: "fd00:198:18:1::/64",
			avail: 4096 - 4,
		});
		// node vSwitch: 2 primaries in use
		const n = await vpc(s).describeVSwitches(
			new $Vpc.DescribeVSwitchesRequest({ regionId: REGION, vSwitchId: "vsw-bp1simnode00000000001" }),
		);
		expect(n.body!.vSwitches!.vSwitch![0]!.availableIpAddressCount).toBe(256 - 4 - 2);
		const unknown = await vpc(s).describeVSwitches(
			new $Vpc.DescribeVSwitchesRequest({ regionId: REGION, vSwitchId: "vsw-nope" }),
		);
		expect(unknown.body!.vSwitches!.vSwitch).toEqual([]);
		const byZone = await ecs(s).describeVSwitches(
			new $Ecs.DescribeVSwitchesRequest({ regionId: REGION, zoneId: "cn-hangzhou-j" }),
		);
		expect(byZone.body!.vSwitches!.vSwitch!.map((x) => x.vSwitchId)).toEqual([POD_VSW_J]);
	});

	test("primary ENIs: Type Primary, DeviceIndex 0, InUse, per instance", async () => {
		const s = sim();
		const r = await ecs(s).describeNetworkInterfaces(
			new $Ecs.DescribeNetworkInterfacesRequest({
				regionId: REGION,
				instanceId: node(s).instanceId,
				maxResults: 500,
			}),
		);
		const set = r.body!.networkInterfaceSets!.networkInterfaceSet!;
		expect(set.map((e) => [e.type, e.status, e.attachment?.deviceIndex, e.instanceId])).toEqual([
			["Primary", "InUse", 0, node(s).instanceId],
		]);
		expect(set[0]!.macAddress).toMatch(/^00:16:3e(:[0-9a-f]{2}){3}$/);
		expect(set[0]!.privateIpAddress!.startsWith("198.18.0.")).toBe(true);
	});

	test("ENI lifecycle: Create -> Attach (Attaching -> InUse) -> Assign/Unassign v4+v6 -> Detach -> Delete (absent)", async () => {
		const s = sim();
		const c = ecs(s);
		const e = await create(c, { secondaryPrivateIpAddressCount: 2, ipv6AddressCount: 1 });
		expect(e.networkInterfaceId).toMatch(/^eni-bp1[a-z0-9]{17}$/);
		expect(e.status).toBe("Available");
		expect(e.type).toBe("Secondary");
		expect(e.privateIpSets!.privateIpSet!.map((p) => p.primary)).toEqual([true, false, false]);
		expect(e.privateIpSets!.privateIpSet![0]!.privateIpAddress).toBe(e.privateIpAddress!);
		expect(e.ipv6Sets!.ipv6Set!.length).toBe(1);
		expect(e.ipv6Sets!.ipv6Set![0]!.ipv6Address!.startsWith("fd00:198:18:1:")).toBe(true);
		expect(e.tags!.tag).toEqual([{ tagKey: "creator", tagValue: "terway" } as never]);
		expect(e.securityGroupIds!.securityGroupId).toEqual([SG]);
		expect(e.vSwitchId).toBe(POD_VSW);
		expect(e.zoneId).toBe("cn-hangzhou-i");
		const id = e.networkInterfaceId!;
		const inst = node(s).instanceId;

		await c.attachNetworkInterface(
			new $Ecs.AttachNetworkInterfaceRequest({ regionId: REGION, networkInterfaceId: id, instanceId: inst }),
		);
		expect(await pollStatus(c, id, "InUse")).toEqual(["Attaching", "InUse"]);
		const a = await c.describeNetworkInterfaceAttribute(
			new $Ecs.DescribeNetworkInterfaceAttributeRequest({
				regionId: REGION,
				networkInterfaceId: id,
				attribute: "basic",
			}),
		);
		expect({
			status: a.body!.status,
			inst: a.body!.instanceId,
			att: a.body!.attachment?.instanceId,
			dev: a.body!.attachment?.deviceIndex,
			vpc: a.body!.vpcId,
			mac: a.body!.macAddress,
		}).toEqual({ status: "InUse", inst, att: inst, dev: 1, vpc: base.vpc.id, mac: e.macAddress });

		const as4 = await c.assignPrivateIpAddresses(
			new $Ecs.AssignPrivateIpAddressesRequest({
				regionId: REGION,
				networkInterfaceId: id,
				secondaryPrivateIpAddressCount: 2,
			}),
		);
		const new4 = as4.body!.assignedPrivateIpAddressesSet!.privateIpSet!.privateIpAddress!;
		expect(new4.length).toBe(2);
		const as6 = await c.assignIpv6Addresses(
			new $Ecs.AssignIpv6AddressesRequest({ regionId: REGION, networkInterfaceId: id, ipv6AddressCount: 2 }),
		);
		const new6 = as6.body!.ipv6Sets!.ipv6Address!;
		expect(new6.length).toBe(2);
		let d = (await describeOne(c, id))!;
		expect(d.privateIpSets!.privateIpSet!.length).toBe(5);
		expect(d.ipv6Sets!.ipv6Set!.map((x) => x.ipv6Address)).toEqual([
			e.ipv6Sets!.ipv6Set![0]!.ipv6Address!,
			...new6,
		]);

		await c.unassignPrivateIpAddresses(
			new $Ecs.UnassignPrivateIpAddressesRequest({
				regionId: REGION,
				networkInterfaceId: id,
				privateIpAddress: new4,
			}),
		);
		await c.unassignIpv6Addresses(
			new $Ecs.UnassignIpv6AddressesRequest({ regionId: REGION, networkInterfaceId: id, ipv6Address: new6 }),
		);
		d = (await describeOne(c, id))!;
		expect(d.privateIpSets!.privateIpSet!.map((p) => p.privateIpAddress)).toEqual(
			e.privateIpSets!.privateIpSet!.map((p) => p.privateIpAddress),
		);
		expect(d.ipv6Sets!.ipv6Set!.length).toBe(1);

		await c.detachNetworkInterface(
			new $Ecs.DetachNetworkInterfaceRequest({ regionId: REGION, networkInterfaceId: id, instanceId: inst }),
		);
		expect(await pollStatus(c, id, "Available")).toEqual(["Detaching", "Available"]);
		d = (await describeOne(c, id))!;
		expect([d.instanceId, d.attachment]).toEqual(["", undefined as never]);

		await c.deleteNetworkInterface(
			new $Ecs.DeleteNetworkInterfaceRequest({ regionId: REGION, networkInterfaceId: id }),
		);
		expect(await pollStatus(c, id, "absent")).toEqual(["Deleting", "absent"]);
		// gone: Describe gives an empty set, Attribute an error; every address went back to the vSwitch
		await expectCode(
			c.describeNetworkInterfaceAttribute(
				new $Ecs.DescribeNetworkInterfaceAttributeRequest({ regionId: REGION, networkInterfaceId: id }),
			),
			"InvalidEniId.NotFound",
			404,
		);
		const v = await vpc(s).describeVSwitches(
			new $Vpc.DescribeVSwitchesRequest({ regionId: REGION, vSwitchId: POD_VSW }),
		);
		expect(v.body!.vSwitches!.vSwitch![0]!.availableIpAddressCount).toBe(4096 - 4);
		// the world log saw the transitions in order
		const what = s.log.since(0, (x) => x.face === "world" && x.eniId === id).map((x) => x.what);
		expect(what).toEqual([
			"eni.created",
			"eni.attaching",
			"eni.attached",
			"eni.ipsAssigned",
			"eni.ipv6sAssigned",
			"eni.ipsUnassigned",
			"eni.ipv6sUnassigned",
			"eni.detaching",
			"eni.detached",
			"eni.deleting",
			"eni.deleted",
		]);
	});

	test("every request lands in the request log with action, status, code and ids", async () => {
		const s = sim();
		const c = ecs(s);
		const e = await create(c);
		await sdkError(
			c.attachNetworkInterface(
				new $Ecs.AttachNetworkInterfaceRequest({
					regionId: REGION,
					networkInterfaceId: e.networkInterfaceId,
					instanceId: "i-nope",
				}),
			),
		);
		const api = s.log.since(0, (x) => x.face === "openapi");
		expect(api.map((x) => [x.what, x.status, x.code, x.eniId, x.instanceId])).toEqual([
			["CreateNetworkInterface", 200, undefined, e.networkInterfaceId, undefined],
			["AttachNetworkInterface", 404, "InvalidEcsId.NotFound", e.networkInterfaceId, "i-nope"],
		]);
		expect(typeof api[0]!.durationMs).toBe("number");
		expect(api[0]!.detail?.auth).toBe("ACS3-HMAC-SHA256");
	});
});

describe("error codes (cloud-sim.md §1.5) from real scenarios; a rejected call changes nothing", () => {
	test("InvalidVSwitchId.IpNotEnough with a tiny vSwitch", async () => {
		const s = sim((sc) => {
			sc.vswitches[1]!.availableLimit = 2;
		});
		const c = ecs(s);
		await expectCode(create(c, { secondaryPrivateIpAddressCount: 2 }), "InvalidVSwitchId.IpNotEnough", 403);
		expect(s.world.describeEnis({ vswitchId: POD_VSW })).toEqual([]);
		const e = await create(c, { secondaryPrivateIpAddressCount: 1 });
		await expectCode(
			c.assignPrivateIpAddresses(
				new $Ecs.AssignPrivateIpAddressesRequest({
					regionId: REGION,
					networkInterfaceId: e.networkInterfaceId,
					secondaryPrivateIpAddressCount: 1,
				}),
			),
			"InvalidVSwitchId.IpNotEnough",
			403,
		);
		const v = await vpc(s).describeVSwitches(
			new $Vpc.DescribeVSwitchesRequest({ regionId: REGION, vSwitchId: POD_VSW }),
		);
		expect(v.body!.vSwitches!.vSwitch![0]!.availableIpAddressCount).toBe(0);
	});

	test("QuotaExceeded.PrivateIpAddress beyond the VPC quota", async () => {
		const s = sim((sc) => {
			sc.privateIpQuota = 3; // two node primaries already use 2
		});
		await expectCode(
			create(ecs(s), { secondaryPrivateIpAddressCount: 1 }),
			"QuotaExceeded.PrivateIpAddress",
			403,
		);
		expect(s.world.enis().length).toBe(2);
	});

	test("EniPerInstanceLimitExceeded past EniQuantity (primary counts)", async () => {
		const s = sim();
		const c = ecs(s);
		await attached(s, c);
		await attached(s, c); // g7.large: 3 incl. primary
		const e = await create(c);
		await expectCode(
			c.attachNetworkInterface(
				new $Ecs.AttachNetworkInterfaceRequest({
					regionId: REGION,
					networkInterfaceId: e.networkInterfaceId,
					instanceId: node(s).instanceId,
				}),
			),
			"EniPerInstanceLimitExceeded",
			403,
		);
		expect((await describeOne(c, e.networkInterfaceId!))!.status).toBe("Available");
	});

	test("InvalidOperation.Ipv4CountExceeded / Ipv6CountExceeded (attached: per type; unattached: 50)", async () => {
		const s = sim();
		const c = ecs(s);
		const e = await attached(s, c);
		const id = e.networkInterfaceId!;
		await expectCode(
			c.assignPrivateIpAddresses(
				new $Ecs.AssignPrivateIpAddressesRequest({
					regionId: REGION,
					networkInterfaceId: id,
					secondaryPrivateIpAddressCount: 6,
				}),
			),
			"InvalidOperation.Ipv4CountExceeded",
			403,
		);
		await c.assignPrivateIpAddresses(
			new $Ecs.AssignPrivateIpAddressesRequest({
				regionId: REGION,
				networkInterfaceId: id,
				secondaryPrivateIpAddressCount: 5,
			}),
		);
		await expectCode(
			c.assignIpv6Addresses(
				new $Ecs.AssignIpv6AddressesRequest({
					regionId: REGION,
					networkInterfaceId: id,
					ipv6AddressCount: 7,
				}),
			),
			"InvalidOperation.Ipv6CountExceeded",
			403,
		);
		expect((await describeOne(c, id))!.ipv6Sets!.ipv6Set).toEqual([]);
		const big = await create(c, { secondaryPrivateIpAddressCount: 49 });
		expect(big.privateIpSets!.privateIpSet!.length).toBe(50);
		await expectCode(
			c.assignPrivateIpAddresses(
				new $Ecs.AssignPrivateIpAddressesRequest({
					regionId: REGION,
					networkInterfaceId: big.networkInterfaceId,
					secondaryPrivateIpAddressCount: 1,
				}),
			),
			"InvalidOperation.Ipv4CountExceeded",
			403,
		);
		// 50 IPs do not fit a g7.large ENI (6): attach refuses
		await expectCode(
			c.attachNetworkInterface(
				new $Ecs.AttachNetworkInterfaceRequest({
					regionId: REGION,
					networkInterfaceId: big.networkInterfaceId,
					instanceId: node(s, 1).instanceId,
				}),
			),
			"InvalidOperation.Ipv4CountExceeded",
			403,
		);
	});

	test("InvalidOperation.InvalidEniState: Attach when not Available, Delete when not Available", async () => {
		const s = sim();
		const c = ecs(s);
		const e = await attached(s, c);
		await expectCode(
			c.attachNetworkInterface(
				new $Ecs.AttachNetworkInterfaceRequest({
					regionId: REGION,
					networkInterfaceId: e.networkInterfaceId,
					instanceId: node(s, 1).instanceId,
				}),
			),
			"InvalidOperation.InvalidEniState",
			403,
		);
		await expectCode(
			c.deleteNetworkInterface(
				new $Ecs.DeleteNetworkInterfaceRequest({
					regionId: REGION,
					networkInterfaceId: e.networkInterfaceId,
				}),
			),
			"InvalidOperation.InvalidEniState",
			403,
		);
		// detaching twice is accepted; delete while Detaching is refused
		const detach = () =>
			c.detachNetworkInterface(
				new $Ecs.DetachNetworkInterfaceRequest({
					regionId: REGION,
					networkInterfaceId: e.networkInterfaceId,
					instanceId: node(s).instanceId,
				}),
			);
		await detach();
		await detach();
		await expectCode(
			c.deleteNetworkInterface(
				new $Ecs.DeleteNetworkInterfaceRequest({
					regionId: REGION,
					networkInterfaceId: e.networkInterfaceId,
				}),
			),
			"InvalidOperation.InvalidEniState",
			403,
		);
		await pollStatus(c, e.networkInterfaceId!, "Available");
	});

	test("NotFound variants: ENI, ECS instance, vSwitch, security group; Describe of unknown ids is empty", async () => {
		const s = sim();
		const c = ecs(s);
		const e = await create(c);
		await expectCode(
			c.attachNetworkInterface(
				new $Ecs.AttachNetworkInterfaceRequest({
					regionId: REGION,
					networkInterfaceId: "eni-bp1nope",
					instanceId: node(s).instanceId,
				}),
			),
			"InvalidEniId.NotFound",
			404,
		);
		await expectCode(
			c.detachNetworkInterface(
				new $Ecs.DetachNetworkInterfaceRequest({
					regionId: REGION,
					networkInterfaceId: e.networkInterfaceId,
					instanceId: "i-bp1nope",
				}),
			),
			"InvalidEcsId.NotFound",
			404,
		);
		await expectCode(
			c.deleteNetworkInterface(
				new $Ecs.DeleteNetworkInterfaceRequest({ regionId: REGION, networkInterfaceId: "eni-bp1nope" }),
			),
			"InvalidEniId.NotFound",
			404,
		);
		await expectCode(
			c.unassignPrivateIpAddresses(
				new $Ecs.UnassignPrivateIpAddressesRequest({
					regionId: REGION,
					networkInterfaceId: "eni-bp1nope",
					privateIpAddress: ["198.18.16.9"],
				}),
			),
			"InvalidEniId.NotFound",
			404,
		);
		await expectCode(create(c, { vSwitchId: "vsw-bp1nope" }), "InvalidVSwitchId.NotFound", 404);
		await expectCode(create(c, { securityGroupIds: ["sg-bp1nope"] }), "InvalidSecurityGroupId.NotFound", 404);
		expect(await describeOne(c, "eni-bp1nope")).toBeUndefined();
		expect(s.world.enis().length).toBe(3);
	});

	test("InvalidIp.IpUnassigned for an IP the ENI does not hold, and for its primary IP", async () => {
		const s = sim();
		const c = ecs(s);
		const e = await create(c, { secondaryPrivateIpAddressCount: 1, ipv6AddressCount: 1 });
		const id = e.networkInterfaceId!;
		const [primary, secondary] = e.privateIpSets!.privateIpSet!.map((p) => p.privateIpAddress!);
		for (const ips of [["198.18.31.250"], [primary!], [secondary!, "198.18.31.250"]]) {
			await expectCode(
				c.unassignPrivateIpAddresses(
					new $Ecs.UnassignPrivateIpAddressesRequest({
						regionId: REGION,
						networkInterfaceId: id,
						privateIpAddress: ips,
					}),
				),
				"InvalidIp.IpUnassigned",
				400,
			);
		}
		await expectCode(
			c.unassignIpv6Addresses(
				new $Ecs.UnassignIpv6AddressesRequest({
					regionId: REGION,
					networkInterfaceId: id,
					ipv6Address: ["fd00:198:18:1::99"],
				}),
			),
			"InvalidIp.IpUnassigned",
			400,
		);
		// nothing was removed by the rejected mixed request
		expect((await describeOne(c, id))!.privateIpSets!.privateIpSet!.length).toBe(2);
	});

	test("MissingParameter: RegionId on ENI calls, VSwitchId on Create; DescribeInstanceTypes needs no RegionId", async () => {
		const s = sim();
		const c = ecs(s);
		const e = await expectCode(
			c.describeNetworkInterfaces(new $Ecs.DescribeNetworkInterfacesRequest({ maxResults: 10 })),
			"MissingParameter",
			400,
		);
		expect(String(e.data?.Message)).toContain("RegionId");
		const v = await expectCode(
			c.createNetworkInterface(
				new $Ecs.CreateNetworkInterfaceRequest({ regionId: REGION, securityGroupIds: [SG] }),
			),
			"MissingParameter",
			400,
		);
		expect(String(v.data?.Message)).toContain("VSwitchId");
		await expectCode(
			vpc(s).describeVSwitches(new $Vpc.DescribeVSwitchesRequest({})),
			"MissingParameter",
			400,
		);
		await expectCode(
			c.describeNetworkInterfaces(new $Ecs.DescribeNetworkInterfacesRequest({ regionId: "cn-beijing" })),
			"InvalidRegionId.NotFound",
			404,
		);
		expect(s.world.enis().length).toBe(2);
	});

	test("Operation.Conflict: IP changes while the ENI is Attaching (stuck by a world fault)", async () => {
		const s = sim();
		s.faults.add({
			match: { face: "world", action: "AttachNetworkInterface" },
			effect: { kind: "attachStuck" },
			times: 1,
		});
		const c = ecs(s);
		const e = await create(c);
		await c.attachNetworkInterface(
			new $Ecs.AttachNetworkInterfaceRequest({
				regionId: REGION,
				networkInterfaceId: e.networkInterfaceId,
				instanceId: node(s).instanceId,
			}),
		);
		await Bun.sleep(100); // past the fast profile: it would be InUse by now
		expect((await describeOne(c, e.networkInterfaceId!))!.status).toBe("Attaching");
		await expectCode(
			c.assignPrivateIpAddresses(
				new $Ecs.AssignPrivateIpAddressesRequest({
					regionId: REGION,
					networkInterfaceId: e.networkInterfaceId,
					secondaryPrivateIpAddressCount: 1,
				}),
			),
			"Operation.Conflict",
			403,
		);
	});

	test("attachFail world fault: Attaching -> back to Available", async () => {
		const s = sim();
		s.faults.add({ match: { action: "AttachNetworkInterface" }, effect: { kind: "attachFail" }, times: 1 });
		const c = ecs(s);
		const e = await create(c);
		await c.attachNetworkInterface(
			new $Ecs.AttachNetworkInterfaceRequest({
				regionId: REGION,
				networkInterfaceId: e.networkInterfaceId,
				instanceId: node(s).instanceId,
			}),
		);
		expect(await pollStatus(c, e.networkInterfaceId!, "Available")).toEqual(["Attaching", "Available"]);
		expect((await describeOne(c, e.networkInterfaceId!))!.instanceId).toBe("");
	});

	test("IdempotentParameterMismatch: same ClientToken, different parameters", async () => {
		const s = sim();
		const c = ecs(s);
		const token = randomUUID();
		await create(c, { clientToken: token, secondaryPrivateIpAddressCount: 1 });
		await expectCode(
			create(c, { clientToken: token, secondaryPrivateIpAddressCount: 2 }),
			"IdempotentParameterMismatch",
			400,
		);
		expect(s.world.enis().length).toBe(3);
	});

	test("fault rules: Throttling (ThrottlingError + retry-after), InternalError 500, ServiceUnavailable 503, Forbidden.RAM, ipExhausted", async () => {
		const s = sim();
		const c = ecs(s);
		s.faults.add({
			match: { face: "openapi", action: "DescribeNetworkInterfaces", nth: 1 },
			effect: { kind: "throttle", retryAfterMs: 2000 },
		});
		const t = await expectCode(
			c.describeNetworkInterfaces(new $Ecs.DescribeNetworkInterfacesRequest({ regionId: REGION })),
			"Throttling",
			400,
		);
		expect(t.name).toBe("ThrottlingError");
		expect(t.retryAfter).toBe(2);
		s.faults.add({
			match: { action: "CreateNetworkInterface" },
			effect: { kind: "error", code: "InternalError", status: 500 },
			times: 1,
		});
		const ie = await expectCode(create(c), "InternalError", 500);
		expect(ie.name).toBe("ServerError");
		s.faults.add({
			match: { action: "CreateNetworkInterface" },
			effect: { kind: "error", code: "ServiceUnavailable", status: 503 },
			times: 1,
		});
		await expectCode(create(c), "ServiceUnavailable", 503);
		s.faults.add({
			match: { action: "UnassignPrivateIpAddresses" },
			effect: { kind: "error", code: "Forbidden.RAM", status: 403 },
			times: 1,
		});
		await expectCode(
			c.unassignPrivateIpAddresses(
				new $Ecs.UnassignPrivateIpAddressesRequest({
					regionId: REGION,
					networkInterfaceId: "eni-x",
					privateIpAddress: ["198.18.16.1"],
				}),
			),
			"Forbidden.RAM",
			403,
		);
		s.faults.add({ match: { action: "CreateNetworkInterface" }, effect: { kind: "ipExhausted" }, times: 1 });
		await expectCode(create(c), "InvalidVSwitchId.IpNotEnough", 403);
		expect(s.world.enis().length).toBe(2); // none of the faulted creates did anything
		const e = await create(c); // rules are spent
		expect(e.status).toBe("Available");
		expect(s.log.since(0, (x) => x.face === "openapi" && x.fault !== undefined).length).toBe(5);
	});

	test("latency, hang (client read timeout) and reset (work done, response lost; ClientToken retry gets the same ENI)", async () => {
		const s = sim();
		s.faults.add({
			match: { action: "DescribeInstanceTypes" },
			effect: { kind: "latency", ms: 150 },
			times: 1,
		});
		const t0 = performance.now();
		await ecs(s).describeInstanceTypes(new $Ecs.DescribeInstanceTypesRequest({}));
		expect(performance.now() - t0).toBeGreaterThanOrEqual(140);

		s.faults.add({ match: { action: "DescribeInstanceTypes" }, effect: { kind: "hang" }, times: 1 });
		const hung = await sdkError(
			ecs(s, { readTimeout: 300 }).describeInstanceTypes(new $Ecs.DescribeInstanceTypesRequest({})),
		);
		expect(hung.message).toMatch(/timeout/i);

		s.faults.add({ match: { action: "CreateNetworkInterface" }, effect: { kind: "reset" }, times: 1 });
		const token = randomUUID();
		await sdkError(create(ecs(s), { clientToken: token }));
		const made = s.world.describeEnis({ vswitchId: POD_VSW });
		expect(made.length).toBe(1);
		const retry = await create(ecs(s), { clientToken: token });
		expect(retry.networkInterfaceId).toBe(made[0]!.eniId);
		expect(s.world.describeEnis({ vswitchId: POD_VSW }).length).toBe(1);
	});

	test("unknown action -> InvalidAction.NotFound (404) through the SDK's generic callApi", async () => {
		const s = sim();
		const c = ecs(s);
		const params = new $OpenApi.$OpenApiUtil.Params({
			action: "DescribeNoSuchThing",
			version: "2014-05-26",
			protocol: "HTTP",
			pathname: "/",
			method: "POST",
			authType: "AK",
			style: "RPC",
			reqBodyType: "formData",
			bodyType: "json",
		});
		await expectCode(
			c.callApi(
				params,
				new $OpenApi.$OpenApiUtil.OpenApiRequest({ query: { RegionId: REGION } }),
				new $dara.RuntimeOptions({}),
			),
			"InvalidAction.NotFound",
			404,
		);
		// a VPC client asking for an ECS action
		const vparams = new $OpenApi.$OpenApiUtil.Params({
			...params.toMap(),
			action: "CreateNetworkInterface",
			version: "2016-04-28",
		});
		await expectCode(
			vpc(s).callApi(
				vparams,
				new $OpenApi.$OpenApiUtil.OpenApiRequest({ query: { RegionId: REGION } }),
				new $dara.RuntimeOptions({}),
			),
			"InvalidAction.NotFound",
			404,
		);
	});
});

/** RFC 3986 percent-encoding as the legacy RPC signature documents it. */
const enc = (s: string) =>
	encodeURIComponent(s).replace(/[!'()*]/g, (ch) => `%${ch.charCodeAt(0).toString(16).toUpperCase()}`);

function legacySign(params: Record<string, string>, secret: string, method = "POST"): string {
	const canon = Object.keys(params)
		.sort()
		.map((k) => `${enc(k)}=${enc(params[k]!)}`)
		.join("&");
	return createHmac("sha1", `${secret}&`)
		.update(`${method}&${enc("/")}&${enc(canon)}`)
		.digest("base64");
}

function legacyParams(action: string, extra: Record<string, string>, ak = AK.id): Record<string, string> {
	return {
		Action: action,
		Version: "2014-05-26",
		Format: "JSON",
		Timestamp: new Date().toISOString().replace(/\.\d{3}Z$/, "Z"),
		SignatureNonce: randomUUID(),
		SignatureMethod: "HMAC-SHA1",
		SignatureVersion: "1.0",
		AccessKeyId: ak,
		...extra,
	};
}

describe("signatures and credentials", () => {
	test("legacy HMAC-SHA1 RPC: SDK v2 form, hand-built query form and hand-built form body", async () => {
		const s = sim();
		const v2 = ecs(s, { signatureAlgorithm: "v2" });
		const e = await create(v2, { secondaryPrivateIpAddressCount: 1 });
		expect(e.status).toBe("Available");

		const q = legacyParams("DescribeNetworkInterfaces", {
			RegionId: REGION,
			"NetworkInterfaceId.1": e.networkInterfaceId!,
		});
		q.Signature = legacySign(q, AK.secret);
		const r1 = await fetch(`http://127.0.0.1:${s.port}/?${new URLSearchParams(q)}`, { method: "POST" });
		expect(r1.status).toBe(200);
		const b1 = (await r1.json()) as {
			NetworkInterfaceSets: { NetworkInterfaceSet: { NetworkInterfaceId: string }[] };
		};
		expect(b1.NetworkInterfaceSets.NetworkInterfaceSet.map((x) => x.NetworkInterfaceId)).toEqual([
			e.networkInterfaceId!,
		]);

		const f = legacyParams("AssignPrivateIpAddresses", {
			RegionId: REGION,
			NetworkInterfaceId: e.networkInterfaceId!,
			SecondaryPrivateIpAddressCount: "2",
		});
		f.Signature = legacySign(f, AK.secret);
		const r2 = await fetch(`http://127.0.0.1:${s.port}/`, {
			method: "POST",
			headers: { "content-type": "application/x-www-form-urlencoded" },
			body: new URLSearchParams(f).toString(),
		});
		expect(r2.status).toBe(200);
		const b2 = (await r2.json()) as {
			AssignedPrivateIpAddressesSet: { PrivateIpSet: { PrivateIpAddress: string[] } };
		};
		expect(b2.AssignedPrivateIpAddressesSet.PrivateIpSet.PrivateIpAddress.length).toBe(2);

		// tampering with a signed parameter breaks the signature
		const bad = legacyParams("DescribeNetworkInterfaces", { RegionId: REGION });
		bad.Signature = legacySign(bad, AK.secret);
		bad.RegionId = "cn-beijing";
		const r3 = await fetch(`http://127.0.0.1:${s.port}/?${new URLSearchParams(bad)}`, { method: "POST" });
		expect(r3.status).toBe(400);
		expect(((await r3.json()) as { Code: string }).Code).toBe("SignatureDoesNotMatch");
		const un = legacyParams("DescribeNetworkInterfaces", { RegionId: REGION }, "LTAInobody");
		un.Signature = legacySign(un, "whatever");
		const r4 = await fetch(`http://127.0.0.1:${s.port}/?${new URLSearchParams(un)}`, { method: "POST" });
		expect([r4.status, ((await r4.json()) as { Code: string }).Code]).toEqual([
			404,
			"InvalidAccessKeyId.NotFound",
		]);
	});

	test("ACS3: wrong secret -> SignatureDoesNotMatch, unknown AK -> InvalidAccessKeyId.NotFound, unsigned -> IncompleteSignature", async () => {
		const s = sim();
		const req = new $Ecs.DescribeNetworkInterfacesRequest({ regionId: REGION });
		await expectCode(
			ecs(s, { accessKeySecret: "not-the-secret" }).describeNetworkInterfaces(req),
			"SignatureDoesNotMatch",
			400,
		);
		await expectCode(
			ecs(s, { accessKeyId: "LTAInobody" }).describeNetworkInterfaces(req),
			"InvalidAccessKeyId.NotFound",
			404,
		);
		await expectCode(
			ecs(s, { accessKeySecret: "x", signatureAlgorithm: "v2" }).describeNetworkInterfaces(req),
			"SignatureDoesNotMatch",
			400,
		);
		const r = await fetch(`http://127.0.0.1:${s.port}/?RegionId=${REGION}`, {
			method: "POST",
			headers: { "x-acs-action": "DescribeNetworkInterfaces", "x-acs-version": "2014-05-26" },
		});
		expect([r.status, ((await r.json()) as { Code: string }).Code]).toEqual([400, "IncompleteSignature"]);
		expect(s.log.since(0, (x) => x.face === "openapi").every((x) => x.status !== 200)).toBe(true);
	});

	test("STS triples issued to an instance are accepted (ACS3 and v2, via @alicloud/credentials); expired or mismatched are not", async () => {
		const s = sim();
		const sts = s.world.stsCredentials(node(s).instanceId);
		expect(sts.accessKeyId.startsWith("STS.")).toBe(true);
		const credential = new Credential(
			new CredentialConfig({
				type: "sts",
				accessKeyId: sts.accessKeyId,
				accessKeySecret: sts.accessKeySecret,
				securityToken: sts.securityToken,
			}),
		);
		const cfg = config(s);
		cfg.accessKeyId = undefined as never;
		cfg.accessKeySecret = undefined as never;
		cfg.credential = credential;
		const c = new EcsClient(cfg);
		const r = await c.describeInstanceTypes(new $Ecs.DescribeInstanceTypesRequest({}));
		expect(r.statusCode).toBe(200);
		const v2 = ecs(s, { ...sts, signatureAlgorithm: "v2" });
		expect((await create(v2)).status).toBe("Available");
		expect(
			s.log.since(0, (x) => x.face === "openapi" && x.status === 200).map((x) => x.detail?.accessKeyId),
		).toEqual([sts.accessKeyId, sts.accessKeyId]);

		await expectCode(
			ecs(s, { ...sts, securityToken: `${sts.securityToken}x` }).describeInstanceTypes(
				new $Ecs.DescribeInstanceTypesRequest({}),
			),
			"InvalidSecurityToken.MismatchWithAccessKey",
			400,
		);
		s.clock.skew = 2 * 3600_000; // two hours later the triple has expired
		await expectCode(
			ecs(s, sts).describeInstanceTypes(new $Ecs.DescribeInstanceTypesRequest({})),
			"InvalidSecurityToken.Expired",
			400,
		);
		// and the instance gets a fresh one that works
		const fresh = s.world.stsCredentials(node(s).instanceId);
		expect(fresh.accessKeyId).not.toBe(sts.accessKeyId);
		expect(
			(await ecs(s, fresh).describeInstanceTypes(new $Ecs.DescribeInstanceTypesRequest({}))).statusCode,
		).toBe(200);
	});
});

describe("paging and idempotency", () => {
	test("DescribeNetworkInterfaces pages with MaxResults/NextToken and with PageNumber/PageSize", async () => {
		const s = sim();
		const c = ecs(s);
		const made: string[] = [];
		for (let i = 0; i < 23; i++)
			made.push((await create(c, { tag: [{ key: "batch", value: "p" }] })).networkInterfaceId!);
		const seen: string[] = [];
		let next: string | undefined;
		let pages = 0;
		do {
			const r = await c.describeNetworkInterfaces(
				new $Ecs.DescribeNetworkInterfacesRequest({
					regionId: REGION,
					tag: [{ key: "batch", value: "p" }],
					maxResults: 10,
					...(next ? { nextToken: next } : {}),
				}),
			);
			seen.push(...r.body!.networkInterfaceSets!.networkInterfaceSet!.map((e) => e.networkInterfaceId!));
			next = r.body!.nextToken || undefined;
			pages++;
		} while (next);
		expect(pages).toBe(3);
		expect(seen).toEqual(made);
		const p3 = await c.describeNetworkInterfaces(
			new $Ecs.DescribeNetworkInterfacesRequest({
				regionId: REGION,
				vSwitchId: POD_VSW,
				pageNumber: 3,
				pageSize: 10,
			}),
		);
		expect({
			ids: p3.body!.networkInterfaceSets!.networkInterfaceSet!.map((e) => e.networkInterfaceId),
			total: p3.body!.totalCount,
			page: p3.body!.pageNumber,
			size: p3.body!.pageSize,
		}).toEqual({ ids: made.slice(20), total: 23, page: 3, size: 10 });
		const tiny = await c.describeInstanceTypes(new $Ecs.DescribeInstanceTypesRequest({ maxResults: 2 }));
		expect(tiny.body!.instanceTypes!.instanceType!.length).toBe(2);
		const rest = await c.describeInstanceTypes(
			new $Ecs.DescribeInstanceTypesRequest({ maxResults: 2, nextToken: tiny.body!.nextToken }),
		);
		expect(rest.body!.instanceTypes!.instanceType!.map((t) => t.instanceTypeId)).toEqual(["ecs.sim.big"]);
		await expectCode(
			c.describeNetworkInterfaces(
				new $Ecs.DescribeNetworkInterfacesRequest({ regionId: REGION, nextToken: "garbage" }),
			),
			"InvalidNextToken.Malformed",
			400,
		);
	});

	test("ClientToken replay returns the same ENI id and IPs without side effects (Create, AssignPrivateIpAddresses, AssignIpv6Addresses)", async () => {
		const s = sim();
		const c = ecs(s);
		const token = randomUUID();
		const a = await create(c, { clientToken: token, secondaryPrivateIpAddressCount: 2, ipv6AddressCount: 1 });
		const b = await create(c, { clientToken: token, secondaryPrivateIpAddressCount: 2, ipv6AddressCount: 1 });
		expect(b.networkInterfaceId).toBe(a.networkInterfaceId!);
		expect(b.privateIpSets).toEqual(a.privateIpSets!);
		expect(b.ipv6Sets).toEqual(a.ipv6Sets!);
		expect(b.requestId).not.toBe(a.requestId!);
		expect(s.world.enis().length).toBe(3);
		const id = a.networkInterfaceId!;
		const t2 = randomUUID();
		const assign = () =>
			c.assignPrivateIpAddresses(
				new $Ecs.AssignPrivateIpAddressesRequest({
					regionId: REGION,
					networkInterfaceId: id,
					secondaryPrivateIpAddressCount: 1,
					clientToken: t2,
				}),
			);
		const x = await assign();
		const y = await assign();
		expect(y.body!.assignedPrivateIpAddressesSet).toEqual(x.body!.assignedPrivateIpAddressesSet!);
		const t3 = randomUUID();
		const assign6 = () =>
			c.assignIpv6Addresses(
				new $Ecs.AssignIpv6AddressesRequest({
					regionId: REGION,
					networkInterfaceId: id,
					ipv6AddressCount: 1,
					clientToken: t3,
				}),
			);
		expect((await assign6()).body!.ipv6Sets).toEqual((await assign6()).body!.ipv6Sets!);
		const d = (await describeOne(c, id))!;
		expect(d.privateIpSets!.privateIpSet!.length).toBe(4);
		expect(d.ipv6Sets!.ipv6Set!.length).toBe(2);
		expect(s.log.since(0, (l) => l.face === "openapi" && l.detail?.replayed === true).length).toBe(3);
	});
});
