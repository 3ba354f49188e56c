/**
 * Root suite: the datapathv2 programs (bpf/datapathv2.bpf.c) in real namespaces with real packets.
 *
 *   pod ns                      node ns                                   vpc ns
 *   eth0 198.18.40.10/32  <->   <P>h (ee:..:ee)  [terway_v2_out ingress]
 *        fd00:40::10/128        <P>e "ENI" 198.18.40.2/32 [terway_v2_in] <-> <P>v 198.18.40.1/24, fd00:40::1/64
 *                               rules 512 to pod / 2048 from pod -> 1100      remote 198.18.41.5, fd00:41::5 (lo)
 *
 * Addressing as the `veth` datapath does it (src/core/datapath/veth.ts); the VPC end routes the
 * pod's IPs to the ENI's MAC as the sim does. Checks: ping and TCP both ways, v4 and v6, go through
 * the redirects (the programs' counters grow, the node's IP forwarding counters do not: the host
 * stack was bypassed); a skipped destination (a service CIDR) takes the stack; the pod's ingress
 * and egress policy still drop when the policy programs exist. Everything carries prefixFor("dv").
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, rmSync } from "node:fs";
import type { MapDiff } from "../../src/core/policy/types.ts";
import { EP, type PolicyEntry } from "../../src/core/policy/types.ts";
import { openHandles } from "../../src/ffi/handles.ts";
import { objGet } from "../../src/ffi/libbpf/index.ts";
import { detach, ensureAttached, listAttached } from "../../src/linux/bpf/attach.ts";
import { PinLayout } from "../../src/linux/bpf/bpffs.ts";
import {
	attachV2ToEni,
	datapathV2Ready,
	readSkipCidrs,
	readV2Stats,
	removeDatapathV2,
	setSkipCidrs,
	setupDatapathV2,
	V2_PROGRAMS,
	type V2Stats,
} from "../../src/linux/bpf/datapathv2.ts";
import { attachPinnedProgram, PolicyProgram } from "../../src/linux/bpf/policy.ts";
import { Netns } from "../../src/linux/netns.ts";
import { canRun, cleanupNetns, ipJson, ping, prefixFor, sh } from "../helpers/env.ts";
import {
	addNetns,
	addVeth,
	HOST_VETH_MAC,
	ipIn as ip,
	podGateway,
	resetRun,
	sysctlIn as sysctl,
} from "../helpers/veth.ts";

const P = prefixFor("dv");
const POD = `${P}p`;
const NODE = `${P}n`;
const VPC = `${P}v`;
const HOST_VETH = `${P}h`;
const ENI = `${P}e`;
const VPC_END = `${P}v`;
const PIN_ROOT = `/sys/fs/bpf/${P}`;
const ENI_MAC = "02:16:3e:40:00:02";
const POD4 = "198.18.40.10";
const POD6 = "fd00:40::10";
const REMOTE4 = "198.18.41.5";
const REMOTE6 = "fd00:41::5";
const TABLE = "1100";
const POD_ID = 300;
/** The pod's ingress allows every peer, protocol and port. */
const ALLOW_ALL_IN: PolicyEntry = {
	endpoint: POD_ID,
	peer: 0,
	direction: "ingress",
	proto: 0,
	port: 0,
	bits: 0,
	rule: 1,
};

/** IPv4 and IPv6 forwarded-datagram counters of the node namespace (the host stack's work). */
function forwarded(): { v4: number; v6: number } {
	const snmp = sh(["ip", "netns", "exec", NODE, "cat", "/proc/net/snmp"]).out.split("\n");
	const head = snmp.find((l) => l.startsWith("Ip: Forwarding"))!.split(/\s+/);
	const vals = snmp.filter((l) => l.startsWith("Ip: "))[1]!.split(/\s+/);
	const v4 = Number(vals[head.indexOf("ForwDatagrams")]);
	const snmp6 = sh(["ip", "netns", "exec", NODE, "cat", "/proc/net/snmp6"]).out;
	const v6 = Number(/Ip6OutForwDatagrams\s+(\d+)/.exec(snmp6)?.[1] ?? "0");
	return { v4, v6 };
}

const delta = (a: V2Stats, b: V2Stats) =>
	Object.fromEntries(Object.entries(b).map(([k, v]) => [k, v - a[k as keyof V2Stats]])) as V2Stats;

