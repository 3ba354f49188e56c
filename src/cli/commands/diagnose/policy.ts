/**
 * @module cli/commands/diagnose/policy
 *
 * The eBPF policy layer for diagnose: this node's pinned NetworkPolicy maps (pin root as
 * `policy dump` finds it: TERWAY_BPF_PIN_ROOT, default /sys/fs/bpf/terway), read once with
 * src/linux/bpf PolicyMaps and answered with core/policy `explain` — the same lookups the
 * datapath does, so the verdict is what packets get. Undefined when the maps are not pinned.
 */
import { explain } from "../../../core/policy/explain.ts";
import { EP } from "../../../core/policy/types.ts";
import { PolicyMaps } from "../../../linux/bpf/policy-maps.ts";
import { hasPins, pinRootOf } from "../policy/source.ts";
import type { PolicyPort } from "./context.ts";

const hostKey = (ip: string) => (ip.includes("/") ? ip : ip.includes(":") ? `${ip}/128` : `${ip}/32`);

/** The policy maps of this node, or undefined when they are not pinned. */
export function openPolicyPort(pinRoot: string = pinRootOf()): PolicyPort | undefined {
	if (!hasPins(pinRoot)) return undefined;
	const maps = PolicyMaps.openPinned(pinRoot);
	let state: ReturnType<PolicyMaps["readState"]>;
	try {
		state = maps.readState();
	} finally {
		maps.close();
	}
	return {
		where: pinRoot,
		entries: { ips: state.ips.size, policy: state.policy.size },
		localPod: (ip) => ((state.ips.get(hostKey(ip))?.flags ?? 0) & EP.LOCAL) !== 0,
		explain: (q) => {
			const e = explain(state, {
				src: q.from,
				dst: q.to,
				proto: (q.proto ?? "TCP").toUpperCase() as "TCP",
				...(q.port !== undefined ? { port: q.port } : {}),
			});
			const rule = e.checks.find((c) => c.entry)?.entry?.rule;
			const name = rule !== undefined ? state.ruleNames.get(rule) : undefined;
			return { allowed: e.verdict === "allowed", reason: e.reason, ...(name ? { rule: name } : {}) };
		},
	};
}
