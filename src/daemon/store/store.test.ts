import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { isConstraintError, isStoreError, SCHEMA_VERSION, Store, type StoreError } from "./index.ts";
import { MIGRATIONS } from "./schema.ts";
import { ManualClock, openStore, seedPool, tempDir } from "./testing/helpers.ts";

const pod = (name: string, uid = `uid-${name}`) => ({ namespace: "default", name, uid });
const V4 = { v4: true, v6: false };
const DUAL = { v4: true, v6: true };

function expectStoreError(f: () => unknown, code: StoreError["code"]): StoreError {
	try {
		f();
	} catch (e) {
		expect(isStoreError(e, code)).toBe(true);
		return e as StoreError;
	}
	throw new Error(`expected StoreError ${code}, nothing was thrown`);
}

describe("schema and migrations", () => {
	test("a new file gets WAL, FULL sync, foreign keys and every migration, recorded once", () => {
		using dir = tempDir();
		const clock = new ManualClock();
		{
			using s = openStore(dir.path, clock);
			expect(s.schemaVersion()).toBe(SCHEMA_VERSION);
			expect(s.migrations()).toEqual(
				MIGRATIONS.map((m) => ({ version: m.version, name: m.name, appliedAt: clock.t })),
			);
		}
		// Reopening applies nothing again.
		clock.tick();
		using s2 = openStore(dir.path, clock);
		expect(s2.migrations().map((m) => m.appliedAt)).toEqual(MIGRATIONS.map(() => clock.t - 1000));
		using raw = new Database(join(dir.path, "state.db"));
		expect(raw.query("PRAGMA journal_mode").get()).toEqual({ journal_mode: "wal" });
		expect(s2.checkInvariants()).toEqual([]);
	});

	test("pragmas hold on the store's own connection; foreign keys are enforced", () => {
		using dir = tempDir();
		using s = Store.open(join(dir.path, "state.db"), { busyTimeoutMs: 1234 });
		expect(s.pragmas()).toEqual({
			journalMode: "wal",
			synchronous: "FULL",
			foreignKeys: true,
			busyTimeoutMs: 1234,
		});
		expectStoreError(() => s.upsertIps("eni-missing", [{ ip: "10.0.0.1" }]), "NOT_FOUND");
		using raw = new Database(join(dir.path, "state.db"));
		raw.exec("PRAGMA foreign_keys = ON");
		expect(() =>
			raw.run(
				"INSERT INTO ips (ip, family, eni_id, state, idle_since, created_at, updated_at) VALUES ('10.9.9.9', 4, 'nope', 'idle', 1, 1, 1)",
			),
		).toThrow(/FOREIGN KEY/);
	});

	test("a database from a newer terwayd is refused, not misread", () => {
		using dir = tempDir();
		openStore(dir.path).close();
		{
			using raw = new Database(join(dir.path, "state.db"));
			raw.run("INSERT INTO schema_version (version, name, applied_at) VALUES (?, 'future', 0)", [
				SCHEMA_VERSION + 1,
			]);
		}
		const e = expectStoreError(() => openStore(dir.path), "SCHEMA_TOO_NEW");
		expect(e.message).toContain(`schema version ${SCHEMA_VERSION + 1}`);
	});

	test("the parent directory is created and the file is private", async () => {
		using dir = tempDir();
		const path = join(dir.path, "var/lib/terway/state.db");
		using s = Store.open(path);
		expect(s.path).toBe(path);
		const st = await Bun.file(path).stat();
		expect(st.mode & 0o777).toBe(0o600);
	});
});

