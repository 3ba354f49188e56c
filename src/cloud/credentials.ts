/**
 * @module cloud/credentials
 *
 * Where terwayd's AccessKey comes from, in Terway's order (cloud-sim.md §2.4):
 *
 * 1. **Static AK/SK from the configuration** (`accessKeyId` + `accessKeySecret` options;
 *    Terway's `access_key`/`access_secret` config keys or secret).
 * 2. **Static AK/SK from the environment**: `ALIBABA_CLOUD_ACCESS_KEY_ID` +
 *    `ALIBABA_CLOUD_ACCESS_KEY_SECRET` (+ optional `ALIBABA_CLOUD_SECURITY_TOKEN`), the names
 *    `@alicloud/credentials` uses.
 * 3. **A credential file** (`credentialPath` option or env `TERWAY_CREDENTIAL_FILE`). Go
 *    Terway reads the ACK addon's *encrypted* token file at `/var/addon/token-config`; its
 *    format is not described in our references, so this port does not read it and uses no
 *    default path. Our format is plain JSON, the same document the metadata RAM-role path
 *    serves: `{"AccessKeyId": "...", "AccessKeySecret": "...", "SecurityToken": "...",
 *    "Expiration": "2026-01-01T00:00:00Z"}` (`SecurityToken`/`Expiration` optional). The file
 *    is re-read when it changes on disk and before its `Expiration`.
 * 4. **STS credentials of the instance's RAM role**, through our metadata client (so
 *    `TERWAY_METADATA_URL` and the sim apply): role from the `ramRole` option or
 *    `ram/security-credentials/`, then `ram/security-credentials/<role>`; refreshed 5 min
 *    before `Expiration` (Terway's ack-ram-tool provider).
 *
 * The SDK `Config` gets `accessKeyId`/`accessKeySecret`/`securityToken` from `get()`; a
 * changed triple makes the ECS client rebuild its SDK clients (ecs.ts).
 *
 * Must not: log or expose secrets (`describe()` shows the AccessKeyId only), or fall back to
 * `@alicloud/credentials`' default chain (it hard-codes 100.100.100.200).
 */
import { statSync } from "node:fs";
import type { Env } from "./endpoints.ts";
import { parseStsDocument } from "./metadata.ts";
import { raceAbort, throwIfAborted } from "./retry.ts";
import { type CallOptions, CloudApiError, type MetadataApi } from "./types.ts";

/** One credential triple, as handed to the SDK Config. */
export type Credentials = {
	accessKeyId: string;
	accessKeySecret: string;
	/** Present for STS credentials. */
	securityToken?: string;
	/** Epoch ms; absent for long-lived AccessKeys. */
	expiration?: number;
};

export type CredentialSource = "config" | "env" | "file" | "ramRole";

/** Hands out current credentials; refreshes them itself. */
export interface CredentialProvider {
	readonly source: CredentialSource;
	get(opts?: CallOptions): Promise<Credentials>;
	/** Safe for logs: source and AccessKeyId, never the secret. */
	describe(): string;
}

/** Terway refreshes RAM-role STS credentials 5 minutes before they expire. */
export const STS_REFRESH_BEFORE_MS = 5 * 60_000;

/** Credentials that never change. */
export class StaticCredentials implements CredentialProvider {
	readonly #c: Credentials;
	constructor(
		readonly source: CredentialSource,
		c: Credentials,
	) {
		if (!c.accessKeyId || !c.accessKeySecret)
			throw new CredentialConfigError(
				`${source} credentials: AccessKeyId and AccessKeySecret are both required`,
			);
		this.#c = Object.freeze({ ...c });
	}
	async get(): Promise<Credentials> {
		return this.#c;
	}
	describe(): string {
		return `${this.source} AccessKeyId ${this.#c.accessKeyId}`;
	}
}

export class CredentialConfigError extends Error {
	override readonly name = "CredentialConfigError";
}

type Cached = { creds: Credentials; refreshAt: number };

