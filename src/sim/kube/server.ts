/**
 * The fake kube-apiserver as one object the sim server composes: a KubeStore (seeded with the
 * default namespaces and Terway's CRDs), its HTTP handler, and HTTP/HTTPS listeners on Bun.serve.
 * The handler can also be mounted into another Bun.serve; the listeners here are a convenience.
 */
import type { Server } from "bun";
import type { KubeObject } from "../contracts.ts";
import type { FaultEngine } from "../faults.ts";
import type { RequestLog } from "../request-log.ts";
import { TERWAY_CRDS } from "./crds/index.ts";
import { createKubeHandler, type KubeHandler } from "./handler.ts";
import { type KubeconfigSpec, writeKubeconfig } from "./kubeconfig.ts";
import { KubeStore, type KubeStoreOptions } from "./store.ts";
import { generateTls, type TlsMaterial } from "./x509.ts";

export type KubeApiServerOptions = KubeStoreOptions & {
	/** Use an existing store instead of creating one. */
	store?: KubeStore;
	faults?: FaultEngine;
	log?: RequestLog;
	/** Required bearer tokens (default: any token, or none, is admitted). */
	tokens?: readonly string[];
	/** Register Terway's CRDs at start (default true). */
	terwayCrds?: boolean;
	/** Objects to create at start (scenario `kubernetes.objects`), through `store.upsert`. */
	objects?: readonly KubeObject[];
	defaultWatchTimeoutSeconds?: number;
	bookmarkIntervalMs?: number;
};

export type Listener = {
	/** "http://127.0.0.1:34567" */
	url: string;
	port: number;
	hostname: string;
	stop(): Promise<void>;
};

export type TlsListener = Listener & { tls: TlsMaterial };

export class KubeApiServer {
	readonly store: KubeStore;
	readonly handler: KubeHandler;
	#servers: Server<undefined>[] = [];

	constructor(opts: KubeApiServerOptions = {}) {
		this.store = opts.store ?? new KubeStore(opts);
		if (opts.terwayCrds !== false) for (const crd of TERWAY_CRDS) this.store.registerCrd(crd);
		for (const o of opts.objects ?? []) this.store.upsert(o);
		this.handler = createKubeHandler({
			store: this.store,
			...(opts.faults ? { faults: opts.faults } : {}),
			...(opts.log ? { log: opts.log } : {}),
			...(opts.tokens ? { tokens: opts.tokens } : {}),
			...(opts.defaultWatchTimeoutSeconds !== undefined
				? { defaultWatchTimeoutSeconds: opts.defaultWatchTimeoutSeconds }
				: {}),
			...(opts.bookmarkIntervalMs !== undefined ? { bookmarkIntervalMs: opts.bookmarkIntervalMs } : {}),
		});
	}

	#serve(hostname: string, port: number, tls?: TlsMaterial): Listener {
		const server = Bun.serve({
			hostname,
			port,
			// Watches are long-lived and may be idle: no idle timeout (Bun's default is 10 s).
			idleTimeout: 0,
			fetch: (req) => this.handler(req),
			...(tls ? { tls: { cert: tls.cert, key: tls.key } } : {}),
		});
		this.#servers.push(server);
		const scheme = tls ? "https" : "http";
		const host = hostname.includes(":") ? `[${hostname}]` : hostname;
		return {
			url: `${scheme}://${host}:${server.port}`,
			port: server.port ?? port,
			hostname,
			stop: async () => {
				this.#servers = this.#servers.filter((s) => s !== server);
				await server.stop(true);
			},
		};
	}

	/** Plain HTTP (client-node needs `insecureSkipTlsVerify` in the kubeconfig for http://). */
	listen(opts: { hostname?: string; port?: number } = {}): Listener {
		return this.#serve(opts.hostname ?? "127.0.0.1", opts.port ?? 0);
	}

	/**
	 * HTTPS with a generated CA and a server certificate for `hosts` (default: the hostname,
	 * 127.0.0.1 and localhost), or the given material.
	 */
	listenTls(
		opts: { hostname?: string; port?: number; hosts?: string[]; tls?: TlsMaterial } = {},
	): TlsListener {
		const hostname = opts.hostname ?? "127.0.0.1";
		const tls =
			opts.tls ?? generateTls([...new Set([hostname, "127.0.0.1", "localhost", ...(opts.hosts ?? [])])]);
		return { ...this.#serve(hostname, opts.port ?? 0, tls), tls };
	}

	/** Write a kubeconfig for a listener: CA data for HTTPS, insecure-skip-tls-verify for HTTP. */
	writeKubeconfig(
		path: string,
		listener: Listener | TlsListener,
		spec: Partial<KubeconfigSpec> = {},
	): string {
		const tls = "tls" in listener ? listener.tls : undefined;
		return writeKubeconfig(path, {
			server: listener.url,
			...(tls ? { caCert: tls.caCert } : { insecureSkipTlsVerify: true }),
			...spec,
		});
	}

	/** Close watch streams and stop every listener. */
	async close(): Promise<void> {
		this.handler.closeWatches();
		await Promise.all(this.#servers.map((s) => s.stop(true)));
		this.#servers = [];
	}
}
