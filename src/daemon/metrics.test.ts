import { expect, test } from "bun:test";
import { DaemonMetrics, Histogram } from "./metrics.ts";

test("histogram renders cumulative buckets, sum and count", () => {
	const h = new Histogram("x_ms", "x", [1, 10]);
	h.observe({ api: "A" }, 0.5);
	h.observe({ api: "A" }, 5);
	h.observe({ api: "A" }, 50);
	expect(h.lines()).toEqual([
		'x_ms_bucket{api="A",le="1"} 1',
		'x_ms_bucket{api="A",le="10"} 2',
		'x_ms_bucket{api="A",le="+Inf"} 3',
		'x_ms_sum{api="A"} 55.5',
		'x_ms_count{api="A"} 3',
	]);
});

test("the registry renders Terway's names with HELP and TYPE", () => {
	const m = new DaemonMetrics();
	m.poolIdle.set({ type: "LocalIP", ipStack: "ipv4" }, 3);
	m.openapiCalls.inc({ api: "AssignPrivateIpAddresses", result: "ok" });
	const text = m.render();
	expect(text).toContain("# TYPE terway_resource_pool_idle_count gauge");
	expect(text).toContain('terway_resource_pool_idle_count{ipStack="ipv4",type="LocalIP"} 3');
	expect(text).toContain('terwayd_openapi_calls_total{api="AssignPrivateIpAddresses",result="ok"} 1');
	expect(text.endsWith("\n")).toBe(true);
});
