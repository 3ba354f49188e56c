/**
 * The three PATCH bodies the apiserver accepts for JSON: RFC 6902 JSON Patch, RFC 7386 JSON
 * Merge Patch, and strategic merge patch (k8s.io/apimachinery/pkg/util/strategicpatch) for
 * built-in kinds. Strategic merge here knows the patchMergeKeys of the core types Terway and
 * kubectl touch (containers, conditions, ports, volumes, env, ...) instead of reading Go struct
 * tags; lists it does not know are replaced, which is also what the real server does for lists
 * without a patch strategy. Pure: inputs are never mutated.
 */
import { kubeErrors } from "./errors.ts";

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };

function isObject(v: unknown): v is JsonObject {
	return typeof v === "object" && v !== null && !Array.isArray(v);
}

function clone<T>(v: T): T {
	return structuredClone(v);
}

function deepEqual(a: unknown, b: unknown): boolean {
	if (a === b) return true;
	if (Array.isArray(a) && Array.isArray(b))
		return a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
	if (isObject(a) && isObject(b)) {
		const ka = Object.keys(a);
		const kb = Object.keys(b);
		return ka.length === kb.length && ka.every((k) => Object.hasOwn(b, k) && deepEqual(a[k], b[k]));
	}
	return false;
}

// ---------------------------------------------------------------------------------------------
// RFC 6902

export type JsonPatchOp = {
	op: "add" | "remove" | "replace" | "move" | "copy" | "test";
	path: string;
	value?: unknown;
	from?: string;
};

function pointer(path: string): string[] {
	if (path === "") return [];
	if (!path.startsWith("/")) throw kubeErrors.badRequest(`invalid JSON pointer ${JSON.stringify(path)}`);
	return path
		.slice(1)
		.split("/")
		.map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"));
}

function parentOf(doc: Json, segs: string[], path: string): { parent: Json; key: string } {
	let cur: Json = doc;
	for (const seg of segs.slice(0, -1)) {
		if (Array.isArray(cur)) cur = cur[Number(seg)] as Json;
		else if (isObject(cur)) cur = cur[seg] as Json;
		else cur = undefined as unknown as Json;
		if (cur === undefined)
			throw kubeErrors.unprocessable(
				`the server rejected our request due to an error in our request: doc is missing path: "${path}"`,
			);
	}
	return { parent: cur, key: segs[segs.length - 1]! };
}

function arrayIndex(arr: Json[], key: string, path: string, forAdd: boolean): number {
	if (forAdd && key === "-") return arr.length;
	if (!/^(0|[1-9][0-9]*)$/.test(key))
		throw kubeErrors.unprocessable(`invalid array index ${JSON.stringify(key)} in "${path}"`);
	const i = Number(key);
	if (i > arr.length || (!forAdd && i === arr.length))
		throw kubeErrors.unprocessable(
			`the server rejected our request due to an error in our request: index out of range in "${path}"`,
		);
	return i;
}

function getAt(doc: Json, path: string): Json {
	let cur: Json = doc;
	for (const seg of pointer(path)) {
		if (Array.isArray(cur)) cur = cur[Number(seg)] as Json;
		else if (isObject(cur) && Object.hasOwn(cur, seg)) cur = cur[seg] as Json;
		else cur = undefined as unknown as Json;
		if (cur === undefined)
			throw kubeErrors.unprocessable(
				`the server rejected our request due to an error in our request: doc is missing path: "${path}"`,
			);
	}
	return cur;
}

function addAt(doc: Json, path: string, value: Json): Json {
	const segs = pointer(path);
	if (segs.length === 0) return value;
	const { parent, key } = parentOf(doc, segs, path);
	if (Array.isArray(parent)) parent.splice(arrayIndex(parent, key, path, true), 0, value);
	else if (isObject(parent)) parent[key] = value;
	else
		throw kubeErrors.unprocessable(
			`the server rejected our request due to an error in our request: doc is missing path: "${path}"`,
		);
	return doc;
}

