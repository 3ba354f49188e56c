/**
 * terwayd against the in-process loopback sim (tests/cloud/sim.ts): the real SDK clients
 * (createCloud) over 127.0.0.1, a store in a temp dir, the local API on a temp unix socket, no
 * kernel links (NoEniLinks: in loopback an attached ENI is only a record). Fast backoffs.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createCloud } from "../../src/cloud/index.ts";
import { parseEniConf } from "../../src/core/config/eni-config.ts";
import type { EniConfig } from "../../src/core/config/types.ts";
import type { AllocRequest, AllocResponse, ApiErrorBody } from "../../src/daemon/api-types.ts";
import { Daemon } from "../../src/daemon/daemon.ts";
import type { KubeHooks } from "../../src/daemon/kube.ts";
import { NoEniLinks } from "../../src/daemon/links.ts";
import { createLogger, silentLogger } from "../../src/daemon/log.ts";
import { serveUnix } from "../../src/daemon/server.ts";
import { Store } from "../../src/daemon/store/index.ts";
import type { Scenario } from "../../src/sim/contracts.ts";
import { FAST_BACKOFFS, POD_VSW, type Sim, startSim } from "../cloud/sim.ts";

/**
 * An answer over the socket. `body` is typed as the route's success body `T`; on a 4xx/5xx it is
 * an `ApiErrorBody` instead, hence `error` is there (optional) for the tests that check it.
 */
export type Reply<T> = { status: number; body: T & Partial<ApiErrorBody> };

export type Harness = {
	sim: Sim;
	daemon: Daemon;
	store: Store;
	socket: string;
	dir: string;
	/** curl-like call over the socket. */
	call<T = Record<string, unknown>>(method: string, path: string, body?: unknown): Promise<Reply<T>>;
	alloc(name: string, cid?: string): Promise<Reply<AllocResponse>>;
	/** OpenAPI calls of `action` in the sim's request log since the harness started. */
	calls(action: string): number;
	stop(): Promise<void>;
	/** Restart the daemon on the same store dir and sim (crash-like: no grace for requests). */
	restart(): Promise<Harness>;
};

export type HarnessOptions = {
	eniConf?: Record<string, unknown>;
	/** An already resolved eni_conf (e.g. from the cluster's ConfigMaps); `eniConf` is then unused. */
	config?: EniConfig;
	/** Kubernetes hooks (pod watch, annotations, condition, events); standalone without. */
	kube?: KubeHooks;
	mutate?: (s: Scenario) => void;
	exclusive?: boolean;
	allocWaitMs?: number;
	debug?: boolean;
	sim?: Sim;
	dir?: string;
	noWarmUp?: boolean;
	/** Internal (restart): the harness owns `sim`/`dir` even though they were passed in. */
	owns?: { sim: boolean; dir: boolean };
};

export async function startDaemon(opts: HarnessOptions = {}): Promise<Harness> {
	const sim =
		opts.sim ??
		startSim({
			mutate: (s) => {
				s.nodes.instanceType = "ecs.sim.big";
				s.metadataLagMs = 20;
				opts.mutate?.(s);
			},
		});
	const dir = opts.dir ?? mkdtempSync(join(tmpdir(), "terwayd-"));
	const owns = opts.owns ?? { sim: !opts.sim, dir: !opts.dir };
	const env = {
		ECS_ENDPOINT: sim.openapi,
		VPC_ENDPOINT: sim.openapi,
		ALICLOUD_CLIENT_SCHEME: "HTTP",
		ALIBABA_CLOUD_ACCESS_KEY_ID: sim.accessKey.id,
		ALIBABA_CLOUD_ACCESS_KEY_SECRET: sim.accessKey.secret,
		TERWAY_METADATA_URL: sim.metadataUrl,
	};
	const cloud = await createCloud({
		env,
		metadata: { waitIntervalMs: 10, waitTimeoutMs: 3000, retry: { durationMs: 5 } },
		ecs: { backoffs: FAST_BACKOFFS, timeoutMs: 3000 },
	});
	const eniConf =
		opts.config ??
		parseEniConf({
			min_pool_size: 0,
			max_pool_size: 5,
			vswitches: { "cn-hangzhou-i": [POD_VSW] },
			...opts.eniConf,
		}).config;
	const store = Store.open(join(dir, "state.db"));
	const log = opts.debug ? createLogger({ level: "debug" }) : silentLogger;
	const daemon = new Daemon({
		store,
		ecs: cloud.ecs,
		metadata: cloud.metadata,
		links: new NoEniLinks(),
		log,
		eniConf,
		nodeName: "node-1",
		exclusive: opts.exclusive ?? false,
		...(opts.kube ? { kube: opts.kube } : {}),
		tuning: {
			batchDelayMs: 20,
			allocWaitMs: opts.allocWaitMs ?? 20_000,
			metadataWaitMs: 3000,
			retryDelayMs: 20,
		},
		gcPeriodMs: 0,
		syncPeriodMs: 0,
	});
	await daemon.start();
	const socket = join(dir, "terwayd.sock");
	const server = serveUnix(daemon, socket, log);
	if (!opts.noWarmUp) await daemon.warmUp(30_000);
	else void daemon.warmUp(30_000);
	const seq0 = sim.log.since(0).at(-1)?.seq ?? 0;
	const call = async <T = Record<string, unknown>>(
		method: string,
		path: string,
		body?: unknown,
	): Promise<Reply<T>> => {
		const res = await fetch(`http://terwayd${path}`, {
			method,
			unix: socket,
			...(body !== undefined ? { body: typeof body === "string" ? body : JSON.stringify(body) } : {}),
		} as RequestInit);
		const text = await res.text();
		let parsed: unknown = text;
		try {
			parsed = JSON.parse(text);
		} catch {}
		return { status: res.status, body: parsed as Reply<T>["body"] };
	};
	const h: Harness = {
		sim,
		daemon,
		store,
		socket,
		dir,
		call,
		alloc: (name, cid = `c-${name}`) =>
			call<AllocResponse>("POST", "/v1/alloc", {
				pod: { namespace: "default", name },
				containerId: cid,
				netns: `/var/run/netns/${name}`,
				ifname: "eth0",
			} satisfies AllocRequest),
		calls: (action) => sim.log.since(seq0, (e) => e.face === "openapi" && e.what === action).length,
		async stop() {
			// settles requests, pool work and loops before the store closes under them
			await daemon.stop(5000);
			server.stop(true);
			store.close();
			if (owns.sim) sim.stop();
			if (owns.dir) rmSync(dir, { recursive: true, force: true });
		},
		async restart() {
			// crash-like: the pool is stopped at once (in-flight cloud calls are aborted and their
			// intents stay pending, as after a kill), but the store is only closed once it settled
			daemon.pool.stop();
			await daemon.stop(1000);
			server.stop(true);
			store.close();
			// the restarted harness cleans up what this one would have
			return startDaemon({ ...opts, sim, dir, owns });
		},
	};
	return h;
}
