/**
 * CHECK: compare a plan with the observed state of both namespaces and list every difference
 * as one message ("pod: route default via 169.254.1.1 dev eth0 is missing"). Pure. An empty
 * list means the datapath is as ADD made it; extra state (routes a later chained plugin added)
 * is tolerated (CNI spec: CHECK must tolerate later plugins' changes).
 */
import { MAIN_TABLE } from "./names.ts";
import type { NsState, Observed, Op, Plan } from "./types.ts";

const cidrEq = (a: string | undefined, b: string | undefined): boolean => {
	const n = (x: string | undefined) =>
		x === undefined ? undefined : x.includes("/") ? x : x.includes(":") ? `${x}/128` : `${x}/32`;
	return n(a) === n(b);
};

function routeMatches(r: NsState["routes"][number], o: Extract<Op, { op: "route" }>): boolean {
	const dst = o.dst === "default" ? "default" : o.dst;
	const rdst = r.dst === "default" ? "default" : r.dst;
	return (
		r.family === o.family &&
		(dst === "default" ? rdst === "default" : cidrEq(rdst, dst)) &&
		r.table === (o.table ?? MAIN_TABLE) &&
		r.dev === o.dev &&
		r.gateway === o.gateway &&
		(!o.onlink || r.onlink)
	);
}

function checkOp(o: Op, st: NsState, other: NsState | undefined): string | undefined {
	const where = `${o.side}:`;
	const link = (name: string) => st.links.find((l) => l.name === name);
	switch (o.op) {
		case "veth": {
			const l = link(o.name);
			if (!l) return `${where} link ${o.name} is missing`;
			if (l.kind !== "veth") return `${where} link ${o.name} is a ${l.kind ?? "device"}, not a veth`;
			if (l.mac !== o.mac) return `${where} link ${o.name} has mac ${l.mac}, want ${o.mac}`;
			if (l.mtu !== o.mtu) return `${where} link ${o.name} has mtu ${l.mtu}, want ${o.mtu}`;
			const p = other?.links.find((x) => x.name === o.peer.name);
			if (other && !p) return `${o.peer.side}: link ${o.peer.name} is missing`;
			if (p && p.mtu !== o.peer.mtu)
				return `${o.peer.side}: link ${o.peer.name} has mtu ${p.mtu}, want ${o.peer.mtu}`;
			return undefined;
		}
		case "move": {
			if (link(o.name)) return `${where} link ${o.name} is still on the node`;
			const p = other?.links.find((x) => x.name === o.newName);
			if (other && !p) return `pod: link ${o.newName} (${o.mac}) is missing`;
			if (p && p.mac !== o.mac) return `pod: link ${o.newName} has mac ${p.mac}, want ${o.mac} (not the ENI)`;
			return undefined;
		}
		case "up": {
			const l = link(o.name);
			if (!l) return `${where} link ${o.name} is missing`;
			if (!l.up) return `${where} link ${o.name} is down`;
			if (o.mtu !== undefined && l.mtu !== o.mtu)
				return `${where} link ${o.name} has mtu ${l.mtu}, want ${o.mtu}`;
			return undefined;
		}
		case "addr":
			return st.addrs.some((a) => a.link === o.link && a.cidr === o.cidr)
				? undefined
				: `${where} address ${o.cidr} on ${o.link} is missing`;
		case "neigh": {
			const n = st.neighs.find((x) => x.link === o.link && x.ip === o.ip);
			if (!n) return `${where} neighbour ${o.ip} on ${o.link} is missing`;
			if (!n.permanent || n.mac !== o.mac) {
				return `${where} neighbour ${o.ip} on ${o.link} is ${n.mac ?? "unresolved"}${n.permanent ? "" : " (not permanent)"}, want ${o.mac} permanent`;
			}
			return undefined;
		}
		case "route":
			return st.routes.some((r) => routeMatches(r, o))
				? undefined
				: `${where} route ${o.dst}${o.gateway ? ` via ${o.gateway}` : ""} dev ${o.dev}${o.table ? ` table ${o.table}` : ""} is missing`;
		case "rule":
			return st.rules.some(
				(r) =>
					r.family === o.family &&
					r.priority === o.priority &&
					r.action === "to-table" &&
					r.table === o.table &&
					cidrEq(r.from, o.from) &&
					cidrEq(r.to, o.to),
			)
				? undefined
				: `${where} rule ${o.priority}${o.from ? ` from ${o.from}` : ""}${o.to ? ` to ${o.to}` : ""} lookup ${o.table === MAIN_TABLE ? "main" : o.table} is missing`;
		case "sysctl": {
			const v = st.sysctls[o.key];
			if (v === undefined) return `${where} sysctl ${o.key} is missing`;
			return v.trim() === o.value ? undefined : `${where} sysctl ${o.key} is ${v.trim()}, want ${o.value}`;
		}
		case "tbf": {
			const q = st.qdiscs.find((x) => x.link === o.link);
			if (q?.kind !== "tbf") return `${where} tbf on ${o.link} is missing (root is ${q?.kind ?? "none"})`;
			return q?.rate === o.rate
				? undefined
				: `${where} tbf on ${o.link} has rate ${q.rate}bit, want ${o.rate}bit`;
		}
		case "bpf": {
			// kernel program names are the first 15 bytes of the C name (BPF_OBJ_NAME_LEN)
			const want = o.program.slice(0, 15);
			const on = (st.bpf ?? []).filter((b) => b.link === o.link && b.direction === o.direction);
			if (on.some((b) => b.program === want)) return undefined;
			if (!link(o.link)) return `${where} link ${o.link} is missing (bpf ${o.program} ${o.direction})`;
			return `${where} bpf program ${o.program} is not attached to ${o.link} ${o.direction}${on.length ? ` (attached: ${on.map((b) => b.program).join(", ")})` : ""}`;
		}
	}
}

/** Every drift between `plan` and `observed`, in plan order; [] when none. */
export function checkPlan(plan: Plan, observed: Observed): string[] {
	const out: string[] = [];
	if (!observed.pod && plan.ops.some((o) => o.side === "pod")) out.push("pod: network namespace is gone");
	for (const o of plan.ops) {
		const st = o.side === "host" ? observed.host : observed.pod;
		if (!st) continue;
		const other = o.side === "host" ? observed.pod : observed.host;
		const d = checkOp(o, st, other);
		if (d) out.push(d);
	}
	return out;
}
