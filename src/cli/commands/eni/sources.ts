/**
 * Gathers what `eni list|inspect|delete` compare: this instance's ENIs from the cloud API, the
 * metadata's MAC tree, terwayd's /v1/enis and the local links. Each source may fail on its own;
 * its failure is recorded (one line) and the others still answer.
 *
 * Cloud configuration comes from the same places as terwayd's: the cluster's `kube-system/eni-config`
 * ConfigMap (`--kubeconfig`, else $KUBECONFIG, else in-cluster) with `--config FILE` (the daemon
 * config) over it — eni_conf `access_key`/`access_secret`, `credential_path`, `region_id` — else the environment
 * (`ALIBABA_CLOUD_ACCESS_KEY_ID`/`SECRET`, `TERWAY_CREDENTIAL_FILE`, `ECS_ENDPOINT`, ...), else the
 * instance RAM role through metadata (src/cloud/credentials.ts). The region defaults to metadata's.
 */
import { readFileSync } from "node:fs";
import {
	AliyunEcs,
	credentialChain,
	type Eni,
	type MetadataClient,
	type MetadataEni,
} from "../../../cloud/index.ts";
import type { EniInfo, StatusResponse } from "../../../daemon/api-types.ts";
import { DaemonApi, socketPath } from "../../daemon-api.ts";
import { EXIT, ExitError, errorLine } from "../../errors.ts";
import { cliMetadataClient, localLinksByMac } from "../metadata/index.ts";
import { type Sources, TAG_INSTANCE } from "./merge.ts";

export type SourceOptions = {
	socket?: string | undefined;
	/** terwayd's config file, for the cloud credentials and region (over the ConfigMap's). */
	config?: string | undefined;
	/** Where the eni-config ConfigMap is read (default $KUBECONFIG, else in-cluster, else not). */
	kubeconfig?: string | undefined;
};

export type SourceState = { ok: boolean; error?: string; note?: string };

export type Gathered = {
	sources: Sources;
	state: { cloud: SourceState; metadata: SourceState; daemon: SourceState; kernel: SourceState };
	regionId?: string | undefined;
	/** The cloud client, when one could be built (delete uses it). */
	ecs?: AliyunEcs | undefined;
};

type CloudConfig = {
	accessKeyId?: string;
	accessKeySecret?: string;
	credentialPath?: string;
	regionId?: string;
};
type Json = Record<string, unknown>;

/** A daemon config file: its `eni_conf` (object, or a JSON string as in the ConfigMap) and its top level. */
export function readConfigFile(path: string): { eniConf: Json; top: Json } {
	let raw: unknown;
	try {
		const text = readFileSync(path, "utf8");
		raw = /\.ya?ml$/i.test(path) ? Bun.YAML.parse(text) : JSON.parse(text);
	} catch (e) {
		throw new ExitError(`--config ${path}: ${(e as Error).message}`, EXIT.usage);
	}
	const top = (raw ?? {}) as Json;
	let conf = top.eni_conf ?? raw;
	if (typeof conf === "string") {
		try {
			conf = JSON.parse(conf);
		} catch {
			throw new ExitError(`--config ${path}: eni_conf is a string but not JSON`, EXIT.usage);
		}
	}
	return { eniConf: (conf ?? {}) as Json, top };
}

/** The cloud keys of an eni_conf (Terway's names) and a daemon config's top-level `region`. */
export function cloudKeys(eniConf: Json, top: Json = {}): CloudConfig {
	const str = (o: Json, k: string) =>
		typeof o[k] === "string" && o[k] !== "" ? (o[k] as string) : undefined;
	const region = str(eniConf, "region_id") ?? str(top, "region");
	const id = str(eniConf, "access_key");
	const secret = str(eniConf, "access_secret");
	const file = str(eniConf, "credential_path");
	return {
		...(id ? { accessKeyId: id } : {}),
		...(secret ? { accessKeySecret: secret } : {}),
		...(file ? { credentialPath: file } : {}),
		...(region ? { regionId: region } : {}),
	};
}

/** The cloud keys of a daemon config file. */
export function cloudConfigFrom(path: string): CloudConfig {
	const { eniConf, top } = readConfigFile(path);
	return cloudKeys(eniConf, top);
}

/**
 * `eni_conf` of the cluster's `kube-system/eni-config` ConfigMap, terwayd's base config, when a
 * kubeconfig is given (flag, else $KUBECONFIG) or we run in a pod. Undefined without a cluster;
 * a read failure is a note, not an error (the environment may still hold credentials).
 */
export async function clusterEniConf(kubeconfig?: string): Promise<{ eniConf?: Json; note?: string }> {
	const { KubeClient, loadKubeConfig } = await import("../../../k8s/client.ts");
	const file = kubeconfig || process.env.KUBECONFIG || undefined;
	try {
		const loaded = loadKubeConfig(file ? { kubeconfig: file } : {});
		if (!loaded) return {};
		const kube = new KubeClient(loaded, { timeoutMs: 5_000 });
		const cm = await kube.core.readNamespacedConfigMap({ name: "eni-config", namespace: "kube-system" });
		const text = cm.data?.eni_conf;
		if (text === undefined) return { note: "ConfigMap kube-system/eni-config has no eni_conf" };
		return { eniConf: JSON.parse(text) as Json };
	} catch (e) {
		return { note: `ConfigMap kube-system/eni-config not read (${errorLine(e)})` };
	}
}

