import { describe, expect, test } from "bun:test";
import type { KubeObject } from "../contracts.ts";
import { builtinResources, resourceFromCrd } from "./resources.ts";
import {
	formatLabelSelector,
	humanDuration,
	jsonPathValue,
	parseIncludeObject,
	printerFor,
	tableVersionFromAccept,
	toTable,
} from "./table.ts";

const now = new Date("2025-03-01T12:00:00Z");
const ago = (s: number) => new Date(now.getTime() - s * 1000).toISOString().replace(/\.\d+Z$/, "Z");
const type = (group: string, resource: string) =>
	builtinResources().find((t) => t.group === group && t.resource === resource)!;
const row = (group: string, resource: string, o: KubeObject) =>
	toTable(printerFor(type(group, resource), "v1"), [o], { now }).rows[0]!.cells;
const header = (group: string, resource: string) =>
	printerFor(type(group, resource), "v1").columns.map((c) => (c.priority ? `${c.name}*` : c.name));

describe("humanDuration (apimachinery duration.HumanDuration)", () => {
	test.each([
		[-5, "<invalid>"],
		[-1, "0s"],
		[5, "5s"],
		[119, "119s"],
		[190, "3m10s"],
		[300, "5m"],
		[11 * 60 + 5, "11m"],
		[3 * 3600 + 60, "3h1m"],
		[5 * 3600, "5h"],
		[20 * 3600, "20h"],
		[2 * 86400, "2d"],
		[3 * 86400 + 4 * 3600, "3d4h"],
		[30 * 86400, "30d"],
		[3 * 365 * 86400 + 10 * 86400, "3y10d"],
		[9 * 365 * 86400, "9y"],
	])("%d s → %s", (s, out) => {
		expect(humanDuration(s * 1000)).toBe(out);
	});
});

describe("negotiation", () => {
	test("kubectl's Accept asks for v1; v1beta1 alone; plain JSON is no Table", () => {
		expect(
			tableVersionFromAccept(
				"application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json",
			),
		).toBe("v1");
		expect(tableVersionFromAccept("application/json;as=Table;v=v1beta1;g=meta.k8s.io")).toBe("v1beta1");
		expect(tableVersionFromAccept("application/json, */*;q=0.8")).toBeUndefined();
		expect(
			tableVersionFromAccept("application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io"),
		).toBeUndefined();
		expect(tableVersionFromAccept(null)).toBeUndefined();
	});

	test("includeObject: Metadata by default, None and Object, else undefined", () => {
		expect([null, "", "None", "Object", "Metadata", "All"].map(parseIncludeObject)).toEqual([
			"Metadata",
			"Metadata",
			"None",
			"Object",
			"Metadata",
			undefined,
		]);
	});
});

