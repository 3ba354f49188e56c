import { describe, expect, test } from "bun:test";
import type { WorldHandle } from "../contracts.ts";
import { FaultEngine } from "../faults.ts";
import { RequestLog } from "../request-log.ts";
import { FAKE_VPC, FakeMetadataSource, fakeEni } from "./fake-source.ts";
import { createMetadataHandler, type MetadataHandlerOptions } from "./handler.ts";
import {
	identifyAs,
	identifyByHeader,
	identifyBySourceIp,
	plainIpv4,
	SIM_INSTANCE_HEADER,
} from "./identify.ts";
import { errorPage } from "./pages.ts";
import { TOKEN_HEADER, TOKEN_TTL_HEADER } from "./tokens.ts";

const I1 = "i-sim000001";
const I2 = "i-sim000002";
const BASE = "http://100.100.100.200";

function setup(over: Partial<MetadataHandlerOptions> = {}) {
	const source = new FakeMetadataSource();
	const log = new RequestLog();
	const faults = new FaultEngine(7);
	const clock = { now: Date.parse("2026-11-27T03:00:00Z") };
	const slept: number[] = [];
	const handler = createMetadataHandler({
		source,
		identify: identifyByHeader,
		log,
		faults,
		now: () => clock.now,
		sleep: async (ms) => {
			slept.push(ms);
		},
		vpcCidrs: (id) => (id === FAKE_VPC.id ? FAKE_VPC : undefined),
		...over,
	});
	const call = (
		path: string,
		init: {
			method?: string;
			headers?: Record<string, string>;
			as?: string | null;
			signal?: AbortSignal;
		} = {},
	) => {
		const headers: Record<string, string> = { ...init.headers };
		if (init.as !== null) headers[SIM_INSTANCE_HEADER] = init.as ?? I1;
		const req = new Request(`${BASE}${path}`, {
			method: init.method ?? "GET",
			headers,
			...(init.signal ? { signal: init.signal } : {}),
		});
		return handler(req, { address: "127.0.0.1" });
	};
	const token = async (ttl = "21600", as = I1) => {
		const res = await call("/latest/api/token", { method: "PUT", headers: { [TOKEN_TTL_HEADER]: ttl }, as });
		expect(res.status).toBe(200);
		return res.text();
	};
	return { source, log, faults, clock, slept, handler, call, token };
}

