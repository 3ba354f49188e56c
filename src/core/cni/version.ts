/**
 * CNI versions: the ones we support, comparison, the VERSION answer, and result conversion to
 * the version the runtime asked for (what libcni's pkg/types/{040,100}/types.go convert does).
 * Pure: no I/O.
 *
 * Conversions:
 * - to 1.1.0: as built.
 * - to 1.0.0: drop the 1.1.0-only fields (interfaces[].socketPath/pciID; routes[].mtu, advmss,
 *   priority, table, scope), so an older reader never sees keys its schema lacks.
 * - to 0.4.0 / 0.3.1 / 0.3.0: add ips[].version from the address family; interfaces keep name,
 *   mac and sandbox; routes keep dst and gw.
 * - any supported version -> current (for prevResult): drop ips[].version.
 */
import { CNI_CODES, CniError } from "./errors.ts";
import type { CniVersion, IPConfig040, Result, Result040, VersionResult } from "./types.ts";

/** Every version ADD/DEL/CHECK accept, oldest first (VERSION lists these). */
export const SUPPORTED_VERSIONS: readonly CniVersion[] = ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"];

/** The version results are built in. */
export const CURRENT_VERSION: CniVersion = "1.1.0";

const SEMVER = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$/;

/** [major, minor, patch], or undefined when `v` is not "X.Y.Z". */
export function parseVersion(v: string): [number, number, number] | undefined {
	const m = SEMVER.exec(v);
	if (!m) return undefined;
	return [Number(m[1]), Number(m[2]), Number(m[3])];
}

/** -1, 0 or 1 like a sort comparator; throws CniError(6) for something that is not a version. */
export function compareVersions(a: string, b: string): number {
	const pa = parseVersion(a);
	const pb = parseVersion(b);
	if (!pa || !pb) {
		throw new CniError(CNI_CODES.DecodingFailure, `invalid cniVersion ${JSON.stringify(pa ? b : a)}`);
	}
	for (let i = 0; i < 3; i++) {
		const d = (pa[i] as number) - (pb[i] as number);
		if (d !== 0) return d < 0 ? -1 : 1;
	}
	return 0;
}

export const versionAtLeast = (v: string, min: string): boolean => compareVersions(v, min) >= 0;

export const isSupportedVersion = (v: string): v is CniVersion =>
	(SUPPORTED_VERSIONS as readonly string[]).includes(v);

/**
 * The VERSION answer. The spec wants `cniVersion` to echo the config's; we echo it when we
 * support it and answer our current version otherwise (the runtime then reads supportedVersions).
 */
export function versionResult(requested?: string): VersionResult {
	return {
		cniVersion: requested && isSupportedVersion(requested) ? requested : CURRENT_VERSION,
		supportedVersions: [...SUPPORTED_VERSIONS],
	};
}

const familyOf = (cidr: string): "4" | "6" => (cidr.includes(":") ? "6" : "4");

/** A current-schema result written in `version` (one of SUPPORTED_VERSIONS). */
export function convertResult(r: Result, version: string): Result | Result040 {
	if (!isSupportedVersion(version)) {
		throw new CniError(
			CNI_CODES.IncompatibleCniVersion,
			`cannot convert a result to cniVersion ${JSON.stringify(version)}`,
			`supported: ${SUPPORTED_VERSIONS.join(", ")}`,
		);
	}
	if (version === "1.1.0") return { ...r, cniVersion: version };
	if (version === "1.0.0") {
		const out: Result = { cniVersion: version };
		if (r.interfaces)
			out.interfaces = r.interfaces.map(({ socketPath: _s, pciID: _p, ...rest }) => ({ ...rest }));
		if (r.ips) out.ips = r.ips.map((ip) => ({ ...ip }));
		if (r.routes) out.routes = r.routes.map(({ dst, gw }) => (gw === undefined ? { dst } : { dst, gw }));
		if (r.dns) out.dns = r.dns;
		return out;
	}
	const out: Result040 = { cniVersion: version };
	if (r.interfaces) {
		out.interfaces = r.interfaces.map(({ name, mac, sandbox }) => {
			const i: { name: string; mac?: string; sandbox?: string } = { name };
			if (mac !== undefined) i.mac = mac;
			if (sandbox !== undefined) i.sandbox = sandbox;
			return i;
		});
	}
	if (r.ips) {
		out.ips = r.ips.map((ip) => {
			const o: IPConfig040 = { version: familyOf(ip.address), address: ip.address };
			if (ip.gateway !== undefined) o.gateway = ip.gateway;
			if (ip.interface !== undefined) o.interface = ip.interface;
			return o;
		});
	}
	if (r.routes) out.routes = r.routes.map(({ dst, gw }) => (gw === undefined ? { dst } : { dst, gw }));
	if (r.dns) out.dns = r.dns;
	return out;
}

/** A result of any supported version (e.g. prevResult) in the current schema. */
export function toCurrentResult(r: Result | Result040): Result {
	const out: Result = { cniVersion: r.cniVersion };
	if (r.interfaces) out.interfaces = r.interfaces.map((i) => ({ ...i }));
	if (r.ips) {
		out.ips = r.ips.map((ip) => {
			const { version: _v, ...rest } = ip as IPConfig040;
			return rest;
		});
	}
	if (r.routes) out.routes = r.routes.map((x) => ({ ...x }));
	if (r.dns) out.dns = r.dns;
	return out;
}
