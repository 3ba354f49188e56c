/**
 * `make demo`: the story a newcomer sees in two minutes, on one machine, with the compiled binary.
 *
 * An offline Alibaba Cloud VPC with two ECS nodes (`terwayctl sim up --nodes 2 --cni terway`,
 * network namespaces), terwayd running in each node, three pods created through the sim's
 * Kubernetes API and brought up by the kubelet stand-in with our CNI plugin, a cross-node ping, a
 * NetworkPolicy that lets only the frontend reach the web pod's port 8080 (one allowed and one
 * denied flow, enforced by our eBPF programs), then what an admin sees: `policy dump`,
 * `diagnose`, `eni list`, `mapping`. The world stays up so the TUI can be opened; `make demo-down`
 * removes exactly it. Exit 0 only when every step did what it says.
 */
import { readFileSync } from "node:fs";
import { simNetns } from "../src/sim/contracts.ts";

const W = process.env.DEMO_PREFIX ?? "twdemo";
const BIN = `${process.cwd()}/dist/terwayctl`;
const KUBECONFIG = `/run/terway-sim/${W}/kubeconfig`;
const tty = Boolean(process.stdout.isTTY);
const bold = (s: string) => (tty ? `\x1b[1m${s}\x1b[0m` : s);
const green = (s: string) => (tty ? `\x1b[32m${s}\x1b[0m` : s);
const red = (s: string) => (tty ? `\x1b[31m${s}\x1b[0m` : s);

let stepNo = 0;
const step = (s: string) => console.log(`\n${bold(`${++stepNo}. ${s}`)}`);
const checks: { what: string; ok: boolean }[] = [];
function expectThat(what: string, ok: boolean): boolean {
	checks.push({ what, ok });
	console.log(`   ${ok ? green("✔") : red("✘")} ${what}`);
	return ok;
}

type Run = { code: number; out: string; err: string };
function run(argv: string[], o: { show?: boolean; input?: string; timeoutMs?: number } = {}): Run {
	const r = Bun.spawnSync(argv, {
		stdout: "pipe",
		stderr: "pipe",
		...(o.input !== undefined ? { stdin: new TextEncoder().encode(o.input) } : {}),
		timeout: o.timeoutMs ?? 120_000,
	});
	const res = { code: r.exitCode ?? -1, out: r.stdout.toString(), err: r.stderr.toString() };
	if (o.show !== false) {
		const text = `${res.out}${res.err}`.trimEnd();
		if (text) console.log(text.replace(/^/gm, "   "));
	}
	return res;
}
const tw = (args: string[], o?: Parameters<typeof run>[1]) => run([BIN, ...args], o);
/** A terwayctl command inside node-N (its env: the node's terwayd socket, metadata, cloud endpoints). */
const onNode = (node: string, args: string[], o?: Parameters<typeof run>[1]) =>
	tw(["sim", "exec", "--prefix", W, node, "--", BIN, ...args], o);
const kubectl = (args: string[], o?: Parameters<typeof run>[1]) =>
	run(["kubectl", "--kubeconfig", KUBECONFIG, ...args], o);

const PODS = `
apiVersion: v1
kind: Pod
metadata: { name: web, namespace: default, labels: { app: web } }
spec: { nodeName: node-1, containers: [{ name: web, image: registry.sim.local/nginx:1.27, ports: [{ name: http, containerPort: 8080 }] }] }
---
apiVersion: v1
kind: Pod
metadata: { name: frontend, namespace: default, labels: { role: frontend } }
spec: { nodeName: node-2, containers: [{ name: app, image: registry.sim.local/pause:3.10 }] }
---
apiVersion: v1
kind: Pod
metadata: { name: intruder, namespace: default, labels: { role: other } }
spec: { nodeName: node-2, containers: [{ name: app, image: registry.sim.local/pause:3.10 }] }
`;

