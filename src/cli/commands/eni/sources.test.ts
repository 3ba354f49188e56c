import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cloudConfigFrom, cloudKeys, clusterEniConf, readConfigFile } from "./sources.ts";

const dir = mkdtempSync(join(tmpdir(), "terwayctl-eni-src-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("eni cloud configuration (terwayd's sources)", () => {
	test("Terway's eni_conf keys; the daemon config's top-level region; empty values ignored", () => {
		expect(
			cloudKeys({
				access_key: "AK",
				access_secret: "SK",
				credential_path: "/etc/cred.json",
				region_id: "cn-beijing",
			}),
		).toEqual({
			accessKeyId: "AK",
			accessKeySecret: "SK",
			credentialPath: "/etc/cred.json",
			regionId: "cn-beijing",
		});
		expect(cloudKeys({ access_key: "" }, { region: "cn-hangzhou" })).toEqual({ regionId: "cn-hangzhou" });
	});

	test("config files: JSON or YAML, eni_conf as an object or a JSON string; unreadable is a usage error", () => {
		const j = join(dir, "d.json");
		writeFileSync(j, JSON.stringify({ eni_conf: JSON.stringify({ region_id: "cn-shanghai" }), region: "x" }));
		expect(cloudConfigFrom(j)).toEqual({ regionId: "cn-shanghai" });
		const y = join(dir, "d.yaml");
		writeFileSync(y, "region: cn-hangzhou\neni_conf:\n  access_key: AK\n  access_secret: SK\n");
		expect(cloudConfigFrom(y)).toEqual({ accessKeyId: "AK", accessKeySecret: "SK", regionId: "cn-hangzhou" });
		const bad = join(dir, "bad.json");
		writeFileSync(bad, JSON.stringify({ eni_conf: "{nope" }));
		expect(() => readConfigFile(bad)).toThrow(`--config ${bad}: eni_conf is a string but not JSON`);
		try {
			readConfigFile(join(dir, "missing.json"));
			throw new Error("no error");
		} catch (e) {
			expect((e as { exitCode: number }).exitCode).toBe(2);
		}
	});

	test("no kubeconfig and not in a pod: no ConfigMap, no note", async () => {
		const keys = ["KUBECONFIG", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"] as const;
		const saved = keys.map((k) => process.env[k]);
		for (const k of keys) delete process.env[k];
		try {
			expect(await clusterEniConf()).toEqual({});
		} finally {
			keys.forEach((k, i) => {
				if (saved[i] !== undefined) process.env[k] = saved[i];
			});
		}
	});

	test("an unreadable kubeconfig is a note, not a failure", async () => {
		const r = await clusterEniConf(join(dir, "no-kubeconfig"));
		expect(r.eniConf).toBeUndefined();
		expect(r.note).toStartWith("ConfigMap kube-system/eni-config not read (");
	});
});