describe("paths over HTTP semantics", () => {
	test("a value is text/plain with no trailing newline", async () => {
		const { call } = setup();
		const res = await call("/latest/meta-data/instance-id");
		expect(res.status).toBe(200);
		expect(res.headers.get("content-type")).toBe("text/plain");
		expect(await res.text()).toBe(I1);
	});

	test("network/interfaces/macs/ lists every attached ENI, one per line with a trailing /", async () => {
		const { call, source } = setup();
		source.attach(
			I1,
			fakeEni({ eniId: "eni-sim0000a1", mac: "00:16:3e:aa:bb:01", primaryIp: "198.18.0.30" }),
		);
		const body = await (await call("/latest/meta-data/network/interfaces/macs/")).text();
		expect(body).toBe("00:16:3e:00:00:01/\n00:16:3e:aa:bb:01/");
		// Terway's getArray: split on \n, trim "/".
		expect(body.split("\n").map((l) => l.replace(/^\/+|\/+$/g, ""))).toEqual([
			"00:16:3e:00:00:01",
			"00:16:3e:aa:bb:01",
		]);
	});

	test("the primary ENI is listed first even when the source leaves it out", async () => {
		const { call, source } = setup();
		source.includePrimary = false;
		source.attach(
			I1,
			fakeEni({ eniId: "eni-sim0000a1", mac: "00:16:3e:aa:bb:01", primaryIp: "198.18.0.30" }),
		);
		expect(await (await call("/latest/meta-data/network/interfaces/macs/")).text()).toBe(
			"00:16:3e:00:00:01/\n00:16:3e:aa:bb:01/",
		);
	});

	test("metadata follows the source (an ENI appears only once the source shows it)", async () => {
		const { call, source } = setup();
		const url = "/latest/meta-data/network/interfaces/macs/00:16:3e:aa:bb:01/private-ipv4s";
		expect((await call(url)).status).toBe(404);
		source.attach(
			I1,
			fakeEni({
				eniId: "eni-sim0000a1",
				mac: "00:16:3e:aa:bb:01",
				primaryIp: "198.18.0.30",
				ips: ["198.18.0.30", "198.18.0.31"],
			}),
		);
		expect(await (await call(url)).text()).toBe('["198.18.0.30","198.18.0.31"]');
	});

	test("percent-encoded MACs resolve", async () => {
		const { call } = setup();
		const res = await call(
			"/latest/meta-data/network/interfaces/macs/00%3A16%3A3e%3A00%3A00%3A01/vswitch-id",
		);
		expect(await res.text()).toBe("vsw-sim0001");
	});

	test("each instance sees its own metadata", async () => {
		const { call } = setup();
		expect(await (await call("/latest/meta-data/mac", { as: I2 })).text()).toBe("00:16:3e:00:00:02");
		expect(
			(await call("/latest/meta-data/network/interfaces/macs/00:16:3e:00:00:02/ipv6s", { as: I2 })).status,
		).toBe(404);
		expect(
			(await call("/latest/meta-data/network/interfaces/macs/00:16:3e:00:00:02/mac", { as: I1 })).status,
		).toBe(404);
	});

	test("unknown path → 404 with the service's error page", async () => {
		const { call } = setup();
		for (const p of [
			"/latest/meta-data/no-such-thing",
			"/latest/user-data",
			"/nope",
			"/latest/meta-data/mac/x",
		]) {
			const res = await call(p);
			expect(res.status).toBe(404);
			expect(res.headers.get("content-type")).toBe("text/html");
			expect(await res.text()).toBe(errorPage(404));
		}
		expect(errorPage(404)).toContain("<title>404 - Not Found</title>");
	});

	test("listings above meta-data, and the 2016-01-01 version serves the same tree", async () => {
		const { call } = setup();
		expect(await (await call("/")).text()).toBe("2016-01-01\nlatest");
		expect(await (await call("/latest/")).text()).toBe("meta-data/");
		expect(await (await call("/2016-01-01/meta-data/instance-id")).text()).toBe(I1);
		const root = await (await call("/latest/meta-data/")).text();
		expect(root.split("\n")).toContain("network/");
		expect(await (await call("/latest/meta-data")).text()).toBe(root);
	});

	test("the RAM role document (ram/security-credentials/<role>)", async () => {
		const { call, source, clock } = setup();
		expect(await (await call("/latest/meta-data/ram/security-credentials/")).text()).toBe("TerwaySimRole");
		const body = await (await call("/latest/meta-data/ram/security-credentials/TerwaySimRole")).text();
		expect(body).toBe(
			[
				"{",
				'  "AccessKeyId" : "STS.sim-i-sim000001-1",',
				'  "AccessKeySecret" : "secret-i-sim000001-1",',
				'  "Expiration" : "2026-11-27T09:00:00Z",',
				'  "SecurityToken" : "token-i-sim000001-1",',
				'  "LastUpdated" : "2026-11-27T03:00:00Z",',
				'  "Code" : "Success"',
				"}",
			].join("\n"),
		);
		// LastUpdated stays until the world rotates the triple.
		clock.now += 60_000;
		expect(
			JSON.parse(await (await call("/latest/meta-data/ram/security-credentials/TerwaySimRole")).text()),
		).toMatchObject({ LastUpdated: "2026-11-27T03:00:00Z" });
		source.rotate(I1, "2026-11-27T10:00:00.000Z");
		expect(
			JSON.parse(await (await call("/latest/meta-data/ram/security-credentials/TerwaySimRole")).text()),
		).toEqual({
			AccessKeyId: "STS.sim-i-sim000001-2",
			AccessKeySecret: "secret-i-sim000001-2",
			Expiration: "2026-11-27T10:00:00Z",
			SecurityToken: "token-i-sim000001-2",
			LastUpdated: "2026-11-27T03:01:00Z",
			Code: "Success",
		});
	});

	test("the credentials-URI endpoint names its instance in the path and needs no header or token", async () => {
		const { handler } = setup({ hardened: true });
		const res = await handler(new Request(`${BASE}/sim/credentials/${I2}`), { address: "127.0.0.1" });
		expect(res.status).toBe(200);
		expect(res.headers.get("content-type")).toBe("application/json");
		expect(await res.json()).toEqual({
			AccessKeyId: "STS.sim-i-sim000002-1",
			AccessKeySecret: "secret-i-sim000002-1",
			SecurityToken: "token-i-sim000002-1",
			Expiration: "2026-11-27T09:00:00Z",
			LastUpdated: "2026-11-27T03:00:00Z",
			Code: "Success",
		});
		const missing = await handler(new Request(`${BASE}/sim/credentials/i-nope`), { address: "127.0.0.1" });
		expect(missing.status).toBe(404);
	});

	test("HEAD answers the status without a body; other methods → 405", async () => {
		const { call } = setup();
		const head = await call("/latest/meta-data/instance-id", { method: "HEAD" });
		expect(head.status).toBe(200);
		expect(await head.text()).toBe("");
		expect((await call("/latest/meta-data/instance-id", { method: "POST" })).status).toBe(405);
		expect((await call("/latest/api/token", { method: "GET" })).status).toBe(405);
	});

	test("a source that throws → 500, logged with the error", async () => {
		const { call, source, log } = setup();
		source.stsCredentials = () => {
			throw new Error("sts broke");
		};
		expect((await call("/latest/meta-data/ram/security-credentials/TerwaySimRole")).status).toBe(500);
		expect(log.since(0).at(-1)).toMatchObject({ status: 500, detail: { error: "sts broke" } });
	});
});

