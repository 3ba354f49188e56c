/**
 * Metadata client without a server: format parsing, and the token protocol/retry policy
 * against an injected fetch that records every request.
 */
import { describe, expect, test } from "bun:test";
import {
	METADATA_TOKEN_HEADER,
	METADATA_TOKEN_TTL_HEADER,
	MetadataClient,
	parseIpv4s,
	parseIpv6s,
	parseList,
	parseStsDocument,
	parseValue,
	SIM_INSTANCE_HEADER,
} from "./metadata.ts";
import type { Timer } from "./retry.ts";
import { CloudApiError } from "./types.ts";

describe("formats", () => {
	test("value: first line, slashes trimmed", () => {
		expect(parseValue("i-abc\n")).toBe("i-abc");
		expect(parseValue("/00:16:3e:00:00:01/\nextra")).toBe("00:16:3e:00:00:01");
	});
	test("listing: one per line, trailing slash dropped, empties dropped", () => {
		expect(parseList("00:16:3e:12:34:56/\n00:16:3e:aa:bb:01/\n")).toEqual([
			"00:16:3e:12:34:56",
			"00:16:3e:aa:bb:01",
		]);
		expect(parseList("")).toEqual([]);
	});
	test("private-ipv4s is a JSON array", () => {
		expect(parseIpv4s('["10.0.1.30","10.0.1.11"]')).toEqual(["10.0.1.30", "10.0.1.11"]);
		expect(parseIpv4s("[]")).toEqual([]);
		expect(() => parseIpv4s("[10.0.1.30]")).toThrow(CloudApiError);
		expect(() => parseIpv4s("{}")).toThrow(/not an array/);
	});
	test("ipv6s is bracketed, not JSON", () => {
		expect(parseIpv6s("[fd00:1::a,fd00:1::b]")).toEqual(["fd00:1::a", "fd00:1::b"]);
		expect(parseIpv6s("[fd00:1::a]")).toEqual(["fd00:1::a"]);
		expect(parseIpv6s('["fd00:1::a", "fd00:1::b"]')).toEqual(["fd00:1::a", "fd00:1::b"]);
		expect(parseIpv6s("[]")).toEqual([]);
		expect(parseIpv6s("")).toEqual([]);
		expect(() => parseIpv6s("fd00:1::a")).toThrow(/bracketed/);
	});
	test("STS document: Code must be Success; Expiration parsed", () => {
		const doc = {
			AccessKeyId: "STS.a",
			AccessKeySecret: "s",
			SecurityToken: "t",
			Expiration: "2026-11-27T03:25:35Z",
			LastUpdated: "2026-11-27T02:25:35Z",
			Code: "Success",
		};
		expect(parseStsDocument(JSON.stringify(doc))).toEqual({
			accessKeyId: "STS.a",
			accessKeySecret: "s",
			securityToken: "t",
			expiration: Date.parse("2026-11-27T03:25:35Z"),
		});
		expect(() => parseStsDocument(JSON.stringify({ ...doc, Code: "Failed" }))).toThrow(/not Success/);
		expect(() => parseStsDocument(JSON.stringify({ ...doc, Expiration: "soon" }))).toThrow(/Expiration/);
	});
});

type Seen = { method: string; path: string; headers: Record<string, string> };

/** A fake metadata service as a fetch function: routes, token issuance, scripted statuses. */
function fakeService(script: { status?: number[]; tokens?: string[] } = {}) {
	const seen: Seen[] = [];
	const statuses = [...(script.status ?? [])];
	const tokens = [...(script.tokens ?? ["tok-1", "tok-2", "tok-3"])];
	let valid = new Set<string>();
	const f = (async (input: string | URL | Request, init?: RequestInit) => {
		const url = new URL(String(input));
		const headers = Object.fromEntries(new Headers(init?.headers).entries());
		seen.push({ method: init?.method ?? "GET", path: url.pathname, headers });
		if (url.pathname === "/latest/api/token") {
			const t = tokens.shift() ?? "tok-x";
			valid.add(t);
			return new Response(t);
		}
		const next = statuses.shift();
		if (next !== undefined && next !== 200) return new Response("<title>x</title>", { status: next });
		if (!valid.has(headers[METADATA_TOKEN_HEADER.toLowerCase()] ?? ""))
			return new Response("", { status: 401 });
		if (url.pathname.endsWith("/ipv6s")) return new Response("", { status: 404 });
		return new Response("i-test");
	}) as typeof fetch;
	return {
		fetch: f,
		seen,
		revokeAll() {
			valid = new Set();
		},
	};
}

const noSleep: Timer & { t: number } = {
	t: 0,
	now() {
		return this.t;
	},
	async sleep(ms: number) {
		this.t += ms;
	},
};

