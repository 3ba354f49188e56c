/**
 * Scenario files: parse YAML or JSON into a validated `Scenario` (contracts.ts). Every problem is
 * reported with its field path and value (`vswitches[1].cidr: "198.18.0.0/33" is not a CIDR`),
 * all at once, so an admin fixes a file in one pass. Cross-checks: vSwitch zones exist, the node
 * vSwitch/instance type/security group exist, CIDRs lie inside the VPC, vSwitches do not overlap,
 * and every address stays in the sim's ranges (198.18.0.0/15, fd00::/8).
 *
 * Pure except `loadScenarioFile` (reads one file). The default scenario is embedded as text so a
 * compiled binary carries it.
 */
import { parse as parseYaml } from "yaml";
import type { KubeObject, Scenario, ScenarioInstanceType, ScenarioVSwitch } from "../contracts.ts";
import defaultScenarioText from "../scenarios/default.yaml" with { type: "text" };
import {
	type Cidr,
	cidrContains,
	cidrsOverlap,
	parseNetwork,
	SIM_IPV4_RANGE,
	SIM_IPV6_RANGE,
} from "./addr.ts";

/** A scenario that failed validation; `issues` holds one line per problem. */
export class ScenarioError extends Error {
	override readonly name = "ScenarioError";
	constructor(
		readonly source: string,
		readonly issues: string[],
	) {
		super(`${source}: invalid scenario:\n  ${issues.join("\n  ")}`);
	}
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const show = (v: unknown) => JSON.stringify(v) ?? String(v);

/** Collects issues while walking the input; every reader returns a typed value or undefined. */
class Checker {
	issues: string[] = [];
	bad(path: string, value: unknown, why: string): undefined {
		this.issues.push(`${path}: ${show(value)} ${why}`);
		return undefined;
	}
	missing(path: string): undefined {
		this.issues.push(`${path}: required`);
		return undefined;
	}
	keys(o: Obj, path: string, allowed: string[]) {
		for (const k of Object.keys(o)) {
			if (!allowed.includes(k)) this.issues.push(`${path ? `${path}.` : ""}${k}: unknown field`);
		}
	}
	obj(o: Obj, key: string, path: string, optional = false): Obj | undefined {
		const v = o[key];
		if (v === undefined) return optional ? undefined : this.missing(path);
		return isObj(v) ? v : this.bad(path, v, "is not an object");
	}
	arr(o: Obj, key: string, path: string, optional = false): unknown[] | undefined {
		const v = o[key];
		if (v === undefined) return optional ? undefined : this.missing(path);
		return Array.isArray(v) ? v : this.bad(path, v, "is not a list");
	}
	str(o: Obj, key: string, path: string, optional = false): string | undefined {
		const v = o[key];
		if (v === undefined) return optional ? undefined : this.missing(path);
		return typeof v === "string" && v !== "" ? v : this.bad(path, v, "is not a non-empty string");
	}
	int(o: Obj, key: string, path: string, min: number, def?: number): number | undefined {
		const v = o[key];
		if (v === undefined) return def === undefined ? this.missing(path) : def;
		if (typeof v !== "number" || !Number.isInteger(v)) return this.bad(path, v, "is not an integer");
		return v >= min ? v : this.bad(path, v, `is less than ${min}`);
	}
	bool(o: Obj, key: string, path: string, def: boolean): boolean | undefined {
		const v = o[key];
		if (v === undefined) return def;
		return typeof v === "boolean" ? v : this.bad(path, v, "is not true or false");
	}
	cidr(v: string, path: string, family: 4 | 6): Cidr | undefined {
		let c: Cidr;
		try {
			c = parseNetwork(v);
		} catch (e) {
			return this.bad(path, v, `is not a CIDR (${(e as Error).message})`);
		}
		if (c.family !== family) return this.bad(path, v, `is not an IPv${family} CIDR`);
		const range = family === 4 ? SIM_IPV4_RANGE : SIM_IPV6_RANGE;
		if (!cidrContains(range, c)) return this.bad(path, v, `is outside the sim's range ${range.text}`);
		return c;
	}
}

/** Validate already-parsed input (from YAML or JSON). Throws ScenarioError listing every issue. */
export function validateScenario(input: unknown, source = "scenario"): Scenario {
	const ck = new Checker();
	if (!isObj(input)) throw new ScenarioError(source, [`(top level): ${show(input)} is not an object`]);
	ck.keys(input, "", [
		"name",
		"region",
		"zones",
		"accessKeys",
		"ramRole",
		"vpc",
		"vswitches",
		"securityGroups",
		"instanceTypes",
		"nodes",
		"privateIpQuota",
		"latency",
		"metadataLagMs",
		"kubernetes",
	]);
	const name = ck.str(input, "name", "name");
	const region = ck.str(input, "region", "region");
	const zones: string[] = [];
	(ck.arr(input, "zones", "zones") ?? []).forEach((z, i) => {
		if (typeof z !== "string" || z === "") ck.bad(`zones[${i}]`, z, "is not a non-empty string");
		else if (zones.includes(z)) ck.bad(`zones[${i}]`, z, "is listed twice");
		else zones.push(z);
	});
	if (Array.isArray(input.zones) && input.zones.length === 0) ck.bad("zones", [], "is empty");

	const accessKeys: Scenario["accessKeys"] = [];
	const aks = ck.arr(input, "accessKeys", "accessKeys") ?? [];
	if (Array.isArray(input.accessKeys) && aks.length === 0) ck.bad("accessKeys", [], "is empty");
	aks.forEach((a, i) => {
		const p = `accessKeys[${i}]`;
		if (!isObj(a)) {
			ck.bad(p, a, "is not an object");
			return;
		}
		ck.keys(a, p, ["id", "secret"]);
		const id = ck.str(a, "id", `${p}.id`);
		const secret = ck.str(a, "secret", `${p}.secret`);
		if (id && accessKeys.some((k) => k.id === id)) ck.bad(`${p}.id`, id, "is listed twice");
		if (id?.startsWith("STS."))
			ck.bad(`${p}.id`, id, 'must not start with "STS." (reserved for issued STS keys)');
		if (id && secret) accessKeys.push({ id, secret });
	});
	const ramRole = ck.str(input, "ramRole", "ramRole");

	// VPC
	let vpc: Scenario["vpc"] | undefined;
	let vpcCidr: Cidr | undefined;
	let vpcCidr6: Cidr | undefined;
	const v = ck.obj(input, "vpc", "vpc");
	if (v) {
		ck.keys(v, "vpc", ["id", "cidr", "ipv6Cidr"]);
		const id = ck.str(v, "id", "vpc.id");
		if (id && !id.startsWith("vpc-")) ck.bad("vpc.id", id, 'does not start with "vpc-"');
		const cidr = ck.str(v, "cidr", "vpc.cidr");
		if (cidr) vpcCidr = ck.cidr(cidr, "vpc.cidr", 4);
		const ipv6Cidr = ck.str(v, "ipv6Cidr", "vpc.ipv6Cidr", true);
		if (ipv6Cidr) vpcCidr6 = ck.cidr(ipv6Cidr, "vpc.ipv6Cidr", 6);
		if (id && cidr) vpc = { id, cidr, ...(ipv6Cidr ? { ipv6Cidr } : {}) };
	}

	// vSwitches
	const vswitches: ScenarioVSwitch[] = [];
	const seen4: { path: string; c: Cidr }[] = [];
	const seen6: { path: string; c: Cidr }[] = [];
	const vsws = ck.arr(input, "vswitches", "vswitches") ?? [];
	if (Array.isArray(input.vswitches) && vsws.length === 0) ck.bad("vswitches", [], "is empty");
	vsws.forEach((s, i) => {
		const p = `vswitches[${i}]`;
		if (!isObj(s)) {
			ck.bad(p, s, "is not an object");
			return;
		}
		ck.keys(s, p, ["id", "zone", "cidr", "ipv6Cidr", "availableLimit"]);
		const id = ck.str(s, "id", `${p}.id`);
		if (id && !id.startsWith("vsw-")) ck.bad(`${p}.id`, id, 'does not start with "vsw-"');
		if (id && vswitches.some((x) => x.id === id)) ck.bad(`${p}.id`, id, "is listed twice");
		const zone = ck.str(s, "zone", `${p}.zone`);
		if (zone && !zones.includes(zone)) ck.bad(`${p}.zone`, zone, `is not one of zones (${zones.join(", ")})`);
		const cidr = ck.str(s, "cidr", `${p}.cidr`);
		const c = cidr ? ck.cidr(cidr, `${p}.cidr`, 4) : undefined;
		if (c) {
			if (c.prefixlen < 16 || c.prefixlen > 29) ck.bad(`${p}.cidr`, cidr, "must be a /16 to /29 (as in ECS)");
			if (vpcCidr && !cidrContains(vpcCidr, c))
				ck.bad(`${p}.cidr`, cidr, `is not inside vpc.cidr ${vpcCidr.text}`);
			const o = seen4.find((x) => cidrsOverlap(x.c, c));
			if (o) ck.bad(`${p}.cidr`, cidr, `overlaps ${o.path} (${o.c.text})`);
			seen4.push({ path: `${p}.cidr`, c });
		}
		const ipv6Cidr = ck.str(s, "ipv6Cidr", `${p}.ipv6Cidr`, true);
		const c6 = ipv6Cidr ? ck.cidr(ipv6Cidr, `${p}.ipv6Cidr`, 6) : undefined;
		if (c6 && ipv6Cidr) {
			if (c6.prefixlen < 64 || c6.prefixlen > 124)
				ck.bad(`${p}.ipv6Cidr`, ipv6Cidr, "must be a /64 to /124 (ECS uses /64)");
			if (!vpcCidr6) ck.bad(`${p}.ipv6Cidr`, ipv6Cidr, "needs vpc.ipv6Cidr");
			else if (!cidrContains(vpcCidr6, c6))
				ck.bad(`${p}.ipv6Cidr`, ipv6Cidr, `is not inside vpc.ipv6Cidr ${vpcCidr6.text}`);
			const o = seen6.find((x) => cidrsOverlap(x.c, c6));
			if (o) ck.bad(`${p}.ipv6Cidr`, ipv6Cidr, `overlaps ${o.path} (${o.c.text})`);
			seen6.push({ path: `${p}.ipv6Cidr`, c: c6 });
		}
		const availableLimit =
			s.availableLimit === undefined ? undefined : ck.int(s, "availableLimit", `${p}.availableLimit`, 0);
		if (id && zone && cidr) {
			vswitches.push({
				id,
				zone,
				cidr,
				...(ipv6Cidr ? { ipv6Cidr } : {}),
				...(availableLimit !== undefined ? { availableLimit } : {}),
			});
		}
	});

	const securityGroups: string[] = [];
	(ck.arr(input, "securityGroups", "securityGroups") ?? []).forEach((g, i) => {
		if (typeof g !== "string" || !g.startsWith("sg-"))
			ck.bad(`securityGroups[${i}]`, g, 'is not an id starting with "sg-"');
		else if (securityGroups.includes(g)) ck.bad(`securityGroups[${i}]`, g, "is listed twice");
		else securityGroups.push(g);
	});
	if (Array.isArray(input.securityGroups) && input.securityGroups.length === 0)
		ck.bad("securityGroups", [], "is empty");

	const instanceTypes: ScenarioInstanceType[] = [];
	const its = ck.arr(input, "instanceTypes", "instanceTypes") ?? [];
	if (Array.isArray(input.instanceTypes) && its.length === 0) ck.bad("instanceTypes", [], "is empty");
	its.forEach((t, i) => {
		const p = `instanceTypes[${i}]`;
		if (!isObj(t)) {
			ck.bad(p, t, "is not an object");
			return;
		}
		ck.keys(t, p, [
			"id",
			"cpu",
			"memoryGiB",
			"eniQuantity",
			"eniTotalQuantity",
			"eniPrivateIpAddressQuantity",
			"eniIpv6AddressQuantity",
			"eniTrunkSupported",
		]);
		const id = ck.str(t, "id", `${p}.id`);
		if (id && instanceTypes.some((x) => x.id === id)) ck.bad(`${p}.id`, id, "is listed twice");
		const cpu = ck.int(t, "cpu", `${p}.cpu`, 1, 2);
		const memoryGiB = ck.int(t, "memoryGiB", `${p}.memoryGiB`, 1, 8);
		const eniQuantity = ck.int(t, "eniQuantity", `${p}.eniQuantity`, 1);
		const eniTotalQuantity = ck.int(t, "eniTotalQuantity", `${p}.eniTotalQuantity`, 1, eniQuantity ?? 1);
		if (eniQuantity !== undefined && eniTotalQuantity !== undefined && eniTotalQuantity < eniQuantity)
			ck.bad(`${p}.eniTotalQuantity`, eniTotalQuantity, `is less than eniQuantity (${eniQuantity})`);
		const ips = ck.int(t, "eniPrivateIpAddressQuantity", `${p}.eniPrivateIpAddressQuantity`, 1);
		const ip6 = ck.int(t, "eniIpv6AddressQuantity", `${p}.eniIpv6AddressQuantity`, 0, 0);
		const trunk = ck.bool(t, "eniTrunkSupported", `${p}.eniTrunkSupported`, false);
		if (
			id &&
			cpu &&
			memoryGiB &&
			eniQuantity &&
			eniTotalQuantity &&
			ips &&
			ip6 !== undefined &&
			trunk !== undefined
		) {
			instanceTypes.push({
				id,
				cpu,
				memoryGiB,
				eniQuantity,
				eniTotalQuantity,
				eniPrivateIpAddressQuantity: ips,
				eniIpv6AddressQuantity: ip6,
				eniTrunkSupported: trunk,
			});
		}
	});

	let nodes: Scenario["nodes"] | undefined;
	const n = ck.obj(input, "nodes", "nodes");
	if (n) {
		ck.keys(n, "nodes", [
			"count",
			"instanceType",
			"zone",
			"vswitch",
			"securityGroup",
			"namePrefix",
			"labels",
		]);
		const count = ck.int(n, "count", "nodes.count", 0);
		const instanceType = ck.str(n, "instanceType", "nodes.instanceType");
		if (instanceType && !instanceTypes.some((t) => t.id === instanceType))
			ck.bad("nodes.instanceType", instanceType, "is not one of instanceTypes[].id");
		const zone = ck.str(n, "zone", "nodes.zone");
		if (zone && !zones.includes(zone)) ck.bad("nodes.zone", zone, "is not one of zones");
		const vswitch = ck.str(n, "vswitch", "nodes.vswitch");
		const vs = vswitches.find((s) => s.id === vswitch);
		if (vswitch && !vs) ck.bad("nodes.vswitch", vswitch, "is not one of vswitches[].id");
		else if (vs && zone && vs.zone !== zone)
			ck.bad("nodes.vswitch", vswitch, `is in zone ${vs.zone}, not nodes.zone ${zone}`);
		const securityGroup = ck.str(n, "securityGroup", "nodes.securityGroup");
		if (securityGroup && !securityGroups.includes(securityGroup))
			ck.bad("nodes.securityGroup", securityGroup, "is not one of securityGroups");
		const namePrefix = n.namePrefix === undefined ? "node-" : ck.str(n, "namePrefix", "nodes.namePrefix");
		if (namePrefix && !/^[a-z0-9]([-a-z0-9]*)?$/.test(namePrefix))
			ck.bad("nodes.namePrefix", namePrefix, "is not a lowercase DNS label prefix");
		let labels: Record<string, string> | undefined;
		const l = ck.obj(n, "labels", "nodes.labels", true);
		if (l) {
			labels = {};
			for (const [k, val] of Object.entries(l)) {
				if (typeof val !== "string") ck.bad(`nodes.labels.${k}`, val, "is not a string");
				else labels[k] = val;
			}
		}
		if (count !== undefined && instanceType && zone && vswitch && securityGroup && namePrefix) {
			nodes = {
				count,
				instanceType,
				zone,
				vswitch,
				securityGroup,
				namePrefix,
				...(labels ? { labels } : {}),
			};
		}
	}

	const privateIpQuota = ck.int(input, "privateIpQuota", "privateIpQuota", 0, 10_000);
	let latency: Scenario["latency"] | undefined = "fast";
	if (input.latency !== undefined) {
		if (input.latency === "fast" || input.latency === "realistic") latency = input.latency;
		else latency = ck.bad("latency", input.latency, 'is not "fast" or "realistic"');
	}
	const metadataLagMs = ck.int(input, "metadataLagMs", "metadataLagMs", 0, 0);

	const objects: KubeObject[] = [];
	const k = ck.obj(input, "kubernetes", "kubernetes", true);
	if (k) {
		ck.keys(k, "kubernetes", ["objects"]);
		(ck.arr(k, "objects", "kubernetes.objects", true) ?? []).forEach((o, i) => {
			const p = `kubernetes.objects[${i}]`;
			if (!isObj(o)) {
				ck.bad(p, o, "is not an object");
				return;
			}
			const apiVersion = ck.str(o, "apiVersion", `${p}.apiVersion`);
			const kind = ck.str(o, "kind", `${p}.kind`);
			const md = ck.obj(o, "metadata", `${p}.metadata`);
			const mname = md ? ck.str(md, "name", `${p}.metadata.name`) : undefined;
			if (md && md.namespace !== undefined) ck.str(md, "namespace", `${p}.metadata.namespace`);
			if (apiVersion && kind && md && mname) objects.push(o as KubeObject);
		});
	}

	if (ck.issues.length > 0) throw new ScenarioError(source, ck.issues);
	// every field is present when there are no issues
	return {
		name: name!,
		region: region!,
		zones,
		accessKeys,
		ramRole: ramRole!,
		vpc: vpc!,
		vswitches,
		securityGroups,
		instanceTypes,
		nodes: nodes!,
		privateIpQuota: privateIpQuota!,
		latency: latency!,
		metadataLagMs: metadataLagMs!,
		kubernetes: { objects },
	};
}

/** Parse scenario text: JSON when it starts with "{", YAML otherwise. */
export function parseScenario(text: string, source = "scenario"): Scenario {
	let data: unknown;
	try {
		data = text.trimStart().startsWith("{") ? JSON.parse(text) : parseYaml(text);
	} catch (e) {
		throw new ScenarioError(source, [`(syntax): ${(e as Error).message.split("\n")[0]}`]);
	}
	return validateScenario(data, source);
}

/** Read and parse a scenario file (YAML or JSON). */
export async function loadScenarioFile(path: string): Promise<Scenario> {
	return parseScenario(await Bun.file(path).text(), path);
}

/** The embedded default scenario's text (src/sim/scenarios/default.yaml). */
export const DEFAULT_SCENARIO_TEXT: string = String(defaultScenarioText);

/** The embedded default scenario, parsed (a fresh copy each call). */
export function defaultScenario(): Scenario {
	return parseScenario(DEFAULT_SCENARIO_TEXT, "default.yaml");
}
