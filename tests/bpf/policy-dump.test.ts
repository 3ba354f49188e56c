/**
 * Root suite: `terwayctl policy dump|explain` against real pinned maps, with no terwayd at all.
 * The policy programs are loaded under a prefixed pin root, a compiled state is applied, and the
 * programs sit on one end of a veth as on a pod's host veth: `<P>n` plays the node (and a remote
 * frontend pod at 198.18.31.1 on the host veth `<P>h`), `<P>p` the local database pod
 * (198.18.31.2). A denied ping makes a real drop; the CLI runs as a separate process
 * (`bun src/bin/terwayctl.ts policy ...`) and its text and JSON are checked.
 * Everything carries prefixFor("pd"): namespaces, links, /sys/fs/bpf/<prefix>, a temp state dir.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, rmSync } from "node:fs";
import { compile } from "../../src/core/policy/compile.ts";
import { diff } from "../../src/core/policy/diff.ts";
import type { CompileInput, MapState } from "../../src/core/policy/types.ts";
import { Store } from "../../src/daemon/store/store.ts";
import { openHandles } from "../../src/ffi/handles.ts";
import { attachPinnedProgram, PolicyProgram } from "../../src/linux/bpf/policy.ts";
import { Netns } from "../../src/linux/netns.ts";
import { canRun, ipJson, ping, prefixFor, sh } from "../helpers/env.ts";
import { addNetns, addVeth, ipIn, resetRun } from "../helpers/veth.ts";

const P = prefixFor("pd");
const NS_NODE = `${P}n`;
const NS_POD = `${P}p`;
const VETH_HOST = `${P}h`;
const FE = "198.18.31.1";
const DB = "198.18.31.2";
const PIN_ROOT = `/sys/fs/bpf/${P}`;
const STATE_DIR = `/tmp/${P}-state`;
const ENTRY = `${import.meta.dir}/../../src/bin/terwayctl.ts`;
const BUN = process.execPath;
// No daemon anywhere: a socket path that does not exist.
const ENV = {
	...process.env,
	TERWAY_DAEMON_SOCKET: `/tmp/${P}-no.sock`,
	TERWAY_BPF_PIN_ROOT: "",
	NO_COLOR: "1",
};

function cli(...args: string[]) {
	return cliIn(undefined, ...args);
}

/** The CLI inside a named namespace (as on a node: it sees the node's links and routes). */
function cliIn(ns: string | undefined, ...args: string[]) {
	const argv = [BUN, ENTRY, "policy", ...args];
	// nsenter, not `ip netns exec`: that remounts /sys, hiding /sys/fs/bpf and so the pins
	const r = Bun.spawnSync(ns ? ["nsenter", `--net=/run/netns/${ns}`, ...argv] : argv, {
		stdout: "pipe",
		stderr: "pipe",
		env: ENV,
	});
	return { code: r.exitCode, out: r.stdout.toString(), err: r.stderr.toString() };
}

const INPUT: CompileInput = {
	namespaces: [{ name: "prod", labels: {} }],
	pods: [
		{ namespace: "prod", name: "fe-0", labels: { role: "frontend" }, ips: [FE], local: false, ports: [] },
		{
			namespace: "prod",
			name: "db-0",
			labels: { app: "db" },
			ips: [DB],
			local: true,
			ports: [{ name: "pg", port: 5432, protocol: "TCP" }],
		},
	],
	policies: [
		{
			metadata: { namespace: "prod", name: "allow-fe" },
			spec: {
				podSelector: { matchLabels: { app: "db" } },
				ingress: [
					{ from: [{ podSelector: { matchLabels: { role: "frontend" } } }], ports: [{ port: 8080 }] },
				],
			},
		},
		{
			metadata: { namespace: "prod", name: "db-egress" },
			spec: {
				podSelector: { matchLabels: { app: "db" } },
				policyTypes: ["Egress"],
				egress: [{ to: [{ ipBlock: { cidr: "10.0.0.0/8", except: ["10.1.0.0/16"] } }] }],
			},
		},
	],
	nodeIps: [],
};

