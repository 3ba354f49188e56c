/**
 * The plugin's network config on stdin, parsed and validated at the boundary: the standard keys
 * (cniVersion, name, type, capabilities, runtimeConfig, prevResult, args, dns, ipam), Terway's
 * conflist fields (terway-features §2.2) and the GC attachment lists. Pure: a string in, typed
 * values or a CniError out.
 *
 * Every bad field is named: the error's `msg` names the first, `details` lists all of them.
 * Codes: not JSON / not an object -> 6; a version we do not speak -> 1; an unknown top-level key
 * -> 2 (key and value in the message); anything else invalid -> 7.
 */
import { CNI_CODES, CniError } from "../core/cni/errors.ts";
import type {
	Attachment,
	BandwidthEntry,
	DNS,
	NetConf,
	PortMapping,
	Result,
	Result040,
	RuntimeConfig,
} from "../core/cni/types.ts";
import {
	isSupportedVersion,
	parseVersion,
	SUPPORTED_VERSIONS,
	toCurrentResult,
} from "../core/cni/version.ts";
import { suggestKey } from "../core/config/suggest.ts";
import { MAX_BANDWIDTH, MIN_BANDWIDTH } from "../core/net/bandwidth.ts";
import { parseCIDR, parseIP, parseMAC } from "../core/net/ip.ts";

/** How shared-ENI pods are wired (`eniip_virtual_type`, case-insensitive). */
export type VirtualType = "veth" | "ipvlan" | "datapathv2";

/** Terway's conflist fields, normalised (defaults applied). */
export type TerwayOptions = {
	/** As configured; `ipvlan` is mapped to a datapath by the plugin (see DESIGN: eBPF or veth). */
	eniipVirtualType: VirtualType;
	hostStackCidrs: string[];
	disableHostPeer: boolean;
	vlanStripType: "filter" | "vlan";
	/** Pod link MTU; 1500 when absent or 0 (Terway). */
	mtu: number;
	bandwidthMode: "tc" | "edt";
	enableNetworkPriority: boolean;
	/** Log at debug level to /var/log/terway.cni.log (Terway's `debug`). */
	debug: boolean;
	/** Host-side veth name prefix; Terway declares `veth_prefix` but hard-codes "cali". */
	vethPrefix: string;
	/** Ours: log file (NDJSON) instead of stderr. */
	logFile?: string;
	/** Ours: terwayd's socket (default /var/run/terway/terwayd.sock). */
	daemonSocket?: string;
	/** Ours: where DEL journals releases terwayd could not take (default /var/lib/terway/pending-releases.jsonl). */
	releaseJournal?: string;
};

/** Everything the plugin needs from stdin. */
export type PluginConf = {
	net: NetConf;
	terway: TerwayOptions;
	/** GC only: union of `cni.dev/valid-attachments` and the legacy `cni.dev/attachments`. */
	validAttachments?: Attachment[];
};

const STANDARD_KEYS = [
	"cniVersion",
	"name",
	"type",
	"capabilities",
	"runtimeConfig",
	"prevResult",
	"args",
	"dns",
	"ipam",
	"ipMasq",
] as const;

const TERWAY_KEYS = [
	"eniip_virtual_type",
	"host_stack_cidrs",
	"disable_host_peer",
	"vlan_strip_type",
	"mtu",
	"bandwidth_mode",
	"enable_network_priority",
	"debug",
	"veth_prefix",
	"symmetric_routing",
	"symmetric_routing_config",
	// read only by terway-cli; accepted so a Terway conflist works unchanged
	"network_policy_provider",
	"auto_mtu",
	"cilium_args",
	"cilium_enable_hubble",
	"cilium_hubble_metrics",
	"cilium_hubble_listen_address",
	"cilium_hubble_metrics_server",
	// ours
	"log_file",
	"daemon_socket",
	"release_journal",
] as const;

const KNOWN_KEYS: readonly string[] = [...STANDARD_KEYS, ...TERWAY_KEYS];

/** libcni ValidateNetworkName / ValidateContainerID character rules. */
export const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

