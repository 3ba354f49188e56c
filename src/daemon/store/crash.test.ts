/**
 * Crash safety for real: a child bun process (testing/crash-fixture.ts) hammers the store and
 * is killed with SIGKILL at random moments; the parent reopens the file, checks the invariants,
 * checks that every acknowledged commit survived, recovers pending intents the way terwayd
 * does on start (replay token ops with the same ClientToken, reconcile the others), and checks
 * again. Random delays are drawn from a fixed seed, so a failure names its run.
 */

import { Database } from "bun:sqlite";
import { expect, test } from "bun:test";
import { join } from "node:path";
import { SCHEMA_VERSION } from "./schema.ts";
import { Store } from "./store.ts";
import { replay } from "./testing/fake-cloud.ts";
import { seedPool, tempDir } from "./testing/helpers.ts";

const FIXTURE = join(import.meta.dir, "testing/crash-fixture.ts");
const KILLS = 24;
const FRESH_KILLS = 4;

/** Runs the fixture, SIGKILLs it `delayMs` after it is ready (or after spawn if `early`), returns its stdout. */
async function runAndKill(db: string, run: number, delayMs: number, early = false): Promise<string> {
	const p = Bun.spawn([process.execPath, FIXTURE, db, String(run), String(run * 7919 + 1)], {
		stdout: "pipe",
		stderr: "pipe",
	});
	let text = "";
	const decoder = new TextDecoder();
	const reader = p.stdout.getReader();
	const pump = (async () => {
		for (;;) {
			const { value, done } = await reader.read();
			if (done) return;
			text += decoder.decode(value, { stream: true });
		}
	})();
	if (!early) {
		while (!text.includes("ready\n")) {
			const raced = await Promise.race([Bun.sleep(2).then(() => "tick"), p.exited.then(() => "exited")]);
			if (raced === "exited" && !text.includes("ready\n")) {
				throw new Error(`fixture exited before ready: ${await new Response(p.stderr).text()}`);
			}
		}
	}
	await Bun.sleep(delayMs);
	p.kill("SIGKILL");
	const code = await p.exited;
	await pump;
	const stderr = await new Response(p.stderr).text();
	// Killed, not crashed: any exception in the fixture would be a store bug.
	expect({ run, signal: p.signalCode, stderr }).toEqual({ run, signal: "SIGKILL", stderr: "" });
	expect(code).not.toBe(0);
	return text;
}

/** Every acknowledged commit in `out` must be visible after the kill. */
function checkAcknowledged(store: Store, rawPath: string, out: string, run: number): void {
	// The last piece is "" after a final newline, or a partial line (killed mid-write) that acknowledges nothing.
	const complete = out.split("\n").slice(0, -1);
	const lastEvent = new Map<string, "a" | "A" | "r" | "R">();
	const done: number[] = [];
	for (const l of complete) {
		const [kind, arg] = l.split(" ");
		if (kind === "a" || kind === "A" || kind === "r" || kind === "R") lastEvent.set(arg!, kind);
		if (kind === "D") done.push(Number(arg));
	}
	for (const [podKey, ev] of lastEvent) {
		const a = store.allocationFor(podKey);
		if (ev === "A") expect({ run, podKey, held: a !== null }).toEqual({ run, podKey, held: true });
		if (ev === "R") expect({ run, podKey, held: a !== null }).toEqual({ run, podKey, held: false });
		// "a" or "r" last: that operation was in flight at the kill; either outcome is a valid atomic state.
	}
	using raw = new Database(rawPath, { readonly: true });
	const seq =
		raw.query<{ seq: number }, []>("SELECT seq FROM sqlite_sequence WHERE name = 'intents'").get()?.seq ?? 0;
	for (const id of done) {
		const it = store.intent(id);
		// Done, or pruned later (only terminal intents are pruned; ids are never reused).
		const ok = it ? it.state === "done" : id <= seq;
		expect({ run, id, ok }).toEqual({ run, id, ok: true });
	}
}

/** What terwayd does with pending intents on start (see README "Crash semantics"). */
function recover(store: Store): { replayed: number; reconciled: number } {
	let replayed = 0;
	let reconciled = 0;
	for (const it of store.pendingIntents()) {
		if (it.op === "assignIpv4" || it.op === "assignIpv6") {
			// Same ClientToken → the cloud returns the original result; applying it is idempotent.
			store.completeIntent(it.id, replay(it));
			replayed++;
		} else {
			// No token: the daemon would Describe. Here the "cloud" never executed unfinished
			// unassigns for odd ids and did for even ones — both recoveries must leave a sound store.
			if (it.id % 2 === 0) store.completeIntent(it.id, {});
			else store.rollbackIntent(it.id);
			reconciled++;
		}
	}
	return { replayed, reconciled };
}

test(`SIGKILL at random points (${KILLS + FRESH_KILLS} kills): invariants hold, acknowledged commits survive, pending intents recover`, async () => {
	using dir = tempDir();
	const db = join(dir.path, "state.db");
	{
		using s = Store.open(db);
		seedPool(s, [{ v4: 8, v6: 4 }, { v4: 8, v6: 4 }, { v4: 6 }]);
	}
	// Deterministic delays (LCG), mostly short so kills land inside transactions, some longer.
	let r = 12345;
	const next = () => {
		r = (r * 1103515245 + 12345) % 2147483648;
		return r / 2147483648;
	};
	let acknowledged = 0;
	let pendingSeen = 0;
	let replayed = 0;
	for (let run = 1; run <= KILLS; run++) {
		const delay = Math.floor(next() < 0.7 ? next() * 40 : 40 + next() * 120);
		const out = await runAndKill(db, run, delay);
		acknowledged += out.split("\n").filter((l) => /^[ARD] /.test(l)).length;
		using s = Store.open(db);
		expect({ run, problems: s.checkInvariants() }).toEqual({ run, problems: [] });
		checkAcknowledged(s, db, out, run);
		pendingSeen += s.pendingIntents().length;
		replayed += recover(s).replayed;
		expect({ run, after: s.checkInvariants(), pending: s.pendingIntents().length }).toEqual({
			run,
			after: [],
			pending: 0,
		});
	}
	// The test must have exercised something, or it proves nothing.
	expect(acknowledged).toBeGreaterThan(KILLS * 5);
	console.log(
		`crash test: ${acknowledged} acknowledged ops, ${pendingSeen} pending intents found, ${replayed} replayed`,
	);

	// Kills during open/migration of a brand-new file: the migration is one transaction.
	for (let k = 0; k < FRESH_KILLS; k++) {
		const fresh = join(dir.path, `fresh-${k}.db`);
		await runAndKill(fresh, 100 + k, Math.floor(next() * 30), true);
		using s = Store.open(fresh);
		expect(s.schemaVersion()).toBe(SCHEMA_VERSION);
		expect({ k, problems: s.checkInvariants() }).toEqual({ k, problems: [] });
	}
}, 30_000);
