/**
 * Root suite for src/linux/netlink: builds a node/pod pair of fresh namespaces with the library
 * (veth with the peer created in the pod netns, v4+v6 addresses, an onlink 169.254.1.1 gateway,
 * a table > 255 and a `from <ip>` rule), checks every result through the library's own dumps
 * and against `ip -j`, proves it with pings, and checks idempotency, errors and cleanup.
 * Everything it makes carries prefixFor("nl"); afterAll removes exactly that.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { openHandles } from "../../src/ffi/handles.ts";
import { isExistsError, isNotFoundError, isNotSupportedError, LinuxError } from "../../src/linux/errors.ts";
import { Netlink } from "../../src/linux/netlink/handle.ts";
import { createNetns, Netns } from "../../src/linux/netns.ts";
import { canRun, cleanupNetns, ipJson, ping, prefixFor, sh } from "../helpers/env.ts";

const P = prefixFor("nl");
const NODE = `${P}-node`;
const POD = `${P}-pod`;
const HOST_IF = `${P}h0`; // <= 15 bytes: tw + 6 + nl + 2
const POD_IF = `${P}p0`;
const TABLE = 1000;
const GW = "169.254.1.1";

type IpLink = {
	ifname: string;
	mtu: number;
	address: string;
	flags: string[];
	linkinfo?: { info_kind: string };
};
type IpAddr = { ifname: string; addr_info: { family: string; local: string; prefixlen: number }[] };
type IpRoute = {
	dst: string;
	gateway?: string;
	dev?: string;
	flags: string[];
	scope?: string;
	metric?: number;
};
type IpRule = { priority: number; src?: string; srclen?: number; table: string };
type IpNeigh = { dst: string; dev: string; lladdr?: string; state: string[] };

/** Everything `ip` can see in one namespace, for "nothing changed" comparisons. */
function dump(ns: string) {
	return {
		link: ipJson(ns, ["-d", "link", "show"]),
		addr: ipJson(ns, ["addr", "show"]),
		route4: ipJson(ns, ["-4", "route", "show", "table", "all"]),
		route6: ipJson(ns, ["-6", "route", "show", "table", "all"]),
		rule4: ipJson(ns, ["-4", "rule", "show"]),
		rule6: ipJson(ns, ["-6", "rule", "show"]),
		neigh: ipJson<IpNeigh[]>(ns, ["neigh", "show"]).filter((n) => n.state.includes("PERMANENT")),
	};
}
/** Link names only (stats/flags of a live veth move on their own). */
const linkNames = (ns: string) => ipJson<IpLink[]>(ns, ["link", "show"]).map((l) => l.ifname);