type Issue = { path: string; value: unknown; reason: string; code: number };

class Issues {
	readonly list: Issue[] = [];
	add(path: string, value: unknown, reason: string, code: number = CNI_CODES.InvalidNetworkConfig): void {
		this.list.push({ path, value, reason, code });
	}
}

const show = (v: unknown): string => {
	const s = JSON.stringify(v);
	if (s === undefined) return String(v);
	return s.length > 80 ? `${s.slice(0, 77)}...` : s;
};
const describe = (i: Issue): string =>
	i.value === undefined ? `${i.path}: ${i.reason}` : `${i.path} ${show(i.value)}: ${i.reason}`;

const isObject = (v: unknown): v is Record<string, unknown> =>
	typeof v === "object" && v !== null && !Array.isArray(v);

function optBool(o: Record<string, unknown>, key: string, issues: Issues, path = key): boolean {
	const v = o[key];
	if (v === undefined || v === null) return false;
	if (typeof v !== "boolean") issues.add(path, v, "must be true or false");
	return v === true;
}

function optString(o: Record<string, unknown>, key: string, issues: Issues, path = key): string | undefined {
	const v = o[key];
	if (v === undefined || v === null) return undefined;
	if (typeof v !== "string") {
		issues.add(path, v, "must be a string");
		return undefined;
	}
	return v;
}

function checkCidr(path: string, v: unknown, issues: Issues, allowBare = false): string | undefined {
	if (typeof v !== "string") {
		issues.add(path, v, "must be a CIDR string like 10.0.0.0/8");
		return undefined;
	}
	try {
		parseCIDR(v, { allowBare });
		return v;
	} catch (e) {
		issues.add(path, v, (e as Error).message.replace(/^invalid [^:]*: /, ""));
		return undefined;
	}
}

function checkIp(path: string, v: unknown, issues: Issues): void {
	if (typeof v !== "string") {
		issues.add(path, v, "must be an IP address string");
		return;
	}
	try {
		parseIP(v);
	} catch (e) {
		issues.add(path, v, (e as Error).message.replace(/^invalid [^:]*: /, ""));
	}
}

function stringArray(path: string, v: unknown, issues: Issues): string[] | undefined {
	if (v === undefined || v === null) return undefined;
	if (!Array.isArray(v)) {
		issues.add(path, v, "must be an array of strings");
		return undefined;
	}
	v.forEach((x, i) => {
		if (typeof x !== "string") issues.add(`${path}[${i}]`, x, "must be a string");
	});
	return v.filter((x): x is string => typeof x === "string");
}

function parseDns(path: string, v: unknown, issues: Issues): DNS | undefined {
	if (v === undefined || v === null) return undefined;
	if (!isObject(v)) {
		issues.add(path, v, "must be an object {nameservers, domain, search, options}");
		return undefined;
	}
	const out: DNS = {};
	const ns = stringArray(`${path}.nameservers`, v.nameservers, issues);
	if (ns) {
		ns.forEach((s, i) => {
			checkIp(`${path}.nameservers[${i}]`, s, issues);
		});
		out.nameservers = ns;
	}
	const domain = optString(v, "domain", issues, `${path}.domain`);
	if (domain !== undefined) out.domain = domain;
	const search = stringArray(`${path}.search`, v.search, issues);
	if (search) out.search = search;
	const options = stringArray(`${path}.options`, v.options, issues);
	if (options) out.options = options;
	return out;
}

/** tc's 32-bit rate field (bytes/s) caps what tbf can enforce. */
const TC_MAX_BITS = (2 ** 32 - 1) * 8;