describe("token protocol", () => {
	test("PUT with TTL header, then GET with the token; cached for half the TTL", async () => {
		const svc = fakeService();
		const timer = { ...noSleep, t: 0 };
		const m = new MetadataClient({
			baseUrl: "http://md",
			fetch: svc.fetch,
			env: {},
			timer,
			tokenTtlSeconds: 100,
		});
		expect(await m.instanceId()).toBe("i-test");
		expect(await m.regionId()).toBe("i-test");
		timer.t += 49_000;
		await m.zoneId();
		timer.t += 2000; // past TTL/2: a new token
		await m.zoneId();
		expect(
			svc.seen.map((s) => `${s.method} ${s.path} ${s.headers[METADATA_TOKEN_HEADER.toLowerCase()] ?? ""}`),
		).toEqual([
			"PUT /latest/api/token ",
			"GET /latest/meta-data/instance-id tok-1",
			"GET /latest/meta-data/region-id tok-1",
			"GET /latest/meta-data/zone-id tok-1",
			"PUT /latest/api/token ",
			"GET /latest/meta-data/zone-id tok-2",
		]);
		expect(svc.seen[0]!.headers[METADATA_TOKEN_TTL_HEADER.toLowerCase()]).toBe("100");
	});
	test("401: drop the token, fetch a new one, retry once", async () => {
		const svc = fakeService();
		const m = new MetadataClient({ baseUrl: "http://md", fetch: svc.fetch, env: {}, timer: noSleep });
		await m.instanceId();
		svc.revokeAll();
		expect(await m.instanceId()).toBe("i-test");
		expect(svc.seen.map((s) => `${s.method} ${s.path}`)).toEqual([
			"PUT /latest/api/token",
			"GET /latest/meta-data/instance-id",
			"GET /latest/meta-data/instance-id",
			"PUT /latest/api/token",
			"GET /latest/meta-data/instance-id",
		]);
	});
	test("X-Sim-Instance-Id only when TERWAY_SIM_INSTANCE_ID is set", async () => {
		const a = fakeService();
		await new MetadataClient({ baseUrl: "http://md", fetch: a.fetch, env: {} }).instanceId();
		expect(a.seen.some((s) => SIM_INSTANCE_HEADER.toLowerCase() in s.headers)).toBe(false);
		const b = fakeService();
		await new MetadataClient({
			baseUrl: "http://md",
			fetch: b.fetch,
			env: { TERWAY_SIM_INSTANCE_ID: "i-sim1" },
		}).instanceId();
		expect(b.seen.map((s) => s.headers[SIM_INSTANCE_HEADER.toLowerCase()])).toEqual(["i-sim1", "i-sim1"]);
	});
});

describe("retry policy", () => {
	test("5xx and 429 retried (500 ms ×1.2), success after", async () => {
		const svc = fakeService({ status: [500, 429, 503] });
		const slept: number[] = [];
		const timer: Timer = { now: () => 0, sleep: async (ms) => void slept.push(ms) };
		const m = new MetadataClient({ baseUrl: "http://md", fetch: svc.fetch, env: {}, timer });
		expect(await m.instanceId()).toBe("i-test");
		expect(slept.map((x) => Math.round(x))).toEqual([500, 600, 720]);
	});
	test("gives up after 4 attempts with Metadata.<status>", async () => {
		const svc = fakeService({ status: [500, 500, 500, 500, 500] });
		const m = new MetadataClient({ baseUrl: "http://md", fetch: svc.fetch, env: {}, timer: noSleep });
		const e = (await m.instanceId().catch((x) => x)) as CloudApiError;
		expect({ code: e.code, status: e.status, attempts: e.attempts }).toEqual({
			code: "Metadata.500",
			status: 500,
			attempts: 4,
		});
	});
	test("404 is final (and 'none' for ipv6s)", async () => {
		const svc = fakeService({ status: [404] });
		const m = new MetadataClient({ baseUrl: "http://md", fetch: svc.fetch, env: {}, timer: noSleep });
		const e = (await m.instanceId().catch((x) => x)) as CloudApiError;
		expect(e.code).toBe("Metadata.404");
		expect(await m.ipv6s("00:16:3E:00:00:01")).toEqual([]);
		expect(svc.seen.at(-1)!.path).toBe("/latest/meta-data/network/interfaces/macs/00:16:3e:00:00:01/ipv6s");
	});
	test("transport failure → NetworkError, retried", async () => {
		let n = 0;
		const f = (async () => {
			n++;
			throw new TypeError("fetch failed");
		}) as unknown as typeof fetch;
		const m = new MetadataClient({ baseUrl: "http://md", fetch: f, env: {}, timer: noSleep });
		const e = (await m.instanceId().catch((x) => x)) as CloudApiError;
		expect({ code: e.code, n }).toEqual({ code: "NetworkError", n: 4 });
	});
});
