import { describe, expect, test } from "bun:test";
import { LinuxError } from "../errors.ts";
import { checkLinkName, nudNames, parseRoute, parseRule, scopeName, scopeNum } from "./validate.ts";

const W = "tw-test";

describe("link names (kernel dev_valid_name)", () => {
	test.each([
		["", 'link "" in netns tw-test: name is empty'],
		["abcdefghijklmnop", 'link "abcdefghijklmnop" in netns tw-test: name longer than 15 bytes'],
		["ééééééééé", "name longer than 15 bytes"],
		["a/b", "may not contain '/'"],
		["a:b", "may not contain"],
		["a b", "may not contain"],
		[".", 'may not be "." or ".."'],
	])("%p is rejected", (name, msg) => {
		expect(() => checkLinkName("link.add", name, W)).toThrow(msg);
		try {
			checkLinkName("link.add", name, W);
		} catch (e) {
			expect(e).toBeInstanceOf(LinuxError);
			expect((e as LinuxError).op).toBe("link.add");
		}
	});
	test("15 bytes is fine", () => {
		expect(() => checkLinkName("link.add", "abcdefghijklmno", W)).not.toThrow();
	});
});

describe("routes", () => {
	test("default infers the family from the gateway; host route without /32", () => {
		expect(parseRoute("route.add", { dst: "default", gateway: "fd00::1" }, W)).toMatchObject({
			family: 6,
			dstLen: 0,
		});
		expect(parseRoute("route.add", { dst: "198.18.0.1", dev: "eth0" }, W)).toMatchObject({
			family: 4,
			dstLen: 32,
		});
		expect(parseRoute("route.add", { dst: "198.18.0.0/24", dev: "eth0", table: 70000 }, W).table).toBe(70000);
	});
	test.each([
		[{ dst: "198.18.0.0/33", dev: "e" }, "route 198.18.0.0/33 in netns tw-test: invalid CIDR"],
		[{ dst: "nonsense", dev: "e" }, 'invalid IPv4 address "nonsense"'],
		[{ dst: "default", gateway: "169.254.1" }, 'invalid IPv4 address "169.254.1"'],
		[{ dst: "198.18.0.0/24", gateway: "fd00::1" }, "gateway fd00::1 is not IPv4"],
		[{ dst: "198.18.0.0/24" }, "needs a gateway or a dev"],
		[{ dst: "198.18.0.0/24", dev: "e", onlink: true }, "onlink needs a gateway"],
		[{ dst: "198.18.0.0/24", dev: "e", table: 0 }, "table 0 is not a routing table id"],
		[{ dst: "198.18.0.0/24", dev: "e", priority: -1 }, "metric -1 is not a u32"],
		[{ dst: "198.18.0.0/24", dev: "a/b" }, "may not contain '/'"],
		[{ dst: "default", family: 6 as const, gateway: "198.18.0.1" }, "is not IPv6"],
	])("%p is rejected", (spec, msg) => {
		expect(() => parseRoute("route.add", spec, W)).toThrow(msg);
	});
	test("a delete needs neither gateway nor dev", () => {
		expect(parseRoute("route.del", { dst: "198.18.0.0/24", table: 100 }, W, true).table).toBe(100);
	});
});

describe("rules", () => {
	test("family from the prefixes, label for messages", () => {
		const r = parseRule("rule.add", { from: "fd00::10", table: 100, priority: 1000 }, W);
		expect(r).toMatchObject({ family: 6, table: 100 });
		expect(r.from?.prefixlen).toBe(128);
		expect(r.label).toBe("rule prio 1000 from fd00::10 lookup 100");
	});
	test.each([
		[{ from: "fd00::/8", to: "198.18.0.0/15", table: 5 }, "to is not IPv6"],
		[{ from: "198.18.0.0/15", table: 0 }, "table 0"],
		[{ fwmask: 0xff, table: 5 }, "fwmask needs a fwmark"],
		[{ fwmark: 2 ** 32, table: 5 }, "is not a u32"],
		[{ iif: "waytoolongname0000", table: 5 }, "longer than 15 bytes"],
		[{ from: "198.18.0.1/99", table: 5 }, "invalid CIDR"],
	])("%p is rejected", (spec, msg) => {
		expect(() => parseRule("rule.add", spec, W)).toThrow(msg);
	});
	test("goto and blackhole actions: labels as iproute2 prints them, no table", () => {
		const g = parseRule(
			"rule.add",
			{ action: "goto", goto: 1000, priority: 100, iif: "p1", from: "198.18.0.5" },
			W,
		);
		expect(g).toMatchObject({ action: "goto", goto: 1000, table: undefined, iif: "p1" });
		expect(g.label).toBe("rule prio 100 from 198.18.0.5 iif p1 goto 1000");
		const b = parseRule("rule.add", { action: "blackhole", priority: 200, iif: "p1", family: 6 }, W);
		expect(b).toMatchObject({ action: "blackhole", family: 6, table: undefined, goto: undefined });
		expect(b.label).toBe("rule prio 200 iif p1 blackhole");
	});
	test.each([
		[{ action: "goto", priority: 100 }, "goto needs a target priority"],
		[{ action: "goto", goto: 100, priority: 100 }, "higher priority"],
		[{ action: "goto", goto: -1 }, "is not a u32"],
		[{ action: "blackhole", table: 5 }, "a blackhole rule takes no table"],
		[{ action: "unreachable", goto: 5 }, "a unreachable rule takes no goto"],
		[{ action: "lookup" }, "table undefined is not a routing table id"],
		[{ action: "nat", table: 5 }, "unknown rule action nat"],
	])("action %p is rejected", (spec, msg) => {
		expect(() => parseRule("rule.add", spec as never, W)).toThrow(msg);
	});
});

describe("vocabulary", () => {
	test("scopes and NUD states", () => {
		expect(scopeNum("x", "y", W, "link")).toBe(253);
		expect(scopeName(0)).toBe("global");
		expect(() => scopeNum("x", "route y", W, "planet" as never)).toThrow("unknown scope planet");
		expect(nudNames(0x80)).toEqual(["PERMANENT"]);
		expect(nudNames(0)).toEqual(["NONE"]);
	});
});
