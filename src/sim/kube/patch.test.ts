import { describe, expect, test } from "bun:test";
import { isKubeApiError } from "./errors.ts";
import { applyJsonPatch, applyMergePatch, applyStrategicMergePatch } from "./patch.ts";

describe("JSON patch (RFC 6902)", () => {
	const doc = { metadata: { name: "p", labels: { a: "1" } }, spec: { list: [1, 2, 3] } };

	test("add, remove, replace, move, copy, test, escaped pointers", () => {
		const out = applyJsonPatch(doc, [
			{ op: "test", path: "/metadata/name", value: "p" },
			{ op: "add", path: "/metadata/labels/k8s.aliyun.com~1x", value: "y" },
			{ op: "replace", path: "/metadata/labels/a", value: "2" },
			{ op: "add", path: "/spec/list/-", value: 4 },
			{ op: "add", path: "/spec/list/0", value: 0 },
			{ op: "remove", path: "/spec/list/1" },
			{ op: "copy", from: "/metadata/name", path: "/spec/copied" },
			{ op: "move", from: "/spec/copied", path: "/spec/moved" },
		]);
		expect(out as unknown).toEqual({
			metadata: { name: "p", labels: { a: "2", "k8s.aliyun.com/x": "y" } },
			spec: { list: [0, 2, 3, 4], moved: "p" },
		});
		expect(doc.spec.list).toEqual([1, 2, 3]); // input untouched
	});

	test("a failed test is 422 Invalid", () => {
		try {
			applyJsonPatch(doc, [{ op: "test", path: "/metadata/name", value: "q" }]);
			throw new Error("applied");
		} catch (e) {
			expect(isKubeApiError(e, "Invalid")).toBe(true);
		}
	});

	test("replace of a missing path fails", () => {
		expect(() => applyJsonPatch(doc, [{ op: "replace", path: "/nope", value: 1 }])).toThrow(/missing path/);
	});

	test("a non-array body is 400", () => {
		expect(() => applyJsonPatch(doc, { op: "add" })).toThrow(/cannot unmarshal/);
	});
});

describe("merge patch (RFC 7386)", () => {
	test("objects merge, null deletes, lists replace", () => {
		expect(
			applyMergePatch<unknown>(
				{ a: { b: 1, c: 2 }, l: [1, 2], keep: true },
				{ a: { b: null, d: 3 }, l: [9] },
			),
		).toEqual({ a: { c: 2, d: 3 }, l: [9], keep: true });
	});
});

describe("strategic merge patch", () => {
	const node = {
		status: {
			conditions: [
				{ type: "Ready", status: "True" },
				{ type: "MemoryPressure", status: "False" },
			],
			addresses: [{ type: "InternalIP", address: "10.0.0.1" }],
		},
	};

	test("conditions merge by type (Terway's SufficientIP patch)", () => {
		const out = applyStrategicMergePatch(node, {
			status: { conditions: [{ type: "SufficientIP", status: "True", reason: "SufficientIP" }] },
		});
		expect(out.status.conditions as unknown).toEqual([
			{ type: "Ready", status: "True" },
			{ type: "MemoryPressure", status: "False" },
			{ type: "SufficientIP", status: "True", reason: "SufficientIP" },
		]);
		const updated = applyStrategicMergePatch(out, {
			status: { conditions: [{ type: "Ready", status: "False" }] },
		});
		expect(updated.status.conditions[0]).toEqual({ type: "Ready", status: "False" });
	});

	const pod = {
		metadata: { finalizers: ["a"] },
		spec: {
			containers: [
				{
					name: "c",
					image: "x",
					env: [{ name: "A", value: "1" }],
					ports: [{ containerPort: 80, protocol: "TCP" }],
				},
				{ name: "side", image: "y" },
			],
			volumes: [{ name: "v1", emptyDir: {} }],
			tolerations: [{ key: "t" }],
		},
	};

	test("containers by name, env by name, ports by containerPort, volumes by name", () => {
		const out = applyStrategicMergePatch(pod, {
			spec: {
				containers: [
					{ name: "c", env: [{ name: "B", value: "2" }], ports: [{ containerPort: 80, name: "http" }] },
				],
				volumes: [{ name: "v2", emptyDir: {} }],
			},
		});
		expect(out.spec.containers as unknown).toEqual([
			{
				name: "c",
				image: "x",
				env: [
					{ name: "A", value: "1" },
					{ name: "B", value: "2" },
				],
				ports: [{ containerPort: 80, protocol: "TCP", name: "http" }],
			},
			{ name: "side", image: "y" },
		]);
		expect(out.spec.volumes.map((v) => v.name)).toEqual(["v1", "v2"]);
	});

	test("$patch delete and replace; lists without a merge key replace; finalizers union", () => {
		const out = applyStrategicMergePatch(pod, {
			metadata: { finalizers: ["b"] },
			spec: {
				containers: [{ name: "side", $patch: "delete" }],
				volumes: [{ $patch: "replace" }, { name: "only" }],
				tolerations: [{ key: "u" }],
			},
		});
		expect(out.metadata.finalizers).toEqual(["a", "b"]);
		expect(out.spec.containers.map((c) => c.name)).toEqual(["c"]);
		expect(out.spec.volumes as unknown).toEqual([{ name: "only" }]);
		expect(out.spec.tolerations).toEqual([{ key: "u" }]);
	});

	test("null deletes; $deleteFromPrimitiveList and $setElementOrder", () => {
		const out = applyStrategicMergePatch(pod, {
			metadata: { "$deleteFromPrimitiveList/finalizers": ["a"] },
			spec: { tolerations: null, "$setElementOrder/containers": [{ name: "side" }, { name: "c" }] },
		});
		expect(out.metadata.finalizers).toEqual([]);
		expect("tolerations" in out.spec).toBe(false);
		expect(Object.keys(out.spec).some((k) => k.startsWith("$"))).toBe(false);
	});

	test("service ports merge by port", () => {
		const svc = { spec: { ports: [{ port: 80, targetPort: 8080 }] } };
		const out = applyStrategicMergePatch(svc, { spec: { ports: [{ port: 443, targetPort: 8443 }] } });
		expect(out.spec.ports).toEqual([
			{ port: 80, targetPort: 8080 },
			{ port: 443, targetPort: 8443 },
		]);
	});
});