function parseBandwidthEntry(path: string, v: unknown, issues: Issues): BandwidthEntry | undefined {
	if (v === undefined || v === null) return undefined;
	if (!isObject(v)) {
		issues.add(path, v, "must be an object {ingressRate, ingressBurst, egressRate, egressBurst}");
		return undefined;
	}
	const out: BandwidthEntry = {};
	for (const key of ["ingressRate", "ingressBurst", "egressRate", "egressBurst"] as const) {
		const x = v[key];
		if (x === undefined || x === null) continue;
		const p = `${path}.${key}`;
		if (typeof x !== "number" || !Number.isSafeInteger(x) || x < 0) {
			issues.add(p, x, "must be a whole non-negative number (bits per second; bits for bursts)");
			continue;
		}
		if (key.endsWith("Rate") && x !== 0) {
			if (x < MIN_BANDWIDTH) issues.add(p, x, "unreasonably small (< 1kbit/s)");
			else if (x > MAX_BANDWIDTH) issues.add(p, x, "unreasonably large (> 1Pbit/s)");
			else if (x > TC_MAX_BITS) issues.add(p, x, `above ${TC_MAX_BITS} bits/s, the most tc can shape`);
		}
		out[key] = x;
	}
	for (const key of Object.keys(v)) {
		if (!["ingressRate", "ingressBurst", "egressRate", "egressBurst"].includes(key)) {
			issues.add(`${path}.${key}`, v[key], "unknown bandwidth key", CNI_CODES.UnsupportedField);
		}
	}
	return out;
}

function parsePortMappings(path: string, v: unknown, issues: Issues): PortMapping[] | undefined {
	if (v === undefined || v === null) return undefined;
	if (!Array.isArray(v)) {
		issues.add(path, v, "must be an array of {hostPort, containerPort, protocol, hostIP}");
		return undefined;
	}
	const out: PortMapping[] = [];
	v.forEach((m, i) => {
		const p = `${path}[${i}]`;
		if (!isObject(m)) {
			issues.add(p, m, "must be an object");
			return;
		}
		for (const k of ["hostPort", "containerPort"] as const) {
			const port = m[k];
			if (typeof port !== "number" || !Number.isInteger(port) || port < 1 || port > 65535) {
				issues.add(`${p}.${k}`, port, "must be a port 1..65535");
			}
		}
		const proto = m.protocol;
		if (proto !== undefined && !(typeof proto === "string" && /^(tcp|udp|sctp)$/i.test(proto))) {
			issues.add(`${p}.protocol`, proto, "must be tcp, udp or sctp");
		}
		if (m.hostIP !== undefined && m.hostIP !== "") checkIp(`${p}.hostIP`, m.hostIP, issues);
		out.push(m as PortMapping);
	});
	return out;
}

function parseRuntimeConfig(v: unknown, issues: Issues): RuntimeConfig | undefined {
	if (v === undefined || v === null) return undefined;
	if (!isObject(v)) {
		issues.add("runtimeConfig", v, "must be an object");
		return undefined;
	}
	// Keys for capabilities we did not declare are tolerated as given (spec: tolerate them).
	const out: RuntimeConfig = { ...v };
	const bw = parseBandwidthEntry("runtimeConfig.bandwidth", v.bandwidth, issues);
	if (bw) out.bandwidth = bw;
	else delete out.bandwidth;
	const pm = parsePortMappings("runtimeConfig.portMappings", v.portMappings, issues);
	if (pm) out.portMappings = pm;
	const dns = parseDns("runtimeConfig.dns", v.dns, issues);
	if (dns) out.dns = dns;
	const ips = stringArray("runtimeConfig.ips", v.ips, issues);
	if (ips) {
		ips.forEach((s, i) => {
			checkCidr(`runtimeConfig.ips[${i}]`, s, issues, true);
		});
	}
	if (v.mac !== undefined) {
		try {
			parseMAC(String(v.mac));
			if (typeof v.mac !== "string") throw new Error("not a string");
		} catch {
			issues.add("runtimeConfig.mac", v.mac, "must be a MAC address like 02:00:00:00:00:01");
		}
	}
	return out;
}

