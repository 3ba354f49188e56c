/**
 * Kubernetes API access for terwayctl: load a kubeconfig (a file, or the in-cluster
 * ServiceAccount) with @kubernetes/client-node's `KubeConfig`, and build its API clients
 * (CoreV1Api, CustomObjectsApi, CoordinationV1Api, ...) on a transport that goes through
 * Bun's own `fetch` with `tls: {ca, cert, key, rejectUnauthorized}`.
 *
 * Why: client-node 2.x sends through undici's `Agent`, and under Bun that dispatcher's TLS
 * options are ignored, so a kubeconfig CA or client certificate never reaches the handshake
 * (reference/ffi-probe.md Q5, "The client-node TLS problem"). The verified workaround is
 * `createConfiguration({baseServer, authMethods, httpApi: wrapHttpLibrary({send})})` with
 * `send` on Bun's fetch; this module is that, plus the raw `fetch(path)` the watch reader in
 * `watch.ts` streams from (client-node's `Watch` imports undici directly).
 *
 * It must not decide anything about Terway: no paths or names of Terway objects here
 * (see `node-agent.ts`).
 */
import { readFileSync, statSync } from "node:fs";
import { isIPv6 } from "node:net";
import { dirname, join } from "node:path";
import * as k8s from "@kubernetes/client-node";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";

/** Where kubelet mounts the ServiceAccount token, CA and namespace in a pod. */
export const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

/** Default per-request timeout (whole request, body included) for API calls. */
export const DEFAULT_TIMEOUT_MS = 30_000;

/** A kubeconfig that cannot be used: the message names the field or file. */
export class KubeConfigError extends Error {
	override readonly name = "KubeConfigError";
}

/** A request that did not complete within its timeout. */
export class KubeTimeoutError extends Error {
	override readonly name = "KubeTimeoutError";
	constructor(
		readonly url: string,
		readonly timeoutMs: number,
	) {
		super(`request to ${url} timed out after ${timeoutMs} ms`);
	}
}

/** A loaded kubeconfig plus what client-node does not keep: a token file to re-read. */
export type LoadedKubeConfig = {
	kubeConfig: k8s.KubeConfig;
	/**
	 * Bearer token file, re-read whenever it changes (projected ServiceAccount tokens are
	 * rotated by kubelet; client-node reads a kubeconfig `token-file` only once).
	 */
	tokenFile?: string;
	/** Namespace of the context, or of the ServiceAccount in-cluster. */
	namespace?: string;
	/** "kubeconfig" (a file or text) or "in-cluster". */
	source: "kubeconfig" | "in-cluster";
};

export type LoadOptions = {
	/** Path of a kubeconfig file. Wins over in-cluster. */
	kubeconfig?: string;
	/** Context to use instead of the kubeconfig's current-context. */
	context?: string;
	/** Environment to read KUBERNETES_SERVICE_HOST/PORT from (default process.env). */
	env?: Record<string, string | undefined>;
	/** ServiceAccount directory (default {@link SERVICE_ACCOUNT_DIR}; tests point it elsewhere). */
	serviceAccountDir?: string;
};

type RawKubeconfig = {
	users?: { name?: string; user?: Record<string, unknown> }[];
	contexts?: { name?: string; context?: { user?: string } }[];
	"current-context"?: string;
};

/**
 * Make every user's `token-file` absolute (relative to the kubeconfig's directory): client-node
 * reads it at load time relative to the working directory, and drops the path afterwards.
 */
function absoluteTokenFiles(raw: RawKubeconfig, dir: string): void {
	for (const u of raw.users ?? []) {
		const tf = u.user?.["token-file"];
		if (u.user && typeof tf === "string" && tf !== "" && !tf.startsWith("/"))
			u.user["token-file"] = join(dir, tf);
	}
}

/** The `token-file` of the user of `context`, if any. */
function tokenFileOf(raw: RawKubeconfig, context: string): string | undefined {
	const userName = raw.contexts?.find((c) => c.name === context)?.context?.user;
	const tf = raw.users?.find((u) => u.name === userName)?.user?.["token-file"];
	return typeof tf === "string" && tf !== "" ? tf : undefined;
}

