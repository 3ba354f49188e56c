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

/** A compiled selector: a predicate over labels. */
export type Matcher = (labels: Record<string, string>) => boolean;

const everything: Matcher = () => true;

/**
 * `sel` as a predicate (absent or empty selector: everything). Assumes it is valid. A missing
 * key satisfies NotIn and DoesNotExist, as labels.Selector does.
 */
export function compileSelector(sel: LabelSelector | undefined): Matcher {
	if (!sel) return everything;
	const tests: Matcher[] = [];
	for (const [k, v] of Object.entries(sel.matchLabels ?? {})) {
		tests.push((l) => Object.hasOwn(l, k) && l[k] === v);
	}
	for (const e of sel.matchExpressions ?? []) {
		const values = new Set(e.values ?? []);
		const k = e.key;
		switch (e.operator) {
			case "In":
				tests.push((l) => Object.hasOwn(l, k) && values.has(l[k]!));
				break;
			case "NotIn":
				tests.push((l) => !Object.hasOwn(l, k) || !values.has(l[k]!));
				break;
			case "Exists":
				tests.push((l) => Object.hasOwn(l, k));
				break;
			case "DoesNotExist":
				tests.push((l) => !Object.hasOwn(l, k));
				break;
		}
	}
	if (tests.length === 0) return everything;
	return (l) => {
		for (const t of tests) if (!t(l)) return false;
		return true;
	};
}

/** Whether `labels` satisfy `sel` (absent or empty selector: everything). Assumes it is valid. */
export function matches(sel: LabelSelector | undefined, labels: Record<string, string>): boolean {
	return compileSelector(sel)(labels);
}

/** "app=web,tier=fe" (sorted by key), "" for no labels. */
export function formatLabels(labels: Record<string, string>): string {
	return Object.keys(labels)
		.sort()
		.map((k) => `${k}=${labels[k]}`)
		.join(",");
}
