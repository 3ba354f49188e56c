/**
 * @module core/config/eni-config
 *
 * Parse and validate Terway's `eni_conf` JSON — the `eni_conf` key of the
 * `kube-system/eni-config` ConfigMap — into a typed, defaulted {@link EniConfig}, apply a node's
 * dynamic-config overlay, and parse terwayctl's own daemon config file.
 *
 * Compatibility (DESIGN.md "Configuration"): the key names, types and defaults are Terway's
 * (`types/daemon/config.go` `Config`, defaults from its `mod:"default=…"` tags and `Populate()`),
 * so an existing `eni_conf` works unchanged. Where Terway is silent we are strict:
 * - an unknown key is an error naming the key, with "did you mean" for near misses (Go's JSON
 *   decoder silently dropped typos such as `max_pool_sise`);
 * - keys Terway no longer reads ({@link IGNORED_LEGACY_KEYS}) are accepted with a warning;
 * - a value of the wrong type or out of range is an error naming key and value, e.g.
 *   `eni_conf.max_pool_size: "ten" is not an integer`. Secrets are never echoed.
 * - all problems are reported at once ({@link EniConfigError.issues}).
 * Deliberate differences, each Terway-documented elsewhere:
 * - `vswitch_selection_policy` also accepts `most`; an unknown value is an error (Terway fell
 *   back to random). `ordered` means "most available IPs first", as in Terway's `getENIConfig`.
 * - `ip_stack: "ipv6"` is rejected, as Terway's daemon `Config.Validate` does.
 * - `eniip_virtual_type` (a key of Terway's CNI conf) is also accepted here: `Veth` → datapath
 *   `veth`, `IPVlan` → `datapathv2` (Terway's `terway-cli cni` migrates ipvlan the same way).
 * - `min_pool_size > max_pool_size` is an error (Terway silently clipped min to max).
 *
 * The daemon config file (`terwayctl daemon --config FILE`, JSON or YAML decoded by the caller):
 * ```json
 * {
 *   "eni_conf": { "max_pool_size": 5, "vswitches": { "cn-hangzhou-i": ["vsw-1"] } },
 *   "node_name": "node-1",                        // default: $NODE_NAME (caller)
 *   "kubeconfig": "/etc/kubernetes/kubelet.conf",  // absent: in-cluster, else standalone
 *   "config_map": "kube-system/eni-config",        // where eni_conf lives in-cluster
 *   "socket": "/var/run/terway/terwayd.sock",
 *   "state_dir": "/var/lib/terway",
 *   "bpf_pin_root": "/sys/fs/bpf/terway",          // NetworkPolicy maps and programs (bpffs)
 *   "region": "cn-hangzhou", "zone": "cn-hangzhou-i",       // standalone: override metadata
 *   "instance_id": "i-123", "instance_type": "ecs.g7.large"
 * }
 * ```
 * `eni_conf` may also be given as the JSON string exactly as stored in the ConfigMap. In-cluster,
 * the ConfigMap's `eni_conf` is the base and the file's `eni_conf` is merged over it by the
 * daemon with {@link mergePatch}; the node overlay comes last ({@link resolveEniConf}).
 *
 * Pure: no I/O, no clock. Must not read files, the environment or the cluster.
 */

import { parseCIDR } from "../net/ip.ts";
import { formatDuration, parseGoDuration } from "./duration.ts";
import { suggestKey } from "./suggest.ts";
import type {
	BackoffOverride,
	ConfigIssue,
	DaemonConfig,
	EniConfig,
	EniIpVirtualType,
	Json,
	JsonObject,
	Parsed,
	TagMatch,
	VSwitchPolicy,
	VSwitchSelectionPolicyName,
} from "./types.ts";

export type * from "./types.ts";

/** Every `eni_conf` key we read (Terway `types/daemon/config.go`, reference §3.2). */
export const KNOWN_KEYS = [
	"version",
	"access_key",
	"access_secret",
	"credential_path",
	"region_id",
	"service_cidr",
	"vswitches",
	"vswitch_selection_policy",
	"eni_tags",
	"eni_tag_filter",
	"eni_tag_block_list",
	"security_group",
	"security_groups",
	"resource_group_id",
	"max_pool_size",
	"min_pool_size",
	"ip_warm_up_size",
	"min_eni",
	"max_eni",
	"eni_cap_ratio",
	"eni_cap_shift",
	"eni_selection_policy",
	"ip_stack",
	"enable_eni_trunking",
	"enable_erdma",
	"enable_ip_prefix",
	"ipv4_prefix_count",
	"ipv6_prefix_count",
	"ipam_type",
	"custom_stateful_workload_kinds",
	"idle_ip_reclaim_after",
	"idle_ip_reclaim_interval",
	"idle_ip_reclaim_batch_size",
	"idle_ip_reclaim_jitter_factor",
	"ip_pool_sync_period",
	"backoff_override",
	"rate_limit",
	"extra_routes",
	"disable_device_plugin",
	"kube_client_qps",
	"kube_client_burst",
	"enable_patch_pod_ips",
	"eniip_virtual_type",
] as const;

