/**
 * The CNI entry harness (containernetworking/cni pkg/skel, spec 1.1): reads the CNI_* variables
 * through a declarative table with per-command requirements, validates them and the stdin
 * config, gates commands by version, dispatches ADD/DEL/CHECK/VERSION/STATUS/GC to handlers,
 * and writes the result or the error JSON in one place.
 *
 * Everything it touches comes in as ports (getenv, stdin, stdout, stderr), so unit tests drive it
 * with a map and strings, and the exit code is returned, not taken. Which thrown error becomes
 * which CNI code is decided by the `mapError` the caller passes (src/plugin/main.ts, the one
 * mapping site); the harness's own validation throws CniError directly.
 */
import { CNI_CODES, CniError } from "../core/cni/errors.ts";
import type { Attachment, CniCommand, Result } from "../core/cni/types.ts";
import {
	CURRENT_VERSION,
	convertResult,
	SUPPORTED_VERSIONS,
	versionAtLeast,
	versionResult,
} from "../core/cni/version.ts";
import type { Logger } from "./log.ts";
import { NAME_RE, type PluginConf, parseNetConf, peekVersion } from "./netconf.ts";

/** The process environment, injected. */
export type SkelPorts = {
	getenv(name: string): string | undefined;
	/** All of stdin as text (called at most once, never for VERSION without input). */
	readStdin(): Promise<string>;
	/** One complete output (the result or error JSON); the port adds nothing. */
	writeStdout(text: string): void;
	writeStderr(text: string): void;
	/** True when `path` is the plugin's own network namespace (spec: code 8). Optional. */
	isOwnNetns?(path: string): boolean;
};

/** CNI_ARGS, parsed. Kubernetes runtimes pass the K8S_* keys. */
export type CniArgs = {
	ignoreUnknown: boolean;
	podNamespace?: string;
	podName?: string;
	podInfraContainerId?: string;
	podUid?: string;
	/** Every pair as given (unknown keys included when IgnoreUnknown is set). */
	raw: Record<string, string>;
};

/** What ADD, DEL and CHECK get. */
export type CmdArgs = {
	command: "ADD" | "DEL" | "CHECK";
	containerId: string;
	/** Empty for a DEL whose namespace is gone. */
	netns: string;
	ifName: string;
	args: CniArgs;
	/** CNI_PATH split on ':' (we never delegate, but keep it). */
	path: string[];
	conf: PluginConf;
	/** Already a child logger with cmd/containerID/netns/ifName bound. */
	log: Logger;
};

/** What STATUS gets: no container parameters. */
export type StatusArgs = { conf: PluginConf; path: string[]; log: Logger };
/** What GC gets: the attachments to keep (either key of the spec). */
export type GcArgs = { conf: PluginConf; path: string[]; validAttachments: Attachment[]; log: Logger };

/** The plugin's commands. Throw on failure; `mapError` classifies it. */
export interface CniHandlers {
	add(a: CmdArgs): Promise<Result>;
	del(a: CmdArgs): Promise<void>;
	check(a: CmdArgs): Promise<void>;
	status(a: StatusArgs): Promise<void>;
	gc(a: GcArgs): Promise<void>;
}

/** The classification of a handler's error: a CniError to print, or "ok" (e.g. DEL of a gone netns). */
export type ErrorMapper = (e: unknown, ctx: { command: CniCommand; log: Logger }) => CniError | "ok";

export type SkelOptions = {
	handlers: CniHandlers;
	ports: SkelPorts;
	mapError: ErrorMapper;
	/** Printed on stderr when CNI_COMMAND is empty (skel's "about"). */
	about: string;
	/** Made once the config is known (it may say where to log); defaults to `log`. */
	makeLogger?: (conf: PluginConf | undefined) => Logger;
	log: Logger;
};

const COMMANDS: readonly CniCommand[] = ["ADD", "DEL", "CHECK", "VERSION", "STATUS", "GC"];

type EnvKey = "containerId" | "netns" | "ifName" | "args" | "path";

/** The CNI_* variables: which commands need each, and how each is checked (null = fine). */
const ENV_TABLE: readonly {
	name: string;
	key: EnvKey;
	requiredFor: readonly CniCommand[];
	validate?: (v: string) => string | null;
}[] = [
	{
		name: "CNI_CONTAINERID",
		key: "containerId",
		requiredFor: ["ADD", "DEL", "CHECK"],
		validate: checkContainerId,
	},
	{ name: "CNI_NETNS", key: "netns", requiredFor: ["ADD", "CHECK"], validate: checkNetnsPath },
	{ name: "CNI_IFNAME", key: "ifName", requiredFor: ["ADD", "DEL", "CHECK"], validate: checkIfName },
	{ name: "CNI_ARGS", key: "args", requiredFor: [] },
	{ name: "CNI_PATH", key: "path", requiredFor: ["ADD", "DEL", "CHECK", "GC"] },
];

