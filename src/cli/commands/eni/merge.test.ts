import { describe, expect, test } from "bun:test";
import type { Eni, MetadataEni } from "../../../cloud/types.ts";
import type { EniInfo } from "../../../daemon/api-types.ts";
import { refusals } from "./delete.ts";
import { ENI_ID, parseEniId } from "./ids.ts";
import { mergeEnis, type Sources, TAG_CREATOR, TAG_CREATOR_VALUE, TAG_INSTANCE } from "./merge.ts";

const I = "i-bp1node000000000001";

function cloudEni(o: Partial<Eni> & { eniId: string; mac: string }): Eni {
	return {
		status: "InUse",
		type: "Secondary",
		instanceId: I,
		vswitchId: "vsw-pod",
		zoneId: "cn-hangzhou-i",
		primaryIp: "198.18.16.5",
		ipv4s: ["198.18.16.5"],
		ipv6s: [],
		ipv4Prefixes: [],
		ipv6Prefixes: [],
		securityGroupIds: [],
		tags: { [TAG_CREATOR]: TAG_CREATOR_VALUE, [TAG_INSTANCE]: I },
		...o,
	};
}

function metaEni(c: Eni): MetadataEni {
	return {
		eniId: c.eniId,
		mac: c.mac,
		primaryIp: c.primaryIp,
		ips: [...c.ipv4s],
		ipv6s: [...c.ipv6s],
		gateway: "198.18.31.253",
		cidr: "198.18.16.0/20",
		vswitchId: c.vswitchId,
	};
}

function daemonEni(c: Eni, pods: Record<string, string> = {}): EniInfo {
	return {
		id: c.eniId,
		mac: c.mac,
		link: "eth1",
		type: "secondary",
		status: "InUse",
		vswitchId: c.vswitchId,
		primaryIp: c.primaryIp,
		ips: [...c.ipv4s, ...c.ipv6s].map((ip) =>
			pods[ip] ? { ip, state: "allocated" as const, pod: pods[ip] } : { ip, state: "idle" as const },
		),
	};
}

const PRIMARY = cloudEni({
	eniId: "eni-bp1primary",
	mac: "00:16:3e:00:00:00",
	type: "Primary",
	vswitchId: "vsw-node",
	primaryIp: "198.18.0.10",
	ipv4s: ["198.18.0.10"],
	tags: {},
});
const SEC = cloudEni({
	eniId: "eni-bp1second",
	mac: "00:16:3e:00:00:01",
	ipv4s: ["198.18.16.5", "198.18.16.6", "198.18.16.7"],
	ipv6s: ["fd00:1::5"],
});

function world(over: Partial<Sources> = {}): Sources {
	return {
		instanceId: I,
		cloud: [PRIMARY, SEC],
		metadata: [metaEni(PRIMARY), metaEni(SEC)],
		primaryMac: PRIMARY.mac,
		daemon: [daemonEni(SEC, { "198.18.16.6": "default/web-1", "fd00:1::5": "default/web-1" })],
		links: new Map([
			[PRIMARY.mac, "eth0"],
			[SEC.mac, "eth1"],
		]),
		...over,
	};
}

