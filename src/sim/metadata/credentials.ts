/**
 * STS documents the metadata face hands out: the ECS RAM-role document
 * (`ram/security-credentials/<role>`, read by Terway's ack-ram-tool provider and by
 * `@alicloud/credentials`' ecs_ram_role provider) and the credentials-URI document
 * (`GET /sim/credentials/<instance-id>`, read by `@alicloud/credentials`' credentials_uri
 * provider through ALIBABA_CLOUD_CREDENTIALS_URI, which is how loopback mode gets STS
 * credentials: the ecs_ram_role provider hard-codes 100.100.100.200).
 *
 * Pure apart from the `LastUpdated` memory, which is kept by the caller (see StsClock).
 */
import type { MetadataSource } from "../contracts.ts";

export type Sts = ReturnType<MetadataSource["stsCredentials"]>;

/**
 * "2026-11-27T03:25:35Z": the shape the real service uses, and the only two shapes
 * `@alicloud/credentials` parses (20 chars, or 24 with milliseconds). Unparseable input is
 * passed through so the client's own error shows it.
 */
export function utcSeconds(iso: string | number | Date): string {
	const d = new Date(iso);
	if (Number.isNaN(d.getTime())) return String(iso);
	return `${d.toISOString().slice(0, 19)}Z`;
}

/**
 * The ECS RAM-role document, field order and layout as the real service prints it
 * (pretty-printed with `" : "` separators). `Code` must be "Success": `@alicloud/credentials`
 * rejects anything else.
 */
export function ramRoleDocument(sts: Sts, lastUpdated: string): string {
	const fields: [string, string][] = [
		["AccessKeyId", sts.accessKeyId],
		["AccessKeySecret", sts.accessKeySecret],
		["Expiration", utcSeconds(sts.expiration)],
		["SecurityToken", sts.securityToken],
		["LastUpdated", lastUpdated],
		["Code", "Success"],
	];
	return `{\n${fields.map(([k, v]) => `  ${JSON.stringify(k)} : ${JSON.stringify(v)}`).join(",\n")}\n}`;
}

/**
 * The credentials-URI document: `{AccessKeyId, AccessKeySecret, SecurityToken, Expiration}`
 * (`@alicloud/credentials` providers/uri.js; no `Code` check there, but it is included so one
 * parser reads both documents).
 */
export function uriDocument(sts: Sts, lastUpdated: string): string {
	return JSON.stringify({
		AccessKeyId: sts.accessKeyId,
		AccessKeySecret: sts.accessKeySecret,
		SecurityToken: sts.securityToken,
		Expiration: utcSeconds(sts.expiration),
		LastUpdated: lastUpdated,
		Code: "Success",
	});
}

/**
 * Remembers when each instance's STS triple was first handed out, so `LastUpdated` moves only
 * when the world rotates the credentials.
 */
export class StsClock {
	#seen = new Map<string, { token: string; at: string }>();

	constructor(private readonly now: () => number) {}

	lastUpdated(instanceId: string, sts: Sts): string {
		const prev = this.#seen.get(instanceId);
		if (prev && prev.token === sts.securityToken) return prev.at;
		const at = utcSeconds(this.now());
		this.#seen.set(instanceId, { token: sts.securityToken, at });
		return at;
	}
}