describe("ENIs and IPs", () => {
	test("upserts canonicalize, keep createdAt, and refuse an IP that moves ENIs", () => {
		using dir = tempDir();
		const clock = new ManualClock();
		using s = openStore(dir.path, clock);
		seedPool(s, [{ v4: 2, v6: 1 }, { v4: 1 }]);
		const created = s.eni("eni-0")!.createdAt;
		clock.tick();
		const e = s.upsertEni({ ...s.eni("eni-0")!, status: "Detaching", mac: "02:00:00:00:00:AA" });
		expect(e.createdAt).toBe(created);
		expect(e.updatedAt).toBe(clock.t);
		expect(e.mac).toBe("02:00:00:00:00:aa");
		expect(s.ip("2001:0DB8:0000::0010")?.ip).toBe("2001:db8::10");
		expect(s.ips({ family: 6 }).map((r) => r.ip)).toEqual(["2001:db8::10"]);
		expectStoreError(() => s.upsertIps("eni-1", [{ ip: "10.0.0.11" }]), "CONFLICT");
		expectStoreError(() => s.upsertIps("eni-1", [{ ip: "10.0.0.999" }]), "INVALID");
		// Idempotent: same IP, same ENI.
		expect(s.upsertIps("eni-0", [{ ip: "10.0.0.11" }])[0]?.state).toBe("idle");
	});

	test("markReleasing/markIdle move only idle/releasing IPs; removeIps refuses held ones", () => {
		using dir = tempDir();
		using s = openStore(dir.path);
		seedPool(s, [{ v4: 3 }]);
		const r = s.allocate(pod("a"), "c1", V4, "oldest-idle");
		if (!r.ok) throw new Error("exhausted");
		expect(s.markReleasing(["10.0.0.10", "10.0.0.11", "10.0.0.12"])).toBe(2);
		expect(s.ip(r.allocation.ipv4!)?.state).toBe("allocated");
		expect(s.markIdle(["10.0.0.11"])).toBe(1);
		expectStoreError(() => s.removeIps(["10.0.0.12", r.allocation.ipv4!]), "IN_USE");
		expect(s.ip("10.0.0.12")).not.toBeNull(); // all or nothing
		expectStoreError(() => s.removeEni("eni-0"), "IN_USE");
		s.release("default/a");
		expect(s.removeEni("eni-0")).toBe(true);
		expect(s.ips()).toEqual([]);
		expect(s.removeEni("eni-0")).toBe(false);
	});
});

