/**
 * Gathers what `eni list|inspect|delete` compare: this instance's ENIs from the cloud API, the
 * metadata's MAC tree, terwayd's /v1/enis and the local links. Each source may fail on its own;
 * its failure is recorded (one line) and the others still answer.
 *
 * Cloud configuration comes from the same places as terwayd's: `--config FILE` (the daemon config;
 * eni_conf `access_key`/`access_secret`, `credential_path`, `region_id`), else the environment
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
	/** terwayd's config file, for the cloud credentials and region. */
	config?: string | undefined;
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

/** The cloud keys of a daemon config file (`eni_conf` object or JSON string). */
export function cloudConfigFrom(path: string): CloudConfig {
	let raw: unknown;
	try {
		const text = readFileSync(path, "utf8");
		raw = /\.ya?ml$/i.test(path) ? Bun.YAML.parse(text) : JSON.parse(text);
	} catch (e) {
		throw new ExitError(`--config ${path}: ${(e as Error).message}`, EXIT.usage);
	}
	let conf = (raw as { eni_conf?: unknown })?.eni_conf ?? raw;
	if (typeof conf === "string") {
		try {
			conf = JSON.parse(conf);
		} catch {
			throw new ExitError(`--config ${path}: eni_conf is a string but not JSON`, EXIT.usage);
		}
	}
	const o = (conf ?? {}) as Record<string, unknown>;
	const str = (k: string) => (typeof o[k] === "string" && o[k] !== "" ? (o[k] as string) : undefined);
	const top = (raw ?? {}) as Record<string, unknown>;
	const region = str("region_id") ?? (typeof top.region === "string" ? top.region : undefined);
	return {
		...(str("access_key") ? { accessKeyId: str("access_key") } : {}),
		...(str("access_secret") ? { accessKeySecret: str("access_secret") } : {}),
		...(str("credential_path") ? { credentialPath: str("credential_path") } : {}),
		...(region ? { regionId: region } : {}),
	};
}

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
		backoffs: {
			WaitENIStatus: {
				initialDelayMs: 300,
				durationMs: 500,
				factor: 1.5,
				jitter: 0.2,
				steps: 20,
				capMs: 5000,
			},
			ENIDeleteConfirm: {
				initialDelayMs: 300,
				durationMs: 500,
				factor: 1.5,
				jitter: 0.2,
				steps: 20,
				capMs: 5000,
			},
		},
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
	const enis: MetadataEni[] = await Promise.all(macs.map((mac) => md.eni(mac)));
	return { instanceId, regionId, primaryMac: primaryMac.toLowerCase(), enis };
}

/** Everything, each source on its own; throws only when no instance can be named at all. */
export async function gather(opts: SourceOptions): Promise<Gathered> {
	const cfg = opts.config ? cloudConfigFrom(opts.config) : {};
	const md = cliMetadataClient();
	const api = new DaemonApi(socketPath(opts.socket));
	const [meta, daemon, status] = await Promise.allSettled([
		fromMetadata(md),
		api.get<EniInfo[]>("/v1/enis"),
		api.get<StatusResponse>("/v1/status"),
	]);
	const state: Gathered["state"] = {
		cloud: { ok: false },
		metadata: meta.status === "fulfilled" ? { ok: true } : fail(meta.reason),
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
			state.cloud = { ok: true };
		} catch (e) {
			state.cloud = fail(e);
		}
	}
	return { sources, state, regionId, ecs };
}
