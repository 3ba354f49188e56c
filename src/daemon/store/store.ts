/**
 * @module daemon/store/store
 *
 * terwayd's durable state: ENIs, their IPs, pod allocations and the journal of cloud
 * mutations ("intents"), in one bun:sqlite database (default `/var/lib/terway/state.db`).
 *
 * Every public mutating method is ONE `BEGIN IMMEDIATE` transaction, so a crash leaves
 * either all of a method's effects or none. Crash semantics per operation are in
 * `README.md`. The store never calls the cloud, the kernel or Kubernetes; it only
 * records what the daemon intends and what it learned.
 *
 * Must not: hold a transaction across an `await` (all methods are synchronous), or be
 * opened by the CNI plugin process (the daemon owns the file; the plugin asks the daemon).
 */

import { Database } from "bun:sqlite";
import { chmodSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { formatIP, parseIP } from "../../core/net/ip.ts";
import { StoreError } from "./errors.ts";
import { pickBy } from "./pick.ts";
import {
	type AllocationRow,
	canonicalJson,
	type EniRow,
	type IntentRow,
	type IpRow,
	toAllocation,
	toEni,
	toIntent,
	toIp,
} from "./rows.ts";
import { MIGRATIONS, SCHEMA_VERSION, VERSION_TABLE_SQL } from "./schema.ts";
import {
	type AllocateResult,
	type Allocation,
	type Candidate,
	type Eni,
	type EniSpec,
	type EniStatus,
	type Intent,
	type IntentOp,
	type IntentParams,
	type IntentResults,
	type IntentState,
	type IpFamily,
	type IpRecord,
	type IpSpec,
	type IpState,
	type PickFn,
	type PickPolicy,
	type PodRef,
	type SandboxInfo,
	type StoreClock,
	type StoreCounters,
	type StoreSnapshot,
	type StoreStats,
	systemClock,
	TOKEN_OPS,
	type Want,
} from "./types.ts";

export const DEFAULT_STATE_PATH = "/var/lib/terway/state.db";

export type StoreOptions = {
	clock?: StoreClock;
	/** How long a writer waits for another connection's lock (ms). Default 5000. */
	busyTimeoutMs?: number;
};

const ENI_STATUSES: readonly EniStatus[] = ["Available", "Attaching", "InUse", "Detaching", "Deleting"];
const INTENT_STATES: readonly IntentState[] = ["pending", "done", "failed", "rolledback"];
const IP_STATES: readonly IpState[] = ["idle", "allocated", "releasing"];

/** `namespace/name`, Terway's pod key (ResRelation.db key, terway-features §1.4). */
export const podKeyOf = (pod: { namespace: string; name: string }): string => `${pod.namespace}/${pod.name}`;

/** Canonical text of an IP (throws StoreError INVALID), with its family. */
export function canonicalIp(s: string): { ip: string; family: IpFamily } {
	try {
		const a = parseIP(s);
		return { ip: formatIP(a.bytes), family: a.family };
	} catch (cause) {
		throw new StoreError("INVALID", `not an IP address: ${JSON.stringify(s)}`, { cause });
	}
}

export class Store {
	readonly path: string;
	readonly #db: Database;
	readonly #clock: StoreClock;
	readonly #tx: { immediate: (f: () => unknown) => unknown };
	#closed = false;
	readonly #counters: StoreCounters = {
		allocations: 0,
		allocationsReused: 0,
		allocationsExhausted: 0,
		releases: 0,
		intentsBegun: 0,
		intentsDone: 0,
		intentsFailed: 0,
		intentsRolledBack: 0,
	};

	private constructor(path: string, db: Database, clock: StoreClock) {
		this.path = path;
		this.#db = db;
		this.#clock = clock;
		this.#tx = db.transaction((f: () => unknown) => f()) as unknown as {
			immediate: (f: () => unknown) => unknown;
		};
	}

	/**
	 * Opens (creating if needed) the database, sets the pragmas and applies pending migrations.
	 *
	 * Pragmas: `journal_mode=WAL` (readers never block the writer; the daemon's API can read
	 * while a reconcile writes), `synchronous=FULL` (see README "Durability": each commit is
	 * fsynced, so an intent that was committed before a cloud call survives power loss too, not
	 * only a process crash), `foreign_keys=ON`, `busy_timeout`.
	 */
	static open(path: string, opts: StoreOptions = {}): Store {
		if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
		const db = new Database(path, { create: true, readwrite: true, strict: true });
		try {
			if (path !== ":memory:") chmodSync(path, 0o600);
			db.exec(`PRAGMA busy_timeout = ${Math.max(0, Math.trunc(opts.busyTimeoutMs ?? 5000))}`);
			const mode = db.query<{ journal_mode: string }, []>("PRAGMA journal_mode = WAL").get();
			if (path !== ":memory:" && mode?.journal_mode.toLowerCase() !== "wal") {
				throw new StoreError("INVALID", `cannot enable WAL on ${path} (got ${mode?.journal_mode})`);
			}
			db.exec("PRAGMA synchronous = FULL");
			db.exec("PRAGMA foreign_keys = ON");
			const store = new Store(path, db, opts.clock ?? systemClock);
			store.#migrate();
			return store;
		} catch (e) {
			db.close();
			throw e;
		}
	}

	close(): void {
		if (this.#closed) return;
		this.#closed = true;
		this.#db.close();
	}

	[Symbol.dispose](): void {
		this.close();
	}

	#write<T>(f: () => T): T {
		return this.#tx.immediate(f) as T;
	}

	#migrate(): void {
		this.#write(() => {
			this.#db.exec(VERSION_TABLE_SQL);
			const current = this.schemaVersion();
			if (current > SCHEMA_VERSION) {
				throw new StoreError(
					"SCHEMA_TOO_NEW",
					`${this.path} has schema version ${current}; this terwayd knows up to ${SCHEMA_VERSION}`,
				);
			}
			for (const m of MIGRATIONS) {
				if (m.version <= current) continue;
				this.#db.exec(m.sql);
				this.#db
					.query("INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)")
					.run(m.version, m.name, this.#clock.now());
			}
		});
	}

	/** The connection's effective pragmas (diagnose; tests assert the crash-safety settings). */
	pragmas(): {
		journalMode: string;
		synchronous: "OFF" | "NORMAL" | "FULL" | "EXTRA";
		foreignKeys: boolean;
		busyTimeoutMs: number;
	} {
		const one = <T>(sql: string): T => Object.values(this.#db.query(sql).get() as Record<string, T>)[0] as T;
		const sync = (["OFF", "NORMAL", "FULL", "EXTRA"] as const)[one<number>("PRAGMA synchronous")] ?? "OFF";
		return {
			journalMode: one<string>("PRAGMA journal_mode"),
			synchronous: sync,
			foreignKeys: one<number>("PRAGMA foreign_keys") === 1,
			busyTimeoutMs: one<number>("PRAGMA busy_timeout"),
		};
	}

	/** Highest applied migration (0 for an empty file). */
	schemaVersion(): number {
		const r = this.#db.query<{ v: number | null }, []>("SELECT max(version) AS v FROM schema_version").get();
		return r?.v ?? 0;
	}

	/** Applied migrations, oldest first. */
	migrations(): { version: number; name: string; appliedAt: number }[] {
		return this.#db
			.query<{ version: number; name: string; applied_at: number }, []>(
				"SELECT version, name, applied_at FROM schema_version ORDER BY version",
			)
			.all()
			.map((r) => ({ version: r.version, name: r.name, appliedAt: r.applied_at }));
	}

	// ---------------------------------------------------------------- ENIs

	/** Inserts or updates an ENI (from Describe/metadata on start, or reconcile). `createdAt` is kept. */
	upsertEni(spec: EniSpec): Eni {
		if (!ENI_STATUSES.includes(spec.status)) throw new StoreError("INVALID", `bad ENI status ${spec.status}`);
		const primaryIp = spec.primaryIp === null ? null : canonicalIp(spec.primaryIp).ip;
		return this.#write(() => {
			const now = this.#clock.now();
			this.#db
				.query(
					`INSERT INTO enis (eni_id, mac, type, vswitch_id, status, primary_ip, ours, created_at, updated_at)
					 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
					 ON CONFLICT (eni_id) DO UPDATE SET mac = excluded.mac, type = excluded.type,
						vswitch_id = excluded.vswitch_id, status = excluded.status, primary_ip = excluded.primary_ip,
						ours = excluded.ours, updated_at = excluded.updated_at`,
				)
				.run(
					spec.eniId,
					spec.mac.toLowerCase(),
					spec.type,
					spec.vswitchId,
					spec.status,
					primaryIp,
					spec.ours ? 1 : 0,
					now,
					now,
				);
			return this.#eniOrThrow(spec.eniId);
		});
	}

	setEniStatus(eniId: string, status: EniStatus): Eni {
		if (!ENI_STATUSES.includes(status)) throw new StoreError("INVALID", `bad ENI status ${status}`);
		return this.#write(() => {
			const r = this.#db
				.query("UPDATE enis SET status = ?, updated_at = ? WHERE eni_id = ?")
				.run(status, this.#clock.now(), eniId);
			if (r.changes === 0) throw new StoreError("NOT_FOUND", `no ENI ${eniId}`);
			return this.#eniOrThrow(eniId);
		});
	}

	eni(eniId: string): Eni | null {
		const r = this.#db.query<EniRow, [string]>("SELECT * FROM enis WHERE eni_id = ?").get(eniId);
		return r ? toEni(r) : null;
	}

	enis(): Eni[] {
		return this.#db.query<EniRow, []>("SELECT * FROM enis ORDER BY eni_id").all().map(toEni);
	}

	/**
	 * Forgets an ENI and its IPs (reconcile: it vanished from the cloud). Refuses with IN_USE while
	 * any of its IPs backs an allocation: release those first. Returns false if unknown.
	 */
	removeEni(eniId: string): boolean {
		return this.#write(() => {
			if (!this.eni(eniId)) return false;
			this.#assertEniUnused(eniId);
			this.#db.query("DELETE FROM ips WHERE eni_id = ?").run(eniId);
			this.#db.query("DELETE FROM enis WHERE eni_id = ?").run(eniId);
			return true;
		});
	}

	#eniOrThrow(eniId: string): Eni {
		const e = this.eni(eniId);
		if (!e) throw new StoreError("NOT_FOUND", `no ENI ${eniId}`);
		return e;
	}

	#assertEniUnused(eniId: string): void {
		const n = this.#db
			.query<{ n: number }, [string]>("SELECT count(*) AS n FROM allocations WHERE eni_id = ?")
			.get(eniId);
		if ((n?.n ?? 0) > 0) throw new StoreError("IN_USE", `ENI ${eniId} backs ${n?.n} live allocation(s)`);
	}

	// ---------------------------------------------------------------- IPs

	/**
	 * Records IPs present on an ENI. New ones become `idle` (idleSince = now); ones already known on
	 * the same ENI are left as they are; one known on another ENI is a CONFLICT (the whole call
	 * rolls back). Returns the records of the given IPs.
	 */
	upsertIps(eniId: string, ips: IpSpec[]): IpRecord[] {
		const specs = ips.map((s) => ({ ...canonicalIp(s.ip), primary: s.primary === true }));
		return this.#write(() => {
			this.#eniOrThrow(eniId);
			return specs.map((s) => this.#insertIp(eniId, s.ip, s.family, s.primary));
		});
	}

	#insertIp(eniId: string, ip: string, family: IpFamily, primary: boolean): IpRecord {
		const existing = this.ip(ip);
		if (existing) {
			if (existing.eniId !== eniId) {
				throw new StoreError("CONFLICT", `IP ${ip} is recorded on ${existing.eniId}, not ${eniId}`);
			}
			if (primary && !existing.primary) {
				this.#db
					.query("UPDATE ips SET is_primary = 1, updated_at = ? WHERE ip = ?")
					.run(this.#clock.now(), ip);
				return this.ip(ip)!;
			}
			return existing;
		}
		const now = this.#clock.now();
		this.#db
			.query(
				`INSERT INTO ips (ip, family, eni_id, state, is_primary, idle_since, pod_key, created_at, updated_at)
				 VALUES (?, ?, ?, 'idle', ?, ?, NULL, ?, ?)`,
			)
			.run(ip, family, eniId, primary ? 1 : 0, now, now, now);
		return this.ip(ip)!;
	}

	ip(ip: string): IpRecord | null {
		const r = this.#db.query<IpRow, [string]>("SELECT * FROM ips WHERE ip = ?").get(canonicalIp(ip).ip);
		return r ? toIp(r) : null;
	}

	ips(filter: { eniId?: string; family?: IpFamily; state?: IpState } = {}): IpRecord[] {
		return this.#db
			.query<IpRow, [string | null, number | null, string | null]>(
				`SELECT * FROM ips WHERE (?1 IS NULL OR eni_id = ?1) AND (?2 IS NULL OR family = ?2)
				 AND (?3 IS NULL OR state = ?3) ORDER BY eni_id, family, ip`,
			)
			.all(filter.eniId ?? null, filter.family ?? null, filter.state ?? null)
			.map(toIp);
	}

	/** idle → releasing (pool shrink picked them). Others are skipped. Returns how many moved. */
	markReleasing(ips: string[]): number {
		const list = ips.map((s) => canonicalIp(s).ip);
		return this.#write(() => {
			const now = this.#clock.now();
			let n = 0;
			for (const ip of list) {
				n += this.#db
					.query(
						"UPDATE ips SET state = 'releasing', idle_since = NULL, updated_at = ? WHERE ip = ? AND state = 'idle'",
					)
					.run(now, ip).changes;
			}
			return n;
		});
	}

	/** releasing → idle (a shrink was cancelled). Others are skipped. Returns how many moved. */
	markIdle(ips: string[]): number {
		const list = ips.map((s) => canonicalIp(s).ip);
		return this.#write(() => {
			const now = this.#clock.now();
			let n = 0;
			for (const ip of list) n += this.#releasingToIdle(ip, now);
			return n;
		});
	}

	#releasingToIdle(ip: string, now: number): number {
		return this.#db
			.query(
				"UPDATE ips SET state = 'idle', idle_since = ?, updated_at = ? WHERE ip = ? AND state = 'releasing'",
			)
			.run(now, now, ip).changes;
	}

	/** Forgets IPs (reconcile: gone from metadata). IN_USE if any backs an allocation; all or nothing. */
	removeIps(ips: string[]): number {
		const list = ips.map((s) => canonicalIp(s).ip);
		return this.#write(() => {
			let n = 0;
			for (const ip of list) {
				if (this.#holder(ip)) throw new StoreError("IN_USE", `IP ${ip} backs a live allocation`);
				n += this.#db.query("DELETE FROM ips WHERE ip = ?").run(ip).changes;
			}
			return n;
		});
	}

	#holder(ip: string): Allocation | null {
		const r = this.#db
			.query<AllocationRow, [string]>("SELECT * FROM allocations WHERE ipv4 = ?1 OR ipv6 = ?1")
			.get(ip);
		return r ? toAllocation(r) : null;
	}

	// ---------------------------------------------------------------- allocations

	/** Idle IPs on InUse ENIs, grouped by ENI: what a {@link PickFn} chooses from. */
	candidates(): Candidate[] {
		const rows = this.#db
			.query<IpRow & { eni_type: string }, []>(
				`SELECT ips.*, enis.type AS eni_type FROM ips JOIN enis USING (eni_id)
				 WHERE ips.state = 'idle' AND enis.status = 'InUse'
				 ORDER BY ips.eni_id, ips.idle_since, ips.ip`,
			)
			.all();
		const by = new Map<string, Candidate>();
		for (const r of rows) {
			let c = by.get(r.eni_id);
			if (!c) {
				c = { eniId: r.eni_id, eniType: r.eni_type as Candidate["eniType"], v4: [], v6: [] };
				by.set(r.eni_id, c);
			}
			(r.family === 4 ? c.v4 : c.v6).push(toIp(r));
		}
		return [...by.values()];
	}

	/**
	 * Gives a pod sandbox its address(es) in one transaction: pick idle IP(s) on one InUse ENI,
	 * mark them allocated, write the allocation.
	 *
	 * Idempotent: if `(pod, containerId)` already has an allocation it is returned unchanged
	 * (`created: false`), whatever `want` says now. `{ ok: false, reason: "exhausted" }` means
	 * no ENI could satisfy `want`: the daemon should assign or create and try again.
	 *
	 * Throws CONFLICT if a custom `pick` returns an IP that is not idle on an InUse ENI (e.g. it
	 * chose from a stale list while another connection took it), or if the same containerId
	 * is already recorded for a different pod UID.
	 */
	allocate(
		pod: PodRef,
		containerId: string,
		want: Want,
		pick: PickPolicy | PickFn = "oldest-idle",
		sandbox: SandboxInfo = {},
	): AllocateResult {
		if (!want.v4 && !want.v6) throw new StoreError("INVALID", "allocate wants neither IPv4 nor IPv6");
		if (!pod.namespace || !pod.name || !containerId) {
			throw new StoreError("INVALID", "allocate needs namespace, name and containerId");
		}
		const podKey = podKeyOf(pod);
		const result = this.#write((): AllocateResult => {
			const existing = this.#allocationRow(podKey, containerId);
			if (existing) {
				if (existing.uid && pod.uid && existing.uid !== pod.uid) {
					throw new StoreError(
						"CONFLICT",
						`container ${containerId} of ${podKey} is recorded for pod uid ${existing.uid}, not ${pod.uid}`,
					);
				}
				return { ok: true, allocation: existing, created: false };
			}
			const candidates = this.candidates();
			const chosen = typeof pick === "function" ? pick(candidates, want) : pickBy(pick, candidates, want);
			if (!chosen) return { ok: false, reason: "exhausted", missing: missingFor(candidates, want) };
			if (want.v4 !== (chosen.ipv4 !== null) || want.v6 !== (chosen.ipv6 !== null)) {
				throw new StoreError(
					"INVALID",
					`pick returned ${JSON.stringify(chosen)} for ${JSON.stringify(want)}`,
				);
			}
			const now = this.#clock.now();
			let eniId: string | null = null;
			const take = (s: string | null, family: IpFamily): string | null => {
				if (s === null) return null;
				const c = canonicalIp(s);
				const row = this.#db
					.query<{ eni_id: string }, [string, number]>(
						`SELECT ips.eni_id FROM ips JOIN enis USING (eni_id)
						 WHERE ips.ip = ? AND ips.family = ? AND ips.state = 'idle' AND enis.status = 'InUse'`,
					)
					.get(c.ip, family);
				if (!row) throw new StoreError("CONFLICT", `IP ${c.ip} is not an idle IPv${family} on an InUse ENI`);
				if (eniId !== null && row.eni_id !== eniId) {
					throw new StoreError("INVALID", `pick mixed ENIs ${eniId} and ${row.eni_id}`);
				}
				eniId = row.eni_id;
				this.#db
					.query(
						"UPDATE ips SET state = 'allocated', pod_key = ?, idle_since = NULL, updated_at = ? WHERE ip = ?",
					)
					.run(podKey, now, c.ip);
				return c.ip;
			};
			const ipv4 = take(chosen.ipv4, 4);
			const ipv6 = take(chosen.ipv6, 6);
			const ins = this.#db
				.query(
					`INSERT INTO allocations (pod_key, namespace, name, uid, container_id, netns, ifname, ipv4, ipv6,
						eni_id, datapath, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				)
				.run(
					podKey,
					pod.namespace,
					pod.name,
					pod.uid,
					containerId,
					sandbox.netns ?? "",
					sandbox.ifname ?? "eth0",
					ipv4,
					ipv6,
					eniId,
					sandbox.datapath ?? "veth",
					now,
				);
			const row = this.#db
				.query<AllocationRow, [number]>("SELECT * FROM allocations WHERE id = ?")
				.get(Number(ins.lastInsertRowid))!;
			return { ok: true, allocation: toAllocation(row), created: true };
		});
		if (!result.ok) this.#counters.allocationsExhausted++;
		else if (result.created) this.#counters.allocations++;
		else this.#counters.allocationsReused++;
		return result;
	}

	/**
	 * Ends a pod's allocation(s): one sandbox if `containerId` is given, else all of the pod's.
	 * Their IPs go back to `idle` (idleSince = now). Idempotent: nothing recorded → `[]`.
	 */
	release(podKey: string, containerId?: string): Allocation[] {
		const released = this.#write(() => {
			const rows = this.#db
				.query<AllocationRow, [string, string | null]>(
					"SELECT * FROM allocations WHERE pod_key = ?1 AND (?2 IS NULL OR container_id = ?2) ORDER BY id",
				)
				.all(podKey, containerId ?? null);
			const now = this.#clock.now();
			for (const r of rows) {
				this.#db.query("DELETE FROM allocations WHERE id = ?").run(r.id);
				for (const ip of [r.ipv4, r.ipv6]) {
					if (ip === null) continue;
					this.#db
						.query(
							"UPDATE ips SET state = 'idle', pod_key = NULL, idle_since = ?, updated_at = ? WHERE ip = ?",
						)
						.run(now, now, ip);
				}
			}
			return rows.map(toAllocation);
		});
		this.#counters.releases += released.length;
		return released;
	}

	allocations(): Allocation[] {
		return this.#db.query<AllocationRow, []>("SELECT * FROM allocations ORDER BY id").all().map(toAllocation);
	}

	/** The pod's allocation for `containerId`, or its newest one when omitted. */
	allocationFor(podKey: string, containerId?: string): Allocation | null {
		if (containerId !== undefined) return this.#allocationRow(podKey, containerId);
		const r = this.#db
			.query<AllocationRow, [string]>("SELECT * FROM allocations WHERE pod_key = ? ORDER BY id DESC LIMIT 1")
			.get(podKey);
		return r ? toAllocation(r) : null;
	}

	#allocationRow(podKey: string, containerId: string): Allocation | null {
		const r = this.#db
			.query<AllocationRow, [string, string]>(
				"SELECT * FROM allocations WHERE pod_key = ? AND container_id = ?",
			)
			.get(podKey, containerId);
		return r ? toAllocation(r) : null;
	}

	// ---------------------------------------------------------------- intents

	/**
	 * Journals a cloud mutation BEFORE the call and returns its id. For detach/delete/unassign it
	 * also reserves what the call will remove (their idle IPs become `releasing`, so no pod gets
	 * them meanwhile) and refuses with IN_USE if a live allocation still needs them.
	 *
	 * `clientToken` is required for createEni/assignIpv4/assignIpv6 (ECS idempotency, cloud-sim
	 * §1.4) and optional otherwise. Re-beginning with a token that belongs to a PENDING intent with
	 * the same op and params returns that intent's id (a retry); with other params it is a CONFLICT;
	 * a token of a terminal intent is a CONFLICT (a new attempt needs a new token).
	 */
	beginIntent<O extends IntentOp>(op: O, params: IntentParams[O], clientToken: string | null): number {
		validateParams(op, params);
		if (TOKEN_OPS.has(op) && !clientToken) throw new StoreError("INVALID", `${op} needs a ClientToken`);
		const paramsJson = canonicalJson(params);
		const id = this.#write(() => {
			if (clientToken) {
				const prior = this.#db
					.query<IntentRow, [string]>("SELECT * FROM intents WHERE client_token = ?")
					.get(clientToken);
				if (prior) {
					if (prior.state === "pending" && prior.op === op && prior.params === paramsJson) return prior.id;
					throw new StoreError(
						"CONFLICT",
						`ClientToken ${clientToken} belongs to intent ${prior.id} (${prior.op}, ${prior.state})`,
					);
				}
			}
			this.#reserve(op, params);
			const now = this.#clock.now();
			const r = this.#db
				.query(
					`INSERT INTO intents (op, params, client_token, state, result, error, attempts, created_at, updated_at)
					 VALUES (?, ?, ?, 'pending', NULL, NULL, 0, ?, ?)`,
				)
				.run(op, paramsJson, clientToken, now, now);
			this.#counters.intentsBegun++;
			return Number(r.lastInsertRowid);
		});
		return id;
	}

	/**
	 * Records the cloud's answer and applies it to `enis`/`ips` in the same transaction:
	 * createEni → ENI (ours) + its IPs idle; attach/detach → status; deleteEni → ENI and IPs gone;
	 * assign → new idle IPs; unassign → IPs gone. Completing a `done` intent again with the same
	 * result is a no-op; with another result, or completing a failed/rolled-back one, INTENT_CLOSED.
	 */
	completeIntent<O extends IntentOp>(id: number, result: IntentResults[O]): Intent<O> {
		const resultJson = canonicalJson(result);
		const out = this.#write(() => {
			const it = this.#intentRow(id);
			if (it.state === "done" && it.result === resultJson) return toIntent(it);
			if (it.state !== "pending") throw new StoreError("INTENT_CLOSED", `intent ${id} is ${it.state}`);
			this.#apply(it.op as IntentOp, JSON.parse(it.params), result as IntentResults[IntentOp]);
			this.#db
				.query("UPDATE intents SET state = 'done', result = ?, updated_at = ? WHERE id = ?")
				.run(resultJson, this.#clock.now(), id);
			this.#counters.intentsDone++;
			return toIntent(this.#intentRow(id));
		});
		return out as Intent<O>;
	}

	/**
	 * Records a failed call. `final: false` → stays pending, attempts+1 (retry with the SAME token).
	 * `final: true` → `failed`, and reservations made by beginIntent are undone (releasing IPs idle).
	 */
	failIntent(id: number, error: string, final: boolean): Intent {
		return this.#write(() => {
			const it = this.#intentRow(id);
			if (it.state !== "pending") throw new StoreError("INTENT_CLOSED", `intent ${id} is ${it.state}`);
			const now = this.#clock.now();
			if (final) {
				this.#unreserve(it.op as IntentOp, JSON.parse(it.params));
				this.#counters.intentsFailed++;
			}
			this.#db
				.query(
					"UPDATE intents SET state = ?, error = ?, attempts = attempts + 1, updated_at = ? WHERE id = ?",
				)
				.run(final ? "failed" : "pending", error, now, id);
			return toIntent(this.#intentRow(id));
		});
	}

	/**
	 * Abandons a pending intent: reconcile established the call had no effect (or compensated it).
	 * Reservations are undone. Idempotent on an already rolled-back intent.
	 */
	rollbackIntent(id: number): Intent {
		return this.#write(() => {
			const it = this.#intentRow(id);
			if (it.state === "rolledback") return toIntent(it);
			if (it.state !== "pending") throw new StoreError("INTENT_CLOSED", `intent ${id} is ${it.state}`);
			this.#unreserve(it.op as IntentOp, JSON.parse(it.params));
			this.#db
				.query("UPDATE intents SET state = 'rolledback', updated_at = ? WHERE id = ?")
				.run(this.#clock.now(), id);
			this.#counters.intentsRolledBack++;
			return toIntent(this.#intentRow(id));
		});
	}

	intent(id: number): Intent | null {
		const r = this.#db.query<IntentRow, [number]>("SELECT * FROM intents WHERE id = ?").get(id);
		return r ? toIntent(r) : null;
	}

	/** Pending intents, oldest first: what the daemon must replay or reconcile on start. */
	pendingIntents(): Intent[] {
		return this.#db
			.query<IntentRow, []>("SELECT * FROM intents WHERE state = 'pending' ORDER BY id")
			.all()
			.map(toIntent);
	}

	/** All intents, newest first (diagnose). */
	intents(limit = 100): Intent[] {
		return this.#db
			.query<IntentRow, [number]>("SELECT * FROM intents ORDER BY id DESC LIMIT ?")
			.all(limit)
			.map(toIntent);
	}

	/** Deletes terminal intents last updated before `before` (ms). Pending ones are never pruned. */
	pruneIntents(before: number): number {
		return this.#write(
			() =>
				this.#db.query("DELETE FROM intents WHERE state <> 'pending' AND updated_at < ?").run(before).changes,
		);
	}

	#intentRow(id: number): IntentRow {
		const r = this.#db.query<IntentRow, [number]>("SELECT * FROM intents WHERE id = ?").get(id);
		if (!r) throw new StoreError("NOT_FOUND", `no intent ${id}`);
		return r;
	}

	/** beginIntent's side effects: keep what the call removes away from new pods. */
	#reserve(op: IntentOp, params: IntentParams[IntentOp]): void {
		const now = this.#clock.now();
		switch (op) {
			case "detachEni":
			case "deleteEni": {
				const { eniId } = params as IntentParams["deleteEni"];
				if (!this.eni(eniId)) return; // unknown locally (e.g. GC of a leaked ENI): nothing to reserve
				this.#assertEniUnused(eniId);
				this.#db
					.query(
						"UPDATE ips SET state = 'releasing', idle_since = NULL, updated_at = ? WHERE eni_id = ? AND state = 'idle'",
					)
					.run(now, eniId);
				return;
			}
			case "unassignIpv4":
			case "unassignIpv6": {
				const { eniId, ips } = params as IntentParams["unassignIpv4"];
				for (const s of ips) {
					const ip = canonicalIp(s).ip;
					const rec = this.ip(ip);
					if (!rec) continue;
					if (rec.eniId !== eniId)
						throw new StoreError("CONFLICT", `IP ${ip} is on ${rec.eniId}, not ${eniId}`);
					if (rec.primary) throw new StoreError("INVALID", `IP ${ip} is the primary IP of ${eniId}`);
					if (rec.state === "allocated")
						throw new StoreError("IN_USE", `IP ${ip} is allocated to ${rec.podKey}`);
					this.#db
						.query("UPDATE ips SET state = 'releasing', idle_since = NULL, updated_at = ? WHERE ip = ?")
						.run(now, ip);
				}
				return;
			}
			default:
				return;
		}
	}

	/** Undo {@link #reserve}: the call did not (or will not) happen. */
	#unreserve(op: IntentOp, params: IntentParams[IntentOp]): void {
		const now = this.#clock.now();
		switch (op) {
			case "detachEni":
			case "deleteEni": {
				const { eniId } = params as IntentParams["deleteEni"];
				this.#db
					.query(
						"UPDATE ips SET state = 'idle', idle_since = ?, updated_at = ? WHERE eni_id = ? AND state = 'releasing'",
					)
					.run(now, now, eniId);
				return;
			}
			case "unassignIpv4":
			case "unassignIpv6": {
				const { ips } = params as IntentParams["unassignIpv4"];
				for (const s of ips) this.#releasingToIdle(canonicalIp(s).ip, now);
				return;
			}
			default:
				return;
		}
	}

	/** completeIntent's effects. Throws (rolling the whole completion back) on contradictions. */
	#apply(op: IntentOp, params: IntentParams[IntentOp], result: IntentResults[IntentOp]): void {
		const now = this.#clock.now();
		switch (op) {
			case "createEni": {
				const p = params as IntentParams["createEni"];
				const r = result as IntentResults["createEni"];
				if (typeof r?.eniId !== "string" || typeof r.mac !== "string" || typeof r.primaryIp !== "string") {
					throw new StoreError("INVALID", "createEni result needs eniId, mac, primaryIp");
				}
				const primary = canonicalIp(r.primaryIp);
				if (primary.family !== 4) throw new StoreError("INVALID", `primary IP ${r.primaryIp} is not IPv4`);
				if (this.eni(r.eniId)) throw new StoreError("CONFLICT", `ENI ${r.eniId} is already recorded`);
				this.#db
					.query(
						`INSERT INTO enis (eni_id, mac, type, vswitch_id, status, primary_ip, ours, created_at, updated_at)
						 VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?)`,
					)
					.run(
						r.eniId,
						r.mac.toLowerCase(),
						p.type,
						r.vswitchId ?? p.vswitchId,
						r.status ?? "Available",
						primary.ip,
						now,
						now,
					);
				this.#insertIp(r.eniId, primary.ip, 4, true);
				this.#insertFamily(r.eniId, r.ipv4 ?? [], 4);
				this.#insertFamily(r.eniId, r.ipv6 ?? [], 6);
				return;
			}
			case "attachEni":
			case "detachEni": {
				const { eniId } = params as IntentParams["attachEni"];
				const status =
					(result as IntentResults["attachEni"])?.status ?? (op === "attachEni" ? "Attaching" : "Detaching");
				if (!ENI_STATUSES.includes(status)) throw new StoreError("INVALID", `bad ENI status ${status}`);
				this.#db.query("UPDATE enis SET status = ?, updated_at = ? WHERE eni_id = ?").run(status, now, eniId);
				return;
			}
			case "deleteEni": {
				const { eniId } = params as IntentParams["deleteEni"];
				this.#assertEniUnused(eniId);
				this.#db.query("DELETE FROM ips WHERE eni_id = ?").run(eniId);
				this.#db.query("DELETE FROM enis WHERE eni_id = ?").run(eniId);
				return;
			}
			case "assignIpv4":
			case "assignIpv6": {
				const { eniId } = params as IntentParams["assignIpv4"];
				const r = result as IntentResults["assignIpv4"];
				if (!Array.isArray(r?.ips)) throw new StoreError("INVALID", `${op} result needs ips[]`);
				this.#eniOrThrow(eniId);
				this.#insertFamily(eniId, r.ips, op === "assignIpv4" ? 4 : 6);
				return;
			}
			case "unassignIpv4":
			case "unassignIpv6": {
				const { eniId, ips } = params as IntentParams["unassignIpv4"];
				for (const s of ips) {
					const ip = canonicalIp(s).ip;
					if (this.#holder(ip)) throw new StoreError("IN_USE", `IP ${ip} backs a live allocation`);
					this.#db.query("DELETE FROM ips WHERE ip = ? AND eni_id = ?").run(ip, eniId);
				}
				return;
			}
		}
	}

	#insertFamily(eniId: string, ips: string[], family: IpFamily): void {
		for (const s of ips) {
			const c = canonicalIp(s);
			if (c.family !== family) throw new StoreError("INVALID", `${s} is not IPv${family}`);
			this.#insertIp(eniId, c.ip, family, false);
		}
	}

	// ---------------------------------------------------------------- diagnose & metrics

	/** A consistent view (one read transaction) for diagnose/mapping. */
	snapshot(): StoreSnapshot {
		const read = this.#db.transaction(
			(): StoreSnapshot => ({
				schemaVersion: this.schemaVersion(),
				takenAt: this.#clock.now(),
				enis: this.enis(),
				ips: this.ips(),
				allocations: this.allocations(),
				pendingIntents: this.pendingIntents(),
			}),
		);
		return read.deferred();
	}

	/** Gauges computed from the tables. */
	stats(): StoreStats {
		const zero = <K extends string>(ks: readonly K[]) =>
			Object.fromEntries(ks.map((k) => [k, 0])) as Record<K, number>;
		const s: StoreStats = {
			schemaVersion: this.schemaVersion(),
			enis: zero(ENI_STATUSES),
			ips: { v4: zero(IP_STATES), v6: zero(IP_STATES) },
			allocations: 0,
			intents: zero(INTENT_STATES),
		};
		for (const r of this.#db
			.query<{ status: EniStatus; n: number }, []>("SELECT status, count(*) AS n FROM enis GROUP BY status")
			.all())
			s.enis[r.status] = r.n;
		for (const r of this.#db
			.query<{ family: IpFamily; state: IpState; n: number }, []>(
				"SELECT family, state, count(*) AS n FROM ips GROUP BY family, state",
			)
			.all())
			s.ips[`v${r.family}`][r.state] = r.n;
		s.allocations = this.#db.query<{ n: number }, []>("SELECT count(*) AS n FROM allocations").get()?.n ?? 0;
		for (const r of this.#db
			.query<{ state: IntentState; n: number }, []>("SELECT state, count(*) AS n FROM intents GROUP BY state")
			.all())
			s.intents[r.state] = r.n;
		return s;
	}

	/** Per-process operation counters (copy). */
	counters(): StoreCounters {
		return { ...this.#counters };
	}

	/**
	 * Cross-table invariants the schema cannot express alone, plus `PRAGMA integrity_check` and
	 * `foreign_key_check`. Returns problems found (empty = healthy). Used by tests and diagnose.
	 */
	checkInvariants(): string[] {
		const out: string[] = [];
		const integrity = this.#db.query<{ integrity_check: string }, []>("PRAGMA integrity_check").all();
		if (integrity.length !== 1 || integrity[0]?.integrity_check !== "ok") {
			out.push(`integrity_check: ${integrity.map((r) => r.integrity_check).join("; ")}`);
		}
		for (const r of this.#db.query<Record<string, unknown>, []>("PRAGMA foreign_key_check").all()) {
			out.push(`foreign_key_check: ${JSON.stringify(r)}`);
		}
		const q = (sql: string) => this.#db.query<Record<string, unknown>, []>(sql).all();
		for (const r of q(
			`SELECT ip, n FROM (SELECT ip, count(*) AS n FROM (
				SELECT ipv4 AS ip FROM allocations WHERE ipv4 IS NOT NULL
				UNION ALL SELECT ipv6 FROM allocations WHERE ipv6 IS NOT NULL) GROUP BY ip) WHERE n > 1`,
		))
			out.push(`IP ${r.ip} backs ${r.n} allocations`);
		for (const r of q(
			`SELECT a.id, x.ip FROM allocations a, (SELECT id, ipv4 AS ip FROM allocations UNION ALL
				SELECT id, ipv6 FROM allocations) x
			 WHERE a.id = x.id AND x.ip IS NOT NULL AND NOT EXISTS (SELECT 1 FROM ips
				WHERE ips.ip = x.ip AND ips.state = 'allocated' AND ips.pod_key = a.pod_key AND ips.eni_id = a.eni_id)`,
		))
			out.push(`allocation ${r.id} refers to ${r.ip}, which is not allocated to it`);
		for (const r of q(
			`SELECT ip FROM ips WHERE state = 'allocated'
			 AND (SELECT count(*) FROM allocations WHERE ipv4 = ips.ip OR ipv6 = ips.ip) <> 1`,
		))
			out.push(`allocated IP ${r.ip} does not have exactly one allocation`);
		for (const r of q("SELECT id, op, params, result, state FROM intents")) {
			try {
				const p = JSON.parse(String(r.params));
				validateParams(r.op as IntentOp, p);
				if (r.state === "done" && (r.result === null || typeof JSON.parse(String(r.result)) !== "object")) {
					out.push(`intent ${r.id} is done without a result object`);
				}
			} catch (e) {
				out.push(`intent ${r.id} malformed: ${(e as Error).message}`);
			}
		}
		return out;
	}
}

/**
 * Families to get more of: those no InUse ENI has idle. When each wanted family is idle somewhere
 * but never together on one ENI (dual stack needs both from the same ENI), both are reported.
 */
function missingFor(candidates: Candidate[], want: Want): Want {
	const has4 = candidates.some((c) => c.v4.length > 0);
	const has6 = candidates.some((c) => c.v6.length > 0);
	const missing = { v4: want.v4 && !has4, v6: want.v6 && !has6 };
	if (!missing.v4 && !missing.v6) return { v4: want.v4, v6: want.v6 };
	return missing;
}

const str = (v: unknown) => typeof v === "string" && v.length > 0;
const count = (v: unknown) => Number.isInteger(v) && (v as number) >= 0;

/** Shape check of journaled params (the daemon builds them; a malformed intent cannot be replayed). */
function validateParams(op: IntentOp, p: unknown): void {
	const bad = (what: string): never => {
		throw new StoreError("INVALID", `${op} params: ${what}`);
	};
	if (!p || typeof p !== "object" || Array.isArray(p)) bad("not an object");
	const o = p as Record<string, unknown>;
	switch (op) {
		case "createEni":
			if (!str(o.vswitchId)) bad("vswitchId");
			if (!["secondary", "trunk", "erdma"].includes(String(o.type))) bad("type");
			if (!Array.isArray(o.securityGroupIds) || !o.securityGroupIds.every(str)) bad("securityGroupIds");
			if (!count(o.ipv4Count) || !count(o.ipv6Count)) bad("ipv4Count/ipv6Count");
			return;
		case "attachEni":
		case "detachEni":
			if (!str(o.eniId) || !str(o.instanceId)) bad("eniId/instanceId");
			return;
		case "deleteEni":
			if (!str(o.eniId)) bad("eniId");
			return;
		case "assignIpv4":
		case "assignIpv6":
			if (!str(o.eniId) || !count(o.count) || (o.count as number) < 1) bad("eniId/count");
			return;
		case "unassignIpv4":
		case "unassignIpv6": {
			if (!str(o.eniId) || !Array.isArray(o.ips) || o.ips.length === 0) bad("eniId/ips");
			const fam = op === "unassignIpv4" ? 4 : 6;
			for (const s of o.ips as unknown[]) {
				if (typeof s !== "string" || canonicalIp(s).family !== fam) bad(`ips: ${String(s)} is not IPv${fam}`);
			}
			return;
		}
		default:
			bad("unknown op");
	}
}
