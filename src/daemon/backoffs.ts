/**
 * @module daemon/backoffs
 *
 * `eni_conf.backoff_override` (Terway `pkg/backoff`: a name such as `eni_create` or
 * `wait_eni_status` → `wait.Backoff` with `InitialDelay`) mapped onto the cloud client's named
 * backoffs (`ENICreate`, `WaitENIStatus`; either spelling is accepted, `""` is `Default`). Names the cloud client does not have are reported
 * (Terway ignores them silently; we say so once at start) and left out; values the client would
 * refuse (`Steps` 0) are reported by name too instead of failing later inside `createCloud`.
 */
import { type BackoffOverrides, DEFAULT_BACKOFFS } from "../cloud/retry.ts";
import type { BackoffKey } from "../cloud/types.ts";
import type { BackoffOverride } from "../core/config/types.ts";

const KEYS = Object.keys(DEFAULT_BACKOFFS) as BackoffKey[];
/** Terway's keys are snake_case (`eni_create`, `wait_eni_status`, `meta_assign_private_ip`); ours CamelCase. */
const norm = (name: string) => name.replace(/[_-]/g, "").toLowerCase();

export function cloudBackoffs(overrides: Record<string, BackoffOverride>): {
	backoffs: BackoffOverrides;
	warnings: string[];
} {
	const backoffs: BackoffOverrides = {};
	const warnings: string[] = [];
	for (const [name, o] of Object.entries(overrides)) {
		const key = name === "" ? "Default" : KEYS.find((k) => norm(k) === norm(name));
		if (!key) {
			warnings.push(`backoff_override.${name}: no such backoff (known: ${KEYS.join(", ")}); ignored`);
			continue;
		}
		const spec: Partial<BackoffOverride> = {};
		for (const [f, v] of Object.entries(o) as [keyof BackoffOverride, number | undefined][]) {
			if (v === undefined) continue;
			if (f === "steps" && v < 1) {
				warnings.push(
					`backoff_override.${name}.Steps: ${v} would never try; kept at ${DEFAULT_BACKOFFS[key].steps}`,
				);
				continue;
			}
			spec[f] = v;
		}
		backoffs[key] = spec;
	}
	return { backoffs, warnings };
}
