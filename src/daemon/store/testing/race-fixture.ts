/**
 * Child process for the race test: opens the store at argv[2] and, as worker argv[3], tries
 * argv[4] allocations that all pick the FIRST candidate IP (so workers collide on purpose).
 * Prints `{"won":n,"conflicts":m}`; any other error exits non-zero.
 */

import { isStoreError, Store } from "../index.ts";

const [path, worker, n] = process.argv.slice(2);
if (!path || !worker || !n) throw new Error("usage: race-fixture.ts DB WORKER N");
const store = Store.open(path);
let won = 0;
let conflicts = 0;
for (let i = 0; i < Number(n); i++) {
	// Read candidates outside the write transaction (a stale view), then allocate with that choice.
	const first = store.candidates()[0]?.v4[0]?.ip;
	if (!first) break;
	try {
		const r = store.allocate(
			{ namespace: "race", name: `${worker}-${i}`, uid: `${worker}-${i}` },
			"c",
			{
				v4: true,
				v6: false,
			},
			() => ({ ipv4: first, ipv6: null }),
		);
		if (r.ok) won++;
	} catch (e) {
		if (!isStoreError(e, "CONFLICT")) throw e;
		conflicts++;
	}
}
store.close();
process.stdout.write(JSON.stringify({ won, conflicts }));
