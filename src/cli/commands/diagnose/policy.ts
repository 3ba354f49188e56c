/**
 * @module cli/commands/diagnose/policy
 *
 * The eBPF policy layer for diagnose: the pinned NetworkPolicy maps of this node (pin root from
 * TERWAY_BPF_PIN_ROOT, default /sys/fs/bpf/terway). Until the policy-map layer
 * (src/linux/bpf/policy-maps.ts + core/policy explain) is part of the build this reports the maps
 * as not found, and diagnose says so as an info finding.
 */
import type { PolicyPort } from "./context.ts";

/** The policy maps of this node, or undefined when they are not pinned. */
export function openPolicyPort(): PolicyPort | undefined {
	return undefined;
}
