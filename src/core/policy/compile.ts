/**
 * The NetworkPolicy compiler: networking.k8s.io/v1 NetworkPolicies + pods + namespaces -> the
 * complete desired content of the policy maps for one node (terway_policy.h). Pure and
 * deterministic; pass the previous result back in so identities and rule ids stay stable and
 * `diff` stays minimal.
 *
 * Semantics (as the Kubernetes API documents them):
 *   - a policy selects the pods of its own namespace its podSelector matches ({} = all); it
 *     isolates them for each of its policyTypes (absent: Ingress, plus Egress when it has egress
 *     rules); a direction's allowed traffic is the union of the rules of every policy selecting
 *     the pod for that direction; a pod no policy selects for a direction allows everything;
 *   - a rule allows traffic matching one of its peers (from/to absent or [] = any peer) on one
 *     of its ports (absent or [] = every port and protocol);
 *   - a peer with only podSelector = pods of the policy's namespace; only namespaceSelector =
 *     every pod of the matching namespaces; both = the AND; ipBlock = addresses in cidr and not
 *     in any except;
 *   - a port defaults to TCP; a named port resolves on the selected pod's own container ports for
 *     ingress and on each peer pod's for egress (an egress rule to any peer with a named port
 *     expands to every pod identity having that port; ipBlock peers have no named ports).
 *
 * Choices where the API leaves room:
 *   - ipBlock does not match pod IPs (as in Cilium: CIDR rules do not apply to cluster pods):
 *     every pod IP has its own /32 or /128 identity and the identity LPM gives the longest
 *     prefix, so a pod is only ever matched by pod selectors; likewise the node's own addresses
 *     are HOST, always allowed by the datapath (kubelet probes);
 *   - an invalid policy (bad CIDR, except outside cidr, port out of range, endPort < port,
 *     endPort with a named port, unknown protocol, bad selector expression) fails closed: it
 *     still isolates the pods its podSelector selects for its policyTypes (both directions when
 *     policyTypes itself is invalid; none when its podSelector is invalid), allows nothing, and
 *     its status says why. Other policies still apply;
 *   - ISO_* flags and policy entries are written for local pods only (the only ones this node
 *     enforces); a remote pod's entry carries just its identity;
 *   - hostNetwork pods are neither selected nor matched (the API leaves them undefined): their
 *     addresses are nodes' (this node's are HOST, always allowed; other nodes' are WORLD);
 *   - an address claimed twice: a node address beats any pod; a local pod beats a remote one;
 *     then the first by namespace/name;
 *   - namespaces get the API server's automatic kubernetes.io/metadata.name label when the
 *     input lacks it; a pod whose namespace is unknown gets only that label.
 *
 * Identities: one per (namespace, namespace labels, pod labels, container ports) from
 * ID.FIRST_POD, one per distinct ipBlock cidr or except from ID.FIRST_CIDR. An id keeps its
 * meaning while used; a new key takes the lowest id not used by the previous compile (an id
 * freed now is never reused in the same compile, so one diff never changes an id's meaning).
 *
 * For `explain` and `policy dump`, which policies isolate an endpoint are recorded as extra
 * terway_rules names at `isolationRuleId(endpoint, direction)` (ids >= ISOLATION_RULE_BASE, which
 * no policy entry references): "isolation ingress: default/deny-all, default/db-only".
 */
import { formatCIDR, type IpPrefix, networkOf, parseCIDR, parseIP } from "../net/ip.ts";
import { type PortSpec, parsePort } from "./ports.ts";
import { compileSelector, formatLabels, validateSelector } from "./selector.ts";
import {
	type Compiled,
	type CompileInput,
	DIR,
	type Direction,
	EP,
	ID,
	type IpEntry,
	type LabelSelector,
	type MapState,
	type NetworkPolicy,
	type NetworkPolicyPeer,
	type NetworkPolicyPort,
	type PodInfo,
	type PolicyEntry,
	type PolicyStatus,
	PROTO,
} from "./types.ts";

/** terway_rules ids at and above this are isolation records, not rules. */
export const ISOLATION_RULE_BASE = 0x80000000;
/** Longest name, in UTF-8 bytes, the maps keep (TERWAY_NAME_LEN minus the NUL). */
export const NAME_MAX = 119;

const utf8Length = (s: string): number => {
	let n = 0;
	for (const ch of s) {
		const c = ch.codePointAt(0)!;
		n += c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
	}
	return n;
};

