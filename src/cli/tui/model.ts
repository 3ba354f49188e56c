/**
 * @module cli/tui/model
 *
 * What the diagnose TUI shows, as data: the overview of one refresh (terwayd's status, ENIs,
 * mapping and the diagnose report) and the navigable items built from it (findings worst first,
 * then ENIs, then pods), each with its detail lines and raw JSON. Pure, so the screens are tested
 * without a terminal.
 */
import type { EniInfo, MappingRow, StatusResponse } from "../../daemon/api-types.ts";
import type { DiagnoseReport, Severity } from "../commands/diagnose/findings.ts";

export type Overview = {
	at: Date;
	report: DiagnoseReport;
	status?: StatusResponse;
	enis: EniInfo[];
	mapping: MappingRow[];
	/** Why the daemon's views are empty (it did not answer). */
	daemonError?: string;
};

export type Section = "findings" | "enis" | "pods";

export type Item = {
	key: string;
	section: Section;
	label: string;
	severity?: Severity;
	detail: string[];
	raw: unknown;
};

/** `[#####.....]` of width `w` for value/max (clamped; an empty gauge when max is 0). */
export function gauge(value: number, max: number, w = 20): string {
	const n = max > 0 ? Math.max(0, Math.min(w, Math.round((value / max) * w))) : 0;
	return `[${"#".repeat(n)}${".".repeat(w - n)}]`;
}

function findingItems(o: Overview): Item[] {
	return o.report.findings
		.filter((f) => f.severity !== "ok")
		.map((f, i) => ({
			key: `f${i}:${f.id}:${f.subject}`,
			section: "findings" as const,
			label: `${f.severity.toUpperCase().padEnd(5)} ${f.layer.padEnd(8)} ${f.subject ? `${f.subject}: ` : ""}${f.message}`,
			severity: f.severity,
			detail: [
				`check     ${f.id}`,
				`layer     ${f.layer}`,
				`severity  ${f.severity}`,
				`subject   ${f.subject || "(node)"}`,
				`message   ${f.message}`,
				...(f.fix ? [`fix       ${f.fix}`] : []),
			],
			raw: f,
		}));
}

function eniItems(o: Overview): Item[] {
	return o.enis.map((e) => {
		const used = e.ips.filter((x) => x.state === "allocated").length;
		return {
			key: `eni:${e.id}`,
			section: "enis" as const,
			label: `${e.id}  ${e.mac}  ${e.link ?? "-"}  ${e.status}  ${used}/${e.ips.length} IPs in use`,
			detail: [
				`ENI       ${e.id} (${e.type}, ${e.status})`,
				`MAC       ${e.mac}   link ${e.link ?? "-"}   table ${e.routeTable ?? "-"}`,
				`vSwitch   ${e.vswitchId}   primary IP ${e.primaryIp}`,
				"IPs:",
				...e.ips.map((x) => `  ${x.ip.padEnd(18)} ${x.state.padEnd(10)} ${x.pod ?? ""}`),
			],
			raw: e,
		};
	});
}

function podItems(o: Overview): Item[] {
	const pods = new Map<string, MappingRow[]>();
	for (const r of o.mapping) {
		if (!r.pod) continue;
		pods.set(r.pod, [...(pods.get(r.pod) ?? []), r]);
	}
	return [...pods.entries()]
		.sort(([a], [b]) => a.localeCompare(b))
		.map(([pod, rows]) => {
			const bad = rows.some((r) => r.problems.length > 0);
			return {
				key: `pod:${pod}`,
				section: "pods" as const,
				label: `${pod}  ${rows.map((r) => r.ip).join(", ")}  ${rows[0]?.eniId ?? ""}${bad ? "  (problems)" : ""}`,
				...(bad ? { severity: "error" as const } : {}),
				detail: [
					`pod       ${pod}`,
					`container ${rows[0]?.containerId ?? "-"}`,
					...rows.flatMap((r) => [
						`${r.ip} on ${r.eniId} (${r.mac}), ${r.state}`,
						`  store ${mark(r.checks.store)}  cloud ${mark(r.checks.cloud)}  metadata ${mark(r.checks.metadata)}  kernel ${mark(r.checks.kernel)}`,
						...r.problems.map((p) => `  ! ${p}`),
					]),
				],
				raw: rows,
			};
		});
}

const mark = (v: boolean | undefined) => (v === undefined ? "-" : v ? "ok" : "DIFFERS");

/** Every navigable item of an overview, in screen order. */
export function itemsOf(o: Overview): Item[] {
	return [...findingItems(o), ...eniItems(o), ...podItems(o)];
}

export const SECTION_TITLE: Record<Section, string> = {
	findings: "Findings",
	enis: "ENIs",
	pods: "Pods",
};

/** The window of `total` rows of height `h` that keeps `cursor` visible. */
export function windowOf(total: number, cursor: number, h: number): [number, number] {
	if (total <= h) return [0, total];
	const start = Math.max(0, Math.min(cursor - Math.floor(h / 2), total - h));
	return [start, start + h];
}