describe("allocate", () => {
	test("picks an idle IP on an InUse ENI, marks it allocated, records the sandbox", () => {
		using dir = tempDir();
		const clock = new ManualClock();
		using s = openStore(dir.path, clock);
		seedPool(s, [{ v4: 2 }]);
		const r = s.allocate(pod("a"), "c1", V4, "oldest-idle", { netns: "/var/run/netns/x", datapath: "veth" });
		expect(r).toEqual({
			ok: true,
			created: true,
			allocation: {
				id: 1,
				podKey: "default/a",
				namespace: "default",
				name: "a",
				uid: "uid-a",
				containerId: "c1",
				netns: "/var/run/netns/x",
				ifname: "eth0",
				ipv4: "10.0.0.10",
				ipv6: null,
				eniId: "eni-0",
				datapath: "veth",
				createdAt: clock.t,
			},
		});
		expect(s.ip("10.0.0.10")).toMatchObject({ state: "allocated", podKey: "default/a", idleSince: null });
		expect(s.checkInvariants()).toEqual([]);
	});

	test("is idempotent per (pod, containerId), also across reopen", () => {
		using dir = tempDir();
		let first: unknown;
		{
			using s = openStore(dir.path);
			seedPool(s, [{ v4: 3 }]);
			const r = s.allocate(pod("a"), "c1", V4, "oldest-idle");
			expect(r.ok && r.created).toBe(true);
			first = r.ok && r.allocation;
			const again = s.allocate(pod("a"), "c1", DUAL, "most-ips");
			expect(again).toEqual({ ok: true, created: false, allocation: first as never });
			expect(s.counters()).toMatchObject({ allocations: 1, allocationsReused: 1 });
		}
		using s = openStore(dir.path);
		expect(s.allocate(pod("a"), "c1", V4, "oldest-idle")).toEqual({
			ok: true,
			created: false,
			allocation: first as never,
		});
		expect(s.ips({ state: "allocated" }).length).toBe(1);
		// A new sandbox of the same pod gets its own allocation.
		const r2 = s.allocate(pod("a"), "c2", V4, "oldest-idle");
		expect(r2.ok && r2.allocation.ipv4).toBe("10.0.0.11");
		expect(s.allocationFor("default/a")?.containerId).toBe("c2");
		expect(s.allocationFor("default/a", "c1")?.ipv4).toBe("10.0.0.10");
		// Same containerId recorded under another uid: refuse rather than hand over someone's IP.
		expectStoreError(() => s.allocate(pod("a", "other-uid"), "c1", V4, "oldest-idle"), "CONFLICT");
	});

	test("dual stack takes both families from the same ENI; exhaustion names what is missing", () => {
		using dir = tempDir();
		using s = openStore(dir.path);
		seedPool(s, [{ v4: 2 }, { v4: 1, v6: 1 }]);
		const r = s.allocate(pod("a"), "c1", DUAL, "oldest-idle");
		expect(r.ok && [r.allocation.eniId, r.allocation.ipv4, r.allocation.ipv6]).toEqual([
			"eni-1",
			"10.0.1.10",
			"2001:db8:1::10",
		]);
		expect(s.allocate(pod("b"), "c1", DUAL, "oldest-idle")).toEqual({
			ok: false,
			reason: "exhausted",
			missing: { v4: false, v6: true },
		});
		expect(s.allocate(pod("c"), "c1", { v4: false, v6: true }, "oldest-idle")).toEqual({
			ok: false,
			reason: "exhausted",
			missing: { v4: false, v6: true },
		});
		// Each family idle somewhere, but never together on one ENI: both reported.
		s.upsertIps("eni-1", [{ ip: "2001:db8:1::11" }]);
		expect(s.allocate(pod("b"), "c1", DUAL, "oldest-idle")).toEqual({
			ok: false,
			reason: "exhausted",
			missing: { v4: true, v6: true },
		});
		expect(s.counters().allocationsExhausted).toBe(3);
		expectStoreError(() => s.allocate(pod("d"), "c1", { v4: false, v6: false }, "oldest-idle"), "INVALID");
	});

	test("IPs on ENIs that are not InUse, and releasing IPs, are never picked", () => {
		using dir = tempDir();
		using s = openStore(dir.path);
		seedPool(s, [{ v4: 1 }, { v4: 1 }]);
		s.setEniStatus("eni-0", "Attaching");
		s.markReleasing(["10.0.1.10"]);
		expect(s.allocate(pod("a"), "c1", V4, "oldest-idle").ok).toBe(false);
		s.setEniStatus("eni-0", "InUse");
		const r = s.allocate(pod("a"), "c1", V4, "oldest-idle");
		expect(r.ok && r.allocation.ipv4).toBe("10.0.0.10");
	});

	test("policies: oldest-idle, most-ips, least-ips, and a callback", () => {
		using dir = tempDir();
		const clock = new ManualClock();
		using s = openStore(dir.path, clock);
		seedPool(s, [{ v4: 1 }]);
		clock.tick();
		seedPool(s, [{ v4: 1 }, { v4: 3 }]); // eni-0 again (no change) and eni-1 with 3, newer
		const most = s.allocate(pod("m"), "c", V4, "most-ips");
		expect(most.ok && most.allocation.eniId).toBe("eni-1");
		const least = s.allocate(pod("l"), "c", V4, "least-ips");
		expect(least.ok && least.allocation.eniId).toBe("eni-0");
		clock.tick();
		s.release("default/l"); // 10.0.0.10 idle since t+2, newer than eni-1's t+1
		clock.tick();
		s.release("default/m"); // 10.0.1.10 idle again, newest
		const oldest = s.allocate(pod("o"), "c", V4, "oldest-idle");
		expect(oldest.ok && oldest.allocation.ipv4).toBe("10.0.1.11");
		const seen: string[] = [];
		const cb = s.allocate(pod("cb"), "c", V4, (cands, want) => {
			seen.push(...cands.flatMap((c) => c.v4.map((i) => i.ip)));
			expect(want).toEqual(V4);
			return { ipv4: "10.0.1.10", ipv6: null };
		});
		expect(cb.ok && cb.allocation.ipv4).toBe("10.0.1.10");
		expect(seen.sort()).toEqual(["10.0.0.10", "10.0.1.10", "10.0.1.12"]);
		expect(s.allocate(pod("n"), "c", V4, () => null)).toMatchObject({ ok: false });
		expectStoreError(() => s.allocate(pod("x"), "c", V4, () => ({ ipv4: null, ipv6: null })), "INVALID");
		expect(s.allocationFor("default/x")).toBeNull();
	});
});

