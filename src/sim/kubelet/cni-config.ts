/**
 * Network configuration loading for the kubelet stand-in, the way containerd finds it
 * (containerd/go-cni `loadFromConfDir` over libcni `ConfFiles`/`ConfListFromBytes`):
 *
 * - the conf dir's `.conf`, `.conflist` and `.json` files, sorted lexically; the FIRST one is the
 *   pod network (go-cni's default max of 1 network). A broken first file is an error, not skipped;
 * - a `.conflist` is `{name, cniVersion, plugins:[{type,...}], disableCheck?, disableGC?}`;
 * - a `.conf`/`.json` is one plugin config `{name, cniVersion, type, ...}`, wrapped as a list of one
 *   (libcni `ConfListFromConf`).
 *
 * Validation errors name the file and the field (`CniConfigError`). Reads files; runs nothing.
 */
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";

/** The CNI spec versions libcni knows; a config naming another is rejected. */
export const KNOWN_CNI_VERSIONS = ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"] as const;

/** One plugin's config as written in the file (type + plugin-specific keys). */
export type CniPluginConf = {
	type: string;
	/** Capabilities the plugin declares; only these get `runtimeConfig` keys (libcni injectRuntimeConfig). */
	capabilities?: Record<string, boolean>;
	[key: string]: unknown;
};

/** A loaded network configuration list (a single .conf becomes a list of one). */
export type CniNetworkConfigList = {
	/** The file it came from. */
	file: string;
	name: string;
	cniVersion: string;
	disableCheck: boolean;
	disableGC: boolean;
	plugins: CniPluginConf[];
	/** The file's text, as libcni caches it next to the ADD result. */
	bytes: string;
};

/** A configuration file is missing, unreadable or invalid; `field` names the offending key. */
export class CniConfigError extends Error {
	override readonly name = "CniConfigError";
	constructor(
		readonly file: string,
		readonly field: string | undefined,
		reason: string,
		override readonly cause?: unknown,
	) {
		super(field === undefined ? `${file}: ${reason}` : `${file}: field "${field}": ${reason}`);
	}
}

/** Network names and container IDs: libcni `utils.ValidateNetworkName`/`ValidateContainerID`. */
export const CNI_NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

const CONF_EXTENSIONS = [".conf", ".conflist", ".json"];

/** The candidate files of a conf dir, sorted as containerd sorts them (byte order). */
export async function confFiles(confDir: string): Promise<string[]> {
	let names: string[];
	try {
		names = await readdir(confDir);
	} catch (e) {
		throw new CniConfigError(confDir, undefined, `cannot read the CNI conf dir: ${(e as Error).message}`, e);
	}
	return names
		.filter((n) => CONF_EXTENSIONS.some((ext) => n.endsWith(ext)))
		.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
		.map((n) => join(confDir, n));
}

/**
 * Load the pod network from a conf dir: the lexically first config file, validated.
 *
 * @example const list = await loadConfDir("/etc/cni/net.d"); // list.plugins[0].type === "terway"
 */
export async function loadConfDir(confDir: string): Promise<CniNetworkConfigList> {
	const files = await confFiles(confDir);
	const first = files[0];
	if (first === undefined) {
		throw new CniConfigError(confDir, undefined, "no network config found (.conf, .conflist or .json)");
	}
	return loadConfFile(first);
}

/** Load one config file (.conflist as a list; anything else as a single plugin config). */
export async function loadConfFile(file: string): Promise<CniNetworkConfigList> {
	let text: string;
	try {
		text = await readFile(file, "utf8");
	} catch (e) {
		throw new CniConfigError(file, undefined, `cannot read: ${(e as Error).message}`, e);
	}
	return file.endsWith(".conflist") ? parseConfList(file, text) : parseSingleConf(file, text);
}

function parseObject(file: string, text: string): Record<string, unknown> {
	let raw: unknown;
	try {
		raw = JSON.parse(text);
	} catch (e) {
		throw new CniConfigError(file, undefined, `not valid JSON: ${(e as Error).message}`, e);
	}
	if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
		throw new CniConfigError(file, undefined, "must be a JSON object");
	}
	return raw as Record<string, unknown>;
}