/** Load a kubeconfig file (relative CA, cert, key and token-file paths resolve against its directory). */
export function loadKubeconfigFile(path: string, context?: string): LoadedKubeConfig {
	let text: string;
	try {
		text = readFileSync(path, "utf8");
	} catch (e) {
		throw new KubeConfigError(`kubeconfig ${path}: ${(e as Error).message}`);
	}
	const dir = dirname(path);
	const kc = new k8s.KubeConfig();
	let raw: RawKubeconfig;
	try {
		raw = (parseYaml(text) ?? {}) as RawKubeconfig;
		absoluteTokenFiles(raw, dir);
		kc.loadFromString(stringifyYaml(raw));
	} catch (e) {
		throw new KubeConfigError(`kubeconfig ${path}: ${(e as Error).message}`);
	}
	kc.makePathsAbsolute(dir);
	if (context) {
		if (!kc.getContextObject(context))
			throw new KubeConfigError(`kubeconfig ${path}: no context "${context}"`);
		kc.setCurrentContext(context);
	}
	const ctx = kc.getContextObject(kc.getCurrentContext());
	if (!ctx)
		throw new KubeConfigError(`kubeconfig ${path}: current-context "${kc.getCurrentContext()}" not found`);
	if (!kc.getCurrentCluster())
		throw new KubeConfigError(`kubeconfig ${path}: context "${ctx.name}" names no known cluster`);
	const tokenFile = tokenFileOf(raw, ctx.name);
	return {
		kubeConfig: kc,
		source: "kubeconfig",
		...(tokenFile ? { tokenFile } : {}),
		...(ctx.namespace ? { namespace: ctx.namespace } : {}),
	};
}

/**
 * The in-cluster config (client-go `rest.InClusterConfig`): server from
 * KUBERNETES_SERVICE_HOST/PORT, CA and token from the ServiceAccount mount. Returns undefined
 * when the environment variables are absent (not in a pod).
 */
export function loadInCluster(
	opts: Pick<LoadOptions, "env" | "serviceAccountDir"> = {},
): LoadedKubeConfig | undefined {
	const env = opts.env ?? process.env;
	const host = env.KUBERNETES_SERVICE_HOST;
	const port = env.KUBERNETES_SERVICE_PORT;
	if (!host || !port) return undefined;
	const dir = opts.serviceAccountDir ?? SERVICE_ACCOUNT_DIR;
	const tokenFile = join(dir, "token");
	try {
		statSync(tokenFile);
	} catch (e) {
		throw new KubeConfigError(`in-cluster: ServiceAccount token ${tokenFile}: ${(e as Error).message}`);
	}
	// Same scheme rule as client-node's loadFromCluster: the well-known plain-HTTP ports.
	const scheme = port === "80" || port === "8080" || port === "8001" ? "http" : "https";
	const server = `${scheme}://${isIPv6(host) ? `[${host}]` : host}:${port}`;
	let namespace: string | undefined;
	try {
		namespace = readFileSync(join(dir, "namespace"), "utf8").trim() || undefined;
	} catch {
		namespace = undefined;
	}
	const kc = new k8s.KubeConfig();
	kc.loadFromOptions({
		clusters: [{ name: "inCluster", server, caFile: join(dir, "ca.crt"), skipTLSVerify: false }],
		users: [{ name: "inClusterUser" }],
		contexts: [{ name: "inClusterContext", cluster: "inCluster", user: "inClusterUser", namespace }],
		currentContext: "inClusterContext",
	});
	return { kubeConfig: kc, source: "in-cluster", tokenFile, ...(namespace ? { namespace } : {}) };
}

/**
 * Where to connect: an explicit kubeconfig path, else in-cluster, else undefined (the daemon
 * then runs standalone, DESIGN.md "Kubernetes").
 */
