/**
 * @module cli/commands/diagnose/findings
 *
 * The findings model of `terwayctl diagnose`: every check yields findings `{id, layer, severity,
 * subject, message, fix}`; a report is the findings of one run plus counts. Pure: no I/O.
 *
 * Severities: `ok` (a check passed), `info` (worth knowing, nothing to do), `warn` (something
 * drifted or leaks; the node still serves), `error` (pods are or will be broken). The exit code
 * is 0 when nothing is warn/error, 1 otherwise (2 is commander's usage error).
 *
 * The JSON document (`--json`) is `DiagnoseReport` as is, `schema: 1`; docs/cli/diagnose.md
 * documents it. Changes are additive only.
 */

/** Which part of the system a finding is about ("which layer disagrees"). */
export const LAYERS = ["daemon", "cloud", "metadata", "store", "kernel", "ebpf", "config", "leak"] as const;
export type Layer = (typeof LAYERS)[number];

export const SEVERITIES = ["ok", "info", "warn", "error"] as const;
export type Severity = (typeof SEVERITIES)[number];

export type Finding = {
	/** Stable check id, e.g. `mapping.cloud`, `kernel.pod-datapath`. */
	id: string;
	layer: Layer;
	severity: Severity;
	/** What it is about: a pod (`ns/name`), an ENI id, an IP, a file; "" for the node. */
	subject: string;
	/** One line: what was seen. */
	message: string;
	/** What to run or change; "" for ok/info findings that need nothing. */
	fix: string;
	/** Extra machine-readable facts (the raw mapping row, the rule that is missing, ...). */
	details?: Record<string, unknown>;
};

export type Summary = Record<Severity, number>;

export type DiagnoseReport = {
	schema: 1;
	/** The node as terwayd names it ("" when the daemon did not answer). */
	node: string;
	socket: string;
	/** ISO-8601 UTC. */
	startedAt: string;
	durationMs: number;
	/** Ids of the checks that ran, in order. */
	checks: string[];
	findings: Finding[];
	summary: Summary;
	/** True when any finding is warn or error (the exit code is then 1). */
	problems: boolean;
};

const RANK: Record<Severity, number> = { ok: 0, info: 1, warn: 2, error: 3 };

/** A finding; `fix` defaults to "". */
export function finding(f: Omit<Finding, "fix"> & { fix?: string }): Finding {
	return {
		id: f.id,
		layer: f.layer,
		severity: f.severity,
		subject: f.subject,
		message: f.message,
		fix: f.fix ?? "",
		...(f.details ? { details: f.details } : {}),
	};
}

export function isProblem(f: Pick<Finding, "severity">): boolean {
	return RANK[f.severity] >= RANK.warn;
}

/** Counts per severity (every severity present, 0 when none). */
export function summarize(findings: readonly Finding[]): Summary {
	const s: Summary = { ok: 0, info: 0, warn: 0, error: 0 };
	for (const f of findings) s[f.severity]++;
	return s;
}

/** Worst first, then by layer order, then by id and subject (stable for tests and diffs). */
export function sortFindings(findings: readonly Finding[]): Finding[] {
	return [...findings].sort(
		(a, b) =>
			RANK[b.severity] - RANK[a.severity] ||
			LAYERS.indexOf(a.layer) - LAYERS.indexOf(b.layer) ||
			a.id.localeCompare(b.id) ||
			a.subject.localeCompare(b.subject),
	);
}

/** 0 when no finding is warn/error, else 1. */
export function exitCodeOf(findings: readonly Finding[]): 0 | 1 {
	return findings.some(isProblem) ? 1 : 0;
}

export function makeReport(o: {
	node: string;
	socket: string;
	startedAt: Date;
	durationMs: number;
	checks: string[];
	findings: Finding[];
}): DiagnoseReport {
	const findings = sortFindings(o.findings);
	return {
		schema: 1,
		node: o.node,
		socket: o.socket,
		startedAt: o.startedAt.toISOString(),
		durationMs: Math.round(o.durationMs),
		checks: o.checks,
		findings,
		summary: summarize(findings),
		problems: findings.some(isProblem),
	};
}
