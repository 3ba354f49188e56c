import { describe, expect, test } from "bun:test";
import { FaultEngine, FaultRuleError, parseFaultRule } from "./faults.ts";

describe("parseFaultRule", () => {
	test("a full rule round-trips", () => {
		const rule = parseFaultRule({
			match: { face: "openapi", action: "AttachNetworkInterface", nth: 2 },
			effect: { kind: "error", code: "InternalError", status: 500 },
			times: 1,
		});
		expect(rule).toEqual({
			match: { face: "openapi", action: "AttachNetworkInterface", nth: 2 },
			effect: { kind: "error", code: "InternalError", status: 500 },
			times: 1,
		});
	});

	test.each([
		[{ effect: { kind: "boom" } }, 'effect.kind: "boom" is not one of'],
		[{ effect: { kind: "error" } }, 'effect.code: required for kind "error"'],
		[{ effect: { kind: "latency" } }, 'effect.ms: required for kind "latency"'],
		[{ match: { face: "dns" }, effect: { kind: "hang" } }, 'match.face: "dns" is not one of'],
		[{ match: { nth: 0 }, effect: { kind: "hang" } }, "match.nth: 0 is out of range"],
		[{ match: { probability: 2 }, effect: { kind: "hang" } }, "match.probability: 2 is out of range"],
		[{ match: { wat: 1 }, effect: { kind: "hang" } }, 'match: unknown field "wat"'],
		[{ effect: { kind: "hang" }, times: 1.5 }, "fault rule.times: expected an integer"],
		["nope", 'fault rule: expected an object, got "nope"'],
	])("bad rule %j names the field", (input, message) => {
		expect(() => parseFaultRule(input)).toThrow(FaultRuleError);
		expect(() => parseFaultRule(input)).toThrow(message);
	});
});

describe("FaultEngine", () => {
	test("matches by face/action/ids, counts nth, and retires spent rules", () => {
		const f = new FaultEngine();
		const r = f.add(
			parseFaultRule({
				match: { face: "openapi", action: "Attach", nth: 2 },
				effect: { kind: "hang" },
				times: 1,
			}),
		);
		expect(r.id).toBe("f1");
		expect(f.check({ face: "metadata", action: "AttachNetworkInterface" })).toBeUndefined();
		expect(f.check({ face: "openapi", action: "AttachNetworkInterface" })).toBeUndefined(); // 1st
		expect(f.check({ face: "openapi", action: "AttachNetworkInterface" })?.rule.id).toBe("f1"); // 2nd fires
		expect(f.list()).toEqual([]); // times: 1 -> spent
	});

	test("only= ignores effects a face cannot apply", () => {
		const f = new FaultEngine();
		f.add(parseFaultRule({ effect: { kind: "attachStuck" } }));
		expect(f.check({ face: "openapi", action: "X" }, ["error", "throttle"])).toBeUndefined();
		expect(f.check({ face: "world", action: "attach" }, ["attachStuck"])?.effect.kind).toBe("attachStuck");
	});

	test("probability draws are deterministic per seed", () => {
		const draw = (seed: number) => {
			const f = new FaultEngine(seed);
			f.add(parseFaultRule({ match: { probability: 0.5 }, effect: { kind: "hang" } }));
			return Array.from({ length: 20 }, () => (f.check({ face: "kube" }) ? 1 : 0)).join("");
		};
		expect(draw(7)).toBe(draw(7));
		expect(draw(7)).not.toBe(draw(8));
	});

	test("duplicate ids are refused", () => {
		const f = new FaultEngine();
		f.add({ id: "x", match: {}, effect: { kind: "hang" } });
		expect(() => f.add({ id: "x", match: {}, effect: { kind: "hang" } })).toThrow('id "x" already exists');
	});
});
