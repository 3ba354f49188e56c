/**
 * Kubernetes label selectors (metav1.LabelSelector) as NetworkPolicy uses them: matchLabels and
 * matchExpressions ANDed, an empty selector matches everything. Validation follows the API
 * server's: In/NotIn need at least one value, Exists/DoesNotExist take none, no other operator.
 * Pure.
 */
import type { LabelSelector } from "./types.ts";

/** A selector that failed validation; `path` names the field ("spec.podSelector.matchExpressions[0]"). */
export class SelectorError extends Error {
	override readonly name = "SelectorError";
	constructor(
		readonly path: string,
		readonly value: unknown,
		reason: string,
	) {
		super(`${path} ${JSON.stringify(value)}: ${reason}`);
	}
}

/** Throws SelectorError for a selector the API server would refuse. */
export function validateSelector(sel: LabelSelector | undefined, path: string): void {
	if (!sel) return;
	for (const [k, v] of Object.entries(sel.matchLabels ?? {})) {
		if (typeof v !== "string") throw new SelectorError(`${path}.matchLabels.${k}`, v, "must be a string");
	}
	(sel.matchExpressions ?? []).forEach((e, i) => {
		const at = `${path}.matchExpressions[${i}]`;
		if (!e || typeof e.key !== "string" || e.key === "")
			throw new SelectorError(`${at}.key`, e?.key, "must be set");
		const values = e.values ?? [];
		switch (e.operator) {
			case "In":
			case "NotIn":
				if (values.length === 0)
					throw new SelectorError(`${at}.values`, values, `operator ${e.operator} needs at least one value`);
				break;
			case "Exists":
			case "DoesNotExist":
				if (values.length !== 0)
					throw new SelectorError(`${at}.values`, values, `operator ${e.operator} takes no values`);
				break;
			default:
				throw new SelectorError(`${at}.operator`, e.operator, "must be In, NotIn, Exists or DoesNotExist");
		}
	});
}

/** Whether `labels` satisfy `sel` (absent or empty selector: everything). Assumes it is valid. */
export function matches(sel: LabelSelector | undefined, labels: Record<string, string>): boolean {
	if (!sel) return true;
	for (const [k, v] of Object.entries(sel.matchLabels ?? {})) {
		if (!Object.hasOwn(labels, k) || labels[k] !== v) return false;
	}
	for (const e of sel.matchExpressions ?? []) {
		const has = Object.hasOwn(labels, e.key);
		const values = e.values ?? [];
		switch (e.operator) {
			case "In":
				if (!has || !values.includes(labels[e.key]!)) return false;
				break;
			case "NotIn":
				// as labels.Selector: a missing key satisfies NotIn
				if (has && values.includes(labels[e.key]!)) return false;
				break;
			case "Exists":
				if (!has) return false;
				break;
			case "DoesNotExist":
				if (has) return false;
				break;
		}
	}
	return true;
}

/** "app=web,tier=fe" (sorted by key), "" for no labels. */
export function formatLabels(labels: Record<string, string>): string {
	return Object.keys(labels)
		.sort()
		.map((k) => `${k}=${labels[k]}`)
		.join(",");
}
