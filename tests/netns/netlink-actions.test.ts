/**
 * Root suite for the rule actions beyond "lookup" (goto, blackhole, unreachable, prohibit) and
 * proxy neighbour entries (NTF_PROXY) of src/linux/netlink, which the netns-mode VPC uses for
 * source checks and IPv6 neighbour proxying. Cross-checked with `ip -j rule` / `ip neigh show
 * proxy`; a goto/blackhole pair is proven with pings. Everything carries prefixFor("na").
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { openHandles } from "../../src/ffi/handles.ts";
import { isNotFoundError } from "../../src/linux/errors.ts";
import { Netlink } from "../../src/linux/netlink/handle.ts";
import { createNetns, type Netns } from "../../src/linux/netns.ts";
import { ensureIpForward } from "../../src/linux/sysctl.ts";
import { canRun, cleanupNetns, ipJson, ping, prefixFor, sh } from "../helpers/env.ts";

const P = prefixFor("na");
const R = `${P}-r`; // router
const A = `${P}-a`; // a host behind port "pa"

type IpRule = {
	priority: number;
	src?: string;
	iif?: string;
	action?: string;
	table?: string;
	goto?: number;
};

describe.skipIf(!canRun("tests/netns/netlink-actions.test.ts"))(
	"netlink rule actions and proxy neighbours",
	() => {
		let r: Netns;
		let a: Netns;
		let nlR: Netlink;
		let nlA: Netlink;

		beforeAll(() => {
			cleanupNetns(P);
			r = createNetns(R);
			a = createNetns(A);
			nlR = Netlink.at(r);
			nlA = Netlink.at(a);
			nlR.linkAdd({ kind: "veth", name: "pa", peerName: "eth0", peerNetns: a, up: true });
			nlA.linkSet("eth0", { up: true });
			nlA.linkSet("lo", { up: true });
			nlR.linkSet("lo", { up: true });
			nlR.addrAdd({ link: "lo", cidr: "198.18.9.1/32" });
			nlR.addrAdd({ link: "pa", cidr: "198.18.1.1/24" });
			nlA.addrAdd({ link: "eth0", cidr: "198.18.1.2/24" });
			nlA.addrAdd({ link: "eth0", cidr: "198.18.1.3/24" });
			nlA.routeAdd({ dst: "default", gateway: "198.18.1.1" });
			ensureIpForward(r, 4);
		});

		afterAll(() => {
			nlR?.close();
			nlA?.close();
			r?.close();
			a?.close();
			cleanupNetns(P);
			expect(sh(["ip", "netns", "list"]).out).not.toContain(P);
			expect(openHandles().filter((h) => h.what.includes(P))).toEqual([]);
		});

		test("goto + blackhole rules: only the allowed source reaches the router; ip agrees", () => {
			nlR.ruleAdd({ priority: 1000, table: 255 });
			nlR.ruleDel({ priority: 0, table: 255 });
			nlR.ruleAdd({ priority: 100, iif: "pa", from: "198.18.1.2", action: "goto", goto: 1000 });
			nlR.ruleAdd({ priority: 200, iif: "pa", action: "blackhole" });
			const rules = ipJson<IpRule[]>(R, ["-4", "rule", "show"]);
			expect(rules.find((x) => x.priority === 100)).toMatchObject({
				src: "198.18.1.2",
				iif: "pa",
				goto: 1000,
			});
			expect(rules.find((x) => x.priority === 200)).toMatchObject({ iif: "pa", action: "blackhole" });
			expect(rules.some((x) => x.priority === 0)).toBe(false);
			const mine = nlR.ruleList({ family: 4 }).filter((x) => x.iif === "pa");
			expect(mine.map((x) => [x.priority, x.action, x.goto, x.from])).toEqual([
				[100, "goto", 1000, "198.18.1.2/32"],
				[200, "blackhole", undefined, undefined],
			]);
			expect(
				nlR.ensureRule({ priority: 100, iif: "pa", from: "198.18.1.2", action: "goto", goto: 1000 }),
			).toEqual({
				changed: false,
			});
			expect(nlR.ensureRule({ priority: 200, iif: "pa", action: "blackhole" })).toEqual({ changed: false });
			const ok = sh(
				["ip", "netns", "exec", A, "ping", "-c", "1", "-W", "1", "-I", "198.18.1.2", "198.18.9.1"],
				{
					allowFail: true,
				},
			);
			const bad = sh(
				["ip", "netns", "exec", A, "ping", "-c", "1", "-W", "1", "-I", "198.18.1.3", "198.18.9.1"],
				{
					allowFail: true,
				},
			);
			expect([ok.code, bad.code]).toEqual([0, 1]);
			nlR.ruleDel({ priority: 200, iif: "pa", action: "blackhole" });
			expect(ping(A, "198.18.9.1", 1)).toBe(true);
			nlR.ruleDel({ priority: 100, iif: "pa", from: "198.18.1.2", action: "goto", goto: 1000 });
			expect(nlR.ruleList({ family: 4 }).filter((x) => x.iif === "pa")).toEqual([]);
		});

		test("unreachable and prohibit rules round-trip (v6)", () => {
			nlR.ruleAdd({ priority: 300, family: 6, iif: "pa", action: "unreachable" });
			nlR.ruleAdd({ priority: 301, from: "fd00::/8", action: "prohibit" });
			const got = nlR
				.ruleList({ family: 6 })
				.filter((x) => x.priority === 300 || x.priority === 301)
				.map((x) => [x.priority, x.action]);
			expect(got).toEqual([
				[300, "unreachable"],
				[301, "prohibit"],
			]);
			// a family filter returns only that family (libnl's rule cache dumps both)
			expect(nlR.ruleList({ family: 6 }).every((x) => x.family === 6)).toBe(true);
			expect(nlR.ruleList({ family: 4 }).some((x) => x.priority === 300)).toBe(false);
			expect(nlR.ensureRule({ priority: 1000, family: 6, table: 255 })).toEqual({ changed: true });
			nlR.ruleDel({ priority: 1000, family: 6, table: 255 });
			nlR.ruleDel({ priority: 300, family: 6, iif: "pa", action: "unreachable" });
			nlR.ruleDel({ priority: 301, from: "fd00::/8", action: "prohibit" });
			expect(nlR.ruleList({ family: 6 }).some((x) => x.priority === 300 || x.priority === 301)).toBe(false);
		});

		test("proxy neighbours: add (idempotent), seen by ip, delete, delete again is not-found", () => {
			nlR.neighProxyAdd({ link: "pa", ip: "fd00:1::5" });
			nlR.neighProxyAdd({ link: "pa", ip: "fd00:1::5" });
			nlR.neighProxyAdd({ link: "pa", ip: "198.18.1.77" });
			const shown = (v: "-4" | "-6") => sh(["ip", "-n", R, v, "neigh", "show", "proxy"]).out.trim();
			expect(shown("-6")).toBe("fd00:1::5 dev pa proxy");
			expect(shown("-4")).toBe("198.18.1.77 dev pa proxy");
			// proxy entries are not ordinary neighbours
			expect(nlR.neighList({ link: "pa" }).some((n) => n.ip === "fd00:1::5")).toBe(false);
			nlR.neighProxyDel({ link: "pa", ip: "fd00:1::5" });
			nlR.neighProxyDel({ link: "pa", ip: "198.18.1.77" });
			expect([shown("-4"), shown("-6")]).toEqual(["", ""]);
			let err: unknown;
			try {
				nlR.neighProxyDel({ link: "pa", ip: "fd00:1::5" });
			} catch (e) {
				err = e;
			}
			expect(isNotFoundError(err)).toBe(true);
			expect(() => nlR.neighProxyAdd({ link: "pa", ip: "fd00::zz" })).toThrow("fd00::zz");
		});
	},
);
