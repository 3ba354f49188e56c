/**
 * `make demo-linux`: what the Linux layer under terwayctl does, end to end, with real packets.
 *
 * Two network namespaces, "node" and "pod", joined by a veth made through the library the way
 * Terway's veth datapath wires a pod: the pod's eth0 holds a /32 (and /128), its default
 * route goes to 169.254.1.1 onlink with a static neighbour for the host veth's MAC, and the
 * node reaches the pod through a route in table 100 selected by a policy rule. The counter
 * eBPF program is attached to the host veth by TCX and counts the pings. Everything is made
 * through src/linux (netlink via libnl, eBPF via libbpf, both over bun:ffi); `ping` and the
 * cross-check `ip` listing are the only processes. It removes exactly what it made.
 */
import { rmSync } from "node:fs";
import { Counter, detach, ensureAttached } from "../src/linux/bpf/index.ts";
import { Netlink } from "../src/linux/netlink/handle.ts";
import { createNetns, deleteNetns, type Netns } from "../src/linux/netns.ts";

const prefix = `tw${Math.floor(Math.random() * 0xffff)
	.toString(16)
	.padStart(4, "0")}d`;
const NODE = `${prefix}-node`;
const POD = `${prefix}-pod`;
const HOST_VETH = `${prefix}h`; // <= 15 bytes
const PIN_ROOT = `/sys/fs/bpf/${prefix}`;
const POD_IP = "198.18.0.10";
const POD_IP6 = "fd00:10::10";
const NODE_IP = "198.18.1.1";
const NODE_IP6 = "fd00:1::1";

const bold = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const step = (s: string) => console.log(`\n${bold(`== ${s}`)}`);

function ping(ns: string, addr: string): boolean {
	const r = Bun.spawnSync(
		["ip", "netns", "exec", ns, "ping", "-c", "3", "-i", "0.2", "-W", "1", "-q", addr],
		{ stdout: "pipe", stderr: "pipe" },
	);
	const summary =
		r.stdout
			.toString()
			.split("\n")
			.find((l) => l.includes("packets transmitted")) ?? "";
	console.log(`   ping ${addr} from ${ns}: ${r.exitCode === 0 ? "ok" : "FAILED"}  (${summary.trim()})`);
	return r.exitCode === 0;
}

function show(title: string, ns: Netns): void {
	using nl = Netlink.at(ns);
	console.log(`   ${bold(title)}`);
	for (const l of nl.linkList()) {
		console.log(
			`     link  ${l.name.padEnd(15)} ${(l.kind ?? "-").padEnd(5)} ${l.mac ?? ""} mtu ${l.mtu} ${l.up ? "up" : "down"}`,
		);
	}
	for (const a of nl.addrList()) if (a.scope !== "link") console.log(`     addr  ${a.cidr} dev ${a.link}`);
	for (const r of nl.routeList({ table: "all" })) {
		if (r.type !== "unicast" || (r.family === 6 && r.dst.startsWith("fe80"))) continue;
		const via = r.gateway ? ` via ${r.gateway}` : "";
		const table = r.table === 254 ? "" : ` table ${r.table}`;
		console.log(`     route ${r.dst}${via} dev ${r.dev ?? "-"}${r.onlink ? " onlink" : ""}${table}`);
	}
	for (const r of nl.ruleList()) {
		if (r.table === 255 || r.table === 254 || r.table === 253) continue; // the default rules
		console.log(
			`     rule  ${r.priority}: ${r.from ? `from ${r.from} ` : ""}${r.to ? `to ${r.to} ` : ""}lookup ${r.table}`,
		);
	}
	for (const n of nl.neighList())
		if (n.permanent) console.log(`     neigh ${n.ip} lladdr ${n.mac} dev ${n.link} permanent`);
}

