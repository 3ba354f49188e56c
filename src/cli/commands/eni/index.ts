/**
 * `terwayctl eni list` and `eni inspect ID`: the node's ENIs from the cloud API, metadata, terwayd
 * and the kernel side by side (sources.ts gathers, merge.ts compares), with a PROBLEMS column
 * naming every disagreement. Exit 1 when an ENI has a problem or a source could not be asked;
 * `inspect` of an id no source knows is exit 1, of a malformed id exit 2.
 */
import { EXIT, ExitError } from "../../errors.ts";
import { emit, isDocument, type OutputFormat } from "../../format.ts";
import { style, table } from "../../output.ts";
import { parseEniId } from "./ids.ts";
import { type EniView, mergeEnis } from "./merge.ts";
import { type Gathered, gather, type SourceOptions, type SourceState } from "./sources.ts";

export type EniListOptions = SourceOptions & { format: OutputFormat; problems?: boolean | undefined };
export type EniInspectOptions = SourceOptions & { id: string; format: OutputFormat };

type SourcesDoc = Record<"cloud" | "metadata" | "daemon" | "kernel", SourceState>;

/** `eni list --json`. */
export type EniListDocument = {
	instanceId: string;
	regionId: string | null;
	sources: SourcesDoc;
	enis: EniView[];
	summary: { enis: number; withProblems: number; ips: number; podIps: number };
};

/** `eni inspect ID --json`. */
export type EniInspectDocument = {
	instanceId: string;
	regionId: string | null;
	sources: SourcesDoc;
	eni: EniView;
};

const SOURCE_NAMES = {
	cloud: "cloud API",
	metadata: "metadata",
	daemon: "terwayd",
	kernel: "kernel",
} as const;

/** One line per source that could not be asked (errors) or was skipped (notes). */
export function sourceLines(state: SourcesDoc): string[] {
	return (Object.keys(SOURCE_NAMES) as (keyof SourcesDoc)[]).flatMap((k) => {
		const s = state[k];
		if (s.error) return [`${SOURCE_NAMES[k]}: ${s.error}${s.note ? `; ${s.note}` : ""}`];
		return s.note ? [`${SOURCE_NAMES[k]}: ${s.note}`] : [];
	});
}

const failedSources = (state: SourcesDoc) =>
	(Object.keys(state) as (keyof SourcesDoc)[]).filter((k) => !state[k].ok && state[k].error);

export function listDocument(g: Gathered, onlyProblems = false): EniListDocument {
	const all = mergeEnis(g.sources);
	const enis = onlyProblems ? all.filter((v) => v.problems.length > 0) : all;
	return {
		instanceId: g.sources.instanceId,
		regionId: g.regionId ?? null,
		sources: g.state,
		enis,
		summary: {
			enis: enis.length,
			withProblems: enis.filter((v) => v.problems.length > 0).length,
			ips: enis.reduce((n, v) => n + v.ips.length, 0),
			podIps: enis.reduce((n, v) => n + v.ips.filter((x) => x.pod).length, 0),
		},
	};
}

/** "198.18.24.241 +2, 1 v6": the primary IP and how many more. */
function ipSummary(v: EniView): string {
	const v4 = v.ips.filter((x) => x.family === 4);
	const v6 = v.ips.filter((x) => x.family === 6).length;
	const first = v.primaryIp ?? v4[0]?.ip ?? "-";
	const more = v4.length - (v4.some((x) => x.ip === first) ? 1 : 0);
	return `${first}${more ? ` +${more}` : ""}${v6 ? `, ${v6} v6` : ""}`;
}

const statusText = (s: string) => (s === "InUse" ? style.green(s) : style.yellow(s));
const problemsText = (p: string[]) => (p.length ? style.red(p.join("; ")) : "-");

export function renderList(doc: EniListDocument, wide: boolean): string {
	const headers = wide
		? ["eni", "type", "status", "mac", "link", "vswitch", "ips", "pods", "creator", "tags", "problems"]
		: ["eni", "type", "status", "mac", "link", "vswitch", "ips", "pods", "creator", "problems"];
	const rows = doc.enis.map((v) => {
		const ips = wide ? v.ips.map((x) => `${x.ip}${x.pod ? `=${x.pod}` : ""}`).join(",") : ipSummary(v);
		const pods = String(v.ips.filter((x) => x.pod).length);
		const creator = v.tags.creator ?? "-";
		const base = [
			v.id,
			v.type,
			statusText(v.status),
			v.mac,
			v.link ?? "-",
			v.vswitchId ?? "-",
			ips,
			pods,
			creator,
		];
		const tags = Object.entries(v.tags)
			.map(([k, val]) => `${k}=${val}`)
			.join(",");
		return wide ? [...base, tags || "-", problemsText(v.problems)] : [...base, problemsText(v.problems)];
	});
	const s = doc.summary;
	const foot = `${s.enis} ENIs, ${s.ips} IPs (${s.podIps} used by pods) on ${doc.instanceId}; ${
		s.withProblems ? style.red(`${s.withProblems} with problems`) : style.green("no problems")
	}`;
	const notes = sourceLines(doc.sources).map((l) => style.yellow(`! ${l}`));
	return [table(headers, rows), style.dim(foot), ...notes].join("\n");
}

