/**
 * `terwayctl diagnose` against `terwayctl sim up --nodes 2 --cni terway` (netns mode), run inside
 * a node with `sim exec` as a person would. A healthy world reports no warn/error finding; each
 * injected fault is found, named with its layer and its fix:
 *   - a pod's `2048: from <podIP>` rule deleted with `ip rule del` in the node namespace
 *   - a pod's IP unassigned behind terwayd's back (UnassignPrivateIpAddresses through the SDK)
 *   - wrong credentials (the node's AccessKey secret replaced in diagnose's environment)
 *   - a dead daemon (terwayd killed)
 * Root only. Cross-checks with ip (tests may spawn it; src/ never does).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DiagnoseReport, Finding } from "../../src/cli/commands/diagnose/findings.ts";
import type { PodPath } from "../../src/cli/commands/diagnose/pod.ts";
import { StaticCredentials } from "../../src/cloud/credentials.ts";
import { AliyunEcs } from "../../src/cloud/ecs.ts";
import type { EniInfo } from "../../src/daemon/api-types.ts";
import { canRun, prefixFor, sh } from "../helpers/env.ts";
import { ENTRY, type PodView, SimWorld, scenario } from "./world.ts";

const P = prefixFor("dg");
const tmp = mkdtempSync(join(tmpdir(), `${P}-`));
const w = new SimWorld(P);
const N1 = "node-1";

/** `terwayctl diagnose ...` inside the node, with extra env; returns the exit code and the JSON. */
function diagnose(node: string, args: string[] = [], env: Record<string, string> = {}) {
	const envArgs = Object.entries(env).map(([k, v]) => `${k}=${v}`);
	const r = w.cli(
		"sim",
		"exec",
		"--prefix",
		P,
		node,
		"--",
		"env",
		...envArgs,
		process.execPath,
		ENTRY,
		"diagnose",
		...args,
		"--json",
		"--no-tui",
	);
	// the document is pretty-printed; `sim exec` itself (it sees --json in its argv) may add its
	// own one-line {"error": ...} about the command's exit status after it
	const end = r.out.indexOf("\n}");
	let doc: unknown;
	try {
		doc = JSON.parse(end >= 0 ? r.out.slice(0, end + 2) : r.out);
	} catch {
		throw new Error(
			`diagnose printed no JSON (exit ${r.code}): ${r.out.slice(0, 500)} ${r.err.slice(-1000)}`,
		);
	}
	return { code: r.code, doc, err: r.err };
}

const problems = (r: DiagnoseReport): Finding[] =>
	r.findings.filter((f) => f.severity === "warn" || f.severity === "error");
const brief = (fs: Finding[]) => fs.map((f) => `${f.severity} ${f.id} ${f.subject}: ${f.message}`);

/** Diagnose until it reports no problem (the pool refills after pods start), at most `ms`. */
async function healthy(node: string, ms = 30_000): Promise<{ code: number; report: DiagnoseReport }> {
	const end = Date.now() + ms;
	for (;;) {
		const r = diagnose(node);
		const report = r.doc as DiagnoseReport;
		if (problems(report).length === 0 || Date.now() > end) return { code: r.code, report };
		await Bun.sleep(500);
	}
}

function nodeEnv(node: string): Record<string, string> {
	const env: Record<string, string> = {};
	for (const line of readFileSync(`${w.nodeDir(node)}/env`, "utf8").split("\n")) {
		const i = line.indexOf("=");
		if (i > 0) env[line.slice(0, i)] = line.slice(i + 1);
	}
	return env;
}

/** The node's terwayd process (test-only /proc scan: its config path is unique to the node). */
function terwaydPid(node: string): number | undefined {
	const cfg = `${w.nodeDir(node)}/terwayd.json`;
	for (const d of readdirSync("/proc")) {
		if (!/^\d+$/.test(d)) continue;
		try {
			const argv = readFileSync(`/proc/${d}/cmdline`, "utf8").split("\0");
			if (argv.includes("daemon") && argv.includes(cfg)) return Number(d);
		} catch {
			// gone
		}
	}
	return undefined;
}

