import { describe, expect, test } from "bun:test";
import { ApiError } from "./errors.ts";
import { parseAllocRequest, parseJsonBody, parseReleaseRequest } from "./validate.ts";

const ok = {
	pod: { namespace: "default", name: "web-0" },
	containerId: "abc123",
	netns: "/var/run/netns/x",
	ifname: "eth0",
};

function fieldOf(f: () => unknown): string | undefined {
	try {
		f();
	} catch (e) {
		expect(e).toBeInstanceOf(ApiError);
		expect((e as ApiError).status).toBe(400);
		return (e as ApiError).field;
	}
	throw new Error("expected a 400");
}

describe("alloc request", () => {
	test("a good one parses", () => {
		expect(parseAllocRequest(ok)).toEqual(ok);
		expect(parseAllocRequest({ ...ok, pod: { ...ok.pod, uid: "u-1" } }).pod.uid).toBe("u-1");
	});
	test.each([
		[{ ...ok, pod: undefined }, "pod"],
		[{ ...ok, pod: "x" }, "pod"],
		[{ ...ok, pod: { name: "a" } }, "pod.namespace"],
		[{ ...ok, pod: { namespace: "Bad_NS", name: "a" } }, "pod.namespace"],
		[{ ...ok, pod: { namespace: "a", name: 7 } }, "pod.name"],
		[{ ...ok, pod: { namespace: "a", name: "b", extra: 1 } }, "pod.extra"],
		[{ ...ok, containerId: 5 }, "containerId"],
		[{ ...ok, containerId: "" }, "containerId"],
		[{ ...ok, containerId: "a b" }, "containerId"],
		[{ ...ok, netns: "relative" }, "netns"],
		[{ ...ok, ifname: "way-too-long-ifname" }, "ifname"],
		[{ ...ok, ifname: "a/b" }, "ifname"],
		[{ ...ok, surprise: true }, "surprise"],
		[[], "body"],
		[null, "body"],
	])("%j is refused naming %s", (body, field) => {
		expect(fieldOf(() => parseAllocRequest(body))).toBe(field);
	});
});

describe("release request", () => {
	test("containerId is optional", () => {
		expect(parseReleaseRequest({ pod: ok.pod })).toEqual({ pod: ok.pod });
		expect(parseReleaseRequest({ pod: ok.pod, containerId: "c1" })).toEqual({
			pod: ok.pod,
			containerId: "c1",
		});
	});
	test("wrong types are refused", () => {
		expect(fieldOf(() => parseReleaseRequest({ pod: ok.pod, containerId: [] }))).toBe("containerId");
	});
});

test("bad JSON names the body", () => {
	expect(fieldOf(() => parseJsonBody("{"))).toBe("body");
	expect(fieldOf(() => parseJsonBody(""))).toBe("body");
});
