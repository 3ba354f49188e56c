/**
 * TCP fixture for tests/e2e/policy.test.ts, run inside a pod's network namespace with
 * `ip netns exec` (Bun's own sockets: no nc/socat needed).
 *
 *   serve PORT...            echo server on every PORT (all addresses, v4 and v6); prints "ready"
 *   connect HOST PORT MS     one connection: send a line, expect it echoed within MS; prints
 *                            "ok" or "fail <why>"; exit 0 / 1
 *   stream HOST PORT         one long-lived connection: a numbered line every 100 ms, prints
 *                            "ok N" per echo, "fail <why>" and exits 1 when the connection breaks
 *                            or an echo is 3 s late
 */
const [mode, ...args] = process.argv.slice(2);

if (mode === "serve") {
	for (const p of args) {
		Bun.listen({
			hostname: "::",
			port: Number(p),
			socket: { data: (s, d) => void s.write(d) },
		});
	}
	console.log("ready");
} else if (mode === "connect") {
	const [host, port, ms] = args;
	const timer = setTimeout(
		() => {
			console.log("fail timeout");
			process.exit(1);
		},
		Number(ms ?? 1000),
	);
	try {
		await Bun.connect({
			hostname: host!,
			port: Number(port),
			socket: {
				open: (s) => void s.write("hello\n"),
				data: (s, d) => {
					if (d.toString().includes("hello")) {
						clearTimeout(timer);
						console.log("ok");
						s.end();
						process.exit(0);
					}
				},
				error: (_s, e) => {
					console.log(`fail ${e.message}`);
					process.exit(1);
				},
			},
		});
	} catch (e) {
		console.log(`fail ${(e as Error).message}`);
		process.exit(1);
	}
} else if (mode === "stream") {
	const [host, port] = args;
	let n = 0;
	let lastEcho = Date.now();
	let buf = "";
	const sock = await Bun.connect({
		hostname: host!,
		port: Number(port),
		socket: {
			data: (_s, d) => {
				buf += d.toString();
				let i = buf.indexOf("\n");
				while (i >= 0) {
					const line = buf.slice(0, i);
					buf = buf.slice(i + 1);
					lastEcho = Date.now();
					console.log(`ok ${line}`);
					i = buf.indexOf("\n");
				}
			},
			close: () => {
				console.log("fail closed");
				process.exit(1);
			},
			error: (_s, e) => {
				console.log(`fail ${e.message}`);
				process.exit(1);
			},
		},
	});
	setInterval(() => {
		if (Date.now() - lastEcho > 3000) {
			console.log("fail echo late");
			process.exit(1);
		}
		sock.write(`${++n}\n`);
	}, 100);
} else {
	console.error("usage: tcp-fixture.ts serve PORT... | connect HOST PORT MS | stream HOST PORT");
	process.exit(2);
}

export {};