/**
 * `name` cut to NAME_MAX UTF-8 bytes for terway_idnames / terway_rules: the end of `name` is
 * replaced by "..." (keeping `tail`, e.g. " ingress[0]", when `name` ends with it).
 */
export function clipName(name: string, tail = ""): string {
	if (utf8Length(name) <= NAME_MAX) return name;
	const keep = tail !== "" && name.endsWith(tail) ? tail : "";
	let head = "";
	let bytes = utf8Length(keep) + 3;
	for (const ch of name.slice(0, name.length - keep.length)) {
		const b = utf8Length(ch);
		if (bytes + b > NAME_MAX) break;
		head += ch;
		bytes += b;
	}
	return `${head}...${keep}`;
}
/** The automatic namespace label (Kubernetes >= 1.21). */
export const NS_NAME_LABEL = "kubernetes.io/metadata.name";

/** The terway_rules id naming the policies that isolate `endpoint` in `direction`. */
export const isolationRuleId = (endpoint: number, direction: Direction): number =>
	(ISOLATION_RULE_BASE + endpoint * 2 + DIR[direction]) >>> 0;

/** The isolation record's name: "isolation ingress: a/b, c/d" (shortened to NAME_MAX). */
export function isolationName(direction: Direction, policies: readonly string[]): string {
	const head = `isolation ${direction}: `;
	for (let n = policies.length; n > 0; n--) {
		const more = n < policies.length ? ` +${policies.length - n} more` : "";
		const s = `${head}${policies.slice(0, n).join(", ")}${more}`;
		if (utf8Length(s) <= NAME_MAX || n === 1) return clipName(s);
	}
	return head.trimEnd();
}

/** The policies named by an isolation record (inverse of isolationName; "+N more" dropped). */
export function parseIsolationName(name: string): { direction: Direction; policies: string[] } | undefined {
	const m = /^isolation (ingress|egress): (.*)$/.exec(name);
	if (!m) return undefined;
	const policies = m[2]!
		.replace(/ \+\d+ more$/, "")
		.split(", ")
		.filter((s) => s !== "");
	return { direction: m[1] as Direction, policies };
}

// ---------------------------------------------------------------------------------------------
// identities

/** Pods that share an identity. */
type Group = {
	key: string;
	ns: string;
	nsLabels: Record<string, string>;
	labels: Record<string, string>;
	ports: PodInfo["ports"];
	local: boolean;
	/** How many of its pods are on this node. */
	localPods: number;
	id: number;
};

/** Code-unit order (locale-independent, so ids do not depend on the machine). */
const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

const sortedEntries = (r: Record<string, string>): [string, string][] =>
	Object.entries(r).sort(([a], [b]) => byText(a, b));

const podKey = (ns: string, nsLabels: Record<string, string>, pod: PodInfo): string =>
	`pod ${JSON.stringify([
		ns,
		sortedEntries(nsLabels),
		sortedEntries(pod.labels ?? {}),
		(pod.ports ?? [])
			.map((p) => [p.name ?? "", p.port, p.protocol] as const)
			.sort((a, b) => byText(JSON.stringify(a), JSON.stringify(b))),
	])}`;

const cidrKey = (cidr: string): string => `cidr ${cidr}`;

/**
 * Assign ids to `keys` (sorted first, so the result does not depend on input order): a key keeps
 * its previous id; a new one takes the lowest id in [first, limit) that the previous compile did
 * not use and nothing here took yet.
 */
function assignIds(
	keys: Iterable<string>,
	prev: ReadonlyMap<string, number> | undefined,
	first: number,
	limit: number,
): Map<string, number> {
	const out = new Map<string, number>();
	const taken = new Set<number>();
	for (const id of prev?.values() ?? []) if (id >= first && id < limit) taken.add(id);
	const fresh: string[] = [];
	for (const k of [...new Set(keys)].sort()) {
		const old = prev?.get(k);
		if (old !== undefined && old >= first && old < limit) out.set(k, old);
		else fresh.push(k);
	}
	let next = first;
	for (const k of fresh) {
		while (taken.has(next)) next++;
		if (next >= limit) throw new RangeError(`identity space ${first}..${limit - 1} exhausted`);
		taken.add(next);
		out.set(k, next);
	}
	return out;
}

// ---------------------------------------------------------------------------------------------
// policies, validated