export function loadKubeConfig(opts: LoadOptions = {}): LoadedKubeConfig | undefined {
	if (opts.kubeconfig) return loadKubeconfigFile(opts.kubeconfig, opts.context);
	return loadInCluster(opts);
}

/** Bun fetch TLS options from the current cluster and user (CA, client cert/key, skip-verify, server name). */
export function tlsOptionsOf(kc: k8s.KubeConfig): BunFetchRequestInitTLS {
	const cluster = kc.getCurrentCluster();
	const user = kc.getCurrentUser();
	const read = (what: string, file?: string, data?: string): string | undefined => {
		try {
			return k8s.bufferFromFileOrString(file, data)?.toString("utf8");
		} catch (e) {
			throw new KubeConfigError(`kubeconfig ${what} ${file}: ${(e as Error).message}`);
		}
	};
	const ca = cluster ? read("certificate-authority", cluster.caFile, cluster.caData) : undefined;
	const cert = user ? read("client-certificate", user.certFile, user.certData) : undefined;
	const key = user ? read("client-key", user.keyFile, user.keyData) : undefined;
	if ((cert === undefined) !== (key === undefined))
		throw new KubeConfigError(
			`kubeconfig user "${user?.name}": client-certificate and client-key must be given together`,
		);
	return {
		rejectUnauthorized: !cluster?.skipTLSVerify,
		...(ca !== undefined ? { ca } : {}),
		...(cert !== undefined ? { cert, key } : {}),
		...(cluster?.tlsServerName ? { serverName: cluster.tlsServerName } : {}),
	};
}

/**
 * Request headers from the current user: bearer token (a token file is re-read when its
 * mtime or size changes), basic auth, impersonation; exec and auth-provider plugins are left
 * to client-node.
 */
export class KubeAuth implements k8s.SecurityAuthentication {
	readonly #kc: k8s.KubeConfig;
	readonly #tokenFile: string | undefined;
	#cached: { stamp: string; token: string } | undefined;

	constructor(kc: k8s.KubeConfig, tokenFile?: string) {
		this.#kc = kc;
		this.#tokenFile = tokenFile;
	}

	getName(): string {
		return "terwayctl kubeconfig authentication";
	}

	#fileToken(path: string): string {
		let stamp: string;
		try {
			const st = statSync(path);
			stamp = `${st.mtimeMs}:${st.size}:${st.ino}`;
		} catch (e) {
			if (this.#cached) return this.#cached.token; // mid-rotation: keep the last good token
			throw new KubeConfigError(`token file ${path}: ${(e as Error).message}`);
		}
		if (this.#cached?.stamp !== stamp) {
			this.#cached = { stamp, token: readFileSync(path, "utf8").trim() };
		}
		return this.#cached.token;
	}

	/** The headers to add to a request. */
	async headers(): Promise<Record<string, string>> {
		const user = this.#kc.getCurrentUser();
		const out: Record<string, string> = {};
		if (this.#tokenFile) {
			out.Authorization = `Bearer ${this.#fileToken(this.#tokenFile)}`;
		} else if (user?.token) {
			out.Authorization = `Bearer ${user.token}`;
		} else if (user?.username) {
			out.Authorization = `Basic ${Buffer.from(`${user.username}:${user.password ?? ""}`).toString("base64")}`;
		} else if (user?.exec || user?.authProvider) {
			const opts: { headers?: Record<string, string> } = { headers: {} };
			await this.#kc.applyToHTTPSOptions(opts);
			const a = opts.headers?.Authorization ?? opts.headers?.authorization;
			if (a) out.Authorization = a;
		}
		if (user?.impersonateUser) out["Impersonate-User"] = user.impersonateUser;
		return out;
	}

	async applySecurityAuthentication(context: k8s.RequestContext): Promise<void> {
		for (const [k, v] of Object.entries(await this.headers())) context.setHeaderParam(k, v);
	}
}

export type KubeClientOptions = {
	/** Per-request timeout for API calls (default {@link DEFAULT_TIMEOUT_MS}). */
	timeoutMs?: number;
	/** User-Agent header (default "terwayctl/<version>"). */
	userAgent?: string;
};

