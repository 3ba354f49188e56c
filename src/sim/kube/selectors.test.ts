import { describe, expect, test } from "bun:test";
import { isKubeApiError } from "./errors.ts";
import { matchFields, matchLabels, parseFieldSelector, parseLabelSelector } from "./selectors.ts";

const labels = { app: "web", tier: "front", "k8s.aliyun.com/node": "n1" };

describe("label selectors", () => {
	const cases: [string, boolean][] = [
		["", true],
		["app=web", true],
		["app==web", true],
		["app=db", false],
		["app!=db", true],
		["missing!=x", true],
		["app in (web,db)", true],
		["app in (db)", false],
		["app notin (db, cache)", true],
		["missing notin (a)", true],
		["tier", true],
		["!tier", false],
		["!missing", true],
		["app=web,tier in (front),!missing", true],
		["app=web,tier=back", false],
		["k8s.aliyun.com/node=n1", true],
	];
	for (const [sel, want] of cases) {
		test(`${JSON.stringify(sel)} → ${want}`, () => {
			expect(matchLabels(parseLabelSelector(sel), labels)).toBe(want);
		});
	}

	test("parses requirements", () => {
		expect(parseLabelSelector("a in (x, y),b!=z,!c")).toEqual([
			{ key: "a", op: "in", values: ["x", "y"] },
			{ key: "b", op: "!=", value: "z" },
			{ key: "c", op: "!exists" },
		]);
	});

	for (const bad of ["a in ()", "=x", "a=b c", "a,,b"]) {
		test(`rejects ${JSON.stringify(bad)} with 400`, () => {
			try {
				parseLabelSelector(bad);
				throw new Error("accepted");
			} catch (e) {
				expect(isKubeApiError(e, "BadRequest")).toBe(true);
			}
		});
	}
});

describe("field selectors", () => {
	const pod = {
		metadata: { name: "p", namespace: "default" },
		spec: { nodeName: "n1" },
		status: { phase: "Running" },
	};

	test("the daemon's pod selector", () => {
		const sel = parseFieldSelector("spec.nodeName=n1,status.phase!=Succeeded,status.phase!=Failed");
		expect(sel).toEqual([
			{ path: "spec.nodeName", op: "=", value: "n1" },
			{ path: "status.phase", op: "!=", value: "Succeeded" },
			{ path: "status.phase", op: "!=", value: "Failed" },
		]);
		expect(matchFields(sel, pod)).toBe(true);
		expect(matchFields(sel, { ...pod, status: { phase: "Failed" } })).toBe(false);
	});

	test("== and missing fields read as empty", () => {
		expect(matchFields(parseFieldSelector("metadata.name==p"), pod)).toBe(true);
		expect(matchFields(parseFieldSelector("spec.nodeName="), { metadata: { name: "q" } })).toBe(true);
		expect(matchFields(parseFieldSelector("spec.nodeName="), pod)).toBe(false);
	});

	test("escaped comma in a value", () => {
		expect(parseFieldSelector("metadata.name=a\\,b")).toEqual([
			{ path: "metadata.name", op: "=", value: "a,b" },
		]);
	});

	test("garbage is 400", () => {
		expect(() => parseFieldSelector("nonsense")).toThrow(/invalid selector/);
	});
});