describe("token protocol", () => {
	test("PUT /latest/api/token → a token; GETs with it are answered", async () => {
		const { call, token } = setup();
		const t = await token();
		expect(t).toMatch(/^[A-Za-z0-9_-]{40,}$/);
		const res = await call("/latest/meta-data/instance-id", { headers: { [TOKEN_HEADER]: t } });
		expect(res.status).toBe(200);
		expect(await res.text()).toBe(I1);
	});

	test("the token response echoes the TTL", async () => {
		const { call } = setup();
		const res = await call("/latest/api/token", { method: "PUT", headers: { [TOKEN_TTL_HEADER]: "300" } });
		expect(res.headers.get(TOKEN_TTL_HEADER)).toBe("300");
	});

	test.each([["0"], ["21601"], ["-1"], ["abc"], ["1.5"], [""], ["99999999999"]])(
		"TTL %p → 400 - Missing or Invalid Parameters",
		async (ttl) => {
			const { call } = setup();
			const res = await call("/latest/api/token", { method: "PUT", headers: { [TOKEN_TTL_HEADER]: ttl } });
			expect(res.status).toBe(400);
			expect(await res.text()).toContain("<title>400 - Missing or Invalid Parameters</title>");
		},
	);

	test("missing TTL header → 400", async () => {
		const { call } = setup();
		expect((await call("/latest/api/token", { method: "PUT" })).status).toBe(400);
	});

	test("TTL bounds 1 and 21600 are accepted", async () => {
		const { token } = setup();
		await token("1");
		await token("21600");
	});

	test("tokenTtlMaxSeconds lowers the bound", async () => {
		const { call } = setup({ tokenTtlMaxSeconds: 60 });
		const put = (ttl: string) =>
			call("/latest/api/token", { method: "PUT", headers: { [TOKEN_TTL_HEADER]: ttl } });
		expect((await put("60")).status).toBe(200);
		expect((await put("61")).status).toBe(400);
	});

	test("a token PUT relayed with X-Forwarded-For → 403", async () => {
		const { call } = setup();
		const res = await call("/latest/api/token", {
			method: "PUT",
			headers: { [TOKEN_TTL_HEADER]: "60", "X-Forwarded-For": "198.18.9.9" },
		});
		expect(res.status).toBe(403);
	});

	test("an expired token → 401 (TTL seconds on the injected clock)", async () => {
		const { call, token, clock, log } = setup();
		const t = await token("2");
		const get = () => call("/latest/meta-data/instance-id", { headers: { [TOKEN_HEADER]: t } });
		clock.now += 1_999;
		expect((await get()).status).toBe(200);
		clock.now += 1;
		const res = await get();
		expect(res.status).toBe(401);
		expect(await res.text()).toContain("401 - Unauthorized");
		expect(log.since(0).at(-1)).toMatchObject({ status: 401, detail: { token: "expired" } });
		// Stays dead.
		expect((await get()).status).toBe(401);
	});

	test("an invalid token → 401 even when tokens are optional", async () => {
		const { call, log } = setup();
		const res = await call("/latest/meta-data/instance-id", { headers: { [TOKEN_HEADER]: "aaa" } });
		expect(res.status).toBe(401);
		expect(log.since(0).at(-1)).toMatchObject({ status: 401, detail: { token: "invalid" } });
	});

	test("a token is bound to the instance that asked for it", async () => {
		const { call, token, log } = setup();
		const t = await token("600", I1);
		expect(
			(await call("/latest/meta-data/instance-id", { as: I2, headers: { [TOKEN_HEADER]: t } })).status,
		).toBe(401);
		expect(log.since(0).at(-1)).toMatchObject({ instanceId: I2, detail: { token: "otherInstance" } });
		expect(
			(await call("/latest/meta-data/instance-id", { as: I1, headers: { [TOKEN_HEADER]: t } })).status,
		).toBe(200);
	});

	test("without hardened mode a GET without a token is answered", async () => {
		const { call } = setup();
		expect((await call("/latest/meta-data/instance-id")).status).toBe(200);
	});

	test("hardened mode: a GET without a token → 401; with one → 200", async () => {
		const { call, token, log } = setup({ hardened: true });
		const res = await call("/latest/meta-data/instance-id");
		expect(res.status).toBe(401);
		expect(log.since(0).at(-1)).toMatchObject({ status: 401, detail: { token: "missing" } });
		const t = await token();
		expect((await call("/latest/meta-data/instance-id", { headers: { [TOKEN_HEADER]: t } })).status).toBe(
			200,
		);
	});

	test("hardened mode: the status for a missing token is configurable", async () => {
		const { call } = setup({ hardened: true, hardenedStatus: 403 });
		expect((await call("/latest/meta-data/instance-id")).status).toBe(403);
	});
});