/** prevResult of any supported version -> the current schema, checked field by field. */
function parsePrevResult(v: unknown, confVersion: string, issues: Issues): Result | undefined {
	if (v === undefined || v === null) return undefined;
	if (!isObject(v)) {
		issues.add("prevResult", v, "must be a CNI result object");
		return undefined;
	}
	const version = v.cniVersion === undefined ? confVersion : v.cniVersion;
	if (typeof version !== "string" || !isSupportedVersion(version)) {
		issues.add("prevResult.cniVersion", version, `must be one of ${SUPPORTED_VERSIONS.join(", ")}`);
		return undefined;
	}
	const n = issues.list.length;
	const ifaces = v.interfaces;
	let ifaceCount = 0;
	if (ifaces !== undefined) {
		if (!Array.isArray(ifaces)) issues.add("prevResult.interfaces", ifaces, "must be an array");
		else {
			ifaceCount = ifaces.length;
			ifaces.forEach((x, i) => {
				if (!isObject(x) || typeof x.name !== "string" || x.name === "") {
					issues.add(`prevResult.interfaces[${i}]`, x, "must be an object with a name");
				}
			});
		}
	}
	const ips = v.ips;
	if (ips !== undefined) {
		if (!Array.isArray(ips)) issues.add("prevResult.ips", ips, "must be an array");
		else {
			ips.forEach((x, i) => {
				const p = `prevResult.ips[${i}]`;
				if (!isObject(x)) {
					issues.add(p, x, "must be an object with an address");
					return;
				}
				checkCidr(`${p}.address`, x.address, issues);
				if (x.gateway !== undefined) checkIp(`${p}.gateway`, x.gateway, issues);
				const idx = x.interface;
				if (
					idx !== undefined &&
					!(typeof idx === "number" && Number.isInteger(idx) && idx >= 0 && idx < ifaceCount)
				) {
					issues.add(`${p}.interface`, idx, "must index prevResult.interfaces");
				}
			});
		}
	}
	const routes = v.routes;
	if (routes !== undefined) {
		if (!Array.isArray(routes)) issues.add("prevResult.routes", routes, "must be an array");
		else {
			routes.forEach((x, i) => {
				const p = `prevResult.routes[${i}]`;
				if (!isObject(x)) {
					issues.add(p, x, "must be an object with a dst");
					return;
				}
				checkCidr(`${p}.dst`, x.dst, issues);
				if (x.gw !== undefined) checkIp(`${p}.gw`, x.gw, issues);
			});
		}
	}
	parseDns("prevResult.dns", v.dns, issues);
	if (issues.list.length > n) return undefined;
	return toCurrentResult({ ...(v as unknown as Result | Result040), cniVersion: version });
}

function parseAttachments(key: string, v: unknown, issues: Issues): Attachment[] {
	if (v === undefined || v === null) return [];
	if (!Array.isArray(v)) {
		issues.add(key, v, "must be an array of {containerID, ifname}");
		return [];
	}
	const out: Attachment[] = [];
	v.forEach((a, i) => {
		if (!isObject(a) || typeof a.containerID !== "string" || typeof a.ifname !== "string") {
			issues.add(`${key}[${i}]`, a, "must be {containerID, ifname} strings");
			return;
		}
		out.push({ containerID: a.containerID, ifname: a.ifname });
	});
	return out;
}

