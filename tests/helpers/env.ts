/**
 * Test environment helpers shared by every root-only suite.
 *
 * - `RUN_PREFIX`: every namespace, link and pin a test run creates starts with it, so cleanup
 *   (and the leak check in tests/leaks) removes exactly what this run made. Set by the Makefile
 *   (TW_RUN_PREFIX) so the leak check after the run knows it; random otherwise.
 * - `prefixFor(tag)`: a per-file prefix; keep tag to 2 chars so link names stay <= 15 bytes.
 * - `needsRoot(suite)`: false with a visible reason printed when not root, for describe.skipIf.
 */
import { randomBytes } from "node:crypto";

export const RUN_PREFIX: string = process.env.TW_RUN_PREFIX ?? `tw${randomBytes(2).toString("hex")}`;

if (!/^tw[0-9a-z]{1,6}$/.test(RUN_PREFIX)) {
	throw new Error(`TW_RUN_PREFIX ${JSON.stringify(RUN_PREFIX)} must look like tw + up to 6 [0-9a-z]`);
}

/** `${RUN_PREFIX}${tag}`: unique per test file within a run. */
export function prefixFor(tag: string): string {
	if (!/^[a-z0-9]{1,3}$/.test(tag)) throw new Error(`prefix tag ${tag} must be 1-3 [a-z0-9]`);
	return `${RUN_PREFIX}${tag}`;
}

export const isRoot: boolean = process.getuid?.() === 0;

/** Whether a root-only suite can run; prints the reason when it cannot (never a silent pass). */
export function canRun(
	suite: string,
	need: { root?: boolean; check?: () => string | undefined } = { root: true },
): boolean {
	if (need.root !== false && !isRoot) {
		console.warn(`SKIP ${suite}: needs root (CAP_NET_ADMIN/CAP_BPF); run make test as root`);
		return false;
	}
	const reason = need.check?.();
	if (reason) {
		console.warn(`SKIP ${suite}: ${reason}`);
		return false;
	}
	return true;
}

/** Run a command for cross-checking (tests only: product code never spawns ip/tc/bpftool). */
export function sh(
	argv: string[],
	opts: { allowFail?: boolean } = {},
): { code: number; out: string; err: string } {
	const r = Bun.spawnSync(argv, { stdout: "pipe", stderr: "pipe" });
	const res = { code: r.exitCode ?? -1, out: r.stdout.toString(), err: r.stderr.toString() };
	if (res.code !== 0 && !opts.allowFail) {
		throw new Error(`${argv.join(" ")} exited ${res.code}: ${res.err.trim()}`);
	}
	return res;
}

/** `ip -j ...` parsed (inside a named netns when `ns` is given). */
export function ipJson<T = unknown>(ns: string | undefined, args: string[]): T {
	const argv = ns ? ["ip", "-n", ns, "-j", ...args] : ["ip", "-j", ...args];
	const out = sh(argv).out.trim();
	return (out ? JSON.parse(out) : []) as T;
}

/** ping from inside a named namespace; true when all `count` replies came back. */
export function ping(ns: string, addr: string, count = 2): boolean {
	const v6 = addr.includes(":");
	const r = sh(
		[
			"ip",
			"netns",
			"exec",
			ns,
			"ping",
			...(v6 ? ["-6"] : []),
			"-c",
			String(count),
			"-i",
			"0.2",
			"-W",
			"1",
			addr,
		],
		{
			allowFail: true,
		},
	);
	return r.code === 0;
}

/** Remove every namespace whose name starts with `prefix` (exactly this run's, never others). */
export function cleanupNetns(prefix: string): void {
	const list = sh(["ip", "netns", "list"], { allowFail: true }).out.split("\n");
	for (const line of list) {
		const name = line.split(" ")[0];
		if (name?.startsWith(prefix)) sh(["ip", "netns", "del", name], { allowFail: true });
	}
}
