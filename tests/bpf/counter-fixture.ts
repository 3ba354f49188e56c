/**
 * Second-process fixture for tests/bpf/counter.test.ts: opens the counter maps pinned under
 * argv[2] (another process loaded the program and has closed its object since), prints the
 * stats of ifindex argv[3] and the drop switch as JSON, and optionally flips the switch
 * (argv[4] = "drop-on" | "drop-off").
 */
import { openHandles } from "../../src/ffi/handles.ts";
import { CounterMaps } from "../../src/linux/bpf/counter.ts";

const [pinRoot, ifindexArg, action] = process.argv.slice(2);
if (!pinRoot || !ifindexArg) throw new Error("usage: counter-fixture.ts PIN_ROOT IFINDEX [drop-on|drop-off]");
const ifindex = Number(ifindexArg);
let out: Record<string, unknown>;
{
	using maps = CounterMaps.openPinned(pinRoot);
	const before = maps.statsFor(ifindex);
	if (action === "drop-on") maps.setDrop(true);
	if (action === "drop-off") maps.setDrop(false);
	out = {
		packets: String(before.packets),
		bytes: String(before.bytes),
		drops: String(before.drops),
		dropping: maps.dropping,
		interfaces: [...maps.allStats().keys()],
	};
}
out.leaks = openHandles().length;
console.log(JSON.stringify(out));