describe("UNIQUE: double assignment is impossible at the storage level", () => {
	test("two connections racing with the same pick: exactly one wins, the other gets CONFLICT", () => {
		using dir = tempDir();
		using a = openStore(dir.path);
		seedPool(a, [{ v4: 2 }]);
		using b = openStore(dir.path);
		// Both decided on 10.0.0.10 from a list read before either wrote (a stale view).
		const stale = { ipv4: "10.0.0.10", ipv6: null };
		const ra = a.allocate(pod("a"), "c1", V4, () => stale);
		expect(ra.ok).toBe(true);
		expectStoreError(() => b.allocate(pod("b"), "c1", V4, () => stale), "CONFLICT");
		expect(b.allocationFor("default/b")).toBeNull();
		expect(b.ip("10.0.0.10")?.podKey).toBe("default/a");
		expect(b.checkInvariants()).toEqual([]);
	});

	test("racing child processes on one file: every IP goes to at most one allocation", async () => {
		using dir = tempDir();
		{
			using s = openStore(dir.path);
			seedPool(s, [{ v4: 10 }]);
		}
		const fixture = join(import.meta.dir, "testing/race-fixture.ts");
		const procs = [0, 1, 2, 3].map((w) =>
			Bun.spawn([process.execPath, fixture, join(dir.path, "state.db"), `w${w}`, "8"], {
				stdout: "pipe",
				stderr: "pipe",
			}),
		);
		const outs = await Promise.all(
			procs.map(async (p) => {
				const [out, err, code] = await Promise.all([
					new Response(p.stdout).text(),
					new Response(p.stderr).text(),
					p.exited,
				]);
				expect(err).toBe("");
				expect(code).toBe(0);
				return JSON.parse(out) as { won: number; conflicts: number };
			}),
		);
		using s = openStore(dir.path);
		const allocs = s.allocations();
		expect(allocs.length).toBe(outs.reduce((n, o) => n + o.won, 0));
		expect(allocs.length).toBe(10); // 32 attempts on 10 IPs: all taken, none twice
		expect(new Set(allocs.map((a) => a.ipv4)).size).toBe(10);
		expect(s.checkInvariants()).toEqual([]);
	});

	test("even raw SQL that bypasses the store cannot give one IP to two live allocations", () => {
		using dir = tempDir();
		{
			using s = openStore(dir.path);
			seedPool(s, [{ v4: 2 }]);
			s.allocate(pod("a"), "c1", V4, "oldest-idle");
		}
		using raw = new Database(join(dir.path, "state.db"));
		raw.exec("PRAGMA foreign_keys = ON");
		const insert = (container: string, ip: string, podKey = "default/a") =>
			raw.run(
				`INSERT INTO allocations (pod_key, namespace, name, uid, container_id, netns, ifname, ipv4, ipv6, eni_id,
					datapath, created_at) VALUES (?, 'default', ?, 'u', ?, '', 'eth0', ?, NULL, 'eni-0', 'veth', 1)`,
				[podKey, podKey.split("/")[1]!, container, ip],
			);
		// Same pod, second sandbox, same IP: the guard trigger passes (IP is allocated to this pod), UNIQUE does not.
		let err: unknown;
		try {
			insert("c2", "10.0.0.10");
		} catch (e) {
			err = e;
		}
		expect(isConstraintError(err)).toBe(true);
		expect(String(err)).toContain("UNIQUE constraint failed: allocations.ipv4");
		// An idle IP cannot be claimed without marking it allocated to that pod first (guard trigger).
		expect(() => insert("c3", "10.0.0.11")).toThrow(/not an allocated IPv4 of this pod/);
		// A held IP cannot be freed behind the allocation's back.
		expect(() =>
			raw.run("UPDATE ips SET state = 'idle', pod_key = NULL, idle_since = 1 WHERE ip = '10.0.0.10'"),
		).toThrow(/held by a live allocation/);
		expect(() => raw.run("DELETE FROM ips WHERE ip = '10.0.0.10'")).toThrow(/FOREIGN KEY/);
		expect(() => raw.run("UPDATE allocations SET ipv4 = '10.0.0.11'")).toThrow(/immutable/);
	});
});

