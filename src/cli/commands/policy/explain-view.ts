/**
 * `terwayctl policy explain` (and `dump --flow`), the pure part: parse the flow arguments
 * (usage errors name the value, exit 2) and turn core/policy `explain()`'s Explanation into the
 * stable JSON document (docs/cli/policy.md) and its text.
 */
import { formatIP, parseIP } from "../../../core/net/ip.ts";
import type { Explanation, Flow, FlowProtocol, FlowSide } from "../../../core/policy/explain.ts";
import { EP, ID, type MapState } from "../../../core/policy/types.ts";
import { EXIT, ExitError } from "../../errors.ts";
import { style } from "../../output.ts";

const usage = (msg: string) => new ExitError(msg, EXIT.usage);

/** "SRC,DST" of `dump --flow`. */
export function splitFlow(s: string): [string, string] {
	const parts = s.split(",");
	if (parts.length !== 2 || !parts[0] || !parts[1]) {
		throw usage(`--flow ${JSON.stringify(s)}: expected SRC,DST (two addresses separated by a comma)`);
	}
	return [parts[0].trim(), parts[1].trim()];
}

const PORTED = new Set(["tcp", "udp", "sctp"]);

/** The CLI's flow arguments -> a core/policy Flow (addresses canonical). */
export function parseFlow(o: { src: string; dst: string; proto?: string; port?: string }): Flow {
	const addr = (what: string, v: string) => {
		try {
			return parseIP(v);
		} catch {
			throw usage(`${what} ${JSON.stringify(v)}: not an IP address`);
		}
	};
	const src = addr("source", o.src);
	const dst = addr("destination", o.dst);
	if (src.family !== dst.family) {
		throw usage(`source ${o.src} and destination ${o.dst} are of different address families`);
	}
	const proto = (o.proto ?? "tcp").toLowerCase();
	if (!PORTED.has(proto) && proto !== "icmp") {
		throw usage(`--proto ${JSON.stringify(o.proto)}: expected tcp, udp, sctp or icmp`);
	}
	const flowProto: FlowProtocol =
		proto === "icmp" ? (src.family === 6 ? "ICMPv6" : "ICMP") : (proto.toUpperCase() as FlowProtocol);
	const flow: Flow = { src: formatIP(src.bytes), dst: formatIP(dst.bytes), proto: flowProto };
	if (PORTED.has(proto)) {
		if (o.port === undefined) throw usage(`--port is required with --proto ${proto}`);
		const port = Number(o.port);
		if (!/^\d+$/.test(o.port) || port < 1 || port > 65535) {
			throw usage(`--port ${JSON.stringify(o.port)}: expected a port number 1..65535`);
		}
		flow.port = port;
	} else if (o.port !== undefined) {
		throw usage(`--port ${JSON.stringify(o.port)}: ports are for tcp, udp and sctp, not ${proto}`);
	}
	return flow;
}

export type SideDoc = {
	ip: string;
	identity: number;
	name: string;
	/** The terway_ipid entry that matched, null: none (world). */
	cidr: string | null;
	local: boolean;
	isolation: { ingress: boolean; egress: boolean };
};
export type CheckDoc = {
	/** The enforcement point: the source pod's egress or the destination pod's ingress. */
	direction: "ingress" | "egress";
	endpoint: SideDoc;
	peer: SideDoc;
	verdict: "allowed" | "dropped";
	reason: string;
	/** The allowing rule's name, null when no rule decided (not isolated, host, or dropped). */
	rule: string | null;
	/** Policies isolating the endpoint in this direction (when dropped), else []. */
	isolatedBy: string[];
};
export type ExplainDoc = {
	flow: { src: string; dst: string; protocol: string; port: number | null };
	verdict: "allowed" | "dropped";
	reason: string;
	src: SideDoc;
	dst: SideDoc;
	checks: CheckDoc[];
};

const sideDoc = (s: FlowSide): SideDoc => ({
	ip: s.ip,
	identity: s.identity,
	name: s.name,
	cidr: s.cidr ?? null,
	local: (s.flags & EP.LOCAL) !== 0,
	isolation: { ingress: (s.flags & EP.ISO_INGRESS) !== 0, egress: (s.flags & EP.ISO_EGRESS) !== 0 },
});

export function explainDoc(state: MapState, flow: Flow, x: Explanation): ExplainDoc {
	return {
		flow: { src: flow.src, dst: flow.dst, protocol: String(flow.proto), port: flow.port ?? null },
		verdict: x.verdict,
		reason: x.reason,
		src: sideDoc(x.src),
		dst: sideDoc(x.dst),
		checks: x.checks.map((c) => ({
			direction: c.direction,
			endpoint: sideDoc(c.endpoint),
			peer: sideDoc(c.peer),
			verdict: c.verdict,
			reason: c.reason,
			rule: c.entry ? (state.ruleNames.get(c.entry.rule) ?? `rule ${c.entry.rule}`) : null,
			isolatedBy: c.isolatedBy ?? [],
		})),
	};
}

function sideText(s: SideDoc): string {
	const what =
		s.identity === ID.WORLD && !s.cidr ? "world (no identity)" : `${s.name} (identity ${s.identity})`;
	const iso = [s.isolation.ingress && "ingress", s.isolation.egress && "egress"].filter(Boolean);
	const local = s.local
		? `, local pod${iso.length ? `, isolated for ${iso.join(" and ")}` : ", not isolated"}`
		: "";
	return `${s.ip}: ${what}${local}`;
}

export function renderExplain(d: ExplainDoc): string {
	const traffic = d.flow.port === null ? d.flow.protocol : `${d.flow.protocol} ${d.flow.port}`;
	const verdict = d.verdict === "allowed" ? style.green("ALLOWED") : style.red("DROPPED");
	const lines = [`${d.flow.src} -> ${d.flow.dst} ${traffic}: ${verdict}`, `  ${d.reason}`];
	lines.push(`  source       ${sideText(d.src)}`, `  destination  ${sideText(d.dst)}`);
	// With two enforcement points on this node, each one's answer (the verdict names the first drop).
	if (d.checks.length > 1)
		for (const c of d.checks) lines.push(`  at ${c.direction} of ${c.endpoint.name}: ${c.reason}`);
	return lines.join("\n");
}