/** Shared refresh logic: cache until `refreshAt`, one fetch at a time, keep old creds on a failed refresh while valid. */
abstract class RefreshingCredentials implements CredentialProvider {
	abstract readonly source: CredentialSource;
	#cached: Cached | undefined;
	#inflight: Promise<Credentials> | undefined;
	/** The last refresh failure (while old credentials were still served). */
	lastError: unknown;

	constructor(
		protected readonly now: () => number,
		protected readonly refreshBeforeMs: number,
	) {}

	protected abstract fetch(opts: CallOptions): Promise<Credentials>;
	/** Extra reason to refresh early (e.g. the file changed on disk). */
	protected stale(): boolean {
		return false;
	}

	async get(opts: CallOptions = {}): Promise<Credentials> {
		const c = this.#cached;
		const now = this.now();
		if (c && now < c.refreshAt && !this.stale()) return c.creds;
		if (!this.#inflight) {
			// Shared by concurrent callers, so it runs without any one caller's signal.
			this.#inflight = this.fetch({})
				.then((creds) => {
					this.#cached = {
						creds,
						refreshAt:
							creds.expiration === undefined
								? Number.POSITIVE_INFINITY
								: creds.expiration - this.refreshBeforeMs,
					};
					this.lastError = undefined;
					return creds;
				})
				.finally(() => {
					this.#inflight = undefined;
				});
		}
		try {
			return await raceAbort(this.#inflight, opts.signal);
		} catch (e) {
			throwIfAborted(opts.signal);
			// A failed refresh is survivable while the old triple is still valid.
			if (c && (c.creds.expiration === undefined || now < c.creds.expiration)) {
				this.lastError = e;
				return c.creds;
			}
			throw e;
		}
	}

	describe(): string {
		const c = this.#cached?.creds;
		return `${this.source} AccessKeyId ${c?.accessKeyId ?? "(not fetched yet)"}${
			c?.expiration ? ` expires ${new Date(c.expiration).toISOString()}` : ""
		}`;
	}
}

/** STS credentials of the instance's RAM role, from the metadata service. */
export class RamRoleCredentials extends RefreshingCredentials {
	readonly source = "ramRole" as const;
	#role: string | undefined;

	constructor(
		private readonly metadata: Pick<MetadataApi, "ramRole" | "ramCredentials">,
		opts: { role?: string; now?: () => number; refreshBeforeMs?: number } = {},
	) {
		super(opts.now ?? Date.now, opts.refreshBeforeMs ?? STS_REFRESH_BEFORE_MS);
		this.#role = opts.role;
	}

	/** The role in use (known after the first `get`, or given). */
	get role(): string | undefined {
		return this.#role;
	}

	protected async fetch(opts: CallOptions): Promise<Credentials> {
		if (!this.#role) {
			const role = await this.metadata.ramRole(opts);
			if (!role)
				throw new CloudApiError({
					code: "Metadata.NoRamRole",
					action: "ram/security-credentials/",
					message: "metadata: the instance has no RAM role and no AccessKey is configured",
				});
			this.#role = role;
		}
		const s = await this.metadata.ramCredentials(this.#role, opts);
		return {
			accessKeyId: s.accessKeyId,
			accessKeySecret: s.accessKeySecret,
			securityToken: s.securityToken,
			expiration: s.expiration,
		};
	}
}

/** Our plain-JSON credential file (see the module header), re-read on change and before expiry. */
export class FileCredentials extends RefreshingCredentials {
	readonly source = "file" as const;
	#mtime = -1;

	constructor(
		readonly path: string,
		opts: { now?: () => number; refreshBeforeMs?: number } = {},
	) {
		super(opts.now ?? Date.now, opts.refreshBeforeMs ?? STS_REFRESH_BEFORE_MS);
	}

	#statMtime(): number {
		try {
			return statSync(this.path).mtimeMs;
		} catch {
			return -1;
		}
	}

	protected override stale(): boolean {
		return this.#statMtime() !== this.#mtime;
	}