function removeAt(doc: Json, path: string): Json {
	const segs = pointer(path);
	const { parent, key } = parentOf(doc, segs, path);
	if (Array.isArray(parent)) parent.splice(arrayIndex(parent, key, path, false), 1);
	else if (isObject(parent) && Object.hasOwn(parent, key)) delete parent[key];
	else
		throw kubeErrors.unprocessable(
			`the server rejected our request due to an error in our request: unable to remove nonexistent key: ${key}: missing value`,
		);
	return doc;
}

/** Apply an RFC 6902 patch; a failed `test` or a missing path is 422, a malformed patch 400. */
export function applyJsonPatch<T>(doc: T, patch: unknown): T {
	if (!Array.isArray(patch))
		throw kubeErrors.badRequest("json: cannot unmarshal object into Go value of type jsonpatch.Patch");
	let out = clone(doc) as Json;
	for (const raw of patch) {
		if (!isObject(raw) || typeof raw.op !== "string" || typeof raw.path !== "string")
			throw kubeErrors.badRequest(`invalid JSON patch operation ${JSON.stringify(raw)}`);
		const op = raw as unknown as JsonPatchOp;
		switch (op.op) {
			case "add":
				out = addAt(out, op.path, clone(op.value as Json));
				break;
			case "remove":
				out = removeAt(out, op.path);
				break;
			case "replace": {
				const segs = pointer(op.path);
				if (segs.length === 0) {
					out = clone(op.value as Json);
					break;
				}
				getAt(out, op.path);
				const { parent, key } = parentOf(out, segs, op.path);
				if (Array.isArray(parent)) parent[arrayIndex(parent, key, op.path, false)] = clone(op.value as Json);
				else (parent as JsonObject)[key] = clone(op.value as Json);
				break;
			}
			case "move": {
				if (typeof op.from !== "string") throw kubeErrors.badRequest(`"move" needs "from"`);
				const v = getAt(out, op.from);
				out = addAt(removeAt(out, op.from), op.path, v);
				break;
			}
			case "copy": {
				if (typeof op.from !== "string") throw kubeErrors.badRequest(`"copy" needs "from"`);
				out = addAt(out, op.path, clone(getAt(out, op.from)));
				break;
			}
			case "test":
				if (!deepEqual(getAt(out, op.path), op.value))
					throw kubeErrors.unprocessable(
						`the server rejected our request due to an error in our request: testing value ${op.path} failed`,
					);
				break;
			default:
				throw kubeErrors.badRequest(`Unexpected kind: ${JSON.stringify((raw as JsonObject).op)}`);
		}
	}
	return out as T;
}

// ---------------------------------------------------------------------------------------------
// RFC 7386

/** Apply an RFC 7386 merge patch: objects merge recursively, `null` deletes, anything else replaces. */
export function applyMergePatch<T>(doc: T, patch: unknown): T {
	if (!isObject(patch)) return clone(patch) as T;
	const out: JsonObject = isObject(doc) ? clone(doc) : {};
	for (const [k, v] of Object.entries(patch)) {
		if (v === null) delete out[k];
		else out[k] = applyMergePatch(out[k], v) as Json;
	}
	return out as T;
}

// ---------------------------------------------------------------------------------------------
// Strategic merge patch

/**
 * patchMergeKey by list field name for the built-in types (from the `patchMergeKey` struct tags
 * in k8s.io/api core/v1, meta/v1, networking/v1). `ports` depends on the element: containers
 * use `containerPort`, services `port` (handled in mergeKeyFor).
 */
const MERGE_KEYS: Record<string, string> = {
	containers: "name",
	initContainers: "name",
	ephemeralContainers: "name",
	conditions: "type",
	volumes: "name",
	env: "name",
	volumeMounts: "mountPath",
	volumeDevices: "devicePath",
	imagePullSecrets: "name",
	addresses: "type",
	ownerReferences: "uid",
	hostAliases: "ip",
	podIPs: "ip",
	hostIPs: "ip",
	resourceClaims: "name",
	schedulingGates: "name",
	topologySpreadConstraints: "topologyKey",
	secrets: "name",
};

