/**
 * The netns-mode VPC of `terwayctl sim`: real network namespaces that follow the world through
 * WorldEvents (cloud-sim.md §5.4, the verified "real ENI" datapath).
 *
 * - `${prefix}-vpc` is an L3 router (forwarding on, no default route, so nothing leaks): the
 *   vSwitch gateways and the NETNS_ENDPOINTS addresses live on its `lo`.
 * - Each instance is a node namespace `${prefix}-<nodeName>`; its primary ENI is `eth0`, a veth
 *   whose node side carries the API MAC and the primary IP, default route via the gateway.
 * - Every attached ENI is one veth pair made in ONE RTM_NEWLINK across both namespaces. The VPC
 *   side (the "port", named `p<mac hex>`, 13 bytes) has MAC ee:ff:ff:ff:ff:ff, proxy_arp,
 *   proxy_delay 0 (pitfall 1), proxy_ndp, and a /32 (/128) route plus a permanent neighbour
 *   ip -> ENI MAC for exactly the IPs assigned to the ENI. A hot-plugged ENI's node side is
 *   `eth<deviceIndex>`, left down and unconfigured like a new NIC.
 * - IPv6 has no proxy-everything: each port carries proxy entries for its vSwitch's IPv6 gateway
 *   and for the IPv6s of the other ports in the same vSwitch (on-link peers, pitfall 9).
 *
 * Source/destination check (anti-spoofing), done with policy rules, exact per port and family:
 *   pref 100   iif <port> from <assigned ip>   goto 1000   (one per IP the ENI holds)
 *   pref 100   iif <port> from fe80::/10       goto 1000   (IPv6 neighbour discovery)
 *   pref 100   iif <port> from <node primary IP> to <v4 gateway>  goto 1000   (secondary ENIs: gateway ARP, see #plug)
 *   pref 200   iif <port>                      blackhole   (everything else from that port)
 *   pref 1000  lookup local                               (moved from pref 0, so the check
 *   pref 32766 lookup main                                 also guards the VPC's own addresses:
 *                                                          metadata tells nodes apart by source)
 * A rule's iif matches only packets received on that port, so the VPC's own replies (iif lo)
 * skip straight to pref 1000. Why not strict rp_filter: it is IPv4 only. ARP is checked by the
 * same rules (arp_process routes the request with its sender IP): a request for the vSwitch
 * gateway from the node's primary IP is answered on every ENI of that node (Terway puts that IP on
 * secondary ENIs), any other from an address not on that ENI gets no answer (pitfall 2).
 * Dropped packets still count in the port's rx counters.
 *
 * All kernel work goes through src/linux (never ip/tc processes). The datapath owns its
 * namespaces and remembers what it made; `destroy()` removes exactly those.
 */
import { parseCIDR, parseIP, prefixContains } from "../../core/net/ip.ts";
import { isExistsError, isNotFoundError, LinuxError } from "../../linux/errors.ts";
import { Netlink } from "../../linux/netlink/handle.ts";
import type { RuleSpec } from "../../linux/netlink/types.ts";
import { createNetns, deleteNetns, listNetns, NETNS_RUN_DIR, type Netns } from "../../linux/netns.ts";
import { ensureIpForward, ensureProxyArp, ensureRpFilter, ensureSysctl } from "../../linux/sysctl.ts";
import {
	type EniView,
	type InstanceView,
	NETNS_ENDPOINTS,
	simNetns,
	VPC_GATEWAY_MAC,
	type WorldEvent,
} from "../contracts.ts";

/** One vSwitch as the VPC router sees it. */
export type VSwitchSpec = { cidr: string; gateway: string; ipv6Cidr?: string; ipv6Gateway?: string };

/** What `VpcDatapath.create` builds. */
export type VpcSpec = { vpcCidr: string; ipv6Cidr?: string; vswitches: VSwitchSpec[] };

/** Rule priorities in the VPC namespace (see the module header). */
export const VPC_RULE_PRIO = { allow: 100, deny: 200, local: 1000 } as const;