describe.skipIf(!canRun("tests/netns/netlink.test.ts"))("netlink (libnl) in fresh namespaces", () => {
	let node: Netns;
	let pod: Netns;
	let nlNode: Netlink;
	let nlPod: Netlink;
	let hostMac = "";

	beforeAll(() => {
		cleanupNetns(P);
		node = createNetns(NODE);
		pod = createNetns(POD);
		nlNode = Netlink.at(node);
		nlPod = Netlink.at(pod);
	});

	afterAll(() => {
		nlNode?.close();
		nlPod?.close();
		node?.close();
		pod?.close();
		cleanupNetns(P);
		expect(sh(["ip", "netns", "list"]).out).not.toContain(P);
		expect(openHandles().filter((h) => h.what.includes(P))).toEqual([]);
	});

	/** The whole topology as ensure* calls, so it can run twice. */
	function ensureTopology() {
		const r = [
			nlNode.ensureLink({
				kind: "veth",
				name: HOST_IF,
				peerName: POD_IF,
				peerNetns: pod,
				mtu: 1450,
				peerMtu: 1450,
			}),
			nlNode.ensureLinkUp("lo"),
			nlNode.ensureLinkUp(HOST_IF),
			nlPod.ensureLinkUp("lo"),
			nlPod.ensureLinkSet(POD_IF, { up: true, mac: "02:f0:00:00:00:10" }),
			nlNode.ensureAddr({ link: HOST_IF, cidr: "198.18.0.1/32" }),
			nlNode.ensureAddr({ link: HOST_IF, cidr: "fd00:18::1/128", nodad: true }),
			nlNode.ensureAddr({ link: "lo", cidr: "198.18.2.1/32" }),
			nlNode.ensureRoute({ dst: "198.18.0.10/32", dev: HOST_IF }),
			nlNode.ensureRoute({ dst: "198.18.0.11", dev: HOST_IF, scope: "link" }),
			nlNode.ensureRoute({ dst: "fd00:18::10/128", dev: HOST_IF }),
			nlPod.ensureAddr({ link: POD_IF, cidr: "198.18.0.10/32" }),
			nlPod.ensureAddr({ link: POD_IF, cidr: "198.18.0.11/32" }),
			nlPod.ensureAddr({ link: POD_IF, cidr: "fd00:18::10/128", nodad: true }),
			nlPod.ensureNeigh({ link: POD_IF, ip: GW, mac: hostMac }),
			// main: only the node address; table 1000: the default route (needs the rule)
			nlPod.ensureRoute({ dst: "198.18.0.1/32", gateway: GW, dev: POD_IF, onlink: true }),
			nlPod.ensureRoute({ dst: "default", gateway: GW, dev: POD_IF, onlink: true, table: TABLE }),
			nlPod.ensureRoute({ dst: "fd00:18::1/128", dev: POD_IF }),
			nlPod.ensureRoute({
				dst: "fd00:99::/64",
				gateway: "fd00:18::1",
				dev: POD_IF,
				table: TABLE,
				priority: 50,
			}),
			nlPod.ensureRule({ priority: 1000, from: "198.18.0.11", table: TABLE }),
			nlPod.ensureRule({ priority: 1000, from: "fd00:18::11/128", table: TABLE }),
		];
		return r.map((x) => x.changed);
	}

	test("builds the topology with ensure*: veth peer created in the pod netns, addrs, routes, rule, neigh", () => {
		// the neighbour entry needs the host veth's MAC, known only after creation
		expect(
			nlNode.ensureLink({
				kind: "veth",
				name: HOST_IF,
				peerName: POD_IF,
				peerNetns: pod,
				mtu: 1450,
				peerMtu: 1450,
			}),
		).toEqual({
			changed: true,
		});
		hostMac = nlNode.linkByName(HOST_IF).mac!;
		const changed = ensureTopology();
		// all but the veth (made above) and lo up in... every other step had work to do
		expect(changed).toEqual([false, ...changed.slice(1).map(() => true)]);
	});

	test("the library's own dumps show what was built", () => {
		const h = nlNode.linkByName(HOST_IF);
		expect(h).toMatchObject({ kind: "veth", mtu: 1450, up: true });
		const p = nlPod.linkByName(POD_IF);
		expect(p).toMatchObject({
			kind: "veth",
			mtu: 1450,
			up: true,
			mac: "02:f0:00:00:00:10",
			parentIndex: h.index,
		});
		expect(nlPod.linkByIndex(p.index).name).toBe(POD_IF);
		expect(nlNode.linkFind(POD_IF)).toBeUndefined(); // the peer was never in the node netns
		expect(nlPod.linkList().map((l) => l.name)).toEqual(["lo", POD_IF]);

		expect(nlPod.addrList({ link: POD_IF, family: 4 }).map((a) => a.cidr)).toEqual([
			"198.18.0.10/32",
			"198.18.0.11/32",
		]);
		const v6 = nlPod.addrList({ link: POD_IF, family: 6 }).find((a) => a.ip === "fd00:18::10");
		expect(v6).toMatchObject({ cidr: "fd00:18::10/128", nodad: true, scope: "global", link: POD_IF });

		const t = nlPod.routeList({ table: TABLE });
		expect(t.find((r) => r.dst === "default")).toMatchObject({
			gateway: GW,
			dev: POD_IF,
			onlink: true,
			table: TABLE,
			family: 4,
		});
		expect(t.find((r) => r.dst === "fd00:99::/64")).toMatchObject({
			gateway: "fd00:18::1",
			priority: 50,
			family: 6,
		});
		expect(nlPod.routeList({ table: TABLE, family: 6 }).every((r) => r.family === 6)).toBe(true);
		const main = nlPod.routeList({ family: 4 });
		expect(main.find((r) => r.dst === "198.18.0.1/32")).toMatchObject({
			gateway: GW,
			onlink: true,
			table: 254,
		});
		expect(main.some((r) => r.dst === "default")).toBe(false); // the cache dumps all tables; we filtered
		expect(nlPod.routeList({ table: "all" }).some((r) => r.table === 255)).toBe(true);

		expect(nlPod.ruleList({ family: 4 }).find((r) => r.priority === 1000)).toMatchObject({
			from: "198.18.0.11/32",
			table: TABLE,
			action: "to-table",
		});
		expect(nlPod.neighList({ link: POD_IF }).find((n) => n.ip === GW)).toMatchObject({
			mac: hostMac,
			permanent: true,
		});
	});

	test("ip -j agrees", () => {
		const [pl] = ipJson<IpLink[]>(POD, ["-d", "link", "show", POD_IF]);
		expect(pl).toMatchObject({
			ifname: POD_IF,
			mtu: 1450,
			address: "02:f0:00:00:00:10",
			linkinfo: { info_kind: "veth" },
		});
		expect(pl!.flags).toContain("UP");
		const [pa] = ipJson<IpAddr[]>(POD, ["addr", "show", "dev", POD_IF]);
		const locals = pa!.addr_info.map((a) => `${a.local}/${a.prefixlen}`);
		expect(locals).toEqual(expect.arrayContaining(["198.18.0.10/32", "198.18.0.11/32", "fd00:18::10/128"]));
		const [def] = ipJson<IpRoute[]>(POD, ["route", "show", "table", String(TABLE)]);
		expect(def).toMatchObject({ dst: "default", gateway: GW, dev: POD_IF });
		expect(def!.flags).toContain("onlink");
		const [v6] = ipJson<IpRoute[]>(POD, ["-6", "route", "show", "table", String(TABLE)]);
		expect(v6).toMatchObject({ dst: "fd00:99::/64", gateway: "fd00:18::1", metric: 50 });
		const rule = ipJson<IpRule[]>(POD, ["rule", "show"]).find((r) => r.priority === 1000);
		expect(rule).toMatchObject({ src: "198.18.0.11", table: String(TABLE) });
		const neigh = ipJson<IpNeigh[]>(POD, ["neigh", "show", "dev", POD_IF]).find((n) => n.dst === GW);
		expect(neigh).toMatchObject({ lladdr: hostMac, state: ["PERMANENT"] });
		expect(ipJson<IpRoute[]>(NODE, ["route", "show", "198.18.0.11"])[0]).toMatchObject({
			dev: HOST_IF,
			scope: "link",
		});
	});

	test("traffic: pod -> node over the veth, v4 (onlink gateway) and v6", () => {
		expect(ping(POD, "198.18.0.1")).toBe(true);
		expect(ping(POD, "fd00:18::1")).toBe(true);
		expect(ping(NODE, "198.18.0.10")).toBe(true);
	});

	test("the `from` rule really steers traffic to table 1000", () => {
		const from = (src: string) =>
			sh(["ip", "netns", "exec", POD, "ping", "-c", "1", "-W", "1", "-I", src, "198.18.2.1"], {
				allowFail: true,
			}).code === 0;
		expect(from("198.18.0.11")).toBe(true); // rule -> table 1000 -> default via 169.254.1.1
		expect(from("198.18.0.10")).toBe(false); // no rule for this source, main has no route
		nlPod.ruleDel({ priority: 1000, from: "198.18.0.11", table: TABLE });
		expect(ipJson<IpRule[]>(POD, ["rule", "show"]).some((r) => r.priority === 1000)).toBe(false);
		expect(from("198.18.0.11")).toBe(false);
		expect(nlPod.ensureRule({ priority: 1000, from: "198.18.0.11", table: TABLE })).toEqual({
			changed: true,
		});
		expect(from("198.18.0.11")).toBe(true);
	});

	test("ensure* a second time changes nothing (results and ip -j dumps)", () => {
		const before = [dump(NODE), dump(POD)];
		const again = ensureTopology();
		expect(again).toEqual(again.map(() => false));
		expect(ensureTopology()).toEqual(again);
		expect([dump(NODE), dump(POD)]).toEqual(before);
	});

	test("add verbs: EEXIST on duplicates; replace and del act; ip -j sees each step", () => {
		expect(() => nlPod.addrAdd({ link: POD_IF, cidr: "198.18.0.10/32" })).toThrow(LinuxError);
		try {
			nlPod.routeAdd({ dst: "default", gateway: GW, dev: POD_IF, onlink: true, table: TABLE });
			throw new Error("no EEXIST");
		} catch (e) {
			expect(isExistsError(e)).toBe(true);
			expect((e as Error).message).toContain(`route default table ${TABLE} in netns ${POD}: already exists`);
		}
		expect(() => nlPod.ruleAdd({ priority: 1000, from: "198.18.0.11", table: TABLE })).toThrow(
			"already exists",
		);

		// replace: metric and src change in place
		nlPod.routeAdd({ dst: "198.18.7.0/24", dev: POD_IF, table: 70000 });
		nlPod.routeReplace({ dst: "198.18.7.0/24", dev: POD_IF, table: 70000, src: "198.18.0.10" });
		expect(ipJson<IpRoute[]>(POD, ["route", "show", "table", "70000"])).toEqual([
			expect.objectContaining({ dst: "198.18.7.0/24", dev: POD_IF, prefsrc: "198.18.0.10" }),
		]);
		expect(nlPod.routeList({ table: 70000 })).toEqual([
			expect.objectContaining({ dst: "198.18.7.0/24", src: "198.18.0.10", table: 70000, scope: "link" }),
		]);
		nlPod.routeDel({ dst: "198.18.7.0/24", table: 70000 });
		expect(ipJson(POD, ["route", "show", "table", "70000"])).toEqual([]);

		nlPod.addrAdd({ link: POD_IF, cidr: "198.18.0.12/32", scope: "link" });
		expect(nlPod.addrList({ link: POD_IF }).find((a) => a.ip === "198.18.0.12")?.scope).toBe("link");
		nlPod.addrDel({ link: POD_IF, cidr: "198.18.0.12/32" });
		expect(JSON.stringify(ipJson(POD, ["addr", "show", "dev", POD_IF]))).not.toContain("198.18.0.12");

		nlPod.neighAdd({ link: POD_IF, ip: "fd00:18::77", mac: "02:00:00:00:00:77" });
		expect(() => nlPod.neighAdd({ link: POD_IF, ip: "fd00:18::77", mac: "02:00:00:00:00:78" })).toThrow(
			"already exists",
		);
		nlPod.neighReplace({ link: POD_IF, ip: "fd00:18::77", mac: "02:00:00:00:00:78" });
		expect(ipJson<IpNeigh[]>(POD, ["neigh", "show", "fd00:18::77"])[0]).toMatchObject({
			lladdr: "02:00:00:00:00:78",
		});
		expect(nlPod.ensureNeigh({ link: POD_IF, ip: "fd00:18::77", mac: "02:00:00:00:00:79" })).toEqual({
			changed: true,
		});
		nlPod.neighDel({ link: POD_IF, ip: "fd00:18::77" });
		expect(ipJson(POD, ["neigh", "show", "fd00:18::77"])).toEqual([]);

		nlPod.ruleAdd({ priority: 1500, fwmark: 0x10, fwmask: 0xff, iif: "lo", table: 1001 });
		expect(nlPod.ruleList({ family: 4 }).find((r) => r.priority === 1500)).toMatchObject({
			fwmark: 0x10,
			fwmask: 0xff,
			iif: "lo",
		});
		expect(ipJson<IpRule[]>(POD, ["rule", "show"]).find((r) => r.priority === 1500)).toMatchObject({
			fwmark: "0x10",
			fwmask: "0xff",
			iif: "lo",
			table: "1001",
		});
		nlPod.ruleDel({ priority: 1500, fwmark: 0x10, fwmask: 0xff, iif: "lo", table: 1001 });
		expect(ipJson<IpRule[]>(POD, ["rule", "show"]).some((r) => r.priority === 1500)).toBe(false);
	});

	test("linkSet: rename, mac, mtu, down/up, move into another netns by fd", () => {
		const a = `${P}s0`;
		const b = `${P}s1`;
		nlNode.linkAdd({ kind: "veth", name: a, peerName: b });
		nlNode.linkSet(a, { name: `${P}s2`, mtu: 1400, mac: "02:00:00:00:00:22", up: true });
		expect(nlNode.linkByName(`${P}s2`)).toMatchObject({ mtu: 1400, mac: "02:00:00:00:00:22", up: true });
		expect(ipJson<IpLink[]>(NODE, ["link", "show", `${P}s2`])[0]).toMatchObject({
			mtu: 1400,
			address: "02:00:00:00:00:22",
		});
		expect(nlNode.ensureLinkSet(`${P}s2`, { up: false })).toEqual({ changed: true });
		expect(nlNode.ensureLinkSet(`${P}s2`, { up: false, mtu: 1400 })).toEqual({ changed: false });
		expect(nlNode.linkByName(`${P}s2`).up).toBe(false);
		nlNode.linkSet(b, { netns: pod });
		expect(nlNode.linkFind(b)).toBeUndefined();
		expect(linkNames(POD)).toContain(b);
		nlNode.linkDel(`${P}s2`); // takes the peer in the pod with it
		expect(linkNames(POD)).not.toContain(b);
		expect(nlNode.ensureLinkDel(`${P}s2`)).toEqual({ changed: false });
	});

	test("bad input: typed errors naming what and where, nothing half made", () => {
		const before = [linkNames(NODE), linkNames(POD)];
		const long = `${P}waytoolongname`;
		expect(() => nlNode.linkAdd({ kind: "veth", name: long, peerName: `${P}x1` })).toThrow(
			`link ${JSON.stringify(long)} in netns ${NODE}: name longer than 15 bytes`,
		);
		expect(() => nlNode.linkAdd({ kind: "veth", name: `${P}a/b`, peerName: `${P}x1` })).toThrow(
			"may not contain '/'",
		);
		expect(() => nlNode.linkAdd({ kind: "veth", name: `${P}x0`, peerName: `${P}x1`, mac: "zz" })).toThrow(
			`link ${P}x0 in netns ${NODE}: invalid MAC address "zz"`,
		);
		expect(() => nlPod.addrAdd({ link: POD_IF, cidr: "198.18.0.300/32" })).toThrow(
			`address 198.18.0.300/32 on ${POD_IF} in netns ${POD}: invalid IPv4 address`,
		);
		expect(() => nlPod.routeAdd({ dst: "default", gateway: "169.254.1", dev: POD_IF })).toThrow(LinuxError);
		expect(() => nlPod.ruleAdd({ from: "fd00::/8", to: "198.18.0.0/15", table: 5 })).toThrow("is not IPv6");
		try {
			nlPod.addrAdd({ link: `${P}nope`, cidr: "198.18.0.9/32" });
			throw new Error("no error");
		} catch (e) {
			expect(isNotFoundError(e)).toBe(true);
			expect((e as Error).message).toBe(`link ${P}nope in netns ${POD}: not found`);
		}
		expect(() => Netns.open(`${P}-missing`)).toThrow(
			`network namespace /run/netns/${P}-missing does not exist`,
		);
		// a veth whose peer name is taken in the pod netns: the kernel refuses the whole pair
		try {
			nlNode.linkAdd({ kind: "veth", name: `${P}x0`, peerName: POD_IF, peerNetns: pod });
			throw new Error("no error");
		} catch (e) {
			expect(isExistsError(e)).toBe(true);
		}
		expect([linkNames(NODE), linkNames(POD)]).toEqual(before);
	});

	test("macvlan (bridge mode) on the veth, created straight into the pod netns", () => {
		nlNode.linkAdd({
			kind: "macvlan",
			name: `${P}mv`,
			parent: HOST_IF,
			mode: "bridge",
			netns: pod,
			mtu: 1400,
		});
		expect(nlNode.linkFind(`${P}mv`)).toBeUndefined();
		expect(nlPod.linkByName(`${P}mv`)).toMatchObject({ kind: "macvlan", mtu: 1400 });
		const [mv] = ipJson<(IpLink & { linkinfo: { info_data: { mode: string } } })[]>(POD, [
			"-d",
			"link",
			"show",
			`${P}mv`,
		]);
		expect(mv!.linkinfo).toMatchObject({ info_kind: "macvlan", info_data: { mode: "bridge" } });
		nlPod.linkDel(`${P}mv`);
		expect(linkNames(POD)).not.toContain(`${P}mv`);
	});

	test("ipvlan and vlan: kernel without the drivers answers EOPNOTSUPP, nothing left", () => {
		const before = linkNames(NODE);
		for (const spec of [
			{ kind: "ipvlan", name: `${P}iv`, parent: HOST_IF, mode: "l3" },
			{ kind: "vlan", name: `${P}vl`, parent: HOST_IF, id: 100 },
		] as const) {
			try {
				nlNode.linkAdd(spec);
				// a kernel with the driver: it worked, clean it up and say so
				nlNode.linkDel(spec.name);
				console.warn(`${spec.kind} is supported by this kernel`);
			} catch (e) {
				expect(isNotSupportedError(e)).toBe(true);
				expect((e as Error).message).toContain(`${spec.kind} link ${spec.name} in netns ${NODE}`);
			}
		}
		expect(linkNames(NODE)).toEqual(before);
	});
});
