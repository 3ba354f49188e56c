import { describe, expect, test } from "bun:test";
import type { KubeFetchInit } from "./client.ts";
import {
	Backoff,
	buildQuery,
	diffRelist,
	Informer,
	type KubeObjectLike,
	LineSplitter,
	objectKey,
} from "./watch.ts";

const o = (name: string, rv: string, uid = `uid-${name}`, namespace = "ns"): KubeObjectLike => ({
	metadata: { name, namespace, resourceVersion: rv, uid },
});

describe("watch pure parts", () => {
	test("objectKey: ns/name, or name when cluster-scoped", () => {
		expect([objectKey(o("a", "1")), objectKey({ metadata: { name: "node-1" } })]).toEqual(["ns/a", "node-1"]);
	});

	test("LineSplitter joins lines across chunks, splits UTF-8 safely and drops blank keep-alives", () => {
		const s = new LineSplitter();
		const enc = new TextEncoder();
		const bytes = enc.encode('{"a":"é"}\n\n{"b":');
		expect(s.push(bytes.subarray(0, 8))).toEqual([]); // cut inside the two-byte é
		expect(s.push(bytes.subarray(8))).toEqual(['{"a":"é"}']);
		expect(s.push(enc.encode("2}\n"))).toEqual(['{"b":2}']);
		expect(s.push(enc.encode('{"c":3}'))).toEqual([]);
		expect(s.end()).toEqual(['{"c":3}']);
	});

	test("diffRelist: deletes first (gone or replaced by a new uid), then adds and changed objects", () => {
		const cache = new Map([
			["ns/same", o("same", "1")],
			["ns/changed", o("changed", "1")],
			["ns/gone", o("gone", "1")],
			["ns/recreated", o("recreated", "1", "old-uid")],
		]);
		const ev = diffRelist(cache, [
			o("same", "1"),
			o("changed", "5"),
			o("recreated", "6", "new-uid"),
			o("new", "7"),
		]);
		expect(
			ev.map((e) => `${e.type} ${e.object.metadata?.name} ${e.object.metadata?.resourceVersion}`),
		).toEqual(["delete gone 1", "delete recreated 1", "update changed 5", "add recreated 6", "add new 7"]);
	});

	test("Backoff doubles to the cap, jitter adds up to the fraction, reset starts over", () => {
		const b = new Backoff({ initialMs: 100, maxMs: 500, jitter: 0.5 }, () => 0.5);
		expect([b.next(), b.next(), b.next(), b.next()]).toEqual([125, 250, 500, 625]);
		b.reset();
		expect(b.next()).toBe(125);
	});

	test("buildQuery drops empty values and encodes selectors", () => {
		expect(
			buildQuery({
				watch: "true",
				resourceVersion: "",
				fieldSelector: "spec.nodeName=n1,status.phase!=Failed",
			}),
		).toBe("?watch=true&fieldSelector=spec.nodeName%3Dn1%2Cstatus.phase%21%3DFailed");
		expect(buildQuery({ a: undefined })).toBe("");
	});
});

/** A scripted transport: each request gets the next response; the log keeps the paths. */
class Scripted {
	paths: string[] = [];
	constructor(private readonly responses: ((path: string, init?: KubeFetchInit) => Response)[]) {}
	async fetch(path: string, init?: KubeFetchInit): Promise<Response> {
		this.paths.push(path);
		const next = this.responses.shift();
		if (next) return next(path, init);
		// nothing scripted: a watch that stays open until aborted
		return new Response(
			new ReadableStream({
				start(c) {
					init?.signal?.addEventListener("abort", () => c.error(new Error("aborted")));
				},
			}),
		);
	}
}

const list = (rv: string, items: KubeObjectLike[]) => () =>
	Response.json({ metadata: { resourceVersion: rv }, items });
const stream =
	(...events: unknown[]) =>
	() =>
		new Response(events.map((e) => `${JSON.stringify(e)}\n`).join(""));

describe("Informer with a scripted transport", () => {
	test("an ERROR event other than 410 is reported and the watch resumes from the last resourceVersion; bad JSON too", async () => {
		const t = new Scripted([
			list("10", [o("a", "9")]),
			stream(
				{ type: "BOOKMARK", object: { metadata: { resourceVersion: "12" } } },
				{ type: "ERROR", object: { kind: "Status", code: 500, reason: "InternalError", message: "etcd" } },
			),
			() => new Response("{not json\n"),
			stream({ type: "MODIFIED", object: o("a", "13") }),
		]);
		const errors: string[] = [];
		const seen: string[] = [];
		const inf = new Informer(t, {
			path: "/api/v1/pods",
			add: (x) => void seen.push(`add ${x.metadata?.name}`),
			update: (x) => void seen.push(`update ${x.metadata?.name} ${x.metadata?.resourceVersion}`),
			error: (e) => void errors.push(e.message),
			backoff: { initialMs: 1, maxMs: 5 },
			watchTimeoutSeconds: 60,
		}).start();
		await inf.synced;
		while (seen.length < 2) await Bun.sleep(5);
		await inf.stop();
		expect(seen).toEqual(["add a", "update a 13"]);
		expect(errors[0]).toBe("watch /api/v1/pods: etcd");
		expect(errors).toHaveLength(2);
		const rvs = t.paths.map((p) => new URL(p, "http://x").searchParams.get("resourceVersion"));
		expect(rvs.slice(0, 5)).toEqual(["0", "10", "12", "12", "13"]);
		expect(inf.stats.bookmarks).toBe(1);
	});

	test("HTTP 410 on the watch relists without a resourceVersion (a consistent read)", async () => {
		const t = new Scripted([
			list("10", [o("a", "9")]),
			() => Response.json({ kind: "Status", code: 410, reason: "Expired" }, { status: 410 }),
			list("20", [o("b", "15")]),
		]);
		const seen: string[] = [];
		const inf = new Informer(t, {
			path: "/api/v1/pods",
			add: (x) => void seen.push(`add ${x.metadata?.name}`),
			delete: (x, i) => void seen.push(`delete ${x.metadata?.name} ${i.synthetic}`),
			backoff: { initialMs: 1, maxMs: 5 },
			pageSize: 0,
		}).start();
		while (seen.length < 3) await Bun.sleep(5);
		await inf.stop();
		expect(seen).toEqual(["add a", "delete a true", "add b"]);
		expect(t.paths[2]).toBe("/api/v1/pods");
		expect(inf.resourceVersion).toBe("20");
	});

	test("stop() before the first list completes rejects synced", async () => {
		// a list that never answers, and gives up only when aborted (as fetch does)
		const hanging = {
			fetch: (_p: string, init?: KubeFetchInit) =>
				new Promise<Response>((_res, rej) =>
					init?.signal?.addEventListener("abort", () => rej(new Error("aborted"))),
				),
		};
		const inf = new Informer(hanging, { path: "/api/v1/pods" }).start();
		const p = inf.synced.then(
			() => "synced",
			(e: Error) => e.message,
		);
		await inf.stop();
		expect(await p).toBe("informer stopped before it synced");
	});
});