/** The VPC-side port of the ENI with this MAC: `p` + 12 hex digits (fits IFNAMSIZ). */
export function portName(mac: string): string {
	const hex = mac.toLowerCase().replace(/[:-]/g, "");
	if (!/^[0-9a-f]{12}$/.test(hex)) throw new SimDatapathError(`bad ENI MAC ${JSON.stringify(mac)}`);
	return `p${hex}`;
}

/** Every namespace of the world `prefix` (VPC, nodes, pods): what `sim down` removes. */
export function worldNetns(prefix: string): string[] {
	return listNetns().filter((n) => n.startsWith(`${prefix}-`));
}

/** A world event the datapath cannot apply (unknown instance, bad address, ...). */
export class SimDatapathError extends Error {
	override readonly name = "SimDatapathError";
}

type Node = { nodeName: string; instanceId: string; nsName: string; ns: Netns; primaryIp: string };

type Port = {
	name: string;
	eniId: string;
	mac: string;
	instanceId: string;
	/** Node-side link name (eth<deviceIndex>). */
	ifName: string;
	ips: Set<string>;
	ipv6s: Set<string>;
	ipv6Cidr: string | undefined;
	ipv6Gateway: string | undefined;
	/** IPv6 proxy entries on this port (the kernel has no dump of them through libnl). */
	proxies: Set<string>;
};

const prefixLen = (cidr: string): number => parseCIDR(cidr).prefixlen;

/** The VPC of one world: the router namespace, the node namespaces and the ENI ports. */
export class VpcDatapath {
	readonly #nl: Netlink;
	readonly #vpc: Netns;
	readonly #nodes = new Map<string, Node>(); // by instanceId
	readonly #ports = new Map<string, Port>(); // by eniId
	#closed = false;

	private constructor(
		readonly prefix: string,
		vpc: Netns,
		nl: Netlink,
	) {
		this.#vpc = vpc;
		this.#nl = nl;
	}

	/**
	 * Make `${prefix}-vpc`: forwarding v4/v6 on, rp_filter off (the rules check sources), the
	 * local rule moved to pref 1000, vSwitch gateways and NETNS_ENDPOINTS on lo, no default route.
	 * Fails (EEXIST) when the namespace is already there; leaves nothing behind on failure.
	 * @example
	 * const vpc = VpcDatapath.create("tw1", { vpcCidr: "198.18.0.0/15",
	 *   vswitches: [{ cidr: "198.18.0.0/24", gateway: "198.18.0.253" }] });
	 * world.on((e) => vpc.handle(e));
	 */
	static create(prefix: string, spec: VpcSpec): VpcDatapath {
		if (!/^[A-Za-z0-9][A-Za-z0-9_.]*$/.test(prefix)) {
			throw new SimDatapathError(`world prefix ${JSON.stringify(prefix)}: letters, digits, '_' and '.' only`);
		}
		parseCIDR(spec.vpcCidr);
		if (spec.ipv6Cidr) parseCIDR(spec.ipv6Cidr);
		const vpc = createNetns(simNetns.vpc(prefix));
		let nl: Netlink | undefined;
		try {
			nl = Netlink.at(vpc);
			nl.linkSet("lo", { up: true });
			for (const k of ["all", "default"] as const) ensureRpFilter(vpc, k, 0);
			ensureIpForward(vpc, 4);
			ensureIpForward(vpc, 6);
			ensureSysctl(vpc, "net/ipv6/conf/default/accept_dad", 0);
			for (const family of [4, 6] as const) {
				nl.ensureRule({ family, priority: VPC_RULE_PRIO.local, table: 255 });
				nl.ruleDel({ family, priority: 0, table: 255 });
			}
			const los = new Set<string>(Object.values(NETNS_ENDPOINTS).map((ip) => `${ip}/32`));
			for (const sw of spec.vswitches) {
				parseCIDR(sw.cidr);
				if (sw.ipv6Cidr) parseCIDR(sw.ipv6Cidr);
				los.add(`${sw.gateway}/32`);
				if (sw.ipv6Gateway) los.add(`${sw.ipv6Gateway}/128`);
			}
			for (const cidr of los) nl.ensureAddr({ link: "lo", cidr, nodad: cidr.includes(":") });
			return new VpcDatapath(prefix, vpc, nl);
		} catch (e) {
			nl?.close();
			vpc.close();
			deleteNetns(simNetns.vpc(prefix));
			throw e;
		}
	}

