/**
 * The metadata face over a real listener (Bun.serve on 127.0.0.1, port 0), exercised by the
 * clients that will use it: plain fetch, curl (spawned asynchronously: a spawnSync would block
 * the event loop this very server answers on), and the real @alicloud/credentials 2.4.7 —
 * its credentials_uri provider (what loopback mode uses, via ALIBABA_CLOUD_CREDENTIALS_URI) and
 * its ecs_ram_role provider (what netns mode uses at 100.100.100.200; here its requests are
 * re-addressed to the listener, everything else is the library's own code).
 * No root needed.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import Credential, { Config, ECSRAMRoleCredentialsProvider } from "@alicloud/credentials";
import { FaultEngine } from "../../src/sim/faults.ts";
import { FakeMetadataSource } from "../../src/sim/metadata/fake-source.ts";
import {
	createMetadataHandler,
	identifyByHeader,
	SIM_INSTANCE_HEADER,
	TOKEN_HEADER,
	TOKEN_TTL_HEADER,
} from "../../src/sim/metadata/index.ts";
import { RequestLog } from "../../src/sim/request-log.ts";

const I1 = "i-sim000001";
const I2 = "i-sim000002";

const source = new FakeMetadataSource();
const log = new RequestLog();
const faults = new FaultEngine(3);
const options = { hardened: false };
let pending = 0;
let server: ReturnType<typeof Bun.serve>;
let base: string;

// One listener, two handlers over the same world, log and faults (each with its own tokens):
// `options.hardened` picks the one in "hardened only" mode for a test.
const handlers = {
	open: createMetadataHandler({ source, identify: identifyByHeader, faults, log }),
	hardened: createMetadataHandler({ source, identify: identifyByHeader, faults, log, hardened: true }),
};

beforeAll(() => {
	server = Bun.serve({
		hostname: "127.0.0.1",
		port: 0,
		idleTimeout: 10,
		fetch: async (req, srv) => {
			pending++;
			try {
				const h = options.hardened ? handlers.hardened : handlers.open;
				return await h(req, srv.requestIP(req) ?? { address: "" });
			} finally {
				pending--;
			}
		},
	});
	base = `http://127.0.0.1:${server.port}`;
});

afterAll(async () => {
	await server.stop(true);
});

async function curl(...args: string[]): Promise<{ code: number; status: number; body: string }> {
	const proc = Bun.spawn(["curl", "-sS", "--max-time", "5", "-o", "-", "-w", "\n%{http_code}", ...args], {
		stdout: "pipe",
		stderr: "pipe",
	});
	const [out, err, code] = await Promise.all([
		new Response(proc.stdout).text(),
		new Response(proc.stderr).text(),
		proc.exited,
	]);
	if (code !== 0) throw new Error(`curl exited ${code}: ${err}`);
	const nl = out.lastIndexOf("\n");
	return { code, status: Number(out.slice(nl + 1)), body: out.slice(0, nl) };
}

describe("fetch", () => {
	test("token, then Terway's reads with it", async () => {
		const put = await fetch(`${base}/latest/api/token`, {
			method: "PUT",
			headers: { [TOKEN_TTL_HEADER]: "21600", [SIM_INSTANCE_HEADER]: I1 },
		});
		expect(put.status).toBe(200);
		const token = await put.text();
		const get = async (p: string) => {
			const r = await fetch(`${base}/latest/meta-data/${p}`, {
				headers: { [TOKEN_HEADER]: token, [SIM_INSTANCE_HEADER]: I1 },
			});
			return [r.status, await r.text()];
		};
		expect(await get("instance-id")).toEqual([200, I1]);
		expect(await get("instance/instance-type")).toEqual([200, "ecs.g7.large"]);
		expect(await get("mac")).toEqual([200, "00:16:3e:00:00:01"]);
		expect(await get("network/interfaces/macs/")).toEqual([200, "00:16:3e:00:00:01/"]);
		expect(await get("network/interfaces/macs/00:16:3e:00:00:01/private-ipv4s")).toEqual([
			200,
			'["198.18.0.11"]',
		]);
		expect(await get("network/interfaces/macs/00:16:3e:00:00:01/ipv6s")).toEqual([200, "[fd00:198:18::11]"]);
	});

	test("no instance header → 403 from the sim, not a silent default", async () => {
		const r = await fetch(`${base}/latest/meta-data/instance-id`);
		expect(r.status).toBe(403);
		expect(r.headers.get("x-sim-error")).toContain("X-Sim-Instance-Id");
	});
});

describe("curl", () => {
	test("the documented two-step: PUT a token, GET with it", async () => {
		const t = await curl(
			"-X",
			"PUT",
			"-H",
			`${TOKEN_TTL_HEADER}: 60`,
			"-H",
			`${SIM_INSTANCE_HEADER}: ${I2}`,
			`${base}/latest/api/token`,
		);
		expect(t.status).toBe(200);
		const r = await curl(
			"-H",
			`${TOKEN_HEADER}: ${t.body}`,
			"-H",
			`${SIM_INSTANCE_HEADER}: ${I2}`,
			`${base}/latest/meta-data/network/interfaces/macs/00:16:3e:00:00:02/ipv6s`,
		);
		// I2 has no IPv6: 404, which Terway reads as "none".
		expect(r.status).toBe(404);
		expect(r.body).toContain("<title>404 - Not Found</title>");
	});

	test("TTL out of range → 400; a bad token → 401", async () => {
		const t = await curl(
			"-X",
			"PUT",
			"-H",
			`${TOKEN_TTL_HEADER}: 21700`,
			"-H",
			`${SIM_INSTANCE_HEADER}: ${I1}`,
			`${base}/latest/api/token`,
		);
		expect(t.status).toBe(400);
		const r = await curl(
			"-H",
			`${TOKEN_HEADER}: aaa`,
			"-H",
			`${SIM_INSTANCE_HEADER}: ${I1}`,
			`${base}/latest/meta-data/`,
		);
		expect(r.status).toBe(401);
	});

	test("directory listing", async () => {
		const r = await curl("-H", `${SIM_INSTANCE_HEADER}: ${I1}`, `${base}/latest/meta-data/`);
		expect(r.status).toBe(200);
		expect(r.body.split("\n")).toEqual(
			expect.arrayContaining(["instance-id", "instance/", "network/", "ram/", "mac", "vpc-id", "zone-id"]),
		);
	});

	test("hang: curl gives up, and the server lets go of the request", async () => {
		faults.add({
			id: "hang-curl",
			match: { face: "metadata", action: "hostname" },
			effect: { kind: "hang" },
			times: 1,
		});
		const proc = Bun.spawn(
			[
				"curl",
				"-sS",
				"--max-time",
				"0.5",
				"-H",
				`${SIM_INSTANCE_HEADER}: ${I1}`,
				`${base}/latest/meta-data/hostname`,
			],
			{ stdout: "pipe", stderr: "pipe" },
		);
		const code = await proc.exited;
		expect(code).toBe(28); // CURLE_OPERATION_TIMEDOUT
		for (let i = 0; i < 100 && pending > 0; i++) await Bun.sleep(10);
		expect(pending).toBe(0);
		expect(log.since(0).some((e) => e.fault === "hang-curl")).toBe(true);
	});
});

describe("@alicloud/credentials 2.4.7 gets the STS triple from the sim", () => {
	test("credentials_uri provider (loopback mode)", async () => {
		const cred = new Credential(
			new Config({ type: "credentials_uri", credentialsURI: `${base}/sim/credentials/${I1}` }),
		);
		const c = await cred.getCredential();
		expect({
			id: c.accessKeyId,
			secret: c.accessKeySecret,
			token: c.securityToken,
			type: c.type,
			provider: c.providerName,
		}).toEqual({
			id: "STS.sim-i-sim000001-1",
			secret: "secret-i-sim000001-1",
			token: "token-i-sim000001-1",
			type: "credentials_uri",
			provider: "credential_uri",
		});
	});

	test("the default chain with ALIBABA_CLOUD_CREDENTIALS_URI, and rotation", async () => {
		const keys = [
			"ALIBABA_CLOUD_CREDENTIALS_URI",
			"ALIBABA_CLOUD_ECS_METADATA_DISABLED",
			"ALIBABA_CLOUD_ACCESS_KEY_ID",
			"ALIBABA_CLOUD_ACCESS_KEY_SECRET",
			"ALIBABA_CLOUD_SECURITY_TOKEN",
			"ALIBABA_CLOUD_ROLE_ARN",
			"ALIBABA_CLOUD_OIDC_PROVIDER_ARN",
			"ALIBABA_CLOUD_OIDC_TOKEN_FILE",
			"ALIBABA_CLOUD_CLI_PROFILE_DISABLED",
			"ALIBABA_CLOUD_CREDENTIALS_FILE",
		] as const;
		const saved = Object.fromEntries(keys.map((k) => [k, process.env[k]]));
		try {
			for (const k of keys) delete process.env[k];
			process.env.ALIBABA_CLOUD_CREDENTIALS_URI = `${base}/sim/credentials/${I2}`;
			// Off this machine's network the ECS provider would wait on 100.100.100.200 first.
			process.env.ALIBABA_CLOUD_ECS_METADATA_DISABLED = "true";
			process.env.ALIBABA_CLOUD_CLI_PROFILE_DISABLED = "true";
			process.env.ALIBABA_CLOUD_CREDENTIALS_FILE = "/nonexistent/credentials";
			// Expiring within the library's 15-minute stale window: it refetches on every call.
			source.rotate(I2, new Date(Date.now() + 10 * 60_000).toISOString());
			const cred = new Credential();
			const a = await cred.getCredential();
			expect(a.accessKeyId).toBe("STS.sim-i-sim000002-2");
			// The chain fell through to the URI provider (not env, profile or ECS metadata).
			expect(a.providerName).toBe("default/credential_uri");
			source.rotate(I2, new Date(Date.now() + 60 * 60_000).toISOString());
			const b = await cred.getCredential();
			expect([b.accessKeyId, b.accessKeySecret, b.securityToken]).toEqual([
				"STS.sim-i-sim000002-3",
				"secret-i-sim000002-3",
				"token-i-sim000002-3",
			]);
		} finally {
			for (const k of keys) {
				if (saved[k] === undefined) delete process.env[k];
				else process.env[k] = saved[k];
			}
		}
	});

	test("ecs_ram_role provider, hardened mode (token, role name, Code check)", async () => {
		options.hardened = true;
		const since = log.lastSeq;
		try {
			const provider = ECSRAMRoleCredentialsProvider.builder().withDisableIMDSv1(true).build();
			// The library hard-codes 100.100.100.200 (netns mode's address); re-address its
			// requests to this listener and say who is asking, as the source IP would.
			type Req = { host: string; headers: Record<string, string> };
			const inner = provider as unknown as { doRequest: (r: Req) => Promise<unknown> };
			const original = inner.doRequest;
			inner.doRequest = (r) => {
				expect(r.host).toBe("100.100.100.200");
				const moved = Object.assign(Object.create(Object.getPrototypeOf(r)), r, {
					host: `127.0.0.1:${server.port}`,
					headers: { ...r.headers, [SIM_INSTANCE_HEADER]: I1 },
				});
				return original.call(inner, moved);
			};
			const c = await provider.getCredentials();
			provider.close();
			expect([c.accessKeyId, c.accessKeySecret, c.securityToken, c.providerName]).toEqual([
				"STS.sim-i-sim000001-1",
				"secret-i-sim000001-1",
				"token-i-sim000001-1",
				"ecs_ram_role",
			]);
			expect(
				log
					.since(since)
					.filter((e) => e.face === "metadata")
					.map((e) => [e.what, e.status, e.instanceId]),
			).toEqual([
				["/latest/api/token", 200, I1],
				["ram/security-credentials/", 200, I1],
				["/latest/api/token", 200, I1],
				["ram/security-credentials/TerwaySimRole", 200, I1],
			]);
		} finally {
			options.hardened = false;
		}
	});

	test("a failing credentials endpoint surfaces as the client's error", async () => {
		faults.add({
			id: "sts-down",
			match: { face: "metadata", action: "/sim/credentials/" },
			effect: { kind: "error", code: "ServiceUnavailable", status: 503 },
			times: 1,
		});
		const cred = new Credential(
			new Config({ type: "credentials_uri", credentialsURI: `${base}/sim/credentials/${I1}` }),
		);
		await expect(cred.getCredential()).rejects.toThrow(/httpStatus: 503/);
	});
});