/** Primitive lists with patchStrategy "merge" (set union). */
const MERGED_PRIMITIVE_LISTS = new Set(["finalizers"]);

function mergeKeyFor(field: string, items: Json[]): string | undefined {
	if (field === "ports") {
		const sample = items.find(isObject);
		if (sample && "containerPort" in sample) return "containerPort";
		return "port";
	}
	return MERGE_KEYS[field];
}

const DIRECTIVE_PREFIXES = ["$setElementOrder/", "$retainKeys", "$deleteFromPrimitiveList/"];

function strategicObject(orig: JsonObject | undefined, patch: JsonObject): Json {
	const directive = patch.$patch;
	if (directive === "delete") return undefined as unknown as Json;
	if (directive === "replace") {
		const { $patch: _, ...rest } = patch;
		return stripDirectives(rest);
	}
	const out: JsonObject = orig ? clone(orig) : {};
	for (const [k, v] of Object.entries(patch)) {
		if (k === "$patch") continue;
		if (k.startsWith("$deleteFromPrimitiveList/")) {
			const field = k.slice("$deleteFromPrimitiveList/".length);
			const cur = out[field];
			if (Array.isArray(cur) && Array.isArray(v))
				out[field] = cur.filter((x) => !v.some((d) => deepEqual(d, x)));
			continue;
		}
		if (DIRECTIVE_PREFIXES.some((p) => k.startsWith(p))) continue;
		if (v === null) {
			delete out[k];
			continue;
		}
		const merged = strategicValue(k, out[k], v);
		if (merged === undefined) delete out[k];
		else out[k] = merged;
	}
	return out;
}

function stripDirectives(v: Json): Json {
	if (Array.isArray(v)) return v.filter((x) => !(isObject(x) && x.$patch)).map(stripDirectives);
	if (!isObject(v)) return v;
	const out: JsonObject = {};
	for (const [k, x] of Object.entries(v)) {
		if (k === "$patch" || DIRECTIVE_PREFIXES.some((p) => k.startsWith(p))) continue;
		out[k] = stripDirectives(x);
	}
	return out;
}

function strategicList(field: string, orig: Json[] | undefined, patch: Json[]): Json {
	// A `{"$patch": "replace"}` element replaces the whole list.
	if (patch.some((x) => isObject(x) && x.$patch === "replace"))
		return patch.filter((x) => !(isObject(x) && x.$patch === "replace")).map(stripDirectives);
	if (MERGED_PRIMITIVE_LISTS.has(field) && patch.every((x) => !isObject(x))) {
		const out = [...(orig ?? [])];
		for (const x of patch) if (!out.some((y) => deepEqual(x, y))) out.push(x);
		return out;
	}
	const key = mergeKeyFor(field, [...patch, ...(orig ?? [])]);
	if (!key || !patch.every(isObject)) return stripDirectives(patch);
	const out: Json[] = clone(orig ?? []);
	for (const item of patch as JsonObject[]) {
		const idx = out.findIndex((x) => isObject(x) && deepEqual(x[key], item[key]));
		if (item.$patch === "delete") {
			if (idx >= 0) out.splice(idx, 1);
			continue;
		}
		if (idx >= 0) out[idx] = strategicObject(out[idx] as JsonObject, item);
		else out.push(stripDirectives(item));
	}
	return out;
}

function strategicValue(field: string, orig: Json | undefined, patch: Json): Json {
	if (isObject(patch)) return strategicObject(isObject(orig) ? orig : undefined, patch);
	if (Array.isArray(patch)) return strategicList(field, Array.isArray(orig) ? orig : undefined, patch);
	return patch;
}

/**
 * Apply a strategic merge patch to a built-in object. Maps merge, `null` deletes, lists with a
 * known patchMergeKey merge element-wise (`$patch: delete|replace` honoured), other lists replace.
 */
export function applyStrategicMergePatch<T>(doc: T, patch: unknown): T {
	if (!isObject(patch)) throw kubeErrors.badRequest("strategic merge patch must be a JSON object");
	return strategicObject(isObject(doc) ? doc : {}, patch) as T;
}

export { deepEqual };