function requireName(file: string, raw: Record<string, unknown>): string {
	const name = raw.name;
	if (typeof name !== "string" || name === "")
		throw new CniConfigError(file, "name", "missing or not a string");
	if (!CNI_NAME_RE.test(name)) {
		throw new CniConfigError(file, "name", `${JSON.stringify(name)} must match ${CNI_NAME_RE.source}`);
	}
	return name;
}

function requireVersion(file: string, raw: Record<string, unknown>): string {
	const v = raw.cniVersion;
	if (typeof v !== "string" || v === "")
		throw new CniConfigError(file, "cniVersion", "missing or not a string");
	if (!(KNOWN_CNI_VERSIONS as readonly string[]).includes(v)) {
		throw new CniConfigError(file, "cniVersion", `unknown version ${JSON.stringify(v)}`);
	}
	return v;
}

/** libcni accepts a bool or the strings "true"/"false" for disableCheck/disableGC. */
function optionalBool(file: string, raw: Record<string, unknown>, key: string): boolean {
	const v = raw[key];
	if (v === undefined) return false;
	if (typeof v === "boolean") return v;
	if (v === "true" || v === "false") return v === "true";
	throw new CniConfigError(file, key, `must be a boolean, got ${JSON.stringify(v)}`);
}

function checkPlugin(file: string, field: string, p: unknown): CniPluginConf {
	if (p === null || typeof p !== "object" || Array.isArray(p)) {
		throw new CniConfigError(file, field, "must be an object");
	}
	const plugin = p as Record<string, unknown>;
	if (typeof plugin.type !== "string" || plugin.type === "") {
		throw new CniConfigError(file, `${field}.type`, "missing or not a string");
	}
	if (plugin.type.includes("/")) {
		throw new CniConfigError(
			file,
			`${field}.type`,
			`${JSON.stringify(plugin.type)} must be a plain file name`,
		);
	}
	const caps = plugin.capabilities;
	if (caps !== undefined) {
		if (caps === null || typeof caps !== "object" || Array.isArray(caps)) {
			throw new CniConfigError(file, `${field}.capabilities`, "must be an object of booleans");
		}
		for (const [k, v] of Object.entries(caps)) {
			if (typeof v !== "boolean") {
				throw new CniConfigError(file, `${field}.capabilities.${k}`, "must be a boolean");
			}
		}
	}
	return plugin as CniPluginConf;
}

/** Parse and validate a .conflist text. */
export function parseConfList(file: string, text: string): CniNetworkConfigList {
	const raw = parseObject(file, text);
	const name = requireName(file, raw);
	const cniVersion = requireVersion(file, raw);
	if (!Array.isArray(raw.plugins)) throw new CniConfigError(file, "plugins", "missing or not an array");
	if (raw.plugins.length === 0) throw new CniConfigError(file, "plugins", "is empty: no plugins to run");
	const plugins = raw.plugins.map((p, i) => checkPlugin(file, `plugins[${i}]`, p));
	return {
		file,
		name,
		cniVersion,
		disableCheck: optionalBool(file, raw, "disableCheck"),
		disableGC: optionalBool(file, raw, "disableGC"),
		plugins,
		bytes: text,
	};
}

/** Parse and validate a single-plugin .conf text, as a list of one (libcni ConfListFromConf). */
export function parseSingleConf(file: string, text: string): CniNetworkConfigList {
	const raw = parseObject(file, text);
	if (Array.isArray(raw.plugins) && raw.type === undefined) {
		throw new CniConfigError(file, "type", "missing: this looks like a conflist; name the file *.conflist");
	}
	const name = requireName(file, raw);
	const cniVersion = requireVersion(file, raw);
	const plugin = checkPlugin(file, "(plugin)", raw);
	return { file, name, cniVersion, disableCheck: false, disableGC: false, plugins: [plugin], bytes: text };
}

/** `a >= b` for CNI version strings ("0.4.0" >= "0.3.1"). */
export function versionAtLeast(a: string, b: string): boolean {
	const pa = a.split(".").map(Number);
	const pb = b.split(".").map(Number);
	for (let i = 0; i < 3; i++) {
		const x = pa[i] ?? 0;
		const y = pb[i] ?? 0;
		if (x !== y) return x > y;
	}
	return true;
}
