/**
 * @module cloud/endpoints
 *
 * Where the ECS/VPC OpenAPI and the metadata service are, from the environment, the way Go
 * Terway reads it (`pkg/aliyun/credential`, cloud-sim.md §1.1, §5.5) — which is also how
 * the offline cloud (`terwayctl sim`) is reached: it is just a host:port.
 *
 * | Variable | Meaning |
 * |---|---|
 * | `ECS_ENDPOINT` | ECS host[:port]; a URL is accepted and reduced to host[:port] |
 * | `VPC_ENDPOINT` | VPC host[:port]; same |
 * | `ALICLOUD_CLIENT_SCHEME` | `HTTP` or `HTTPS` (default HTTPS); any scheme in the endpoint URL is ignored, as in Terway |
 * | `ALICLOUD_ENDPOINT_TYPE` | `public` → `ecs.<region>.aliyuncs.com` / `vpc.<region>.aliyuncs.com`; default (`vpc`) → `ecs-vpc.<region>.aliyuncs.com` / `vpc-vpc.<region>.aliyuncs.com` |
 * | `TERWAY_METADATA_URL` | metadata origin (default `http://100.100.100.200`); a trailing `/latest/meta-data/` is accepted and dropped |
 *
 * Must not: do I/O. Pure functions over an env record.
 */

export type Env = Record<string, string | undefined>;

export type Protocol = "HTTP" | "HTTPS";

export type Endpoints = {
	regionId: string;
	/** host[:port], no scheme: what the SDK's `Config.endpoint` wants (cloud-sim.md §2.3). */
	ecs: string;
	vpc: string;
	protocol: Protocol;
};

/** The error for a malformed endpoint setting; names the variable. */
export class EndpointConfigError extends Error {
	override readonly name = "EndpointConfigError";
}

/**
 * Reduces `https://host:port/path?q` (or `host:port/path`, or `host`) to `host[:port]`, like
 * Terway does with `ECS_ENDPOINT`. IPv6 literals keep their brackets.
 */
export function hostPort(raw: string, what = "endpoint"): string {
	let s = raw.trim();
	const scheme = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.exec(s);
	if (scheme) s = s.slice(scheme[0].length);
	const end = s.search(/[/?#]/);
	if (end >= 0) s = s.slice(0, end);
	const at = s.lastIndexOf("@");
	if (at >= 0) s = s.slice(at + 1);
	if (s === "" || /\s/.test(s)) throw new EndpointConfigError(`${what}: ${JSON.stringify(raw)} has no host`);
	const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/.exec(s);
	if (!m) throw new EndpointConfigError(`${what}: ${JSON.stringify(raw)} is not host[:port]`);
	if (m[2] !== undefined && (Number(m[2]) < 1 || Number(m[2]) > 65535))
		throw new EndpointConfigError(`${what}: port ${m[2]} in ${JSON.stringify(raw)} is out of range`);
	return s.toLowerCase();
}

/** `ALICLOUD_CLIENT_SCHEME`: HTTP or HTTPS (case-insensitive), default HTTPS. */
export function clientScheme(env: Env = process.env): Protocol {
	const v = env.ALICLOUD_CLIENT_SCHEME?.trim();
	if (!v) return "HTTPS";
	const u = v.toUpperCase();
	if (u === "HTTP" || u === "HTTPS") return u;
	throw new EndpointConfigError(`ALICLOUD_CLIENT_SCHEME: ${JSON.stringify(v)} is not HTTP or HTTPS`);
}

/** Default endpoints of a region: VPC-internal unless `ALICLOUD_ENDPOINT_TYPE=public`. */
export function defaultEndpoints(regionId: string, env: Env = process.env): { ecs: string; vpc: string } {
	if (!/^[a-z0-9-]+$/.test(regionId))
		throw new EndpointConfigError(`region: ${JSON.stringify(regionId)} is not a region id`);
	const type = env.ALICLOUD_ENDPOINT_TYPE?.trim().toLowerCase();
	if (type === "public") return { ecs: `ecs.${regionId}.aliyuncs.com`, vpc: `vpc.${regionId}.aliyuncs.com` };
	if (type && type !== "vpc")
		throw new EndpointConfigError(`ALICLOUD_ENDPOINT_TYPE: ${JSON.stringify(type)} is not "vpc" or "public"`);
	return { ecs: `ecs-vpc.${regionId}.aliyuncs.com`, vpc: `vpc-vpc.${regionId}.aliyuncs.com` };
}

/** Everything the SDK clients need, from the region (metadata `region-id`) and the env. */
export function resolveEndpoints(regionId: string, env: Env = process.env): Endpoints {
	const d = defaultEndpoints(regionId, env);
	const ecs = env.ECS_ENDPOINT?.trim() ? hostPort(env.ECS_ENDPOINT, "ECS_ENDPOINT") : d.ecs;
	const vpc = env.VPC_ENDPOINT?.trim() ? hostPort(env.VPC_ENDPOINT, "VPC_ENDPOINT") : d.vpc;
	return { regionId, ecs, vpc, protocol: clientScheme(env) };
}

/** The real metadata service, as every ECS guest sees it. */
export const DEFAULT_METADATA_URL = "http://100.100.100.200";

/**
 * `TERWAY_METADATA_URL` as an origin (plus any path prefix) without a trailing slash: the
 * client appends `/latest/meta-data/<path>` and `/latest/api/token`. Accepts the value with or
 * without `/latest/meta-data/` (the form cloud-sim.md §5.5 shows).
 */
export function metadataBaseUrl(env: Env = process.env): string {
	const raw = env.TERWAY_METADATA_URL?.trim() || DEFAULT_METADATA_URL;
	let u: URL;
	try {
		u = new URL(raw);
	} catch {
		throw new EndpointConfigError(`TERWAY_METADATA_URL: ${JSON.stringify(raw)} is not a URL`);
	}
	if (u.protocol !== "http:" && u.protocol !== "https:")
		throw new EndpointConfigError(`TERWAY_METADATA_URL: ${JSON.stringify(raw)} must be http(s)`);
	let path = u.pathname.replace(/\/+$/, "");
	path = path.replace(/\/latest(\/meta-data)?$/, "");
	return `${u.protocol}//${u.host}${path}`;
}
