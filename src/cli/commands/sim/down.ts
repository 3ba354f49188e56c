/**
 * `terwayctl sim down`: ask the world to stop, wait for its process, then make sure exactly the
 * namespaces and bpffs pin roots it recorded are gone (also when the process had died) and remove
 * its directory.
 */
import { existsSync, readFileSync, rmSync } from "node:fs";
import { deleteNetns, listNetns } from "../../../linux/netns.ts";
import { SimClient } from "../../../sim/control/client.ts";
import type { WorldInfo } from "../../../sim/layout.ts";
import { validatePrefix } from "../../../sim/layout.ts";
import { printJson, style } from "../../output.ts";

/** Whether the process runs; a zombie (exited, not yet reaped by init) counts as gone. */
function alive(pid: number): boolean {
	try {
		process.kill(pid, 0);
	} catch {
		return false;
	}
	try {
		const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
		return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
	} catch {
		return false;
	}
}

export async function simDown(opts: { prefix: string; json: boolean }): Promise<void> {
	const prefix = validatePrefix(opts.prefix);
	const client = new SimClient(prefix);
	const { paths } = client;
	if (!existsSync(paths.dir)) {
		if (opts.json) printJson({ prefix, removed: [], running: false });
		else console.log(`no world with prefix "${prefix}"`);
		return;
	}
	const info: WorldInfo | undefined = existsSync(paths.info)
		? JSON.parse(readFileSync(paths.info, "utf8"))
		: undefined;
	const pidFile = `${paths.dir}/pid`;
	const pid = info?.pid ?? (existsSync(pidFile) ? Number(readFileSync(pidFile, "utf8")) : undefined);
	let stopped = "not running";
	if (pid && alive(pid)) {
		await client.shutdown().catch(() => undefined);
		const deadline = Date.now() + 20_000;
		while (alive(pid) && Date.now() < deadline) await Bun.sleep(50);
		if (alive(pid)) {
			process.kill(pid, "SIGKILL");
			stopped = `killed (pid ${pid} did not stop in 20s)`;
		} else stopped = `stopped (pid ${pid})`;
	}
	// The world removes its namespaces itself; this is the safety net after a crash. Only names
	// the world recorded, never a pattern.
	const leftover = (info?.namespaces ?? []).filter((n) => listNetns().includes(n));
	for (const n of leftover) deleteNetns(n);
	// the terwayds' bpffs pin roots (after the namespaces: their veths' links are defunct)
	const pins = (info?.pinDirs ?? []).filter((d) => existsSync(d));
	for (const d of pins) rmSync(d, { recursive: true, force: true });
	rmSync(paths.dir, { recursive: true, force: true });
	if (opts.json)
		printJson({
			prefix,
			process: stopped,
			leftoverNamespacesRemoved: leftover,
			leftoverPinsRemoved: pins,
			dir: paths.dir,
		});
	else {
		console.log(`${style.green("world down")} ${style.bold(prefix)}: ${stopped}`);
		if (leftover.length) console.log(`  removed leftover namespaces: ${leftover.join(", ")}`);
		if (pins.length) console.log(`  removed leftover bpffs pins: ${pins.join(", ")}`);
		console.log(`  removed ${paths.dir}`);
	}
}
