/**
 * `terwayctl diagnose`'s credential check with an expired STS token: the node's RAM-role triple
 * from the sim's metadata, the sim's clock moved past its expiry, the real SDK call refused with
 * InvalidSecurityToken.Expired, and the finding names the code and the STS fix. (The netns sim has
 * no clock control; the in-process loopback sim does.)
 */
import { afterAll, expect, test } from "bun:test";
import { credentialsCheck } from "../../src/cli/commands/diagnose/checks/cloud.ts";
import { DiagnoseContext, type DiagnoseDeps } from "../../src/cli/commands/diagnose/context.ts";
import { AliyunEcs, MetadataClient, RamRoleCredentials } from "../../src/cloud/index.ts";
import { FAST_BACKOFFS, REGION, startSim } from "./sim.ts";

const sim = startSim();
afterAll(() => sim.stop());

test("an expired STS token: cloud.credentials is an error naming InvalidSecurityToken.Expired and the STS fix", async () => {
	const md = new MetadataClient({ baseUrl: sim.metadataUrl, env: {}, retry: { durationMs: 5 } });
	const role = new RamRoleCredentials(md, { now: () => sim.clock.now() });
	const triple = await role.get();
	const credentials = {
		source: "env" as const,
		get: async () => triple,
		describe: () => `env STS ${triple.accessKeyId}`,
	};
	const ecs = new AliyunEcs({
		regionId: REGION,
		credentials,
		endpoints: { regionId: REGION, ecs: sim.openapi, vpc: sim.openapi, protocol: "HTTP" },
		backoffs: FAST_BACKOFFS,
	});
	const deps = {
		daemon: { get: () => Promise.reject(new Error("terwayd is down")) },
		socket: "/nonexistent/terwayd.sock",
		cloud: async () => ({ ecs, credentials }),
		metadata: md,
		metadataUrl: sim.metadataUrl,
		conflist: () => ({ path: "/nonexistent" }),
		eniConfig: async () => undefined,
		timeoutMs: 5_000,
	} as unknown as DiagnoseDeps;

	// valid now: the check passes
	const ok = await credentialsCheck.run(new DiagnoseContext(deps));
	expect(ok.map((f) => [f.id, f.severity])).toEqual([["cloud.credentials", "ok"]]);

	// an hour and a minute later the token has expired
	sim.clock.skew += 61 * 60_000;
	const [f] = await credentialsCheck.run(new DiagnoseContext(deps));
	expect({ id: f?.id, layer: f?.layer, severity: f?.severity }).toEqual({
		id: "cloud.credentials",
		layer: "cloud",
		severity: "error",
	});
	expect(f?.message).toContain("InvalidSecurityToken.Expired");
	expect(f?.fix).toContain("STS token expired");
});
