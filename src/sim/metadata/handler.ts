/**
 * The metadata face of the offline cloud: an HTTP handler answering what the ECS instance
 * metadata service at 100.100.100.200 answers, for whichever instance is asking, from a
 * `MetadataSource` (the world, with its metadata lag already applied).
 *
 * What it serves:
 * - `PUT /latest/api/token` (token protocol, tokens.ts): TTL 1..21600 s else 400, a PUT with
 *   `X-Forwarded-For` 403 (as documented for the real service);
 * - `GET /latest/meta-data/<path>` (tree.ts: every path Terway reads plus their directories);
 *   `/2016-01-01/` is the same tree (cloud-init reads that version);
 * - `GET /sim/credentials/<instance-id>`: sim-only, the credentials-URI document for
 *   `ALIBABA_CLOUD_CREDENTIALS_URI` (loopback mode's way to hand the RAM role's STS triple to
 *   `@alicloud/credentials`, whose metadata provider hard-codes 100.100.100.200).
 *
 * Tokens: an invalid, expired or other instance's token → 401 always; no token → allowed unless
 * `hardened`, then `hardenedStatus` (401 by default: the status of the real "hardened only"
 * mode is not documented — a 2022 write-up shows 403 — so it is configurable).
 *
 * Faults (face "metadata", action = the path as logged, see `what` below): `error` (its status,
 * message as the reason phrase), `throttle` (429, Retry-After), `latency` (delay, then answer
 * normally), `hang` (no answer until the client goes away). `metadataLag` is the source's job and
 * `reset` is not supported here; rules of other kinds are left for the faces that act on them.
 *
 * Request log: one entry per request, face "metadata", `what` = the path under
 * `/latest/meta-data/` as requested (`mac`, `network/interfaces/macs/`,
 * `network/interfaces/macs/00:16:3e:00:00:01/private-ipv4s`), or the full URL path for anything
 * else (`/latest/api/token`, `/latest/meta-data/` itself, `/sim/credentials/i-…`). Fault rules
 * match `what` by prefix, so `network/interfaces/macs/` covers every per-ENI path.
 *
 * Must not: mutate the world, or know how it is served (Bun.serve, port, netns) — the caller
 * passes the peer address.
 */
import type { EniView, InstanceView, MetadataSource, RequestLogEntry, WorldHandle } from "../contracts.ts";
import type { FaultEngine } from "../faults.ts";
import type { RequestLog } from "../request-log.ts";
import { ramRoleDocument, StsClock, uriDocument } from "./credentials.ts";
import type { Identify, Peer } from "./identify.ts";
import { errorResponse, reasonPhrase } from "./pages.ts";
import { TOKEN_HEADER, TOKEN_TTL_HEADER, TokenStore } from "./tokens.ts";
import { type MetadataSnapshot, resolve } from "./tree.ts";

export type VpcCidrs = { cidr: string; ipv6Cidr?: string };

export type MetadataHandlerOptions = {
	source: MetadataSource;
	/** Who is asking: identifyBySourceIp (netns), identifyByHeader or identifyAs(id) (loopback). */
	identify: Identify;
	faults?: FaultEngine;
	log?: RequestLog;
	/** Upper bound of a token's TTL in seconds (the real service: 21600). */
	tokenTtlMaxSeconds?: number;
	/** "Hardened only" mode: a GET without a token is refused. Default false (tokens optional). */
	hardened?: boolean;
	/** The status a tokenless GET gets in hardened mode (default 401). */
	hardenedStatus?: number;
	/**
	 * The VPC's CIDRs for `vpc-cidr-block`. Default: the world's scenario VPC when `source` is a
	 * WorldHandle (MetadataSource itself carries no VPC CIDR); else that path is 404.
	 */
	vpcCidrs?: (vpcId: string) => VpcCidrs | undefined;
	/** Clock for token expiry and LastUpdated (ms since the epoch). Default Date.now. */
	now?: () => number;
	/** How `latency` faults wait. Default Bun.sleep. */
	sleep?: (ms: number) => Promise<void>;
};

export type MetadataHandler = (req: Request, peer: Peer) => Promise<Response>;

type Route =
	| { kind: "token" }
	| { kind: "meta"; segments: string[] }
	| { kind: "list"; entries: string[] }
	| { kind: "credentialsUri"; instanceId: string }
	| { kind: "unknown" };