/** Keys Terway documented once and no longer reads: accepted with a warning, value ignored. */
export const IGNORED_LEGACY_KEYS = [
	"enable_eip_pool",
	"enable_eip_migrate",
	"prefix",
	"eni_cap_policy",
	"wait_trunk_eni",
	"disable_security_group_check",
] as const;

/** Keys of the eni-config ConfigMap itself that people paste into eni_conf by mistake. */
const CONFIGMAP_KEYS: Record<string, string> = {
	disable_network_policy:
		'is a key of the eni-config ConfigMap ("disable_network_policy": "true"), not of eni_conf',
	in_cluster_loadbalance: "is a key of the eni-config ConfigMap, not of eni_conf",
	enable_network_policy:
		'is not a Terway key; network policy is turned off with the ConfigMap key "disable_network_policy"',
};

const SECRET_KEYS = new Set(["access_key", "access_secret"]);

/** Terway's limit on security groups per ENI (`ConfigFromConfigMap`). */
export const MAX_SECURITY_GROUPS = 10;

/** Defaults (Terway `Populate()` and `mod` tags). */
export const DEFAULTS = {
	maxPoolSize: 0,
	minPoolSize: 0,
	vswitchSelectionPolicy: "random",
	eniSelectionPolicy: "most_ips",
	ipStack: "ipv4",
	eniCapRatio: 1,
	eniCapShift: 0,
	idleIpReclaimIntervalMs: 10 * 60_000,
	idleIpReclaimBatchSize: 5,
	idleIpReclaimJitterFactor: 0.1,
	ipPoolSyncPeriodMs: 120_000,
	customStatefulWorkloadKinds: ["statefulset"],
	enablePatchPodIps: true,
	eniipVirtualType: "Veth",
} as const;

/** Thrown when a config has problems; `issues` holds every one, `message` joins them with "; ". */
export class EniConfigError extends Error {
	override readonly name = "EniConfigError";
	constructor(readonly issues: ConfigIssue[]) {
		super(issues.map((i) => `${i.path}: ${i.message}`).join("; "));
	}
}

export const isEniConfigError = (e: unknown): e is EniConfigError => e instanceof EniConfigError;

const isObject = (v: unknown): v is JsonObject => typeof v === "object" && v !== null && !Array.isArray(v);