describe.skipIf(!canRun("e2e: terwayctl diagnose in the netns sim"))(
	"e2e: terwayctl diagnose finds injected faults (netns sim, 2 nodes)",
	() => {
		let a: PodView;
		let b: PodView;

		beforeAll(async () => {
			const f = scenario(join(tmp, "scenario.json"), {
				instanceType: "ecs.sim.big",
				eniConf: { min_pool_size: 2, max_pool_size: 10 },
			});
			w.up("--nodes", "2", "--scenario", f);
			await Promise.all([w.addPod("a", N1), w.addPod("b", N1)]);
			a = await w.pod("a");
			b = await w.pod("b");
		}, 120_000);

		afterAll(() => {
			w.down();
			rmSync(tmp, { recursive: true, force: true });
		}, 60_000);

		test("a healthy world: no warn/error finding, exit 0, every check ran", async () => {
			const { code, report } = await healthy(N1);
			expect(brief(problems(report))).toEqual([]);
			expect(code).toBe(0);
			expect(report).toMatchObject({ schema: 1, node: N1, problems: false });
			expect(report.checks).toEqual([
				"daemon",
				"cloud",
				"metadata",
				"pool",
				"mapping",
				"leaks",
				"config",
				"ebpf",
			]);
			const ok = report.findings.filter((f) => f.severity === "ok").map((f) => f.id);
			for (const id of ["daemon.reachable", "cloud.credentials", "metadata.token", "kernel.pod-datapath"])
				expect(ok).toContain(id);
		}, 60_000);

		test("diagnose pod: IPs, ENI, host veth, the rule and table out and in, the policy verdict for a peer", () => {
			const r = diagnose(N1, ["pod", "default/a", "--to", `${b.v4}:80`]);
			const p = r.doc as PodPath;
			expect(r.code).toBe(0);
			expect(p.ips).toContain(a.v4);
			const v4 = p.paths.find((x) => x.ip === a.v4)!;
			expect(v4.egress.rule).toBe(`2048: from ${a.v4}/32 lookup ${p.routeTable}`);
			expect(
				v4.egress.routes.some((x) => x.startsWith("default via ") && x.endsWith(`dev ${p.eni.link}`)),
			).toBe(true);
			expect(v4.ingress.routes).toEqual([`${a.v4}/32 dev ${p.hostVeth}`]);
			// terwayd enforces NetworkPolicy in the sim (maps pinned under the node's TERWAY_BPF_PIN_ROOT)
			if (p.policy?.verdict) expect(p.policy.verdict.allowed).toBe(true);
			else console.warn(`SKIP policy verdict: ${p.policy?.note}`);
		}, 60_000);

		test("diagnose pod --to: a NetworkPolicy isolating the peer's ingress makes the verdict 'dropped', naming why", async () => {
			const path = "/apis/networking.k8s.io/v1/namespaces/default/networkpolicies";
			const np = {
				apiVersion: "networking.k8s.io/v1",
				kind: "NetworkPolicy",
				metadata: { name: "b-deny-ingress", namespace: "default" },
				spec: { podSelector: { matchLabels: { app: "b" } }, policyTypes: ["Ingress"] },
			};
			const created = await w.kube("POST", path, np);
			expect(created.status).toBeLessThan(300);
			try {
				// terwayd's policy agent writes the maps shortly after the watch event
				let p: PodPath | undefined;
				const end = Date.now() + 20_000;
				do {
					p = diagnose(N1, ["pod", "default/a", "--to", `${b.v4}:80`]).doc as PodPath;
					if (!p.policy?.verdict || p.policy.verdict.allowed === false) break;
					await Bun.sleep(250);
				} while (Date.now() < end);
				if (!p?.policy?.verdict) {
					console.warn(`SKIP policy verdict: ${p?.policy?.note}`);
					return;
				}
				expect(p.policy.verdict.allowed).toBe(false);
				expect(p.policy.verdict.reason).toContain("b-deny-ingress");
			} finally {
				await w.kube("DELETE", `${path}/b-deny-ingress`);
			}
		}, 60_000);

		test("a deleted pod rule: kernel.pod-datapath names the pod, the missing rule and how to restore it", async () => {
			const ns = w.nodeNs(N1);
			const rules = sh(["ip", "-n", ns, "-4", "rule", "show"]).out;
			const table = new RegExp(`^2048:\\s+from ${a.v4.replaceAll(".", "\\.")} lookup (\\d+)`, "m").exec(
				rules,
			)?.[1];
			expect(table).toBeDefined();
			sh(["ip", "-n", ns, "rule", "del", "prio", "2048", "from", a.v4]);
			try {
				const r = diagnose(N1);
				expect(r.code).toBe(1);
				const report = r.doc as DiagnoseReport;
				const f = problems(report).filter((x) => x.id === "kernel.pod-datapath");
				expect(f.map((x) => [x.layer, x.severity, x.subject])).toEqual([["kernel", "error", "default/a"]]);
				expect(f[0]!.message).toContain(`rule 2048 from ${a.v4}/32 lookup ${table} is missing`);
				expect(f[0]!.fix).toContain(`ip -4 rule add prio 2048 from ${a.v4}/32 lookup ${table}`);
				expect(f[0]!.fix).toContain("kubectl delete pod -n default a");

				// the pod's path says the same, and shows the way in still works
				const p = diagnose(N1, ["pod", "default/a"]);
				expect(p.code).toBe(1);
				const path = p.doc as PodPath;
				expect(path.ips).toContain(a.v4);
				expect(path.hostVeth).toMatch(/^cali[0-9a-f]{11}$/);
				const v4 = path.paths.find((x) => x.ip === a.v4)!;
				expect(v4.ingress.rule).toBe(`512: to ${a.v4}/32 lookup main`);
				expect(v4.ingress.routes).toEqual([`${a.v4}/32 dev ${path.hostVeth}`]);
				expect(path.findings.some((x) => x.id === "kernel.pod-datapath" && x.severity === "error")).toBe(
					true,
				);
			} finally {
				sh(["ip", "-n", ns, "rule", "add", "prio", "2048", "from", `${a.v4}/32`, "lookup", table!], {
					allowFail: true,
				});
			}
			const after = await healthy(N1);
			expect(brief(problems(after.report))).toEqual([]);
		}, 60_000);

		test("an IP unassigned behind terwayd's back: mapping.cloud names the pod, the cloud layer and the fix", async () => {
			// an ENI's primary IP cannot be unassigned (and the pool may hand it to a pod): pick a pod
			// holding a secondary IP, adding one if a and b both hold primaries
			const primaries = new Set((await w.daemon<EniInfo[]>(N1, "/v1/enis")).map((e) => e.primaryIp));
			let victim = [b, a].find((p) => !primaries.has(p.v4));
			if (!victim) {
				await w.addPod("c", N1);
				victim = await w.pod("c");
			}
			expect(primaries.has(victim.v4)).toBe(false);
			const enis = await w.daemon<EniInfo[]>(N1, "/v1/enis");
			const eni = enis.find((e) => e.ips.some((x) => x.ip === victim.v4))!;
			expect(eni).toBeDefined();
			const env = nodeEnv(N1);
			const ecs = new AliyunEcs({
				regionId: env.REGION_ID!,
				env: {
					ECS_ENDPOINT: w.info.host.openapi,
					VPC_ENDPOINT: w.info.host.openapi,
					ALICLOUD_CLIENT_SCHEME: "HTTP",
				},
				credentials: new StaticCredentials("env", {
					accessKeyId: env.ALIBABA_CLOUD_ACCESS_KEY_ID!,
					accessKeySecret: env.ALIBABA_CLOUD_ACCESS_KEY_SECRET!,
				}),
			});
			await ecs.unassignIpv4(eni.id, [victim.v4]);
			const r = diagnose(N1);
			expect(r.code).toBe(1);
			const f = problems(r.doc as DiagnoseReport).filter((x) => x.subject === `default/${victim.name}`);
			expect(f.map((x) => [x.id, x.layer, x.severity])).toContainEqual(["mapping.cloud", "cloud", "error"]);
			const m = f.find((x) => x.id === "mapping.cloud")!;
			expect(m.message).toContain(`the cloud does not list ${victim.v4} on ${eni.id}`);
			expect(m.fix).toContain(`kubectl delete pod -n default ${victim.name}`);
		}, 60_000);

		test("wrong credentials: cloud.credentials is an error with the cloud's code and the AccessKey fix", () => {
			const r = diagnose(N1, [], { ALIBABA_CLOUD_ACCESS_KEY_SECRET: "not-the-secret" });
			expect(r.code).toBe(1);
			const f = (r.doc as DiagnoseReport).findings.find((x) => x.id === "cloud.credentials")!;
			expect([f.layer, f.severity]).toEqual(["cloud", "error"]);
			expect(f.message).toContain("SignatureDoesNotMatch");
			expect(f.fix).toContain("ALIBABA_CLOUD_ACCESS_KEY_SECRET");
			const unknown = diagnose(N1, [], { ALIBABA_CLOUD_ACCESS_KEY_ID: "LTAI-nobody" });
			const g = (unknown.doc as DiagnoseReport).findings.find((x) => x.id === "cloud.credentials")!;
			expect([g.severity, g.message.includes("InvalidAccessKeyId.NotFound")]).toEqual(["error", true]);
		}, 60_000);

		test("an STS token that does not belong to the AccessKey: cloud.credentials names the code and the STS fix", () => {
			// the node's RAM-role STS triple from metadata, read inside the node as terwayd would
			const code = `const { MetadataClient } = await import(${JSON.stringify(join(import.meta.dir, "../../src/cloud/metadata.ts"))});
const m = new MetadataClient();
const role = await m.ramRole();
console.log(JSON.stringify(await m.ramCredentials(role)));`;
			const got = w.cli("sim", "exec", "--prefix", P, N1, "--", process.execPath, "-e", code);
			expect(got.code).toBe(0);
			const sts = JSON.parse(got.out) as {
				accessKeyId: string;
				accessKeySecret: string;
				securityToken: string;
			};
			const r = diagnose(N1, [], {
				ALIBABA_CLOUD_ACCESS_KEY_ID: sts.accessKeyId,
				ALIBABA_CLOUD_ACCESS_KEY_SECRET: sts.accessKeySecret,
				ALIBABA_CLOUD_SECURITY_TOKEN: `${sts.securityToken}-stale`,
			});
			expect(r.code).toBe(1);
			const f = (r.doc as DiagnoseReport).findings.find((x) => x.id === "cloud.credentials")!;
			expect([f.layer, f.severity]).toEqual(["cloud", "error"]);
			expect(f.message).toContain("InvalidSecurityToken.MismatchWithAccessKey");
			expect(f.fix).toContain("STS token");
		}, 60_000);

		test("a dead daemon: daemon.reachable is an error saying how to start it; the rest is skipped, not failed", () => {
			const pid = terwaydPid(N1);
			expect(pid).toBeGreaterThan(0);
			process.kill(pid!, "SIGKILL");
			for (let i = 0; i < 100 && terwaydPid(N1) !== undefined; i++) Bun.sleepSync(50);
			const r = diagnose(N1);
			expect(r.code).toBe(1);
			const report = r.doc as DiagnoseReport;
			const f = report.findings.find((x) => x.id === "daemon.reachable")!;
			expect([f.layer, f.severity]).toEqual(["daemon", "error"]);
			expect(f.message).toContain(`terwayd is not reachable on ${w.nodeDir(N1)}/terwayd.sock`);
			expect(f.fix).toContain("terwayctl daemon");
			expect(report.findings.filter((x) => x.id.endsWith(".failed"))).toEqual([]);
			expect(report.findings.find((x) => x.id === "mapping")?.severity).toBe("info");
		}, 60_000);
	},
);