describe("release", () => {
	test("returns IPs to idle with idleSince = now; by container or whole pod; idempotent", () => {
		using dir = tempDir();
		const clock = new ManualClock();
		using s = openStore(dir.path, clock);
		seedPool(s, [{ v4: 2, v6: 2 }]);
		s.allocate(pod("a"), "c1", DUAL, "oldest-idle");
		s.allocate(pod("a"), "c2", V4, "oldest-idle");
		clock.tick(5000);
		const one = s.release("default/a", "c1");
		expect(one.map((a) => [a.containerId, a.ipv4, a.ipv6])).toEqual([["c1", "10.0.0.10", "2001:db8::10"]]);
		expect(s.ip("10.0.0.10")).toMatchObject({ state: "idle", idleSince: clock.t, podKey: null });
		expect(s.ip("2001:db8::10")).toMatchObject({ state: "idle", idleSince: clock.t, podKey: null });
		expect(s.ip("10.0.0.11")?.state).toBe("allocated");
		expect(s.release("default/a", "c1")).toEqual([]);
		expect(s.release("default/a").map((a) => a.containerId)).toEqual(["c2"]);
		expect(s.release("default/nobody")).toEqual([]);
		expect(s.allocations()).toEqual([]);
		expect(s.stats().ips).toEqual({
			v4: { idle: 2, allocated: 0, releasing: 0 },
			v6: { idle: 2, allocated: 0, releasing: 0 },
		});
		expect(s.counters().releases).toBe(2);
		expect(s.checkInvariants()).toEqual([]);
	});
});