const POLICY = `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: web-from-frontend, namespace: default }
spec:
  podSelector: { matchLabels: { app: web } }
  policyTypes: [Ingress]
  ingress:
    - from: [{ podSelector: { matchLabels: { role: frontend } } }]
      ports: [{ protocol: TCP, port: 8080 }]
`;

type PodDoc = {
	metadata: { name: string; uid: string };
	spec: { nodeName: string };
	status: { phase?: string; podIP?: string };
};

async function waitRunning(names: string[]): Promise<Map<string, PodDoc>> {
	const out = new Map<string, PodDoc>();
	for (let i = 0; i < 600 && out.size < names.length; i++) {
		const r = kubectl(["get", "pods", "-n", "default", "-o", "json"], { show: false });
		if (r.code === 0) {
			for (const p of (JSON.parse(r.out) as { items: PodDoc[] }).items)
				if (names.includes(p.metadata.name) && p.status.phase === "Running" && p.status.podIP)
					out.set(p.metadata.name, p);
		}
		if (out.size < names.length) await Bun.sleep(100);
	}
	return out;
}

const netnsOf = (p: PodDoc) => simNetns.pod(W, p.spec.nodeName, p.metadata.uid);

function ping(from: PodDoc, to: PodDoc): boolean {
	const r = run(
		["ip", "netns", "exec", netnsOf(from), "ping", "-c", "3", "-i", "0.2", "-W", "1", "-q", to.status.podIP!],
		{
			show: false,
		},
	);
	const summary = r.out.split("\n").find((l) => l.includes("packets transmitted")) ?? r.err.trim();
	console.log(`   ping ${from.metadata.name} -> ${to.metadata.name} (${to.status.podIP}): ${summary.trim()}`);
	return r.code === 0;
}

/** One TCP request from a pod to `ip:port`: the server's greeting, or undefined (refused / timed out). */
function tcp(from: PodDoc, ip: string, port: number): string | undefined {
	const code = `const s=require("net").connect(${port},"${ip}");s.setTimeout(1500,()=>{console.log("TIMEOUT");process.exit(1)});s.on("data",d=>{console.log(String(d).trim());process.exit(0)});s.on("error",e=>{console.log(e.code);process.exit(1)})`;
	const r = run(["ip", "netns", "exec", netnsOf(from), process.execPath, "-e", code], {
		show: false,
		timeoutMs: 10_000,
	});
	return r.code === 0 ? r.out.trim() : undefined;
}

function serve(pod: PodDoc, port: number): Bun.Subprocess {
	const code = `require("net").createServer(s=>s.end("hello from ${pod.metadata.name}\\n")).listen(${port},"::")`;
	return Bun.spawn(["ip", "netns", "exec", netnsOf(pod), process.execPath, "-e", code], {
		stdout: "ignore",
		stderr: "ignore",
	});
}