const seenText = (v: boolean | null) => (v === null ? style.dim("not asked") : v ? "yes" : style.red("no"));
const cell = (v: boolean | null) => (v === null ? "-" : v ? "yes" : style.red("no"));

export function renderInspect(doc: EniInspectDocument): string {
	const v = doc.eni;
	const lines = [
		`${style.bold(v.id)}  ${v.type}  ${statusText(v.status)}${v.createdByTerway ? "  (created by terway)" : ""}`,
		`  mac         ${v.mac || "-"}`,
		`  link        ${v.link ?? style.red("none")}`,
		`  vswitch     ${v.vswitchId ?? "-"}`,
		`  primary ip  ${v.primaryIp ?? "-"}`,
		`  attached    ${v.attached ? `yes (${doc.instanceId})` : "no"}`,
		`  seen in     cloud ${seenText(v.seen.cloud)}, metadata ${seenText(v.seen.metadata)}, terwayd ${seenText(v.seen.daemon)}, kernel ${seenText(v.seen.kernel)}`,
		`  tags        ${
			Object.entries(v.tags)
				.map(([k, x]) => `${k}=${x}`)
				.join(", ") || "-"
		}`,
		"",
		table(
			["ip", "family", "primary", "cloud", "metadata", "terwayd", "pod"],
			v.ips.map((x) => [
				x.ip,
				`v${x.family}`,
				x.primary ? "yes" : "",
				cell(x.cloud),
				cell(x.metadata),
				x.daemon === null ? "-" : x.daemon === "absent" ? style.dim("absent") : x.daemon,
				x.pod ?? "-",
			]),
		),
		"",
		v.problems.length
			? style.red(`problems:\n${v.problems.map((p) => `  - ${p}`).join("\n")}`)
			: style.green("problems: none"),
		...sourceLines(doc.sources).map((l) => style.yellow(`! ${l}`)),
	];
	return lines.join("\n");
}

export async function eniList(opts: EniListOptions): Promise<void> {
	const g = await gather(opts);
	if (!g.state.cloud.ok && !g.state.metadata.ok && !g.state.daemon.ok)
		throw new ExitError(`no source answered: ${sourceLines(g.state).join("; ")}`);
	const doc = listDocument(g, opts.problems);
	emit(opts.format, doc, (wide) => renderList(doc, wide));
	const failed = failedSources(g.state);
	if (doc.summary.withProblems || failed.length) {
		const parts = [
			doc.summary.withProblems ? `${doc.summary.withProblems} ENIs with problems` : "",
			failed.length ? `could not ask ${failed.map((k) => SOURCE_NAMES[k]).join(", ")}` : "",
		].filter(Boolean);
		throw new ExitError(parts.join("; "), EXIT.problem, { printed: isDocument(opts.format) });
	}
}

export async function eniInspect(opts: EniInspectOptions): Promise<void> {
	const id = parseEniId(opts.id);
	const g = await gather(opts);
	let eni = mergeEnis(g.sources).find((v) => v.id === id);
	if (!eni && g.ecs) {
		// not this node's: the cloud may still know it (another instance, or detached)
		const c = await g.ecs.describeEni(id).catch(() => undefined);
		if (c) eni = mergeEnis({ instanceId: g.sources.instanceId, cloud: [c] })[0];
	}
	if (!eni) {
		const known = mergeEnis(g.sources).map((v) => v.id);
		throw new ExitError(
			`no ENI ${id} ${g.state.cloud.ok ? `in region ${g.regionId}` : "known to metadata or terwayd"}${
				known.length ? ` (this instance has ${known.join(", ")})` : ""
			}`,
		);
	}
	const doc: EniInspectDocument = {
		instanceId: g.sources.instanceId,
		regionId: g.regionId ?? null,
		sources: g.state,
		eni,
	};
	emit(opts.format, doc, () => renderInspect(doc));
	if (eni.problems.length)
		throw new ExitError(`${id}: ${eni.problems.length} problems`, EXIT.problem, {
			printed: isDocument(opts.format),
		});
}
