/**
 * @module cli/commands/diagnose/render
 *
 * The two non-interactive outputs of `terwayctl diagnose`: the text report (problems first,
 * each with its fix; ok checks as one line each; a summary) and the JSON document. Pure: the
 * caller prints. Colour is passed in (only on a TTY), so tests see plain text.
 */
import type { DiagnoseReport, Finding, Severity } from "./findings.ts";

export type Paint = {
	bold: (s: string) => string;
	dim: (s: string) => string;
	green: (s: string) => string;
	red: (s: string) => string;
	yellow: (s: string) => string;
};

const id = (s: string) => s;
export const PLAIN: Paint = { bold: id, dim: id, green: id, red: id, yellow: id };

const TAG: Record<Severity, string> = { ok: "OK", info: "INFO", warn: "WARN", error: "ERROR" };

function tag(sev: Severity, p: Paint): string {
	const t = `[${TAG[sev]}]`.padEnd(8);
	switch (sev) {
		case "ok":
			return p.green(t);
		case "info":
			return p.dim(t);
		case "warn":
			return p.yellow(t);
		case "error":
			return p.red(t);
	}
}

/** One finding as 1-3 lines: `[WARN]  kernel  default/web-1: ...` then `  fix: ...`. */
export function renderFinding(f: Finding, p: Paint = PLAIN): string {
	const subject = f.subject ? `${p.bold(f.subject)}: ` : "";
	const lines = [`${tag(f.severity, p)}${f.layer.padEnd(9)}${subject}${f.message}`];
	if (f.fix) lines.push(`${" ".repeat(17)}fix: ${f.fix}`);
	return lines.join("\n");
}

/** The text report; problems and infos in full, then the passed checks, then the summary. */
export function renderText(r: DiagnoseReport, p: Paint = PLAIN): string {
	const out: string[] = [];
	out.push(p.bold(`terwayctl diagnose — node ${r.node || "(unknown)"} (${r.socket})`));
	const notOk = r.findings.filter((f) => f.severity !== "ok");
	const ok = r.findings.filter((f) => f.severity === "ok");
	if (notOk.length) {
		out.push("");
		for (const f of notOk) out.push(renderFinding(f, p));
	}
	if (ok.length) {
		out.push("");
		for (const f of ok) out.push(renderFinding(f, p));
	}
	const s = r.summary;
	out.push("");
	const verdict = r.problems ? p.red("problems found") : p.green("no problems found");
	out.push(
		`${verdict}: ${s.error} error, ${s.warn} warn, ${s.info} info, ${s.ok} ok (${r.checks.length} checks, ${r.durationMs} ms)`,
	);
	return out.join("\n");
}

/** The `--json` document (stable, documented in docs/cli/diagnose.md). */
export function renderJson(r: DiagnoseReport): string {
	return JSON.stringify(r, null, 2);
}