let program: PolicyProgram | undefined;
let nsNode: Netns | undefined;
let hostIfindex = 0;

const EMPTY: MapState = { ips: new Map(), policy: new Map(), idNames: new Map(), ruleNames: new Map() };

describe.skipIf(!canRun("tests/bpf/policy-dump.test.ts"))(
	"terwayctl policy dump/explain on pinned maps",
	() => {
		beforeAll(() => {
			resetRun(P);
			rmSync(STATE_DIR, { recursive: true, force: true });
			addNetns(NS_NODE, NS_POD);
			addVeth({ ns: NS_NODE, name: VETH_HOST }, { ns: NS_POD, name: "eth0" });
			ipIn(NS_NODE, "addr", "add", `${FE}/24`, "dev", VETH_HOST);
			ipIn(NS_POD, "addr", "add", `${DB}/24`, "dev", "eth0");
			ipIn(NS_NODE, "link", "set", VETH_HOST, "up");
			ipIn(NS_POD, "link", "set", "eth0", "up");
			// the pod's /32 through its host veth, as the veth datapath routes it on a node
			ipIn(NS_NODE, "route", "add", `${DB}/32`, "dev", VETH_HOST);
			hostIfindex = ipJson<{ ifindex: number }[]>(NS_NODE, ["link", "show", VETH_HOST])[0]!.ifindex;
			program = PolicyProgram.load({ pinRoot: PIN_ROOT });
			program.maps.apply(diff(EMPTY, compile(INPUT).state));
			nsNode = Netns.open(NS_NODE);
			for (const p of ["terway_pol_from", "terway_pol_to"] as const) {
				attachPinnedProgram({
					ns: nsNode,
					ifName: VETH_HOST,
					direction: p === "terway_pol_from" ? "ingress" : "egress",
					program: p,
					pinRoot: PIN_ROOT,
				});
			}
			// The loader's fds are closed: the CLI must work from the pins alone.
			program.close();
			program = undefined;
		});

		afterAll(() => {
			program?.close();
			nsNode?.close();
			resetRun(P);
			rmSync(STATE_DIR, { recursive: true, force: true });
			expect(openHandles()).toEqual([]);
		});

		test("text dump: identities, the database's isolation and rules in NetworkPolicy words", () => {
			const r = cli("dump", "--pin-root", PIN_ROOT);
			expect(r.err).toBe("");
			expect(r.code).toBe(0);
			expect(r.out).toContain(`pin root ${PIN_ROOT}`);
			expect(r.out).toContain("POLICIES\nterwayd did not answer: policy statuses not shown");
			expect(r.out).toMatch(
				/pod prod\/app=db \(identity \d+\): 198\.18\.31\.2\n {2}ingress: isolated by prod\/allow-fe \(default deny\)/,
			);
			expect(r.out).toContain("  egress: isolated by prod/db-egress (default deny)");
			expect(r.out).toContain(
				"    ingress from pod prod/role=frontend on TCP 8080 (prod/allow-fe ingress[0])",
			);
			expect(r.out).toContain(
				"    egress to cidr 10.0.0.0/8 except 10.1.0.0/16 on any port (prod/db-egress egress[0])",
			);
			expect(r.out).toMatch(/cidr 10\.0\.0\.0\/8 +10\.0\.0\.0\/8/);
			expect(r.out).toMatch(/pod prod\/role=frontend +198\.18\.31\.1/);
		});

		test("run on the node, the dump knows the pod's host veth by its route before any traffic", () => {
			const r = cliIn(NS_NODE, "dump", "--json", "--pin-root", PIN_ROOT);
			expect(r.err).toBe("");
			const doc = JSON.parse(r.out);
			expect(doc.interfaces).toEqual([
				{
					ifindex: hostIfindex,
					name: VETH_HOST,
					endpoint: doc.endpoints[0].identity,
					addresses: [DB],
					ingress: { allowed: 0, allowedBytes: 0, dropped: 0, droppedBytes: 0 },
					egress: { allowed: 0, allowedBytes: 0, dropped: 0, droppedBytes: 0 },
					ctEntries: 0,
				},
			]);
			expect(
				doc.endpoints.map((e: { name: string; interfaces: number[] }) => [e.name, e.interfaces]),
			).toEqual([["pod prod/app=db", [hostIfindex]]]);
		});

		test("explain: allowed by the rule, dropped with the reason", () => {
			const ok = cli("explain", FE, DB, "--port", "8080", "--pin-root", PIN_ROOT);
			expect(ok.code).toBe(0);
			expect(ok.out.split("\n")[0]).toBe(`${FE} -> ${DB} TCP 8080: ALLOWED`);
			expect(ok.out).toContain("allowed by prod/allow-fe ingress[0]");
			const no = cli("dump", "--flow", `${FE},${DB}`, "--port", "5432", "--pin-root", PIN_ROOT, "--json");
			expect(no.code).toBe(0);
			const doc = JSON.parse(no.out);
			expect(doc.verdict).toBe("dropped");
			expect(doc.reason).toContain("no rule allows pod prod/role=frontend on TCP 5432");
			expect(doc.checks.map((c: { direction: string; verdict: string }) => [c.direction, c.verdict])).toEqual(
				[["ingress", "dropped"]],
			);
		});

		test("a denied ping is dropped and shows in the JSON dump with counters per interface", () => {
			expect(ping(NS_NODE, DB, 1)).toBe(false);
			// An allowed SYN (nothing listens: the RST comes back through connection tracking).
			sh(["ip", "netns", "exec", NS_NODE, "bash", "-c", `echo > /dev/tcp/${DB}/8080`], { allowFail: true });
			const r = cli("dump", "--json", "--pin-root", PIN_ROOT);
			expect(r.code).toBe(0);
			const doc = JSON.parse(r.out);
			expect(doc.agent).toBeNull(); // no terwayd: the maps alone
			const icmp = doc.drops.filter((d: { protocol: string }) => d.protocol === "ICMP");
			expect(icmp.length).toBeGreaterThanOrEqual(1);
			expect(icmp[0]).toMatchObject({
				src: FE,
				dst: DB,
				direction: "ingress",
				reason: "policy-ingress",
				ifindex: hostIfindex,
				endpoint: { name: "pod prod/app=db" },
				peer: { name: "pod prod/role=frontend" },
			});
			expect(typeof icmp[0].time).toBe("string");
			const ifc = doc.interfaces.find((i: { ifindex: number }) => i.ifindex === hostIfindex);
			expect(ifc.addresses).toEqual([DB]);
			expect(ifc.ingress.dropped).toBeGreaterThanOrEqual(1);
			expect(ifc.ingress.allowed).toBeGreaterThanOrEqual(1);
			const db = doc.endpoints.find((e: { name: string }) => e.name === "pod prod/app=db");
			expect(db.interfaces).toEqual([hostIfindex]);
			expect(db.isolation).toEqual({ ingress: true, egress: true });
			expect(db.counters.ingress.dropped).toBe(ifc.ingress.dropped);
		});

		test("--watch prints one line per drop as it happens, until SIGINT", async () => {
			const proc = Bun.spawn([BUN, ENTRY, "policy", "dump", "--watch", "--json", "--pin-root", PIN_ROOT], {
				stdout: "pipe",
				stderr: "pipe",
				env: ENV,
			});
			const reader = proc.stdout.getReader();
			let buf = "";
			const nextLine = async (): Promise<string | undefined> => {
				while (!buf.includes("\n")) {
					const { value, done } = await reader.read();
					if (done) return undefined;
					buf += new TextDecoder().decode(value);
				}
				const i = buf.indexOf("\n");
				const line = buf.slice(0, i);
				buf = buf.slice(i + 1);
				return line;
			};
			// ping until the watcher has printed a drop (it may start polling after the first ping)
			let line: string | undefined;
			const pinger = (async () => {
				while (line === undefined && proc.exitCode === null) {
					ping(NS_NODE, DB, 1);
					await Bun.sleep(200);
				}
			})();
			line = await nextLine();
			await pinger;
			proc.kill("SIGINT");
			expect(await proc.exited).toBe(0);
			const ev = JSON.parse(line!);
			expect(ev).toMatchObject({ src: FE, dst: DB, protocol: "ICMP", reason: "policy-ingress" });
			expect(ev.text).toContain(`${FE} -> ${DB} ICMP dropped by policy-ingress of pod prod/app=db`);
		});

		test("--pod by name (from terwayd's state, read-only) and by IP narrows the dump", () => {
			mkdirSync(STATE_DIR, { recursive: true });
			const store = Store.open(`${STATE_DIR}/state.db`);
			try {
				store.upsertEni({
					eniId: "eni-pd0001",
					mac: "02:00:00:00:31:02",
					type: "secondary",
					vswitchId: "vsw-pd",
					status: "InUse",
					primaryIp: null,
					ours: true,
				});
				store.upsertIps("eni-pd0001", [{ ip: DB }]);
				store.allocate({ namespace: "prod", name: "db-0", uid: "u-db" }, "c-db", { v4: true, v6: false });
			} finally {
				store.close();
			}
			const byName = cli(
				"dump",
				"--json",
				"--pod",
				"prod/db-0",
				"--state-dir",
				STATE_DIR,
				"--pin-root",
				PIN_ROOT,
			);
			expect(byName.err).toBe("");
			const doc = JSON.parse(byName.out);
			expect(doc.pod).toEqual({ ref: "prod/db-0", addresses: [DB] });
			expect(doc.endpoints.map((e: { name: string }) => e.name)).toEqual(["pod prod/app=db"]);
			const byIp = JSON.parse(cli("dump", "--json", "--pod", FE, "--pin-root", PIN_ROOT).out);
			expect(byIp.endpoints).toEqual([]); // the frontend is not a local pod
			const unknown = cli("dump", "--pod", "prod/nope", "--state-dir", STATE_DIR, "--pin-root", PIN_ROOT);
			expect(unknown.code).toBe(1);
			expect(unknown.err).toContain("pod prod/nope has no addresses");
			const noState = cli(
				"dump",
				"--pod",
				"prod/db-0",
				"--state-dir",
				`${STATE_DIR}-none`,
				"--pin-root",
				PIN_ROOT,
			);
			expect(noState.code).toBe(1);
			expect(noState.err).toContain("cannot resolve pod prod/db-0: terwayd is not reachable on");
			expect(noState.err).toContain(`and no terwayd state at ${STATE_DIR}-none/state.db`);
		});

		test("errors: no pins is exit 1 with the hint, a bad --pod is a usage error (exit 2)", () => {
			const none = cli("dump", "--pin-root", `${PIN_ROOT}-none`);
			expect(none).toEqual({
				code: 1,
				out: "",
				err: `terwayctl: no policy maps under ${PIN_ROOT}-none: is terwayd running with network policy enabled?\n`,
			});
			const bad = cli("dump", "--pod", "prod", "--pin-root", PIN_ROOT);
			expect(bad.code).toBe(2);
			expect(bad.err).toContain('--pod "prod": expected NAMESPACE/NAME');
			const port = cli("dump", "--port", "80", "--pin-root", PIN_ROOT);
			expect(port.code).toBe(2);
			expect(port.err).toContain("--port (and --proto) describe a flow: use them with --flow SRC,DST");
			const addr = cli("explain", FE, "db-0", "--port", "80", "--pin-root", PIN_ROOT);
			expect(addr).toEqual({ code: 2, out: "", err: 'terwayctl: destination "db-0": not an IP address\n' });
		});
	},
);
