/**
 * `terwayctl mapping`: terwayd's GET /v1/mapping (each pod IP with its ENI and MAC, and where the
 * store, the cloud API, metadata and the kernel agree) as a table, `-o wide`, JSON or YAML.
 * Filters `--pod NS/NAME` and `--eni ID` (a malformed value is a usage error, exit 2). Exits 1
 * when any shown row has a problem, or when a filter matches nothing.
 */
import type { MappingRow } from "../../../daemon/api-types.ts";
import { DaemonApi, socketPath } from "../../daemon-api.ts";
import { EXIT, ExitError } from "../../errors.ts";
import { emit, isDocument, type OutputFormat } from "../../format.ts";
import { style, table } from "../../output.ts";
import { parseEniId } from "../eni/ids.ts";

export type MappingOptions = {
	pod?: string | undefined;
	eni?: string | undefined;
	socket?: string | undefined;
	quiet?: boolean | undefined;
	format: OutputFormat;
};

/** The --json / -o yaml document. */
export type MappingDocument = {
	rows: MappingRow[];
	summary: { rows: number; allocated: number; idle: number; releasing: number; problems: number };
};

/** `--pod NS/NAME`: both parts non-empty, no further slash. */
export function parsePodFilter(v: string): string {
	if (!/^[^/\s]+\/[^/\s]+$/.test(v))
		throw new ExitError(
			`--pod ${JSON.stringify(v)}: expected NAMESPACE/NAME, e.g. default/web-1`,
			EXIT.usage,
		);
	return v;
}

export function filterRows(
	rows: MappingRow[],
	f: { pod?: string | undefined; eni?: string | undefined },
): MappingRow[] {
	return rows
		.filter((r) => (f.pod === undefined || r.pod === f.pod) && (f.eni === undefined || r.eniId === f.eni))
		.sort((a, b) => a.eniId.localeCompare(b.eniId) || ipOrder(a.ip, b.ip));
}

/** v4 before v6, then numerically. */
export function ipOrder(a: string, b: string): number {
	const v6 = (s: string) => s.includes(":");
	if (v6(a) !== v6(b)) return v6(a) ? 1 : -1;
	if (!v6(a)) {
		const n = (s: string) => s.split(".").reduce((acc, x) => acc * 256 + Number(x), 0);
		return n(a) - n(b);
	}
	return a.localeCompare(b);
}

export function mappingDocument(rows: MappingRow[]): MappingDocument {
	const count = (s: MappingRow["state"]) => rows.filter((r) => r.state === s).length;
	return {
		rows,
		summary: {
			rows: rows.length,
			allocated: count("allocated"),
			idle: count("idle"),
			releasing: count("releasing"),
			problems: rows.filter((r) => r.problems.length > 0).length,
		},
	};
}

const mark = (v: boolean | undefined) => (v === undefined ? "-" : v ? "ok" : style.red("NO"));

/** POD IP ENI STATE PROBLEMS (+ CONTAINER MAC STORE CLOUD METADATA KERNEL when wide). */
export function renderMapping(doc: MappingDocument, wide: boolean): string {
	const headers = wide
		? ["pod", "ip", "eni", "state", "container", "mac", "store", "cloud", "metadata", "kernel", "problems"]
		: ["pod", "ip", "eni", "state", "problems"];
	const rows = doc.rows.map((r) => {
		const problems = r.problems.length ? style.red(r.problems.join("; ")) : "-";
		const base = [r.pod, r.ip, r.eniId, r.state];
		return wide
			? [
					...base,
					r.containerId?.slice(0, 12),
					r.mac,
					mark(r.checks.store),
					mark(r.checks.cloud),
					mark(r.checks.metadata),
					mark(r.checks.kernel),
					problems,
				]
			: [...base, problems];
	});
	const s = doc.summary;
	const foot = `${s.rows} IPs: ${s.allocated} allocated, ${s.idle} idle, ${s.releasing} releasing; ${
		s.problems ? style.red(`${s.problems} with problems`) : style.green("no problems")
	}`;
	return `${table(headers, rows)}\n${style.dim(foot)}`;
}

export async function mappingCommand(opts: MappingOptions): Promise<void> {
	const filter = {
		pod: opts.pod === undefined ? undefined : parsePodFilter(opts.pod),
		eni: opts.eni === undefined ? undefined : parseEniId(opts.eni, "--eni"),
	};
	const all = await new DaemonApi(socketPath(opts.socket)).get<MappingRow[]>("/v1/mapping");
	const doc = mappingDocument(filterRows(all, filter));
	if (!opts.quiet) emit(opts.format, doc, (wide) => renderMapping(doc, wide));
	const printed = isDocument(opts.format) || Boolean(opts.quiet);
	if (doc.rows.length === 0 && (filter.pod || filter.eni)) {
		const what = [filter.pod && `pod ${filter.pod}`, filter.eni && `ENI ${filter.eni}`]
			.filter(Boolean)
			.join(" and ");
		throw new ExitError(`terwayd holds no IP for ${what}`, EXIT.problem, { printed });
	}
	if (doc.summary.problems > 0)
		throw new ExitError(
			`${doc.summary.problems} of ${doc.summary.rows} mappings have problems`,
			EXIT.problem,
			{ printed },
		);
}
