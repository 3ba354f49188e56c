/**
 * The inspection commands against a real world: `terwayctl sim up --cni terway --nodes 1`, one pod,
 * and `status`, `mapping`, `metadata` and `eni list|inspect|delete` run inside the node with
 * `sim exec` (metadata at 100.100.100.200, the node's terwayd socket and the sim's OpenAPI from the
 * node's env), exactly as an admin runs them on a node. "Nothing changed" is checked against the
 * sim itself: its ENIs and its OpenAPI request log. Root only (netns sim).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { SimClient } from "../../src/sim/control/client.ts";
import { canRun, prefixFor, sh } from "../helpers/env.ts";
import { ENTRY, type PodView, SimWorld } from "./world.ts";

const P = prefixFor("ci");
const w = new SimWorld(P);
const NODE = "node-1";

type Run = { code: number; out: string; err: string };
type SimEni = { id: string; status: string; instanceId?: string; type: string };

/** `terwayctl ARGS` inside the node (sim exec: its namespace and env). */
function inNode(...args: string[]): Run {
	return sh(
		[process.execPath, ENTRY, "sim", "exec", "--prefix", P, NODE, "--", process.execPath, ENTRY, ...args],
		{
			allowFail: true,
		},
	);
}

/** The cloud's ENIs as the sim holds them (id, status, instance). */
async function simEnis(): Promise<SimEni[]> {
	const snap = (await new SimClient(P).snapshot()) as { enis: (SimEni & Record<string, unknown>)[] };
	return snap.enis
		.map((e) => ({
			id: e.id,
			status: e.status,
			type: e.type,
			...(e.instanceId ? { instanceId: e.instanceId } : {}),
		}))
		.sort((a, b) => a.id.localeCompare(b.id));
}

/** Highest request-log sequence number now. */
async function logSeq(): Promise<number> {
	const all = await new SimClient(P).log(0);
	return all.at(-1)?.seq ?? 0;
}

/** ENI-mutating OpenAPI calls since `seq`. */
async function mutationsSince(seq: number): Promise<string[]> {
	const log = await new SimClient(P).log(seq, "openapi");
	return log.map((e) => e.what).filter((a) => /^(Detach|Delete|Attach|Create)NetworkInterface$/.test(a));
}

const json = (r: Run) => JSON.parse(r.out);
const hasScript = sh(["sh", "-c", "command -v script"], { allowFail: true }).code === 0;
if (!hasScript) console.warn("SKIP e2e cli-inspect TTY test: util-linux script(1) is not installed");

