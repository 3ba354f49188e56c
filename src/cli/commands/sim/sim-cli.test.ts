import { describe, expect, test } from "bun:test";
import { validatePrefix, worldPaths } from "../../../sim/layout.ts";
import { parseEnvFile } from "./exec.ts";
import { ruleFromFlags } from "./fault.ts";

describe("sim CLI helpers", () => {
	test("prefixes are short lowercase names", () => {
		expect(validatePrefix("tw")).toBe("tw");
		expect(() => validatePrefix("TW")).toThrow(
			'--prefix "TW": must be 1-10 of [a-z0-9], starting with a letter',
		);
		expect(() => validatePrefix("a/b")).toThrow();
		expect(() => validatePrefix("abcdefghijk")).toThrow();
		expect(worldPaths("tw", "/tmp/x").control).toBe("/tmp/x/tw/control.sock");
	});

	test("fault flags become a rule; bad numbers are usage errors", () => {
		expect(
			ruleFromFlags({
				prefix: "tw",
				face: "openapi",
				action: "AttachNetworkInterface",
				effect: "error",
				code: "InternalError",
				status: "500",
				times: "1",
				json: false,
			}),
		).toEqual({
			match: { face: "openapi", action: "AttachNetworkInterface" },
			effect: { kind: "error", code: "InternalError", status: 500 },
			times: 1,
		});
		expect(() => ruleFromFlags({ prefix: "tw", effect: "latency", ms: "soon", json: false })).toThrow(
			'--ms "soon": expected a number',
		);
		expect(() => ruleFromFlags({ prefix: "tw", json: false })).toThrow("--effect is required");
	});

	test("node env files", () => {
		expect(parseEnvFile("ECS_ENDPOINT=100.100.0.10:80\n# comment\nbad line\nNODE_NAME=node-1\n")).toEqual({
			ECS_ENDPOINT: "100.100.0.10:80",
			NODE_NAME: "node-1",
		});
	});
});