/** libcni ValidateContainerID. */
export function checkContainerId(v: string): string | null {
	return NAME_RE.test(v) ? null : "must start with a letter or digit and contain only [A-Za-z0-9_.-]";
}

/** libcni ValidateInterfaceName: 1..15 bytes, not . or .., no '/', ':' or whitespace. */
export function checkIfName(v: string): string | null {
	if (Buffer.byteLength(v) > 15) return "longer than 15 bytes (IFNAMSIZ)";
	if (v === "." || v === "..") return 'must not be "." or ".."';
	if (/[/:\s]/.test(v)) return "must not contain '/', ':' or whitespace";
	return null;
}

function checkNetnsPath(v: string): string | null {
	if (!v.startsWith("/")) return "must be an absolute path to a network namespace";
	if (v.includes("\0")) return "must not contain NUL";
	return null;
}

const CNI_ARGS_KEYS = [
	"IgnoreUnknown",
	"K8S_POD_NAMESPACE",
	"K8S_POD_NAME",
	"K8S_POD_INFRA_CONTAINER_ID",
	"K8S_POD_UID",
	"IP",
];
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Parse CNI_ARGS ("K=V;K=V"); throws CniError(4) naming the bad pair or key. */
export function parseCniArgs(s: string): CniArgs {
	const bad = (reason: string): never => {
		throw new CniError(CNI_CODES.InvalidEnvironmentVariables, `invalid CNI_ARGS: ${reason}`);
	};
	const raw: Record<string, string> = {};
	for (const pair of s.split(";")) {
		if (pair === "") continue;
		const eq = pair.indexOf("=");
		if (eq <= 0) bad(`${JSON.stringify(pair)} is not KEY=VALUE`);
		raw[pair.slice(0, eq)] = pair.slice(eq + 1);
	}
	const ig = raw.IgnoreUnknown;
	const ignoreUnknown = ig !== undefined && /^(1|true)$/i.test(ig);
	if (ig !== undefined && !/^(0|1|true|false)$/i.test(ig))
		bad(`IgnoreUnknown=${ig} must be 1, 0, true or false`);
	if (!ignoreUnknown) {
		const unknown = Object.keys(raw).filter((k) => !CNI_ARGS_KEYS.includes(k));
		if (unknown.length > 0) bad(`unknown key ${unknown.join(", ")} (set IgnoreUnknown=1 to allow)`);
	}
	const out: CniArgs = { ignoreUnknown, raw };
	const ns = raw.K8S_POD_NAMESPACE;
	if (ns !== undefined && ns !== "") {
		if (ns.length > 63 || !DNS_LABEL.test(ns)) bad(`K8S_POD_NAMESPACE=${ns} is not a DNS-1123 label`);
		out.podNamespace = ns;
	}
	const name = raw.K8S_POD_NAME;
	if (name !== undefined && name !== "") {
		if (name.length > 253 || !DNS_SUBDOMAIN.test(name))
			bad(`K8S_POD_NAME=${name} is not a DNS-1123 subdomain`);
		out.podName = name;
	}
	const infra = raw.K8S_POD_INFRA_CONTAINER_ID;
	if (infra !== undefined && infra !== "") {
		if (!NAME_RE.test(infra)) bad(`K8S_POD_INFRA_CONTAINER_ID=${infra} is not a container id`);
		out.podInfraContainerId = infra;
	}
	const uid = raw.K8S_POD_UID;
	if (uid !== undefined && uid !== "") {
		if (!/^[0-9a-fA-F-]{1,64}$/.test(uid)) bad(`K8S_POD_UID=${uid} is not a UID`);
		out.podUid = uid;
	}
	return out;
}

type Env = Record<EnvKey, string>;

function readEnv(ports: SkelPorts, command: CniCommand): Env {
	const env: Env = { containerId: "", netns: "", ifName: "", args: "", path: "" };
	const missing: string[] = [];
	for (const v of ENV_TABLE) {
		const value = ports.getenv(v.name) ?? "";
		env[v.key] = value;
		if (value === "" && v.requiredFor.includes(command)) missing.push(v.name);
	}
	if (missing.length > 0) {
		throw new CniError(
			CNI_CODES.InvalidEnvironmentVariables,
			`required env variables [${missing.join(",")}] missing`,
			`${command} needs ${missing.join(", ")}`,
		);
	}
	// Only what the command takes is validated (STATUS/GC take no container parameters).
	for (const v of ENV_TABLE) {
		const value = env[v.key];
		if (value === "" || !v.validate) continue;
		if (command === "STATUS" || command === "GC" || command === "VERSION") continue;
		const why = v.validate(value);
		if (why) {
			throw new CniError(
				CNI_CODES.InvalidEnvironmentVariables,
				`invalid ${v.name} ${JSON.stringify(value)}: ${why}`,
			);
		}
	}
	return env;
}

