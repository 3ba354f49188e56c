/**
 * Server-side printing: the `meta.k8s.io/v1` Table that kubectl asks for with
 * `Accept: application/json;as=Table;v=v1;g=meta.k8s.io,...`. Columns and cells follow the
 * v1.32 apiserver's printers (kubernetes pkg/printers/internalversion/printers.go) for the
 * built-ins the sim serves, `additionalPrinterColumns` for custom resources (apiextensions
 * tableconvertor), and the default convertor (Name, Created At) for CRDs themselves.
 *
 * As the apiserver does, every row carries the wide (priority 1) cells too; kubectl hides
 * them unless `-o wide`. Pure functions of the objects and a clock: no I/O, no store access.
 */
import type { KubeObject } from "../contracts.ts";
import type { PrinterColumn, ResourceType } from "./resources.ts";

export type TableColumnDefinition = {
	name: string;
	type: string;
	format: string;
	description: string;
	priority: number;
};

export type TableRow = {
	cells: unknown[];
	conditions?: { type: string; status: string; reason: string; message: string }[];
	object: unknown;
};

export type Table = {
	kind: "Table";
	apiVersion: string;
	metadata: { resourceVersion?: string; continue?: string; remainingItemCount?: number };
	columnDefinitions: TableColumnDefinition[];
	rows: TableRow[];
};

/** `?includeObject=`: what each row's `object` holds (default Metadata). */
export type IncludeObject = "None" | "Metadata" | "Object";

/** How one resource prints: its columns and the cells of one object. */
export type Printer = {
	columns: TableColumnDefinition[];
	cells(o: KubeObject, now: Date): unknown[];
	conditions?(o: KubeObject): TableRow["conditions"];
};

export type TableOptions = {
	now: Date;
	includeObject?: IncludeObject;
	/** Table group version asked for: meta.k8s.io/v1 (default) or meta.k8s.io/v1beta1 (same shape). */
	apiVersion?: string;
	/** Omit columnDefinitions (watch events after the first, as the apiserver does). */
	noHeaders?: boolean;
	metadata?: Table["metadata"];
};

// ---------------------------------------------------------------------------------------------
// Accept negotiation

/**
 * The Table version a request's Accept header asks for, or undefined when it accepts no Table.
 * kubectl sends `application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json`;
 * the first acceptable Table entry wins, as the apiserver's negotiation does.
 */
export function tableVersionFromAccept(accept: string | null | undefined): "v1" | "v1beta1" | undefined {
	if (!accept) return undefined;
	for (const range of accept.split(",")) {
		const [media, ...paramParts] = range.split(";").map((s) => s.trim());
		if (media !== "application/json" && media !== "*/*" && media !== "application/*") continue;
		const params = new Map<string, string>();
		for (const p of paramParts) {
			const i = p.indexOf("=");
			if (i > 0) params.set(p.slice(0, i).trim().toLowerCase(), p.slice(i + 1).trim());
		}
		if (params.get("as") !== "Table" || params.get("g") !== "meta.k8s.io") continue;
		const v = params.get("v");
		if (v === "v1" || v === "v1beta1") return v;
	}
	return undefined;
}

/** Parse `?includeObject=`; undefined for anything else (the handler answers 400). */
export function parseIncludeObject(v: string | null): IncludeObject | undefined {
	if (v === null || v === "") return "Metadata";
	return v === "None" || v === "Metadata" || v === "Object" ? v : undefined;
}

// ---------------------------------------------------------------------------------------------
// Durations (k8s.io/apimachinery/pkg/util/duration.HumanDuration)

