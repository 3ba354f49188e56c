/**
 * @module cli/commands/diagnose/args
 *
 * The flag and argument checks of `terwayctl diagnose`, kept free of heavy imports so a usage
 * error (exit 2) is answered before the cloud SDKs or netlink load.
 */
import { existsSync } from "node:fs";
import { EXIT, ExitError } from "../../errors.ts";

/** `--timeout`/`--interval` in ms (seconds on the command line, an optional trailing "s"). */
export function secondsMs(v: string | undefined, flag: string, dflt = 10_000): number {
	if (v === undefined) return dflt;
	const n = Number(v.replace(/s$/, ""));
	if (!Number.isFinite(n) || n <= 0)
		throw new ExitError(`${flag} ${JSON.stringify(v)}: want a positive number of seconds`, EXIT.usage);
	return Math.round(n * 1000);
}

/** NS/NAME, or a usage error. */
export function parsePodRef(s: string): { namespace: string; name: string } {
	const m = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)\/([a-z0-9]([-.a-z0-9]*[a-z0-9])?)$/.exec(s);
	if (!m)
		throw new ExitError(`pod ${JSON.stringify(s)}: want NAMESPACE/NAME, e.g. default/web-1`, EXIT.usage);
	return { namespace: m[1]!, name: m[3]! };
}

/** IP[:PORT] (v6 as [IP]:PORT), or a usage error. */
export function parsePeer(s: string): { ip: string; port?: number } {
	const m =
		/^\[([0-9a-f:.]+)\](?::(\d+))?$/i.exec(s) ??
		/^([0-9.]+)(?::(\d+))?$/.exec(s) ??
		/^([0-9a-f:]+)()$/i.exec(s);
	const port = m?.[2] ? Number(m[2]) : undefined;
	if (!m || (port !== undefined && (port < 1 || port > 65535)))
		throw new ExitError(`--to ${JSON.stringify(s)}: want IP or IP:PORT ([IPv6]:PORT)`, EXIT.usage);
	return { ip: m[1]!, ...(port !== undefined ? { port } : {}) };
}

/** Every flag of `diagnose` / `diagnose pod`, checked (throws the usage error). */
export function checkArgs(o: {
	timeout?: string;
	interval?: string;
	pod?: string;
	to?: string;
	config?: string;
}): void {
	if (o.config !== undefined && !existsSync(o.config))
		throw new ExitError(`--config ${o.config}: no such file`, EXIT.usage);
	secondsMs(o.timeout, "--timeout");
	secondsMs(o.interval, "--interval");
	if (o.pod !== undefined) parsePodRef(o.pod);
	if (o.to !== undefined) parsePeer(o.to);
}
