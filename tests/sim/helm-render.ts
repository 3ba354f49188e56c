/**
 * A minimal renderer for exactly the Go-template constructs deploy/helm/terway uses, because the
 * `helm` binary is not available offline (not in Debian, not on npm). Supported:
 * - `{{ .Values.a.b }}`, `{{ .Release.Namespace }}`, `{{ .Release.Name }}`, `{{ .Chart.X }}`;
 * - pipelines with `quote`, `toYaml`, `nindent N`, `indent N`, `default X`;
 * - `{{ if PIPELINE }} … {{ else }} … {{ end }}` (Go truthiness: false, 0, "", nil, empty
 *   list/map are false);
 * - `{{-` / `-}}` whitespace trimming and `{{/* comments *\/}}`.
 * Anything else (range, with, include, define, variables, functions not listed) throws, so a
 * chart edit that needs more makes the test fail loudly instead of rendering something else.
 * Output differences from helm that do not matter after YAML parsing (e.g. trailing blanks) are
 * not reproduced.
 */
import YAML from "yaml";

export type HelmContext = {
	Values: Record<string, unknown>;
	Release: { Name: string; Namespace: string };
	Chart: Record<string, unknown>;
};

type Node = { text: string } | { action: string } | { cond: string; yes: Node[]; no: Node[] };

/** Split into text and actions, applying the trim markers. */
function lex(tpl: string): ({ text: string } | { action: string })[] {
	const out: ({ text: string } | { action: string })[] = [];
	const re = /\{\{(-?)\s*([\s\S]*?)\s*(-?)\}\}/g;
	let last = 0;
	let trimNext = false;
	for (let m = re.exec(tpl); m; m = re.exec(tpl)) {
		let text = tpl.slice(last, m.index);
		if (trimNext) text = text.replace(/^\s+/, "");
		if (m[1] === "-") text = text.replace(/\s+$/, "");
		out.push({ text });
		out.push({ action: m[2] ?? "" });
		trimNext = m[3] === "-";
		last = re.lastIndex;
	}
	let rest = tpl.slice(last);
	if (trimNext) rest = rest.replace(/^\s+/, "");
	out.push({ text: rest });
	return out;
}

function parse(tokens: ({ text: string } | { action: string })[]): Node[] {
	let i = 0;
	const block = (stopAt: string[]): { nodes: Node[]; stop: string } => {
		const nodes: Node[] = [];
		while (i < tokens.length) {
			const t = tokens[i++] as { text: string } | { action: string };
			if ("text" in t) {
				nodes.push(t);
				continue;
			}
			const a = t.action;
			if (a.startsWith("/*")) continue;
			if (stopAt.includes(a)) return { nodes, stop: a };
			if (a.startsWith("if ")) {
				const then = block(["else", "end"]);
				const otherwise = then.stop === "else" ? block(["end"]).nodes : [];
				nodes.push({ cond: a.slice(3).trim(), yes: then.nodes, no: otherwise });
				continue;
			}
			if (/^(range|with|define|template|block|include|else|end)\b/.test(a) || a.includes(":="))
				throw new Error(`helm-render: unsupported template construct {{ ${a} }}`);
			nodes.push({ action: a });
		}
		if (stopAt.length > 0) throw new Error(`helm-render: missing {{ end }}`);
		return { nodes, stop: "" };
	};
	return block([]).nodes;
}

function lookup(path: string, ctx: HelmContext): unknown {
	let v: unknown = ctx;
	for (const part of path.split(".").filter(Boolean)) {
		if (v === null || typeof v !== "object") return undefined;
		v = (v as Record<string, unknown>)[part];
	}
	return v;
}

function arg(tok: string, ctx: HelmContext): unknown {
	if (tok.startsWith(".")) return lookup(tok, ctx);
	if (/^-?\d+$/.test(tok)) return Number(tok);
	if (/^".*"$/.test(tok)) return JSON.parse(tok);
	if (tok === "true" || tok === "false") return tok === "true";
	throw new Error(`helm-render: unsupported argument ${tok}`);
}

const indentText = (n: number, s: string) => {
	const pad = " ".repeat(n);
	return pad + s.replaceAll("\n", `\n${pad}`);
};

function call(fn: string, args: unknown[]): unknown {
	switch (fn) {
		case "quote":
			return JSON.stringify(args.length ? String(args[0] ?? "") : "");
		case "toYaml":
			return YAML.stringify(args[0]).replace(/\n$/, "");
		case "nindent":
			return `\n${indentText(Number(args[0]), String(args[1] ?? ""))}`;
		case "indent":
			return indentText(Number(args[0]), String(args[1] ?? ""));
		case "default":
			return truthy(args[1]) ? args[1] : args[0];
		default:
			throw new Error(`helm-render: unsupported function ${fn}`);
	}
}

function pipeline(expr: string, ctx: HelmContext): unknown {
	let value: unknown;
	expr.split("|").forEach((cmd, i) => {
		const toks = cmd.trim().split(/\s+/);
		const [head, ...rest] = toks as [string, ...string[]];
		const args = rest.map((t) => arg(t, ctx));
		if (i === 0) value = head.startsWith(".") && rest.length === 0 ? lookup(head, ctx) : call(head, args);
		else value = call(head, [...args, value]);
	});
	return value;
}

function truthy(v: unknown): boolean {
	if (Array.isArray(v)) return v.length > 0;
	if (v && typeof v === "object") return Object.keys(v).length > 0;
	return Boolean(v);
}

function show(v: unknown): string {
	if (v === undefined || v === null) return "";
	return typeof v === "object" ? JSON.stringify(v) : String(v);
}

function evalNodes(nodes: Node[], ctx: HelmContext): string {
	let out = "";
	for (const n of nodes) {
		if ("text" in n) out += n.text;
		else if ("action" in n) out += show(pipeline(n.action, ctx));
		else out += evalNodes(truthy(pipeline(n.cond, ctx)) ? n.yes : n.no, ctx);
	}
	return out;
}

/** Render one template file's text. */
export function renderTemplate(tpl: string, ctx: HelmContext): string {
	return evalNodes(parse(lex(tpl)), ctx);
}
