/**
 * Helper process for tests/bpf/policy-veth.test.ts, run inside a namespace with
 * `ip netns exec` (or directly for `dump`):
 *   serve PORT...              listen on [::]:PORT (v4 and v6), answer "ok\n" to each connection,
 *                              print "ready" once listening; runs until killed
 *   connect ADDR PORT MS       one TCP connection; prints {"ok":true} once "ok" came back, else
 *                              {"ok":false,"error":...} (refused, or no answer within MS)
 *   dump PIN_ROOT              opens the pinned policy maps and drop ring (this process never
 *                              loaded the object) and prints state, stats, CT and drops as JSON
 */
import { connect, createServer } from "node:net";
import { openHandles } from "../../src/ffi/handles.ts";
import { DropReader, PolicyMaps } from "../../src/linux/bpf/policy-maps.ts";

const [mode, ...args] = process.argv.slice(2);

const json = (v: unknown) =>
	console.log(
		JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? String(x) : x instanceof Map ? [...x] : x)),
	);

if (mode === "serve") {
	for (const port of args.map(Number)) {
		createServer((s) => {
			s.end("ok\n");
			s.on("error", () => {});
		}).listen({ port, host: "::", ipv6Only: false });
	}
	setTimeout(() => console.log("ready"), 50);
} else if (mode === "connect") {
	const [host, port, ms] = args;
	const s = connect({ host: host!, port: Number(port) });
	const done = (r: { ok: boolean; error?: string }) => {
		json(r);
		s.destroy();
		process.exit(0);
	};
	const timer = setTimeout(() => done({ ok: false, error: "timeout" }), Number(ms ?? 1500));
	let buf = "";
	s.on("data", (d) => {
		buf += d.toString();
		if (buf.includes("ok")) {
			clearTimeout(timer);
			done({ ok: true });
		}
	});
	s.on("error", (e) => {
		clearTimeout(timer);
		done({ ok: false, error: e.message });
	});
} else if (mode === "dump") {
	const [pinRoot] = args;
	if (!pinRoot) throw new Error("usage: policy-fixture.ts dump PIN_ROOT");
	let out: Record<string, unknown>;
	{
		using maps = PolicyMaps.openPinned(pinRoot);
		using drops = DropReader.openPinned(pinRoot);
		out = {
			state: maps.readState(),
			stats: maps.stats(),
			ct: maps.ctEntries(),
			drops: drops.read(),
		};
	}
	out.leaks = openHandles().length;
	json(out);
} else {
	throw new Error("usage: policy-fixture.ts serve PORT... | connect ADDR PORT MS | dump PIN_ROOT");
}