/** Minimum config version per command (skel: CHECK 0.4.0, STATUS and GC 1.1.0). */
const MIN_VERSION: Partial<Record<CniCommand, string>> = { CHECK: "0.4.0", STATUS: "1.1.0", GC: "1.1.0" };

/**
 * Run one CNI invocation. Returns the process exit code (0 ok, 1 error) after writing stdout.
 * @example process.exitCode = await runSkel({ handlers, ports, mapError, about, log })
 */
export async function runSkel(opts: SkelOptions): Promise<number> {
	const { ports } = opts;
	let log = opts.log;
	let cniVersion: string = CURRENT_VERSION;
	let command: CniCommand | undefined;
	const fail = (e: CniError): number => {
		log.error({ code: e.code, details: e.details || undefined }, e.msg);
		ports.writeStdout(JSON.stringify(e.toJSON(cniVersion)));
		return 1;
	};
	try {
		const cmd = ports.getenv("CNI_COMMAND") ?? "";
		if (cmd === "") {
			ports.writeStderr(`${opts.about}\nCNI protocol versions supported: ${SUPPORTED_VERSIONS.join(", ")}\n`);
			return 0;
		}
		if (!(COMMANDS as readonly string[]).includes(cmd)) {
			throw new CniError(CNI_CODES.InvalidEnvironmentVariables, `unknown CNI_COMMAND: ${cmd}`);
		}
		command = cmd as CniCommand;
		if (command === "VERSION") {
			// stdin may be empty or {"cniVersion": "x"}; anything else is ignored, never an error
			let input = "";
			try {
				input = await ports.readStdin();
			} catch {
				input = "";
			}
			ports.writeStdout(JSON.stringify(versionResult(peekVersion(input))));
			return 0;
		}
		const env = readEnv(ports, command);
		let stdin: string;
		try {
			stdin = await ports.readStdin();
		} catch (e) {
			throw new CniError(CNI_CODES.IOFailure, `error reading from stdin: ${(e as Error).message}`);
		}
		const peeked = peekVersion(stdin);
		if (peeked) cniVersion = peeked;
		const conf = parseNetConf(stdin, { gc: command === "GC" });
		cniVersion = conf.net.cniVersion;
		const min = MIN_VERSION[command];
		if (min && !versionAtLeast(cniVersion, min)) {
			throw new CniError(
				CNI_CODES.IncompatibleCniVersion,
				`config version ${cniVersion} does not allow ${command}`,
				`${command} needs cniVersion >= ${min}`,
			);
		}
		const args = parseCniArgs(env.args);
		const path = env.path.split(":").filter((p) => p !== "");
		log = (opts.makeLogger?.(conf) ?? log).child({ cmd: command });

		switch (command) {
			case "STATUS":
				await opts.handlers.status({ conf, path, log });
				return 0;
			case "GC":
				await opts.handlers.gc({ conf, path, validAttachments: conf.validAttachments ?? [], log });
				return 0;
			default:
				break;
		}
		if (env.netns !== "" && ports.isOwnNetns?.(env.netns)) {
			if (command !== "DEL") {
				throw new CniError(
					CNI_CODES.InvalidNetNS,
					"plugin's netns and netns from CNI_NETNS should not be the same",
					`CNI_NETNS=${env.netns}`,
				);
			}
		}
		log = log.child({ containerID: env.containerId, netns: env.netns, ifName: env.ifName });
		const cmdArgs: CmdArgs = {
			command,
			containerId: env.containerId,
			netns: env.netns,
			ifName: env.ifName,
			args,
			path,
			conf,
			log,
		};
		if (command === "ADD") {
			const result = await opts.handlers.add(cmdArgs);
			ports.writeStdout(JSON.stringify(convertResult(result, cniVersion)));
			return 0;
		}
		if (command === "CHECK") {
			if (!conf.net.prevResult) {
				throw new CniError(CNI_CODES.InvalidNetworkConfig, "CHECK needs prevResult", "prevResult is missing");
			}
			await opts.handlers.check(cmdArgs);
			return 0;
		}
		await opts.handlers.del(cmdArgs);
		return 0;
	} catch (e) {
		const mapped = opts.mapError(e, { command: command ?? "VERSION", log });
		if (mapped === "ok") return 0;
		return fail(mapped);
	}
}
