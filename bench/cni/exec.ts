/**
 * Running a CNI plugin the way a runtime does (libcni invoke: the six CNI_* variables, one plugin
 * config on stdin, result on stdout), spawned with the JS thread inside the node namespace so the
 * plugin is born there, and timed from spawn to exit. Plus the small stats the table needs.
 */
import type { Netns } from "../../src/linux/netns.ts";

export type Plugin = {
	/** Label in the table. */
	name: string;
	/** The executable (for ours: the `terway` symlink to dist/terwayctl, so argv[0] dispatch). */
	path: string;
	/** The plugin config as a runtime sends it (name and cniVersion of the list included). */
	conf: Record<string, unknown>;
	cniPath: string;
};

export type Pod = { id: string; uid: string; name: string; netns: string; result?: unknown };

export type ExecOut = { ms: number; code: number; out: string; err: string };

export async function execPlugin(
	node: Netns,
	p: Plugin,
	cmd: "ADD" | "CHECK" | "DEL",
	pod: Pod,
	wrap: string[] = [],
): Promise<ExecOut> {
	const conf = cmd === "ADD" || pod.result === undefined ? p.conf : { ...p.conf, prevResult: pod.result };
	const env = {
		PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin",
		CNI_COMMAND: cmd,
		CNI_CONTAINERID: pod.id,
		CNI_NETNS: pod.netns,
		CNI_IFNAME: "eth0",
		CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=${pod.name};K8S_POD_INFRA_CONTAINER_ID=${pod.id};K8S_POD_UID=${pod.uid}`,
		CNI_PATH: p.cniPath,
	};
	const stdin = new TextEncoder().encode(JSON.stringify(conf));
	const t0 = performance.now();
	const proc = node.run(() =>
		Bun.spawn([...wrap, p.path], { env, stdin, stdout: "pipe", stderr: "pipe", cwd: "/" }),
	);
	const [out, err, code] = await Promise.all([
		new Response(proc.stdout).text(),
		new Response(proc.stderr).text(),
		proc.exited,
	]);
	const ms = performance.now() - t0;
	if (cmd === "ADD" && code === 0) pod.result = JSON.parse(out);
	return { ms, code, out, err };
}

export function percentile(sorted: number[], p: number): number {
	if (sorted.length === 0) return Number.NaN;
	const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
	return sorted[i]!;
}

export type Dist = { p50: number; p90: number; p99: number; n: number };

export function dist(xs: number[]): Dist {
	const s = [...xs].sort((a, b) => a - b);
	return { p50: percentile(s, 50), p90: percentile(s, 90), p99: percentile(s, 99), n: s.length };
}

/** Run `fn` over `items` with `workers` concurrent workers; wall time in ms. */
export async function pool<T>(items: T[], workers: number, fn: (x: T) => Promise<void>): Promise<number> {
	const queue = [...items];
	const t0 = performance.now();
	await Promise.all(
		Array.from({ length: workers }, async () => {
			for (let x = queue.shift(); x !== undefined; x = queue.shift()) await fn(x);
		}),
	);
	return performance.now() - t0;
}