	/** The VPC router namespace (for `serveIn`). Owned by the datapath: do not close it. */
	get vpcNetns(): Netns {
		return this.#vpc;
	}

	/** `ip netns` name of a node's namespace (it exists once instance.up was handled). */
	nodeNetnsName(nodeName: string): string {
		return simNetns.node(this.prefix, nodeName);
	}

	/** Bind-mount path of a node's namespace (`/run/netns/<name>`), e.g. for CNI_NETNS-style use. */
	nodeNetnsPath(nodeName: string): string {
		return `${NETNS_RUN_DIR}/${this.nodeNetnsName(nodeName)}`;
	}

	/** The node namespaces made so far: nodeName -> `ip netns` name. */
	nodes(): { nodeName: string; instanceId: string; netns: string }[] {
		return [...this.#nodes.values()].map((n) => ({
			nodeName: n.nodeName,
			instanceId: n.instanceId,
			netns: n.nsName,
		}));
	}

	/** The ports (one per attached ENI) and the addresses the VPC routes to each. */
	ports(): {
		port: string;
		eniId: string;
		mac: string;
		instanceId: string;
		ifName: string;
		ips: string[];
		ipv6s: string[];
	}[] {
		return [...this.#ports.values()].map((p) => ({
			port: p.name,
			eniId: p.eniId,
			mac: p.mac,
			instanceId: p.instanceId,
			ifName: p.ifName,
			ips: [...p.ips],
			ipv6s: [...p.ipv6s],
		}));
	}

	/**
	 * Apply one world transition. Synchronous kernel work; async only to fit WorldListener.
	 * Idempotent: the same event twice leaves the same state.
	 */
	async handle(event: WorldEvent): Promise<void> {
		this.apply(event);
	}

	/** `handle` without the promise. */
	apply(event: WorldEvent): void {
		if (this.#closed) throw new SimDatapathError(`datapath ${this.prefix} is destroyed`);
		switch (event.type) {
			case "instance.up":
				this.#instanceUp(event.instance);
				return;
			case "eni.attached":
				this.#attach(event.instance, event.eni);
				return;
			case "eni.ips":
				this.#ips(event.eni);
				return;
			case "eni.detached":
				this.#detach(event.eniId, event.mac);
				return;
			default:
				throw new SimDatapathError(`unknown world event ${(event as { type: string }).type}`);
		}
	}

	// ------------------------------------------------------------------------------------------

	#instanceUp(inst: InstanceView): void {
		let node = this.#nodes.get(inst.instanceId);
		if (!node) {
			const nsName = simNetns.node(this.prefix, inst.nodeName);
			const ns = createNetns(nsName);
			node = {
				nodeName: inst.nodeName,
				instanceId: inst.instanceId,
				nsName,
				ns,
				primaryIp: inst.primaryEni.primaryIp,
			};
			this.#nodes.set(inst.instanceId, node);
		}
		const eni = inst.primaryEni;
		const ifName = `eth${eni.deviceIndex ?? 0}`;
		this.#plug(node, eni, ifName);
		// The primary ENI comes configured, as DHCP/cloud-init would leave it.
		using nl = Netlink.at(node.ns);
		nl.ensureLinkUp("lo");
		nl.ensureLinkUp(ifName);
		nl.ensureAddr({ link: ifName, cidr: `${eni.primaryIp}/${prefixLen(eni.cidr)}` });
		nl.ensureRoute({ dst: "default", gateway: eni.gateway, dev: ifName });
		const v6 = eni.ipv6s[0];
		if (v6 && eni.ipv6Cidr && eni.ipv6Gateway) {
			nl.ensureAddr({ link: ifName, cidr: `${v6}/${prefixLen(eni.ipv6Cidr)}`, nodad: true });
			nl.ensureRoute({ dst: "default", family: 6, gateway: eni.ipv6Gateway, dev: ifName });
		}
	}

	#attach(inst: InstanceView, eni: EniView): void {
		const node = this.#nodes.get(inst.instanceId);
		if (!node) throw new SimDatapathError(`eni.attached ${eni.eniId}: instance ${inst.instanceId} is not up`);
		if (eni.deviceIndex === undefined)
			throw new SimDatapathError(`eni.attached ${eni.eniId}: no deviceIndex`);
		this.#plug(node, eni, `eth${eni.deviceIndex}`);
	}

	/** Make (or find) the ENI's veth pair and port, then route exactly its IPs. */
	#plug(node: Node, eni: EniView, ifName: string): void {
		const name = portName(eni.mac);
		if (!this.#nl.linkFind(name)) {
			// One RTM_NEWLINK: both ends or neither; the node end appears with the ENI MAC, down.
			this.#nl.linkAdd({
				kind: "veth",
				name,
				mac: VPC_GATEWAY_MAC,
				peerName: ifName,
				peerNetns: node.ns,
				peerMac: eni.mac,
			});
		}
		const port: Port = this.#ports.get(eni.eniId) ?? {
			name,
			eniId: eni.eniId,
			mac: eni.mac,
			instanceId: node.instanceId,
			ifName,
			ips: new Set(),
			ipv6s: new Set(),
			ipv6Cidr: eni.ipv6Cidr,
			ipv6Gateway: eni.ipv6Gateway,
			proxies: new Set(),
		};
		this.#ports.set(eni.eniId, port);
		this.#setupPort(name);
		// Terway puts the node's primary IP (not the ENI's) on secondary ENIs (terway-features
		// quirk 3), so a policy-routed pod's first packet ARPs for the gateway from that address,
		// which the port does not own; the real vSwitch answers anyway. arp_process routes the
		// request sender -> gateway with iif = port, so this rule lets exactly that through: the
		// node's own primary IP towards the gateway address, never anything forwarded.
		if (!eni.ips.includes(node.primaryIp)) {
			const gw = { priority: VPC_RULE_PRIO.allow, iif: name, from: node.primaryIp, to: `${eni.gateway}/32` };
			this.#ruleIdem({ ...gw, action: "goto", goto: VPC_RULE_PRIO.local });
		}
		this.#sync(port, eni);
	}

	#setupPort(name: string): void {
		const vpc = this.#vpc;
		ensureRpFilter(vpc, name, 0);
		ensureProxyArp(vpc, name, true);
		ensureSysctl(vpc, `net/ipv4/neigh/${name}/proxy_delay`, 0);
		ensureSysctl(vpc, `net/ipv6/neigh/${name}/proxy_delay`, 0);
		ensureSysctl(vpc, `net/ipv6/conf/${name}/proxy_ndp`, 1);
		ensureSysctl(vpc, `net/ipv6/conf/${name}/accept_dad`, 0);
		this.#nl.ensureLinkUp(name);
		for (const family of [4, 6] as const) {
			this.#ruleIdem({ family, priority: VPC_RULE_PRIO.deny, iif: name, action: "blackhole" });
		}
		this.#ruleIdem(this.#allow(name, "fe80::/10"));
	}

	#allow(port: string, from: string): RuleSpec {
		return { priority: VPC_RULE_PRIO.allow, iif: port, from, action: "goto", goto: VPC_RULE_PRIO.local };
	}

	#ruleIdem(spec: RuleSpec): void {
		try {
			this.#nl.ruleAdd(spec);
		} catch (e) {
			if (!isExistsError(e)) throw e;
		}
	}

	#ips(eni: EniView): void {
		const port = this.#ports.get(eni.eniId);
		if (!port) throw new SimDatapathError(`eni.ips ${eni.eniId}: the ENI is not attached`);
		this.#sync(port, eni);
	}

	/** Make the VPC route exactly eni.ips / eni.ipv6s to the port (add new, remove gone). */
	#sync(port: Port, eni: EniView): void {
		const nl = this.#nl;
		const want = { 4: new Set(eni.ips), 6: new Set(eni.ipv6s) } as const;
		for (const ip of [...want[4], ...want[6]]) parseIP(ip);
		for (const family of [4, 6] as const) {
			const have = family === 4 ? port.ips : port.ipv6s;
			const len = family === 4 ? 32 : 128;
			for (const ip of have) {
				if (want[family].has(ip)) continue;
				this.#quiet(() => nl.ruleDel(this.#allow(port.name, ip)));
				this.#quiet(() => nl.routeDel({ dst: `${ip}/${len}`, dev: port.name }));
				this.#quiet(() => nl.neighDel({ link: port.name, ip }));
				have.delete(ip);
			}
			for (const ip of want[family]) {
				nl.routeReplace({ dst: `${ip}/${len}`, dev: port.name });
				nl.neighReplace({ link: port.name, ip, mac: port.mac });
				this.#ruleIdem(this.#allow(port.name, ip));
				have.add(ip);
			}
		}
		this.#syncProxies();
	}

	/** IPv6 proxy entries: each port answers NS for its gateway and its on-link peers. */
	#syncProxies(): void {
		for (const port of this.#ports.values()) {
			const want = new Set<string>();
			if (port.ipv6Cidr && port.ipv6Gateway) {
				const net = parseCIDR(port.ipv6Cidr);
				want.add(port.ipv6Gateway);
				for (const other of this.#ports.values()) {
					if (other === port) continue;
					for (const ip of other.ipv6s) if (prefixContains(net, parseIP(ip))) want.add(ip);
				}
			}
			for (const ip of port.proxies) {
				if (want.has(ip)) continue;
				this.#quiet(() => this.#nl.neighProxyDel({ link: port.name, ip }));
				port.proxies.delete(ip);
			}
			for (const ip of want) {
				if (port.proxies.has(ip)) continue;
				this.#nl.neighProxyAdd({ link: port.name, ip });
				port.proxies.add(ip);
			}
		}
	}

	/** Run a delete that may find nothing to delete. */
	#quiet(fn: () => void): void {
		try {
			fn();
		} catch (e) {
			if (!isNotFoundError(e)) throw e;
		}
	}

	#detach(eniId: string, mac: string): void {
		const name = portName(mac);
		// The node's ethN goes with its peer; routes, neighbours and proxies with the port.
		this.#nl.ensureLinkDel(name);
		for (const r of this.#nl.ruleList()) {
			if (r.iif !== name) continue;
			const base = { family: r.family, priority: r.priority, iif: name, from: r.from, to: r.to };
			const spec: RuleSpec =
				r.action === "goto" && r.goto !== undefined
					? { ...base, action: "goto", goto: r.goto }
					: r.action === "blackhole"
						? { ...base, action: "blackhole" }
						: { ...base, table: r.table };
			this.#quiet(() => this.#nl.ruleDel(spec));
		}
		this.#ports.delete(eniId);
		this.#syncProxies();
	}

	// ------------------------------------------------------------------------------------------

	/**
	 * Remove exactly this world's namespaces (`${prefix}-vpc` and the node namespaces it made)
	 * and close its handles. Servers started with `serveIn` must be stopped by their owner.
	 */
	destroy(): void {
		if (this.#closed) return;
		this.#closed = true;
		const errors: unknown[] = [];
		const attempt = (fn: () => unknown) => {
			try {
				fn();
			} catch (e) {
				errors.push(e);
			}
		};
		attempt(() => this.#nl.close());
		attempt(() => this.#vpc.close());
		attempt(() => deleteNetns(simNetns.vpc(this.prefix)));
		for (const n of this.#nodes.values()) {
			attempt(() => n.ns.close());
			attempt(() => deleteNetns(n.nsName));
		}
		this.#nodes.clear();
		this.#ports.clear();
		if (errors.length > 0) {
			throw new LinuxError(
				"sim.destroy",
				`destroying world ${this.prefix}: ${errors.length} step(s) failed`,
				errors,
			);
		}
	}

	[Symbol.dispose](): void {
		this.destroy();
	}
}
