import { describe, expect, test } from "bun:test";
import {
	classifyError,
	clearInsufficientIp,
	ENI_LIMIT_INHIBIT_MS,
	emptyInhibit,
	IP_NOT_ENOUGH_INHIBIT_MS,
	inhibitOnError,
	isVSwitchBlocked,
	pruneInhibit,
	sufficientIpCondition,
} from "./inhibit.ts";

const NOW = 5_000_000;

describe("classifyError", () => {
	const cases: [string, ReturnType<typeof classifyError>][] = [
		["InvalidVSwitchId.IpNotEnough", "vswitchExhausted"],
		["QuotaExceeded.PrivateIpAddress", "ipQuota"],
		["EniPerInstanceLimitExceeded", "eniLimit"],
		["InvalidOperation.Ipv4CountExceeded", "eniIpLimit"],
		["InvalidOperation.Ipv6CountExceeded", "eniIpLimit"],
		["Throttling", "retryable"],
		["Throttling.User", "retryable"],
		["InternalError", "retryable"],
		["ServiceUnavailable", "retryable"],
		["Operation.Conflict", "retryable"],
		["Forbidden.RAM", "other"],
	];
	for (const [code, want] of cases) test(code, () => expect(classifyError(code)).toBe(want));
});

describe("inhibitOnError", () => {
	test("IpNotEnough blocks the vSwitch 10 min and sets the condition", () => {
		const s = inhibitOnError(
			"InvalidVSwitchId.IpNotEnough",
			{ nowMs: NOW, vswitchId: "vsw-1" },
			emptyInhibit(),
		);
		expect(s).toEqual({
			blockedVSwitches: { "vsw-1": NOW + IP_NOT_ENOUGH_INHIBIT_MS },
			code: "InvalidVSwitchId.IpNotEnough",
			insufficientIpSinceMs: NOW,
		});
		expect(isVSwitchBlocked(s, "vsw-1", NOW + IP_NOT_ENOUGH_INHIBIT_MS - 1)).toBe(true);
		expect(isVSwitchBlocked(s, "vsw-1", NOW + IP_NOT_ENOUGH_INHIBIT_MS)).toBe(false);
		expect(isVSwitchBlocked(s, "vsw-2", NOW)).toBe(false);
	});
	test("a second error extends, never shortens, a window", () => {
		const a = inhibitOnError(
			"InvalidVSwitchId.IpNotEnough",
			{ nowMs: NOW, vswitchId: "vsw-1" },
			emptyInhibit(),
		);
		const b = inhibitOnError("InvalidVSwitchId.IpNotEnough", { nowMs: NOW + 1000, vswitchId: "vsw-1" }, a);
		expect(b.blockedVSwitches["vsw-1"]).toBe(NOW + 1000 + IP_NOT_ENOUGH_INHIBIT_MS);
		const c = inhibitOnError("EniPerInstanceLimitExceeded", { nowMs: NOW }, emptyInhibit());
		const d = inhibitOnError("EniPerInstanceLimitExceeded", { nowMs: NOW - 30_000 }, c);
		expect(d.createInhibitUntilMs).toBe(NOW + ENI_LIMIT_INHIBIT_MS);
	});
	test("quota pauses all allocation 10 min", () => {
		const s = inhibitOnError("QuotaExceeded.PrivateIpAddress", { nowMs: NOW }, emptyInhibit());
		expect(s.allocInhibitUntilMs).toBe(NOW + IP_NOT_ENOUGH_INHIBIT_MS);
		expect(s.insufficientIpSinceMs).toBe(NOW);
	});
	test("ENI limit pauses creation 1 min and leaves SufficientIP alone", () => {
		const s = inhibitOnError("EniPerInstanceLimitExceeded", { nowMs: NOW }, emptyInhibit());
		expect(s).toEqual({
			blockedVSwitches: {},
			createInhibitUntilMs: NOW + 60_000,
			code: "EniPerInstanceLimitExceeded",
		});
		expect(sufficientIpCondition(s, NOW).status).toBe("True");
	});
	test("other codes leave the state untouched (same object)", () => {
		const s = emptyInhibit();
		for (const code of [
			"Throttling",
			"InternalError",
			"Forbidden.RAM",
			"InvalidOperation.Ipv4CountExceeded",
		]) {
			expect(inhibitOnError(code, { nowMs: NOW, vswitchId: "vsw-1" }, s)).toBe(s);
		}
	});
	test("the input state is not mutated", () => {
		const s = emptyInhibit();
		inhibitOnError("InvalidVSwitchId.IpNotEnough", { nowMs: NOW, vswitchId: "vsw-1" }, s);
		expect(s).toEqual({ blockedVSwitches: {} });
	});
});

describe("SufficientIP condition", () => {
	const s = inhibitOnError(
		"InvalidVSwitchId.IpNotEnough",
		{ nowMs: NOW, vswitchId: "vsw-1" },
		emptyInhibit(),
	);
	test("False/InsufficientIP for 10 min after a shortage, then True", () => {
		expect(sufficientIpCondition(s, NOW + 1)).toEqual({
			type: "SufficientIP",
			status: "False",
			reason: "InsufficientIP",
			message: "IP allocation failed (InvalidVSwitchId.IpNotEnough); retrying after the back-off",
		});
		expect(sufficientIpCondition(s, NOW + 10 * 60_000)).toEqual({
			type: "SufficientIP",
			status: "True",
			reason: "SufficientIP",
			message: "node has sufficient IP",
		});
	});
	test("a release clears it at once, keeping the vSwitch block", () => {
		const c = clearInsufficientIp(s);
		expect(sufficientIpCondition(c, NOW + 1).status).toBe("True");
		expect(isVSwitchBlocked(c, "vsw-1", NOW + 1)).toBe(true);
		expect(clearInsufficientIp(emptyInhibit())).toEqual(emptyInhibit());
	});
	test("pruneInhibit drops only expired entries", () => {
		let x = inhibitOnError("EniPerInstanceLimitExceeded", { nowMs: NOW }, s);
		x = inhibitOnError("InvalidVSwitchId.IpNotEnough", { nowMs: NOW + 5 * 60_000, vswitchId: "vsw-2" }, x);
		expect(pruneInhibit(x, NOW + 10 * 60_000)).toEqual({
			blockedVSwitches: { "vsw-2": NOW + 15 * 60_000 },
			code: "InvalidVSwitchId.IpNotEnough",
			insufficientIpSinceMs: NOW + 5 * 60_000,
		});
	});
});