/** `key`: the family and the prefix's bits as "0"/"1" text, so containment is startsWith. */
type Cidr = { text: string; prefix: IpPrefix; key: string };

function cidrOf(net: IpPrefix): Cidr {
	let key = `${net.family}:`;
	for (let i = 0; i < net.prefixlen; i++) key += (net.bytes[i >> 3]! >> (7 - (i & 7))) & 1;
	return { text: formatCIDR(net), prefix: net, key };
}

/** Whether `c` lies inside `outer` (or is it). */
const within = (outer: Cidr, c: Cidr): boolean => c.key.startsWith(outer.key);

/** The CIDRs of `sorted` (by key) inside `outer`: keys sharing a prefix are one contiguous run. */
function cidrsWithin(sorted: readonly Cidr[], outer: Cidr): Cidr[] {
	let lo = 0;
	let hi = sorted.length;
	while (lo < hi) {
		const mid = (lo + hi) >> 1;
		if (sorted[mid]!.key < outer.key) lo = mid + 1;
		else hi = mid;
	}
	const out: Cidr[] = [];
	for (let i = lo; i < sorted.length && within(outer, sorted[i]!); i++) out.push(sorted[i]!);
	return out;
}

type Peer =
	| { kind: "pods"; podSelector?: LabelSelector; namespaceSelector?: LabelSelector }
	| { kind: "cidr"; cidr: Cidr; except: Cidr[] };

/** One entry without its endpoint: `suffix` is policyKey's text after the endpoint. */
type Tail = Omit<PolicyEntry, "endpoint"> & { suffix: string };

type Rule = {
	direction: Direction;
	name: string;
	/** undefined = any peer */
	peers?: Peer[];
	/** undefined = every port and protocol */
	ports?: PortSpec[];
};

type Policy = {
	name: string;
	ns: string;
	/** undefined: the podSelector is invalid and selects nothing. */
	podSelector?: LabelSelector;
	selectorOk: boolean;
	types: Record<Direction, boolean>;
	rules: Rule[];
	error?: string;
};

class PolicyError extends Error {
	override readonly name = "PolicyError";
}

const bad = (path: string, value: unknown, why: string): never => {
	throw new PolicyError(`${path} ${JSON.stringify(value)}: ${why}`);
};