function parseTerway(o: Record<string, unknown>, issues: Issues): TerwayOptions {
	const vt = optString(o, "eniip_virtual_type", issues)?.toLowerCase() ?? "veth";
	let eniipVirtualType: VirtualType = "veth";
	if (vt === "veth" || vt === "ipvlan" || vt === "datapathv2") eniipVirtualType = vt;
	else issues.add("eniip_virtual_type", o.eniip_virtual_type, "must be veth, ipvlan or datapathv2");

	const hostStackCidrs = stringArray("host_stack_cidrs", o.host_stack_cidrs, issues) ?? [];
	hostStackCidrs.forEach((c, i) => {
		checkCidr(`host_stack_cidrs[${i}]`, c, issues);
	});

	const vst = optString(o, "vlan_strip_type", issues) ?? "";
	let vlanStripType: "filter" | "vlan" = "filter";
	if (vst === "vlan") vlanStripType = "vlan";
	else if (vst !== "" && vst !== "filter") issues.add("vlan_strip_type", vst, 'must be "filter" or "vlan"');

	let mtu = 1500;
	if (o.mtu !== undefined && o.mtu !== null && o.mtu !== 0) {
		if (typeof o.mtu !== "number" || !Number.isInteger(o.mtu) || o.mtu < 68 || o.mtu > 65535) {
			issues.add("mtu", o.mtu, "must be a whole number 68..65535 (0 or absent = 1500)");
		} else mtu = o.mtu;
	}

	const bm = optString(o, "bandwidth_mode", issues) ?? "tc";
	let bandwidthMode: "tc" | "edt" = "tc";
	if (bm === "edt") bandwidthMode = "edt";
	else if (bm !== "tc" && bm !== "") issues.add("bandwidth_mode", bm, 'must be "tc" or "edt"');

	const vethPrefix = optString(o, "veth_prefix", issues) ?? "cali";
	if (!/^[a-z]{1,4}$/.test(vethPrefix)) issues.add("veth_prefix", vethPrefix, "must be 1-4 letters a-z");

	const logFile = optString(o, "log_file", issues);
	if (logFile !== undefined && !logFile.startsWith("/"))
		issues.add("log_file", logFile, "must be an absolute path");
	const daemonSocket = optString(o, "daemon_socket", issues);
	if (daemonSocket !== undefined && !daemonSocket.startsWith("/")) {
		issues.add("daemon_socket", daemonSocket, "must be an absolute path");
	}
	const releaseJournal = optString(o, "release_journal", issues);
	if (releaseJournal !== undefined && !releaseJournal.startsWith("/")) {
		issues.add("release_journal", releaseJournal, "must be an absolute path");
	}
	optBool(o, "symmetric_routing", issues);
	if (o.symmetric_routing_config !== undefined && !isObject(o.symmetric_routing_config)) {
		issues.add("symmetric_routing_config", o.symmetric_routing_config, "must be an object");
	}
	const out: TerwayOptions = {
		eniipVirtualType,
		hostStackCidrs,
		disableHostPeer: optBool(o, "disable_host_peer", issues),
		vlanStripType,
		mtu,
		bandwidthMode,
		enableNetworkPriority: optBool(o, "enable_network_priority", issues),
		debug: optBool(o, "debug", issues),
		vethPrefix,
	};
	if (logFile !== undefined) out.logFile = logFile;
	if (daemonSocket !== undefined) out.daemonSocket = daemonSocket;
	if (releaseJournal !== undefined) out.releaseJournal = releaseJournal;
	return out;
}

function throwIssues(issues: Issues): void {
	const first = issues.list[0];
	if (!first) return;
	// An unknown key alone is "unsupported field" (2); any invalid value makes it invalid config (7).
	const code = issues.list.some((i) => i.code === CNI_CODES.InvalidNetworkConfig)
		? CNI_CODES.InvalidNetworkConfig
		: first.code;
	const lead = code === CNI_CODES.UnsupportedField ? "unsupported field" : "invalid network config";
	const more = issues.list.length > 1 ? ` (and ${issues.list.length - 1} more)` : "";
	throw new CniError(code, `${lead}: ${describe(first)}${more}`, issues.list.map(describe).join("; "));
}

/** The config's cniVersion when stdin is a JSON object that has a string one (for error JSON). */
export function peekVersion(stdin: string): string | undefined {
	try {
		const o = JSON.parse(stdin);
		return isObject(o) && typeof o.cniVersion === "string" ? o.cniVersion : undefined;
	} catch {
		return undefined;
	}
}

/**
 * Parse and validate stdin. `gc` also reads the attachment lists.
 * @throws CniError 6 (not a JSON object), 1 (unsupported cniVersion), 2 or 7 (fields).
 */
