/**
 * Traffic for tests/netns/tc.test.ts, run with `ip netns exec <ns> bun tc-traffic-fixture.ts ...`
 * (a child, so its sockets live in that namespace).
 *   sink <addr> <port> <ms>   accept one connection, count bytes received for <ms> after the first
 *                             byte, print the count, exit.
 *   send <addr> <port> <ms>   connect and write as fast as possible for <ms>, then exit.
 */
const [mode, addr = "", portS = "0", msS = "1000"] = process.argv.slice(2);
const port = Number(portS);
const ms = Number(msS);

if (mode === "sink") {
	let total = 0;
	let started = false;
	const server = Bun.listen({
		hostname: addr,
		port,
		socket: {
			data(_s, d) {
				if (!started) {
					started = true;
					setTimeout(() => {
						console.log(String(total));
						server.stop(true);
						process.exit(0);
					}, ms);
				}
				total += d.length;
			},
		},
	});
	console.log("ready");
	setTimeout(() => {
		console.log("0");
		process.exit(1);
	}, ms + 10_000);
} else if (mode === "send") {
	const chunk = new Uint8Array(64 * 1024);
	const end = Date.now() + ms;
	// Write until the socket pushes back (a short write), then wait for drain; stop at the deadline.
	const pump = (s: { write(b: Uint8Array): number; end(): void }): void => {
		for (;;) {
			if (Date.now() > end) {
				s.end();
				process.exit(0);
			}
			if (s.write(chunk) < chunk.length) return;
		}
	};
	await Bun.connect({
		hostname: addr,
		port,
		socket: {
			open: pump,
			drain: pump,
			error() {
				process.exit(0);
			},
			close() {
				process.exit(0);
			},
		},
	});
	setTimeout(() => process.exit(0), ms + 500);
} else {
	console.error("usage: sink|send addr port ms");
	process.exit(2);
}

export {};
