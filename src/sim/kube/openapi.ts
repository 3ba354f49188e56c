/**
 * Just enough OpenAPI v3 for kubectl 1.32: the /openapi/v3 index and one document per
 * group-version, each listing the item paths with a PATCH operation tagged with
 * x-kubernetes-group-version-kind and the `fieldValidation` query parameter. kubectl's
 * QueryParamVerifierV3 then concludes the server validates fields itself and skips client-side
 * schema validation, so `kubectl apply -f` works without `--validate=false`. No schemas are
 * served, so `kubectl explain` does not work and client-side apply falls back to its compiled-in
 * types (strategic merge for built-ins, JSON merge patch for CRDs). This server accepts and
 * ignores `fieldValidation` (unknown fields are kept).
 */
import { groupVersion, type ResourceRegistry } from "./resources.ts";

function gvPath(group: string, version: string): string {
	return group ? `apis/${group}/${version}` : `api/${version}`;
}

/** GET /openapi/v3 */
export function openapiV3Index(registry: ResourceRegistry) {
	const paths: Record<string, { serverRelativeURL: string }> = {};
	for (const [group, versions] of registry.groups()) {
		for (const v of versions) {
			const p = gvPath(group, v);
			paths[p] = { serverRelativeURL: `/openapi/v3/${p}` };
		}
	}
	return { paths };
}

const PARAMS = ["fieldValidation", "fieldManager", "dryRun", "force"].map((name) => ({
	name,
	in: "query",
	schema: { type: name === "force" ? "boolean" : "string" },
	...(name === "fieldValidation" ? { description: "accepted and ignored by the terway sim" } : {}),
}));

/** GET /openapi/v3/api/v1 or /openapi/v3/apis/<g>/<v>; undefined when nothing is served there. */
export function openapiV3Doc(registry: ResourceRegistry, group: string, version: string) {
	const types = registry.all().filter((t) => t.group === group && t.versions.includes(version));
	if (types.length === 0) return undefined;
	const paths: Record<string, unknown> = {};
	const base = `/${gvPath(group, version)}`;
	for (const t of types) {
		const gvk = { group: t.group, version, kind: t.kind };
		const item = t.namespaced
			? `${base}/namespaces/{namespace}/${t.resource}/{name}`
			: `${base}/${t.resource}/{name}`;
		const contentTypes = [
			"application/json-patch+json",
			"application/merge-patch+json",
			"application/apply-patch+yaml",
		];
		paths[item] = {
			patch: {
				operationId: `patch${t.kind}`,
				"x-kubernetes-action": "patch",
				"x-kubernetes-group-version-kind": gvk,
				parameters: PARAMS,
				// No strategic-merge entry: kubectl then builds client-side apply patches from its
				// compiled-in types (built-ins) or as JSON merge patches (CRDs) instead of from schemas.
				requestBody: {
					content: Object.fromEntries(contentTypes.map((c) => [c, { schema: { type: "object" } }])),
				},
				responses: { "200": { description: "OK" } },
			},
		};
	}
	return {
		openapi: "3.0.0",
		info: { title: "Kubernetes", version: `v1.32.0 (${groupVersion(group, version)}, terway sim)` },
		paths,
		components: { schemas: {} },
	};
}
