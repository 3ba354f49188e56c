import { describe, expect, test } from "bun:test";
import { createCloud } from "../cloud/index.ts";
import { parseEniConf } from "../core/config/eni-config.ts";
import { cloudBackoffs } from "./backoffs.ts";

describe("backoff_override → the cloud client's backoffs", () => {
	test("Terway names and Go fields map onto the named backoffs; the ECS client uses them", async () => {
		const conf = parseEniConf({
			backoff_override: {
				eni_create: { Duration: 1_000_000, Factor: 1.5, Steps: 3 },
				WaitENIStatus: { InitialDelay: "250ms", Duration: "1s", Cap: "2s" },
				meta_unassign_private_ip: { Duration: "20ms" },
				"": { Steps: 2 },
			},
		}).config;
		const { backoffs, warnings } = cloudBackoffs(conf.backoffOverride);
		expect(warnings).toEqual([]);
		expect(backoffs).toEqual({
			ENICreate: { durationMs: 1, factor: 1.5, steps: 3 },
			WaitENIStatus: { initialDelayMs: 250, durationMs: 1000, capMs: 2000 },
			MetaUnassignPrivateIP: { durationMs: 20 },
			Default: { steps: 2 },
		});
		const cloud = await createCloud({
			env: {
				ECS_ENDPOINT: "127.0.0.1:9",
				VPC_ENDPOINT: "127.0.0.1:9",
				ALIBABA_CLOUD_ACCESS_KEY_ID: "id",
				ALIBABA_CLOUD_ACCESS_KEY_SECRET: "secret",
			},
			regionId: "cn-hangzhou",
			ecs: { backoffs },
		});
		const eff = (cloud.ecs as unknown as { backoffs: Record<string, Record<string, number>> }).backoffs;
		expect(eff.ENICreate).toMatchObject({ durationMs: 1, factor: 1.5, steps: 3, initialDelayMs: 0 });
		expect(eff.WaitENIStatus).toMatchObject({ initialDelayMs: 250, durationMs: 1000, capMs: 2000, steps: 8 });
		expect(eff.ENIOps).toMatchObject({ durationMs: 5000, steps: 6 });
	});

	test("unknown names and Steps 0 are reported by name and left out", () => {
		const { backoffs, warnings } = cloudBackoffs({ ENIFoo: { steps: 2 }, ENIOps: { steps: 0, factor: 3 } });
		expect(backoffs).toEqual({ ENIOps: { factor: 3 } });
		expect(warnings).toHaveLength(2);
		expect(warnings[0]).toContain("backoff_override.ENIFoo");
		expect(warnings[1]).toContain("backoff_override.ENIOps.Steps");
	});
});