/** One TCP transfer (iperf3, 256 KiB) from `clientNs` to the server in `serverNs` at `addr`. */
function tcp(serverNs: string, clientNs: string, addr: string, port: number): boolean {
	const server = Bun.spawn(["ip", "netns", "exec", serverNs, "iperf3", "-s", "-1", "-p", String(port)], {
		stdout: "ignore",
		stderr: "ignore",
	});
	try {
		for (let i = 0; i < 50; i++) {
			const ss = sh(["ip", "netns", "exec", serverNs, "ss", "-Htln", `sport = :${port}`]).out;
			if (ss.trim()) break;
			Bun.sleepSync(50);
		}
		const r = sh(
			[
				"ip",
				"netns",
				"exec",
				clientNs,
				"iperf3",
				...(addr.includes(":") ? ["-6"] : []),
				"-c",
				addr,
				"-p",
				String(port),
				"-n",
				"256K",
				"--connect-timeout",
				"3000",
			],
			{ allowFail: true },
		);
		return r.code === 0;
	} finally {
		server.kill();
	}
}

let node: Netns;

describe.skipIf(!canRun("tests/bpf/datapathv2.test.ts"))(
	"datapathv2 programs: host veth <-> ENI redirect",
	() => {
		beforeAll(() => {
			resetRun(P);
			addNetns(POD, NODE, VPC);
			// node <-> vpc: the "ENI"
			addVeth({ ns: NODE, name: ENI, mac: ENI_MAC }, { ns: VPC, name: VPC_END });
			sysctl(NODE, "net.ipv4.ip_forward=1");
			sysctl(NODE, "net.ipv6.conf.all.forwarding=1");
			sysctl(NODE, "net.ipv4.conf.all.rp_filter=0");
			sysctl(NODE, "net.ipv4.conf.default.rp_filter=0");
			sysctl(NODE, `net.ipv6.conf.${ENI}.accept_dad=0`);
			ip(NODE, "addr", "add", "198.18.40.2/32", "dev", ENI);
			ip(NODE, "link", "set", ENI, "up");
			ip(NODE, "route", "add", "default", "via", "198.18.40.1", "dev", ENI, "onlink", "table", TABLE);
			ip(NODE, "-6", "route", "add", "fd00:40::1/128", "dev", ENI);
			ip(NODE, "-6", "route", "add", "default", "via", "fd00:40::1", "dev", ENI, "onlink", "table", TABLE);
			sysctl(VPC, `net.ipv6.conf.${VPC_END}.accept_dad=0`);
			ip(VPC, "addr", "add", "198.18.40.1/24", "dev", VPC_END);
			ip(VPC, "addr", "add", "fd00:40::1/64", "dev", VPC_END, "nodad");
			ip(VPC, "addr", "add", `${REMOTE4}/32`, "dev", "lo");
			ip(VPC, "addr", "add", `${REMOTE6}/128`, "dev", "lo");
			ip(VPC, "link", "set", VPC_END, "up");
			for (const a of [POD4, POD6]) {
				ip(VPC, "neigh", "replace", a, "lladdr", ENI_MAC, "dev", VPC_END, "nud", "permanent");
				ip(VPC, "route", "replace", a, "dev", VPC_END);
			}
			// node <-> pod: the veth datapath's addressing
			addVeth({ ns: NODE, name: HOST_VETH, mac: HOST_VETH_MAC }, { ns: POD, name: "eth0" });
			sysctl(NODE, `net.ipv4.conf.${HOST_VETH}.proxy_arp=1`);
			sysctl(NODE, `net.ipv6.conf.${HOST_VETH}.accept_dad=0`);
			ip(NODE, "link", "set", HOST_VETH, "up");
			sysctl(POD, "net.ipv6.conf.eth0.accept_dad=0");
			ip(POD, "addr", "add", `${POD4}/32`, "dev", "eth0");
			ip(POD, "addr", "add", `${POD6}/128`, "dev", "eth0", "nodad");
			ip(POD, "link", "set", "eth0", "up");
			podGateway(POD, "eth0", { v6: true });
			for (const [a, fam] of [
				[POD4, "-4"],
				[POD6, "-6"],
			] as const) {
				ip(NODE, fam, "route", "add", a, "dev", HOST_VETH, "scope", "link");
				ip(NODE, fam, "rule", "add", "to", a, "lookup", "main", "priority", "512");
				ip(NODE, fam, "rule", "add", "from", a, "lookup", TABLE, "priority", "2048");
			}
			node = Netns.open(NODE);
		});

		afterAll(() => {
			node?.close();
			cleanupNetns(P);
			removeDatapathV2(PIN_ROOT);
			rmSync(PIN_ROOT, { recursive: true, force: true });
			expect(openHandles()).toEqual([]);
		});

		test("a pin root off bpffs is a setup error naming it, not a kernel fallback", () => {
			const bad = `/tmp/${P}-not-bpffs`;
			expect(() => setupDatapathV2({ pinRoot: bad })).toThrow(
				`pin directory ${bad} is not on a bpf filesystem`,
			);
			expect(existsSync(bad)).toBe(false);
		});

		test("plain routing first: the node forwards pod <-> VPC (no programs yet)", () => {
			expect(datapathV2Ready(PIN_ROOT)).toBe(false);
			const f0 = forwarded();
			expect(ping(POD, REMOTE4, 2)).toBe(true);
			expect(ping(POD, REMOTE6, 2)).toBe(true);
			const f1 = forwarded();
			expect(f1.v4 - f0.v4).toBeGreaterThanOrEqual(4); // 2 requests + 2 replies
			expect(f1.v6 - f0.v6).toBeGreaterThanOrEqual(4);
		});

		test("setup probes, loads and pins both programs; attach to the host veth and the ENI", () => {
			const s = setupDatapathV2({ pinRoot: PIN_ROOT, skipCidrs: [] });
			expect(s).toEqual({ ok: true });
			expect(datapathV2Ready(PIN_ROOT)).toBe(true);
			const pins = new PinLayout(PIN_ROOT);
			using out = objGet(pins.program(V2_PROGRAMS.out));
			expect(
				ensureAttached({ ns: node, ifName: HOST_VETH, direction: "ingress" }, out.fd, { pinRoot: PIN_ROOT })
					.changed,
			).toBe(true);
			expect(attachV2ToEni(node, ENI, PIN_ROOT).changed).toBe(true);
			expect(attachV2ToEni(node, ENI, PIN_ROOT).changed).toBe(false);
			expect(
				listAttached(node, ENI, { pinRoot: PIN_ROOT }).map((a) => [a.name, a.mode, a.direction]),
			).toEqual([[V2_PROGRAMS.in, "tcx", "ingress"]]);
			// a second setup (a daemon restart) re-pins; attachments stay
			expect(setupDatapathV2({ pinRoot: PIN_ROOT })).toEqual({ ok: true });
		});

		test("ping both ways, v4 and v6, bypasses the host stack", () => {
			// resolve the node's neighbour entries for the pod once (the first inbound packet of a
			// pod takes the stack: terway_v2_in redirects only to a resolved neighbour)
			expect(ping(VPC, POD4, 1)).toBe(true);
			expect(ping(VPC, POD6, 1)).toBe(true);
			const s0 = readV2Stats(PIN_ROOT);
			const f0 = forwarded();
			expect(ping(POD, REMOTE4, 3)).toBe(true);
			expect(ping(POD, REMOTE6, 3)).toBe(true);
			expect(ping(VPC, POD4, 3)).toBe(true);
			expect(ping(VPC, POD6, 3)).toBe(true);
			const d = delta(s0, readV2Stats(PIN_ROOT));
			const f1 = forwarded();
			expect(f1.v4 - f0.v4).toBe(0);
			expect(f1.v6 - f0.v6).toBe(0);
			// 12 echo requests + 12 replies: half leave the pod, half enter it
			expect(d.outRedirect).toBeGreaterThanOrEqual(12n);
			expect(d.inRedirect).toBeGreaterThanOrEqual(12n);
			expect(d.inDrop).toBe(0n);
		});

		test("TCP both ways, v4 and v6, bypasses the host stack", () => {
			const s0 = readV2Stats(PIN_ROOT);
			const f0 = forwarded();
			expect(tcp(VPC, POD, REMOTE4, 15201)).toBe(true);
			expect(tcp(POD, VPC, POD4, 15202)).toBe(true);
			expect(tcp(VPC, POD, REMOTE6, 15203)).toBe(true);
			expect(tcp(POD, VPC, POD6, 15204)).toBe(true);
			const d = delta(s0, readV2Stats(PIN_ROOT));
			const f1 = forwarded();
			expect(f1.v4 - f0.v4).toBe(0);
			expect(f1.v6 - f0.v6).toBe(0);
			expect(d.outRedirect).toBeGreaterThan(40n);
			expect(d.inRedirect).toBeGreaterThan(40n);
		});

		test("a destination in the skip list (a service CIDR) takes the host stack", () => {
			setSkipCidrs([`${REMOTE4}/32`, "fd00:41::/64"], PIN_ROOT);
			const s0 = readV2Stats(PIN_ROOT);
			const f0 = forwarded();
			expect(ping(POD, REMOTE4, 2)).toBe(true);
			expect(ping(POD, REMOTE6, 2)).toBe(true);
			const d = delta(s0, readV2Stats(PIN_ROOT));
			const f1 = forwarded();
			expect(d.outPass).toBeGreaterThanOrEqual(4n);
			expect(f1.v4 - f0.v4).toBeGreaterThanOrEqual(2); // the requests
			expect(f1.v6 - f0.v6).toBeGreaterThanOrEqual(2);
			setSkipCidrs([], PIN_ROOT);
			const s1 = readV2Stats(PIN_ROOT);
			expect(ping(POD, REMOTE4, 2)).toBe(true);
			expect(delta(s1, readV2Stats(PIN_ROOT)).outRedirect).toBeGreaterThanOrEqual(2n);
		});

		test("a service connection (kube-proxy-style DNAT in the node) works: NATed flows are left to the stack both ways", () => {
			const SVC = "198.18.42.1";
			sh([
				"ip",
				"netns",
				"exec",
				NODE,
				"iptables",
				"-t",
				"nat",
				"-A",
				"PREROUTING",
				"-d",
				`${SVC}/32`,
				"-p",
				"tcp",
				"--dport",
				"15501",
				"-j",
				"DNAT",
				"--to-destination",
				`${REMOTE4}:15501`,
			]);
			setSkipCidrs(["198.18.42.0/24"], PIN_ROOT);
			try {
				const s0 = readV2Stats(PIN_ROOT);
				// the pod talks to the service IP; the VPC's replies come back from the backend's IP and
				// must be un-DNATed by the node's conntrack (a redirect_peer would skip that: no connection)
				expect(tcp(VPC, POD, SVC, 15501)).toBe(true);
				const d = delta(s0, readV2Stats(PIN_ROOT));
				expect(d.outPass).toBeGreaterThan(10n);
				expect(d.inPass).toBeGreaterThan(10n);
				// a flow without NAT at the same time is still redirected
				const s1 = readV2Stats(PIN_ROOT);
				expect(tcp(VPC, POD, REMOTE4, 15502)).toBe(true);
				expect(delta(s1, readV2Stats(PIN_ROOT)).inRedirect).toBeGreaterThan(10n);
			} finally {
				setSkipCidrs([], PIN_ROOT);
				sh(["ip", "netns", "exec", NODE, "iptables", "-t", "nat", "-F", "PREROUTING"]);
			}
		});

		test("bad skip CIDR: a one-line error naming it, the list unchanged", () => {
			setSkipCidrs(["10.96.0.0/12"], PIN_ROOT);
			expect(() => setSkipCidrs(["fd00:96::/108", "10.300.0.0/16"], PIN_ROOT)).toThrow(
				'skip CIDR "10.300.0.0/16" is not an IPv4 or IPv6 CIDR',
			);
			expect(readSkipCidrs(PIN_ROOT)).toEqual(["10.96.0.0/12"]);
			setSkipCidrs(["fd00:96::/108"], PIN_ROOT);
			expect(readSkipCidrs(PIN_ROOT)).toEqual(["fd00:96:0:0:0:0:0:0/108"]);
			setSkipCidrs([], PIN_ROOT);
			expect(readSkipCidrs(PIN_ROOT)).toEqual([]);
		});

		describe("NetworkPolicy still holds on datapathv2", () => {
			let policy: PolicyProgram | undefined;
			const hostIfindex = () => ipJson<{ ifindex: number }[]>(NODE, ["link", "show", HOST_VETH])[0]!.ifindex;
			const podIps = (flags: number) =>
				[`${POD4}/32`, `${POD6}/128`].map((cidr) => ({ cidr, identity: POD_ID, flags }));
			const empty = () => ({
				ips: { set: [], del: [] },
				policy: { set: [], del: [] },
				idNames: { set: [], del: [] },
				ruleNames: { set: [], del: [] },
			});
			/** The pod's endpoint entries with these flags; no allow rule; connection tracking emptied. */
			const isolate = (flags: number) => {
				const d: MapDiff = empty();
				d.ips.set = podIps(EP.LOCAL | flags);
				d.policy.del = [ALLOW_ALL_IN];
				policy!.maps.apply(d);
				policy!.maps.flushCt();
			};

			beforeAll(() => {
				// the policy programs share the pinned maps with datapathv2's inbound check (pin by name)
				policy = PolicyProgram.load({ pinRoot: PIN_ROOT });
				// order on the host veth ingress: the policy first, the redirect after it
				detach({ ns: node, ifName: HOST_VETH, direction: "ingress" }, { pinRoot: PIN_ROOT });
				attachPinnedProgram({
					ns: node,
					ifName: HOST_VETH,
					direction: "ingress",
					program: "terway_pol_from",
					pinRoot: PIN_ROOT,
				});
				attachPinnedProgram({
					ns: node,
					ifName: HOST_VETH,
					direction: "egress",
					program: "terway_pol_to",
					pinRoot: PIN_ROOT,
				});
				using out = objGet(new PinLayout(PIN_ROOT).program(V2_PROGRAMS.out));
				ensureAttached({ ns: node, ifName: HOST_VETH, direction: "ingress" }, out.fd, { pinRoot: PIN_ROOT });
			});

			afterAll(() => {
				policy?.close();
			});

			test("the host veth runs terway_pol_from, then terway_v2_out", () => {
				expect(
					listAttached(node, HOST_VETH, { pinRoot: PIN_ROOT })
						.filter((a) => a.direction === "ingress")
						.map((a) => a.name),
				).toEqual(["terway_pol_from", V2_PROGRAMS.out]);
			});

			test("ingress isolation: the VPC's pings are dropped by terway_v2_in before the redirect; an allow rule lets them in", () => {
				isolate(EP.ISO_INGRESS);
				const s0 = readV2Stats(PIN_ROOT);
				expect(ping(VPC, POD4, 2)).toBe(false);
				expect(ping(VPC, POD6, 2)).toBe(false);
				const d = delta(s0, readV2Stats(PIN_ROOT));
				expect(d.inDrop).toBeGreaterThanOrEqual(4n);
				expect(d.inRedirect).toBe(0n);
				const st = policy!.maps.stats().find((x) => x.ifindex === hostIfindex() && x.direction === "ingress");
				expect(st?.dropped).toBeGreaterThanOrEqual(4n);
				// the pod may still start flows out (egress not isolated), and their replies come in
				expect(ping(POD, REMOTE4, 2)).toBe(true);

				const allow: MapDiff = empty();
				allow.policy.set = [ALLOW_ALL_IN];
				policy!.maps.apply(allow);
				const s1 = readV2Stats(PIN_ROOT);
				expect(ping(VPC, POD4, 2)).toBe(true);
				expect(ping(VPC, POD6, 2)).toBe(true);
				const d1 = delta(s1, readV2Stats(PIN_ROOT));
				expect(d1.inRedirect).toBeGreaterThanOrEqual(4n);
				expect(d1.inDrop).toBe(0n);
			});

			test("egress isolation: terway_pol_from drops the pod's packets before terway_v2_out redirects them", () => {
				isolate(EP.ISO_EGRESS);
				const s0 = readV2Stats(PIN_ROOT);
				expect(ping(POD, REMOTE4, 2)).toBe(false);
				expect(ping(POD, REMOTE6, 2)).toBe(false);
				expect(delta(s0, readV2Stats(PIN_ROOT)).outRedirect).toBe(0n);
				const st = policy!.maps.stats().find((x) => x.ifindex === hostIfindex() && x.direction === "egress");
				expect(st?.dropped).toBeGreaterThanOrEqual(4n);
				// not isolated for ingress: the VPC reaches the pod, its replies go out
				expect(ping(VPC, POD4, 2)).toBe(true);
				isolate(0);
				expect(ping(POD, REMOTE4, 2)).toBe(true);
			});
		});

		test("the programs' pins are where the plan's bpf op and the ENI attach look", () => {
			const pins = new PinLayout(PIN_ROOT);
			expect(existsSync(pins.program(V2_PROGRAMS.out))).toBe(true);
			expect(existsSync(pins.program(V2_PROGRAMS.in))).toBe(true);
		});
	},
);
