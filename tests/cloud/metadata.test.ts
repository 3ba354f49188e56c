/**
 * MetadataClient and the RAM-role credential chain against the offline cloud's metadata face
 * (identifyAs one node, 127.0.0.1:0): token protocol incl. expiry → 401 → refresh, Terway's
 * reads, metadata lag after attach/assign/unassign (waitForMac/waitForIps), and STS
 * credentials from the RAM role signing real SDK calls, refreshed before expiry.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { AliyunEcs, credentialChain, MetadataClient, RamRoleCredentials } from "../../src/cloud/index.ts";
import { FAST_BACKOFFS, POD_VSW, REGION, type Sim, type SimOptions, startSim } from "./sim.ts";

const running: Sim[] = [];
afterEach(() => {
	for (const s of running.splice(0)) s.stop();
});

function setup(opts: SimOptions & { ttl?: number } = {}) {
	const sim = startSim(opts);
	running.push(sim);
	const md = new MetadataClient({
		baseUrl: sim.metadataUrl,
		env: {},
		retry: { durationMs: 5 },
		waitIntervalMs: 20,
		waitTimeoutMs: 5000,
		...(opts.ttl ? { tokenTtlSeconds: opts.ttl } : {}),
	});
	return { sim, md };
}

const mdLog = (sim: Sim) => sim.log.since(0, (e) => e.face === "metadata");

describe("metadata reads", () => {
	test("instance facts and the primary ENI match the world (hardened: token required)", async () => {
		const { sim, md } = setup({ hardened: true });
		const node = sim.world.instance(sim.instanceId)!;
		expect({
			instanceId: await md.instanceId(),
			regionId: await md.regionId(),
			zoneId: await md.zoneId(),
			instanceType: await md.instanceType(),
			vpcId: await md.vpcId(),
			vpcCidr: await md.vpcCidr(),
			primaryMac: await md.primaryMac(),
			macs: await md.macs(),
		}).toEqual({
			instanceId: sim.instanceId,
			regionId: REGION,
			zoneId: node.zoneId,
			instanceType: node.instanceType,
			vpcId: node.vpcId,
			vpcCidr: sim.scenario.vpc.cidr,
			primaryMac: node.primaryEni.mac,
			macs: [node.primaryEni.mac],
		});
		const eni = await md.eni(node.primaryEni.mac);
		expect(eni).toMatchObject({
			eniId: node.primaryEni.eniId,
			mac: node.primaryEni.mac,
			primaryIp: node.primaryEni.primaryIp,
			ips: [node.primaryEni.primaryIp],
			cidr: "198.18.0.0/24",
			vswitchId: node.primaryEni.vswitchId,
			ipv6Cidr: "fd00:198:18::/64",
		});
		expect(eni.gateway).toMatch(/^198\.18\.0\.\d+$/);
		// One token for all of it, sent on every read.
		const log = mdLog(sim);
		expect(log.filter((e) => e.what === "/latest/api/token")).toHaveLength(1);
		expect(log.filter((e) => e.status === 401)).toEqual([]);
	});

	test("an expired token: 401, one new PUT, the read succeeds", async () => {
		const { sim, md } = setup({ hardened: true, ttl: 60 });
		await md.instanceId();
		sim.clock.skew += 61_000; // the server's token expired; the client's cache (30 s by its clock) has not
		expect(await md.instanceId()).toBe(sim.instanceId);
		const seq = mdLog(sim).map((e) => `${e.what} ${e.status}`);
		expect(seq).toEqual([
			"/latest/api/token 200",
			"instance-id 200",
			"instance-id 401",
			"/latest/api/token 200",
			"instance-id 200",
		]);
	});

	test("5xx and 429 from the service are retried", async () => {
		const { sim, md } = setup();
		sim.faults.add({
			match: { face: "metadata", action: "zone-id" },
			effect: { kind: "error", code: "x", status: 500 },
			times: 2,
		});
		sim.faults.add({
			match: { face: "metadata", action: "zone-id" },
			effect: { kind: "throttle" },
			times: 1,
		});
		expect(await md.zoneId()).toBe(sim.world.instance(sim.instanceId)!.zoneId);
		expect(
			mdLog(sim)
				.filter((e) => e.what === "zone-id")
				.map((e) => e.status),
		).toEqual([500, 500, 429, 200]);
	});
});

describe("metadata lag", () => {
	test("an attached ENI and its IPs appear after metadataLagMs; waitForMac/waitForIps follow", async () => {
		const { sim, md } = setup({ mutate: (s) => (s.metadataLagMs = 300) });
		const ecs = new AliyunEcs({
			regionId: REGION,
			credentials: credentialChain({ env: {}, metadata: md }),
			endpoints: { regionId: REGION, ecs: sim.openapi, vpc: sim.openapi, protocol: "HTTP" },
			backoffs: FAST_BACKOFFS,
		});
		const eni = await ecs.createEni({
			vswitchId: POD_VSW,
			securityGroupIds: sim.scenario.securityGroups,
			ipv4Count: 2,
			ipv6Count: 1,
			tags: {},
		});
		await ecs.attachEni(eni.eniId, sim.instanceId);
		await ecs.waitEniStatus(eni.eniId, "InUse");
		// InUse in the API, not yet in metadata (lag 300 ms, fast attach 20–60 ms).
		expect(await md.macs()).not.toContain(eni.mac);
		const t0 = performance.now();
		await md.waitForMac(eni.mac);
		await md.waitForIps(eni.mac, [...eni.ipv4s, ...eni.ipv6s], "present");
		expect(performance.now() - t0).toBeGreaterThan(100);
		const seen = await md.eni(eni.mac);
		expect({ id: seen.eniId, ips: seen.ips.sort(), v6: seen.ipv6s }).toEqual({
			id: eni.eniId,
			ips: [...eni.ipv4s].sort(),
			v6: eni.ipv6s,
		});

		const added = await ecs.assignIpv4(eni.eniId, 2);
		expect(await md.ipv4s(eni.mac)).not.toEqual(expect.arrayContaining(added));
		await md.waitForIps(eni.mac, added, "present");
		await ecs.unassignIpv4(eni.eniId, added);
		await md.waitForIps(eni.mac, added, "absent");
		expect((await md.ipv4s(eni.mac)).sort()).toEqual([...eni.ipv4s].sort());

		// A wait that cannot succeed ends with WaitTimeout.
		const e = await md.waitForIps(eni.mac, ["198.18.31.254"], "present", { timeoutMs: 100 }).catch((x) => x);
		expect(e.code).toBe("WaitTimeout");
	});
});

describe("STS credentials from the RAM role", () => {
	test("sign real SDK calls; refreshed 5 min before expiry; the old triple then stops working", async () => {
		const { sim, md } = setup();
		const creds = new RamRoleCredentials(md, { now: () => sim.clock.now() });
		const ecs = new AliyunEcs({
			regionId: REGION,
			credentials: creds,
			endpoints: { regionId: REGION, ecs: sim.openapi, vpc: sim.openapi, protocol: "HTTP" },
			backoffs: FAST_BACKOFFS,
		});
		expect(await ecs.describeEnis({ instanceId: sim.instanceId })).toHaveLength(1);
		const first = await creds.get();
		expect({
			role: creds.role,
			sts: first.accessKeyId.startsWith("STS."),
			token: !!first.securityToken,
		}).toEqual({
			role: sim.scenario.ramRole,
			sts: true,
			token: true,
		});
		const authed = () =>
			sim.log
				.since(0, (e) => e.face === "openapi" && e.what === "DescribeNetworkInterfaces")
				.map((e) => e.detail?.accessKeyId);
		expect(authed()).toEqual([first.accessKeyId]);

		// 56 minutes later: 4 minutes left → the provider refreshes, the world has rotated.
		sim.clock.skew += 56 * 60_000;
		expect(await ecs.describeEnis({ instanceId: sim.instanceId })).toHaveLength(1);
		const second = await creds.get();
		expect(second.accessKeyId).not.toBe(first.accessKeyId);
		expect(authed()).toEqual([first.accessKeyId, second.accessKeyId]);

		// Past the first triple's expiry it is refused, while the refreshed client keeps working.
		sim.clock.skew += 5 * 60_000;
		const stale = new AliyunEcs({
			regionId: REGION,
			credentials: {
				source: "config",
				get: async () => first,
				describe: () => "stale",
			},
			endpoints: { regionId: REGION, ecs: sim.openapi, vpc: sim.openapi, protocol: "HTTP" },
			backoffs: FAST_BACKOFFS,
		});
		const e = await stale.describeEnis({}).catch((x) => x);
		expect(e.code).toBe("InvalidSecurityToken.Expired");
		expect(await ecs.describeEnis({ instanceId: sim.instanceId })).toHaveLength(1);
	});
});