describe("identify", () => {
	test("by header: unknown or missing → 403 naming the header, logged with the peer", async () => {
		const { call, log } = setup();
		const res = await call("/latest/meta-data/instance-id", { as: "i-nope" });
		expect(res.status).toBe(403);
		expect(await res.text()).toContain("X-Sim-Instance-Id");
		expect(log.since(0).at(-1)).toMatchObject({ status: 403, detail: { peer: "127.0.0.1" } });
		expect(log.since(0).at(-1)?.instanceId).toBeUndefined();
		expect((await call("/latest/meta-data/instance-id", { as: null })).status).toBe(403);
	});

	test("by source IP (netns mode), including IPv4-mapped peers", async () => {
		const { handler } = setup({ identify: identifyBySourceIp });
		const ask = (address: string) =>
			handler(new Request(`${BASE}/latest/meta-data/instance-id`), { address }).then(async (r) => [
				r.status,
				await r.text(),
			]);
		expect(await ask("198.18.0.11")).toEqual([200, I1]);
		expect(await ask("::ffff:198.18.0.12")).toEqual([200, I2]);
		expect((await ask("198.18.0.99"))[0]).toBe(403);
	});

	test("a fixed instance per listener (loopback, one port per node) ignores the header", async () => {
		const { call } = setup({ identify: identifyAs(I2) });
		expect(await (await call("/latest/meta-data/instance-id", { as: I1 })).text()).toBe(I2);
	});

	test("plainIpv4", () => {
		expect(plainIpv4("::ffff:198.18.0.10")).toBe("198.18.0.10");
		expect(plainIpv4("198.18.0.10")).toBe("198.18.0.10");
		expect(plainIpv4("fd00::1")).toBe("fd00::1");
	});
});

