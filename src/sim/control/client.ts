/**
 * Client of a world's control API (HTTP over its unix socket): what every `terwayctl sim`
 * subcommand but `up` talks to. Errors are one readable line naming the world.
 */
import { existsSync, readFileSync } from "node:fs";
import type { FaultRule, RequestLogEntry } from "../contracts.ts";
import { type WorldInfo, worldPaths } from "../layout.ts";

export class SimNotRunningError extends Error {
	override readonly name = "SimNotRunningError";
}

export type SimStatus = {
	prefix: string;
	mode: string;
	phase: "starting" | "ready" | "stopping";
	progress: string[];
	nodes: { name: string; instanceId: string; enis: number; ips: number; pods: number }[];
	pods: number;
	faults: number;
	requests: number;
};

export type SimPod = { namespace: string; name: string; node: string; phase: string; podIP?: string };

export class SimClient {
	readonly paths: ReturnType<typeof worldPaths>;

	constructor(readonly prefix: string) {
		this.paths = worldPaths(prefix);
	}

	/** world.json, or a SimNotRunningError saying how to start one. */
	info(): WorldInfo {
		if (!existsSync(this.paths.info)) {
			throw new SimNotRunningError(
				`no world with prefix "${this.prefix}" (start one with: terwayctl sim up --prefix ${this.prefix})`,
			);
		}
		return JSON.parse(readFileSync(this.paths.info, "utf8")) as WorldInfo;
	}

	async request<T>(method: string, path: string, body?: unknown): Promise<T> {
		let res: Response;
		try {
			res = await fetch(`http://sim${path}`, {
				method,
				unix: this.paths.control,
				...(body !== undefined
					? { body: JSON.stringify(body), headers: { "content-type": "application/json" } }
					: {}),
			});
		} catch (e) {
			throw new SimNotRunningError(
				`world "${this.prefix}" is not answering on ${this.paths.control} (${(e as Error).message}); is it up? (terwayctl sim status --prefix ${this.prefix})`,
			);
		}
		const text = await res.text();
		const doc = text ? JSON.parse(text) : undefined;
		if (!res.ok) throw new Error(doc?.error ?? `control API ${method} ${path}: HTTP ${res.status}`);
		return doc as T;
	}

	status(): Promise<SimStatus> {
		return this.request("GET", "/v1/status");
	}
	faults(): Promise<(FaultRule & { seen: number; fired: number })[]> {
		return this.request("GET", "/v1/faults");
	}
	addFault(rule: unknown): Promise<FaultRule> {
		return this.request("POST", "/v1/faults", rule);
	}
	removeFault(id: string): Promise<{ removed: boolean }> {
		return this.request("DELETE", `/v1/faults/${encodeURIComponent(id)}`);
	}
	clearFaults(): Promise<{ removed: number }> {
		return this.request("DELETE", "/v1/faults");
	}
	log(since = 0, face?: string): Promise<RequestLogEntry[]> {
		return this.request("GET", `/v1/log?since=${since}${face ? `&face=${encodeURIComponent(face)}` : ""}`);
	}
	pods(): Promise<SimPod[]> {
		return this.request("GET", "/v1/pods");
	}
	addPod(pod: {
		namespace?: string;
		name: string;
		node?: string;
		labels?: Record<string, string>;
	}): Promise<SimPod> {
		return this.request("POST", "/v1/pods", pod);
	}
	deletePod(namespace: string, name: string): Promise<{ deleted: boolean }> {
		return this.request("DELETE", `/v1/pods/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}`);
	}
	snapshot(): Promise<unknown> {
		return this.request("GET", "/v1/snapshot");
	}
	shutdown(): Promise<{ stopping: boolean }> {
		return this.request("POST", "/v1/shutdown");
	}
}