function parseCidrField(text: unknown, path: string): Cidr {
	if (typeof text !== "string") return bad(path, text, "must be a CIDR string");
	let p: IpPrefix;
	try {
		p = parseCIDR(text);
	} catch (e) {
		// "invalid CIDR "x": why" -> why
		const why = (e as Error).message.replace(/^invalid [^"]*"[^"]*": /, "");
		return bad(path, text, why);
	}
	const net = networkOf(p);
	return cidrOf(net);
}

function parsePeer(peer: NetworkPolicyPeer, path: string): Peer {
	if (!peer || typeof peer !== "object") return bad(path, peer, "must be an object");
	const sels = peer.podSelector !== undefined || peer.namespaceSelector !== undefined;
	if (peer.ipBlock) {
		if (sels)
			bad(path, Object.keys(peer), "ipBlock cannot be combined with podSelector or namespaceSelector");
		const cidr = parseCidrField(peer.ipBlock.cidr, `${path}.ipBlock.cidr`);
		const except = (peer.ipBlock.except ?? []).map((x, i) => {
			const at = `${path}.ipBlock.except[${i}]`;
			const c = parseCidrField(x, at);
			if (c.prefix.prefixlen <= cidr.prefix.prefixlen || !within(cidr, c)) {
				bad(at, x, `must be a strict subset of cidr ${cidr.text}`);
			}
			return c;
		});
		return { kind: "cidr", cidr, except };
	}
	if (!sels) return bad(path, peer, "must set podSelector, namespaceSelector or ipBlock");
	validateSelector(peer.podSelector, `${path}.podSelector`);
	validateSelector(peer.namespaceSelector, `${path}.namespaceSelector`);
	const out: Peer = { kind: "pods" };
	if (peer.podSelector) out.podSelector = peer.podSelector;
	if (peer.namespaceSelector) out.namespaceSelector = peer.namespaceSelector;
	return out;
}

function parseRules(
	name: string,
	direction: Direction,
	rules: { from?: NetworkPolicyPeer[]; to?: NetworkPolicyPeer[]; ports?: NetworkPolicyPort[] }[],
): Rule[] {
	if (!Array.isArray(rules)) return bad(`spec.${direction}`, rules, "must be a list");
	return rules.map((r, i) => {
		const at = `spec.${direction}[${i}]`;
		const peerField = direction === "ingress" ? "from" : "to";
		const peers = r?.[peerField];
		const rule: Rule = { direction, name: `${name} ${direction}[${i}]` };
		if (peers !== undefined && peers !== null && !Array.isArray(peers))
			bad(`${at}.${peerField}`, peers, "must be a list");
		if (peers && peers.length > 0) rule.peers = peers.map((p, j) => parsePeer(p, `${at}.${peerField}[${j}]`));
		const ports = r?.ports;
		if (ports !== undefined && ports !== null && !Array.isArray(ports))
			bad(`${at}.ports`, ports, "must be a list");
		if (ports && ports.length > 0) rule.ports = ports.map((p, j) => parsePort(p ?? {}, `${at}.ports[${j}]`));
		return rule;
	});
}

/** Validate one policy; errors end up in `error` (the policy then allows nothing). */
function parsePolicy(np: NetworkPolicy): Policy {
	const ns = np.metadata?.namespace || "default";
	const name = `${ns}/${np.metadata?.name ?? "(unnamed)"}`;
	const spec = np.spec ?? {};
	const pol: Policy = {
		name,
		ns,
		selectorOk: false,
		types: { ingress: true, egress: false },
		rules: [],
	};
	const fail = (e: unknown) => {
		if (!(e instanceof Error)) throw e;
		pol.error ??= e.message;
	};
	try {
		validateSelector(spec.podSelector, "spec.podSelector");
		pol.podSelector = spec.podSelector ?? {};
		pol.selectorOk = true;
	} catch (e) {
		fail(e);
	}
	const types = spec.policyTypes;
	if (types && types.length > 0) {
		const unknown = types.find((t) => t !== "Ingress" && t !== "Egress");
		if (unknown !== undefined) {
			pol.types = { ingress: true, egress: true };
			fail(new PolicyError(`spec.policyTypes ${JSON.stringify(unknown)}: must be Ingress or Egress`));
		} else {
			pol.types = { ingress: types.includes("Ingress"), egress: types.includes("Egress") };
		}
	} else {
		pol.types = { ingress: true, egress: (spec.egress?.length ?? 0) > 0 };
	}
	if (pol.error) return pol;
	try {
		if (pol.types.ingress) pol.rules.push(...parseRules(name, "ingress", spec.ingress ?? []));
		if (pol.types.egress) pol.rules.push(...parseRules(name, "egress", spec.egress ?? []));
	} catch (e) {
		fail(e);
		pol.rules = [];
	}
	return pol;
}

// ---------------------------------------------------------------------------------------------
// pods and identities

/** An address as the canonical host prefix ("10.0.0.5/32"), or undefined when not an address. */
function hostCidr(ip: string): string | undefined {
	try {
		const a = parseIP(ip);
		return formatCIDR({ ...a, prefixlen: a.bytes.length * 8 });
	} catch {
		return undefined;
	}
}

const podName = (p: PodInfo) => `${p.namespace}/${p.name}`;

type PodIndex = {
	hostIps: Set<string>;
	groups: Map<string, Group>;
	/** Each pod with addresses, its (deduplicated) addresses and its identity group. */
	pods: { pod: PodInfo; ips: string[]; group: Group }[];
};

/**
 * The node's addresses, and the pods with addresses grouped by identity key. An address goes to
 * the node first, then to a local pod, then to the first pod by namespace/name; hostNetwork pods
 * and unparsable addresses are skipped (the latter with a warning).
 */
function indexPods(input: CompileInput, warnings: string[]): PodIndex {
	const nsLabels = new Map<string, Record<string, string>>();
	for (const n of input.namespaces) nsLabels.set(n.name, { [NS_NAME_LABEL]: n.name, ...(n.labels ?? {}) });
	const hostIps = new Set<string>();
	for (const ip of input.nodeIps) {
		const c = hostCidr(ip);
		if (!c) warnings.push(`node address ${JSON.stringify(ip)} is not an IP address; ignored`);
		else hostIps.add(c);
	}
	const sorted = [...input.pods].sort((a, b) =>
		a.local !== b.local ? (a.local ? -1 : 1) : byText(podName(a), podName(b)),
	);
	const owner = new Map<string, PodInfo>();
	const groups = new Map<string, Group>();
	const pods: PodIndex["pods"] = [];
	for (const pod of sorted) {
		if (pod.hostNetwork) continue; // the node's addresses (HOST here, WORLD elsewhere)
		const ips: string[] = [];
		for (const ip of pod.ips ?? []) {
			const c = hostCidr(ip);
			if (!c) warnings.push(`pod ${podName(pod)}: ${JSON.stringify(ip)} is not an IP address; ignored`);
			else if (hostIps.has(c)) continue;
			else if (owner.has(c)) {
				if (owner.get(c) !== pod)
					warnings.push(`pod ${podName(pod)}: ${c} is also ${podName(owner.get(c)!)}'s; ignored`);
			} else {
				owner.set(c, pod);
				ips.push(c);
			}
		}
		if (ips.length === 0) continue;
		const nl = nsLabels.get(pod.namespace) ?? { [NS_NAME_LABEL]: pod.namespace };
		const key = podKey(pod.namespace, nl, pod);
		let group = groups.get(key);
		if (!group) {
			group = {
				key,
				ns: pod.namespace,
				nsLabels: nl,
				labels: pod.labels ?? {},
				ports: pod.ports ?? [],
				local: false,
				localPods: 0,
				id: 0,
			};
			groups.set(key, group);
		}
		if (pod.local) {
			group.local = true;
			group.localPods++;
		}
		pods.push({ pod, ips, group });
	}
	return { hostIps, groups, pods };
}

/**
 * Resolves (namespace scope, namespaceSelector, podSelector) to identity groups, each distinct
 * combination once (many policies share selectors). `ns` set: that namespace only.
 */
function groupSelector(groupList: Group[]) {
	const byNs = new Map<string, Group[]>();
	for (const g of groupList) {
		const list = byNs.get(g.ns);
		if (list) list.push(g);
		else byNs.set(g.ns, [g]);
	}
	const memo = new Map<string, Group[]>();
	return (
		ns: string | undefined,
		nsSel: LabelSelector | undefined,
		podSel: LabelSelector | undefined,
	): Group[] => {
		const key = JSON.stringify([ns ?? null, nsSel ?? null, podSel ?? null]);
		let out = memo.get(key);
		if (!out) {
			const podOk = compileSelector(podSel);
			if (ns !== undefined) out = (byNs.get(ns) ?? []).filter((g) => podOk(g.labels));
			else {
				const nsOk = compileSelector(nsSel);
				out = groupList.filter((g) => nsOk(g.nsLabels) && podOk(g.labels));
			}
			memo.set(key, out);
		}
		return out;
	};
}

/** Container ports by name: per identity, and every identity's (for any-peer egress rules). */
function namedPorts(groupList: Group[]) {
	const all = new Map<string, [number, number][]>();
	const byId = new Map<number, Map<string, number[]>>();
	for (const g of groupList) {
		const m = new Map<string, number[]>();
		for (const c of g.ports) {
			if (!c.name || !Object.hasOwn(PROTO, c.protocol)) continue;
			const k = namedKey(PROTO[c.protocol], c.name);
			m.set(k, [...(m.get(k) ?? []), c.port]);
			const list = all.get(k);
			if (list) list.push([g.id, c.port]);
			else all.set(k, [[g.id, c.port]]);
		}
		byId.set(g.id, m);
	}
	return {
		/** The ports identity `id` names `key`. */
		of: (id: number, key: string): number[] => byId.get(id)?.get(key) ?? [],
		/** [identity, port] of every identity naming `key`. */
		everywhere: (key: string): [number, number][] => all.get(key) ?? [],
	};
}
type NamedPorts = ReturnType<typeof namedPorts>;

const namedKey = (proto: number, name: string) => `${proto}/${name}`;

// ---------------------------------------------------------------------------------------------
// entries

/**
 * One rule's entries without the endpoint: `fixed` go to every selected endpoint; `own(endpoint)`
 * are its ingress named ports, which each endpoint resolves on its own container ports.
 */
function ruleTails(
	r: Rule,
	rule: number,
	peers: number[],
	named: NamedPorts,
): { fixed: Tail[]; own: (endpoint: number) => Tail[] } {
	const tail = (peer: number, proto: number, port: number, bits: number): Tail => ({
		suffix: `/${peer}/${r.direction}/${proto}/${port}/${bits}`,
		peer,
		direction: r.direction,
		proto,
		port,
		bits,
		rule,
	});
	const fixed: Tail[] = [];
	const own: { proto: number; key: string }[] = [];
	for (const spec of r.ports ?? [{ kind: "all" } as const]) {
		switch (spec.kind) {
			case "all":
				for (const peer of peers) fixed.push(tail(peer, 0, 0, 0));
				break;
			case "proto":
				for (const peer of peers) fixed.push(tail(peer, spec.proto, 0, 0));
				break;
			case "numbers":
				for (const peer of peers)
					for (const pp of spec.prefixes) fixed.push(tail(peer, spec.proto, pp.port, pp.bits));
				break;
			case "named": {
				const key = namedKey(spec.proto, spec.name);
				if (r.direction === "ingress") own.push({ proto: spec.proto, key });
				else if (r.peers) {
					// egress: the peer's own port (ipBlock peers have none)
					for (const peer of peers)
						for (const port of named.of(peer, key)) fixed.push(tail(peer, spec.proto, port, 16));
				} else {
					// any peer: every pod identity having that port
					for (const [peer, port] of named.everywhere(key)) fixed.push(tail(peer, spec.proto, port, 16));
				}
				break;
			}
		}
	}
	return {
		fixed,
		own: (endpoint) =>
			own.flatMap((o) =>
				named.of(endpoint, o.key).flatMap((port) => peers.map((peer) => tail(peer, o.proto, port, 16))),
			),
	};
}

/** The terway_policy entries being built: one per policyKey, the lowest rule id allowing it. */
class EntryTable {
	private readonly slots = new Map<string, { entry: PolicyEntry; last: number }>();

	/** Add; returns whether this is the first time policy number `owner` wrote this key. */
	put(endpoint: number, t: Tail, owner: number): boolean {
		const k = `${endpoint}${t.suffix}`;
		const slot = this.slots.get(k);
		if (!slot) {
			const { peer, direction, proto, port, bits, rule } = t;
			this.slots.set(k, { entry: { endpoint, peer, direction, proto, port, bits, rule }, last: owner });
			return true;
		}
		if (t.rule < slot.entry.rule) slot.entry.rule = t.rule;
		if (slot.last === owner) return false;
		slot.last = owner;
		return true;
	}

	toMap(): Map<string, PolicyEntry> {
		return new Map([...this.slots].map(([k, s]) => [k, s.entry]));
	}
}

// ---------------------------------------------------------------------------------------------
// compile

/** Compile the policies for one node. See the module comment for the semantics. */
export function compile(input: CompileInput, prev?: Compiled): Compiled {
	const warnings: string[] = [];
	const { hostIps, groups, pods } = indexPods(input, warnings);
	const policies = input.policies.map(parsePolicy);
	const cidrs = new Map<string, Cidr>();
	for (const p of policies) {
		if (p.error) continue;
		for (const r of p.rules)
			for (const peer of r.peers ?? []) {
				if (peer.kind === "cidr") for (const c of [peer.cidr, ...peer.except]) cidrs.set(c.text, c);
			}
	}

	// identities and their names
	const podIds = assignIds(groups.keys(), prev?.identities, ID.FIRST_POD, ID.FIRST_CIDR);
	const cidrIds = assignIds(
		[...cidrs.keys()].map(cidrKey),
		prev?.identities,
		ID.FIRST_CIDR,
		ISOLATION_RULE_BASE,
	);
	const cidrIdOf = new Map<Cidr, number>();
	for (const c of cidrs.values()) cidrIdOf.set(c, cidrIds.get(cidrKey(c.text))!);
	const cidrId = (c: Cidr) => cidrIdOf.get(c)!; // c: the canonical object from `cidrs`
	const idNames = new Map<number, string>([
		[ID.ANY, "any"],
		[ID.HOST, "host"],
		[ID.WORLD, "world"],
	]);
	for (const g of groups.values()) {
		g.id = podIds.get(g.key)!;
		const labels = formatLabels(g.labels);
		idNames.set(g.id, clipName(`pod ${g.ns}/${labels === "" ? "(no labels)" : labels}`));
	}
	for (const c of cidrs.values()) idNames.set(cidrId(c), `cidr ${c.text}`); // <= 48 bytes

	// selection and isolation (local identities only: the only ones enforced here)
	const groupList = [...groups.values()].sort((a, b) => a.id - b.id);
	const select = groupSelector(groupList);
	const selected = policies.map((p) => (p.selectorOk ? select(p.ns, undefined, p.podSelector) : []));
	const isolatedBy = new Map<Group, Record<Direction, string[]>>();
	policies.forEach((p, i) => {
		for (const g of selected[i]!) {
			if (!g.local) continue;
			const iso = isolatedBy.get(g) ?? { ingress: [], egress: [] };
			isolatedBy.set(g, iso);
			if (p.types.ingress) iso.ingress.push(p.name);
			if (p.types.egress) iso.egress.push(p.name);
		}
	});
	for (const iso of isolatedBy.values()) {
		iso.ingress.sort(byText);
		iso.egress.sort(byText);
	}

	// terway_ipid
	const ips = new Map<string, IpEntry>();
	for (const ip of hostIps) ips.set(ip, { cidr: ip, identity: ID.HOST, flags: 0 });
	for (const { pod, ips: list, group } of pods) {
		const iso = pod.local ? isolatedBy.get(group) : undefined;
		const flags =
			(pod.local ? EP.LOCAL : 0) |
			(iso && iso.ingress.length > 0 ? EP.ISO_INGRESS : 0) |
			(iso && iso.egress.length > 0 ? EP.ISO_EGRESS : 0);
		for (const ip of list) ips.set(ip, { cidr: ip, identity: group.id, flags });
	}
	for (const c of cidrs.values()) {
		// an ipBlock that is exactly a pod's or the node's address stays theirs
		if (!ips.has(c.text)) ips.set(c.text, { cidr: c.text, identity: cidrId(c), flags: 0 });
	}

	// rule ids and names, isolation records
	const rules = assignIds(
		policies.filter((p) => !p.error).flatMap((p) => p.rules.map((r) => r.name)),
		prev?.rules,
		1,
		ISOLATION_RULE_BASE,
	);
	const ruleNames = new Map<number, string>();
	for (const [name, id] of rules) ruleNames.set(id, clipName(name, name.slice(name.lastIndexOf(" "))));
	for (const [g, iso] of isolatedBy) {
		for (const d of ["ingress", "egress"] as const) {
			if (iso[d].length > 0) ruleNames.set(isolationRuleId(g.id, d), isolationName(d, iso[d]));
		}
	}

	// terway_policy
	const cidrsByKey = [...cidrs.values()].sort((a, b) => byText(a.key, b.key));
	const peerIds = (p: Policy, peer: Peer): number[] => {
		if (peer.kind === "pods") {
			const ns = peer.namespaceSelector ? undefined : p.ns;
			return select(ns, peer.namespaceSelector, peer.podSelector).map((g) => g.id);
		}
		// the LPM gives an address its longest prefix: every CIDR identity inside this block and
		// outside its excepts must be allowed as well
		return cidrsWithin(cidrsByKey, peer.cidr)
			.filter((c) => !peer.except.some((x) => within(x, c)))
			.map(cidrId);
	};
	const named = namedPorts(groupList);
	const table = new EntryTable();
	const status = policies.map((p, index): PolicyStatus => {
		const local = selected[index]!.filter((g) => g.local);
		const nLocal = local.reduce((n, g) => n + g.localPods, 0);
		if (p.error) {
			const dirs = (["ingress", "egress"] as const).filter((d) => p.types[d]).join(" and ");
			const message = `${p.error} (fails closed: isolates ${nLocal} local pods for ${dirs}, allows nothing)`;
			return { policy: p.name, ok: false, message };
		}
		let count = 0;
		for (const r of p.rules) {
			const peers = r.peers
				? [...new Set(r.peers.flatMap((peer) => peerIds(p, peer)))].sort((a, b) => a - b)
				: [ID.ANY];
			const { fixed, own } = ruleTails(r, rules.get(r.name)!, peers, named);
			for (const g of local) {
				for (const t of fixed) if (table.put(g.id, t, index)) count++;
				for (const t of own(g.id)) if (table.put(g.id, t, index)) count++;
			}
		}
		return { policy: p.name, ok: true, message: `applied: selects ${nLocal} local pods, ${count} entries` };
	});

	const state: MapState = { ips, policy: table.toMap(), idNames, ruleNames };
	const out: Compiled = { state, status, identities: new Map([...podIds, ...cidrIds]), rules };
	if (warnings.length > 0) out.warnings = warnings;
	return out;
}
