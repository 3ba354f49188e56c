/**
 * Child process for the crash test (killed with SIGKILL at random points by the parent).
 *
 *   bun crash-fixture.ts DB RUN SEED
 *
 * Opens the store and runs random allocate / release / intent operations until killed. After
 * each operation RETURNS (its transaction committed) it prints one acknowledgement line, and
 * before a release it prints the release it is about to do, so the parent can check that every
 * acknowledged commit survived the kill:
 *   ready
 *   a <podKey>                   allocate starting (may or may not commit before the kill)
 *   A <podKey> <containerId>     allocation committed
 *   r <podKey>                   release starting (may or may not commit before the kill)
 *   R <podKey>                   release committed
 *   D <intentId>                 intent completed (done)
 */

import { Store } from "../store.ts";
import type { Want } from "../types.ts";
import { assignResult } from "./fake-cloud.ts";

const [path, runArg, seedArg] = process.argv.slice(2);
if (!path || runArg === undefined || seedArg === undefined)
	throw new Error("usage: crash-fixture.ts DB RUN SEED");
const run = Number(runArg);

// mulberry32: deterministic per seed, good enough for choosing operations.
let state = Number(seedArg) >>> 0;
const rand = () => {
	state = (state + 0x6d2b79f5) >>> 0;
	let t = state;
	t = Math.imul(t ^ (t >>> 15), t | 1);
	t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
	return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const pickOne = <T>(xs: T[]): T | undefined => xs[Math.floor(rand() * xs.length)];

const out = (line: string) => process.stdout.write(`${line}\n`);
const store = Store.open(path);
out("ready");

let n = 0;
for (;;) {
	n++;
	const roll = rand();
	if (roll < 0.45) {
		const name = `p${Math.floor(rand() * 40)}`;
		const want: Want = rand() < 0.3 ? { v4: true, v6: true } : { v4: true, v6: false };
		out(`a crash/${name}`);
		const r = store.allocate(
			{ namespace: "crash", name, uid: name },
			`c-${name}`,
			want,
			pickOne(["oldest-idle", "most-ips", "least-ips"] as const)!,
			{
				netns: `/var/run/netns/${name}`,
			},
		);
		if (r.ok) out(`A ${r.allocation.podKey} ${r.allocation.containerId}`);
	} else if (roll < 0.75) {
		const a = pickOne(store.allocations());
		if (a) {
			out(`r ${a.podKey}`);
			store.release(a.podKey);
			out(`R ${a.podKey}`);
		}
	} else if (roll < 0.88) {
		const eni = pickOne(store.enis());
		if (!eni) continue;
		const family = rand() < 0.7 ? 4 : 6;
		const op = family === 4 ? "assignIpv4" : "assignIpv6";
		const params = { eniId: eni.eniId, count: 1 + Math.floor(rand() * 3) };
		const token = `tok-${run}-${n}`;
		const id = store.beginIntent(op, params, token);
		if (rand() < 0.2) store.failIntent(id, "Throttling", false); // a retry with the same token follows
		store.completeIntent(id, assignResult(token, params, family));
		out(`D ${id}`);
	} else if (roll < 0.97) {
		const idle = store.ips({ state: "idle" }).filter((i) => !i.primary);
		const first = pickOne(idle);
		if (!first) continue;
		const ips = idle.filter((i) => i.eniId === first.eniId && i.family === first.family).slice(0, 2);
		const op = first.family === 4 ? "unassignIpv4" : "unassignIpv6";
		const id = store.beginIntent(op, { eniId: first.eniId, ips: ips.map((i) => i.ip) }, null);
		if (rand() < 0.3) {
			store.rollbackIntent(id);
		} else {
			store.completeIntent(id, {});
			out(`D ${id}`);
		}
	} else {
		store.pruneIntents(Date.now() - 50);
	}
}
