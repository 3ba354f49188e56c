/**
 * `terwayctl daemon --config F` takes the AccessKey from eni_conf's `access_key`/`access_secret`
 * (Terway's first credential source) when the environment has none: the process against the
 * in-process loopback sim, standalone, without kernel links. A wrong secret in the config is
 * refused by the sim's signature check, and the daemon does not become ready.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { POD_VSW, type Sim, startSim } from "../cloud/sim.ts";
import { prefixFor } from "../helpers/env.ts";

const ENTRY = join(import.meta.dir, "../../src/bin/terwayctl.ts");
const dir = mkdtempSync(join(tmpdir(), `${prefixFor("cr")}-`));
let sim: Sim;

/** The environment a node has, minus any AccessKey. */
function env(): Record<string, string> {
	const e: Record<string, string> = {};
	for (const [k, v] of Object.entries(process.env))
		if (
			v !== undefined &&
			!k.startsWith("ALIBABA_CLOUD_") &&
			!k.startsWith("ALICLOUD_ACCESS") &&
			k !== "KUBECONFIG"
		)
			e[k] = v;
	return {
		...e,
		ECS_ENDPOINT: sim.openapi,
		VPC_ENDPOINT: sim.openapi,
		ALICLOUD_CLIENT_SCHEME: "HTTP",
		TERWAY_METADATA_URL: sim.metadataUrl,
		TERWAY_CREDENTIAL_FILE: join(dir, "absent.json"),
	};
}

async function phaseOf(socket: string, ms: number): Promise<string | undefined> {
	const end = Date.now() + ms;
	let phase: string | undefined;
	while (Date.now() < end) {
		try {
			const r = await fetch("http://terwayd/v1/status", { unix: socket, signal: AbortSignal.timeout(1000) });
			phase = ((await r.json()) as { phase?: string }).phase;
			if (phase === "ready") return phase;
		} catch {
			// not listening yet
		}
		await Bun.sleep(200);
	}
	return phase;
}

async function runDaemon(name: string, secret: string, waitMs: number): Promise<string | undefined> {
	const d = join(dir, name);
	const cfg = join(dir, `${name}.json`);
	writeFileSync(
		cfg,
		JSON.stringify({
			eni_conf: {
				access_key: sim.accessKey.id,
				access_secret: secret,
				min_pool_size: 1,
				max_pool_size: 3,
				vswitches: { "cn-hangzhou-i": [POD_VSW] },
			},
			node_name: name,
			state_dir: d,
			socket: `${d}.sock`,
		}),
	);
	const p = Bun.spawn([process.execPath, ENTRY, "daemon", "--config", cfg, "--no-datapath-links"], {
		env: env(),
		stdout: Bun.file(`${d}.log`),
		stderr: Bun.file(`${d}.err.log`),
	});
	try {
		return await phaseOf(`${d}.sock`, waitMs);
	} finally {
		p.kill("SIGTERM");
		await p.exited;
	}
}

describe("terwayd credentials from eni_conf", () => {
	beforeAll(() => {
		sim = startSim();
	});
	afterAll(() => {
		sim.stop();
		rmSync(dir, { recursive: true, force: true });
	});

	test("access_key/access_secret in the config sign the daemon's calls (no AccessKey in the environment)", async () => {
		const seq = sim.log.lastSeq;
		expect(await runDaemon("good", sim.accessKey.secret, 30_000)).toBe("ready");
		const calls = sim.log.since(seq, (e) => e.face === "openapi");
		expect(calls.length).toBeGreaterThan(0);
		expect(
			calls.filter((e) => e.code === "SignatureDoesNotMatch" || e.code === "InvalidAccessKeyId.NotFound"),
		).toEqual([]);
	}, 60_000);

	test("a wrong access_secret is refused by the signature check and the daemon is not ready", async () => {
		const seq = sim.log.lastSeq;
		expect(await runDaemon("bad", "not-the-secret-000000000000000", 4_000)).not.toBe("ready");
		const codes = sim.log.since(seq, (e) => e.face === "openapi").map((e) => e.code);
		expect(codes).toContain("SignatureDoesNotMatch");
	}, 60_000);
});