	protected async fetch(): Promise<Credentials> {
		const mtime = this.#statMtime();
		let text: string;
		try {
			text = await Bun.file(this.path).text();
		} catch (e) {
			throw new CredentialConfigError(
				`credential file ${this.path}: ${e instanceof Error ? e.message : String(e)}`,
			);
		}
		this.#mtime = mtime;
		return parseCredentialFile(text, this.path);
	}
}

/** Parses our credential-file JSON; `Expiration` optional (absent = long-lived AccessKey). */
export function parseCredentialFile(text: string, path = "credential file"): Credentials {
	let o: Record<string, unknown>;
	try {
		o = JSON.parse(text) as Record<string, unknown>;
	} catch {
		throw new CredentialConfigError(`${path}: not JSON`);
	}
	if (typeof o !== "object" || o === null) throw new CredentialConfigError(`${path}: not a JSON object`);
	if (o.Expiration !== undefined && o.SecurityToken !== undefined) {
		const s = parseStsDocument(text, path);
		return { ...s };
	}
	const id = o.AccessKeyId;
	const secret = o.AccessKeySecret;
	if (typeof id !== "string" || id === "" || typeof secret !== "string" || secret === "")
		throw new CredentialConfigError(`${path}: AccessKeyId and AccessKeySecret are required strings`);
	const token = typeof o.SecurityToken === "string" && o.SecurityToken !== "" ? o.SecurityToken : undefined;
	return { accessKeyId: id, accessKeySecret: secret, ...(token ? { securityToken: token } : {}) };
}

export type CredentialChainOptions = {
	/** From the daemon configuration (Terway `access_key`/`access_secret`). */
	accessKeyId?: string;
	accessKeySecret?: string;
	/** Our plain-JSON credential file; default env `TERWAY_CREDENTIAL_FILE`. */
	credentialPath?: string;
	/** RAM role name; default: ask metadata. */
	ramRole?: string;
	/** Needed for the RAM-role step. */
	metadata?: Pick<MetadataApi, "ramRole" | "ramCredentials">;
	env?: Env;
	now?: () => number;
	refreshBeforeMs?: number;
};

/**
 * Picks the first configured source in Terway's order (config → env → file → RAM role) and
 * returns its provider. Nothing is fetched until `get()`.
 */
export function credentialChain(opts: CredentialChainOptions = {}): CredentialProvider {
	const env = opts.env ?? process.env;
	if (opts.accessKeyId || opts.accessKeySecret)
		return new StaticCredentials("config", {
			accessKeyId: opts.accessKeyId ?? "",
			accessKeySecret: opts.accessKeySecret ?? "",
		});
	const envId = env.ALIBABA_CLOUD_ACCESS_KEY_ID?.trim();
	const envSecret = env.ALIBABA_CLOUD_ACCESS_KEY_SECRET?.trim();
	if (envId || envSecret) {
		const token = env.ALIBABA_CLOUD_SECURITY_TOKEN?.trim();
		return new StaticCredentials("env", {
			accessKeyId: envId ?? "",
			accessKeySecret: envSecret ?? "",
			...(token ? { securityToken: token } : {}),
		});
	}
	const path = opts.credentialPath ?? env.TERWAY_CREDENTIAL_FILE?.trim();
	if (path)
		return new FileCredentials(path, {
			...(opts.now ? { now: opts.now } : {}),
			...(opts.refreshBeforeMs !== undefined ? { refreshBeforeMs: opts.refreshBeforeMs } : {}),
		});
	if (opts.metadata)
		return new RamRoleCredentials(opts.metadata, {
			...(opts.ramRole ? { role: opts.ramRole } : {}),
			...(opts.now ? { now: opts.now } : {}),
			...(opts.refreshBeforeMs !== undefined ? { refreshBeforeMs: opts.refreshBeforeMs } : {}),
		});
	throw new CredentialConfigError(
		"no Alibaba Cloud credentials: set access_key/access_secret, ALIBABA_CLOUD_ACCESS_KEY_ID/SECRET, TERWAY_CREDENTIAL_FILE, or give a metadata client for the instance RAM role",
	);
}
