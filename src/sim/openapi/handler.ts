/**
 * The sim's ECS/VPC OpenAPI face as a fetch-style handler (`(req, ctx) => Promise<Response>`,
 * Bun.serve shaped); whoever starts the server mounts it. It does, in order:
 * read the request (query + form body), authenticate (ACS3-HMAC-SHA256 or legacy HMAC-SHA1,
 * against the scenario's AccessKeys and issued STS triples), resolve the action by
 * `x-acs-action`/`Action` + `x-acs-version`/`Version`, consult the FaultEngine (face "openapi"),
 * check RegionId, apply ClientToken idempotency, run the action on the world, answer JSON, and
 * record the request in the RequestLog. Errors use `{RequestId, HostId, Code, Message, Recommend}`
 * with the status of cloud-sim.md §1.5. A rejected request changes nothing in the world.
 */
import { createHash, randomUUID } from "node:crypto";
import type { FaultRule } from "../contracts.ts";
import type { FaultEngine } from "../faults.ts";
import type { RequestLog } from "../request-log.ts";
import { CloudError, errs, isCloudError } from "../world/errors.ts";
import type { World } from "../world/world.ts";
import { ACTIONS, type ActionSpec, PRODUCT } from "./actions.ts";
import { Params } from "./params.ts";
import { type AuthResult, type SignedRequest, signatureNonce, verifyRequest } from "./signature.ts";

export type OpenApiOptions = {
	faults?: FaultEngine;
	log?: RequestLog;
	/** Check signatures (default true). With false any AccessKeyId is accepted. */
	verifySignatures?: boolean;
	/** Reject a replayed signature nonce (off by default, cloud-sim.md §1.4). */
	rejectNonceReplay?: boolean;
	/** Code for "same ClientToken still being processed" (unverified name; default "IdempotentProcessing"). */
	idempotentProcessingCode?: string;
};

/** What the server composer may tell the handler about the connection. */
export type OpenApiContext = { peer?: string };

export interface OpenApiHandler {
	(req: Request, ctx?: OpenApiContext): Promise<Response>;
	/** Release requests held by a `hang` fault (answer them 503) so a server can stop. */
	close(): void;
}

/** Parameters that belong to the signature/protocol, not to the call (excluded from ClientToken hashes). */
const PROTOCOL_PARAMS = new Set([
	"Action",
	"Version",
	"Format",
	"Timestamp",
	"SignatureNonce",
	"SignatureMethod",
	"SignatureVersion",
	"Signature",
	"AccessKeyId",
	"SecurityToken",
	"ClientToken",
]);

const upperUuid = () => randomUUID().toUpperCase();

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
	return new Response(JSON.stringify(body), {
		status,
		headers: { "content-type": "application/json;charset=utf-8", ...headers },
	});
}