describe.skipIf(!canRun("e2e: CLI inspection commands in the netns sim"))(
	"e2e: status, mapping, metadata, eni in a sim node",
	() => {
		let pod: PodView;
		let instanceId: string;

		beforeAll(async () => {
			w.up("--nodes", "1");
			instanceId = w.info.nodes[0]!.instanceId;
			await w.addPod("web-1", NODE);
			pod = await w.pod("web-1");
		});
		afterAll(() => w.down());

		test("status: ready, this node and instance, exit 0", () => {
			const r = inNode("status", "--json");
			expect(r.code).toBe(0);
			const s = json(r);
			expect([s.ready, s.phase, s.node, s.instanceId, s.kubernetes]).toEqual([
				true,
				"ready",
				NODE,
				instanceId,
				"connected",
			]);
			expect(s.pool.allocated).toBeGreaterThanOrEqual(1);
			const text = inNode("status");
			expect(text.code).toBe(0);
			expect(text.out).toContain(`instance ${instanceId} (ecs.g7.large)`);
		});

		test("mapping: the pod's IP on an ENI, every source agreeing, exit 0; filters", () => {
			const r = inNode("mapping", "--json");
			expect(r.code).toBe(0);
			const doc = json(r);
			const row = doc.rows.find((x: { pod?: string }) => x.pod === "default/web-1");
			expect(row.ip).toBe(pod.v4);
			expect(row.checks).toEqual({ store: true, cloud: true, metadata: true, kernel: true });
			expect(doc.summary.problems).toBe(0);
			const one = inNode("mapping", "--pod", "default/web-1");
			expect(one.code).toBe(0);
			expect(one.out.split("\n")[1]).toStartWith(`default/web-1  ${pod.v4}  ${row.eniId}  allocated`);
			const none = inNode("mapping", "--pod", "default/nope");
			expect(none.code).toBe(1);
			expect(none.err).toContain("terwayd holds no IP for pod default/nope");
		});

		test("metadata: the tree with each ENI's local link, one value, credentials redacted", () => {
			const v = inNode("metadata", "instance-id");
			expect(v).toMatchObject({ code: 0, out: `${instanceId}\n` });
			const r = inNode("metadata", "--json");
			expect(r.code).toBe(0);
			const doc = json(r);
			expect(doc.path).toBe("");
			expect(doc.tree["instance-id"]).toBe(instanceId);
			expect(doc.tree["region-id"]).toBe("cn-hangzhou");
			const macs = Object.keys(doc.tree.network.interfaces.macs);
			expect(macs.length).toBeGreaterThanOrEqual(2);
			for (const mac of macs) expect(doc.links[mac.toLowerCase()]).toMatch(/^eth\d+$/);
			for (const v of Object.values(doc.tree.ram["security-credentials"])) expect(v).toBe("<redacted>");
			const text = inNode("metadata", "network/interfaces/macs/");
			expect(text.code).toBe(0);
			expect(text.out).toContain("network-interface-id: eni-");
			const missing = inNode("metadata", "instance-ib");
			expect(missing.code).toBe(1);
			expect(missing.err).toContain(
				"no instance-ib at http://100.100.100.200/latest/meta-data/ (did you mean instance-id?)",
			);
		});

		test("eni list: cloud, metadata, terwayd and kernel agree; the pod's IP is on its ENI; exit 0", () => {
			const r = inNode("eni", "list", "--json");
			expect(r.err).toBe("");
			expect(r.code).toBe(0);
			const doc = json(r);
			expect(doc.instanceId).toBe(instanceId);
			expect(doc.regionId).toBe("cn-hangzhou");
			expect(doc.sources).toEqual({
				cloud: { ok: true },
				metadata: { ok: true },
				daemon: { ok: true },
				kernel: { ok: true },
			});
			expect(doc.enis[0].type).toBe("Primary");
			expect(doc.enis[0].primaryIp).toBe(w.primaryIp(NODE));
			expect(doc.enis[0].link).toBe("eth0");
			const withPod = doc.enis.find((e: { ips: { pod: string | null }[] }) =>
				e.ips.some((x) => x.pod === "default/web-1"),
			);
			expect(withPod.type).toBe("Secondary");
			expect(withPod.createdByTerway).toBe(true);
			expect(withPod.tags["terwayctl/instance-id"]).toBe(instanceId);
			expect(withPod.seen).toEqual({ cloud: true, metadata: true, daemon: true, kernel: true });
			expect(withPod.ips.find((x: { pod: string | null }) => x.pod === "default/web-1").ip).toBe(pod.v4);
			expect(doc.enis.flatMap((e: { problems: string[] }) => e.problems)).toEqual([]);
			expect(doc.summary.withProblems).toBe(0);

			const table = inNode("eni", "list");
			expect(table.code).toBe(0);
			expect(table.out.split("\n")[0]!.split(/\s+/)).toEqual([
				"ENI",
				"TYPE",
				"STATUS",
				"MAC",
				"LINK",
				"VSWITCH",
				"IPS",
				"PODS",
				"CREATOR",
				"PROBLEMS",
			]);
			expect(table.out).toContain(withPod.id);
			const wide = inNode("eni", "list", "-o", "wide");
			expect(wide.out).toContain(`${pod.v4}=default/web-1`);
		});

		test("eni inspect: everything about the pod's ENI; an unknown id is exit 1", async () => {
			const list = json(inNode("eni", "list", "--json"));
			const id = list.enis[1].id as string;
			const r = inNode("eni", "inspect", id, "--json");
			expect(r.code).toBe(0);
			const doc = json(r);
			expect(doc.eni.id).toBe(id);
			expect(doc.eni.problems).toEqual([]);
			const text = inNode("eni", "inspect", id);
			expect(text.out.split("\n")[0]).toContain("(created by terway)");
			expect(text.out).toContain("problems: none");
			const unknown = inNode("eni", "inspect", "eni-bp1nosuchthing000000");
			expect(unknown.code).toBe(1);
			expect(unknown.err).toContain("no ENI eni-bp1nosuchthing000000 in region cn-hangzhou");
		});

		test("eni delete refusals change nothing: unknown id, malformed id, in use, primary, no --yes off a TTY", async () => {
			const before = await simEnis();
			const seq = await logSeq();
			const list = json(inNode("eni", "list", "--json"));
			const primary = list.enis[0].id as string;
			const used = list.enis[1].id as string;

			const unknown = inNode("eni", "delete", "eni-bp1nosuchthing000000", "--yes");
			expect(unknown.code).toBe(1);
			expect(unknown.err.split("\n")[0]).toStartWith(
				"terwayctl: no ENI eni-bp1nosuchthing000000 in region cn-hangzhou; nothing changed",
			);
			const malformed = inNode("eni", "delete", "foo", "--yes");
			expect(malformed.code).toBe(2);
			expect(malformed.err).toContain("expected the form eni-xxxx");
			const inUse = inNode("eni", "delete", used, "--yes");
			expect(inUse.code).toBe(1);
			expect(inUse.err.split("\n")[0]).toBe(
				`terwayctl: refusing to delete ${used}: in use by pods default/web-1 (terwayd); pass --force to delete it anyway; nothing changed`,
			);
			const prim = inNode("eni", "delete", primary, "--force", "--yes");
			expect(prim.code).toBe(1);
			expect(prim.err).toContain(`refusing to delete: ${primary} is the instance's primary ENI`);
			const noYes = inNode("eni", "delete", used, "--force");
			expect(noYes.code).toBe(2);
			expect(noYes.err).toContain("stdin is not a terminal; pass --yes to confirm; nothing changed");

			expect(await simEnis()).toEqual(before);
			expect(await mutationsSince(seq)).toEqual([]);
		});

		test.skipIf(!hasScript)(
			"on a terminal: colours, and delete asks first ('n' changes nothing)",
			async () => {
				const tty = (line: string, input = "") =>
					Bun.spawnSync(["script", "-qec", line, "/dev/null"], {
						stdin: new TextEncoder().encode(input),
						stdout: "pipe",
						stderr: "pipe",
					});
				const cmd = (args: string) =>
					`${process.execPath} ${ENTRY} sim exec --prefix ${P} ${NODE} -- ${process.execPath} ${ENTRY} ${args}`;
				const list = tty(cmd("eni list"));
				expect(list.exitCode).toBe(0);
				expect(list.stdout.toString()).toContain("\x1b[32mInUse\x1b[0m");
				const used = json(inNode("eni", "list", "--json")).enis[1].id as string;
				const before = await simEnis();
				const seq = await logSeq();
				const r = tty(cmd(`eni delete ${used} --force`), "n\n");
				const out = r.stdout.toString();
				expect(r.exitCode).toBe(1);
				expect(out).toContain(`Delete ENI ${used} (Secondary, InUse on ${instanceId}, `);
				expect(out).toContain("despite: in use by pods default/web-1 (terwayd)? [y/N]");
				expect(out).toContain(`eni delete ${used}: not confirmed; nothing changed`);
				expect(await simEnis()).toEqual(before);
				expect(await mutationsSince(seq)).toEqual([]);
			},
		);

		test("no daemon: the clear message, exit 1", () => {
			const r = inNode("status", "--socket", "/nonexistent/terwayd.sock");
			expect(r.code).toBe(1);
			expect(r.err.split("\n")[0]).toBe(
				"terwayctl: terwayd is not reachable on /nonexistent/terwayd.sock (no socket there); start it with `terwayctl daemon` (or check the terway DaemonSet pod), or pass --socket",
			);
		});

		test("eni delete of an idle terway ENI: detached, deleted, gone from the cloud", async () => {
			const id = json(inNode("eni", "list", "--json")).enis[1].id as string;
			await w.deletePod("web-1");
			await w.podGone("web-1");
			// terwayd released the pod's IP: the ENI is idle pool now
			for (let i = 0; i < 100 && json(inNode("mapping", "--eni", id, "--json")).summary.allocated > 0; i++)
				await Bun.sleep(100);
			const seq = await logSeq();
			const r = inNode("eni", "delete", id, "--yes", "--json");
			expect(r.code).toBe(0);
			expect(json(r)).toEqual({ deleted: id, detachedFrom: instanceId, forced: false, overridden: [] });
			expect(r.err).toContain(`note: terwayd holds ${id} in its pool`);
			expect(r.err).toContain(`detaching ${id} from ${instanceId}`);
			expect((await simEnis()).map((e) => e.id)).not.toContain(id);
			expect(await mutationsSince(seq)).toEqual(["DetachNetworkInterface", "DeleteNetworkInterface"]);
			// terwayd still holding it (until it reconciles) is exactly what eni list must point out
			const listed = inNode("eni", "list", "--json");
			const gone = json(listed).enis.find((e: { id: string }) => e.id === id);
			if (gone) {
				expect(gone.seen.cloud).toBe(false);
				expect(gone.problems).toContain(
					"terwayd uses it, but the cloud API does not list it on this instance",
				);
				expect(listed.code).toBe(1);
			}
		});
	},
);
