/**
 * The metadata face over the real world model (src/sim/world) rather than the face's own fake:
 * nodes told apart by source IP as in netns mode, the scenario's VPC CIDR, the world's STS
 * triples, and an attached ENI that shows up only after the world's metadata lag.
 * Time is a manual clock, so nothing sleeps.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { createMetadataHandler, identifyBySourceIp } from "../../src/sim/metadata/index.ts";
import { RequestLog } from "../../src/sim/request-log.ts";
import { defaultScenario } from "../../src/sim/world/scenario.ts";
import { type Clock, createWorld, type World } from "../../src/sim/world/world.ts";

class ManualClock implements Clock {
	t = Date.parse("2026-11-27T03:00:00Z");
	#timers = new Map<number, { at: number; fn: () => void }>();
	#next = 0;
	now(): number {
		return this.t;
	}
	setTimeout(fn: () => void, ms: number): unknown {
		const id = ++this.#next;
		this.#timers.set(id, { at: this.t + ms, fn });
		return id;
	}
	clearTimeout(h: unknown): void {
		this.#timers.delete(h as number);
	}
	/** Move time forward, firing due timers in order. */
	advance(ms: number): void {
		const end = this.t + ms;
		for (;;) {
			const due = [...this.#timers.entries()]
				.filter(([, x]) => x.at <= end)
				.sort((a, b) => a[1].at - b[1].at)[0];
			if (!due) break;
			this.#timers.delete(due[0]);
			this.t = due[1].at;
			due[1].fn();
		}
		this.t = end;
	}
}

let world: World | undefined;
afterEach(() => world?.close());

function setup(metadataLagMs = 0) {
	const clock = new ManualClock();
	const scenario = { ...defaultScenario(), metadataLagMs };
	world = createWorld(scenario, { clock, latency: "fast", allocation: "sequential" });
	const log = new RequestLog();
	const handler = createMetadataHandler({
		source: world,
		identify: identifyBySourceIp,
		log,
		now: () => clock.t,
	});
	const get = async (from: string, path: string) => {
		const res = await handler(new Request(`http://100.100.100.200/latest/meta-data/${path}`), {
			address: from,
		});
		return { status: res.status, body: await res.text() };
	};
	return { world, clock, scenario, get, log };
}

describe("metadata face over the world model", () => {
	test("every node sees itself, by source address", async () => {
		const { world, get, scenario } = setup();
		const nodes = world.instances();
		expect(nodes.length).toBeGreaterThan(1);
		for (const n of nodes) {
			const ip = n.primaryEni.primaryIp;
			expect(await get(ip, "instance-id")).toEqual({ status: 200, body: n.instanceId });
			expect(await get(ip, "mac")).toEqual({ status: 200, body: n.primaryEni.mac });
			expect(await get(ip, "vpc-cidr-block")).toEqual({ status: 200, body: scenario.vpc.cidr });
			expect(await get(ip, "region-id")).toEqual({ status: 200, body: scenario.region });
			const macs = await get(ip, "network/interfaces/macs/");
			expect(macs.body.split("\n")[0]).toBe(`${n.primaryEni.mac}/`);
			const v4 = await get(ip, `network/interfaces/macs/${n.primaryEni.mac}/private-ipv4s`);
			expect(JSON.parse(v4.body)).toEqual(n.primaryEni.ips);
		}
	});

	test("the RAM role and its STS document come from the world", async () => {
		const { world, get, scenario } = setup();
		const n = world.instances()[0]!;
		const ip = n.primaryEni.primaryIp;
		expect(await get(ip, "ram/security-credentials/")).toEqual({ status: 200, body: scenario.ramRole });
		const doc = JSON.parse((await get(ip, `ram/security-credentials/${scenario.ramRole}`)).body);
		const sts = world.stsCredentials(n.instanceId);
		expect(doc).toEqual({
			AccessKeyId: sts.accessKeyId,
			AccessKeySecret: sts.accessKeySecret,
			SecurityToken: sts.securityToken,
			Expiration: sts.expiration,
			LastUpdated: "2026-11-27T03:00:00Z",
			Code: "Success",
		});
		expect(doc.Expiration).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
	});

	test("an attached ENI appears in metadata only after the world's lag", async () => {
		const { world, clock, get } = setup(500);
		const n = world.instances()[0]!;
		const ip = n.primaryEni.primaryIp;
		const vsw = world
			.vswitches()
			.find((v) => v.zoneId === n.zoneId && v.vswitchId !== n.primaryEni.vswitchId)!;
		const eni = world.createEni({
			vswitchId: vsw.vswitchId,
			securityGroupIds: n.primaryEni.securityGroupIds,
			secondaryIpCount: 1,
			ipv6Count: 1,
		});
		world.attachEni(eni.eniId, n.instanceId);
		clock.advance(100); // past the "fast" attach latency
		await world.settled();
		expect(world.eni(eni.eniId)?.status).toBe("InUse");
		expect((await get(ip, "network/interfaces/macs/")).body).toBe(`${n.primaryEni.mac}/`);
		expect((await get(ip, `network/interfaces/macs/${eni.mac}/private-ipv4s`)).status).toBe(404);

		clock.advance(500);
		expect((await get(ip, "network/interfaces/macs/")).body).toBe(`${n.primaryEni.mac}/\n${eni.mac}/`);
		const attached = world.eni(eni.eniId)!;
		expect(await get(ip, `network/interfaces/macs/${eni.mac}/network-interface-id`)).toEqual({
			status: 200,
			body: eni.eniId,
		});
		expect(JSON.parse((await get(ip, `network/interfaces/macs/${eni.mac}/private-ipv4s`)).body)).toEqual(
			attached.ips,
		);
		expect((await get(ip, `network/interfaces/macs/${eni.mac}/ipv6s`)).body).toBe(
			`[${attached.ipv6s.join(",")}]`,
		);
		expect(await get(ip, `network/interfaces/macs/${eni.mac}/vswitch-cidr-block`)).toEqual({
			status: 200,
			body: vsw.cidr,
		});
		expect(await get(ip, `network/interfaces/macs/${eni.mac}/gateway`)).toEqual({
			status: 200,
			body: vsw.gateway,
		});
	});
});