/** "5s", "3m10s", "2d": how the apiserver prints ages. */
export function humanDuration(ms: number): string {
	const seconds = Math.trunc(ms / 1000);
	if (seconds < -1) return "<invalid>";
	if (seconds < 0) return "0s";
	if (seconds < 120) return `${seconds}s`;
	const minutes = Math.trunc(seconds / 60);
	if (minutes < 10) {
		const s = seconds % 60;
		return s === 0 ? `${minutes}m` : `${minutes}m${s}s`;
	}
	if (minutes < 180) return `${minutes}m`;
	const hours = Math.trunc(minutes / 60);
	if (hours < 8) {
		const m = minutes % 60;
		return m === 0 ? `${hours}h` : `${hours}h${m}m`;
	}
	if (hours < 48) return `${hours}h`;
	if (hours < 24 * 8) {
		const h = hours % 24;
		return h === 0 ? `${Math.trunc(hours / 24)}d` : `${Math.trunc(hours / 24)}d${h}h`;
	}
	if (hours < 24 * 365 * 2) return `${Math.trunc(hours / 24)}d`;
	if (hours < 24 * 365 * 8) {
		const dy = Math.trunc(hours / 24) % 365;
		const y = Math.trunc(hours / 24 / 365);
		return dy === 0 ? `${y}y` : `${y}y${dy}d`;
	}
	return `${Math.trunc(hours / 24 / 365)}y`;
}

/** translateTimestampSince: "<unknown>" for a missing or unparsable timestamp. */
function since(ts: unknown, now: Date): string {
	if (typeof ts !== "string" || ts === "") return "<unknown>";
	const t = Date.parse(ts);
	if (Number.isNaN(t)) return "<unknown>";
	return humanDuration(now.getTime() - t);
}

