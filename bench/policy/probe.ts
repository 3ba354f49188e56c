/**
 * bench/policy TCP request latency probe, run inside a pod namespace (`ip netns exec`):
 *
 *   bun probe.ts serve PORT           echo server; prints "ready" when listening
 *   bun probe.ts rr HOST PORT N       one connection, N 32-byte request/response round trips
 *   bun probe.ts crr HOST PORT N      N times: connect, one round trip, close (a new flow each:
 *                                     every one takes the policy lookup, not the CT fast path)
 *
 * The client prints one JSON line: {"us": [per-request microseconds...]} (after 20 untimed).
 */

export {};

const MSG = new Uint8Array(32).fill(0x61);
const WARMUP = 20;

type Waiter = { resolve: () => void; reject: (e: Error) => void };

async function serve(port: number): Promise<void> {
	Bun.listen({
		hostname: "0.0.0.0",
		port,
		socket: {
			data(s, d) {
				s.write(d);
			},
		},
	});
	console.log("ready");
	await new Promise(() => {});
}

/** A client connection whose `roundTrip()` sends MSG and resolves when as many bytes came back. */
async function connect(host: string, port: number) {
	let waiter: Waiter | undefined;
	let got = 0;
	const sock = await Bun.connect({
		hostname: host,
		port,
		socket: {
			data(_s, d) {
				got += d.byteLength;
				if (got >= MSG.byteLength && waiter) {
					got -= MSG.byteLength;
					const w = waiter;
					waiter = undefined;
					w.resolve();
				}
			},
			error(_s, e) {
				waiter?.reject(e);
			},
			close() {
				waiter?.reject(new Error("connection closed"));
			},
		},
	});
	sock.setNoDelay(true);
	return {
		roundTrip: () =>
			new Promise<void>((resolve, reject) => {
				waiter = { resolve, reject };
				sock.write(MSG);
			}),
		close: () => sock.end(),
	};
}

async function rr(host: string, port: number, n: number): Promise<number[]> {
	const c = await connect(host, port);
	const out: number[] = [];
	for (let i = 0; i < n + WARMUP; i++) {
		const t0 = performance.now();
		await c.roundTrip();
		if (i >= WARMUP) out.push((performance.now() - t0) * 1000);
	}
	c.close();
	return out;
}

async function crr(host: string, port: number, n: number): Promise<number[]> {
	const out: number[] = [];
	for (let i = 0; i < n + WARMUP; i++) {
		const t0 = performance.now();
		const c = await connect(host, port);
		await c.roundTrip();
		c.close();
		if (i >= WARMUP) out.push((performance.now() - t0) * 1000);
	}
	return out;
}

const [mode, a, b, c] = process.argv.slice(2);
if (mode === "serve") await serve(Number(a));
else if (mode === "rr" || mode === "crr") {
	const us = await (mode === "rr" ? rr : crr)(a!, Number(b), Number(c));
	console.log(JSON.stringify({ us }));
	process.exit(0);
} else {
	console.error("usage: bun probe.ts serve PORT | rr HOST PORT N | crr HOST PORT N");
	process.exit(2);
}