let server: Bun.Subprocess | undefined;
try {
	step(`An offline Alibaba Cloud on this machine: terwayctl sim up --nodes 2 --cni terway --prefix ${W}`);
	tw(["sim", "down", "--prefix", W], { show: false }); // a previous demo's world, if any
	const up = tw(["sim", "up", "--nodes", "2", "--cni", "terway", "--prefix", W]);
	if (
		!expectThat(
			"a VPC of network namespaces, 2 ECS nodes, the ECS/VPC OpenAPI, metadata, a kube-apiserver",
			up.code === 0,
		)
	)
		throw new Error("sim up failed");

	step("kubectl sees the two nodes; each runs terwayd (the DaemonSet's job on a real cluster)");
	kubectl(["get", "nodes", "-o", "wide"]);
	const st = onNode("node-1", ["status"]);
	expectThat("terwayd on node-1 is ready", st.code === 0);

	step("three pods through the Kubernetes API; the kubelet stand-in runs our CNI plugin for each");
	kubectl(["apply", "-f", "-"], { input: PODS });
	const pods = await waitRunning(["web", "frontend", "intruder"]);
	kubectl(["get", "pods", "-o", "wide"]);
	const [web, frontend, intruder] = [pods.get("web"), pods.get("frontend"), pods.get("intruder")];
	if (
		!expectThat(
			"web (node-1), frontend and intruder (node-2) are Running with VPC IPs",
			Boolean(web && frontend && intruder),
		)
	)
		throw new Error("pods did not start");

	step("pod IPs are first-class VPC addresses: frontend (node-2) and web (node-1) ping across the VPC");
	expectThat("cross-node ping both ways", ping(frontend!, web!) && ping(web!, frontend!));

	step("a TCP service in web on port 8080; with no policy everyone reaches it");
	server = serve(web!, 8080);
	let before: string | undefined;
	for (let i = 0; i < 30 && before === undefined; i++) {
		before = tcp(intruder!, web!.status.podIP!, 8080);
		if (before === undefined) await Bun.sleep(100);
	}
	expectThat(`intruder -> web:8080 answers "${before ?? "nothing"}"`, before !== undefined);

	step("NetworkPolicy web-from-frontend: only role=frontend may reach app=web, on TCP 8080");
	console.log(POLICY.trimEnd().replace(/^/gm, "   "));
	kubectl(["apply", "-f", "-"], { input: POLICY });
	let denied = false;
	for (let i = 0; i < 30 && !denied; i++) {
		denied = tcp(intruder!, web!.status.podIP!, 8080) === undefined;
		if (!denied) await Bun.sleep(100);
	}
	const allowed = tcp(frontend!, web!.status.podIP!, 8080);
	expectThat(`frontend -> web:8080 allowed ("${allowed ?? "nothing"}")`, allowed !== undefined);
	expectThat("intruder -> web:8080 dropped by the eBPF policy on web's host veth", denied);

	step("why: terwayctl policy dump on node-1 reads the pinned eBPF maps (works even with terwayd down)");
	onNode("node-1", ["policy", "dump", "--pod", "default/web"]);
	onNode("node-1", [
		"policy",
		"explain",
		intruder!.status.podIP!,
		web!.status.podIP!,
		"--proto",
		"tcp",
		"--port",
		"8080",
	]);

	step(
		"troubleshooting: terwayctl diagnose (cloud, metadata, terwayd's store, kernel and eBPF side by side)",
	);
	const diag = onNode("node-1", ["diagnose", "--no-tui"]);
	expectThat("diagnose finds nothing wrong in a healthy world", diag.code === 0);

	step("the node's ENIs as the cloud API, the metadata service and terwayd see them");
	onNode("node-1", ["eni", "list"]);
	onNode("node-1", ["mapping"]);
} catch (e) {
	console.error(red(`demo stopped: ${(e as Error).message}`));
	checks.push({ what: (e as Error).message, ok: false });
} finally {
	server?.kill();
}

const failed = checks.filter((c) => !c.ok);
console.log(`\n${bold("Your turn")}`);
console.log(`   the world is still up (prefix ${W}). Open the live TUI on node-1:`);
console.log(`     ${BIN} sim exec --prefix ${W} node-1 -- ${BIN} diagnose`);
console.log(`   kubectl:  kubectl --kubeconfig ${KUBECONFIG} get pods,networkpolicies -A`);
console.log(`   a shell in node-1:  ${BIN} sim exec --prefix ${W} node-1 -- bash`);
console.log("   tear it all down:  make demo-down");
try {
	const info = JSON.parse(readFileSync(`/run/terway-sim/${W}/world.json`, "utf8")) as { nodes: unknown[] };
	console.log(`   (${info.nodes.length} nodes, world files in /run/terway-sim/${W}/)`);
} catch {}
console.log(`\n${failed.length === 0 ? "demo ok" : `demo FAILED (${failed.map((c) => c.what).join("; ")})`}`);
process.exit(failed.length === 0 ? 0 : 1);