export type KubeFetchInit = {
	method?: string;
	headers?: Record<string, string>;
	body?: string;
	signal?: AbortSignal;
	/**
	 * Timeout in ms. For a normal request it covers the whole exchange; with `stream: true`
	 * only until the response headers arrive (a watch is long-lived). `0` disables it.
	 */
	timeoutMs?: number;
	stream?: boolean;
};

/** An API client constructor as client-node's generated classes have it. */
export type ApiConstructor<T> = new (config: k8s.Configuration) => T;

/**
 * Kubernetes API clients on Bun's fetch.
 *
 * @example
 * ```ts
 * const loaded = loadKubeConfig({ kubeconfig: "/etc/kubernetes/kubelet.conf" });
 * if (loaded) {
 *   const kube = new KubeClient(loaded);
 *   const node = await kube.core.readNode({ name: "node-1" });
 *   kube.close();
 * }
 * ```
 */
export class KubeClient {
	/** API server base URL without a trailing slash. */
	readonly server: string;
	readonly kubeConfig: k8s.KubeConfig;
	readonly namespace: string | undefined;
	readonly timeoutMs: number;
	readonly configuration: k8s.Configuration;
	readonly auth: KubeAuth;
	readonly #tls: BunFetchRequestInitTLS | undefined;
	readonly #session: Bun.FetchSession;
	readonly #userAgent: string;
	#apis = new Map<unknown, unknown>();