describe("intents", () => {
	const createParams = {
		vswitchId: "vsw-a",
		type: "secondary" as const,
		securityGroupIds: ["sg-1"],
		ipv4Count: 2,
		ipv6Count: 1,
	};

	test("createEni → attach → assign: each completion applies its result in the same transaction", () => {
		using dir = tempDir();
		const clock = new ManualClock();
		using s = openStore(dir.path, clock);
		const id = s.beginIntent("createEni", createParams, "tok-1");
		expect(s.pendingIntents().map((i) => [i.id, i.op, i.state, i.clientToken])).toEqual([
			[id, "createEni", "pending", "tok-1"],
		]);
		expect(s.enis()).toEqual([]); // nothing applied before the answer
		clock.tick();
		const done = s.completeIntent<"createEni">(id, {
			eniId: "eni-new",
			mac: "02:AA:00:00:00:01",
			vswitchId: "vsw-a",
			primaryIp: "10.1.0.5",
			ipv4: ["10.1.0.6", "10.1.0.7"],
			ipv6: ["2001:db8:1::6"],
		});
		expect(done).toMatchObject({ id, state: "done", updatedAt: clock.t, error: null, attempts: 0 });
		expect(s.eni("eni-new")).toMatchObject({
			status: "Available",
			ours: true,
			primaryIp: "10.1.0.5",
			mac: "02:aa:00:00:00:01",
		});
		expect(s.ips({ eniId: "eni-new" }).map((i) => [i.ip, i.state, i.primary])).toEqual([
			["10.1.0.5", "idle", true],
			["10.1.0.6", "idle", false],
			["10.1.0.7", "idle", false],
			["2001:db8:1::6", "idle", false],
		]);
		// Not attached yet: not allocatable.
		expect(s.allocate(pod("a"), "c", V4, "oldest-idle").ok).toBe(false);

		const att = s.beginIntent("attachEni", { eniId: "eni-new", instanceId: "i-1" }, null);
		s.completeIntent<"attachEni">(att, {});
		expect(s.eni("eni-new")?.status).toBe("Attaching");
		s.setEniStatus("eni-new", "InUse");
		expect(s.allocate(pod("a"), "c", V4, "oldest-idle").ok).toBe(true);

		const asg = s.beginIntent("assignIpv4", { eniId: "eni-new", count: 2 }, "tok-2");
		s.completeIntent<"assignIpv4">(asg, { ips: ["10.1.0.8", "10.1.0.9"] });
		expect(s.ips({ eniId: "eni-new", family: 4, state: "idle" }).length).toBe(4);
		expect(s.pendingIntents()).toEqual([]);
		expect(s.stats().intents).toEqual({ pending: 0, done: 3, failed: 0, rolledback: 0 });
		expect(s.checkInvariants()).toEqual([]);
	});

	test("completion is idempotent for the same result and closed for another; a bad result changes nothing", () => {
		using dir = tempDir();
		using s = openStore(dir.path);
		seedPool(s, [{ v4: 1 }, { v4: 1 }]);
		const id = s.beginIntent("assignIpv4", { eniId: "eni-0", count: 1 }, "tok");
		// The cloud says an IP that we record on another ENI: the completion rolls back entirely.
		expectStoreError(
			() => s.completeIntent<"assignIpv4">(id, { ips: ["10.0.0.20", "10.0.1.10"] }),
			"CONFLICT",
		);
		expect(s.ip("10.0.0.20")).toBeNull();
		expect(s.intent(id)?.state).toBe("pending");
		const done = s.completeIntent<"assignIpv4">(id, { ips: ["10.0.0.20"] });
		expect(s.completeIntent<"assignIpv4">(id, { ips: ["10.0.0.20"] })).toEqual(done);
		expectStoreError(() => s.completeIntent<"assignIpv4">(id, { ips: ["10.0.0.21"] }), "INTENT_CLOSED");
		expectStoreError(() => s.failIntent(id, "late", true), "INTENT_CLOSED");
		expectStoreError(() => s.rollbackIntent(id), "INTENT_CLOSED");
		expectStoreError(() => s.completeIntent(999, {}), "NOT_FOUND");
	});

	test("ClientToken: required for token ops; a retry reuses the pending intent; mismatches conflict", () => {
		using dir = tempDir();
		using s = openStore(dir.path);
		expectStoreError(() => s.beginIntent("createEni", createParams, null), "INVALID");
		const id = s.beginIntent("createEni", createParams, "tok");
		// Same token, same params (keys in another order): the same intent.
		const reordered = {
			ipv6Count: 1,
			ipv4Count: 2,
			securityGroupIds: ["sg-1"],
			type: "secondary" as const,
			vswitchId: "vsw-a",
		};
		expect(s.beginIntent("createEni", reordered, "tok")).toBe(id);
		expectStoreError(() => s.beginIntent("createEni", { ...createParams, ipv4Count: 3 }, "tok"), "CONFLICT");
		const failed = s.failIntent(id, "Throttling", false);
		expect(failed).toMatchObject({ state: "pending", attempts: 1, error: "Throttling" });
		expect(s.failIntent(id, "InvalidVSwitchId.IpNotEnough", true)).toMatchObject({
			state: "failed",
			attempts: 2,
			error: "InvalidVSwitchId.IpNotEnough",
		});
		expectStoreError(() => s.beginIntent("createEni", createParams, "tok"), "CONFLICT");
		expect(s.intents().length).toBe(1);
		expectStoreError(() => s.beginIntent("assignIpv4", { eniId: "e", count: 0 }, "t2"), "INVALID");
		expectStoreError(
			() => s.beginIntent("unassignIpv4", { eniId: "e", ips: ["2001:db8::1"] }, null),
			"INVALID",
		);
	});

	test("unassign reserves its IPs (releasing), completion removes them, rollback returns them", () => {
		using dir = tempDir();
		const clock = new ManualClock();
		using s = openStore(dir.path, clock);
		seedPool(s, [{ v4: 4 }]);
		s.allocate(pod("a"), "c", V4, "oldest-idle"); // takes 10.0.0.10 (primary)
		expectStoreError(
			() => s.beginIntent("unassignIpv4", { eniId: "eni-0", ips: ["10.0.0.10"] }, null),
			"INVALID",
		);
		const a = s.beginIntent("unassignIpv4", { eniId: "eni-0", ips: ["10.0.0.11"] }, null);
		expect(s.ip("10.0.0.11")?.state).toBe("releasing");
		const r = s.allocate(pod("b"), "c", V4, "oldest-idle");
		expect(r.ok && r.allocation.ipv4).toBe("10.0.0.12"); // not the reserved one
		expectStoreError(
			() => s.beginIntent("unassignIpv4", { eniId: "eni-0", ips: ["10.0.0.12"] }, null),
			"IN_USE",
		);
		s.completeIntent(a, {});
		expect(s.ip("10.0.0.11")).toBeNull();
		const b = s.beginIntent("unassignIpv4", { eniId: "eni-0", ips: ["10.0.0.13"] }, null);
		clock.tick();
		expect(s.rollbackIntent(b).state).toBe("rolledback");
		expect(s.rollbackIntent(b).state).toBe("rolledback");
		expect(s.ip("10.0.0.13")).toMatchObject({ state: "idle", idleSince: clock.t });
		expect(s.counters()).toMatchObject({ intentsBegun: 2, intentsDone: 1, intentsRolledBack: 1 });
		expect(s.checkInvariants()).toEqual([]);
	});

	test("detach/delete refuse an ENI with live allocations, reserve its IPs, and delete removes it", () => {
		using dir = tempDir();
		using s = openStore(dir.path);
		seedPool(s, [{ v4: 2, v6: 1 }]);
		s.allocate(pod("a"), "c", V4, "oldest-idle");
		expectStoreError(() => s.beginIntent("detachEni", { eniId: "eni-0", instanceId: "i-1" }, null), "IN_USE");
		s.release("default/a");
		const det = s.beginIntent("detachEni", { eniId: "eni-0", instanceId: "i-1" }, null);
		expect(s.ips({ state: "releasing" }).length).toBe(3);
		expect(s.allocate(pod("b"), "c", V4, "oldest-idle").ok).toBe(false);
		s.completeIntent<"detachEni">(det, { status: "Available" });
		expect(s.eni("eni-0")?.status).toBe("Available");
		const del = s.beginIntent("deleteEni", { eniId: "eni-0" }, null);
		s.failIntent(del, "timeout", false);
		s.completeIntent(del, {});
		expect(s.eni("eni-0")).toBeNull();
		expect(s.ips()).toEqual([]);
		// Deleting an ENI we never recorded (GC of a leak) journals fine and reserves nothing.
		const gc = s.beginIntent("deleteEni", { eniId: "eni-leaked" }, null);
		s.completeIntent(gc, {});
		expect(s.checkInvariants()).toEqual([]);
	});

	test("final failure of a detach puts its IPs back to idle", () => {
		using dir = tempDir();
		using s = openStore(dir.path);
		seedPool(s, [{ v4: 2 }]);
		const det = s.beginIntent("detachEni", { eniId: "eni-0", instanceId: "i-1" }, null);
		s.failIntent(det, "InvalidEniId.NotFound", true);
		expect(s.ips({ state: "idle" }).length).toBe(2);
	});

	test("pruneIntents removes only old terminal intents; snapshot and stats", () => {
		using dir = tempDir();
		const clock = new ManualClock();
		using s = openStore(dir.path, clock);
		seedPool(s, [{ v4: 2 }]);
		const old = s.beginIntent("assignIpv4", { eniId: "eni-0", count: 1 }, "a");
		s.completeIntent(old, { ips: ["10.0.0.50"] });
		const pend = s.beginIntent("assignIpv4", { eniId: "eni-0", count: 1 }, "b");
		clock.tick(10_000);
		expect(s.pruneIntents(clock.t - 1)).toBe(1);
		expect(s.intents().map((i) => i.id)).toEqual([pend]);
		s.allocate(pod("a"), "c", V4, "oldest-idle");
		const snap = s.snapshot();
		expect(snap).toMatchObject({ schemaVersion: SCHEMA_VERSION, takenAt: clock.t });
		expect([snap.enis.length, snap.ips.length, snap.allocations.length, snap.pendingIntents.length]).toEqual([
			1, 3, 1, 1,
		]);
		expect(s.stats()).toMatchObject({ allocations: 1, enis: { InUse: 1 }, intents: { pending: 1 } });
	});
});