const META_VERSIONS = ["2016-01-01", "latest"];

/** Classify a URL path; `what` is how it is logged and how fault rules match it. */
function route(pathname: string): { route: Route; what: string } {
	if (pathname === "/latest/api/token") return { route: { kind: "token" }, what: pathname };
	const cred = /^\/sim\/credentials\/([^/]+)\/?$/.exec(pathname);
	if (cred) return { route: { kind: "credentialsUri", instanceId: cred[1]! }, what: pathname };
	if (pathname === "/") return { route: { kind: "list", entries: META_VERSIONS }, what: pathname };
	const m = /^\/([^/]+)(\/.*)?$/.exec(pathname);
	const version = m?.[1];
	if (version && META_VERSIONS.includes(version)) {
		const rest = m[2] ?? "";
		if (rest === "" || rest === "/")
			return { route: { kind: "list", entries: ["meta-data/"] }, what: pathname };
		const meta = /^\/meta-data(?:\/(.*))?$/.exec(rest);
		if (meta) {
			const rel = meta[1] ?? "";
			const segments = rel
				.split("/")
				.filter((s) => s !== "")
				.map((s) => {
					try {
						return decodeURIComponent(s); // "00%3A16%3A3e…" from clients that encode ":"
					} catch {
						return s;
					}
				});
			return {
				route: { kind: "meta", segments },
				what: segments.length === 0 ? `/${version}/meta-data/` : rel,
			};
		}
	}
	return { route: { kind: "unknown" }, what: pathname };
}

/** The ENIs metadata shows, primary first (added from the instance if the source omits it). */
function enisOf(source: MetadataSource, instance: InstanceView): EniView[] {
	const shown = source.metadataEnis(instance.instanceId);
	const primaryMac = instance.primaryEni.mac.toLowerCase();
	const primary = shown.find((e) => e.mac.toLowerCase() === primaryMac) ?? instance.primaryEni;
	return [primary, ...shown.filter((e) => e.mac.toLowerCase() !== primaryMac)];
}

function defaultVpcCidrs(source: MetadataSource): (vpcId: string) => VpcCidrs | undefined {
	const scenario = (source as Partial<WorldHandle>).scenario;
	return (vpcId) => (scenario?.vpc.id === vpcId ? scenario.vpc : undefined);
}

function text(body: string, status = 200, headers: Record<string, string> = {}): Response {
	return new Response(body, { status, headers: { "content-type": "text/plain", ...headers } });
}

/** A text response for sim-only conditions that have no real-service counterpart. */
function simError(status: number, message: string): Response {
	return text(`sim: ${message}\n`, status, { "x-sim-error": message });
}

/** Resolves when the client goes away (Bun aborts `req.signal` on disconnect and on server stop). */
function untilAborted(signal: AbortSignal): Promise<void> {
	if (signal.aborted) return Promise.resolve();
	return new Promise((done) => signal.addEventListener("abort", () => done(), { once: true }));
}

/**
 * @example
 * const handler = createMetadataHandler({ source: world, identify: identifyByHeader, faults, log });
 * Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: (req, srv) => handler(req, srv.requestIP(req) ?? { address: "" }) });
 */
