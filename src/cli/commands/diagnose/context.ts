/**
 * @module cli/commands/diagnose/context
 *
 * What the checks read, as ports: terwayd's local API, the cloud (credentials, ECS, metadata),
 * the node's kernel (netlink in the namespace diagnose runs in), the conflist, the eni-config
 * and the policy maps. `index.ts` wires the real ones; unit tests inject fakes. The context
 * memoizes the daemon's answers so several checks share one GET each.
 *
 * Must not: spawn ip/tc/bpftool (product code reads the kernel through src/linux only).
 */
import type { CredentialProvider } from "../../../cloud/credentials.ts";
import type { EcsApi, MetadataApi } from "../../../cloud/types.ts";
import type { Datapath as ConfigDatapath } from "../../../core/config/types.ts";
import type { HostView } from "../../../core/datapath/leftovers.ts";
import type { NsState, Plan } from "../../../core/datapath/types.ts";
import type {
	AllocResponse,
	EniInfo,
	GcReport,
	MappingRow,
	PolicyResponse,
	StatusResponse,
} from "../../../daemon/api-types.ts";
import type { Finding } from "./findings.ts";

/** terwayd's local API (cli/daemon-api.ts DaemonApi fits). */
export interface DaemonPort {
	get<T>(path: string): Promise<T>;
}

/** The cloud as the node's terwayd sees it (same env / config). */
export type CloudPorts = {
	ecs: Pick<EcsApi, "describeEnis">;
	credentials: CredentialProvider;
};

/** The metadata service; `token` when the client speaks the token protocol (MetadataClient). */
export type MetadataPort = MetadataApi & { token?: (signal?: AbortSignal) => Promise<string> };

/** The node's kernel, read through src/linux (never ip/tc). */
export interface KernelPort {
	/** Links, main-table routes and every rule of the node namespace. */
	hostView(): HostView;
	/** The host side of `plan` as it is now (links, addrs, routes, rules, sysctls of the plan). */
	observeHost(plan: Plan): NsState;
	/** Routes of one table (policy-routing tables of the ENIs). */
	routes(
		table: number,
	): { family: 4 | 6; dst: string; gateway?: string | undefined; dev?: string | undefined }[];
}

/** One policy verdict (src/core/policy explain), when the policy maps exist. */
export type PolicyVerdict = { allowed: boolean; reason: string; rule?: string };

/** The pinned policy maps of this node, read once (src/linux/bpf PolicyMaps + core/policy explain). */
export interface PolicyPort {
	/** Where the maps are pinned. */
	readonly where: string;
	/** Entries in terway_ipid and terway_policy. */
	readonly entries: { ips: number; policy: number };
	/** Whether `ip` has an identity entry flagged as a pod on this node (TERWAY_EP_LOCAL). */
	localPod(ip: string): boolean;
	explain(q: { from: string; to: string; port?: number; proto?: string }): PolicyVerdict;
}

/** The conflist a node's runtime reads, as text. */
export type ConflistFile = { path: string; text: string };

export type DiagnoseDeps = {
	daemon: DaemonPort;
	socket: string;
	/** Throws a readable error when the cloud clients cannot be built (no credentials, bad endpoint). */
	cloud: () => Promise<CloudPorts>;
	metadata: MetadataPort;
	/** Where metadata is read from (for messages). */
	metadataUrl: string;
	/** undefined: no kernel access (not root / not Linux) — kernel checks say so as info. */
	kernel?: KernelPort | undefined;
	/** The node's terway conflist, undefined when there is none (path says where it was looked for). */
	conflist: () => { path: string; file?: ConflistFile | undefined };
	/** The cluster's eni-config datapath, undefined when unknown (no kubeconfig). */
	eniConfig: () => Promise<{ datapath: ConfigDatapath; source: string } | undefined>;
	/** undefined: the policy maps are not there (or this build has no policy-map layer). */
	policy?: () => PolicyPort | undefined;
	timeoutMs: number;
};

/** The daemon's answers, fetched once per run. A failure is kept and rethrown to each caller. */
export class DiagnoseContext {
	readonly deps: DiagnoseDeps;
	readonly #memo = new Map<string, Promise<unknown>>();
	#cloud: Promise<CloudPorts> | undefined;

	constructor(deps: DiagnoseDeps) {
		this.deps = deps;
	}

	#get<T>(path: string): Promise<T> {
		let p = this.#memo.get(path) as Promise<T> | undefined;
		if (!p) {
			p = this.deps.daemon.get<T>(path);
			// a rejection is observed by whoever awaits it; don't let the memo itself be "unhandled"
			p.catch(() => {});
			this.#memo.set(path, p);
		}
		return p;
	}

	status(): Promise<StatusResponse> {
		return this.#get("/v1/status");
	}
	enis(): Promise<EniInfo[]> {
		return this.#get("/v1/enis");
	}
	mapping(): Promise<MappingRow[]> {
		return this.#get("/v1/mapping");
	}
	gc(): Promise<GcReport> {
		return this.#get("/v1/gc");
	}
	policyStatus(): Promise<PolicyResponse> {
		return this.#get("/v1/policy");
	}
	pod(podKey: string, containerId?: string): Promise<AllocResponse> {
		const [ns, name] = podKey.split("/") as [string, string];
		const q = containerId ? `?containerId=${encodeURIComponent(containerId)}` : "";
		return this.#get(`/v1/pods/${encodeURIComponent(ns)}/${encodeURIComponent(name)}${q}`);
	}

	/** Whether terwayd answered /v1/status (checks that need it are skipped otherwise). */
	async daemonUp(): Promise<boolean> {
		try {
			await this.status();
			return true;
		} catch {
			return false;
		}
	}

	cloud(): Promise<CloudPorts> {
		this.#cloud ??= this.deps.cloud();
		this.#cloud.catch(() => {});
		return this.#cloud;
	}

	/** A signal that fires after the run's --timeout (per call). */
	signal(): AbortSignal {
		return AbortSignal.timeout(this.deps.timeoutMs);
	}
}

/** One check of the run: an id (also the finding id prefix), a title for progress, and its body. */
export type Check = {
	id: string;
	title: string;
	run(ctx: DiagnoseContext): Promise<Finding[]>;
};
