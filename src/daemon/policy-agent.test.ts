/**
 * The policy agent's pure parts: a Pod object as the compiler sees it, the NetworkPolicy event
 * reference, and "report once per change". The agent itself runs in tests/daemon/policy-agent
 * (sim apiserver, real pinned maps) and tests/e2e/policy (real packets).
 */
import { describe, expect, test } from "bun:test";
import { podInfoOf, policyRef, statusChanges } from "./policy-agent.ts";

const pod = (o: Record<string, unknown> = {}) => ({
	metadata: { name: "web-0", namespace: "prod", labels: { app: "web" } },
	spec: {
		nodeName: "node-1",
		containers: [
			{
				ports: [
					{ name: "http", containerPort: 8080 },
					{ containerPort: 53, protocol: "UDP" },
					{ containerPort: 9, protocol: "ICMP" },
				],
			},
		],
	},
	status: { phase: "Running", podIP: "10.0.0.5", podIPs: [{ ip: "10.0.0.5" }, { ip: "fd00::5" }] },
	...o,
});

describe("podInfoOf", () => {
	test("labels, every address, locality, container ports (TCP default, unknown protocols dropped)", () => {
		expect(podInfoOf(pod(), "node-1")).toEqual({
			namespace: "prod",
			name: "web-0",
			labels: { app: "web" },
			ips: ["10.0.0.5", "fd00::5"],
			local: true,
			ports: [
				{ name: "http", port: 8080, protocol: "TCP" },
				{ port: 53, protocol: "UDP" },
			],
		});
		expect(podInfoOf(pod(), "node-2")?.local).toBe(false);
	});

	test("podIP when podIPs is absent; the daemon's addresses before the status has any", () => {
		expect(podInfoOf(pod({ status: { phase: "Running", podIP: "10.0.0.6" } }), "node-1")?.ips).toEqual([
			"10.0.0.6",
		]);
		expect(podInfoOf(pod({ status: { phase: "Pending" } }), "node-1", ["10.0.0.7"])?.ips).toEqual([
			"10.0.0.7",
		]);
		expect(podInfoOf(pod({ status: { phase: "Pending" } }), "node-1")?.ips).toEqual([]);
	});

	test("no identity of their own: hostNetwork pods, finished pods, objects without a name", () => {
		expect(podInfoOf(pod({ spec: { nodeName: "node-1", hostNetwork: true } }), "node-1")).toBeUndefined();
		expect(podInfoOf(pod({ status: { phase: "Succeeded", podIP: "10.0.0.5" } }), "node-1")).toBeUndefined();
		expect(podInfoOf(pod({ status: { phase: "Failed" } }), "node-1")).toBeUndefined();
		expect(podInfoOf({ metadata: { namespace: "x" } }, "node-1")).toBeUndefined();
	});
});

test("policyRef: a NetworkPolicy object reference with uid and resourceVersion when known", () => {
	expect(
		policyRef({ metadata: { namespace: "prod", name: "deny", uid: "u1", resourceVersion: "7" } }),
	).toEqual({
		apiVersion: "networking.k8s.io/v1",
		kind: "NetworkPolicy",
		name: "deny",
		namespace: "prod",
		uid: "u1",
		resourceVersion: "7",
	});
});

test("statusChanges: new and changed statuses only; a policy that went away is forgotten", () => {
	const a = { policy: "prod/deny", ok: true, message: "applied: selects 1 local pods, 0 entries" };
	const b = { policy: "prod/bad", ok: false, message: "spec.ingress[0].from[0].ipBlock.cidr: bad" };
	const first = statusChanges(new Map(), [a, b]);
	expect(first.changed).toEqual([a, b]);
	expect(statusChanges(first.record, [a, b]).changed).toEqual([]);
	const a2 = { ...a, message: "applied: selects 2 local pods, 0 entries" };
	const second = statusChanges(first.record, [a2]);
	expect(second.changed).toEqual([a2]);
	expect([...second.record.keys()]).toEqual(["prod/deny"]);
	expect(statusChanges(second.record, [a2, b]).changed).toEqual([b]);
});
