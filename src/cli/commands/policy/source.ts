/**
 * Where `policy dump|explain` read from: the maps pinned under a pin root (src/linux/bpf
 * PolicyMaps, opened by path, so no daemon is needed), adapted to the dump model's rows.
 * Missing pins are one readable error (exit 1) naming the directory.
 */
import { accessSync, constants, existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { MapState } from "../../../core/policy/types.ts";
import type { PolicyResponse } from "../../../daemon/api-types.ts";
import { DEFAULT_PIN_ROOT } from "../../../linux/bpf/bpffs.ts";
import type { DropReader, PolicyMaps } from "../../../linux/bpf/policy-maps.ts";
import { DaemonApi, socketPath } from "../../daemon-api.ts";
import { EXIT, ExitError } from "../../errors.ts";
import type { AgentDoc, CtRow, DropRow, LinkRow, StatsRow } from "./model.ts";

/** terwayd is asked for policy statuses only briefly: the dump must not wait on a stuck daemon. */
const AGENT_TIMEOUT_MS = 1_000;

/** The maps `policy dump` needs (terway_policy.h names). */
export const REQUIRED_PINS = ["terway_ipid", "terway_policy", "terway_idnames", "terway_rules"] as const;

/** `--pin-root`, else TERWAY_BPF_PIN_ROOT, else /sys/fs/bpf/terway. */
export function pinRootOf(flag?: string): string {
	return flag || process.env.TERWAY_BPF_PIN_ROOT || DEFAULT_PIN_ROOT;
}

export function noMapsError(pinRoot: string, agent?: AgentDoc | null): ExitError {
	const off =
		agent && !agent.enabled
			? ` (terwayd: network policy is off${agent.reason ? `: ${agent.reason}` : ""})`
			: "";
	return new ExitError(
		`no policy maps under ${pinRoot}: is terwayd running with network policy enabled?${off}`,
	);
}

/** Whether every required map is pinned under `pinRoot`; a pin root we may not read is an error. */
export function hasPins(pinRoot: string): boolean {
	try {
		accessSync(pinRoot, constants.R_OK | constants.X_OK);
	} catch (e) {
		if ((e as NodeJS.ErrnoException).code === "EACCES") {
			throw new ExitError(`cannot read ${pinRoot}: permission denied (the policy maps need root)`);
		}
		return false;
	}
	return REQUIRED_PINS.every((m) => existsSync(join(pinRoot, m)));
}

/** Throws the "no policy maps" error unless every required map is pinned under `pinRoot`. */
export function checkPins(pinRoot: string): void {
	if (!hasPins(pinRoot)) throw noMapsError(pinRoot);
}

/**
 * bpf_ktime_get_ns() (CLOCK_MONOTONIC) -> wall clock. Uses /proc/uptime (CLOCK_BOOTTIME, 10 ms
 * resolution), which equals the monotonic clock unless the machine was suspended since boot.
 */
export function ktimeToDate(tsNs: bigint, now = Date.now(), uptimeS = readUptime()): Date | undefined {
	if (uptimeS === undefined) return undefined;
	const ageMs = uptimeS * 1000 - Number(tsNs) / 1e6;
	return new Date(now - Math.max(0, ageMs));
}

function readUptime(): number | undefined {
	try {
		return Number(readFileSync("/proc/uptime", "utf8").split(" ")[0]);
	} catch {
		return undefined;
	}
}

/** What the dump reads, whoever provides it. */
export interface PolicySource {
	readState(): MapState;
	stats(): StatsRow[];
	ct(): CtRow[];
	/** Drop events waiting in the ring buffer (consumes them), up to `timeoutMs` for the first. */
	drops(timeoutMs: number): DropRow[];
	close(): void;
}

/** terwayd's GET /v1/policy as the dump shows it; null when terwayd does not answer (it may be down). */
export async function agentView(socketFlag?: string): Promise<AgentDoc | null> {
	const socket = socketPath(socketFlag);
	try {
		const r = await new DaemonApi(socket, AGENT_TIMEOUT_MS).get<PolicyResponse>("/v1/policy");
		return {
			socket,
			enabled: r.enabled,
			reason: r.reason ?? null,
			policies: r.policies,
			lastSync: r.lastSync ?? null,
			lastError: r.lastError ?? null,
		};
	} catch {
		return null;
	}
}

/**
 * The links of the namespace this process runs in, with the host routes (/32, /128) through each:
 * on a node, a pod's host veth carries its pod's route. Best effort: [] when netlink fails.
 */
export async function nodeLinks(): Promise<LinkRow[]> {
	try {
		const { Netlink } = await import("../../../linux/netlink/handle.ts");
		using nl = Netlink.current();
		const routes = new Map<string, string[]>();
		for (const r of nl.routeList({ table: "all" })) {
			const m = /^(.+)\/(32|128)$/.exec(r.dst);
			if (!m || !r.dev || r.gateway) continue;
			if ((r.family === 4) !== (m[2] === "32")) continue;
			routes.set(r.dev, [...(routes.get(r.dev) ?? []), m[1]!]);
		}
		return nl.linkList().map((l) => ({ ifindex: l.index, name: l.name, routes: routes.get(l.name) ?? [] }));
	} catch {
		return [];
	}
}

/** The pinned maps as a PolicySource (checkPins first for the readable error). */
export async function openPolicySource(pinRoot: string): Promise<PolicySource> {
	const { PolicyMaps: Maps, DropReader: Reader } = await import("../../../linux/bpf/policy-maps.ts");
	let maps: PolicyMaps;
	try {
		maps = Maps.openPinned(pinRoot);
	} catch (e) {
		throw new ExitError(
			`cannot open the policy maps under ${pinRoot}: ${(e as Error).message}`,
			EXIT.problem,
		);
	}
	// Opened on first use (explain never reads drops); null = not pinned, the dump shows none.
	let reader: DropReader | null | undefined;
	const drops = () => {
		if (reader === undefined) {
			try {
				reader = Reader.openPinned(pinRoot);
			} catch {
				reader = null;
			}
		}
		return reader;
	};
	const n = (x: bigint) => Number(x);
	return {
		readState: () => maps.readState(),
		stats: () =>
			maps.stats().map((s) => ({
				ifindex: s.ifindex,
				direction: s.direction,
				allowed: n(s.allowed),
				allowedBytes: n(s.allowedBytes),
				dropped: n(s.dropped),
				droppedBytes: n(s.droppedBytes),
			})),
		ct: () => maps.ctEntries(),
		drops: (timeoutMs) => {
			const r = drops();
			if (!r) return [];
			const events = timeoutMs > 0 ? r.poll(timeoutMs) : r.read();
			return events.map((e) => ({ ...e, time: ktimeToDate(e.tsNs) }));
		},
		close: () => {
			reader?.close();
			maps.close();
		},
	};
}
