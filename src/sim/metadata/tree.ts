/**
 * The metadata tree of one instance: which paths exist under `/latest/meta-data/` and what each
 * one answers, in the formats of cloud-sim.md §3.2 (what Terway's pkg/aliyun/metadata parses).
 *
 * Formats:
 * - single values are plain text with no trailing newline (Terway takes the first line);
 * - directories list their entries one per line, sub-directories with a trailing `/`
 *   (`network/interfaces/macs/` → `00:16:3e:00:00:01/\n00:16:3e:00:00:02/`);
 * - `…/<mac>/private-ipv4s` is a JSON array, primary first: `["198.18.0.10","198.18.0.11"]`;
 * - `…/<mac>/ipv6s` is bracketed and comma-separated, NOT JSON: `[fd00:1::a,fd00:1::b]`, and the
 *   path is absent (404) when the ENI has no IPv6 — Terway reads that 404 as "no IPv6";
 * - `ram/security-credentials/<role>` is the STS document of credentials.ts.
 *
 * A leaf that has nothing to say (no IPv6 gateway, no RAM role) is absent: 404, and not listed.
 * Pure: no I/O; the caller supplies the instance as metadata shows it now (lag applied).
 */
import type { EniView, InstanceView } from "../contracts.ts";

/** What the tree is built from. */
export type MetadataSnapshot = {
	instance: InstanceView;
	/** Attached ENIs as metadata shows them now, primary first. */
	enis: EniView[];
	/** The VPC's CIDRs (`vpc-cidr-block`); absent → that path is 404. */
	vpc?: { cidr: string; ipv6Cidr?: string };
	/** The RAM-role STS document; called only when that path is read. */
	ramCredentials: () => string;
};

export type Resolved =
	| { kind: "value"; body: string }
	| { kind: "dir"; entries: string[] }
	| { kind: "notFound" };

type Leaf = { leaf: () => string | undefined };
type Dir = { dir: () => Record<string, Node> };
type Node = Leaf | Dir;

const leaf = (v: string | undefined): Leaf => ({ leaf: () => v });

/** "198.18.0.0/24" → "255.255.255.0" (`…/<mac>/netmask`); undefined for a non-IPv4 CIDR. */
export function netmaskOf(cidr: string): string | undefined {
	const m = /^\d+\.\d+\.\d+\.\d+\/(\d+)$/.exec(cidr);
	if (!m) return undefined;
	const len = Number(m[1]);
	if (len > 32) return undefined;
	const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
	return [24, 16, 8, 0].map((s) => (mask >>> s) & 0xff).join(".");
}

/** The `ipv6s` body: `[a,b]`, or undefined (→ 404) when there are none. */
export function ipv6sBody(ipv6s: readonly string[]): string | undefined {
	return ipv6s.length === 0 ? undefined : `[${ipv6s.join(",")}]`;
}

function eniDir(eni: EniView, vpc: MetadataSnapshot["vpc"]): Dir {
	return {
		dir: () => ({
			gateway: leaf(eni.gateway),
			"ipv6-gateway": leaf(eni.ipv6Gateway),
			ipv6s: leaf(ipv6sBody(eni.ipv6s)),
			netmask: leaf(netmaskOf(eni.cidr)),
			"network-interface-id": leaf(eni.eniId),
			"primary-ip-address": leaf(eni.primaryIp),
			"private-ipv4s": leaf(JSON.stringify(eni.ips)),
			"vpc-cidr-block": leaf(vpc?.cidr),
			"vpc-id": leaf(eni.vpcId),
			"vswitch-cidr-block": leaf(eni.cidr),
			"vswitch-id": leaf(eni.vswitchId),
			"vswitch-ipv6-cidr-block": leaf(eni.ipv6Cidr),
		}),
	};
}

function root(s: MetadataSnapshot): Dir {
	const { instance, vpc } = s;
	const primary = instance.primaryEni;
	const role = instance.ramRole;
	const children: Record<string, Node> = {
		hostname: leaf(instance.hostname),
		"instance-id": leaf(instance.instanceId),
		instance: { dir: () => ({ "instance-type": leaf(instance.instanceType) }) },
		mac: leaf(primary.mac),
		"network-type": leaf("vpc"),
		network: {
			dir: () => ({
				interfaces: {
					dir: () => ({
						macs: { dir: () => Object.fromEntries(s.enis.map((e) => [e.mac.toLowerCase(), eniDir(e, vpc)])) },
					}),
				},
			}),
		},
		"private-ipv4": leaf(primary.primaryIp),
		"region-id": leaf(instance.regionId),
		"vpc-cidr-block": leaf(vpc?.cidr),
		"vpc-id": leaf(instance.vpcId),
		"vswitch-cidr-block": leaf(primary.cidr),
		"vswitch-id": leaf(primary.vswitchId),
		"zone-id": leaf(instance.zoneId),
	};
	// An instance without a RAM role has no ram/ directory at all (the real service answers 404).
	if (role) {
		children.ram = {
			dir: () => ({ "security-credentials": { dir: () => ({ [role]: { leaf: s.ramCredentials } }) } }),
		};
	}
	return { dir: () => children };
}

/** True when the node answers (a directory always does; a leaf when it has a value). */
function present(n: Node): boolean {
	return "dir" in n || n.leaf() !== undefined;
}

/** Sorted like the real listings, except MACs, which keep the ENI order (primary first). */
function listing(children: Record<string, Node>, keepOrder: boolean): string[] {
	const names = Object.keys(children)
		.filter((k) => present(children[k]!))
		.map((k) => ("dir" in children[k]! ? `${k}/` : k));
	// Sorted with the slash, as the real root listing shows ("instance-id" before "instance/").
	return keepOrder ? names : names.sort();
}

/**
 * Look up a path under `/latest/meta-data/`, given as its segments (`["network", "interfaces",
 * "macs"]`; `[]` is the root). MACs match case-insensitively.
 */
export function resolve(s: MetadataSnapshot, segments: readonly string[]): Resolved {
	let node: Node = root(s);
	let parentIsMacs = false;
	for (const [i, seg] of segments.entries()) {
		if (!("dir" in node)) return { kind: "notFound" };
		const children: Record<string, Node> = node.dir();
		const isMacs = i === 2 && seg === "macs" && segments[0] === "network" && segments[1] === "interfaces";
		const key = parentIsMacs ? seg.toLowerCase() : seg;
		const next: Node | undefined = Object.hasOwn(children, key) ? children[key] : undefined;
		if (!next) return { kind: "notFound" };
		node = next;
		parentIsMacs = isMacs;
	}
	if ("dir" in node) return { kind: "dir", entries: listing(node.dir(), parentIsMacs) };
	const body = node.leaf();
	return body === undefined ? { kind: "notFound" } : { kind: "value", body };
}
