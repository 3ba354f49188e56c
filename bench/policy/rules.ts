/**
 * bench/policy rule sets: N NetworkPolicy rules protecting the server pod, compiled for our maps,
 * and the same N rules as an iptables ruleset shaped the way iptables policy engines write it
 * (kube-router, Calico in iptables mode, kube-proxy-era engines): an ESTABLISHED,RELATED accept
 * first, then a per-pod chain of one ACCEPT per (peer, port) and a final DROP.
 *
 * The N rules: N - 1 filler rules, each from its own ipBlock /32 in 172.16.0.0/12 to one TCP port
 * (what a long allow-list looks like), and one rule that lets the client pod in on every port
 * (the flows measured: iperf3, ping, the TCP probe). In the iptables chain the client's rule is
 * last, so a new flow walks the whole list, as it would for the last rule of a long policy.
 */
import { compile } from "../../src/core/policy/compile.ts";
import type { CompileInput, MapState, NetworkPolicy } from "../../src/core/policy/types.ts";
import { POD_A, POD_B, POD_C } from "./topology.ts";

const fillerIp = (i: number) => `172.16.${(i >> 8) & 0xff}.${i & 0xff}`;
const fillerPort = (i: number) => 20000 + (i % 20000);

export function policyFor(n: number): NetworkPolicy {
	const fillers = Array.from({ length: Math.max(0, n - 1) }, (_, i) => ({
		from: [{ ipBlock: { cidr: `${fillerIp(i)}/32` } }],
		ports: [{ protocol: "TCP" as const, port: fillerPort(i) }],
	}));
	return {
		metadata: { namespace: "bench", name: `allow-${n}` },
		spec: {
			podSelector: { matchLabels: { app: "server" } },
			policyTypes: ["Ingress"],
			ingress: [...fillers, { from: [{ podSelector: { matchLabels: { app: "client" } } }] }],
		},
	};
}

export function compileFor(n: number): { state: MapState; entries: number; ms: number } {
	const input: CompileInput = {
		namespaces: [{ name: "bench", labels: {} }],
		pods: [
			{ namespace: "bench", name: "client", labels: { app: "client" }, ips: [POD_A], local: true, ports: [] },
			{ namespace: "bench", name: "server", labels: { app: "server" }, ips: [POD_B], local: true, ports: [] },
			{ namespace: "bench", name: "denied", labels: { app: "denied" }, ips: [POD_C], local: true, ports: [] },
		],
		policies: n > 0 ? [policyFor(n)] : [],
		nodeIps: [],
	};
	const t0 = performance.now();
	const c = compile(input);
	const ms = performance.now() - t0;
	const bad = c.status.filter((s) => !s.ok);
	if (bad.length) throw new Error(`compile: ${bad.map((s) => `${s.policy}: ${s.message}`).join("; ")}`);
	return { state: c.state, entries: c.state.policy.size, ms };
}

/** iptables-restore input for the node namespace: N rules guarding the server's host veth. */
export function iptablesFor(n: number, vethB: string): string {
	const lines = [
		"*filter",
		":INPUT ACCEPT [0:0]",
		":FORWARD ACCEPT [0:0]",
		":OUTPUT ACCEPT [0:0]",
		":TW-POL-SERVER - [0:0]",
		"-A FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
		`-A FORWARD -o ${vethB} -j TW-POL-SERVER`,
	];
	for (let i = 0; i < n - 1; i++) {
		lines.push(`-A TW-POL-SERVER -s ${fillerIp(i)}/32 -p tcp -m tcp --dport ${fillerPort(i)} -j ACCEPT`);
	}
	if (n > 0) lines.push(`-A TW-POL-SERVER -s ${POD_A}/32 -j ACCEPT`);
	lines.push("-A TW-POL-SERVER -j DROP", "COMMIT", "");
	return lines.join("\n");
}

/** An empty filter table (what iptables-restore flushes to). */
export const IPTABLES_EMPTY =
	"*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n";