export function parseNetConf(stdin: string, opts: { gc?: boolean } = {}): PluginConf {
	let raw: unknown;
	try {
		raw = JSON.parse(stdin);
	} catch (e) {
		throw new CniError(
			CNI_CODES.DecodingFailure,
			`error decoding network config from stdin: ${(e as Error).message}`,
		);
	}
	if (!isObject(raw)) {
		throw new CniError(CNI_CODES.DecodingFailure, "network config on stdin must be a JSON object");
	}
	const issues = new Issues();

	const cniVersion = raw.cniVersion;
	if (cniVersion === undefined) issues.add("cniVersion", undefined, "is missing");
	else if (typeof cniVersion !== "string" || !parseVersion(cniVersion)) {
		issues.add("cniVersion", cniVersion, 'must be a version like "1.0.0"');
	} else if (!isSupportedVersion(cniVersion)) {
		throw new CniError(
			CNI_CODES.IncompatibleCniVersion,
			`incompatible CNI versions: config is ${cniVersion}, plugin supports ${SUPPORTED_VERSIONS.join(", ")}`,
		);
	}
	const name = raw.name;
	if (name === undefined || name === "") issues.add("name", name, "missing network name");
	else if (typeof name !== "string" || !NAME_RE.test(name)) {
		issues.add("name", name, "must start with a letter or digit and contain only [A-Za-z0-9_.-]");
	}
	const type = raw.type;
	if (type === undefined || type === "") issues.add("type", type, "is missing");
	else if (typeof type !== "string") issues.add("type", type, "must be a string");

	for (const key of Object.keys(raw)) {
		if (KNOWN_KEYS.includes(key) || key.startsWith("cni.dev/")) continue;
		const hint = suggestKey(key, KNOWN_KEYS);
		issues.add(
			key,
			raw[key],
			hint ? `unknown key (did you mean ${hint}?)` : "unknown key",
			CNI_CODES.UnsupportedField,
		);
	}

	let capabilities: Record<string, boolean> | undefined;
	if (raw.capabilities !== undefined) {
		if (!isObject(raw.capabilities))
			issues.add("capabilities", raw.capabilities, "must be an object of booleans");
		else {
			for (const [k, b] of Object.entries(raw.capabilities)) {
				if (typeof b !== "boolean") issues.add(`capabilities.${k}`, b, "must be true or false");
			}
			capabilities = raw.capabilities as Record<string, boolean>;
		}
	}
	const runtimeConfig = parseRuntimeConfig(raw.runtimeConfig, issues);
	const dns = parseDns("dns", raw.dns, issues);
	if (raw.args !== undefined && !isObject(raw.args)) issues.add("args", raw.args, "must be an object");
	let ipam: NetConf["ipam"];
	if (raw.ipam !== undefined) {
		if (!isObject(raw.ipam) || typeof raw.ipam.type !== "string") {
			issues.add("ipam", raw.ipam, "must be an object with a type");
		} else ipam = raw.ipam as NetConf["ipam"];
	}
	if (raw.ipMasq !== undefined && typeof raw.ipMasq !== "boolean")
		issues.add("ipMasq", raw.ipMasq, "must be true or false");
	const confVersion = typeof cniVersion === "string" ? cniVersion : "1.1.0";
	const prevResult = parsePrevResult(raw.prevResult, confVersion, issues);
	const terway = parseTerway(raw, issues);

	let validAttachments: Attachment[] | undefined;
	if (opts.gc) {
		const seen = new Set<string>();
		validAttachments = [];
		for (const key of ["cni.dev/valid-attachments", "cni.dev/attachments"]) {
			for (const a of parseAttachments(key, raw[key], issues)) {
				const id = `${a.containerID}\0${a.ifname}`;
				if (!seen.has(id)) {
					seen.add(id);
					validAttachments.push(a);
				}
			}
		}
	}
	throwIssues(issues);

	const net: NetConf = { cniVersion: cniVersion as string, name: name as string, type: type as string };
	if (capabilities) net.capabilities = capabilities;
	if (runtimeConfig) net.runtimeConfig = runtimeConfig;
	if (prevResult) net.prevResult = prevResult;
	if (isObject(raw.args)) net.args = raw.args;
	if (dns) net.dns = dns;
	if (ipam) net.ipam = ipam;
	const out: PluginConf = { net, terway };
	if (validAttachments) out.validAttachments = validAttachments;
	return out;
}
