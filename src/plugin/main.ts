/**
 * The CNI plugin's main: wires the real process (Bun-native stdin, console.log for stdout,
 * stderr or a file for logs) to the skel, and is the ONE place that decides which error becomes
 * which CNI code (STYLE §2.4):
 *   CniError                      -> itself
 *   InvalidValueError             -> 7 invalid config (a value the parsers refused)
 *   daemon unreachable / NotReady -> 11 try again later (STATUS: 50)
 *   daemon IPExhausted            -> 100 (STATUS: 50)
 *   daemon other answers          -> 101
 *   DriftError (CHECK)            -> 104 with every drift in details
 *   ApplyError "eni-not-found"    -> 102 (the ENI the daemon named is not on the node)
 *   ApplyError / DatapathError / LinuxError -> 103 (the ADD already rolled back)
 *   a gone netns during DEL       -> success (ptp cmdDel)
 *   anything else                 -> 999, stack in the log only
 *
 * Imports stay light (ffi-probe Q4a): no node streams, no commander, no SDKs.
 */
import { statSync } from "node:fs";
import { CNI_CODES, CniError, isCniError } from "../core/cni/errors.ts";
import type { CniCommand } from "../core/cni/types.ts";
import { isInvalidValue } from "../core/net/value-error.ts";
import type { ApplyError } from "../linux/apply.ts";
import { isNotFoundError, LinuxError } from "../linux/errors.ts";
import { DaemonApiError, DaemonUnavailableError, DatapathError, DriftError } from "./errors.ts";
import { createLogger, fileSink, type Logger } from "./log.ts";
import type { PluginConf } from "./netconf.ts";
import { type CniHandlers, runSkel, type SkelPorts } from "./skel.ts";

export const ABOUT = "terway CNI plugin (terwayctl)";

/** Terway's debug log (conflist `debug: true`). */
export const DEBUG_LOG = "/var/log/terway.cni.log";

/** ApplyError by name: apply.ts (and its FFI imports) stays out of the VERSION path. */
const isApplyError = (e: unknown): e is ApplyError => e instanceof Error && e.name === "ApplyError";

/** Classify any error a handler threw (the one mapping site). */
export function mapError(e: unknown, ctx: { command: CniCommand; log: Logger }): CniError | "ok" {
	const status = ctx.command === "STATUS";
	if (isCniError(e)) return e;
	if (isInvalidValue(e)) return new CniError(CNI_CODES.InvalidNetworkConfig, e.message, "", { cause: e });
	if (e instanceof DaemonUnavailableError) {
		return new CniError(
			status ? CNI_CODES.PluginNotAvailable : CNI_CODES.TryAgainLater,
			`terwayd is not reachable: ${e.message}`,
			"",
			{ cause: e },
		);
	}
	if (e instanceof DaemonApiError) {
		const code =
			e.code === "NotReady"
				? status
					? CNI_CODES.PluginNotAvailable
					: CNI_CODES.TryAgainLater
				: e.code === "IPExhausted"
					? status
						? CNI_CODES.PluginNotAvailable
						: CNI_CODES.IPExhausted
					: CNI_CODES.DaemonRpcFailed;
		return new CniError(code, `terwayd: ${e.message}`, e.field ? `field ${e.field}` : "", { cause: e });
	}
	if (e instanceof DriftError) {
		return new CniError(
			CNI_CODES.DatapathDrift,
			"datapath differs from the allocation",
			e.drifts.join("; "),
			{
				cause: e,
			},
		);
	}
	if (ctx.command === "DEL" && e instanceof LinuxError && e.op === "netns.open" && isNotFoundError(e)) {
		ctx.log.info({ err: e }, "netns already gone: nothing to remove");
		return "ok";
	}
	if (isApplyError(e)) {
		const code = e.reason === "eni-not-found" ? CNI_CODES.EniNotFound : CNI_CODES.DatapathFailed;
		const details = e.rollbackErrors.length > 0 ? `rollback incomplete: ${e.rollbackErrors.join("; ")}` : "";
		return new CniError(code, `datapath: ${e.message}`, details, { cause: e });
	}
	if (e instanceof DatapathError || e instanceof LinuxError) {
		return new CniError(CNI_CODES.DatapathFailed, `datapath: ${e.message}`, "", { cause: e });
	}
	ctx.log.error({ err: e }, "internal error");
	return new CniError(CNI_CODES.Internal, `internal error: ${e instanceof Error ? e.message : String(e)}`);
}

/** Whether `path` is the namespace this process runs in (same device and inode as ours). */
function isOwnNetns(path: string): boolean {
	try {
		const a = statSync(path);
		const b = statSync("/proc/thread-self/ns/net");
		return a.dev === b.dev && a.ino === b.ino;
	} catch {
		return false; // missing or unreadable: the handlers report it with the right code
	}
}

/** The real process behind the ports: Bun.stdin.text() and console.log (ffi-probe Q4a). */
export function processPorts(): SkelPorts {
	return {
		getenv: (name) => process.env[name],
		readStdin: () => Bun.stdin.text(),
		writeStdout: (text) => console.log(text),
		isOwnNetns,
		// console.error, not process.stderr: the Node stream costs 7-10 ms on first use
		writeStderr: (text) => console.error(text.endsWith("\n") ? text.slice(0, -1) : text),
	};
}

/** Where logs go: conflist log_file, else Terway's debug file when debug, else stderr (warn+). */
export function loggerFor(conf: PluginConf | undefined, stderr: (s: string) => void): Logger {
	const t = conf?.terway;
	if (t?.logFile) return createLogger({ sink: fileSink(t.logFile), level: t.debug ? "debug" : "info" });
	if (t?.debug) return createLogger({ sink: fileSink(DEBUG_LOG), level: "debug" });
	return createLogger({ sink: stderr, level: "warn" });
}

/** Handlers that say terwayd cannot be reached, whatever the command (tests of the error path). */
export const unwiredHandlers: CniHandlers = {
	add: async () => {
		throw new DaemonUnavailableError("the terwayd client is not wired into the plugin yet");
	},
	del: async () => {
		throw new DaemonUnavailableError("the terwayd client is not wired into the plugin yet");
	},
	check: async () => {
		throw new DaemonUnavailableError("the terwayd client is not wired into the plugin yet");
	},
	status: async () => {
		throw new DaemonUnavailableError("the terwayd client is not wired into the plugin yet");
	},
	gc: async () => {
		throw new DaemonUnavailableError("the terwayd client is not wired into the plugin yet");
	},
};

/** Run the plugin in this process; returns the exit code. Default: the handlers over terwayd (wire.ts). */
export async function pluginMain(handlers?: CniHandlers, ports: SkelPorts = processPorts()): Promise<number> {
	handlers ??= (await import("./wire.ts")).daemonHandlers(process.env);
	const stderr = (s: string) => ports.writeStderr(s);
	return runSkel({
		handlers,
		ports,
		mapError,
		about: ABOUT,
		log: loggerFor(undefined, stderr),
		makeLogger: (conf) => loggerFor(conf, stderr),
	});
}
