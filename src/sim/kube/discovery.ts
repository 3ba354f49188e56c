/**
 * Discovery documents of the fake apiserver (/version, /api, /apis, /api/v1, /apis/<g>/<v>),
 * computed from the resource registry so CRDs show up when registered. Legacy (unaggregated)
 * form only: kubectl 1.32 asks for aggregated discovery (apidiscovery.k8s.io/v2) in Accept
 * but lists `application/json` last, and falls back to these documents when the answer is
 * plain JSON (checked in tests/sim/kube.test.ts).
 */
import { groupVersion, type ResourceRegistry, type ResourceType, VERBS } from "./resources.ts";

export const KUBE_VERSION = {
	major: "1",
	minor: "32",
	gitVersion: "v1.32.0-terway-sim",
	gitCommit: "0000000000000000000000000000000000000000",
	gitTreeState: "clean",
	buildDate: "2025-01-01T00:00:00Z",
	goVersion: "go1.23.0",
	compiler: "gc",
	platform: "linux/amd64",
};

/** GET /api */
export function apiVersions(serverAddress: string) {
	return {
		kind: "APIVersions",
		versions: ["v1"],
		serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress }],
	};
}

function apiGroup(name: string, versions: string[]) {
	const vs = versions.map((v) => ({ groupVersion: `${name}/${v}`, version: v }));
	return { name, versions: vs, preferredVersion: vs[0]! };
}

/** GET /apis */
export function apiGroupList(registry: ResourceRegistry) {
	const groups = [...registry.groups()]
		.filter(([g]) => g !== "")
		.sort(([a], [b]) => a.localeCompare(b))
		.map(([g, vs]) => apiGroup(g, vs));
	return { kind: "APIGroupList", apiVersion: "v1", groups };
}

/** GET /apis/<group>, or undefined when the group is unknown. */
export function apiGroupDoc(registry: ResourceRegistry, group: string) {
	const vs = registry.groups().get(group);
	return vs && group !== "" ? { kind: "APIGroup", apiVersion: "v1", ...apiGroup(group, vs) } : undefined;
}

function resourceEntries(t: ResourceType) {
	const out: Record<string, unknown>[] = [
		{
			name: t.resource,
			singularName: t.singular,
			namespaced: t.namespaced,
			kind: t.kind,
			verbs: VERBS,
			...(t.shortNames.length ? { shortNames: t.shortNames } : {}),
			...(t.categories.length ? { categories: t.categories } : {}),
		},
	];
	if (t.status)
		out.push({
			name: `${t.resource}/status`,
			singularName: "",
			namespaced: t.namespaced,
			kind: t.kind,
			verbs: ["get", "patch", "update"],
		});
	return out;
}

/** GET /api/v1 or /apis/<g>/<v>, or undefined when nothing is served there. */
export function apiResourceList(registry: ResourceRegistry, group: string, version: string) {
	const types = registry
		.all()
		.filter((t) => t.group === group && t.versions.includes(version))
		.sort((a, b) => a.resource.localeCompare(b.resource));
	if (types.length === 0) return undefined;
	return {
		kind: "APIResourceList",
		apiVersion: "v1",
		groupVersion: groupVersion(group, version),
		resources: types.flatMap(resourceEntries),
	};
}
