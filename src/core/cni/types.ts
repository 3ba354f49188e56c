/**
 * CNI spec types (SPEC.md 1.1.0 and the 0.3.x/0.4.0/1.0.0 result schemas) as plain data. Pure:
 * no I/O, no validation (src/plugin/netconf.ts validates stdin and produces these).
 *
 * `Result` is the current (1.1.0) form; the plugin builds results in it and `convertResult`
 * (version.ts) writes whatever version the runtime asked for.
 */

/** The five versions we speak, oldest first. */
export type CniVersion = "0.3.0" | "0.3.1" | "0.4.0" | "1.0.0" | "1.1.0";

/** The six CNI operations (SPEC.md "CNI operations"). */
export type CniCommand = "ADD" | "DEL" | "CHECK" | "VERSION" | "STATUS" | "GC";

/** `interfaces[]` of a result. `sandbox` is CNI_NETNS for container links, absent on the host. */
export type Interface = {
	name: string;
	mac?: string;
	/** 1.0.0+ */
	mtu?: number;
	sandbox?: string;
	/** 1.1.0 */
	socketPath?: string;
	/** 1.1.0 */
	pciID?: string;
};

/** `ips[]` of a result: `address` is a CIDR, `interface` an index into `interfaces`. */
export type IPConfig = { address: string; gateway?: string; interface?: number };

/** `routes[]`: `dst` a CIDR; `gw` optional; the rest are 1.1.0 additions. */
export type Route = {
	dst: string;
	gw?: string;
	mtu?: number;
	advmss?: number;
	priority?: number;
	table?: number;
	scope?: number;
};

export type DNS = { nameservers?: string[]; domain?: string; search?: string[]; options?: string[] };

/** A result in the current schema (1.0.0 / 1.1.0). */
export type Result = {
	cniVersion: string;
	interfaces?: Interface[];
	ips?: IPConfig[];
	routes?: Route[];
	dns?: DNS;
};

/** `ips[]` of a 0.3.x / 0.4.0 result: carries the family as "4" / "6". */
export type IPConfig040 = IPConfig & { version: "4" | "6" };

/** A result in the 0.3.0 / 0.3.1 / 0.4.0 schema. */
export type Result040 = {
	cniVersion: string;
	interfaces?: { name: string; mac?: string; sandbox?: string }[];
	ips?: IPConfig040[];
	routes?: { dst: string; gw?: string }[];
	dns?: DNS;
};

/** What VERSION prints. */
export type VersionResult = { cniVersion: string; supportedVersions: string[] };

/** `runtimeConfig.bandwidth` (the `bandwidth` capability, kubelet): rates in bits/s, bursts in bits. */
export type BandwidthEntry = {
	ingressRate?: number;
	ingressBurst?: number;
	egressRate?: number;
	egressBurst?: number;
};

/** `runtimeConfig.portMappings[]` (the `portMappings` capability). */
export type PortMapping = { hostPort: number; containerPort: number; protocol?: string; hostIP?: string };

/** The runtimeConfig keys we understand; any other key is kept as given (spec: tolerate them). */
export type RuntimeConfig = {
	bandwidth?: BandwidthEntry;
	portMappings?: PortMapping[];
	dns?: DNS;
	ips?: string[];
	mac?: string;
	[key: string]: unknown;
};

/** One `cni.dev/valid-attachments` entry (GC). */
export type Attachment = { containerID: string; ifname: string };

/** The standard keys of a plugin's network config on stdin (SPEC.md "Network configuration"). */
export type NetConf = {
	cniVersion: string;
	name: string;
	type: string;
	capabilities?: Record<string, boolean>;
	runtimeConfig?: RuntimeConfig;
	/** Converted to the current schema whatever version it came in. */
	prevResult?: Result;
	args?: Record<string, unknown>;
	dns?: DNS;
	ipam?: { type: string; [key: string]: unknown };
};
