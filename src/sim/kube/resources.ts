/**
 * The resource table of the fake apiserver: what each REST resource is (group, versions,
 * plural, kind, scope, status subresource, selectable fields) for the built-ins Terway and
 * kubectl use, plus resources registered at run time from CustomResourceDefinitions.
 * Pure data and lookups; the store owns the objects.
 */
import { kubeErrors } from "./errors.ts";

export type ResourceType = {
	group: string;
	/** Served versions, preferred first. Objects are stored once and shown in the version asked for. */
	versions: string[];
	resource: string;
	singular: string;
	kind: string;
	listKind: string;
	namespaced: boolean;
	/** Has a `/status` subresource (status writes are split from spec writes). */
	status: boolean;
	/** Track metadata.generation (bumped when anything but metadata/status changes). */
	generation: boolean;
	/** Served from a CRD: no strategic merge patch (415), resourceVersion required on PUT. */
	custom: boolean;
	/** What happens to `.status` on create: kept, dropped, or set to a fixed value. */
	createStatus: "keep" | "drop" | { set: Record<string, unknown> };
	shortNames: string[];
	categories: string[];
	/** Field selector paths beyond metadata.name and metadata.namespace. */
	selectableFields: string[];
	/** Custom resources: additionalPrinterColumns by served version (server-side Table, table.ts). */
	printerColumns?: Record<string, PrinterColumn[]>;
};

/** One `additionalPrinterColumns` entry of a CRD version. */
export type PrinterColumn = {
	name: string;
	/** integer, number, string, boolean or date. */
	type: string;
	jsonPath: string;
	format?: string;
	description?: string;
	priority?: number;
};

export const VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];

/** `"v1"` → `["", "v1"]`, `"apps/v1"` → `["apps", "v1"]`. */
export function splitApiVersion(apiVersion: string): [group: string, version: string] {
	const i = apiVersion.indexOf("/");
	return i < 0 ? ["", apiVersion] : [apiVersion.slice(0, i), apiVersion.slice(i + 1)];
}

export function groupVersion(group: string, version: string): string {
	return group ? `${group}/${version}` : version;
}

type Builtin = Partial<ResourceType> & Pick<ResourceType, "resource" | "kind">;

function builtin(group: string, version: string, b: Builtin): ResourceType {
	return {
		group,
		versions: [version],
		singular: b.kind.toLowerCase(),
		listKind: `${b.kind}List`,
		namespaced: true,
		status: false,
		generation: false,
		custom: false,
		createStatus: "keep",
		shortNames: [],
		categories: [],
		selectableFields: [],
		...b,
	};
}

const EVENT_FIELDS = [
	"involvedObject.kind",
	"involvedObject.namespace",
	"involvedObject.name",
	"involvedObject.uid",
	"involvedObject.apiVersion",
	"involvedObject.resourceVersion",
	"involvedObject.fieldPath",
	"reason",
	"reportingComponent",
	"source",
	"type",
];