describe("built-in printers", () => {
	test("nodes: Ready/NotReady/Unknown, SchedulingDisabled, roles from labels, wide addresses and nodeInfo", () => {
		expect(header("", "nodes")).toEqual([
			"Name",
			"Status",
			"Roles",
			"Age",
			"Version",
			"Internal-IP*",
			"External-IP*",
			"OS-Image*",
			"Kernel-Version*",
			"Container-Runtime*",
		]);
		const node: KubeObject = {
			apiVersion: "v1",
			kind: "Node",
			metadata: {
				name: "n1",
				creationTimestamp: ago(190),
				labels: { "node-role.kubernetes.io/control-plane": "", "kubernetes.io/role": "worker" },
			},
			spec: { unschedulable: true },
			status: {
				conditions: [{ type: "Ready", status: "True" }],
				addresses: [
					{ type: "InternalIP", address: "192.168.0.10" },
					{ type: "Hostname", address: "n1" },
				],
				nodeInfo: {
					kubeletVersion: "v1.32.0",
					osImage: "Debian GNU/Linux 12",
					kernelVersion: "6.1.0",
					containerRuntimeVersion: "containerd://1.7.0",
				},
			},
		};
		expect(row("", "nodes", node)).toEqual([
			"n1",
			"Ready,SchedulingDisabled",
			"control-plane,worker",
			"3m10s",
			"v1.32.0",
			"192.168.0.10",
			"<none>",
			"Debian GNU/Linux 12",
			"6.1.0",
			"containerd://1.7.0",
		]);
		const bare = { apiVersion: "v1", kind: "Node", metadata: { name: "n2" } } as KubeObject;
		expect(row("", "nodes", bare)).toEqual([
			"n2",
			"Unknown",
			"<none>",
			"<unknown>",
			"",
			"<none>",
			"<none>",
			"<unknown>",
			"<unknown>",
			"<unknown>",
		]);
		const notReady = { ...bare, status: { conditions: [{ type: "Ready", status: "False" }] } };
		expect(row("", "nodes", notReady)[1]).toBe("NotReady");
	});

	test("pods: READY, STATUS (Pending, Running, waiting reason, Terminating, Init), RESTARTS, wide IP/NODE/gates", () => {
		const base: KubeObject = {
			apiVersion: "v1",
			kind: "Pod",
			metadata: { name: "p", creationTimestamp: ago(5) },
			spec: { nodeName: "n1", containers: [{ name: "a" }, { name: "b" }] },
			status: { phase: "Pending" },
		};
		expect(row("", "pods", base)).toEqual([
			"p",
			"0/2",
			"Pending",
			"0",
			"5s",
			"<none>",
			"n1",
			"<none>",
			"<none>",
		]);
		const running = {
			...base,
			spec: { ...(base.spec as object), readinessGates: [{ conditionType: "x/ready" }] },
			status: {
				phase: "Running",
				podIPs: [{ ip: "10.0.0.2" }],
				conditions: [{ type: "x/ready", status: "True" }],
				containerStatuses: [
					{
						name: "a",
						ready: true,
						restartCount: 2,
						state: { running: {} },
						lastState: { terminated: { finishedAt: ago(60) } },
					},
					{ name: "b", ready: false, restartCount: 1, state: { waiting: { reason: "CrashLoopBackOff" } } },
				],
			},
		};
		expect(row("", "pods", running)).toEqual([
			"p",
			"1/2",
			"CrashLoopBackOff",
			"3 (60s ago)",
			"5s",
			"10.0.0.2",
			"n1",
			"<none>",
			"1/1",
		]);
		const terminating = { ...base, metadata: { ...base.metadata, deletionTimestamp: ago(-30) } };
		expect(row("", "pods", terminating)[2]).toBe("Terminating");
		const init = {
			...base,
			spec: { ...(base.spec as object), initContainers: [{ name: "i1" }, { name: "i2" }] },
			status: {
				phase: "Pending",
				initContainerStatuses: [
					{ name: "i1", state: { terminated: { exitCode: 0 } } },
					{ name: "i2", state: { running: {} } },
				],
			},
		};
		expect(row("", "pods", init)[2]).toBe("Init:1/2");
		const done = toTable(printerFor(type("", "pods"), "v1"), [{ ...base, status: { phase: "Succeeded" } }], {
			now,
		}).rows[0]!;
		expect([done.cells[2], done.conditions?.[0]?.reason]).toEqual(["Succeeded", "Succeeded"]);
	});

	test("namespaces, configmaps (data + binaryData), secrets, services, networkpolicies, leases", () => {
		const meta = { name: "x", creationTimestamp: ago(2 * 86400) };
		expect(
			row("", "namespaces", {
				apiVersion: "v1",
				kind: "Namespace",
				metadata: meta,
				status: { phase: "Active" },
			}),
		).toEqual(["x", "Active", "2d"]);
		expect(header("", "configmaps")).toEqual(["Name", "Data", "Age"]);
		expect(
			row("", "configmaps", {
				apiVersion: "v1",
				kind: "ConfigMap",
				metadata: meta,
				data: { a: "1", b: "2" },
				binaryData: { c: "" },
			}),
		).toEqual(["x", 3, "2d"]);
		expect(
			row("", "secrets", {
				apiVersion: "v1",
				kind: "Secret",
				metadata: meta,
				type: "Opaque",
				data: { a: "" },
			}),
		).toEqual(["x", "Opaque", 1, "2d"]);
		expect(header("", "services")).toEqual([
			"Name",
			"Type",
			"Cluster-IP",
			"External-IP",
			"Port(s)",
			"Age",
			"Selector*",
		]);
		const svc: KubeObject = {
			apiVersion: "v1",
			kind: "Service",
			metadata: meta,
			spec: {
				type: "NodePort",
				clusterIP: "192.168.0.1",
				clusterIPs: ["192.168.0.1"],
				ports: [
					{ port: 80, nodePort: 30080, protocol: "TCP" },
					{ port: 53, protocol: "UDP" },
				],
				selector: { b: "2", a: "1" },
			},
		};
		expect(row("", "services", svc)).toEqual([
			"x",
			"NodePort",
			"192.168.0.1",
			"<none>",
			"80:30080/TCP,53/UDP",
			"2d",
			"a=1,b=2",
		]);
		const lb = { ...svc, spec: { type: "LoadBalancer", ports: [] }, status: { loadBalancer: {} } };
		expect(row("", "services", lb).slice(1, 5)).toEqual(["LoadBalancer", "<none>", "<pending>", "<none>"]);
		expect(header("networking.k8s.io", "networkpolicies")).toEqual(["Name", "Pod-Selector", "Age"]);
		const np = (podSelector: unknown) =>
			row("networking.k8s.io", "networkpolicies", {
				apiVersion: "networking.k8s.io/v1",
				kind: "NetworkPolicy",
				metadata: meta,
				spec: { podSelector },
			})[1];
		expect([np({}), np({ matchLabels: { app: "web" } })]).toEqual(["<none>", "app=web"]);
		expect(
			row("coordination.k8s.io", "leases", {
				apiVersion: "coordination.k8s.io/v1",
				kind: "Lease",
				metadata: meta,
				spec: { holderIdentity: "terway-0" },
			}),
		).toEqual(["x", "terway-0", "2d"]);
	});

	test("label selectors print as the apiserver formats them", () => {
		expect(
			formatLabelSelector({
				matchLabels: { z: "1" },
				matchExpressions: [
					{ key: "b", operator: "NotIn", values: ["y", "x"] },
					{ key: "a", operator: "In", values: ["1"] },
					{ key: "c", operator: "Exists" },
					{ key: "d", operator: "DoesNotExist" },
				],
			}),
		).toBe("a in (1),b notin (x,y),c,!d,z=1");
	});

	test("core/v1 and events.k8s.io/v1 events print alike", () => {
		expect(header("", "events")).toEqual([
			"Last Seen",
			"Type",
			"Reason",
			"Object",
			"Subobject*",
			"Source*",
			"Message",
			"First Seen*",
			"Count*",
			"Name*",
		]);
		const core: KubeObject = {
			apiVersion: "v1",
			kind: "Event",
			metadata: { name: "web.1" },
			involvedObject: { kind: "Pod", name: "web", fieldPath: "spec.containers{c}" },
			reason: "FailedCreatePodSandBox",
			type: "Warning",
			message: " boom \n",
			firstTimestamp: ago(600),
			lastTimestamp: ago(30),
			count: 4,
			source: { component: "kubelet", host: "n1" },
		};
		expect(row("", "events", core)).toEqual([
			"30s",
			"Warning",
			"FailedCreatePodSandBox",
			"pod/web",
			"spec.containers{c}",
			"kubelet, n1",
			"boom",
			"10m",
			4,
			"web.1",
		]);
		const modern: KubeObject = {
			apiVersion: "events.k8s.io/v1",
			kind: "Event",
			metadata: { name: "web.2" },
			regarding: { kind: "Pod", name: "web" },
			reason: "Started",
			type: "Normal",
			note: "ok",
			eventTime: ago(7),
			reportingController: "terway",
			reportingInstance: "terway-0",
		};
		expect(row("events.k8s.io", "events", modern)).toEqual([
			"7s",
			"Normal",
			"Started",
			"pod/web",
			"",
			"terway, terway-0",
			"ok",
			"7s",
			1,
			"web.2",
		]);
	});
});

