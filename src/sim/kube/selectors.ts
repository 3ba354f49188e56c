/**
 * Label and field selectors as the apiserver parses them (k8s.io/apimachinery labels.Parse and
 * fields.ParseSelector): label requirements `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a)`,
 * `k`, `!k`, joined by commas; field requirements `path=v`, `path==v`, `path!=v`.
 * Pure: no I/O. A malformed selector is a 400 BadRequest, as on a real server.
 */
import { kubeErrors } from "./errors.ts";

export type LabelRequirement =
	| { key: string; op: "=" | "!="; value: string }
	| { key: string; op: "in" | "notin"; values: string[] }
	| { key: string; op: "exists" | "!exists" };

export type LabelSelector = LabelRequirement[];

export type FieldRequirement = { path: string; op: "=" | "!="; value: string };
export type FieldSelector = FieldRequirement[];

const KEY = /^([a-zA-Z0-9]([-a-zA-Z0-9.]*[a-zA-Z0-9])?\/)?[a-zA-Z0-9]([-a-zA-Z0-9_.]*[a-zA-Z0-9])?$/;
const VALUE = /^([a-zA-Z0-9]([-a-zA-Z0-9_.]*[a-zA-Z0-9])?)?$/;

function badLabel(sel: string, why: string): never {
	throw kubeErrors.badRequest(
		`unable to parse requirement: ${why} (in label selector ${JSON.stringify(sel)})`,
	);
}

/** Split on commas that are not inside parentheses. */
function splitTop(s: string): string[] {
	const out: string[] = [];
	let depth = 0;
	let cur = "";
	for (const ch of s) {
		if (ch === "(") depth++;
		if (ch === ")") depth--;
		if (ch === "," && depth === 0) {
			out.push(cur);
			cur = "";
		} else cur += ch;
	}
	out.push(cur);
	return out;
}

function checkKey(sel: string, key: string): string {
	if (!KEY.test(key)) badLabel(sel, `invalid label key ${JSON.stringify(key)}`);
	return key;
}

function checkValue(sel: string, value: string): string {
	if (value.length > 63 || !VALUE.test(value)) badLabel(sel, `invalid label value ${JSON.stringify(value)}`);
	return value;
}

/** Parse a `labelSelector` query value. The empty string selects everything. */
export function parseLabelSelector(sel: string | null | undefined): LabelSelector {
	if (!sel || sel.trim() === "") return [];
	const reqs: LabelSelector = [];
	for (const raw of splitTop(sel)) {
		const part = raw.trim();
		if (part === "") badLabel(sel, "empty requirement");
		const set = /^(\S+)\s+(in|notin)\s*\(([^)]*)\)$/.exec(part);
		if (set) {
			const values = set[3]!.split(",").map((v) => v.trim());
			if (values.some((v) => v === ""))
				badLabel(sel, "for 'in', 'notin' operators, values set can't be empty");
			reqs.push({
				key: checkKey(sel, set[1]!),
				op: set[2] as "in" | "notin",
				values: values.map((v) => checkValue(sel, v)),
			});
			continue;
		}
		const cmp = /^([^!=\s]+)\s*(==|!=|=)\s*(.*)$/.exec(part);
		if (cmp) {
			reqs.push({
				key: checkKey(sel, cmp[1]!),
				op: cmp[2] === "!=" ? "!=" : "=",
				value: checkValue(sel, cmp[3]!.trim()),
			});
			continue;
		}
		if (part.startsWith("!")) {
			reqs.push({ key: checkKey(sel, part.slice(1).trim()), op: "!exists" });
			continue;
		}
		reqs.push({ key: checkKey(sel, part), op: "exists" });
	}
	return reqs;
}

export function matchLabels(sel: LabelSelector, labels: Record<string, string> | undefined): boolean {
	const l = labels ?? {};
	return sel.every((r) => {
		const has = Object.hasOwn(l, r.key);
		const v = l[r.key];
		switch (r.op) {
			case "=":
				return has && v === r.value;
			case "!=":
				return !has || v !== r.value;
			case "in":
				return has && r.values.includes(v!);
			case "notin":
				return !has || !r.values.includes(v!);
			case "exists":
				return has;
			case "!exists":
				return !has;
		}
		return false;
	});
}

/** Parse a `fieldSelector` query value (`a=b,c!=d`); `\,` and `\=` escapes are honoured. */
export function parseFieldSelector(sel: string | null | undefined): FieldSelector {
	if (!sel || sel.trim() === "") return [];
	const parts: string[] = [];
	let cur = "";
	for (let i = 0; i < sel.length; i++) {
		const ch = sel[i]!;
		if (ch === "\\" && i + 1 < sel.length) {
			cur += ch + sel[++i]!;
		} else if (ch === ",") {
			parts.push(cur);
			cur = "";
		} else cur += ch;
	}
	parts.push(cur);
	return parts.map((part) => {
		const m = /^([^=!]+?)\s*(==|!=|=)\s*(.*)$/.exec(part.trim());
		if (!m) throw kubeErrors.badRequest(`invalid selector: '${sel}'; can't understand '${part}'`);
		return {
			path: m[1]!.trim(),
			op: m[2] === "!=" ? "!=" : "=",
			value: m[3]!.replace(/\\(.)/g, "$1"),
		} satisfies FieldRequirement;
	});
}

/** The string value of a dotted field path ("spec.nodeName"); missing fields read as "". */
export function fieldValue(obj: unknown, path: string): string {
	let cur: unknown = obj;
	for (const seg of path.split(".")) {
		if (typeof cur !== "object" || cur === null) return "";
		cur = (cur as Record<string, unknown>)[seg];
	}
	if (cur === undefined || cur === null) return "";
	return typeof cur === "string" ? cur : String(cur);
}

export function matchFields(sel: FieldSelector, obj: unknown): boolean {
	return sel.every((r) => (fieldValue(obj, r.path) === r.value) === (r.op === "="));
}
