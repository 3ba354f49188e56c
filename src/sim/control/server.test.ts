import { describe, expect, test } from "bun:test";
import { FaultEngine } from "../faults.ts";
import { RequestLog } from "../request-log.ts";
import type { SimPod, SimStatus } from "./client.ts";
import { type ControlBackend, handleControl } from "./server.ts";

function backend() {
	const pods: SimPod[] = [];
	let shutdown = 0;
	const b: ControlBackend & { shutdowns: () => number } = {
		faults: new FaultEngine(),
		log: new RequestLog(100),
		status: (): SimStatus => ({
			prefix: "t",
			mode: "loopback",
			phase: "ready",
			progress: [],
			nodes: [],
			pods: pods.length,
			faults: 0,
			requests: 0,
		}),
		pods: async () => pods,
		addPod: async (p) => {
			const pod = { namespace: p.namespace, name: p.name, node: p.node ?? "node-1", phase: "Pending" };
			pods.push(pod);
			return pod;
		},
		deletePod: async (ns, name) => {
			const i = pods.findIndex((p) => p.namespace === ns && p.name === name);
			if (i < 0) return false;
			pods.splice(i, 1);
			return true;
		},
		snapshot: () => ({ kind: "test" }),
		shutdown: () => {
			shutdown++;
		},
		shutdowns: () => shutdown,
	};
	return b;
}

const call = async (b: ControlBackend, method: string, path: string, body?: unknown) => {
	const res = await handleControl(
		b,
		new Request(`http://sim${path}`, {
			method,
			...(body !== undefined ? { body: JSON.stringify(body) } : {}),
		}),
	);
	// biome-ignore lint/suspicious/noExplicitAny: test reads arbitrary JSON bodies
	return { status: res.status, body: (await res.json()) as any };
};

describe("control API", () => {
	test("faults: add, list, remove; a bad rule is 400 naming the field and adds nothing", async () => {
		const b = backend();
		const bad = await call(b, "POST", "/v1/faults", { effect: { kind: "error" } });
		expect(bad).toEqual({ status: 400, body: { error: 'effect.code: required for kind "error"' } });
		expect(b.faults.list()).toEqual([]);
		const ok = await call(b, "POST", "/v1/faults", {
			match: { face: "openapi" },
			effect: { kind: "throttle" },
		});
		expect(ok.status).toBe(201);
		expect((await call(b, "GET", "/v1/faults")).body).toHaveLength(1);
		expect(await call(b, "DELETE", `/v1/faults/${ok.body.id}`)).toEqual({
			status: 200,
			body: { removed: true },
		});
		expect(await call(b, "DELETE", "/v1/faults/nope")).toEqual({ status: 404, body: { removed: false } });
		expect(b.log.since(0).map((e) => e.what)).toEqual(["fault.add"]);
	});

	test("pods: bad names are refused, good ones added, deleted, 404 after", async () => {
		const b = backend();
		expect((await call(b, "POST", "/v1/pods", { name: "Bad_Name" })).body.error).toBe(
			'pod.name: "Bad_Name" is not a DNS-1123 label',
		);
		expect((await call(b, "POST", "/v1/pods", { name: "web", zone: "x" })).body.error).toBe(
			'pod: unknown field "zone"',
		);
		expect((await call(b, "POST", "/v1/pods", { name: "web" })).status).toBe(201);
		expect((await call(b, "GET", "/v1/pods")).body).toEqual([
			{ namespace: "default", name: "web", node: "node-1", phase: "Pending" },
		]);
		expect((await call(b, "DELETE", "/v1/pods/default/web")).status).toBe(200);
		expect((await call(b, "DELETE", "/v1/pods/default/web")).status).toBe(404);
	});

	test("log filters and validates since; unknown endpoints 404; bad JSON 400", async () => {
		const b = backend();
		b.log.record({ face: "openapi", what: "DescribeNetworkInterfaces", status: 200 });
		b.log.record({ face: "kube", what: "GET /api/v1/pods", status: 200 });
		expect((await call(b, "GET", "/v1/log?face=kube")).body.map((e: { what: string }) => e.what)).toEqual([
			"GET /api/v1/pods",
		]);
		expect((await call(b, "GET", "/v1/log?since=1")).body).toHaveLength(1);
		expect((await call(b, "GET", "/v1/log?since=-1")).status).toBe(400);
		expect((await call(b, "GET", "/v1/nothing")).status).toBe(404);
		const res = await handleControl(b, new Request("http://sim/v1/pods", { method: "POST", body: "{" }));
		expect(res.status).toBe(400);
	});
});
