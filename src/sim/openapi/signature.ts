/**
 * Request authentication for the sim's OpenAPI: both signature forms Alibaba Cloud clients send
 * (cloud-sim.md §2.2), checked against the scenario's AccessKeys and the STS triples the world
 * issued to instances.
 *
 * - ACS3-HMAC-SHA256 (the TS SDK, `@alicloud/openapi-core` `getAuthorization`): header
 *   `Authorization: ACS3-HMAC-SHA256 Credential=<AK>,SignedHeaders=<a;b>,Signature=<hex>`;
 *   STS adds signed `x-acs-accesskey-id` + `x-acs-security-token`.
 * - Legacy RPC HMAC-SHA1 (Go v1 SDK, TS SDK with `signatureAlgorithm: "v2"`): `Signature`,
 *   `AccessKeyId`, `SignatureMethod=HMAC-SHA1` among the query/form parameters; STS adds
 *   `SecurityToken`.
 *
 * No I/O; a failed check throws a CloudError with the code the real service uses.
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { CloudError } from "../world/errors.ts";
import type { World } from "../world/world.ts";

/** `encodeURIComponent` plus `! ' ( ) *` (the SDK's `encode`, RFC 3986 unreserved only). */
export function percentEncode(s: string): string {
	return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

export type AuthResult = {
	scheme: "ACS3-HMAC-SHA256" | "HMAC-SHA1";
	accessKeyId: string;
	/** Set for STS credentials: the instance whose RAM role they belong to. */
	stsInstanceId?: string;
};

/** What the verifier needs from an HTTP request (already read). */
export type SignedRequest = {
	method: string;
	pathname: string;
	headers: Headers;
	/** Query parameters only (ACS3 signs the query). */
	query: [string, string][];
	/** Query + form-body parameters (the legacy form signs all of them). */
	params: Record<string, string>;
	body: Uint8Array;
};

const sha256hex = (b: Uint8Array | string) => createHash("sha256").update(b).digest("hex");

function safeEqual(a: string, b: string): boolean {
	const x = Buffer.from(a);
	const y = Buffer.from(b);
	return x.length === y.length && timingSafeEqual(x, y);
}

const mismatch = (why: string) =>
	new CloudError(
		"SignatureDoesNotMatch",
		400,
		`Specified signature does not match our calculation (${why}).`,
	);

function lookup(world: World, accessKeyId: string, token: string | undefined) {
	const cred = world.credential(accessKeyId);
	if (!cred)
		throw new CloudError(
			"InvalidAccessKeyId.NotFound",
			404,
			`Specified access key "${accessKeyId}" is not found.`,
		);
	if (cred.kind === "sts") {
		if (!token)
			throw new CloudError(
				"MissingSecurityToken",
				400,
				"An STS AccessKey needs its SecurityToken (x-acs-security-token).",
			);
		if (!safeEqual(token, cred.securityToken))
			throw new CloudError(
				"InvalidSecurityToken.MismatchWithAccessKey",
				400,
				"The SecurityToken does not belong to the AccessKey.",
			);
		if (cred.expiresAt <= world.now())
			throw new CloudError("InvalidSecurityToken.Expired", 400, "The SecurityToken has expired.");
	}
	return cred;
}

/** ACS3-HMAC-SHA256: the canonical request exactly as openapi-core 1.0.8 builds it. */
export function verifyAcs3(r: SignedRequest, world: World): AuthResult {
	const auth = r.headers.get("authorization") ?? "";
	const m = /^ACS3-HMAC-SHA256 Credential=([^,]+),SignedHeaders=([^,]*),Signature=([0-9a-f]+)$/.exec(
		auth.trim(),
	);
	if (!m)
		throw new CloudError(
			"IncompleteSignature",
			400,
			"The Authorization header is not an ACS3-HMAC-SHA256 signature.",
		);
	const [, accessKeyId, signedList, signature] = m as unknown as [string, string, string, string];
	const signed = signedList.split(";").filter(Boolean);
	for (const need of ["host", "x-acs-action", "x-acs-version", "x-acs-date", "x-acs-signature-nonce"])
		if (!signed.includes(need)) throw mismatch(`header ${need} is not signed`);
	const payloadHash = r.headers.get("x-acs-content-sha256") ?? "";
	if (payloadHash !== sha256hex(r.body)) throw mismatch("x-acs-content-sha256 does not match the body");
	const cred = lookup(world, accessKeyId, r.headers.get("x-acs-security-token") ?? undefined);
	if (cred.kind === "sts" && !signed.includes("x-acs-security-token"))
		throw mismatch("x-acs-security-token is not signed");

	const query = [...r.query]
		.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
		.map(([k, v]) => `${k}=${percentEncode(v)}`)
		.join("&");
	const headers = [...signed]
		.sort()
		.map((h) => `${h}:${(r.headers.get(h) ?? "").trim()}\n`)
		.join("");
	const canonical = `${r.method}\n${r.pathname}\n${query}\n${headers}\n${signed.join(";")}\n${payloadHash}`;
	const stringToSign = `ACS3-HMAC-SHA256\n${sha256hex(canonical)}`;
	const expected = createHmac("sha256", cred.secret).update(stringToSign).digest("hex");
	if (!safeEqual(expected, signature)) throw mismatch("ACS3-HMAC-SHA256");
	return {
		scheme: "ACS3-HMAC-SHA256",
		accessKeyId,
		...(cred.kind === "sts" ? { stsInstanceId: cred.instanceId } : {}),
	};
}

/** The legacy RPC string-to-sign: `METHOD&%2F&enc(sorted k=v joined by &)` over every param but Signature. */
export function rpcStringToSign(method: string, params: Record<string, string>): string {
	const canon = Object.keys(params)
		.filter((k) => k !== "Signature")
		.sort()
		.map((k) => `${percentEncode(k)}=${percentEncode(params[k]!)}`)
		.join("&");
	return `${method}&${percentEncode("/")}&${percentEncode(canon)}`;
}

/** Legacy RPC HMAC-SHA1: base64(HMAC-SHA1(secret + "&", stringToSign)). */
export function rpcSignature(method: string, params: Record<string, string>, secret: string): string {
	return createHmac("sha1", `${secret}&`).update(rpcStringToSign(method, params)).digest("base64");
}

export function verifyRpc(r: SignedRequest, world: World): AuthResult {
	const p = r.params;
	const accessKeyId = p.AccessKeyId;
	const signature = p.Signature;
	if (!accessKeyId || !signature)
		throw new CloudError("IncompleteSignature", 400, "The request carries no AccessKeyId/Signature.");
	if ((p.SignatureMethod ?? "HMAC-SHA1") !== "HMAC-SHA1")
		throw new CloudError(
			"InvalidParameter",
			400,
			`SignatureMethod ${JSON.stringify(p.SignatureMethod)} is not supported.`,
		);
	const cred = lookup(world, accessKeyId, p.SecurityToken);
	if (!safeEqual(rpcSignature(r.method, p, cred.secret), signature)) throw mismatch("HMAC-SHA1");
	return {
		scheme: "HMAC-SHA1",
		accessKeyId,
		...(cred.kind === "sts" ? { stsInstanceId: cred.instanceId } : {}),
	};
}

/** Pick the form by what the request carries: an ACS3 Authorization header, else the legacy params. */
export function verifyRequest(r: SignedRequest, world: World): AuthResult {
	if ((r.headers.get("authorization") ?? "").startsWith("ACS3-")) return verifyAcs3(r, world);
	if (r.params.Signature !== undefined) return verifyRpc(r, world);
	throw new CloudError(
		"IncompleteSignature",
		400,
		"The request is not signed (no Authorization header, no Signature).",
	);
}

/** The nonce a request carries (ACS3 header or legacy param), for optional replay protection. */
export function signatureNonce(r: SignedRequest): string | undefined {
	return r.headers.get("x-acs-signature-nonce") ?? r.params.SignatureNonce;
}