describe("faults (face metadata, action = the logged path, prefix match)", () => {
	test("error → that status, logged with the rule id", async () => {
		const { call, faults, log } = setup();
		faults.add({
			id: "boom",
			match: { face: "metadata", action: "network/interfaces/macs/" },
			effect: { kind: "error", code: "InternalError", status: 503 },
			times: 1,
		});
		const res = await call("/latest/meta-data/network/interfaces/macs/00:16:3e:00:00:01/private-ipv4s");
		expect(res.status).toBe(503);
		expect(await res.text()).toContain("503 - Service Unavailable");
		expect(log.since(0).at(-1)).toMatchObject({
			face: "metadata",
			what: "network/interfaces/macs/00:16:3e:00:00:01/private-ipv4s",
			status: 503,
			fault: "boom",
			instanceId: I1,
		});
		// times: 1 → spent.
		expect((await call("/latest/meta-data/network/interfaces/macs/")).status).toBe(200);
		// Other paths never matched.
		expect((await call("/latest/meta-data/mac")).status).toBe(200);
	});

	test("throttle → 429 with Retry-After", async () => {
		const { call, faults } = setup();
		faults.add({ match: { face: "metadata" }, effect: { kind: "throttle", retryAfterMs: 1500 }, times: 2 });
		const a = await call("/latest/meta-data/mac");
		expect(a.status).toBe(429);
		expect(a.headers.get("retry-after")).toBe("2");
		expect(
			(await call("/latest/api/token", { method: "PUT", headers: { [TOKEN_TTL_HEADER]: "60" } })).status,
		).toBe(429);
		expect((await call("/latest/meta-data/mac")).status).toBe(200);
	});

	test("faults match per instance", async () => {
		const { call, faults } = setup();
		faults.add({
			match: { face: "metadata", instanceId: I2 },
			effect: { kind: "error", code: "x", status: 500 },
		});
		expect((await call("/latest/meta-data/mac", { as: I1 })).status).toBe(200);
		expect((await call("/latest/meta-data/mac", { as: I2 })).status).toBe(500);
	});

	test("nth: only the 2nd matching request fails", async () => {
		const { call, faults } = setup();
		faults.add({
			match: { face: "metadata", action: "mac", nth: 2 },
			effect: { kind: "error", code: "x", status: 500 },
		});
		const statuses = [];
		for (let i = 0; i < 3; i++) statuses.push((await call("/latest/meta-data/mac")).status);
		expect(statuses).toEqual([200, 500, 200]);
	});

	test("latency → waits, then answers normally", async () => {
		const { call, faults, slept, log } = setup();
		faults.add({ match: { face: "metadata", action: "instance-id" }, effect: { kind: "latency", ms: 250 } });
		const res = await call("/latest/meta-data/instance-id");
		expect(res.status).toBe(200);
		expect(await res.text()).toBe(I1);
		expect(slept).toEqual([250]);
		expect(log.since(0).at(-1)?.fault).toBe("f1");
	});

	test("hang → no answer until the client gives up; logged at once", async () => {
		const { call, faults, log } = setup();
		faults.add({ match: { face: "metadata", action: "mac" }, effect: { kind: "hang" }, times: 1 });
		const ac = new AbortController();
		let settled = false;
		const pending = call("/latest/meta-data/mac", { signal: ac.signal }).then((r) => {
			settled = true;
			return r;
		});
		await Bun.sleep(0);
		await Bun.sleep(0);
		expect(settled).toBe(false);
		expect(log.since(0).at(-1)).toMatchObject({ what: "mac", fault: "f1", detail: { hang: true } });
		ac.abort();
		await pending;
		expect(settled).toBe(true);
	});

	test("rules of other faces and kinds the metadata face cannot act on are left alone", async () => {
		const { call, faults } = setup();
		faults.add({ match: { face: "openapi" }, effect: { kind: "error", code: "x", status: 500 } });
		faults.add({ match: { face: "metadata" }, effect: { kind: "metadataLag", ms: 20_000 } });
		expect((await call("/latest/meta-data/mac")).status).toBe(200);
		expect(faults.list().map((r) => r.fired)).toEqual([0, 0]);
	});

	test("the credentials-URI endpoint can be failed too", async () => {
		const { handler, faults } = setup();
		faults.add({
			match: { face: "metadata", action: "/sim/credentials/" },
			effect: { kind: "error", code: "x", status: 500 },
		});
		expect(
			(await handler(new Request(`${BASE}/sim/credentials/${I1}`), { address: "127.0.0.1" })).status,
		).toBe(500);
	});
});

describe("request log", () => {
	test("one entry per request: face, what, status, instanceId", async () => {
		const { call, log, token } = setup();
		const t = await token("60");
		await call("/latest/meta-data/", { headers: { [TOKEN_HEADER]: t } });
		await call("/latest/meta-data/network/interfaces/macs/");
		await call("/latest/meta-data/nope");
		expect(
			log.since(0).map(({ face, what, status, instanceId }) => ({ face, what, status, instanceId })),
		).toEqual([
			{ face: "metadata", what: "/latest/api/token", status: 200, instanceId: I1 },
			{ face: "metadata", what: "/latest/meta-data/", status: 200, instanceId: I1 },
			{ face: "metadata", what: "network/interfaces/macs/", status: 200, instanceId: I1 },
			{ face: "metadata", what: "nope", status: 404, instanceId: I1 },
		]);
		expect(log.since(0)[0]?.detail).toEqual({ method: "PUT" });
		expect(log.since(0)[1]?.detail).toBeUndefined();
		expect(typeof log.since(0)[1]?.durationMs).toBe("number");
	});
});

describe("vpc-cidr-block default", () => {
	test("read from the world's scenario when the source is a WorldHandle", async () => {
		const source = new FakeMetadataSource();
		const world = Object.assign(source, {
			scenario: { vpc: { id: FAKE_VPC.id, cidr: "198.18.0.0/16" } },
		}) as unknown as WorldHandle;
		const handler = createMetadataHandler({ source: world, identify: identifyAs(I1) });
		const res = await handler(new Request(`${BASE}/latest/meta-data/vpc-cidr-block`), { address: "" });
		expect(await res.text()).toBe("198.18.0.0/16");
	});

	test("404 when nothing tells the VPC CIDR", async () => {
		const handler = createMetadataHandler({ source: new FakeMetadataSource(), identify: identifyAs(I1) });
		const res = await handler(new Request(`${BASE}/latest/meta-data/vpc-cidr-block`), { address: "" });
		expect(res.status).toBe(404);
	});
});
