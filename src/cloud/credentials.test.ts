import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
	CredentialConfigError,
	credentialChain,
	FileCredentials,
	parseCredentialFile,
	RamRoleCredentials,
} from "./credentials.ts";
import type { StsCredentials } from "./types.ts";

const dir = mkdtempSync(join(tmpdir(), "cloud-creds-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("chain order", () => {
	test("config beats env beats file beats RAM role", () => {
		const env = {
			ALIBABA_CLOUD_ACCESS_KEY_ID: "envid",
			ALIBABA_CLOUD_ACCESS_KEY_SECRET: "envsecret",
			TERWAY_CREDENTIAL_FILE: "/nonexistent",
		};
		const md = { ramRole: async () => "r", ramCredentials: async () => ({}) as StsCredentials };
		expect(credentialChain({ accessKeyId: "a", accessKeySecret: "b", env, metadata: md }).source).toBe(
			"config",
		);
		expect(credentialChain({ env, metadata: md }).source).toBe("env");
		expect(credentialChain({ env: { TERWAY_CREDENTIAL_FILE: "/x" }, metadata: md }).source).toBe("file");
		expect(credentialChain({ env: {}, metadata: md }).source).toBe("ramRole");
		expect(() => credentialChain({ env: {} })).toThrow(CredentialConfigError);
		expect(() => credentialChain({ accessKeyId: "only-id", env: {} })).toThrow(/both required/);
	});
	test("env security token is passed through; describe() hides the secret", async () => {
		const p = credentialChain({
			env: {
				ALIBABA_CLOUD_ACCESS_KEY_ID: "id",
				ALIBABA_CLOUD_ACCESS_KEY_SECRET: "secret",
				ALIBABA_CLOUD_SECURITY_TOKEN: "tok",
			},
		});
		expect(await p.get()).toEqual({ accessKeyId: "id", accessKeySecret: "secret", securityToken: "tok" });
		expect(p.describe()).not.toContain("secret");
	});
});

describe("RAM role", () => {
	test("asks metadata for the role once, refreshes 5 min before Expiration, keeps old creds on a failed refresh", async () => {
		let now = Date.parse("2026-01-01T00:00:00Z");
		let n = 0;
		let fail = false;
		const roles: string[] = [];
		const md = {
			ramRole: async () => "Worker",
			ramCredentials: async (role: string) => {
				roles.push(role);
				if (fail) throw new Error("metadata down");
				n++;
				return {
					accessKeyId: `STS.${n}`,
					accessKeySecret: "s",
					securityToken: `t${n}`,
					expiration: now + 3600_000,
				};
			},
		};
		const p = new RamRoleCredentials(md, { now: () => now });
		expect((await p.get()).accessKeyId).toBe("STS.1");
		now += 54 * 60_000;
		expect((await p.get()).accessKeyId).toBe("STS.1");
		now += 2 * 60_000; // 4 min left: refresh
		expect((await p.get()).accessKeyId).toBe("STS.2");
		expect(p.role).toBe("Worker");
		now += 56 * 60_000;
		fail = true;
		expect((await p.get()).accessKeyId).toBe("STS.2"); // still valid for a few minutes
		expect(String(p.lastError)).toContain("metadata down");
		now += 5 * 60_000; // expired: the failure surfaces
		await expect(p.get()).rejects.toThrow("metadata down");
		expect(roles).toEqual(["Worker", "Worker", "Worker", "Worker"]);
	});
	test("no role → Metadata.NoRamRole", async () => {
		const p = new RamRoleCredentials({
			ramRole: async () => undefined,
			ramCredentials: async () => ({}) as StsCredentials,
		});
		await expect(p.get()).rejects.toMatchObject({ code: "Metadata.NoRamRole" });
	});
});

describe("credential file", () => {
	test("plain AK/SK and STS forms", () => {
		expect(parseCredentialFile('{"AccessKeyId":"a","AccessKeySecret":"b"}')).toEqual({
			accessKeyId: "a",
			accessKeySecret: "b",
		});
		expect(
			parseCredentialFile(
				'{"AccessKeyId":"a","AccessKeySecret":"b","SecurityToken":"t","Expiration":"2026-01-01T00:00:00Z"}',
			),
		).toEqual({
			accessKeyId: "a",
			accessKeySecret: "b",
			securityToken: "t",
			expiration: Date.parse("2026-01-01T00:00:00Z"),
		});
		expect(() => parseCredentialFile("nope")).toThrow(/not JSON/);
		expect(() => parseCredentialFile('{"AccessKeyId":"a"}')).toThrow(/required/);
	});
	test("re-read when the file changes", async () => {
		const path = join(dir, "token.json");
		writeFileSync(path, '{"AccessKeyId":"a1","AccessKeySecret":"s"}');
		utimesSync(path, 1000, 1000);
		const p = new FileCredentials(path);
		expect((await p.get()).accessKeyId).toBe("a1");
		writeFileSync(path, '{"AccessKeyId":"a2","AccessKeySecret":"s"}');
		utimesSync(path, 2000, 2000);
		expect((await p.get()).accessKeyId).toBe("a2");
	});
});
