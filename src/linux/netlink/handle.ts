/**
 * `Netlink`: a handle bound to one network namespace (vishvananda `NewHandleAt`), with
 * object-first iproute2 verbs (linkAdd, addrAdd, routeReplace, ruleAdd, neighAdd, ...) and
 * idempotent `ensure*` operations that report `{ changed }`.
 *
 * It owns one libnl route socket, opened inside the namespace (setns -> connect -> back), so
 * every request acts there while the JS thread stays home. It validates every argument before
 * sending anything and raises LinuxError saying what and where, with the kernel's ErrnoError
 * as `cause`. It must not run iproute2 as a process, hold a Pointer, or await while inside a namespace.
 */

import { formatCIDR, formatIP, formatMAC } from "../../core/net/ip.ts";
import { isExists, isNotFound } from "../../ffi/errno.ts";
import {
	AF_UNSPEC,
	addrAdd,
	addrDelete,
	addrList,
	IFA_F_NODAD,
	IFF_UP,
	type LinkCreate,
	type LinkRecord,
	linkAdd,
	linkAddRequestBytes,
	linkChange,
	linkDelete,
	linkGet,
	linkList,
	NlSocket,
	NTF_PROXY,
	NUD_PERMANENT,
	neighAdd,
	neighDelete,
	neighList,
	type RouteSpec as RouteRec,
	type RouteRecord,
	RT_SCOPE_LINK,
	RT_SCOPE_UNIVERSE,
	RTNH_F_ONLINK,
	type RuleSpec as RuleRec,
	type RuleRecord,
	routeAdd,
	routeDelete,
	routeList,
	ruleAdd,
	ruleDelete,
	ruleList,
} from "../../ffi/libnl/index.ts";
import { isNotFoundError, LinuxError } from "../errors.ts";
import type { Netns } from "../netns.ts";
import type {
	Addr,
	AddrSpec,
	Ensured,
	Link,
	LinkAddSpec,
	LinkSetSpec,
	Neigh,
	NeighProxySpec,
	NeighSpec,
	Route,
	RouteFilter,
	RouteSpec,
	Rule,
	RuleSpec,
} from "./types.ts";
import {
	afOf,
	checkLinkName,
	checkMtu,
	checkVlanId,
	familyOf,
	fault,
	IPVLAN_MODES,
	MACVLAN_MODES,
	nudNames,
	operstateName,
	type ParsedRoute,
	type ParsedRule,
	parseCidrAt,
	parseIpAt,
	parseMacAt,
	parseRoute,
	parseRule,
	protocolName,
	RULE_ACTION_NUM,
	routeTypeName,
	ruleActionName,
	scopeName,
	scopeNum,
	VLAN_PROTOCOLS,
} from "./validate.ts";

const errText = (e: unknown): string => (e instanceof Error ? e.message : String(e));

function toLink(r: LinkRecord): Link {
	return {
		index: r.index,
		name: r.name,
		kind: r.kind,
		parentIndex: r.link || undefined,
		masterIndex: r.master || undefined,
		flags: r.flags,
		up: (r.flags & IFF_UP) !== 0,
		mac: r.mac && r.mac.length === 6 ? formatMAC(r.mac) : undefined,
		mtu: r.mtu,
		operstate: operstateName(r.operstate),
	};
}

/** A netlink handle bound to one network namespace. Close it (or `using`). */
export class Netlink {
	readonly #sk: NlSocket;
	/** The namespace name (or path) used in error messages. */
	readonly where: string;

	private constructor(sk: NlSocket, where: string) {
		this.#sk = sk;
		this.where = where;
	}

	/**
	 * A handle whose requests act in `ns`. The namespace fd is only needed while opening; the
	 * handle stays valid after `ns` is closed.
	 * @example
	 * using ns = Netns.open("pod1");
	 * using nl = Netlink.at(ns);
	 * nl.addrAdd({ link: "eth0", cidr: "198.18.0.10/24" });
	 */
	static at(ns: Netns): Netlink {
		const where = ns.name ?? ns.path;
		return new Netlink(NlSocket.open(ns.fd, `rtnetlink netns ${where}`), where);
	}

	/** A handle in the namespace the calling thread is in now. */
	static current(): Netlink {
		return new Netlink(NlSocket.open(undefined, "rtnetlink current netns"), "(current)");
	}

