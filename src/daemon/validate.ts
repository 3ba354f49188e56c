/**
 * @module daemon/validate
 *
 * Parses local API request bodies (api-types.ts) from untrusted JSON. Every rejection is an
 * `ApiError` 400 naming the field (`pod.namespace`, `containerId`, ...), raised before anything
 * changes. Pure.
 */
import type { AllocRequest, PodRef, ReleaseRequest } from "./api-types.ts";
import { badRequest } from "./errors.ts";

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** CNI spec: container ID is alphanumeric plus `_`, `.`, `-`, starting alphanumeric. */
const CONTAINER_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

function typeName(v: unknown): string {
	return v === null ? "null" : Array.isArray(v) ? "array" : typeof v;
}

function str(
	o: Obj,
	key: string,
	path: string,
	opts: { optional?: boolean; max?: number } = {},
): string | undefined {
	const v = o[key];
	if (v === undefined) {
		if (opts.optional) return undefined;
		throw badRequest(path, "is required");
	}
	if (typeof v !== "string") throw badRequest(path, `must be a string, not ${typeName(v)}`);
	if (v.length === 0) throw badRequest(path, "must not be empty");
	if (opts.max !== undefined && v.length > opts.max)
		throw badRequest(path, `is longer than ${opts.max} characters`);
	return v;
}

function checkKeys(o: Obj, allowed: readonly string[], path: string): void {
	for (const k of Object.keys(o)) {
		if (!allowed.includes(k)) throw badRequest(path ? `${path}.${k}` : k, "is not a known field");
	}
}

/** `PodRef` at `path` (default `pod`). */
export function parsePodRef(v: unknown, path = "pod"): PodRef {
	if (v === undefined) throw badRequest(path, "is required");
	if (!isObj(v)) throw badRequest(path, `must be an object, not ${typeName(v)}`);
	checkKeys(v, ["namespace", "name", "uid"], path);
	const namespace = str(v, "namespace", `${path}.namespace`, { max: 63 }) as string;
	if (!DNS_LABEL.test(namespace))
		throw badRequest(`${path}.namespace`, `${JSON.stringify(namespace)} is not a DNS-1123 label`);
	const name = str(v, "name", `${path}.name`, { max: 253 }) as string;
	if (!DNS_SUBDOMAIN.test(name))
		throw badRequest(`${path}.name`, `${JSON.stringify(name)} is not a DNS-1123 subdomain`);
	const uid = str(v, "uid", `${path}.uid`, { optional: true, max: 128 });
	return uid === undefined ? { namespace, name } : { namespace, name, uid };
}

function containerId(o: Obj, optional: boolean): string | undefined {
	const c = str(o, "containerId", "containerId", { optional, max: 256 });
	if (c !== undefined && !CONTAINER_ID.test(c)) {
		throw badRequest("containerId", `${JSON.stringify(c)} has characters other than [A-Za-z0-9_.-]`);
	}
	return c;
}

/** Body of `POST /v1/alloc`. */
export function parseAllocRequest(body: unknown): AllocRequest {
	if (!isObj(body)) throw badRequest("body", `must be a JSON object, not ${typeName(body)}`);
	checkKeys(body, ["pod", "containerId", "netns", "ifname"], "");
	const pod = parsePodRef(body.pod);
	const cid = containerId(body, false) as string;
	const netns = str(body, "netns", "netns", { max: 4096 }) as string;
	if (!netns.startsWith("/")) throw badRequest("netns", `${JSON.stringify(netns)} is not an absolute path`);
	const ifname = str(body, "ifname", "ifname", { max: 15 }) as string;
	if (ifname === "." || ifname === ".." || /[/\s:]/.test(ifname)) {
		throw badRequest("ifname", `${JSON.stringify(ifname)} is not a valid interface name`);
	}
	return { pod, containerId: cid, netns, ifname };
}

/** Body of `POST /v1/release`. */
export function parseReleaseRequest(body: unknown): ReleaseRequest {
	if (!isObj(body)) throw badRequest("body", `must be a JSON object, not ${typeName(body)}`);
	checkKeys(body, ["pod", "containerId"], "");
	const pod = parsePodRef(body.pod);
	const cid = containerId(body, true);
	return cid === undefined ? { pod } : { pod, containerId: cid };
}

/** Parses request text as JSON; 400 `body` when it is not. */
export function parseJsonBody(text: string): unknown {
	if (text.trim() === "") throw badRequest("body", "is empty (expected a JSON object)");
	try {
		return JSON.parse(text);
	} catch (e) {
		throw badRequest("body", `is not valid JSON (${(e as Error).message})`);
	}
}
