/**
 * One view of a node's ENIs from four sources that should agree: the cloud API
 * (DescribeNetworkInterfaces), the instance metadata (`network/interfaces/macs/<mac>/`), terwayd
 * (/v1/enis: its store, which IP serves which pod) and the kernel (which link carries the MAC).
 * Each ENI and each of its IPs records where it was seen, and every disagreement becomes a
 * human-readable problem. A source that was not asked (unreachable, or not this node's namespace)
 * is `undefined` and never produces a problem.
 *
 * Pure: no I/O; the sources are gathered by sources.ts.
 */
import type { Eni, MetadataEni } from "../../../cloud/types.ts";
import type { EniInfo } from "../../../daemon/api-types.ts";

/** The tag terwayd puts on ENIs it creates (sync: daemon/pool.ts TAG_CREATOR/TAG_CREATOR_VALUE/TAG_INSTANCE). */
export const TAG_CREATOR = "creator";
export const TAG_CREATOR_VALUE = "terway";
export const TAG_INSTANCE = "terwayctl/instance-id";

export type Sources = {
	instanceId: string;
	/** This instance's ENIs, plus detached ones tagged for it. */
	cloud?: Eni[] | undefined;
	metadata?: MetadataEni[] | undefined;
	/** MAC of the primary ENI (metadata `mac`). */
	primaryMac?: string | undefined;
	daemon?: EniInfo[] | undefined;
	/** Local links by lower-case MAC; undefined when this is not the node's namespace. */
	links?: Map<string, string> | undefined;
};

export type EniIpView = {
	ip: string;
	family: 4 | 6;
	primary: boolean;
	/** Seen there (null: source not asked). */
	cloud: boolean | null;
	metadata: boolean | null;
	/** terwayd's state of the IP, "absent" when it does not track it, null when not asked. */
	daemon: "idle" | "allocated" | "releasing" | "absent" | null;
	/** ns/name of the pod terwayd gave it to. */
	pod: string | null;
};

export type EniView = {
	id: string;
	/** Cloud `Type` (Primary, Secondary, Trunk, Member), else terwayd's. */
	type: string;
	/** Cloud status (InUse, Available, ...), else terwayd's; "Unknown" when neither says. */
	status: string;
	mac: string;
	/** The local link with this MAC (kernel), else the one terwayd recorded; null when none. */
	link: string | null;
	vswitchId: string | null;
	primaryIp: string | null;
	ips: EniIpView[];
	tags: Record<string, string>;
	/** Tagged creator=terway. */
	createdByTerway: boolean;
	/** Attached to this instance (cloud), or listed by this instance's metadata. */
	attached: boolean;
	seen: { cloud: boolean | null; metadata: boolean | null; daemon: boolean | null; kernel: boolean | null };
	problems: string[];
};

const fam = (ip: string): 4 | 6 => (ip.includes(":") ? 6 : 4);
const lc = (s: string | undefined) => (s ?? "").toLowerCase();

function ipOrder(a: EniIpView, b: EniIpView): number {
	if (a.primary !== b.primary) return a.primary ? -1 : 1;
	if (a.family !== b.family) return a.family - b.family;
	if (a.family === 4) {
		const n = (s: string) => s.split(".").reduce((acc, x) => acc * 256 + Number(x), 0);
		return n(a.ip) - n(b.ip);
	}
	return a.ip.localeCompare(b.ip);
}

/** Merges the sources into one view per ENI, primary first. */
export function mergeEnis(s: Sources): EniView[] {
	const ids = new Set<string>();
	const cloud = new Map((s.cloud ?? []).map((e) => [e.eniId, e]));
	const meta = new Map((s.metadata ?? []).map((e) => [e.eniId, e]));
	const daemon = new Map((s.daemon ?? []).map((e) => [e.id, e]));
	for (const m of [cloud, meta, daemon]) for (const id of m.keys()) ids.add(id);
	const views = [...ids].map((id) => view(id, s, cloud.get(id), meta.get(id), daemon.get(id)));
	const rank = (v: EniView) => (v.type === "Primary" ? 0 : v.attached ? 1 : 2);
	return views.sort((a, b) => rank(a) - rank(b) || a.id.localeCompare(b.id));
}