// ---------------------------------------------------------------------------------------------
// Small accessors (objects are untyped JSON)

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (v && typeof v === "object" && !Array.isArray(v) ? (v as Obj) : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string => (typeof v === "string" ? v : "");
const num = (v: unknown): number => (typeof v === "number" ? v : 0);
const count = (v: unknown): number => Object.keys(obj(v)).length;

// ---------------------------------------------------------------------------------------------
// Columns

const NAME_DOC =
	"Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
const AGE_DOC =
	"CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";

function col(
	name: string,
	description: string,
	extra: Partial<TableColumnDefinition> = {},
): TableColumnDefinition {
	return { name, type: "string", format: "", description, priority: 0, ...extra };
}
const NAME = col("Name", NAME_DOC, { format: "name" });
const AGE = col("Age", AGE_DOC);
const wide = (name: string, description: string) => col(name, description, { priority: 1 });

const age = (o: KubeObject, now: Date) => since(o.metadata.creationTimestamp, now);

/** labels.FormatLabels: "k=v,k2=v2" sorted by key, "<none>" when empty. */
function formatLabels(m: unknown): string {
	const entries = Object.entries(obj(m)).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
	return entries.length === 0 ? "<none>" : entries.map(([k, v]) => `${k}=${String(v)}`).join(",");
}

/** metav1.FormatLabelSelector: requirements sorted by key, "<none>" for an empty selector. */
export function formatLabelSelector(sel: unknown): string {
	const s = obj(sel);
	const reqs: [string, string][] = [];
	for (const [k, v] of Object.entries(obj(s.matchLabels))) reqs.push([k, `${k}=${String(v)}`]);
	for (const e of arr(s.matchExpressions)) {
		const x = obj(e);
		const key = str(x.key);
		const values = arr(x.values).map(String).sort().join(",");
		switch (x.operator) {
			case "In":
				reqs.push([key, `${key} in (${values})`]);
				break;
			case "NotIn":
				reqs.push([key, `${key} notin (${values})`]);
				break;
			case "Exists":
				reqs.push([key, key]);
				break;
			case "DoesNotExist":
				reqs.push([key, `!${key}`]);
				break;
			default:
				return "<error>";
		}
	}
	if (reqs.length === 0) return "<none>";
	return reqs
		.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
		.map(([, r]) => r)
		.join(",");
}

// ---------------------------------------------------------------------------------------------
// Printers of the built-ins

const POD_COMPLETED = {
	Succeeded: [
		{
			type: "Completed",
			status: "True",
			reason: "Succeeded",
			message: "The pod has completed successfully.",
		},
	],
	Failed: [{ type: "Completed", status: "True", reason: "Failed", message: "The pod failed." }],
} as const;

/** The READY, STATUS and RESTARTS of printPod, for the container states kubelet reports. */
function podSummary(pod: KubeObject, now: Date): { ready: string; reason: string; restarts: string } {
	const spec = obj(pod.spec);
	const status = obj(pod.status);
	const phase = str(status.phase);
	let reason = str(status.reason) || phase;
	for (const c of arr(status.conditions)) {
		const cond = obj(c);
		if (cond.type === "PodScheduled" && cond.reason === "SchedulingGated") reason = "SchedulingGated";
	}
	const initSpecs = new Map(arr(spec.initContainers).map((c) => [str(obj(c).name), obj(c)]));
	const restartable = (name: string) => initSpecs.get(name)?.restartPolicy === "Always";
	let total =
		arr(spec.containers).length + [...initSpecs.values()].filter((c) => c.restartPolicy === "Always").length;
	let ready = 0;
	let restarts = 0;
	let sidecarRestarts = 0;
	let lastRestart = 0;
	let lastSidecarRestart = 0;
	const finishedAt = (cs: Obj): number => {
		const t = Date.parse(str(obj(obj(cs.lastState).terminated).finishedAt));
		return Number.isNaN(t) ? 0 : t;
	};
	let initializing = false;
	const inits = arr(status.initContainerStatuses).map(obj);
	for (const [i, cs] of inits.entries()) {
		const name = str(cs.name);
		const state = obj(cs.state);
		const terminated = state.terminated === undefined ? undefined : obj(state.terminated);
		const waiting = state.waiting === undefined ? undefined : obj(state.waiting);
		restarts += num(cs.restartCount);
		lastRestart = Math.max(lastRestart, finishedAt(cs));
		if (restartable(name)) {
			sidecarRestarts += num(cs.restartCount);
			lastSidecarRestart = Math.max(lastSidecarRestart, finishedAt(cs));
		}
		if (terminated && num(terminated.exitCode) === 0) continue;
		if (restartable(name) && cs.started === true) {
			if (cs.ready === true) ready++;
			continue;
		}
		if (terminated) {
			reason = str(terminated.reason)
				? `Init:${str(terminated.reason)}`
				: num(terminated.signal) !== 0
					? `Init:Signal:${num(terminated.signal)}`
					: `Init:ExitCode:${num(terminated.exitCode)}`;
		} else if (waiting && str(waiting.reason) && waiting.reason !== "PodInitializing") {
			reason = `Init:${str(waiting.reason)}`;
		} else {
			reason = `Init:${i}/${initSpecs.size}`;
		}
		initializing = true;
		break;
	}
	const initialized = arr(status.conditions).some(
		(c) => obj(c).type === "Initialized" && obj(c).status === "True",
	);
	if (!initializing || initialized) {
		restarts = sidecarRestarts;
		lastRestart = lastSidecarRestart;
		let hasRunning = false;
		const statuses = arr(status.containerStatuses).map(obj);
		for (let i = statuses.length - 1; i >= 0; i--) {
			const cs = statuses[i]!;
			const state = obj(cs.state);
			restarts += num(cs.restartCount);
			lastRestart = Math.max(lastRestart, finishedAt(cs));
			const waiting = obj(state.waiting);
			const terminated = state.terminated === undefined ? undefined : obj(state.terminated);
			if (str(waiting.reason)) reason = str(waiting.reason);
			else if (terminated && str(terminated.reason)) reason = str(terminated.reason);
			else if (terminated)
				reason =
					num(terminated.signal) !== 0
						? `Signal:${num(terminated.signal)}`
						: `ExitCode:${num(terminated.exitCode)}`;
			else if (cs.ready === true && state.running !== undefined) {
				hasRunning = true;
				ready++;
			}
		}
		if (reason === "Completed" && hasRunning) {
			const podReady = arr(status.conditions).some(
				(c) => obj(c).type === "Ready" && obj(c).status === "True",
			);
			reason = podReady ? "Running" : "NotReady";
		}
	}
	if (pod.metadata.deletionTimestamp && status.reason === "NodeLost") reason = "Unknown";
	else if (pod.metadata.deletionTimestamp && phase !== "Succeeded" && phase !== "Failed")
		reason = "Terminating";
	total = Math.max(total, 0);
	const restartsText =
		restarts !== 0 && lastRestart !== 0
			? `${restarts} (${humanDuration(now.getTime() - lastRestart)} ago)`
			: String(restarts);
	return { ready: `${ready}/${total}`, reason, restarts: restartsText };
}

const podPrinter: Printer = {
	columns: [
		NAME,
		col("Ready", "The aggregate readiness state of this pod for accepting traffic."),
		col("Status", "The aggregate status of the containers in this pod."),
		col(
			"Restarts",
			"The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
		),
		AGE,
		wide(
			"IP",
			"podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.",
		),
		wide(
			"Node",
			"NodeName indicates in which node this pod is scheduled. If empty, this pod is a candidate for preemption by the scheduler.",
		),
		wide(
			"Nominated Node",
			"nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be scheduled right away as preemption victims receive their graceful termination periods.",
		),
		wide(
			"Readiness Gates",
			'If specified, all readiness gates will be evaluated for pod readiness. A pod is ready when all its containers are ready AND all conditions specified in the readiness gates have status equal to "True"',
		),
	],
	cells(pod, now) {
		const s = podSummary(pod, now);
		const spec = obj(pod.spec);
		const status = obj(pod.status);
		// v1 → internal conversion: podIP is authoritative, podIPs fill in when it is empty.
		const ip = str(status.podIP) || str(obj(arr(status.podIPs)[0]).ip) || "<none>";
		const gates = arr(spec.readinessGates).map((g) => str(obj(g).conditionType));
		let readinessGates = "<none>";
		if (gates.length > 0) {
			const conds = arr(status.conditions).map(obj);
			const trueCount = gates.filter((t) => conds.find((c) => c.type === t)?.status === "True").length;
			readinessGates = `${trueCount}/${gates.length}`;
		}
		return [
			pod.metadata.name,
			s.ready,
			s.reason,
			s.restarts,
			age(pod, now),
			ip,
			str(spec.nodeName) || "<none>",
			str(status.nominatedNodeName) || "<none>",
			readinessGates,
		];
	},
	conditions(pod) {
		const phase = str(obj(pod.status).phase);
		return phase === "Succeeded" || phase === "Failed" ? [...POD_COMPLETED[phase]] : undefined;
	},
};

const nodePrinter: Printer = {
	columns: [
		NAME,
		col("Status", "The status of the node"),
		col("Roles", "The roles of the node"),
		AGE,
		col("Version", "Kubelet Version reported by the node."),
		wide("Internal-IP", "List of addresses reachable to the node."),
		wide("External-IP", "List of addresses reachable to the node."),
		wide(
			"OS-Image",
			"OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).",
		),
		wide(
			"Kernel-Version",
			"Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).",
		),
		wide(
			"Container-Runtime",
			"ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).",
		),
	],
	cells(node, now) {
		const status = obj(node.status);
		const info = obj(status.nodeInfo);
		const ready = arr(status.conditions)
			.map(obj)
			.find((c) => c.type === "Ready");
		const states = [ready ? (ready.status === "True" ? "Ready" : "NotReady") : "Unknown"];
		if (obj(node.spec).unschedulable === true) states.push("SchedulingDisabled");
		const roles = new Set<string>();
		for (const [k, v] of Object.entries(obj(node.metadata.labels))) {
			if (k.startsWith("node-role.kubernetes.io/") && k.length > "node-role.kubernetes.io/".length)
				roles.add(k.slice("node-role.kubernetes.io/".length));
			else if (k === "kubernetes.io/role" && v !== "") roles.add(String(v));
		}
		const address = (type: string) =>
			str(
				arr(status.addresses)
					.map(obj)
					.find((a) => a.type === type)?.address,
			) || "<none>";
		return [
			node.metadata.name,
			states.join(","),
			[...roles].sort().join(",") || "<none>",
			age(node, now),
			str(info.kubeletVersion),
			address("InternalIP"),
			address("ExternalIP"),
			str(info.osImage) || "<unknown>",
			str(info.kernelVersion) || "<unknown>",
			str(info.containerRuntimeVersion) || "<unknown>",
		];
	},
};

const namespacePrinter: Printer = {
	columns: [NAME, col("Status", "The status of the namespace"), AGE],
	cells: (ns, now) => [ns.metadata.name, str(obj(ns.status).phase), age(ns, now)],
};

const configMapPrinter: Printer = {
	columns: [
		NAME,
		col(
			"Data",
			"Data contains the configuration data. Each key must consist of alphanumeric characters, '-', '_' or '.'. Values with non-UTF-8 byte sequences must use the BinaryData field. The keys stored in Data must not overlap with the keys in the BinaryData field, this is enforced during validation process.",
		),
		AGE,
	],
	cells: (cm, now) => [cm.metadata.name, count(cm.data) + count(cm.binaryData), age(cm, now)],
};

const secretPrinter: Printer = {
	columns: [
		NAME,
		col("Type", "Used to facilitate programmatic handling of secret data."),
		col("Data", "Data contains the secret data."),
		AGE,
	],
	cells: (s, now) => [s.metadata.name, str(s.type), count(s.data), age(s, now)],
};

const serviceAccountPrinter: Printer = {
	columns: [
		NAME,
		col(
			"Secrets",
			"Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use.",
		),
		AGE,
	],
	cells: (sa, now) => [sa.metadata.name, arr(sa.secrets).length, age(sa, now)],
};

function serviceExternalIP(spec: Obj, status: Obj): string {
	const externalIPs = arr(spec.externalIPs).map(String);
	switch (str(spec.type) || "ClusterIP") {
		case "ClusterIP":
		case "NodePort":
			return externalIPs.length > 0 ? externalIPs.join(",") : "<none>";
		case "LoadBalancer": {
			const lb = [
				...new Set(
					arr(obj(status.loadBalancer).ingress)
						.map(obj)
						.map((i) => str(i.ip) || str(i.hostname))
						.filter((s) => s !== ""),
				),
			].sort();
			// Clipped to 16 characters outside -o wide; the sim always prints wide, like the apiserver.
			if (externalIPs.length > 0) return [...lb, ...externalIPs].join(",");
			return lb.length > 0 ? lb.join(",") : "<pending>";
		}
		case "ExternalName":
			return str(spec.externalName);
		default:
			return "<unknown>";
	}
}

const servicePrinter: Printer = {
	columns: [
		NAME,
		col("Type", "type determines how the Service is exposed."),
		col("Cluster-IP", "clusterIP is the IP address of the service and is usually assigned randomly."),
		col(
			"External-IP",
			"externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.",
		),
		col("Port(s)", "The list of ports that are exposed by this service."),
		AGE,
		wide("Selector", "Route service traffic to pods with label keys and values matching this selector."),
	],
	cells(svc, now) {
		const spec = obj(svc.spec);
		const ports = arr(spec.ports)
			.map(obj)
			.map((p) => {
				const proto = str(p.protocol) || "TCP";
				return num(p.nodePort) > 0 ? `${num(p.port)}:${num(p.nodePort)}/${proto}` : `${num(p.port)}/${proto}`;
			})
			.join(",");
		return [
			svc.metadata.name,
			str(spec.type) || "ClusterIP",
			str(arr(spec.clusterIPs)[0]) || str(spec.clusterIP) || "<none>",
			serviceExternalIP(spec, obj(svc.status)),
			ports || "<none>",
			age(svc, now),
			formatLabels(spec.selector),
		];
	},
};

/** core/v1 and events.k8s.io/v1 events print alike (both convert to the internal core Event). */
function eventFields(ev: KubeObject): {
	first: unknown;
	last: unknown;
	eventTime: unknown;
	count: number;
	series?: Obj;
	involved: Obj;
	type: string;
	reason: string;
	message: string;
	source: string;
} {
	const core = ev.apiVersion === "v1";
	const source = obj(core ? ev.source : ev.deprecatedSource);
	const component = str(source.component) || str(ev.reportingController ?? ev.reportingComponent);
	const instance = str(source.host) || str(ev.reportingInstance);
	return {
		first: core ? ev.firstTimestamp : ev.deprecatedFirstTimestamp,
		last: core ? ev.lastTimestamp : ev.deprecatedLastTimestamp,
		eventTime: ev.eventTime,
		count: num(core ? ev.count : ev.deprecatedCount),
		...(ev.series !== undefined && ev.series !== null ? { series: obj(ev.series) } : {}),
		involved: obj(core ? ev.involvedObject : ev.regarding),
		type: str(ev.type),
		reason: str(ev.reason),
		message: str(core ? ev.message : ev.note).trim(),
		source: instance ? `${component}, ${instance}` : component,
	};
}

const eventPrinter: Printer = {
	columns: [
		col("Last Seen", "The time at which the most recent occurrence of this event was recorded."),
		col("Type", "Type of this event (Normal, Warning), new types could be added in the future"),
		col(
			"Reason",
			"This should be a short, machine understandable string that gives the reason for the transition into the object's current status.",
		),
		col("Object", "The object that this event is about."),
		wide(
			"Subobject",
			"If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement, such as desiredState.manifest.containers[2].",
		),
		wide("Source", "The component reporting this event. Should be a short machine understandable string."),
		col("Message", "A human-readable description of the status of this operation."),
		wide(
			"First Seen",
			"The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)",
		),
		wide("Count", "The number of times this event has occurred."),
		col("Name", NAME_DOC, { format: "name", priority: 1 }),
	],
	cells(ev, now) {
		const f = eventFields(ev);
		const first =
			typeof f.first === "string" && f.first !== "" ? since(f.first, now) : since(f.eventTime, now);
		let last = typeof f.last === "string" && f.last !== "" ? since(f.last, now) : first;
		let n = f.count;
		if (f.series) {
			last = since(f.series.lastObservedTime, now);
			n = num(f.series.count);
		} else if (n === 0) n = 1;
		const kind = str(f.involved.kind).toLowerCase();
		const name = str(f.involved.name);
		return [
			last,
			f.type,
			f.reason,
			name ? `${kind}/${name}` : kind,
			str(f.involved.fieldPath),
			f.source,
			f.message,
			first,
			n,
			ev.metadata.name,
		];
	},
};

const networkPolicyPrinter: Printer = {
	columns: [NAME, col("Pod-Selector", "Selects the pods to which this NetworkPolicy object applies."), AGE],
	cells: (np, now) => [np.metadata.name, formatLabelSelector(obj(np.spec).podSelector), age(np, now)],
};

const leasePrinter: Printer = {
	columns: [
		NAME,
		col("Holder", "holderIdentity contains the identity of the holder of a current lease."),
		AGE,
	],
	cells: (l, now) => [l.metadata.name, str(obj(l.spec).holderIdentity), age(l, now)],
};

/** rest.NewDefaultTableConvertor: what a resource without a printer gets (CRDs, in v1.32). */
const defaultPrinter: Printer = {
	columns: [NAME, col("Created At", AGE_DOC, { type: "date" })],
	cells: (o) => [o.metadata.name, str(o.metadata.creationTimestamp)],
};

/** NAME AGE: the fallback for a built-in the sim serves without a printer of its own. */
const nameAgePrinter: Printer = {
	columns: [NAME, AGE],
	cells: (o, now) => [o.metadata.name, age(o, now)],
};

const BUILTIN: Record<string, Printer> = {
	"/pods": podPrinter,
	"/nodes": nodePrinter,
	"/namespaces": namespacePrinter,
	"/configmaps": configMapPrinter,
	"/secrets": secretPrinter,
	"/serviceaccounts": serviceAccountPrinter,
	"/services": servicePrinter,
	"/events": eventPrinter,
	"events.k8s.io/events": eventPrinter,
	"networking.k8s.io/networkpolicies": networkPolicyPrinter,
	"coordination.k8s.io/leases": leasePrinter,
	"apiextensions.k8s.io/customresourcedefinitions": defaultPrinter,
};

// ---------------------------------------------------------------------------------------------
// Custom resources: additionalPrinterColumns with a JSONPath subset

type PathStep =
	| { field: string }
	| { index: number }
	| { wildcard: true }
	| { filter: { path: string[]; value: unknown } };

const INDEX = /^\[(\d+)\]/;
const WILDCARD = /^\[\*\]/;
const QUOTED = /^\[(['"])(.*?)\1\]/;
const FILTER =
	/^\[\?\(@((?:\.[A-Za-z0-9_\-$]+)+)\s*==\s*(?:"([^"]*)"|'([^']*)'|(-?\d+(?:\.\d+)?|true|false))\)\]/;

/** One `[...]` step at the start of `rest`, and how many characters it took. */
function bracketStep(rest: string, path: string, at: number): [PathStep, number] {
	const index = INDEX.exec(rest);
	if (index) return [{ index: Number(index[1]) }, index[0].length];
	const wildcard = WILDCARD.exec(rest);
	if (wildcard) return [{ wildcard: true }, wildcard[0].length];
	const quoted = QUOTED.exec(rest);
	if (quoted) return [{ field: quoted[2]! }, quoted[0].length];
	const filter = FILTER.exec(rest);
	if (filter) {
		const value: unknown = filter[2] ?? filter[3] ?? JSON.parse(filter[4]!);
		return [{ filter: { path: filter[1]!.slice(1).split("."), value } }, filter[0].length];
	}
	throw new Error(`unsupported JSONPath ${JSON.stringify(path)} at ${at}`);
}

/**
 * Parse the JSONPath subset CRDs use in additionalPrinterColumns: `.a.b`, `.a[0]`, `.a['x.y']`,
 * `.a[*]`, `.a[?(@.type=="Ready")]`. Throws on anything else.
 */
export function parseJsonPath(path: string): PathStep[] {
	let p = path.trim();
	if (p.startsWith("{") && p.endsWith("}")) p = p.slice(1, -1).trim();
	if (p.startsWith("$")) p = p.slice(1);
	const steps: PathStep[] = [];
	let i = 0;
	while (i < p.length) {
		if (p[i] === ".") {
			const m = /^\.([A-Za-z0-9_\-$]+)/.exec(p.slice(i));
			if (!m) throw new Error(`unsupported JSONPath ${JSON.stringify(path)} at ${i}`);
			steps.push({ field: m[1]! });
			i += m[0].length;
		} else if (p[i] === "[") {
			const [step, length] = bracketStep(p.slice(i), path, i);
			steps.push(step);
			i += length;
		} else throw new Error(`unsupported JSONPath ${JSON.stringify(path)} at ${i}`);
	}
	return steps;
}

/** The first value `path` finds in `root` (undefined when none), as the CRD convertor uses results[0][0]. */
export function jsonPathValue(root: unknown, path: string | PathStep[]): unknown {
	const steps = typeof path === "string" ? parseJsonPath(path) : path;
	let cur: unknown[] = [root];
	for (const step of steps) {
		const next: unknown[] = [];
		for (const v of cur) {
			if ("field" in step) {
				const o = obj(v);
				if (v && typeof v === "object" && !Array.isArray(v) && step.field in o) next.push(o[step.field]);
			} else if ("index" in step) {
				if (Array.isArray(v) && step.index < v.length) next.push(v[step.index]);
			} else if ("wildcard" in step) {
				if (Array.isArray(v)) next.push(...v);
				else if (v && typeof v === "object") next.push(...Object.values(v));
			} else if (Array.isArray(v)) {
				for (const item of v) {
					let x: unknown = item;
					for (const f of step.filter.path) x = obj(x)[f];
					if (x === step.filter.value) next.push(item);
				}
			}
		}
		cur = next;
	}
	return cur[0];
}

/** cellForJSONValue (apiextensions tableconvertor): the cell a column type gets from a value. */
function customCell(type: string, value: unknown, now: Date): unknown {
	if (value === undefined || value === null) return null;
	switch (type) {
		case "string":
			return typeof value === "string" ? value : JSON.stringify(value);
		case "integer":
			return typeof value === "number" ? Math.trunc(value) : null;
		case "number":
			return typeof value === "number" ? value : null;
		case "boolean":
			return typeof value === "boolean" ? value : null;
		case "date": {
			if (typeof value !== "string") return null;
			return Number.isNaN(Date.parse(value)) ? "<invalid>" : since(value, now);
		}
		default:
			return null;
	}
}

function customPrinter(columns: PrinterColumn[]): Printer {
	const defs =
		columns.length > 0 ? columns : [{ name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" }];
	const paths = defs.map((c) => {
		try {
			return parseJsonPath(c.jsonPath);
		} catch {
			return undefined; // an unsupported path prints <none>, like a path that finds nothing
		}
	});
	return {
		columns: [
			NAME,
			...defs.map((c) =>
				c.name === "Age" && c.jsonPath === ".metadata.creationTimestamp" && columns.length === 0
					? { ...AGE, type: "date" }
					: col(c.name, c.description ?? "", {
							type: c.type,
							format: c.format ?? "",
							priority: c.priority ?? 0,
						}),
			),
		],
		cells(o, now) {
			return [
				o.metadata.name,
				...defs.map((c, i) => {
					const steps = paths[i];
					return steps ? customCell(c.type, jsonPathValue(o, steps), now) : null;
				}),
			];
		},
	};
}

/** The printer for a resource as served at `version`. */
export function printerFor(type: ResourceType, version: string): Printer {
	if (type.custom) return customPrinter(type.printerColumns?.[version] ?? []);
	return BUILTIN[`${type.group}/${type.resource}`] ?? nameAgePrinter;
}

// ---------------------------------------------------------------------------------------------
// Tables

function rowObject(o: KubeObject, include: IncludeObject): unknown {
	if (include === "None") return null;
	if (include === "Object") return o;
	return { kind: "PartialObjectMetadata", apiVersion: "meta.k8s.io/v1", metadata: o.metadata };
}

/** A Table of `objects` (a list, a single GET, or one watch event). */
export function toTable(printer: Printer, objects: KubeObject[], opts: TableOptions): Table {
	const include = opts.includeObject ?? "Metadata";
	return {
		kind: "Table",
		apiVersion: opts.apiVersion ?? "meta.k8s.io/v1",
		metadata: opts.metadata ?? {},
		columnDefinitions: opts.noHeaders ? [] : printer.columns,
		rows: objects.map((o) => {
			const conditions = printer.conditions?.(o);
			return {
				cells: printer.cells(o, opts.now),
				...(conditions ? { conditions } : {}),
				object: rowObject(o, include),
			};
		}),
	};
}