/** The built-in resources (a subset of a v1.32 apiserver; see cloud-sim.md §4.4 "Kinds needed"). */
export function builtinResources(): ResourceType[] {
	return [
		builtin("", "v1", {
			resource: "pods",
			kind: "Pod",
			status: true,
			createStatus: { set: { phase: "Pending" } },
			shortNames: ["po"],
			categories: ["all"],
			selectableFields: [
				"spec.nodeName",
				"spec.restartPolicy",
				"spec.schedulerName",
				"spec.serviceAccountName",
				"spec.hostNetwork",
				"status.phase",
				"status.podIP",
				"status.nominatedNodeName",
			],
		}),
		builtin("", "v1", {
			resource: "nodes",
			kind: "Node",
			namespaced: false,
			status: true,
			shortNames: ["no"],
			selectableFields: ["spec.unschedulable"],
		}),
		builtin("", "v1", {
			resource: "namespaces",
			kind: "Namespace",
			namespaced: false,
			status: true,
			createStatus: { set: { phase: "Active" } },
			shortNames: ["ns"],
			selectableFields: ["status.phase"],
		}),
		builtin("", "v1", { resource: "configmaps", kind: "ConfigMap", shortNames: ["cm"] }),
		builtin("", "v1", { resource: "secrets", kind: "Secret", selectableFields: ["type"] }),
		builtin("", "v1", { resource: "serviceaccounts", kind: "ServiceAccount", shortNames: ["sa"] }),
		builtin("", "v1", {
			resource: "services",
			kind: "Service",
			status: true,
			createStatus: { set: { loadBalancer: {} } },
			shortNames: ["svc"],
			categories: ["all"],
		}),
		builtin("", "v1", {
			resource: "events",
			kind: "Event",
			shortNames: ["ev"],
			selectableFields: EVENT_FIELDS,
		}),
		builtin("events.k8s.io", "v1", {
			resource: "events",
			kind: "Event",
			shortNames: ["ev"],
			selectableFields: EVENT_FIELDS,
		}),
		builtin("networking.k8s.io", "v1", {
			resource: "networkpolicies",
			kind: "NetworkPolicy",
			generation: true,
			shortNames: ["netpol"],
		}),
		builtin("coordination.k8s.io", "v1", { resource: "leases", kind: "Lease" }),
		// what deploy/terway.yaml holds, so `kubectl apply -f deploy/terway.yaml` works against the sim
		builtin("apps", "v1", {
			resource: "daemonsets",
			kind: "DaemonSet",
			status: true,
			generation: true,
			shortNames: ["ds"],
			categories: ["all"],
		}),
		builtin("rbac.authorization.k8s.io", "v1", {
			resource: "clusterroles",
			kind: "ClusterRole",
			namespaced: false,
		}),
		builtin("rbac.authorization.k8s.io", "v1", {
			resource: "clusterrolebindings",
			kind: "ClusterRoleBinding",
			namespaced: false,
		}),
		builtin("rbac.authorization.k8s.io", "v1", { resource: "roles", kind: "Role" }),
		builtin("rbac.authorization.k8s.io", "v1", { resource: "rolebindings", kind: "RoleBinding" }),
		builtin("apiextensions.k8s.io", "v1", {
			resource: "customresourcedefinitions",
			kind: "CustomResourceDefinition",
			namespaced: false,
			status: true,
			generation: true,
			createStatus: "drop",
			shortNames: ["crd", "crds"],
			categories: ["api-extensions"],
		}),
	];
}

/** Kubernetes version priority (v1 > v1beta2 > v1beta1 > v1alpha1 > other), as CRD discovery sorts. */
export function compareVersions(a: string, b: string): number {
	const rank = (v: string): [number, number, number] => {
		const m = /^v(\d+)(?:(alpha|beta)(\d+))?$/.exec(v);
		if (!m) return [0, 0, 0];
		const level = m[2] === undefined ? 3 : m[2] === "beta" ? 2 : 1;
		return [level, Number(m[1]), Number(m[3] ?? 0)];
	};
	const [la, ma, na] = rank(a);
	const [lb, mb, nb] = rank(b);
	if (la === 0 && lb === 0) return a.localeCompare(b);
	return lb - la || mb - ma || nb - na;
}

type CrdVersion = {
	name?: string;
	served?: boolean;
	storage?: boolean;
	subresources?: { status?: unknown };
	selectableFields?: { jsonPath?: string }[];
	additionalPrinterColumns?: Partial<PrinterColumn>[];
};