export function createOpenApiHandler(world: World, opts: OpenApiOptions = {}): OpenApiHandler {
	const verify = opts.verifySignatures ?? true;
	const processingCode = opts.idempotentProcessingCode ?? "IdempotentProcessing";
	const inflight = new Set<string>();
	const nonces = new Set<string>();
	const hung = new Set<() => void>();

	const handler = async (req: Request, _ctx: OpenApiContext = {}): Promise<Response> => {
		const t0 = performance.now();
		const requestId = upperUuid();
		let action = "";
		let version = "";
		let ids: { instanceId?: string; eniId?: string } = {};
		let fired: FaultRule | undefined;
		let auth: AuthResult | undefined;
		let product = PRODUCT["2014-05-26"]!;
		const logIt = (status: number, code?: string, extra: Record<string, unknown> = {}) => {
			opts.log?.record({
				face: "openapi",
				what: action || "(none)",
				status,
				...(code ? { code } : {}),
				durationMs: Math.round((performance.now() - t0) * 100) / 100,
				...ids,
				...(fired ? { fault: fired.id } : {}),
				detail: {
					requestId,
					version,
					...(auth ? { auth: auth.scheme, accessKeyId: auth.accessKeyId } : {}),
					...extra,
				},
			});
		};
		const fail = (e: CloudError, headers: Record<string, string> = {}) => {
			logIt(e.status, e.code);
			return json(
				e.status,
				{
					RequestId: requestId,
					HostId: product.host,
					Code: e.code,
					Message: e.message,
					Recommend: `https://api.aliyun.com/troubleshoot?q=${encodeURIComponent(e.code)}&product=${product.name}&requestId=${requestId}`,
				},
				headers,
			);
		};

		try {
			const url = new URL(req.url);
			const body = new Uint8Array(await req.arrayBuffer());
			const query = [...url.searchParams.entries()];
			const raw: Record<string, string> = Object.fromEntries(query);
			const ctype = req.headers.get("content-type") ?? "";
			if (body.length > 0 && ctype.startsWith("application/x-www-form-urlencoded")) {
				for (const [k, v] of new URLSearchParams(new TextDecoder().decode(body))) raw[k] = v;
			}
			action = req.headers.get("x-acs-action") ?? raw.Action ?? "";
			version = req.headers.get("x-acs-version") ?? raw.Version ?? "";
			product = PRODUCT[version] ?? product;
			const p = new Params(raw);
			ids = {
				...(p.str("InstanceId") ? { instanceId: p.str("InstanceId")! } : {}),
				...((p.str("NetworkInterfaceId") ?? p.str("NetworkInterfaceId.1"))
					? { eniId: (p.str("NetworkInterfaceId") ?? p.str("NetworkInterfaceId.1"))! }
					: {}),
			};

			if (req.method !== "POST" && req.method !== "GET")
				throw new CloudError("UnsupportedHTTPMethod", 405, `HTTP method ${req.method} is not supported.`);
			const signed: SignedRequest = {
				method: req.method,
				pathname: url.pathname,
				headers: req.headers,
				query,
				params: raw,
				body,
			};
			if (verify) auth = verifyRequest(signed, world);
			if (opts.rejectNonceReplay) {
				const nonce = signatureNonce(signed);
				if (nonce && nonces.has(nonce))
					throw new CloudError("SignatureNonceUsed", 400, "The request signature nonce has been used.");
				if (nonce) nonces.add(nonce);
			}
			if (!action) throw errs.missing("Action");
			if (!version) throw errs.missing("Version");
			const spec: ActionSpec | undefined = ACTIONS[version]?.[action];
			if (!spec)
				throw new CloudError(
					"InvalidAction.NotFound",
					404,
					`Specified api "${action}" is not found in version ${JSON.stringify(version)}, please check your url and method.`,
				);

			// faults: latency first (then the request goes on), then one terminal effect
			const fctx = { face: "openapi" as const, action, ...ids };
			const lat = opts.faults?.check(fctx, ["latency"]);
			const token = spec.idempotent ? p.str("ClientToken") : undefined;
			const tokenKey = token ? `${action}\u0000${token}` : undefined;
			if (tokenKey && inflight.has(tokenKey))
				throw new CloudError(
					processingCode,
					400,
					"A request with the same ClientToken is still being processed.",
				);
			if (tokenKey) inflight.add(tokenKey);
			try {
				if (lat?.effect.kind === "latency") {
					fired = lat.rule;
					const jitter = lat.effect.jitterMs ? Math.random() * lat.effect.jitterMs : 0;
					await Bun.sleep(lat.effect.ms + jitter);
				}
				const kinds = [
					"error",
					"throttle",
					"hang",
					"reset",
					...(spec.allocatesFrom ? ["ipExhausted" as const] : []),
				] as const;
				const hit = opts.faults?.check(fctx, kinds);
				let reset = false;
				if (hit) {
					fired = hit.rule;
					const ef = hit.effect;
					if (ef.kind === "error")
						throw new CloudError(ef.code, ef.status, ef.message ?? `Injected fault ${hit.rule.id}.`);
					if (ef.kind === "throttle") {
						const after = String(Math.ceil((ef.retryAfterMs ?? 1000) / 1000));
						return fail(new CloudError("Throttling", 400, "Request was denied due to request throttling."), {
							"x-acs-retry-after": after,
						});
					}
					if (ef.kind === "ipExhausted")
						throw errs.ipNotEnough(spec.allocatesFrom?.(p, world) ?? "(unknown)");
					if (ef.kind === "hang") {
						await new Promise<void>((resolve) => {
							const done = () => {
								hung.delete(done);
								resolve();
							};
							hung.add(done);
							req.signal.addEventListener("abort", done, { once: true });
						});
						logIt(0, "Hang", { hung: true });
						return json(503, {
							RequestId: requestId,
							Code: "ServiceUnavailable",
							Message: "released from hang",
						});
					}
					if (ef.kind === "reset") reset = true;
				}

				if (world.closed) throw new CloudError("ServiceUnavailable", 503, "The world is shut down.");
				if (spec.region) {
					const region = p.str("RegionId");
					if (!region) throw errs.missing("RegionId");
					if (region !== world.scenario.region)
						throw new CloudError(
							"InvalidRegionId.NotFound",
							404,
							`The specified RegionId "${region}" does not exist.`,
						);
				}

				let out: Record<string, unknown>;
				let replayed = false;
				const hash = tokenKey ? paramsHash(action, raw) : "";
				const prior = tokenKey ? world.recallToken(tokenKey) : undefined;
				if (prior) {
					if (prior.hash !== hash)
						throw new CloudError(
							"IdempotentParameterMismatch",
							400,
							"The ClientToken was used before with different parameters.",
						);
					out = prior.body;
					replayed = true;
				} else {
					out = spec.run(p, world);
					if (tokenKey) world.rememberToken(tokenKey, hash, out);
				}
				if (!ids.eniId && typeof out.NetworkInterfaceId === "string")
					ids = { ...ids, eniId: out.NetworkInterfaceId };
				logIt(200, undefined, replayed ? { replayed } : {});
				if (reset) return resetResponse();
				return json(200, { RequestId: requestId, ...out });
			} finally {
				if (tokenKey) inflight.delete(tokenKey);
			}
		} catch (e) {
			if (isCloudError(e)) return fail(e);
			return fail(
				new CloudError(
					"InternalError",
					500,
					`The request processing has failed due to some unknown error: ${String(e)}`,
				),
			);
		}
	};

	const h = handler as OpenApiHandler;
	h.close = () => {
		for (const done of [...hung]) done();
	};
	return h;
}

/** sha256 over the call's parameters (sorted; protocol params excluded) for ClientToken matching. */
function paramsHash(action: string, raw: Record<string, string>): string {
	const canon = Object.keys(raw)
		.filter((k) => !PROTOCOL_PARAMS.has(k))
		.sort()
		.map((k) => `${k}=${raw[k]}`)
		.join("&");
	return createHash("sha256").update(`${action}?${canon}`).digest("hex");
}

/** "Do the work, then drop the connection": headers go out, the body stream errors, the client sees a broken response. */
function resetResponse(): Response {
	return new Response(
		new ReadableStream({
			start(c) {
				c.error(new Error("sim fault: connection reset after the work was done"));
			},
		}),
		{ status: 200, headers: { "content-type": "application/json;charset=utf-8" } },
	);
}