/** How the CLI waits for an ENI's status and for a delete to show: 20 polls at most, 5 s apart at most. */
const CLI_WAIT = { initialDelayMs: 300, durationMs: 500, factor: 1.5, jitter: 0.2, steps: 20, capMs: 5000 };

/** The CLI's ECS client: terwayd's sources, and short status polls (a person is waiting). */
export function cliEcs(regionId: string, md: MetadataClient, cfg: CloudConfig): AliyunEcs {
	const credentials = credentialChain({
		...(cfg.accessKeyId ? { accessKeyId: cfg.accessKeyId } : {}),
		...(cfg.accessKeySecret ? { accessKeySecret: cfg.accessKeySecret } : {}),
		...(cfg.credentialPath ? { credentialPath: cfg.credentialPath } : {}),
		metadata: md,
	});
	return new AliyunEcs({
		regionId,
		credentials,
		timeoutMs: 10_000,
		userAgent: "terwayctl-cli",
		backoffs: { WaitENIStatus: CLI_WAIT, ENIDeleteConfirm: CLI_WAIT },
	});
}

const fail = (e: unknown): SourceState => ({ ok: false, error: errorLine(e) });

/** Metadata: instance, region, primary MAC and every attached ENI. */
async function fromMetadata(md: MetadataClient) {
	const [instanceId, regionId, primaryMac, macs] = await Promise.all([
		md.instanceId(),
		md.regionId(),
		md.primaryMac(),
		md.macs(),
	]);
	// a MAC can be listed while its details are already (detach) or not yet (attach) there: skip it, say so
	const got = await Promise.allSettled(macs.map((mac) => md.eni(mac)));
	const enis: MetadataEni[] = [];
	const partial: string[] = [];
	got.forEach((r, i) => {
		if (r.status === "fulfilled") enis.push(r.value);
		else partial.push(`MAC ${macs[i]} is listed but its details are not readable (${errorLine(r.reason)})`);
	});
	return { instanceId, regionId, primaryMac: primaryMac.toLowerCase(), enis, partial };
}

/** Everything, each source on its own; throws only when no instance can be named at all. */
export async function gather(opts: SourceOptions): Promise<Gathered> {
	// terwayd's order: the ConfigMap's eni_conf, the config file's over it
	const file = opts.config ? readConfigFile(opts.config) : undefined;
	const cluster = await clusterEniConf(opts.kubeconfig);
	const cfg = cloudKeys({ ...cluster.eniConf, ...file?.eniConf }, file?.top);
	const md = cliMetadataClient();
	const api = new DaemonApi(socketPath(opts.socket));
	const [meta, daemon, status] = await Promise.allSettled([
		fromMetadata(md),
		api.get<EniInfo[]>("/v1/enis"),
		api.get<StatusResponse>("/v1/status"),
	]);
	const state: Gathered["state"] = {
		cloud: { ok: false },
		metadata:
			meta.status === "fulfilled"
				? { ok: true, ...(meta.value.partial.length ? { note: meta.value.partial.join("; ") } : {}) }
				: fail(meta.reason),
		daemon: daemon.status === "fulfilled" ? { ok: true } : fail(daemon.reason),
		kernel: { ok: false },
	};
	const instanceId =
		meta.status === "fulfilled"
			? meta.value.instanceId
			: status.status === "fulfilled"
				? status.value.instanceId
				: "";
	if (!instanceId)
		throw new ExitError(
			`cannot tell which instance this is: metadata: ${state.metadata.error}; terwayd: ${state.daemon.error}`,
		);
	const sources: Sources = { instanceId };
	if (meta.status === "fulfilled") {
		sources.metadata = meta.value.enis;
		sources.primaryMac = meta.value.primaryMac;
	}
	if (daemon.status === "fulfilled") sources.daemon = daemon.value;

	// kernel: only when this namespace holds the node's primary ENI (else every link would look missing)
	const links = await localLinksByMac();
	if (!links) state.kernel = { ok: false, error: "netlink (libnl-route-3) is not available" };
	else if (sources.primaryMac && !links.has(sources.primaryMac))
		state.kernel = {
			ok: false,
			note: `skipped: no local link has the primary ENI's MAC ${sources.primaryMac} (not the node's network namespace)`,
		};
	else if (!sources.primaryMac)
		state.kernel = { ok: false, note: "skipped: metadata did not name the primary MAC" };
	else {
		sources.links = links;
		state.kernel = { ok: true };
	}

	// cloud: this instance's ENIs, plus detached ones terway tagged for it (leftovers)
	const regionId = cfg.regionId ?? (meta.status === "fulfilled" ? meta.value.regionId : undefined);
	let ecs: AliyunEcs | undefined;
	if (!regionId)
		state.cloud = { ok: false, error: "no region: metadata is unreachable and --config has no region_id" };
	else {
		try {
			ecs = cliEcs(regionId, md, cfg);
			const [attached, tagged] = await Promise.all([
				ecs.describeEnis({ instanceId }),
				ecs.describeEnis({ tags: { [TAG_INSTANCE]: instanceId } }),
			]);
			const byId = new Map<string, Eni>();
			for (const e of [...attached, ...tagged]) byId.set(e.eniId, e);
			sources.cloud = [...byId.values()];
			state.cloud = { ok: true, ...(cluster.note ? { note: cluster.note } : {}) };
		} catch (e) {
			state.cloud = { ...fail(e), ...(cluster.note ? { note: cluster.note } : {}) };
		}
	}
	return { sources, state, regionId, ecs };
}
