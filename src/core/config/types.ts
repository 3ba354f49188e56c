/**
 * Typed shapes of terwayctl's daemon configuration: Terway's `eni_conf` JSON (the
 * `kube-system/eni-config` ConfigMap key, Terway `types/daemon/config.go` `Config`) and the
 * daemon's own config file (`terwayctl daemon --config FILE`).
 *
 * Types only. The parsers live in `eni-config.ts` (`parseEniConf`, `resolveEniConf`,
 * `parseDaemonConfig`, `mergePatch`); this file exists so daemon code can be written against the
 * shapes before the parsers land, and so it can import them without pulling parser code.
 *
 * Pure: no I/O. Durations are milliseconds; optional fields are `undefined` when Terway has no
 * default (the daemon then takes the value from metadata or the cluster, as Terway does).
 */

/** `vswitch_selection_policy` as written in `eni_conf` (Terway accepts `random` and `ordered`; we also accept `most`). */
export type VSwitchSelectionPolicyName = "random" | "ordered" | "most";

/**
 * The policy the pool actually applies. Terway maps config `ordered` to "most available IPs
 * first" (`daemon/config.go` `getENIConfig`: "keep the previous behave"); anything else is random.
 */
export type VSwitchPolicy = "random" | "ordered" | "most";

/** `eni_selection_policy` (Terway `daemon.EniSelectionPolicyMostIPs` / `LeastIPs`). */
export type EniSelectionPolicy = "most_ips" | "least_ips";

/** `ip_stack`. Terway's daemon `Validate()` rejects `ipv6`, and so do we (see eni-config.ts). */
export type IpStack = "ipv4" | "dual";

/** `eniip_virtual_type` as written (case-insensitive on input, canonical here). */
export type EniIpVirtualType = "Veth" | "IPVlan";

/** The datapath it selects: `IPVlan` migrates to `datapathv2` as in Terway (`terway-cli cni`). */
export type Datapath = "veth" | "datapathv2";

/** `ipam_type`: `""` = legacy daemon pool, `crd` = centralized IPAM. */
export type IpamType = "" | "crd";

/** One `backoff_override` entry (Terway `pkg/backoff` `wait.Backoff` fields, durations in ms). */
export type BackoffOverride = {
	initialDelayMs?: number;
	durationMs?: number;
	factor?: number;
	jitter?: number;
	steps?: number;
	capMs?: number;
};

/** `eni_tag_block_list` entry. */
export type TagMatch = { key: string; value: string };

/** A validated, defaulted `eni_conf`. Field comments give the JSON key. */
export type EniConfig = {
	/** `version` (informational). */
	version?: string;
	/** `access_key` */
	accessKey?: string;
	/** `access_secret` */
	accessSecret?: string;
	/** `credential_path` */
	credentialPath?: string;
	/** `region_id` (default: from metadata). */
	regionId?: string;
	/** `service_cidr`, comma-separated v4[,v6] → list (default: read from the cluster). */
	serviceCidrs: string[];
	/** `vswitches`: zone → vSwitch ids (default: the node's metadata vSwitch, decided by the daemon). */
	vswitches: Record<string, string[]>;
	/** `vswitch_selection_policy` as written (default `random`). */
	vswitchSelectionPolicy: VSwitchSelectionPolicyName;
	/** Derived from `vswitchSelectionPolicy` the way Terway does (`ordered` → `most`). */
	vswitchPolicy: VSwitchPolicy;
	/** `eni_tags` (`creator=terway` is always added by the daemon, not here). */
	eniTags: Record<string, string>;
	/** `eni_tag_filter` */
	eniTagFilter: Record<string, string>;
	/** `eni_tag_block_list` */
	eniTagBlockList: TagMatch[];
	/** `security_groups` ∪ legacy `security_group`, deduplicated, ≤ 10 (default: the primary ENI's, decided by the daemon). */
	securityGroups: string[];
	/** `resource_group_id` */
	resourceGroupId?: string;
	/** `max_pool_size` (default 0). */
	maxPoolSize: number;
	/** `min_pool_size` (default 0). */
	minPoolSize: number;
	/** `ip_warm_up_size` (default 0). */
	ipWarmUpSize: number;
	/** `min_eni` (default 0). */
	minEni: number;
	/** `max_eni` (default 0 = no cap). */
	maxEni: number;
	/** `eni_cap_ratio` (default 1). */
	eniCapRatio: number;
	/** `eni_cap_shift` (default 0). */
	eniCapShift: number;
	/** `eni_selection_policy` (default `most_ips`). */
	eniSelectionPolicy: EniSelectionPolicy;
	/** `ip_stack` (default `ipv4`). */
	ipStack: IpStack;
	/** `enable_eni_trunking` (default false). */
	enableEniTrunking: boolean;
	/** `enable_erdma` (default false). */
	enableErdma: boolean;
	/** `enable_ip_prefix` (default false). */
	enableIpPrefix: boolean;
	/** `ipv4_prefix_count` (default 0). */
	ipv4PrefixCount: number;
	/** `ipv6_prefix_count` (default 0; 0 or 1). */
	ipv6PrefixCount: number;
	/** `ipam_type` (default `""`). */
	ipamType: IpamType;
	/** `custom_stateful_workload_kinds` (default `["statefulset"]`, lower-cased). */
	customStatefulWorkloadKinds: string[];
	/** `idle_ip_reclaim_after` (unset = reclaim disabled). */
	idleIpReclaimAfterMs?: number;
	/** `idle_ip_reclaim_interval` (default 10m). */
	idleIpReclaimIntervalMs: number;
	/** `idle_ip_reclaim_batch_size` (default 5). */
	idleIpReclaimBatchSize: number;
	/** `idle_ip_reclaim_jitter_factor` (default 0.1; Terway stores it as a string). */
	idleIpReclaimJitterFactor: number;
	/** `ip_pool_sync_period` (default 120s). */
	ipPoolSyncPeriodMs: number;
	/** `backoff_override` */
	backoffOverride: Record<string, BackoffOverride>;
	/** `rate_limit`: API name → calls per minute. */
	rateLimit: Record<string, number>;
	/** `extra_routes` destinations. */
	extraRoutes: string[];
	/** `disable_device_plugin` (default false). */
	disableDevicePlugin: boolean;
	/** `kube_client_qps` (default: client default). */
	kubeClientQps?: number;
	/** `kube_client_burst` (default: client default). */
	kubeClientBurst?: number;
	/** `enable_patch_pod_ips` (default true). */
	enablePatchPodIps: boolean;
	/** `eniip_virtual_type` (terwayctl accepts it in eni_conf too; default `Veth`). */
	eniipVirtualType: EniIpVirtualType;
	/** Derived: `Veth` → `veth`, `IPVlan` → `datapathv2`. */
	datapath: Datapath;
};

