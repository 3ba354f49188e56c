/**
 * @module cloud
 *
 * terwayd's Alibaba Cloud clients: `EcsApi` (ECS + VPC over the official SDKs), `MetadataApi`
 * (the instance metadata service), the credential chain, endpoints from the environment, and
 * the retry/rate-limit/ClientToken machinery. The daemon codes against the interfaces in
 * types.ts; `createCloud` wires the real implementations.
 *
 * Environment: `ECS_ENDPOINT`, `VPC_ENDPOINT`, `ALICLOUD_CLIENT_SCHEME`, `ALICLOUD_ENDPOINT_TYPE`,
 * `TERWAY_METADATA_URL`, `TERWAY_SIM_INSTANCE_ID`, `ALIBABA_CLOUD_ACCESS_KEY_ID`,
 * `ALIBABA_CLOUD_ACCESS_KEY_SECRET`, `ALIBABA_CLOUD_SECURITY_TOKEN`, `TERWAY_CREDENTIAL_FILE`,
 * `IDEMPOTENT_KEY_CACHE_SIZE` (see each module's header).
 */
import { type CredentialChainOptions, type CredentialProvider, credentialChain } from "./credentials.ts";
import { AliyunEcs, type EcsClientOptions } from "./ecs.ts";
import type { Env } from "./endpoints.ts";
import { MetadataClient, type MetadataClientOptions } from "./metadata.ts";

export * from "./credentials.ts";
export * from "./ecs.ts";
export * from "./endpoints.ts";
export * from "./metadata.ts";
export * from "./retry.ts";
export * from "./types.ts";

export type CreateCloudOptions = {
	env?: Env;
	/** Region; default metadata `region-id`. */
	regionId?: string;
	metadata?: MetadataClientOptions;
	credentials?: Omit<CredentialChainOptions, "metadata" | "env">;
	ecs?: Omit<EcsClientOptions, "regionId" | "credentials" | "env">;
};

export type Cloud = {
	ecs: AliyunEcs;
	metadata: MetadataClient;
	credentials: CredentialProvider;
};

/**
 * The daemon's cloud: metadata client first (it knows the region and, without an AccessKey,
 * hands out the RAM role's STS credentials), then the credential chain, then ECS/VPC.
 */
export async function createCloud(opts: CreateCloudOptions = {}): Promise<Cloud> {
	const env = opts.env ?? process.env;
	const metadata = new MetadataClient({ env, ...opts.metadata });
	const regionId = opts.regionId ?? (await metadata.regionId());
	const credentials = credentialChain({ ...opts.credentials, metadata, env });
	const ecs = new AliyunEcs({ ...opts.ecs, regionId, credentials, env });
	return { ecs, metadata, credentials };
}