function view(
	id: string,
	s: Sources,
	c: Eni | undefined,
	m: MetadataEni | undefined,
	d: EniInfo | undefined,
): EniView {
	const asked = {
		cloud: s.cloud !== undefined,
		metadata: s.metadata !== undefined,
		daemon: s.daemon !== undefined,
	};
	const mac = lc(c?.mac || m?.mac || d?.mac);
	const kernelLink = s.links?.get(mac);
	const type = c?.type ?? (m && lc(m.mac) === lc(s.primaryMac) ? "Primary" : cap(d?.type) || "Secondary");
	const attached = c ? c.instanceId === s.instanceId : m !== undefined;
	const tags = c?.tags ?? {};
	const problems: string[] = [];

	// --- which sources know the ENI
	if (asked.cloud && !c) {
		if (m) problems.push("in metadata, but the cloud API does not list it on this instance");
		if (d) problems.push("terwayd uses it, but the cloud API does not list it on this instance");
	}
	if (c && attached && asked.metadata && !m && c.status === "InUse")
		problems.push("attached (InUse) in the cloud, but metadata does not list its MAC");
	if (c && !attached && c.status === "Available" && tags[TAG_CREATOR] === TAG_CREATOR_VALUE && !d)
		problems.push(
			`created by terway for ${tags[TAG_INSTANCE] ?? "this instance"} but detached and unused (leaked?): terwayctl eni delete ${id}`,
		);
	if (c && attached && asked.daemon && !d && type !== "Primary" && tags[TAG_CREATOR] === TAG_CREATOR_VALUE)
		problems.push("created by terway and attached, but terwayd does not track it");
	if (d && c && !attached)
		problems.push(`terwayd uses it, but the cloud says it is ${c.status} and not attached here`);
	if (d && c && lc(d.mac) !== lc(c.mac)) problems.push(`terwayd has MAC ${d.mac}, the cloud ${c.mac}`);
	if (m && c && lc(m.mac) !== lc(c.mac)) problems.push(`metadata has MAC ${m.mac}, the cloud ${c.mac}`);
	const shouldHaveLink =
		(m !== undefined || (c !== undefined && attached && c.status === "InUse")) && mac !== "";
	if (s.links && shouldHaveLink && !kernelLink) problems.push(`no local link has MAC ${mac}`);
	if (s.links && kernelLink && d?.link && d.link !== kernelLink)
		problems.push(`terwayd records link ${d.link}, the MAC is on ${kernelLink}`);

	// --- IPs
	const cloudIps = c ? new Set([...c.ipv4s, ...c.ipv6s]) : undefined;
	const metaIps = m ? new Set([...m.ips, ...m.ipv6s]) : undefined;
	const daemonIps = d ? new Map(d.ips.map((x) => [x.ip, x])) : undefined;
	const all = new Set<string>([...(cloudIps ?? []), ...(metaIps ?? []), ...(daemonIps?.keys() ?? [])]);
	const primaryIp = c?.primaryIp || m?.primaryIp || d?.primaryIp || null;
	const ips: EniIpView[] = [...all].map((ip) => {
		const dd = daemonIps?.get(ip);
		return {
			ip,
			family: fam(ip),
			primary: ip === primaryIp,
			cloud: cloudIps ? cloudIps.has(ip) : null,
			metadata: metaIps ? metaIps.has(ip) : null,
			daemon: daemonIps ? (dd?.state ?? "absent") : null,
			pod: dd?.pod ?? null,
		};
	});
	ips.sort(ipOrder);
	for (const x of ips) {
		const where = x.pod ? ` (pod ${x.pod})` : "";
		if (cloudIps && !x.cloud) {
			if (x.daemon && x.daemon !== "absent")
				problems.push(`IP ${x.ip}${where}: terwayd has it, the cloud does not`);
			else if (x.metadata) problems.push(`IP ${x.ip}: in metadata, not in the cloud`);
		}
		if (x.cloud && metaIps && !x.metadata && c?.status === "InUse")
			problems.push(`IP ${x.ip}: in the cloud, not in metadata`);
		if (x.cloud && daemonIps && x.daemon === "absent" && !x.primary)
			problems.push(`IP ${x.ip}: in the cloud, terwayd does not track it`);
		if (!cloudIps && metaIps && !x.metadata && x.daemon && x.daemon !== "absent")
			problems.push(`IP ${x.ip}${where}: terwayd has it, metadata does not`);
	}

	return {
		id,
		type,
		status: c?.status ?? (d ? cap(d.status) : m ? "InUse" : "Unknown"),
		mac,
		link: s.links ? (kernelLink ?? null) : d?.link || null,
		vswitchId: c?.vswitchId || m?.vswitchId || d?.vswitchId || null,
		primaryIp,
		ips,
		tags,
		createdByTerway: tags[TAG_CREATOR] === TAG_CREATOR_VALUE,
		attached,
		seen: {
			cloud: asked.cloud ? c !== undefined : null,
			metadata: asked.metadata ? m !== undefined : null,
			daemon: asked.daemon ? d !== undefined : null,
			kernel: s.links ? kernelLink !== undefined : null,
		},
		problems,
	};
}

function cap(s: string | undefined): string {
	if (!s) return "";
	return s.charAt(0).toUpperCase() + s.slice(1);
}