let ok = true;
const made: string[] = [];
try {
	step(`terwayctl build`);
	const v = Bun.spawnSync(["dist/terwayctl", "version"], { stdout: "pipe", stderr: "inherit" });
	console.log(v.stdout.toString().trimEnd().replace(/^/gm, "   "));

	step(`two network namespaces: ${NODE}, ${POD}`);
	using node = createNetns(NODE);
	made.push(NODE);
	using pod = createNetns(POD);
	made.push(POD);
	using nodeNl = Netlink.at(node);
	using podNl = Netlink.at(pod);

	step("veth pair, its pod end created directly in the pod namespace as eth0");
	nodeNl.linkAdd({ kind: "veth", name: HOST_VETH, peerName: "eth0", peerNetns: pod, mtu: 1500, up: true });
	const hostMac = nodeNl.linkByName(HOST_VETH).mac!;
	podNl.ensureLinkUp("lo");
	podNl.ensureLinkUp("eth0");
	nodeNl.ensureLinkUp("lo");

	step("addresses, routes, neighbours, a policy rule");
	podNl.addrAdd({ link: "eth0", cidr: `${POD_IP}/32` });
	podNl.addrAdd({ link: "eth0", cidr: `${POD_IP6}/128`, nodad: true });
	podNl.neighAdd({ link: "eth0", ip: "169.254.1.1", mac: hostMac });
	podNl.routeAdd({ dst: "default", gateway: "169.254.1.1", dev: "eth0", onlink: true });
	podNl.neighAdd({ link: "eth0", ip: "fe80::1", mac: hostMac });
	podNl.routeAdd({ dst: "default", family: 6, gateway: "fe80::1", dev: "eth0" });
	nodeNl.addrAdd({ link: "lo", cidr: `${NODE_IP}/32` });
	nodeNl.addrAdd({ link: "lo", cidr: `${NODE_IP6}/128`, nodad: true });
	nodeNl.routeAdd({ dst: `${POD_IP}/32`, dev: HOST_VETH, scope: "link", table: 100 });
	nodeNl.routeAdd({ dst: `${POD_IP6}/128`, dev: HOST_VETH });

	step("the eBPF counter on the host veth (TCX, ingress)");
	const counter = Counter.load({ pinRoot: PIN_ROOT });
	const target = { ns: node, ifName: HOST_VETH, direction: "ingress" as const };
	const att = ensureAttached(target, counter.programFd, { mode: "auto", pinRoot: PIN_ROOT });
	console.log(
		`   attached prog ${att.progId} by ${att.mode}${att.linkPin ? ` (link pinned at ${att.linkPin})` : ""}`,
	);

	step("packets");
	console.log("   the node's route back to the pod is in table 100, which no rule selects yet:");
	const before = ping(POD, NODE_IP);
	nodeNl.ruleAdd({ to: `${POD_IP}/32`, table: 100, priority: 1000 });

	step("what was made (listed through the library)");
	show(`node ${NODE}`, node);
	show(`pod ${POD}`, pod);

	step("packets, with the rule in place");
	const after = ping(POD, NODE_IP);
	const after6 = ping(POD, NODE_IP6);
	ok = !before && after && after6;

	const hostIndex = nodeNl.linkByName(HOST_VETH).index;
	const stats = counter.maps.statsFor(hostIndex);
	console.log(
		`   eBPF counter on ${HOST_VETH}: ${stats.packets} packets, ${stats.bytes} bytes, ${stats.drops} drops`,
	);
	counter.maps.setDrop(true);
	console.log("   drop switch on:");
	const dropped = !ping(POD, NODE_IP);
	counter.maps.setDrop(false);
	console.log(`   dropped by eBPF: ${counter.maps.statsFor(hostIndex).drops} packets`);
	ok &&= dropped && stats.packets > 0n;

	detach(target, { pinRoot: PIN_ROOT });
	counter.close();
} catch (e) {
	ok = false;
	console.error(`demo failed: ${(e as Error).message}`);
} finally {
	step("cleanup");
	for (const name of made.reverse())
		console.log(`   netns ${name}: ${deleteNetns(name) ? "removed" : "already gone"}`);
	rmSync(PIN_ROOT, { recursive: true, force: true });
	console.log(`   bpffs ${PIN_ROOT}: removed`);
}
console.log(`\n${ok ? "demo-linux ok" : "demo-linux FAILED"}`);
process.exit(ok ? 0 : 1);