	close(): void {
		this.#sk.close();
	}

	[Symbol.dispose](): void {
		this.close();
	}

	/** Wrap a kernel/libnl failure as "<subject> in netns X: <reason>". */
	#fail(op: string, subject: string, e: unknown): never {
		if (e instanceof LinuxError) throw e;
		const why = isExists(e) ? "already exists" : isNotFound(e) ? `not found (${errText(e)})` : errText(e);
		throw fault(op, subject, this.where, why, e);
	}

	// ------------------------------------------------------------------------------------------
	// links

	/** The link named `name`, or undefined when there is none. */
	linkFind(name: string): Link | undefined {
		try {
			return this.linkByName(name);
		} catch (e) {
			if (isNotFoundError(e)) return undefined;
			throw e;
		}
	}

	/** The link named `name`; LinuxError (isNotFoundError) when absent. */
	linkByName(name: string): Link {
		checkLinkName("link.get", name, this.where);
		try {
			return toLink(linkGet(this.#sk, { name }));
		} catch (e) {
			if (isNotFound(e)) throw fault("link.get", `link ${name}`, this.where, "not found", e);
			this.#fail("link.get", `link ${name}`, e);
		}
	}

	/** The link with ifindex `index`; LinuxError (isNotFoundError) when absent. */
	linkByIndex(index: number): Link {
		if (!Number.isInteger(index) || index <= 0)
			throw fault("link.get", `link #${index}`, this.where, "bad ifindex");
		try {
			return toLink(linkGet(this.#sk, { index }));
		} catch (e) {
			this.#fail("link.get", `link #${index}`, e);
		}
	}

	/** Every link in the namespace, by ifindex. */
	linkList(): Link[] {
		try {
			return linkList(this.#sk)
				.map(toLink)
				.sort((a, b) => a.index - b.index);
		} catch (e) {
			this.#fail("link.list", "links", e);
		}
	}

	#index(op: string, name: string, what = "link"): number {
		checkLinkName(op, name, this.where, what);
		try {
			return linkGet(this.#sk, { name }).index;
		} catch (e) {
			if (isNotFound(e)) throw fault(op, `${what} ${name}`, this.where, "not found", e);
			this.#fail(op, `${what} ${name}`, e);
		}
	}

	/** Validate a LinkAddSpec and turn it into the ffi record (resolving the parent). */
	#linkCreate(op: string, spec: LinkAddSpec): LinkCreate {
		const subject = `link ${spec.name}`;
		checkLinkName(op, spec.name, this.where);
		checkMtu(op, subject, this.where, spec.mtu);
		const mac = spec.mac !== undefined ? parseMacAt(op, subject, this.where, spec.mac) : undefined;
		const base = { name: spec.name, mac, mtu: spec.mtu, up: spec.up };
		switch (spec.kind) {
			case "veth": {
				const peerWhere = spec.peerNetns ? (spec.peerNetns.name ?? spec.peerNetns.path) : this.where;
				checkLinkName(op, spec.peerName, peerWhere, "peer");
				checkMtu(op, `peer ${spec.peerName}`, peerWhere, spec.peerMtu);
				if (!spec.peerNetns && spec.peerName === spec.name) {
					throw fault(op, subject, this.where, "peer name equals the link name in the same netns");
				}
				const peerMac =
					spec.peerMac !== undefined
						? parseMacAt(op, `peer ${spec.peerName}`, peerWhere, spec.peerMac)
						: undefined;
				return {
					...base,
					kind: "veth",
					peer: {
						name: spec.peerName,
						nsFd: spec.peerNetns?.fd.fd,
						mac: peerMac,
						mtu: spec.peerMtu,
					},
				};
			}
			case "macvlan": {
				const mode = spec.mode ?? "bridge";
				if (!(mode in MACVLAN_MODES)) throw fault(op, subject, this.where, `unknown macvlan mode ${mode}`);
				return {
					...base,
					kind: "macvlan",
					parentIndex: this.#index(op, spec.parent, "parent"),
					macvlanMode: MACVLAN_MODES[mode],
					nsFd: spec.netns?.fd.fd,
				};
			}
			case "ipvlan": {
				const mode = spec.mode ?? "l2";
				if (!(mode in IPVLAN_MODES)) throw fault(op, subject, this.where, `unknown ipvlan mode ${mode}`);
				return {
					...base,
					kind: "ipvlan",
					parentIndex: this.#index(op, spec.parent, "parent"),
					ipvlanMode: IPVLAN_MODES[mode],
					nsFd: spec.netns?.fd.fd,
				};
			}
			case "vlan": {
				checkVlanId(op, subject, this.where, spec.id);
				const proto = spec.protocol ?? "802.1Q";
				if (!(proto in VLAN_PROTOCOLS))
					throw fault(op, subject, this.where, `unknown vlan protocol ${proto}`);
				return {
					...base,
					kind: "vlan",
					parentIndex: this.#index(op, spec.parent, "parent"),
					vlanId: spec.id,
					vlanProtocol: VLAN_PROTOCOLS[proto],
					nsFd: spec.netns?.fd.fd,
				};
			}
			default:
				throw fault(op, subject, this.where, `unsupported link kind ${(spec as { kind: string }).kind}`);
		}
	}

	/**
	 * Create a link with one RTM_NEWLINK (NLM_F_EXCL): a veth with its peer (optionally created
	 * straight into another netns), a macvlan/ipvlan/vlan on a parent. The kernel makes all or
	 * nothing, so a failure leaves no half-made pair. ipvlan/vlan fail with EOPNOTSUPP on kernels
	 * without those drivers (check with `isNotSupportedError`).
	 */
	linkAdd(spec: LinkAddSpec): void {
		const rec = this.#linkCreate("link.add", spec);
		try {
			linkAdd(this.#sk, rec);
		} catch (e) {
			this.#fail("link.add", `${spec.kind} link ${spec.name}`, e);
		}
	}

	/**
	 * The RTM_NEWLINK bytes libnl would send for `spec` (parent resolved here), for golden tests.
	 * Sends nothing.
	 */
	linkAddRequest(spec: LinkAddSpec): Uint8Array {
		return linkAddRequestBytes(this.#linkCreate("link.add", spec));
	}

	/** Change one link in a single request: rename, MAC, MTU, up/down, move to another netns. */
	linkSet(name: string, set: LinkSetSpec): void {
		const op = "link.set";
		const subject = `link ${name}`;
		const index = this.#index(op, name);
		if (set.name !== undefined)
			checkLinkName(op, set.name, set.netns ? (set.netns.name ?? set.netns.path) : this.where);
		checkMtu(op, subject, this.where, set.mtu);
		const mac = set.mac !== undefined ? parseMacAt(op, subject, this.where, set.mac) : undefined;
		try {
			linkChange(this.#sk, index, { name: set.name, mac, mtu: set.mtu, up: set.up, nsFd: set.netns?.fd.fd });
		} catch (e) {
			this.#fail(op, subject, e);
		}
	}

	/** Delete a link (a veth takes its peer with it). */
	linkDel(name: string): void {
		const index = this.#index("link.del", name);
		try {
			linkDelete(this.#sk, index);
		} catch (e) {
			this.#fail("link.del", `link ${name}`, e);
		}
	}

	/**
	 * Make sure a link named `spec.name` of `spec.kind` exists (created as linkAdd would). An
	 * existing link of another kind is an error, not silently accepted. With `up: true` an
	 * existing link is also brought up.
	 */
	ensureLink(spec: LinkAddSpec): Ensured {
		const have = this.linkFind(spec.name);
		if (!have) {
			this.linkAdd(spec);
			return { changed: true };
		}
		if (have.kind !== spec.kind) {
			throw fault(
				"link.ensure",
				`link ${spec.name}`,
				this.where,
				`exists with kind ${have.kind ?? "none"}, want ${spec.kind}`,
			);
		}
		return spec.up ? this.ensureLinkUp(spec.name) : { changed: false };
	}

	/** Set the link up unless it already is. */
	ensureLinkUp(name: string): Ensured {
		return this.ensureLinkSet(name, { up: true });
	}

	/** Apply only the attributes (mac, mtu, up) that differ; no request when none does. */
	ensureLinkSet(name: string, want: Omit<LinkSetSpec, "name" | "netns">): Ensured {
		const have = this.linkByName(name);
		const mac =
			want.mac !== undefined
				? formatMAC(parseMacAt("link.ensure", `link ${name}`, this.where, want.mac))
				: undefined;
		const diff: LinkSetSpec = {};
		if (mac !== undefined && have.mac !== mac) diff.mac = mac;
		if (want.mtu !== undefined && have.mtu !== want.mtu) diff.mtu = want.mtu;
		if (want.up !== undefined && have.up !== want.up) diff.up = want.up;
		if (Object.keys(diff).length === 0) return { changed: false };
		this.linkSet(name, diff);
		return { changed: true };
	}

	/** Delete the link if it exists. */
	ensureLinkDel(name: string): Ensured {
		if (!this.linkFind(name)) return { changed: false };
		this.linkDel(name);
		return { changed: true };
	}

	// ------------------------------------------------------------------------------------------
	// addresses

	#addrRec(op: string, spec: AddrSpec) {
		const subject = `address ${spec.cidr} on ${spec.link}`;
		const p = parseCidrAt(op, subject, this.where, spec.cidr);
		const index = this.#index(op, spec.link);
		const scope = spec.scope !== undefined ? scopeNum(op, subject, this.where, spec.scope) : undefined;
		return {
			subject,
			p,
			rec: {
				index,
				family: afOf(p.family),
				local: p.bytes,
				prefixlen: p.prefixlen,
				scope,
				flags: spec.nodad ? IFA_F_NODAD : 0,
			},
		};
	}

	/** `ip addr add CIDR dev LINK [scope S] [nodad]`; EEXIST if it is already there. */
	addrAdd(spec: AddrSpec): void {
		const { subject, rec } = this.#addrRec("addr.add", spec);
		try {
			addrAdd(this.#sk, rec);
		} catch (e) {
			this.#fail("addr.add", subject, e);
		}
	}

	/** `ip addr del CIDR dev LINK`. */
	addrDel(spec: AddrSpec): void {
		const { subject, rec } = this.#addrRec("addr.del", spec);
		try {
			addrDelete(this.#sk, rec);
		} catch (e) {
			this.#fail("addr.del", subject, e);
		}
	}

	/** Addresses, optionally of one link and/or family. */
	addrList(filter: { link?: string; family?: 4 | 6 } = {}): Addr[] {
		const index = filter.link !== undefined ? this.#index("addr.list", filter.link) : undefined;
		try {
			const names = new Map(linkList(this.#sk).map((l) => [l.index, l.name]));
			const out: Addr[] = [];
			for (const a of addrList(this.#sk)) {
				const family = familyOf(a.family);
				if (!family || (index !== undefined && a.index !== index)) continue;
				if (filter.family !== undefined && family !== filter.family) continue;
				out.push({
					link: names.get(a.index) ?? `if${a.index}`,
					index: a.index,
					family,
					cidr: formatCIDR({ bytes: a.local, prefixlen: a.prefixlen }),
					ip: formatIP(a.local),
					prefixlen: a.prefixlen,
					scope: scopeName(a.scope),
					flags: a.flags,
					nodad: (a.flags & IFA_F_NODAD) !== 0,
					label: a.label || undefined,
				});
			}
			return out;
		} catch (e) {
			this.#fail("addr.list", "addresses", e);
		}
	}

	/** Add the address unless the link already has it (same address and prefix length). */
	ensureAddr(spec: AddrSpec): Ensured {
		const { p } = this.#addrRec("addr.ensure", spec);
		const have = this.addrList({ link: spec.link }).some((a) => a.cidr === formatCIDR(p));
		if (have) return { changed: false };
		this.addrAdd(spec);
		return { changed: true };
	}

	// ------------------------------------------------------------------------------------------
	// routes

	#routeRec(op: string, spec: RouteSpec, forDelete = false): { r: ParsedRoute; rec: RouteRec } {
		const r = parseRoute(op, spec, this.where, forDelete);
		const index = r.dev !== undefined ? this.#index(op, r.dev, "dev") : undefined;
		return {
			r,
			rec: {
				family: afOf(r.family),
				dst: r.dst,
				dstLen: r.dstLen,
				table: r.table,
				scope: r.scope,
				priority: r.priority,
				prefSrc: r.src,
				nexthops:
					index === undefined && r.gateway === undefined
						? []
						: [{ index, gateway: r.gateway, flags: r.onlink ? RTNH_F_ONLINK : 0 }],
			},
		};
	}

	#routeSend(op: string, spec: RouteSpec, replace: boolean): void {
		const { r, rec } = this.#routeRec(op, spec);
		// iproute2's default scope: link for a direct route, universe with a gateway
		rec.scope ??= r.gateway ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK;
		try {
			routeAdd(this.#sk, rec, replace);
		} catch (e) {
			this.#fail(op, r.label, e);
		}
	}

	/** `ip route add ...` (EEXIST if the route exists). */
	routeAdd(spec: RouteSpec): void {
		this.#routeSend("route.add", spec, false);
	}

	/** `ip route replace ...` (NLM_F_CREATE|NLM_F_REPLACE). */
	routeReplace(spec: RouteSpec): void {
		this.#routeSend("route.replace", spec, true);
	}

	/** `ip route del ...`: matches on what is given (unset scope/protocol match anything). */
	routeDel(spec: RouteSpec): void {
		const { r, rec } = this.#routeRec("route.del", spec, true);
		try {
			routeDelete(this.#sk, rec);
		} catch (e) {
			this.#fail("route.del", r.label, e);
		}
	}

	/**
	 * Routes of one table (default main, or "all"), family and dev. libnl's route cache dumps
	 * every table, so the filter is applied here.
	 */
	routeList(filter: RouteFilter = {}): Route[] {
		const table = filter.table ?? 254;
		const index = filter.dev !== undefined ? this.#index("route.list", filter.dev, "dev") : undefined;
		try {
			const names = new Map(linkList(this.#sk).map((l) => [l.index, l.name]));
			const af = filter.family ? afOf(filter.family) : AF_UNSPEC;
			const out: Route[] = [];
			for (const r of routeList(this.#sk, af)) {
				const family = familyOf(r.family);
				if (!family || (table !== "all" && r.table !== table)) continue;
				if (filter.family !== undefined && family !== filter.family) continue;
				if (index !== undefined && !r.nexthops.some((n) => n.index === index)) continue;
				out.push(toRoute(family, r, names));
			}
			return out;
		} catch (e) {
			this.#fail("route.list", "routes", e);
		}
	}

	/**
	 * Make sure the route exists as specified: no request when an equal route (dst, table,
	 * gateway, dev, onlink, metric, src, scope) is there, else `routeReplace`.
	 */
	ensureRoute(spec: RouteSpec): Ensured {
		const { r } = this.#routeRec("route.ensure", spec);
		const scope = r.scope ?? (r.gateway ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK);
		const dst = r.dstLen === 0 ? "default" : formatCIDR({ bytes: r.dst, prefixlen: r.dstLen });
		const gw = r.gateway ? formatIP(r.gateway) : undefined;
		const src = r.src ? formatIP(r.src) : undefined;
		const same = this.routeList({ table: r.table, family: r.family }).some(
			(x) =>
				x.dst === dst &&
				x.nexthops === undefined &&
				x.gateway === gw &&
				(r.dev === undefined || x.dev === r.dev) &&
				x.onlink === r.onlink &&
				x.src === src &&
				// IPv6 routes are always stored with universe scope (net/ipv6/route.c)
				(r.family === 6 || x.scope === scopeName(scope)) &&
				(r.priority === undefined ? x.priority === 0 || r.family === 6 : x.priority === r.priority) &&
				x.type === "unicast",
		);
		if (same) return { changed: false };
		this.routeReplace(spec);
		return { changed: true };
	}

	// ------------------------------------------------------------------------------------------
	// rules

	#ruleRec(r: ParsedRule): RuleRec {
		return {
			family: afOf(r.family),
			priority: r.priority,
			table: r.table,
			action: RULE_ACTION_NUM[r.action],
			goto: r.goto,
			src: r.from ? { bytes: r.from.bytes, len: r.from.prefixlen } : undefined,
			dst: r.to ? { bytes: r.to.bytes, len: r.to.prefixlen } : undefined,
			iif: r.iif,
			oif: r.oif,
			mark: r.fwmark,
			mask: r.fwmask,
		};
	}

	/**
	 * `ip rule add [prio P] [from A] [to B] [iif X] [oif Y] [fwmark M/K] lookup T | goto P2 |
	 * blackhole | unreachable | prohibit` (EEXIST on duplicate).
	 */
	ruleAdd(spec: RuleSpec): void {
		const r = parseRule("rule.add", spec, this.where);
		try {
			ruleAdd(this.#sk, this.#ruleRec(r));
		} catch (e) {
			this.#fail("rule.add", r.label, e);
		}
	}

	/** `ip rule del ...`: deletes the first rule matching everything given. */
	ruleDel(spec: RuleSpec): void {
		const r = parseRule("rule.del", spec, this.where);
		try {
			ruleDelete(this.#sk, this.#ruleRec(r));
		} catch (e) {
			this.#fail("rule.del", r.label, e);
		}
	}

	/** Rules of one family (default both), in kernel order. */
	ruleList(filter: { family?: 4 | 6 } = {}): Rule[] {
		try {
			const af = filter.family ? afOf(filter.family) : AF_UNSPEC;
			const out: Rule[] = [];
			for (const r of ruleList(this.#sk, af)) {
				const family = familyOf(r.family);
				// libnl's rule cache dumps every family whatever it is asked for: filter here
				if (family && (filter.family === undefined || family === filter.family)) out.push(toRule(family, r));
			}
			return out;
		} catch (e) {
			this.#fail("rule.list", "rules", e);
		}
	}

	/** Add the rule unless an equal one exists (priority compared only when given). */
	ensureRule(spec: RuleSpec): Ensured {
		const r = parseRule("rule.ensure", spec, this.where);
		const from = r.from ? formatCIDR(r.from) : undefined;
		const to = r.to ? formatCIDR(r.to) : undefined;
		const action = ruleActionName(RULE_ACTION_NUM[r.action]);
		const same = this.ruleList({ family: r.family }).some(
			(x) =>
				x.action === action &&
				(r.action !== "lookup" || x.table === r.table) &&
				(r.action !== "goto" || x.goto === r.goto) &&
				(r.priority === undefined || x.priority === r.priority) &&
				x.from === from &&
				x.to === to &&
				x.iif === r.iif &&
				x.oif === r.oif &&
				x.fwmark === r.fwmark &&
				(r.fwmark === undefined || x.fwmask === (r.fwmask ?? 0xffffffff)),
		);
		if (same) return { changed: false };
		this.ruleAdd(spec);
		return { changed: true };
	}

	// ------------------------------------------------------------------------------------------
	// neighbours

	#neighRec(op: string, spec: { link: string; ip: string; mac?: string }) {
		const subject = `neighbour ${spec.ip} on ${spec.link}`;
		const ip = parseIpAt(op, subject, this.where, spec.ip);
		const mac = spec.mac !== undefined ? parseMacAt(op, subject, this.where, spec.mac) : undefined;
		const index = this.#index(op, spec.link);
		return {
			subject,
			ip,
			mac,
			rec: { index, family: afOf(ip.family), dst: ip.bytes, lladdr: mac, state: NUD_PERMANENT },
		};
	}

	/** `ip neigh add IP lladdr MAC dev LINK nud permanent` (EEXIST if present). */
	neighAdd(spec: NeighSpec): void {
		const { subject, rec } = this.#neighRec("neigh.add", spec);
		try {
			neighAdd(this.#sk, rec, false);
		} catch (e) {
			this.#fail("neigh.add", subject, e);
		}
	}

	/** `ip neigh replace IP lladdr MAC dev LINK nud permanent`. */
	neighReplace(spec: NeighSpec): void {
		const { subject, rec } = this.#neighRec("neigh.replace", spec);
		try {
			neighAdd(this.#sk, rec, true);
		} catch (e) {
			this.#fail("neigh.replace", subject, e);
		}
	}

	/** `ip neigh del IP dev LINK`. */
	neighDel(spec: { link: string; ip: string }): void {
		const { subject, rec } = this.#neighRec("neigh.del", spec);
		try {
			neighDelete(this.#sk, rec);
		} catch (e) {
			this.#fail("neigh.del", subject, e);
		}
	}

	#proxyRec(op: string, spec: NeighProxySpec) {
		const subject = `proxy neighbour ${spec.ip} on ${spec.link}`;
		const ip = parseIpAt(op, subject, this.where, spec.ip);
		const index = this.#index(op, spec.link);
		return { subject, rec: { index, family: afOf(ip.family), dst: ip.bytes, state: 0, flags: NTF_PROXY } };
	}

	/**
	 * `ip neigh add proxy IP dev LINK`: with proxy_arp / proxy_ndp on LINK the kernel answers
	 * ARP/NS for IP there. Idempotent in the kernel (pneigh_create returns an existing entry), so
	 * there is no EEXIST. Proxy entries are not in the neighbour dump (`neighList`).
	 */
	neighProxyAdd(spec: NeighProxySpec): void {
		const { subject, rec } = this.#proxyRec("neigh.proxy.add", spec);
		try {
			neighAdd(this.#sk, rec, false);
		} catch (e) {
			this.#fail("neigh.proxy.add", subject, e);
		}
	}

	/** `ip neigh del proxy IP dev LINK` (ENOENT, as isNotFoundError, when there is none). */
	neighProxyDel(spec: NeighProxySpec): void {
		const { subject, rec } = this.#proxyRec("neigh.proxy.del", spec);
		try {
			neighDelete(this.#sk, rec);
		} catch (e) {
			this.#fail("neigh.proxy.del", subject, e);
		}
	}

	/** ARP/NDP entries (IPv4 and IPv6 only), optionally of one link/family. */
	neighList(filter: { link?: string; family?: 4 | 6 } = {}): Neigh[] {
		const index = filter.link !== undefined ? this.#index("neigh.list", filter.link) : undefined;
		try {
			const names = new Map(linkList(this.#sk).map((l) => [l.index, l.name]));
			const out: Neigh[] = [];
			for (const n of neighList(this.#sk)) {
				const family = familyOf(n.family);
				if (!family || (index !== undefined && n.index !== index)) continue;
				if (filter.family !== undefined && family !== filter.family) continue;
				out.push({
					link: names.get(n.index) ?? `if${n.index}`,
					index: n.index,
					family,
					ip: formatIP(n.dst),
					mac: n.lladdr && n.lladdr.length === 6 ? formatMAC(n.lladdr) : undefined,
					state: nudNames(n.state),
					permanent: (n.state & NUD_PERMANENT) !== 0,
				});
			}
			return out;
		} catch (e) {
			this.#fail("neigh.list", "neighbours", e);
		}
	}

	/** Make sure a permanent entry IP -> MAC exists on the link (replace when it differs). */
	ensureNeigh(spec: NeighSpec): Ensured {
		const { ip, mac } = this.#neighRec("neigh.ensure", spec);
		const want = formatIP(ip.bytes);
		const have = this.neighList({ link: spec.link, family: ip.family }).find((n) => n.ip === want);
		if (have?.permanent && mac && have.mac === formatMAC(mac)) return { changed: false };
		this.neighReplace(spec);
		return { changed: true };
	}
}

function toRoute(family: 4 | 6, r: RouteRecord, names: Map<number, string>): Route {
	const hops = r.nexthops.map((n) => ({
		gateway: n.gateway ? formatIP(n.gateway) : undefined,
		dev: n.index ? (names.get(n.index) ?? `if${n.index}`) : undefined,
		onlink: ((n.flags | (r.nexthops.length === 1 ? r.flags : 0)) & RTNH_F_ONLINK) !== 0,
	}));
	const first = hops[0];
	const route: Route = {
		family,
		dst: r.dstLen === 0 ? "default" : formatCIDR({ bytes: r.dst, prefixlen: r.dstLen }),
		gateway: hops.length === 1 ? first?.gateway : undefined,
		dev: hops.length === 1 ? first?.dev : undefined,
		onlink: hops.length === 1 ? (first?.onlink ?? false) : false,
		scope: scopeName(r.scope),
		table: r.table,
		priority: r.priority,
		src: r.prefSrc ? formatIP(r.prefSrc) : undefined,
		protocol: protocolName(r.protocol),
		type: routeTypeName(r.type),
	};
	if (hops.length > 1) route.nexthops = hops;
	return route;
}

function toRule(family: 4 | 6, r: RuleRecord): Rule {
	const pfx = (p: RuleRecord["src"]) => (p ? formatCIDR({ bytes: p.bytes, prefixlen: p.len }) : undefined);
	return {
		family,
		priority: r.priority,
		table: r.table,
		action: ruleActionName(r.action),
		goto: r.action === RULE_ACTION_NUM.goto ? r.goto : undefined,
		from: pfx(r.src),
		to: pfx(r.dst),
		iif: r.iif || undefined,
		oif: r.oif || undefined,
		fwmark: r.mark || undefined,
		fwmask: r.mark ? r.mask : undefined,
	};
}
