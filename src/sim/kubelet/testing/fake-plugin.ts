/**
 * A fake CNI plugin for the kubelet stand-in's tests (never used by the product). Written into a
 * temp dir under several plugin names by `installFakePlugin`; it records what it was given (env,
 * stdin) and behaves as its stdin config says:
 *
 * - `recordFile`: append one NDJSON line `{type, env: CNI_* vars, stdin}` per invocation;
 * - `fail: {command, code, msg, details}`: print that error JSON on stdout and exit 1;
 * - `stderrOnly: true` (with fail): print only to stderr, nothing on stdout;
 * - `sleepMs`: sleep first (timeouts);
 * - `ip`: ADD prints a 1.0.0 result with that address (or passes prevResult on, adding its own
 *   interface when `ip` is absent).
 */
import { appendFileSync, chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";

type Conf = {
	type: string;
	cniVersion: string;
	recordFile?: string;
	fail?: { command: string; code: number; msg: string; details?: string };
	stderrOnly?: boolean;
	sleepMs?: number;
	ip?: string;
	prevResult?: Record<string, unknown>;
};

async function main(): Promise<void> {
	const stdin = await Bun.stdin.text();
	const conf = JSON.parse(stdin) as Conf;
	const cmd = process.env.CNI_COMMAND ?? "";
	if (conf.recordFile) {
		const env: Record<string, string> = {};
		for (const [k, v] of Object.entries(process.env)) if (k.startsWith("CNI_") && v !== undefined) env[k] = v;
		appendFileSync(conf.recordFile, `${JSON.stringify({ type: conf.type, env, stdin: conf })}\n`);
	}
	if (conf.sleepMs) await Bun.sleep(conf.sleepMs);
	if (conf.fail && conf.fail.command === cmd) {
		const err = {
			cniVersion: conf.cniVersion,
			code: conf.fail.code,
			msg: conf.fail.msg,
			details: conf.fail.details ?? "",
		};
		if (conf.stderrOnly) process.stderr.write(`${conf.fail.msg}\n`);
		else process.stdout.write(JSON.stringify(err));
		process.exit(1);
	}
	if (cmd === "ADD") {
		const prev = conf.prevResult as { interfaces?: unknown[]; ips?: unknown[] } | undefined;
		const result = conf.ip
			? {
					cniVersion: conf.cniVersion,
					interfaces: [
						{ name: process.env.CNI_IFNAME, mac: "02:00:00:00:00:01", sandbox: process.env.CNI_NETNS },
					],
					ips: [{ address: conf.ip, interface: 0 }],
				}
			: {
					...prev,
					cniVersion: conf.cniVersion,
					interfaces: [...(prev?.interfaces ?? []), { name: `${conf.type}0` }],
				};
		process.stdout.write(JSON.stringify(result));
	}
	if (cmd === "VERSION") {
		process.stdout.write(
			JSON.stringify({ cniVersion: "1.1.0", supportedVersions: ["0.4.0", "1.0.0", "1.1.0"] }),
		);
	}
}

if (import.meta.main) await main();

/** Install this script as executable plugins `names` in `dir` (shebang: the running bun). */
export function installFakePlugin(dir: string, names: string[]): void {
	for (const name of names) {
		const path = join(dir, name);
		writeFileSync(
			path,
			`#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(import.meta.path)} "$@"\n`,
		);
		chmodSync(path, 0o755);
	}
}