describe("eni merge", () => {
	test("all four sources agree: no problems, pods per IP, primary first", () => {
		const v = mergeEnis(world());
		expect(v.map((x) => [x.id, x.type, x.link, x.problems])).toEqual([
			["eni-bp1primary", "Primary", "eth0", []],
			["eni-bp1second", "Secondary", "eth1", []],
		]);
		const sec = v[1]!;
		expect(sec.createdByTerway).toBe(true);
		expect(sec.seen).toEqual({ cloud: true, metadata: true, daemon: true, kernel: true });
		expect(sec.ips).toEqual([
			{ ip: "198.18.16.5", family: 4, primary: true, cloud: true, metadata: true, daemon: "idle", pod: null },
			{
				ip: "198.18.16.6",
				family: 4,
				primary: false,
				cloud: true,
				metadata: true,
				daemon: "allocated",
				pod: "default/web-1",
			},
			{
				ip: "198.18.16.7",
				family: 4,
				primary: false,
				cloud: true,
				metadata: true,
				daemon: "idle",
				pod: null,
			},
			{
				ip: "fd00:1::5",
				family: 6,
				primary: false,
				cloud: true,
				metadata: true,
				daemon: "allocated",
				pod: "default/web-1",
			},
		]);
	});

	test("an ENI in the cloud that metadata does not list yet", () => {
		const v = mergeEnis(world({ metadata: [metaEni(PRIMARY)] }));
		expect(v[1]!.problems).toEqual(["attached (InUse) in the cloud, but metadata does not list its MAC"]);
	});

	test("an ENI terwayd uses that the cloud no longer lists (deleted behind its back)", () => {
		const v = mergeEnis(
			world({ cloud: [PRIMARY], metadata: [metaEni(PRIMARY)], links: new Map([[PRIMARY.mac, "eth0"]]) }),
		);
		expect(v[1]!.id).toBe("eni-bp1second");
		expect(v[1]!.problems).toEqual(["terwayd uses it, but the cloud API does not list it on this instance"]);
		expect(v[1]!.link).toBeNull();
	});

	test("IP disagreements: unassigned in the cloud behind terwayd's back; one terwayd does not track", () => {
		const cloudSec = { ...SEC, ipv4s: ["198.18.16.5", "198.18.16.7", "198.18.16.8"] };
		const v = mergeEnis(
			world({ cloud: [PRIMARY, cloudSec], metadata: [metaEni(PRIMARY), metaEni(cloudSec)] }),
		);
		expect(v[1]!.problems).toEqual([
			"IP 198.18.16.6 (pod default/web-1): terwayd has it, the cloud does not",
			"IP 198.18.16.8: in the cloud, terwayd does not track it",
		]);
	});

	test("an IP in the cloud that metadata does not list", () => {
		const v = mergeEnis(
			world({ metadata: [metaEni(PRIMARY), { ...metaEni(SEC), ips: ["198.18.16.5", "198.18.16.6"] }] }),
		);
		expect(v[1]!.problems).toEqual(["IP 198.18.16.7: in the cloud, not in metadata"]);
	});

	test("a missing link; a link terwayd records elsewhere", () => {
		const gone = mergeEnis(world({ links: new Map([[PRIMARY.mac, "eth0"]]) }));
		expect(gone[1]!.problems).toEqual(["no local link has MAC 00:16:3e:00:00:01"]);
		const moved = mergeEnis(
			world({
				links: new Map([
					[PRIMARY.mac, "eth0"],
					[SEC.mac, "eth7"],
				]),
			}),
		);
		expect(moved[1]!.problems).toEqual(["terwayd records link eth1, the MAC is on eth7"]);
	});

	test("a terway ENI detached and unused (leaked) and one attached that terwayd does not track", () => {
		const leaked = cloudEni({
			eniId: "eni-bp1leaked",
			mac: "00:16:3e:00:00:09",
			status: "Available",
			instanceId: undefined,
		});
		const untracked = cloudEni({
			eniId: "eni-bp1untracked",
			mac: "00:16:3e:00:00:08",
			ipv4s: ["198.18.16.50"],
			primaryIp: "198.18.16.50",
		});
		const v = mergeEnis(
			world({
				cloud: [PRIMARY, SEC, leaked, untracked],
				metadata: [metaEni(PRIMARY), metaEni(SEC), metaEni(untracked)],
				links: new Map([
					[PRIMARY.mac, "eth0"],
					[SEC.mac, "eth1"],
					[untracked.mac, "eth2"],
				]),
			}),
		);
		expect(v.map((x) => x.id)).toEqual([
			"eni-bp1primary",
			"eni-bp1second",
			"eni-bp1untracked",
			"eni-bp1leaked",
		]);
		expect(v[2]!.problems).toEqual(["created by terway and attached, but terwayd does not track it"]);
		expect(v[3]!.attached).toBe(false);
		expect(v[3]!.problems).toEqual([
			`created by terway for ${I} but detached and unused (leaked?): terwayctl eni delete eni-bp1leaked`,
		]);
	});

	test("a source that was not asked never makes a problem", () => {
		const v = mergeEnis({ instanceId: I, cloud: [PRIMARY, SEC] });
		expect(v.flatMap((x) => x.problems)).toEqual([]);
		expect(v[1]!.seen).toEqual({ cloud: true, metadata: null, daemon: null, kernel: null });
		expect(v[1]!.ips[0]).toEqual({
			ip: "198.18.16.5",
			family: 4,
			primary: true,
			cloud: true,
			metadata: null,
			daemon: null,
			pod: null,
		});
		const onlyMeta = mergeEnis({ instanceId: I, metadata: [metaEni(PRIMARY)], primaryMac: PRIMARY.mac });
		expect(onlyMeta.map((x) => [x.id, x.type, x.status, x.problems])).toEqual([
			["eni-bp1primary", "Primary", "InUse", []],
		]);
	});
});