/** How a value is shown in a message: JSON, truncated; secrets redacted. */
function show(v: unknown): string {
	let s: string;
	try {
		s = JSON.stringify(v) ?? String(v);
	} catch {
		s = String(v);
	}
	return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/** Collects issues for one object and reads typed values out of it. */
class Reader {
	readonly issues: ConfigIssue[] = [];
	readonly warnings: string[] = [];
	constructor(
		readonly obj: JsonObject,
		readonly prefix: string,
		/** Top-level keys set by an overlay: their messages say so. */
		readonly origin: (key: string) => string = () => "",
	) {}

	path(key: string): string {
		return `${this.prefix}.${key}${this.origin(key.split(/[.[]/)[0] ?? key)}`;
	}

	fail(key: string, value: unknown, why: string): undefined {
		const top = key.split(/[.[]/)[0] ?? key;
		const shown = SECRET_KEYS.has(top) ? "(redacted)" : show(value);
		this.issues.push({
			path: this.path(key),
			value: SECRET_KEYS.has(top) ? "(redacted)" : value,
			message: `${shown} ${why}`,
		});
		return undefined;
	}

	/** A required key is absent: nothing to show but the key. */
	missing(key: string, why: string): undefined {
		this.issues.push({ path: this.path(key), value: undefined, message: why });
		return undefined;
	}

	has(key: string): boolean {
		return this.obj[key] !== undefined && this.obj[key] !== null;
	}

	str(key: string, opts: { nonEmpty?: boolean } = {}): string | undefined {
		const v = this.obj[key];
		if (v === undefined || v === null) return undefined;
		if (typeof v !== "string") return this.fail(key, v, "is not a string");
		if (opts.nonEmpty && v.trim() === "") return this.fail(key, v, "is empty");
		return v;
	}

	/** A string that means "unset" when empty (Go zero value). */
	optStr(key: string): string | undefined {
		const v = this.str(key);
		return v === "" ? undefined : v;
	}

	bool(key: string): boolean | undefined {
		const v = this.obj[key];
		if (v === undefined || v === null) return undefined;
		if (typeof v !== "boolean") return this.fail(key, v, "is not a boolean (true or false)");
		return v;
	}

	int(key: string, opts: { min?: number; max?: number } = {}): number | undefined {
		return this.intValue(key, this.obj[key], opts);
	}

	intValue(key: string, v: Json | undefined, opts: { min?: number; max?: number } = {}): number | undefined {
		if (v === undefined || v === null) return undefined;
		if (typeof v !== "number" || !Number.isInteger(v)) return this.fail(key, v, "is not an integer");
		return this.range(key, v, opts);
	}

	num(key: string, opts: { min?: number; max?: number; exclusiveMin?: number } = {}): number | undefined {
		const v = this.obj[key];
		if (v === undefined || v === null) return undefined;
		if (typeof v !== "number" || !Number.isFinite(v)) return this.fail(key, v, "is not a number");
		if (opts.exclusiveMin !== undefined && v <= opts.exclusiveMin)
			return this.fail(key, v, `must be greater than ${opts.exclusiveMin}`);
		return this.range(key, v, opts);
	}

	range(key: string, v: number, opts: { min?: number; max?: number }): number | undefined {
		if (opts.min !== undefined && v < opts.min) return this.fail(key, v, `must be at least ${opts.min}`);
		if (opts.max !== undefined && v > opts.max) return this.fail(key, v, `must be at most ${opts.max}`);
		return v;
	}

	oneOf<T extends string>(key: string, allowed: readonly T[], opts: { ci?: boolean } = {}): T | undefined {
		const v = this.str(key);
		if (v === undefined) return undefined;
		const hit = allowed.find((a) => (opts.ci ? a.toLowerCase() === v.toLowerCase() : a === v));
		if (hit === undefined) {
			return this.fail(key, v, `is not one of ${allowed.filter((a) => a !== "").join(", ")}`);
		}
		return hit;
	}

	/** Go duration string, > 0; "" = unset. */
	duration(key: string): number | undefined {
		const v = this.obj[key];
		if (v === undefined || v === null || v === "") return undefined;
		if (typeof v !== "string") return this.fail(key, v, 'is not a duration string (like "30s", "10m", "1h")');
		const ms = parseGoDuration(v);
		if (ms === undefined) return this.fail(key, v, 'is not a duration (like "30s", "10m", "1h")');
		if (ms <= 0) return this.fail(key, v, "must be a positive duration");
		return ms;
	}

	stringList(key: string): string[] | undefined {
		const v = this.obj[key];
		if (v === undefined || v === null) return undefined;
		if (!Array.isArray(v)) return this.fail(key, v, "is not a list of strings");
		const out: string[] = [];
		v.forEach((s, i) => {
			if (typeof s !== "string" || s.trim() === "") this.fail(`${key}[${i}]`, s, "is not a non-empty string");
			else out.push(s);
		});
		return out;
	}

	stringMap(key: string): Record<string, string> | undefined {
		const v = this.obj[key];
		if (v === undefined || v === null) return undefined;
		if (!isObject(v)) return this.fail(key, v, "is not an object of strings");
		const out: Record<string, string> = {};
		for (const [k, s] of Object.entries(v)) {
			if (typeof s !== "string") this.fail(`${key}.${k}`, s, "is not a string");
			else out[k] = s;
		}
		return out;
	}
}

function parseServiceCidr(r: Reader): string[] {
	const raw = r.optStr("service_cidr");
	if (raw === undefined) return [];
	const out: string[] = [];
	const seen = new Set<number>();
	for (const part of raw.split(",").map((s) => s.trim())) {
		try {
			const p = parseCIDR(part);
			if (seen.has(p.family)) {
				r.fail("service_cidr", raw, `has more than one IPv${p.family} CIDR (expected "v4[,v6]")`);
				continue;
			}
			seen.add(p.family);
			out.push(part);
		} catch {
			r.fail("service_cidr", raw, `has ${show(part)}, which is not a CIDR`);
		}
	}
	return out;
}

function parseVSwitches(r: Reader): Record<string, string[]> {
	const v = r.obj.vswitches;
	if (v === undefined || v === null) return {};
	if (!isObject(v))
		return (
			r.fail(
				"vswitches",
				v,
				'is not an object of zone → [vSwitch ids] (like {"cn-hangzhou-i": ["vsw-1"]})',
			) ?? {}
		);
	const out: Record<string, string[]> = {};
	for (const [zone, ids] of Object.entries(v)) {
		if (!Array.isArray(ids)) {
			r.fail(`vswitches.${zone}`, ids, "is not a list of vSwitch ids");
			continue;
		}
		const list: string[] = [];
		ids.forEach((id, i) => {
			if (typeof id !== "string" || id.trim() === "")
				r.fail(`vswitches.${zone}[${i}]`, id, "is not a vSwitch id");
			else if (!list.includes(id)) list.push(id);
		});
		out[zone] = list;
	}
	return out;
}

function parseSecurityGroups(r: Reader): string[] {
	const one = r.optStr("security_group");
	const many = r.stringList("security_groups") ?? [];
	const all: string[] = [];
	for (const sg of [...(one ? [one] : []), ...many]) if (!all.includes(sg)) all.push(sg);
	if (all.length > MAX_SECURITY_GROUPS) {
		r.fail(
			"security_groups",
			all,
			`has ${all.length} security groups; at most ${MAX_SECURITY_GROUPS} are allowed`,
		);
	}
	return all;
}

function parseTagBlockList(r: Reader): TagMatch[] {
	const v = r.obj.eni_tag_block_list;
	if (v === undefined || v === null) return [];
	if (!Array.isArray(v))
		return r.fail("eni_tag_block_list", v, 'is not a list of {"key": …, "value": …}') ?? [];
	const out: TagMatch[] = [];
	v.forEach((e, i) => {
		if (
			!isObject(e) ||
			typeof e.key !== "string" ||
			e.key === "" ||
			(e.value !== undefined && typeof e.value !== "string")
		) {
			r.fail(`eni_tag_block_list[${i}]`, e, 'is not {"key": string, "value": string}');
			return;
		}
		out.push({ key: e.key, value: typeof e.value === "string" ? e.value : "" });
	});
	return out;
}

const BACKOFF_FIELDS: Record<string, keyof BackoffOverride> = {
	initialdelay: "initialDelayMs",
	duration: "durationMs",
	factor: "factor",
	jitter: "jitter",
	steps: "steps",
	cap: "capMs",
};

/** `backoff_override`: Go `ExtendedBackoff` (field names case-insensitive; durations in ns, or Go duration strings). */
function parseBackoff(r: Reader): Record<string, BackoffOverride> {
	const v = r.obj.backoff_override;
	if (v === undefined || v === null) return {};
	if (!isObject(v)) return r.fail("backoff_override", v, "is not an object of name → backoff") ?? {};
	const out: Record<string, BackoffOverride> = {};
	for (const [name, b] of Object.entries(v)) {
		const at = `backoff_override.${name}`;
		if (!isObject(b)) {
			r.fail(at, b, 'is not an object like {"Duration": 1000000000, "Factor": 2, "Steps": 5}');
			continue;
		}
		const o: BackoffOverride = {};
		for (const [field, val] of Object.entries(b)) {
			const f = BACKOFF_FIELDS[field.toLowerCase()];
			if (!f) {
				const hint = suggestKey(field, ["InitialDelay", "Duration", "Factor", "Jitter", "Steps", "Cap"]);
				r.fail(
					`${at}.${field}`,
					val,
					`is an unknown backoff field${hint ? ` (did you mean "${hint}"?)` : ""}`,
				);
				continue;
			}
			if (f.endsWith("Ms")) {
				let ms: number | undefined;
				if (typeof val === "number" && Number.isFinite(val) && val >= 0) ms = val / 1e6;
				else if (typeof val === "string") ms = parseGoDuration(val);
				if (ms === undefined || ms < 0)
					r.fail(`${at}.${field}`, val, 'is not a duration (nanoseconds or like "1s")');
				else o[f] = ms;
			} else if (f === "steps") {
				const n = r.intValue(`${at}.${field}`, val, { min: 0 });
				if (n !== undefined) o.steps = n;
			} else if (typeof val !== "number" || !Number.isFinite(val) || val < 0) {
				r.fail(`${at}.${field}`, val, "is not a non-negative number");
			} else {
				o[f] = val;
			}
		}
		out[name] = o;
	}
	return out;
}

function parseRateLimit(r: Reader): Record<string, number> {
	const v = r.obj.rate_limit;
	if (v === undefined || v === null) return {};
	if (!isObject(v)) return r.fail("rate_limit", v, "is not an object of API name → calls per minute") ?? {};
	const out: Record<string, number> = {};
	for (const [api, n] of Object.entries(v)) {
		const got = r.intValue(`rate_limit.${api}`, n, { min: 1 });
		if (got !== undefined) out[api] = got;
	}
	return out;
}

function parseExtraRoutes(r: Reader): string[] {
	const v = r.obj.extra_routes;
	if (v === undefined || v === null) return [];
	if (!Array.isArray(v)) return r.fail("extra_routes", v, 'is not a list of {"dst": CIDR}') ?? [];
	const out: string[] = [];
	v.forEach((e, i) => {
		const dst = isObject(e) ? e.dst : undefined;
		if (typeof dst !== "string") {
			r.fail(`extra_routes[${i}]`, e, 'is not {"dst": CIDR}');
			return;
		}
		try {
			parseCIDR(dst);
			out.push(dst);
		} catch {
			r.fail(`extra_routes[${i}].dst`, dst, "is not a CIDR");
		}
	});
	return out;
}

function parseJitter(r: Reader): number | undefined {
	const v = r.obj.idle_ip_reclaim_jitter_factor;
	if (v === undefined || v === null || v === "") return undefined;
	// Terway types it *string; a bare number is accepted too.
	const n =
		typeof v === "string" && /^\s*[-+]?(\d+\.?\d*|\.\d+)\s*$/.test(v)
			? Number(v)
			: typeof v === "number"
				? v
				: Number.NaN;
	if (!Number.isFinite(n)) return r.fail("idle_ip_reclaim_jitter_factor", v, 'is not a number (like "0.1")');
	return r.range("idle_ip_reclaim_jitter_factor", n, { min: 0, max: 1 });
}

/** Reject unknown keys (with suggestions), warn about ignored legacy ones. */
function checkKeys(r: Reader, known: readonly string[], ignored: readonly string[]): void {
	for (const key of Object.keys(r.obj)) {
		if (known.includes(key)) continue;
		if (ignored.includes(key)) {
			r.warnings.push(`${r.path(key)}: no longer used by Terway; ignored`);
			continue;
		}
		const special = CONFIGMAP_KEYS[key];
		if (special && r.prefix.endsWith("eni_conf")) {
			r.issues.push({ path: r.path(key), value: r.obj[key], message: special });
			continue;
		}
		const hint = suggestKey(key, [...known, ...ignored]);
		r.issues.push({
			path: r.path(key),
			value: r.obj[key],
			message: `unknown key${hint ? ` (did you mean "${hint}"?)` : ""}`,
		});
	}
}

/** Decode the input: an object, or JSON text (as stored in the ConfigMap). */
function toObject(input: unknown, prefix: string): JsonObject {
	let v = input;
	if (typeof v === "string") {
		try {
			v = JSON.parse(v);
		} catch (e) {
			throw new EniConfigError([
				{ path: prefix, value: input, message: `is not valid JSON: ${(e as Error).message}` },
			]);
		}
	}
	if (!isObject(v)) {
		throw new EniConfigError([{ path: prefix, value: v, message: `${show(v)} is not a JSON object` }]);
	}
	return v;
}

/** Options for {@link parseEniConf}. */
export type ParseOptions = {
	/** Prefix for issue paths (default `eni_conf`). */
	path?: string;
	/** Marks keys that came from an overlay, so messages say where to fix them. */
	origin?: (key: string) => string;
};

/** Map config `vswitch_selection_policy` to the policy the pool applies (Terway `getENIConfig`). */
export function vswitchPolicyOf(name: VSwitchSelectionPolicyName): VSwitchPolicy {
	return name === "ordered" || name === "most" ? "most" : "random";
}

/**
 * Parse and validate an `eni_conf` (object or JSON text). Throws {@link EniConfigError} listing
 * every problem; returns the defaulted config and warnings.
 *
 * @example
 * const { config } = parseEniConf('{"max_pool_size": 5, "vswitches": {"cn-hangzhou-i": ["vsw-1"]}}');
 * config.maxPoolSize; // 5
 */
export function parseEniConf(input: unknown, opts: ParseOptions = {}): Parsed<EniConfig> {
	const prefix = opts.path ?? "eni_conf";
	const obj = toObject(input, prefix);
	const r = new Reader(obj, prefix, opts.origin);
	checkKeys(r, KNOWN_KEYS, IGNORED_LEGACY_KEYS);

	const maxPoolSize = r.int("max_pool_size", { min: 0 }) ?? DEFAULTS.maxPoolSize;
	const minPoolSize = r.int("min_pool_size", { min: 0 }) ?? DEFAULTS.minPoolSize;
	const minEni = r.int("min_eni", { min: 0 }) ?? 0;
	const maxEni = r.int("max_eni", { min: 0 }) ?? 0;
	const vswitchSelectionPolicy =
		r.oneOf("vswitch_selection_policy", ["random", "ordered", "most"] as const) ??
		DEFAULTS.vswitchSelectionPolicy;
	const ipStackRaw = r.str("ip_stack");
	let ipStack: EniConfig["ipStack"] = DEFAULTS.ipStack;
	if (ipStackRaw === "ipv6") {
		r.fail(
			"ip_stack",
			ipStackRaw,
			"is not supported by the daemon (Terway's Config.Validate rejects it too); use ipv4 or dual",
		);
	} else if (ipStackRaw !== undefined && ipStackRaw !== "") {
		ipStack = r.oneOf("ip_stack", ["ipv4", "dual"] as const) ?? ipStack;
	}
	let ipamType: EniConfig["ipamType"] = "";
	const ipamRaw = r.str("ipam_type");
	if (ipamRaw === "preferCRD") {
		ipamType = "crd";
		r.warnings.push(`${r.path("ipam_type")}: "preferCRD" is treated as "crd"`);
	} else if (ipamRaw !== undefined) {
		ipamType = r.oneOf("ipam_type", ["", "crd"] as const) ?? "";
	}
	const virt: EniIpVirtualType =
		r.oneOf("eniip_virtual_type", ["Veth", "IPVlan"] as const, { ci: true }) ?? DEFAULTS.eniipVirtualType;
	const enableIpPrefix = r.bool("enable_ip_prefix") ?? false;
	const ipv4PrefixCount = r.int("ipv4_prefix_count", { min: 0 }) ?? 0;
	const ipv6PrefixCount = r.int("ipv6_prefix_count", { min: 0, max: 1 }) ?? 0;

	const config: EniConfig = {
		version: r.optStr("version"),
		accessKey: r.optStr("access_key"),
		accessSecret: r.optStr("access_secret"),
		credentialPath: r.optStr("credential_path"),
		regionId: r.optStr("region_id"),
		serviceCidrs: parseServiceCidr(r),
		vswitches: parseVSwitches(r),
		vswitchSelectionPolicy,
		vswitchPolicy: vswitchPolicyOf(vswitchSelectionPolicy),
		eniTags: r.stringMap("eni_tags") ?? {},
		eniTagFilter: r.stringMap("eni_tag_filter") ?? {},
		eniTagBlockList: parseTagBlockList(r),
		securityGroups: parseSecurityGroups(r),
		resourceGroupId: r.optStr("resource_group_id"),
		maxPoolSize,
		minPoolSize,
		ipWarmUpSize: r.int("ip_warm_up_size", { min: 0 }) ?? 0,
		minEni,
		maxEni,
		eniCapRatio: r.num("eni_cap_ratio", { exclusiveMin: 0 }) ?? DEFAULTS.eniCapRatio,
		eniCapShift: r.int("eni_cap_shift") ?? DEFAULTS.eniCapShift,
		eniSelectionPolicy:
			r.oneOf("eni_selection_policy", ["most_ips", "least_ips"] as const) ?? DEFAULTS.eniSelectionPolicy,
		ipStack,
		enableEniTrunking: r.bool("enable_eni_trunking") ?? false,
		enableErdma: r.bool("enable_erdma") ?? false,
		enableIpPrefix,
		ipv4PrefixCount,
		ipv6PrefixCount,
		ipamType,
		customStatefulWorkloadKinds: (
			r.stringList("custom_stateful_workload_kinds") ?? [...DEFAULTS.customStatefulWorkloadKinds]
		).map((k) => k.toLowerCase()),
		idleIpReclaimAfterMs: r.duration("idle_ip_reclaim_after"),
		idleIpReclaimIntervalMs: r.duration("idle_ip_reclaim_interval") ?? DEFAULTS.idleIpReclaimIntervalMs,
		idleIpReclaimBatchSize:
			r.int("idle_ip_reclaim_batch_size", { min: 1 }) ?? DEFAULTS.idleIpReclaimBatchSize,
		idleIpReclaimJitterFactor: parseJitter(r) ?? DEFAULTS.idleIpReclaimJitterFactor,
		ipPoolSyncPeriodMs: r.duration("ip_pool_sync_period") ?? DEFAULTS.ipPoolSyncPeriodMs,
		backoffOverride: parseBackoff(r),
		rateLimit: parseRateLimit(r),
		extraRoutes: parseExtraRoutes(r),
		disableDevicePlugin: r.bool("disable_device_plugin") ?? false,
		kubeClientQps: r.num("kube_client_qps", { exclusiveMin: 0 }),
		kubeClientBurst: r.int("kube_client_burst", { min: 1 }),
		enablePatchPodIps: r.bool("enable_patch_pod_ips") ?? DEFAULTS.enablePatchPodIps,
		eniipVirtualType: virt,
		datapath: virt === "IPVlan" ? "datapathv2" : "veth",
	};

	// Cross-field checks: only what can be decided without the instance's limits.
	if (
		r.has("min_pool_size") &&
		minPoolSize > maxPoolSize &&
		r.issues.every((i) => !i.path.includes("pool_size"))
	) {
		r.fail(
			"min_pool_size",
			minPoolSize,
			`is greater than max_pool_size, ${maxPoolSize}${r.has("max_pool_size") ? r.origin("max_pool_size") : " (the default)"}`,
		);
	}
	if (maxEni > 0 && minEni > maxEni) r.fail("min_eni", minEni, `is greater than max_eni (${maxEni})`);
	if (enableIpPrefix && ipamType !== "crd") {
		r.fail("enable_ip_prefix", true, 'needs "ipam_type": "crd" (prefix mode is centralized-IPAM only)');
	}
	if (!enableIpPrefix && (ipv4PrefixCount > 0 || ipv6PrefixCount > 0)) {
		r.warnings.push(
			`${r.path("ipv4_prefix_count")}: prefix counts are ignored without "enable_ip_prefix": true`,
		);
	}
	if (ipStack === "dual" && ipv6PrefixCount > 0) {
		r.warnings.push(`${r.path("ipv6_prefix_count")}: ignored in dual stack (one IPv6 prefix per ENI)`);
	}
	const set = (k: string) => typeof obj[k] === "string" && obj[k] !== "";
	if (set("access_key") && !r.has("access_secret"))
		r.missing("access_secret", "is missing (access_key is set)");
	if (set("access_secret") && !r.has("access_key"))
		r.missing("access_key", "is missing (access_secret is set)");
	if (ipStack === "dual" && config.serviceCidrs.length === 1 && !config.serviceCidrs[0]?.includes(":")) {
		r.warnings.push(`${r.path("service_cidr")}: dual stack with only an IPv4 service CIDR`);
	}
	if (
		config.idleIpReclaimAfterMs !== undefined &&
		config.idleIpReclaimAfterMs < config.idleIpReclaimIntervalMs &&
		r.has("idle_ip_reclaim_interval")
	) {
		// Legal in Terway, but the window is shorter than the cadence; say so.
		r.warnings.push(
			`${r.path("idle_ip_reclaim_after")}: ${formatDuration(config.idleIpReclaimAfterMs)} is shorter than idle_ip_reclaim_interval (${formatDuration(config.idleIpReclaimIntervalMs)})`,
		);
	}

	if (r.issues.length > 0) throw new EniConfigError(r.issues);
	return { config, warnings: r.warnings };
}

/**
 * RFC 7396 JSON Merge Patch: objects merge key by key, `null` deletes, anything else replaces.
 * Terway applies the node's dynamic config this way (`types/daemon/config.go` `MergePatch`).
 */
export function mergePatch(base: JsonObject, patch: Json): JsonObject {
	if (!isObject(patch)) return base;
	const out: JsonObject = { ...base };
	for (const [k, v] of Object.entries(patch)) {
		if (v === null) delete out[k];
		else if (isObject(v)) out[k] = mergePatch(isObject(out[k]) ? (out[k] as JsonObject) : {}, v);
		else out[k] = v;
	}
	return out;
}

/**
 * The effective `eni_conf` of a node: the cluster's base (`kube-system/eni-config` key
 * `eni_conf`) with the node's dynamic config merged over it — the `eni_conf` of the ConfigMap
 * named by the node label `terway-config` (Terway `docs/dynamic-config.md`, `daemon/config.go`).
 * Messages about keys set by the overlay name it.
 *
 * @example
 * resolveEniConf(cm.data.eni_conf, nodeCm?.data.eni_conf, { overlayName: "terway-config-big" })
 */
export function resolveEniConf(
	base: unknown,
	overlay?: unknown,
	opts: { overlayName?: string; path?: string } = {},
): Parsed<EniConfig> {
	const prefix = opts.path ?? "eni_conf";
	const baseObj = toObject(base, prefix);
	if (overlay === undefined || overlay === null || overlay === "")
		return parseEniConf(baseObj, { path: prefix });
	const label = opts.overlayName ? `node config ${opts.overlayName}` : "node config";
	const overlayObj = toObject(overlay, `${prefix} (${label})`);
	const merged = mergePatch(baseObj, overlayObj);
	return parseEniConf(merged, {
		path: prefix,
		origin: (key) => (key in overlayObj ? ` (from ${label})` : ""),
	});
}

/** Keys of the daemon config file. */
export const DAEMON_KEYS = [
	"eni_conf",
	"node_name",
	"kubeconfig",
	"config_map",
	"socket",
	"state_dir",
	"region",
	"zone",
	"instance_id",
	"instance_type",
	"bpf_pin_root",
] as const;

export const DAEMON_DEFAULTS = {
	socket: "/var/run/terway/terwayd.sock",
	stateDir: "/var/lib/terway",
	bpfPinRoot: "/sys/fs/bpf/terway",
	configMap: { namespace: "kube-system", name: "eni-config" },
} as const;

/**
 * Parse `terwayctl daemon --config FILE` (already decoded from JSON/YAML by the caller). See the
 * module header for the format. Issue paths are prefixed `config.` (`config.eni_conf.max_pool_size`).
 */
export function parseDaemonConfig(input: unknown): Parsed<DaemonConfig> {
	const obj = toObject(input, "config");
	const r = new Reader(obj, "config");
	checkKeys(r, DAEMON_KEYS, []);
	let eni: Parsed<EniConfig> | undefined;
	let eniRaw: JsonObject = {};
	if (!r.has("eni_conf")) {
		r.issues.push({
			path: "config.eni_conf",
			value: undefined,
			message: "is missing (an object, may be {})",
		});
	} else {
		try {
			eniRaw = toObject(obj.eni_conf, "config.eni_conf");
			eni = parseEniConf(eniRaw, { path: "config.eni_conf" });
		} catch (e) {
			if (!isEniConfigError(e)) throw e;
			r.issues.push(...e.issues);
		}
	}
	let configMap: DaemonConfig["configMap"] = { ...DAEMON_DEFAULTS.configMap };
	const cm = r.str("config_map", { nonEmpty: true });
	if (cm !== undefined) {
		const m = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)\/([a-z0-9]([-.a-z0-9]*[a-z0-9])?)$/.exec(cm);
		if (m?.[1] && m[3]) configMap = { namespace: m[1], name: m[3] };
		else r.fail("config_map", cm, 'is not "namespace/name"');
	}
	const absPath = (key: string): string | undefined => {
		const v = r.str(key, { nonEmpty: true });
		if (v !== undefined && !v.startsWith("/")) return r.fail(key, v, "is not an absolute path");
		return v;
	};
	const out = {
		nodeName: r.str("node_name", { nonEmpty: true }),
		kubeconfig: r.str("kubeconfig", { nonEmpty: true }),
		socket: absPath("socket") ?? DAEMON_DEFAULTS.socket,
		stateDir: absPath("state_dir") ?? DAEMON_DEFAULTS.stateDir,
		bpfPinRoot: absPath("bpf_pin_root") ?? DAEMON_DEFAULTS.bpfPinRoot,
		region: r.str("region", { nonEmpty: true }),
		zone: r.str("zone", { nonEmpty: true }),
		instanceId: r.str("instance_id", { nonEmpty: true }),
		instanceType: r.str("instance_type", { nonEmpty: true }),
		configMap,
	};
	if (r.issues.length > 0 || !eni) throw new EniConfigError(r.issues);
	return {
		config: { eniConf: eni.config, eniConfRaw: eniRaw, ...out },
		warnings: [...r.warnings, ...eni.warnings],
	};
}
