import { describe, expect, test } from "bun:test";
import { EventRecorder, podRef, sufficientIPCondition } from "./node-agent.ts";

const t0 = new Date("2025-01-01T00:00:00Z");
const at = (min: number) => new Date(t0.getTime() + min * 60_000);

describe("sufficientIPCondition (Terway PatchNodeIPResCondition)", () => {
	test("no condition yet: a new one with heartbeat = transition = now", () => {
		expect(sufficientIPCondition(undefined, false, "vsw-1 is full", t0)).toEqual({
			type: "SufficientIP",
			status: "False",
			reason: "InsufficientIP",
			message: "vsw-1 is full",
			lastHeartbeatTime: "2025-01-01T00:00:00Z",
			lastTransitionTime: "2025-01-01T00:00:00Z",
		});
	});

	test("same status, reason and message within 5 min: nothing to send; after: heartbeat only", () => {
		const cur = {
			type: "SufficientIP",
			status: "True",
			reason: "SufficientIP",
			message: "",
			lastHeartbeatTime: t0,
			lastTransitionTime: t0,
		};
		expect(sufficientIPCondition(cur, true, "", at(4))).toBeUndefined();
		expect(sufficientIPCondition(cur, true, "", at(5))).toMatchObject({
			lastHeartbeatTime: "2025-01-01T00:05:00Z",
			lastTransitionTime: "2025-01-01T00:00:00Z",
		});
		expect(sufficientIPCondition(cur, true, "other message", at(1))).toMatchObject({
			lastTransitionTime: "2025-01-01T00:00:00Z",
		});
		expect(sufficientIPCondition(cur, false, "", at(1))).toMatchObject({
			status: "False",
			lastTransitionTime: "2025-01-01T00:01:00Z",
		});
	});
});

describe("events", () => {
	test("the dedup key separates objects, types, reasons, messages and sources", () => {
		const ref = podRef({ metadata: { name: "p", namespace: "n", uid: "u" } });
		const k = EventRecorder.key(ref, "Warning", "AllocIPFailed", "m", "terway-daemon/node-1");
		expect(EventRecorder.key({ ...ref }, "Warning", "AllocIPFailed", "m", "terway-daemon/node-1")).toBe(k);
		for (const other of [
			EventRecorder.key({ ...ref, uid: "u2" }, "Warning", "AllocIPFailed", "m", "terway-daemon/node-1"),
			EventRecorder.key(ref, "Normal", "AllocIPFailed", "m", "terway-daemon/node-1"),
			EventRecorder.key(ref, "Warning", "AllocIPSucceed", "m", "terway-daemon/node-1"),
			EventRecorder.key(ref, "Warning", "AllocIPFailed", "m2", "terway-daemon/node-1"),
			EventRecorder.key(ref, "Warning", "AllocIPFailed", "m", "terway-daemon/node-2"),
		])
			expect(other).not.toBe(k);
	});
});