export function createMetadataHandler(opts: MetadataHandlerOptions): MetadataHandler {
	const { source, identify, faults, log } = opts;
	const now = opts.now ?? Date.now;
	const sleep = opts.sleep ?? ((ms: number) => Bun.sleep(ms));
	const tokens = new TokenStore(now, opts.tokenTtlMaxSeconds);
	const sts = new StsClock(now);
	const vpcCidrs = opts.vpcCidrs ?? defaultVpcCidrs(source);
	const hardenedStatus = opts.hardenedStatus ?? 401;

	return async (req, peer) => {
		const started = performance.now();
		const { route: r, what } = route(new URL(req.url).pathname);
		let instanceId: string | undefined;
		let fault: string | undefined;
		let detail: Record<string, unknown> | undefined;
		const done = (res: Response): Response => {
			const entry: Omit<RequestLogEntry, "seq" | "time"> = {
				face: "metadata",
				what,
				status: res.status,
				durationMs: Math.round((performance.now() - started) * 1000) / 1000,
			};
			if (instanceId) entry.instanceId = instanceId;
			if (fault) entry.fault = fault;
			if (req.method !== "GET" || detail) entry.detail = { method: req.method, ...detail };
			log?.record(entry);
			if (req.method === "HEAD") return new Response(null, { status: res.status, headers: res.headers });
			return res;
		};

		try {
			// Who is asking. The credentials-URI endpoint names its instance in the path, because
			// the client (ALIBABA_CLOUD_CREDENTIALS_URI) can send neither a header nor a token.
			let instance: InstanceView | undefined;
			if (r.kind === "credentialsUri") {
				instance = source.instance(decodeURIComponent(r.instanceId));
				if (!instance) return done(simError(404, `no instance ${r.instanceId}`));
			} else {
				instance = identify(req, peer, source);
				if (!instance) {
					detail = { peer: peer.address };
					return done(
						simError(
							403,
							`cannot tell which instance is asking (peer ${peer.address}; in loopback mode send X-Sim-Instance-Id)`,
						),
					);
				}
			}
			instanceId = instance.instanceId;

			const hit = faults?.check({ face: "metadata", action: what, instanceId }, [
				"error",
				"throttle",
				"latency",
				"hang",
			]);
			if (hit) {
				fault = hit.rule.id;
				const e = hit.effect;
				if (e.kind === "error") {
					return done(errorResponse(e.status, { "x-sim-fault": fault }, e.message ?? reasonPhrase(e.status)));
				}
				if (e.kind === "throttle") {
					const headers: Record<string, string> = { "x-sim-fault": fault };
					if (e.retryAfterMs !== undefined) headers["retry-after"] = String(Math.ceil(e.retryAfterMs / 1000));
					return done(errorResponse(429, headers));
				}
				if (e.kind === "latency") {
					await sleep(e.ms + (e.jitterMs ? Math.random() * e.jitterMs : 0));
				} else if (e.kind === "hang") {
					// Logged now (a test may be waiting for it while the client hangs); never answered.
					detail = { hang: true };
					const res = done(errorResponse(504));
					await untilAborted(req.signal);
					return res;
				}
			}

			if (r.kind === "token") {
				if (req.method !== "PUT") return done(errorResponse(405, { allow: "PUT" }));
				// Documented: a token request relayed by a proxy is refused (anti-SSRF).
				if (req.headers.has("x-forwarded-for")) return done(errorResponse(403));
				const ttl = tokens.parseTtl(req.headers.get(TOKEN_TTL_HEADER));
				if (ttl === undefined) {
					detail = { ttl: req.headers.get(TOKEN_TTL_HEADER) };
					return done(errorResponse(400));
				}
				return done(text(tokens.mint(instanceId, ttl), 200, { [TOKEN_TTL_HEADER]: String(ttl) }));
			}

			if (req.method !== "GET" && req.method !== "HEAD") {
				return done(errorResponse(405, { allow: "GET, HEAD" }));
			}

			if (r.kind === "credentialsUri") {
				const creds = source.stsCredentials(instanceId);
				const body = uriDocument(creds, sts.lastUpdated(instanceId, creds));
				return done(new Response(body, { headers: { "content-type": "application/json" } }));
			}

			const token = req.headers.get(TOKEN_HEADER);
			if (token !== null) {
				const check = tokens.check(token.trim(), instanceId);
				if (check !== "ok") {
					detail = { token: check };
					return done(errorResponse(401));
				}
			} else if (opts.hardened) {
				detail = { token: "missing" };
				return done(errorResponse(hardenedStatus));
			}

			if (r.kind === "list") return done(text(r.entries.join("\n")));
			if (r.kind === "unknown") return done(errorResponse(404));

			const inst = instance;
			const snapshot: MetadataSnapshot = {
				instance: inst,
				enis: enisOf(source, inst),
				ramCredentials: () => {
					const creds = source.stsCredentials(inst.instanceId);
					return ramRoleDocument(creds, sts.lastUpdated(inst.instanceId, creds));
				},
			};
			const vpc = vpcCidrs(inst.vpcId);
			if (vpc) snapshot.vpc = vpc;
			const found = resolve(snapshot, r.segments);
			if (found.kind === "notFound") return done(errorResponse(404));
			return done(text(found.kind === "dir" ? found.entries.join("\n") : found.body));
		} catch (err) {
			detail = { error: err instanceof Error ? err.message : String(err) };
			return done(errorResponse(500));
		}
	};
}
