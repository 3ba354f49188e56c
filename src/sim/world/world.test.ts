import { describe, expect, test } from "bun:test";
import type { Scenario, WorldEvent } from "../contracts.ts";
import { FaultEngine } from "../faults.ts";
import { RequestLog } from "../request-log.ts";
import { VSwitchPool } from "./allocator.ts";
import { isCloudError } from "./errors.ts";
import { Rng } from "./rng.ts";
import {
	DEFAULT_SCENARIO_TEXT,
	defaultScenario,
	parseScenario,
	ScenarioError,
	validateScenario,
} from "./scenario.ts";
import { type Clock, createWorld, loadWorld, UNATTACHED_IP_LIMIT } from "./world.ts";

/** A manual clock: timers fire only on advance(). */
function manualClock(): Clock & { advance(ms: number): void } {
	let now = 1_700_000_000_000;
	const timers = new Map<number, { at: number; fn: () => void }>();
	let next = 1;
	return {
		now: () => now,
		setTimeout(fn, ms) {
			const id = next++;
			timers.set(id, { at: now + ms, fn });
			return id;
		},
		clearTimeout(h) {
			timers.delete(h as number);
		},
		advance(ms) {
			const end = now + ms;
			for (;;) {
				const due = [...timers].filter(([, t]) => t.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
				if (!due) break;
				timers.delete(due[0]);
				now = due[1].at;
				due[1].fn();
			}
			now = end;
		},
	};
}

function codeOf(fn: () => unknown): string {
	try {
		fn();
	} catch (e) {
		if (isCloudError(e)) return e.code;
		throw e;
	}
	throw new Error("expected a CloudError");
}

const POD = "vsw-bp1simpod000000000001";
const SG = "sg-bp1sim0000000000000001";

function world(mutate?: (s: Scenario) => void, faults?: FaultEngine) {
	const s = defaultScenario();
	mutate?.(s);
	const clock = manualClock();
	const log = new RequestLog();
	const w = createWorld(validateScenario(s), { seed: 5, clock, log, ...(faults ? { faults } : {}) });
	return { w, clock, log };
}

describe("scenario", () => {
	test("the embedded default parses and follows the address rule", () => {
		const s = defaultScenario();
		expect(s.region).toBe("cn-hangzhou");
		expect(s.nodes.count).toBe(2);
		expect(s.vswitches.map((v) => v.zone)).toEqual(["cn-hangzhou-i", "cn-hangzhou-i", "cn-hangzhou-j"]);
		expect(
			s.instanceTypes.map((t) => [
				t.id,
				t.eniQuantity,
				t.eniPrivateIpAddressQuantity,
				t.eniIpv6AddressQuantity,
			]),
		).toEqual([
			["ecs.sim.tiny", 2, 2, 0],
			["ecs.g7.large", 3, 6, 6],
			["ecs.sim.big", 8, 20, 20],
		]);
		const cm = s.kubernetes.objects.find((o) => o.kind === "ConfigMap")!;
		const conf = JSON.parse((cm.data as { eni_conf: string }).eni_conf);
		expect(conf).toMatchObject({
			max_pool_size: 5,
			min_pool_size: 0,
			ip_stack: "ipv4",
			security_groups: [SG],
		});
		expect(Object.keys(conf.vswitches)).toEqual(["cn-hangzhou-i", "cn-hangzhou-j"]);
		expect(DEFAULT_SCENARIO_TEXT).not.toMatch(/\b(10\.\d|172\.16\.|192\.168\.)/);
	});

	test("JSON works too", () => {
		expect(parseScenario(JSON.stringify(defaultScenario())).name).toBe("default");
	});

	const bad = (mutate: (s: Record<string, unknown> & Scenario) => void): string[] => {
		const s = structuredClone(defaultScenario()) as Record<string, unknown> & Scenario;
		mutate(s);
		try {
			validateScenario(s);
		} catch (e) {
			expect(e).toBeInstanceOf(ScenarioError);
			return (e as ScenarioError).issues;
		}
		throw new Error("expected a ScenarioError");
	};

	test("errors name the field path and the value", () => {
		expect(
			bad((s) => {
				s.vswitches[1]!.cidr = "198.18.0.0/33";
			})[0],
		).toStartWith('vswitches[1].cidr: "198.18.0.0/33" is not a CIDR');
		expect(
			bad((s) => {
				s.vswitches[2]!.zone = "cn-hangzhou-z";
			}),
		).toEqual(['vswitches[2].zone: "cn-hangzhou-z" is not one of zones (cn-hangzhou-i, cn-hangzhou-j)']);
		expect(
			bad((s) => {
				s.vswitches[1]!.cidr = "198.18.0.128/25";
			}),
		).toEqual(['vswitches[1].cidr: "198.18.0.128/25" overlaps vswitches[0].cidr (198.18.0.0/24)']);
		expect(
			bad((s) => {
				s.vswitches[1]!.cidr = "198.19.0.0/24";
			}),
		).toEqual(['vswitches[1].cidr: "198.19.0.0/24" is not inside vpc.cidr 198.18.0.0/16']);
		expect(
			bad((s) => {
				s.vpc.cidr = "10.0.0.0/16";
			})[0],
		).toBe('vpc.cidr: "10.0.0.0/16" is outside the sim\'s range 198.18.0.0/15');
		expect(
			bad((s) => {
				s.vswitches[1]!.ipv6Cidr = "fd00:198:19::/64";
			}),
		).toEqual(['vswitches[1].ipv6Cidr: "fd00:198:19::/64" is not inside vpc.ipv6Cidr fd00:198:18::/56']);
		expect(
			bad((s) => {
				s.vswitches[1]!.cidr = "198.18.16.1/20";
			})[0],
		).toContain("host bits are set");
		expect(
			bad((s) => {
				s.nodes.instanceType = "ecs.nope";
			}),
		).toEqual(['nodes.instanceType: "ecs.nope" is not one of instanceTypes[].id']);
		expect(
			bad((s) => {
				s.nodes.vswitch = "vsw-bp1simpod000000000002";
			}),
		).toEqual([
			'nodes.vswitch: "vsw-bp1simpod000000000002" is in zone cn-hangzhou-j, not nodes.zone cn-hangzhou-i',
		]);
		expect(
			bad((s) => {
				s.nodes.securityGroup = "sg-nope";
			}),
		).toEqual(['nodes.securityGroup: "sg-nope" is not one of securityGroups']);
		expect(
			bad((s) => {
				s.instanceTypes[0]!.eniQuantity = 0;
			}),
		).toEqual(["instanceTypes[0].eniQuantity: 0 is less than 1"]);
		expect(
			bad((s) => {
				s.latency = "slow" as never;
			}),
		).toEqual(['latency: "slow" is not "fast" or "realistic"']);
		expect(
			bad((s) => {
				s.surprise = 1;
			}),
		).toEqual(["surprise: unknown field"]);
		expect(
			bad((s) => {
				delete (s as Partial<Scenario>).region;
			}),
		).toEqual(["region: required"]);
		// several problems at once
		expect(
			bad((s) => {
				s.zones = [];
				s.accessKeys = [{ id: "", secret: "x" }];
			}).length,
		).toBeGreaterThan(3);
	});

	test("YAML syntax errors are ScenarioErrors too", () => {
		expect(() => parseScenario("name: [unclosed", "x.yaml")).toThrow(ScenarioError);
	});
});

describe("allocator", () => {
	test("IPv4 skips the network address and the last three; gateway is the first of those three", () => {
		const pool = new VSwitchPool(
			{ id: "vsw-t", zone: "z", cidr: "198.18.5.0/29", ipv6Cidr: "fd00:5::/124" },
			"sequential",
		);
		expect(pool.gateway).toBe("198.18.5.5");
		expect(pool.available).toBe(4);
		const rng = new Rng(1);
		expect(pool.allocate(4, rng)).toEqual(["198.18.5.1", "198.18.5.2", "198.18.5.3", "198.18.5.4"]);
		expect(pool.available).toBe(0);
		expect(() => pool.allocate(1, rng)).toThrow();
		pool.release(["198.18.5.2"]);
		expect(pool.allocate(1, rng)).toEqual(["198.18.5.2"]);
		expect(pool.gateway6).toBe("fd00:5::1");
		expect(pool.allocate6(2, rng)).toEqual(["fd00:5::2", "fd00:5::3"]);
		expect(new VSwitchPool({ id: "v", zone: "z", cidr: "198.18.6.0/24" }).gateway).toBe("198.18.6.253");
	});

	test("random picks stay inside the usable range and never repeat; availableLimit caps the pool", () => {
		const pool = new VSwitchPool({ id: "vsw-t", zone: "z", cidr: "198.18.7.0/28" });
		const rng = new Rng(9);
		const ips = pool.allocate(12, rng);
		expect(new Set(ips).size).toBe(12);
		const last = ips.map((ip) => Number(ip.split(".")[3])).sort((a, b) => a - b);
		expect(last).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
		const capped = new VSwitchPool({ id: "vsw-c", zone: "z", cidr: "198.18.8.0/24", availableLimit: 3 });
		expect(capped.available).toBe(3);
	});
});

describe("world", () => {
	test("nodes come up with primary ENIs; IDs, MACs and metadata are sane", () => {
		const { w } = world();
		const insts = w.instances();
		expect(insts.map((i) => i.nodeName)).toEqual(["node-1", "node-2"]);
		for (const i of insts) {
			expect(i.instanceId).toMatch(/^i-bp1[a-z0-9]{17}$/);
			expect(i.primaryEni.eniId).toMatch(/^eni-bp1[a-z0-9]{17}$/);
			expect(i.primaryEni.gateway).toBe("198.18.0.253");
			expect(w.metadataEnis(i.instanceId).map((e) => e.eniId)).toEqual([i.primaryEni.eniId]);
			expect(w.instanceByIp(i.primaryEni.primaryIp)?.instanceId).toBe(i.instanceId);
		}
		const macs = w.enis().map((e) => e.mac);
		expect(new Set(macs).size).toBe(macs.length);
		w.close();
	});

	test("state machine with events: eni.attached is awaited before InUse; metadata lags metadataLagMs", async () => {
		const { w, clock, log } = world();
		const inst = w.instances()[0]!;
		const events: string[] = [];
		let release: () => void = () => {};
		const gate = new Promise<void>((r) => {
			release = r;
		});
		w.on(async (e: WorldEvent) => {
			events.push(e.type);
			if (e.type === "eni.attached") await gate;
		});
		await w.settled(); // replayed instance.up x2
		expect(events).toEqual(["instance.up", "instance.up"]);
		const eni = w.createEni({ vswitchId: POD, securityGroupIds: [SG], secondaryIpCount: 1 });
		w.attachEni(eni.eniId, inst.instanceId);
		expect(w.eni(eni.eniId)!.status).toBe("Attaching");
		clock.advance(100);
		await Bun.sleep(0);
		expect(events.at(-1)).toBe("eni.attached");
		expect(w.eni(eni.eniId)!.status).toBe("Attaching"); // listener has not finished
		release();
		await w.settled();
		expect(w.eni(eni.eniId)!.status).toBe("InUse");
		// metadata shows it only 200 ms later
		expect(w.metadataEnis(inst.instanceId).length).toBe(1);
		clock.advance(199);
		expect(w.metadataEnis(inst.instanceId).length).toBe(1);
		clock.advance(1);
		expect(w.metadataEnis(inst.instanceId).map((e) => [e.eniId, e.deviceIndex, e.ips.length])).toEqual([
			[inst.primaryEni.eniId, 0, 1],
			[eni.eniId, 1, 2],
		]);
		// assign while attached: eni.ips event, metadata lags again
		const ips = w.assignIpv4(eni.eniId, 2);
		await w.settled();
		expect(events.at(-1)).toBe("eni.ips");
		expect(w.metadataEnis(inst.instanceId)[1]!.ips.length).toBe(2);
		clock.advance(200);
		expect(w.metadataEnis(inst.instanceId)[1]!.ips.slice(2)).toEqual(ips);
		// detach -> eni.detached, Available; delete -> absent, IPs back
		w.detachEni(eni.eniId, inst.instanceId);
		expect(w.eni(eni.eniId)!.status).toBe("Detaching");
		clock.advance(100);
		await w.settled();
		expect(events.at(-1)).toBe("eni.detached");
		expect(w.eni(eni.eniId)!.status).toBe("Available");
		const before = w.vswitches().find((v) => v.vswitchId === POD)!.availableIpAddressCount;
		w.deleteEni(eni.eniId);
		expect(w.eni(eni.eniId)!.status).toBe("Deleting");
		clock.advance(100);
		expect(w.eni(eni.eniId)).toBeUndefined();
		expect(w.vswitches().find((v) => v.vswitchId === POD)!.availableIpAddressCount).toBe(before + 4);
		expect(log.since(0, (e) => e.face === "world" && e.eniId === eni.eniId).map((e) => e.what)).toEqual([
			"eni.created",
			"eni.attaching",
			"eni.attached",
			"eni.ipsAssigned",
			"eni.detaching",
			"eni.detached",
			"eni.deleting",
			"eni.deleted",
		]);
		w.close();
	});

	test("a throwing eni.attached listener fails the attach; a metadataLag fault overrides the lag", async () => {
		const faults = new FaultEngine(1);
		const { w, clock } = world(undefined, faults);
		const inst = w.instances()[0]!;
		const off = w.on((e) => {
			if (e.type === "eni.attached") throw new Error("no link");
		});
		const a = w.createEni({ vswitchId: POD, securityGroupIds: [SG] });
		w.attachEni(a.eniId, inst.instanceId);
		clock.advance(100);
		await w.settled();
		expect(w.eni(a.eniId)!.status).toBe("Available");
		off();
		faults.add({
			match: { face: "world", action: "AttachNetworkInterface" },
			effect: { kind: "metadataLag", ms: 15_000 },
		});
		w.attachEni(a.eniId, inst.instanceId);
		clock.advance(100);
		await w.settled();
		expect(w.eni(a.eniId)!.status).toBe("InUse");
		clock.advance(10_000);
		expect(w.metadataEnis(inst.instanceId).length).toBe(1);
		clock.advance(5_000);
		expect(w.metadataEnis(inst.instanceId).length).toBe(2);
		w.close();
	});

	test("limits and refusals change nothing", () => {
		const { w } = world((s) => {
			s.nodes.instanceType = "ecs.sim.tiny";
		});
		const inst = w.instances()[0]!;
		const before = JSON.stringify(w.snapshot());
		expect(
			codeOf(() =>
				w.createEni({ vswitchId: POD, securityGroupIds: [SG], secondaryIpCount: UNATTACHED_IP_LIMIT }),
			),
		).toBe("InvalidOperation.Ipv4CountExceeded");
		expect(
			codeOf(() => w.createEni({ vswitchId: "vsw-bp1simnode00000000001", securityGroupIds: ["sg-x"] })),
		).toBe("InvalidSecurityGroupId.NotFound");
		expect(JSON.stringify(w.snapshot())).toBe(before);
		const a = w.createEni({ vswitchId: POD, securityGroupIds: [SG], ipv6Count: 1 });
		// tiny: no IPv6 per ENI -> attach refused
		expect(codeOf(() => w.attachEni(a.eniId, inst.instanceId))).toBe("InvalidOperation.Ipv6CountExceeded");
		const b = w.createEni({ vswitchId: POD, securityGroupIds: [SG], secondaryIpCount: 1 });
		w.attachEni(b.eniId, inst.instanceId);
		const c = w.createEni({ vswitchId: POD, securityGroupIds: [SG] });
		expect(codeOf(() => w.attachEni(c.eniId, inst.instanceId))).toBe("EniPerInstanceLimitExceeded");
		expect(codeOf(() => w.attachEni(c.eniId, "i-nope"))).toBe("InvalidEcsId.NotFound");
		expect(codeOf(() => w.assignIpv4(b.eniId, 1))).toBe("Operation.Conflict"); // still Attaching
		expect(codeOf(() => w.detachEni(inst.primaryEni.eniId, inst.instanceId))).toBe(
			"InvalidOperation.DetachPrimaryEniNotAllowed",
		);
		const j = w.createEni({ vswitchId: "vsw-bp1simpod000000000002", securityGroupIds: [SG] });
		expect(codeOf(() => w.attachEni(j.eniId, inst.instanceId))).toBe("InvalidOperation.ZoneMismatch");
		w.close();
	});

	test("trunk + member ENIs: member DeviceIndex is the VLAN id, limited by EniTotalQuantity - EniQuantity", async () => {
		const { w, clock } = world((s) => {
			s.nodes.instanceType = "ecs.sim.big";
			s.instanceTypes[2]!.eniTotalQuantity = 10; // 2 members
		});
		const inst = w.instances()[0]!;
		const trunk = w.createEni({ vswitchId: POD, securityGroupIds: [SG], type: "Trunk" });
		w.attachEni(trunk.eniId, inst.instanceId);
		clock.advance(100);
		await w.settled();
		const ms = [0, 1, 2].map(() => w.createEni({ vswitchId: POD, securityGroupIds: [SG] }));
		w.attachEni(ms[0]!.eniId, inst.instanceId, { trunkEniId: trunk.eniId });
		w.attachEni(ms[1]!.eniId, inst.instanceId, { trunkEniId: trunk.eniId });
		expect(codeOf(() => w.attachEni(ms[2]!.eniId, inst.instanceId, { trunkEniId: trunk.eniId }))).toBe(
			"EniPerInstanceLimitExceeded",
		);
		clock.advance(100);
		await w.settled();
		expect(
			ms
				.slice(0, 2)
				.map((m) => [w.eni(m.eniId)!.type, w.eni(m.eniId)!.deviceIndex, w.eni(m.eniId)!.trunkEniId]),
		).toEqual([
			["Member", 1, trunk.eniId],
			["Member", 2, trunk.eniId],
		]);
		// members are not in metadata (VLANs on the trunk)
		expect(w.metadataEnis(inst.instanceId).map((e) => e.type)).toEqual(["Primary"]);
		clock.advance(1000);
		expect(w.metadataEnis(inst.instanceId).map((e) => e.type)).toEqual(["Primary", "Trunk"]);
		w.close();
	});

	test("STS credentials rotate before expiry and stay valid until their own expiration", () => {
		const { w, clock } = world();
		const id = w.instances()[0]!.instanceId;
		const a = w.stsCredentials(id);
		expect(w.stsCredentials(id)).toEqual(a);
		expect(Date.parse(a.expiration) - clock.now()).toBeGreaterThan(59 * 60_000);
		clock.advance(50 * 60_000);
		const b = w.stsCredentials(id);
		expect(b.accessKeyId).not.toBe(a.accessKeyId);
		expect(w.credential(a.accessKeyId)?.kind).toBe("sts");
		clock.advance(11 * 60_000);
		expect(w.credential(w.stsCredentials(id).accessKeyId)?.kind).toBe("sts");
		expect(w.credential("LTAI5tSimTerwayAccessKey01")).toEqual({
			kind: "static",
			secret: "SimTerwaySecret0000000000000001",
		});
		w.close();
	});

	test("same seed, same world; snapshot -> JSON -> loadWorld round trip, pending ops resume", async () => {
		const a = world().w;
		const b = world().w;
		expect(a.enis()).toEqual(b.enis());
		b.close();
		const inst = a.instances()[0]!;
		const x = a.createEni({ vswitchId: POD, securityGroupIds: [SG], secondaryIpCount: 2, tags: { k: "v" } });
		const y = a.createEni({ vswitchId: POD, securityGroupIds: [SG] });
		a.attachEni(x.eniId, inst.instanceId); // pending at snapshot time
		a.rememberToken("CreateNetworkInterface\u0000t1", "h", { NetworkInterfaceId: y.eniId });
		const snap = JSON.parse(JSON.stringify(a.snapshot()));
		a.close();
		const clock = manualClock();
		const r = loadWorld(snap, { clock });
		expect(r.enis().map((e) => [e.eniId, e.status, e.ips])).toEqual([
			...r.instances().map((i) => [i.primaryEni.eniId, "InUse", i.primaryEni.ips]),
			[x.eniId, "Attaching", x.ips],
			[y.eniId, "Available", y.ips],
		]);
		expect(r.recallToken("CreateNetworkInterface\u0000t1")?.body).toEqual({ NetworkInterfaceId: y.eniId });
		clock.advance(100);
		await r.settled();
		expect(r.eni(x.eniId)!.status).toBe("InUse");
		// the allocator knows which addresses are used: a new ENI never reuses them
		const z = r.createEni({ vswitchId: POD, securityGroupIds: [SG], secondaryIpCount: 10 });
		expect(z.ips.some((ip) => x.ips.includes(ip) || y.ips.includes(ip))).toBe(false);
		expect(() => loadWorld({ kind: "nope" })).toThrow(/not a world snapshot/);
		r.close();
	});

	test("close() stops pending transitions", () => {
		const { w, clock } = world();
		const e = w.createEni({ vswitchId: POD, securityGroupIds: [SG] });
		w.attachEni(e.eniId, w.instances()[0]!.instanceId);
		w.close();
		clock.advance(1000);
		expect(w.eni(e.eniId)!.status).toBe("Attaching");
	});
});
