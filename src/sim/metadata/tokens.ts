/**
 * Metadata tokens (the IMDSv2-style "security hardening mode"): `PUT /latest/api/token` with
 * `X-aliyun-ecs-metadata-token-ttl-seconds: 1..21600` mints a token, GETs present it in
 * `X-aliyun-ecs-metadata-token`. A token belongs to the instance that asked for it and dies
 * after its TTL; the service keeps no other state.
 *
 * Pure apart from randomness; time comes from the injected clock so expiry is testable without
 * sleeping.
 */
import { randomBytes } from "node:crypto";

/** Header names, as clients send them (HTTP headers are case-insensitive). */
export const TOKEN_HEADER = "X-aliyun-ecs-metadata-token";
export const TOKEN_TTL_HEADER = "X-aliyun-ecs-metadata-token-ttl-seconds";
/** The documented upper bound of a token's TTL, in seconds (the lower bound is 1). */
export const TOKEN_TTL_MAX_SECONDS = 21_600;

export type TokenCheck = "ok" | "invalid" | "expired" | "otherInstance";

export class TokenStore {
	#tokens = new Map<string, { instanceId: string; expiresAt: number }>();

	constructor(
		private readonly now: () => number,
		readonly ttlMaxSeconds = TOKEN_TTL_MAX_SECONDS,
	) {}

	/**
	 * Parse the TTL header: an integer number of seconds in 1..ttlMaxSeconds, else undefined
	 * (the service answers 400 - Missing or Invalid Parameters).
	 */
	parseTtl(header: string | null): number | undefined {
		if (header === null || !/^\s*\d{1,9}\s*$/.test(header)) return undefined;
		const ttl = Number(header.trim());
		return ttl >= 1 && ttl <= this.ttlMaxSeconds ? ttl : undefined;
	}

	/** A fresh token for `instanceId`, valid for `ttlSeconds`. */
	mint(instanceId: string, ttlSeconds: number): string {
		this.#sweep();
		// 48 random bytes, base64url: opaque, header-safe, and as long as the real ones (~64 chars).
		const token = randomBytes(48).toString("base64url");
		this.#tokens.set(token, { instanceId, expiresAt: this.now() + ttlSeconds * 1000 });
		return token;
	}

	check(token: string, instanceId: string): TokenCheck {
		const t = this.#tokens.get(token);
		if (!t) return "invalid";
		if (this.now() >= t.expiresAt) {
			this.#tokens.delete(token);
			return "expired";
		}
		return t.instanceId === instanceId ? "ok" : "otherInstance";
	}

	/** Live tokens (for tests and `sim status`). */
	get size(): number {
		this.#sweep();
		return this.#tokens.size;
	}

	#sweep(): void {
		const now = this.now();
		for (const [k, t] of this.#tokens) if (now >= t.expiresAt) this.#tokens.delete(k);
	}
}