/** The resource a CustomResourceDefinition (apiextensions.k8s.io/v1) declares; throws 422 when malformed. */
export function resourceFromCrd(crd: { metadata: { name: string }; spec?: unknown }): ResourceType {
	const spec = (crd.spec ?? {}) as {
		group?: string;
		names?: {
			plural?: string;
			singular?: string;
			kind?: string;
			listKind?: string;
			shortNames?: string[];
			categories?: string[];
		};
		scope?: string;
		versions?: CrdVersion[];
	};
	const invalid = (field: string, msg: string) =>
		kubeErrors.invalid("apiextensions.k8s.io", "CustomResourceDefinition", crd.metadata.name, field, msg);
	const names = spec.names ?? {};
	if (!spec.group) throw invalid("spec.group", "Required value");
	if (!names.plural) throw invalid("spec.names.plural", "Required value");
	if (!names.kind) throw invalid("spec.names.kind", "Required value");
	if (crd.metadata.name !== `${names.plural}.${spec.group}`)
		throw invalid("metadata.name", `must be spec.names.plural+"."+spec.group`);
	if (spec.scope !== "Namespaced" && spec.scope !== "Cluster")
		throw invalid(
			"spec.scope",
			`Unsupported value: ${JSON.stringify(spec.scope)}: supported values: "Cluster", "Namespaced"`,
		);
	const versions = (spec.versions ?? []).filter((v) => v.served !== false && v.name);
	if (versions.length === 0)
		throw invalid("spec.versions", "must have exactly one version marked as storage version");
	const storage = (spec.versions ?? []).find((v) => v.storage) ?? versions[0]!;
	return {
		group: spec.group,
		versions: versions.map((v) => v.name!).sort(compareVersions),
		resource: names.plural,
		singular: names.singular ?? names.kind.toLowerCase(),
		kind: names.kind,
		listKind: names.listKind ?? `${names.kind}List`,
		namespaced: spec.scope === "Namespaced",
		status: storage.subresources?.status !== undefined,
		generation: true,
		custom: true,
		createStatus: storage.subresources?.status !== undefined ? "drop" : "keep",
		shortNames: names.shortNames ?? [],
		categories: names.categories ?? [],
		selectableFields: (storage.selectableFields ?? [])
			.map((f) => (f.jsonPath ?? "").replace(/^\./, ""))
			.filter((p) => p !== ""),
		printerColumns: Object.fromEntries(
			versions.map((v) => [
				v.name!,
				(v.additionalPrinterColumns ?? [])
					.filter((c) => c.name && c.type && c.jsonPath)
					.map((c) => ({ ...c }) as PrinterColumn),
			]),
		),
	};
}

/** Resources by group and plural; CRDs add and remove entries at run time. */
export class ResourceRegistry {
	#byGroupResource = new Map<string, ResourceType>();

	constructor(types: ResourceType[] = builtinResources()) {
		for (const t of types) this.add(t);
	}

	add(t: ResourceType): void {
		this.#byGroupResource.set(`${t.group}/${t.resource}`, t);
	}

	remove(group: string, resource: string): void {
		this.#byGroupResource.delete(`${group}/${resource}`);
	}

	all(): ResourceType[] {
		return [...this.#byGroupResource.values()];
	}

	/** The type served at group/version/resource, or undefined. */
	find(group: string, version: string, resource: string): ResourceType | undefined {
		const t = this.#byGroupResource.get(`${group}/${resource}`);
		return t?.versions.includes(version) ? t : undefined;
	}

	/** Like find, but a 404 NotFound ("the server could not find the requested resource") when absent. */
	get(group: string, version: string, resource: string): ResourceType {
		const t = this.find(group, version, resource);
		if (!t) throw kubeErrors.notFoundPath();
		return t;
	}

	/** The type for an object's apiVersion and kind (seeding, `kubectl apply`-style helpers). */
	byKind(apiVersion: string, kind: string): ResourceType {
		const [group, version] = splitApiVersion(apiVersion);
		for (const t of this.#byGroupResource.values()) {
			if (t.group === group && t.kind === kind && t.versions.includes(version)) return t;
		}
		throw kubeErrors.notFoundKind(apiVersion, kind);
	}

	/** Group → served versions (preferred first), core group "" included. */
	groups(): Map<string, string[]> {
		const out = new Map<string, string[]>();
		for (const t of this.#byGroupResource.values()) {
			const vs = out.get(t.group) ?? [];
			for (const v of t.versions) if (!vs.includes(v)) vs.push(v);
			out.set(t.group, vs.sort(compareVersions));
		}
		return out;
	}
}