/** A JSON value as `JSON.parse` returns it. */
export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type JsonObject = { [k: string]: Json };

/** One validation problem: `path` is the dotted key (`eni_conf.max_pool_size`). */
export type ConfigIssue = { path: string; value: unknown; message: string };

/** Parse result: the config plus non-fatal warnings (ignored legacy keys, clipped values). */
export type Parsed<T> = { config: T; warnings: string[] };

/**
 * The daemon's own config file (`terwayctl daemon --config FILE`), JSON or YAML decoded by the
 * caller. Every field but `eni_conf` is optional; see eni-config.ts for the documented format.
 */
export type DaemonConfig = {
	/** `eni_conf` (object, or a JSON string as stored in the ConfigMap). */
	eniConf: EniConfig;
	/** `eni_conf` before defaults, for overlaying a node's dynamic config later. */
	eniConfRaw: JsonObject;
	/** `node_name` (default: `$NODE_NAME`, decided by the caller). */
	nodeName?: string;
	/** `kubeconfig` path; absent ⇒ in-cluster if available, else standalone. */
	kubeconfig?: string;
	/** `socket` (default `/var/run/terway/terwayd.sock`). */
	socket: string;
	/** `state_dir` (default `/var/lib/terway`). */
	stateDir: string;
	/** `bpf_pin_root`: where the policy agent pins its maps and programs (default `/sys/fs/bpf/terway`). */
	bpfPinRoot: string;
	/** `region` (standalone: overrides metadata). */
	region?: string;
	/** `instance_id` (standalone: overrides metadata). */
	instanceId?: string;
	/** `zone` (standalone: overrides metadata). */
	zone?: string;
	/** `instance_type` (standalone: overrides metadata). */
	instanceType?: string;
	/** `config_map`: where eni_conf lives in-cluster (default `kube-system/eni-config`). */
	configMap: { namespace: string; name: string };
};

/*
 * Signatures of the parsers in eni-config.ts, fixed here so daemon code can be written against them.
 *   parseEniConf(input: unknown, opts?: { path?: string }): Parsed<EniConfig>
 *       input: the `eni_conf` object or its JSON text; throws EniConfigError (all issues at once).
 *   mergePatch(base: JsonObject, patch: Json): JsonObject        // RFC 7396
 *   resolveEniConf(base: unknown, nodeOverlay?: unknown): Parsed<EniConfig>
 *       base = eni-config's eni_conf, nodeOverlay = eni_conf of the ConfigMap named by the node
 *       label `terway-config` (JSON-merge-patched over base, `null` deletes a key).
 *   parseDaemonConfig(input: unknown): Parsed<DaemonConfig>
 *   class EniConfigError extends Error { issues: ConfigIssue[] }
 *   KNOWN_KEYS, IGNORED_LEGACY_KEYS: readonly string[]
 */