	constructor(loaded: LoadedKubeConfig, opts: KubeClientOptions = {}) {
		const kc = loaded.kubeConfig;
		const cluster = kc.getCurrentCluster();
		if (!cluster) throw new KubeConfigError("kubeconfig: no current cluster");
		let url: URL;
		try {
			url = new URL(cluster.server);
		} catch {
			throw new KubeConfigError(
				`kubeconfig cluster "${cluster.name}": server ${JSON.stringify(cluster.server)} is not a URL`,
			);
		}
		if (url.protocol !== "https:" && url.protocol !== "http:")
			throw new KubeConfigError(
				`kubeconfig cluster "${cluster.name}": server ${cluster.server}: scheme must be http or https`,
			);
		this.server = cluster.server.replace(/\/+$/, "");
		this.kubeConfig = kc;
		this.namespace = loaded.namespace;
		this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
		this.#userAgent = opts.userAgent ?? "terwayctl/0.1.0";
		this.auth = new KubeAuth(kc, loaded.tokenFile);
		this.#tls = url.protocol === "https:" ? tlsOptionsOf(kc) : undefined;
		this.#session = new Bun.FetchSession({
			...(this.#tls ? { tls: this.#tls } : {}),
			...(cluster.proxyUrl ? { proxy: cluster.proxyUrl } : {}),
		});
		this.configuration = k8s.createConfiguration({
			baseServer: new k8s.ServerConfiguration(this.server, {}),
			authMethods: { default: this.auth },
			httpApi: k8s.wrapHttpLibrary({ send: (req) => this.#send(req) }),
		});
	}

	/** Build (once) a client-node API class on this transport. */
	api<T>(ctor: ApiConstructor<T>): T {
		let a = this.#apis.get(ctor) as T | undefined;
		if (!a) {
			a = new ctor(this.configuration);
			this.#apis.set(ctor, a);
		}
		return a;
	}

	get core(): k8s.CoreV1Api {
		return this.api(k8s.CoreV1Api);
	}
	get custom(): k8s.CustomObjectsApi {
		return this.api(k8s.CustomObjectsApi);
	}
	get coordination(): k8s.CoordinationV1Api {
		return this.api(k8s.CoordinationV1Api);
	}

	/**
	 * A raw request to `pathOrUrl` (a path like "/api/v1/pods?watch=true" or a full URL on this
	 * server), with auth, TLS and the timeout. Non-2xx responses are returned, not thrown.
	 */
	async fetch(pathOrUrl: string, init: KubeFetchInit = {}): Promise<Response> {
		const url = pathOrUrl.startsWith("/") ? `${this.server}${pathOrUrl}` : pathOrUrl;
		const headers: Record<string, string> = {
			Accept: "application/json",
			"User-Agent": this.#userAgent,
			...(await this.auth.headers()),
			...init.headers,
		};
		const timeoutMs = init.timeoutMs ?? this.timeoutMs;
		const timer = new AbortController();
		const signal = init.signal ? AbortSignal.any([init.signal, timer.signal]) : timer.signal;
		let timedOut = false;
		const t =
			timeoutMs > 0
				? setTimeout(() => {
						timedOut = true;
						timer.abort(new KubeTimeoutError(url, timeoutMs));
					}, timeoutMs)
				: undefined;
		try {
			const res = await this.#session.fetch(url, {
				method: init.method ?? "GET",
				headers,
				...(init.body !== undefined ? { body: init.body } : {}),
				signal,
			});
			if (init.stream) {
				clearTimeout(t);
				return res;
			}
			// Read the body under the same timeout, so a stalled body cannot hang the caller.
			const body = await res.arrayBuffer();
			clearTimeout(t);
			return new Response(body.byteLength > 0 ? body : null, {
				status: res.status,
				statusText: res.statusText,
				headers: res.headers,
			});
		} catch (e) {
			clearTimeout(t);
			if (timedOut) throw new KubeTimeoutError(url, timeoutMs);
			throw e;
		}
	}

	/** client-node's HTTP library: one RequestContext through {@link fetch}. */
	async #send(req: k8s.RequestContext): Promise<k8s.ResponseContext> {
		const body = req.getBody();
		if (body !== undefined && typeof body !== "string")
			throw new Error("terwayctl k8s transport: only string request bodies are supported");
		const headers: Record<string, string> = { ...req.getHeaders() };
		const sig = req.getSignal();
		const res = await this.fetch(req.getUrl(), {
			method: req.getHttpMethod(),
			headers,
			...(body !== undefined ? { body } : {}),
			...(sig ? { signal: sig } : {}),
		});
		const out: Record<string, string> = {};
		res.headers.forEach((v, k) => {
			out[k] = v;
		});
		const buf = Buffer.from(await res.arrayBuffer());
		return new k8s.ResponseContext(res.status, out, {
			text: async () => buf.toString("utf8"),
			binary: async () => buf,
			stream: () => null,
		});
	}

	/** Close idle pooled connections (in-flight requests finish). */
	close(): void {
		this.#session.close();
	}
}

/** The HTTP status of a client-node ApiException (or of a KubeStatusError), else undefined. */
export function statusCodeOf(e: unknown): number | undefined {
	if (e instanceof k8s.ApiException) return e.code;
	if (e instanceof KubeStatusError) return e.code;
	return undefined;
}

export const isNotFound = (e: unknown): boolean => statusCodeOf(e) === 404;
export const isConflict = (e: unknown): boolean => statusCodeOf(e) === 409;
export const isGone = (e: unknown): boolean => statusCodeOf(e) === 410;

/** A Kubernetes `Status` failure from a raw request (watch.ts), with the HTTP code and reason. */
export class KubeStatusError extends Error {
	override readonly name = "KubeStatusError";
	constructor(
		readonly code: number,
		readonly reason: string,
		message: string,
	) {
		super(message);
	}

	/** From a non-2xx response: its `Status` body if it has one. */
	static async fromResponse(res: Response, what: string): Promise<KubeStatusError> {
		const text = await res.text().catch(() => "");
		let reason = res.statusText || "Unknown";
		let message = text.trim().slice(0, 500);
		try {
			const s = JSON.parse(text) as { reason?: string; message?: string };
			if (s.reason) reason = s.reason;
			if (s.message) message = s.message;
		} catch {
			// not a Status body; keep the text
		}
		return new KubeStatusError(res.status, reason, `${what}: ${res.status} ${reason}: ${message}`);
	}
}
