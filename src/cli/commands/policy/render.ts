/**
 * `terwayctl policy dump`, the text view of a DumpDoc (model.ts): identities, each local
 * endpoint with its isolation, rules and counters, the interfaces, the recent drops. Pure;
 * colour only through output.ts `style` (a TTY).
 */
import type { Direction } from "../../../core/policy/types.ts";
import { style, table } from "../../output.ts";
import type { Counters, DropDoc, DumpDoc, EndpointDoc } from "./model.ts";

/** 1536 -> "1.5 KiB". */
export function bytes(n: number): string {
	const units = ["B", "KiB", "MiB", "GiB", "TiB"];
	let v = n;
	let u = 0;
	while (v >= 1024 && u < units.length - 1) {
		v /= 1024;
		u++;
	}
	return u === 0 ? `${v} B` : `${v.toFixed(1)} ${units[u]}`;
}

const countersText = (c: Counters) =>
	`allowed ${c.allowed} (${bytes(c.allowedBytes)}), dropped ${c.dropped > 0 ? style.red(String(c.dropped)) : "0"} (${bytes(c.droppedBytes)})`;

function directionBlock(ep: EndpointDoc, dir: Direction): string[] {
	const iso = ep.isolation[dir];
	const rules = ep.rules.filter((r) => r.direction === dir);
	const by = ep.isolatedBy[dir].length ? ` by ${ep.isolatedBy[dir].join(", ")}` : "";
	const head = iso
		? `${dir}: ${style.yellow("isolated")}${by} (default deny)`
		: `${dir}: not isolated (everything allowed)`;
	const lines = [`  ${head}; ${countersText(ep.counters[dir])}`];
	if (iso && rules.length === 0) lines.push(`    ${style.dim("nothing allowed")}`);
	for (const r of rules) lines.push(`    ${r.text}`);
	if (!iso && rules.length > 0)
		lines.push(`    ${style.dim("(rules present but not enforced: not isolated)")}`);
	return lines;
}

export function endpointText(ep: EndpointDoc): string {
	const ifs = ep.interfaces.length ? ep.interfaces.join(", ") : "not seen yet";
	return [
		`${style.bold(ep.name)} (identity ${ep.identity}): ${ep.addresses.join(", ")}`,
		...directionBlock(ep, "ingress"),
		...directionBlock(ep, "egress"),
		`  interfaces (ifindex): ${ifs}`,
	].join("\n");
}

/** One drop as a line: "2026-11-27T06:10:00.123Z 10.0.0.1:40000 -> 10.0.0.2:5432 TCP dropped by ...". */
export function dropLine(d: DropDoc): string {
	return `${d.time ?? "-"} ${d.text}`;
}

/** `wide` adds each interface's connection-tracking entry count. */
/** terwayd's policy statuses, or why they are not shown (the maps are the truth either way). */
function agentLines(doc: DumpDoc): string[] {
	const a = doc.agent;
	if (!a)
		return [
			style.dim("terwayd did not answer: policy statuses not shown (the maps below are what is enforced)"),
		];
	if (!a.enabled) return [`terwayd on ${a.socket}: network policy is off${a.reason ? `: ${a.reason}` : ""}`];
	const sync = a.lastSync ? `, last map write ${a.lastSync}` : "";
	const lines = [
		`terwayd on ${a.socket}${sync}${a.lastError ? `, last error: ${style.red(a.lastError)}` : ""}`,
	];
	if (a.policies.length === 0) lines.push("no NetworkPolicy in the cluster");
	else
		lines.push(
			table(
				["policy", "status", "message"],
				a.policies.map((p) => [p.policy, p.ok ? "applied" : style.red("error"), p.message]),
			),
		);
	return lines;
}

export function renderDump(doc: DumpDoc, wide = false): string {
	const out: string[] = [];
	out.push(
		`pin root ${doc.pinRoot}${doc.pod ? `, pod ${doc.pod.ref} (${doc.pod.addresses.join(", ")})` : ""}`,
	);
	out.push("", style.bold("POLICIES"), ...agentLines(doc));
	out.push("", style.bold("IDENTITIES"));
	out.push(
		doc.identities.length
			? table(
					["id", "name", "addresses"],
					doc.identities.map((i) => [i.identity, i.name, i.addresses.join(", ") || "-"]),
				)
			: "none",
	);
	out.push("", style.bold("ENDPOINTS"));
	if (doc.endpoints.length === 0) out.push(doc.pod ? "the pod is not a local endpoint in the maps" : "none");
	for (const ep of doc.endpoints) out.push(endpointText(ep));
	out.push("", style.bold("INTERFACES"));
	out.push(
		doc.interfaces.length
			? table(
					[
						"ifindex",
						"name",
						"addresses",
						"endpoint",
						"in allowed",
						"in dropped",
						"out allowed",
						"out dropped",
						...(wide ? ["in bytes", "out bytes", "ct entries"] : []),
					],
					doc.interfaces.map((i) => [
						i.ifindex,
						i.name ?? "-",
						i.addresses.join(", ") || "-",
						i.endpoint ?? "-",
						i.ingress.allowed,
						i.ingress.dropped,
						i.egress.allowed,
						i.egress.dropped,
						...(wide
							? [
									bytes(i.ingress.allowedBytes + i.ingress.droppedBytes),
									bytes(i.egress.allowedBytes + i.egress.droppedBytes),
									i.ctEntries,
								]
							: []),
					]),
				)
			: "none",
	);
	out.push(style.dim("(in = to the pod, its ingress policy; out = from the pod, its egress policy)"));
	out.push("", style.bold("RECENT DROPS"));
	out.push(doc.drops.length ? doc.drops.map(dropLine).join("\n") : "none");
	return out.join("\n");
}