describe("eni delete refusals", () => {
	const ctx = { instanceId: I, daemonAsked: true };
	test("the primary ENI is refused even with --force", () => {
		expect(refusals(PRIMARY, undefined, ctx)).toEqual({
			hard: ["eni-bp1primary is the instance's primary ENI; the cloud cannot detach or delete it"],
			soft: ["not created by terway (no tag creator=terway)"],
		});
	});
	test("in use by pods, not terway's, attached elsewhere: soft (--force overrides)", () => {
		const v = mergeEnis(world())[1];
		expect(refusals(SEC, v, ctx)).toEqual({ hard: [], soft: ["in use by pods default/web-1 (terwayd)"] });
		const foreign = cloudEni({
			eniId: "eni-bp1other",
			mac: "00:16:3e:00:00:07",
			tags: {},
			instanceId: "i-other",
		});
		expect(refusals(foreign, undefined, ctx).soft).toEqual([
			"not created by terway (no tag creator=terway)",
			"attached to another instance (i-other)",
		]);
		expect(refusals(SEC, undefined, { instanceId: I, daemonAsked: false }).soft).toEqual([
			"terwayd is not reachable, so which pods use it is unknown",
		]);
	});
	test("an idle terway ENI of this node may go", () => {
		const idle = mergeEnis(world({ daemon: [daemonEni(SEC)] }))[1];
		expect(refusals(SEC, idle, ctx)).toEqual({ hard: [], soft: [] });
	});
});

describe("ENI ids", () => {
	test("the eni-xxxx form", () => {
		expect(parseEniId("eni-bp1g6nzq2pvlz1x0ngys")).toBe("eni-bp1g6nzq2pvlz1x0ngys");
		expect(ENI_ID.test("eni-")).toBe(false);
		for (const bad of ["foo", "ENI-BP1", "eni-bp1/x", "i-bp1abc", " eni-bp1abc"])
			expect(() => parseEniId(bad)).toThrow("expected the form eni-xxxx");
	});
});

describe("eni --json schema", () => {
	test("list and inspect documents: keys and types pinned (docs/cli/eni.md)", async () => {
		const { listDocument } = await import("./index.ts");
		const { shape } = await import("../status/harness.ts");
		const ok = { ok: true };
		const doc = listDocument({
			sources: world(),
			state: { cloud: ok, metadata: ok, daemon: ok, kernel: { ok: false, note: "skipped" } },
			regionId: "cn-hangzhou",
		});
		const sec = doc.enis[1]!;
		expect(shape({ ...doc, enis: [sec] })).toEqual({
			enis: [
				{
					attached: "boolean",
					createdByTerway: "boolean",
					id: "string",
					ips: [
						{
							cloud: "boolean",
							daemon: "string",
							family: "number",
							ip: "string",
							metadata: "boolean",
							pod: "null",
							primary: "boolean",
						},
					],
					link: "string",
					mac: "string",
					primaryIp: "string",
					problems: [],
					seen: { cloud: "boolean", daemon: "boolean", kernel: "boolean", metadata: "boolean" },
					status: "string",
					tags: { creator: "string", "terwayctl/instance-id": "string" },
					type: "string",
					vswitchId: "string",
				},
			],
			instanceId: "string",
			regionId: "string",
			sources: {
				cloud: { ok: "boolean" },
				daemon: { ok: "boolean" },
				kernel: { note: "string", ok: "boolean" },
				metadata: { ok: "boolean" },
			},
			summary: { enis: "number", ips: "number", podIps: "number", withProblems: "number" },
		});
		expect(doc.summary).toEqual({ enis: 2, withProblems: 0, ips: 5, podIps: 2 });
	});
});