describe("custom resources", () => {
	const crd = (columns?: unknown[]): KubeObject => ({
		apiVersion: "apiextensions.k8s.io/v1",
		kind: "CustomResourceDefinition",
		metadata: { name: "widgets.example.com" },
		spec: {
			group: "example.com",
			scope: "Namespaced",
			names: { plural: "widgets", kind: "Widget" },
			versions: [
				{
					name: "v1",
					served: true,
					storage: true,
					...(columns ? { additionalPrinterColumns: columns } : {}),
				},
			],
		},
	});
	const widget: KubeObject = {
		apiVersion: "example.com/v1",
		kind: "Widget",
		metadata: { name: "w", creationTimestamp: ago(90) },
		spec: { size: 3.7, tags: ["a", "b"], "x.y": true },
		status: {
			conditions: [
				{ type: "Synced", status: "False" },
				{ type: "Ready", status: "True" },
			],
			since: ago(3600 * 5),
		},
	};

	test("additionalPrinterColumns with the JSONPath subset; cells typed like the apiextensions convertor", () => {
		const t = resourceFromCrd(
			crd([
				{ name: "Ready", type: "string", jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
				{ name: "Size", type: "integer", jsonPath: ".spec.size" },
				{ name: "Tag", type: "string", jsonPath: ".spec.tags[1]", priority: 1 },
				{ name: "Tags", type: "string", jsonPath: ".spec.tags" },
				{ name: "XY", type: "boolean", jsonPath: ".spec['x.y']" },
				{ name: "Since", type: "date", jsonPath: ".status.since" },
				{ name: "Missing", type: "string", jsonPath: ".spec.nope" },
				{ name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
			]),
		);
		const table = toTable(printerFor(t, "v1"), [widget], { now, includeObject: "Object" });
		expect(table.columnDefinitions.map((c) => `${c.name}:${c.type}:${c.priority}`)).toEqual([
			"Name:string:0",
			"Ready:string:0",
			"Size:integer:0",
			"Tag:string:1",
			"Tags:string:0",
			"XY:boolean:0",
			"Since:date:0",
			"Missing:string:0",
			"Age:date:0",
		]);
		expect(table.rows[0]!.cells).toEqual(["w", "True", 3, "b", '["a","b"]', true, "5h", null, "90s"]);
		expect(table.rows[0]!.object).toEqual(widget);
	});

	test("without columns: NAME AGE; CRDs themselves: the default convertor's NAME CREATED AT", () => {
		const table = toTable(printerFor(resourceFromCrd(crd()), "v1"), [widget], { now, includeObject: "None" });
		expect(table.columnDefinitions.map((c) => c.name)).toEqual(["Name", "Age"]);
		expect(table.rows).toEqual([{ cells: ["w", "90s"], object: null }]);
		const crds = toTable(
			printerFor(type("apiextensions.k8s.io", "customresourcedefinitions"), "v1"),
			[{ ...crd(), metadata: { name: "widgets.example.com", creationTimestamp: "2025-01-01T00:00:00Z" } }],
			{ now },
		);
		expect(crds.columnDefinitions.map((c) => c.name)).toEqual(["Name", "Created At"]);
		expect(crds.rows[0]!.cells).toEqual(["widgets.example.com", "2025-01-01T00:00:00Z"]);
		expect(crds.rows[0]!.object).toEqual({
			kind: "PartialObjectMetadata",
			apiVersion: "meta.k8s.io/v1",
			metadata: { name: "widgets.example.com", creationTimestamp: "2025-01-01T00:00:00Z" },
		});
	});

	test("jsonPathValue: fields, indexes, wildcards, filters; unsupported syntax throws", () => {
		expect(jsonPathValue(widget, "{.status.conditions[*].type}")).toBe("Synced");
		expect(jsonPathValue(widget, ".status.conditions[?(@.status=='False')].type")).toBe("Synced");
		expect(jsonPathValue(widget, ".status.conditions[5]")).toBeUndefined();
		expect(() => jsonPathValue(widget, ".spec..size")).toThrow("unsupported JSONPath");
	});
});
