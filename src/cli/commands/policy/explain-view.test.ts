import { describe, expect, test } from "bun:test";
import { explain } from "../../../core/policy/explain.ts";
import { EXIT, ExitError } from "../../errors.ts";
import { explainDoc, parseFlow, renderExplain, splitFlow } from "./explain-view.ts";
import { fixtureState } from "./fixture.ts";
import { parsePodRef } from "./pods.ts";

const usageError = (f: () => unknown): string => {
	try {
		f();
	} catch (e) {
		expect(e).toBeInstanceOf(ExitError);
		expect((e as ExitError).exitCode).toBe(EXIT.usage);
		return (e as Error).message;
	}
	throw new Error("expected a usage error");
};

describe("flow arguments", () => {
	test("parsed and canonical", () => {
		expect(parseFlow({ src: "10.0.0.5", dst: "10.0.0.7", proto: "tcp", port: "5432" })).toEqual({
			src: "10.0.0.5",
			dst: "10.0.0.7",
			proto: "TCP",
			port: 5432,
		});
		expect(parseFlow({ src: "FD00::5", dst: "fd00:0::7", proto: "icmp" })).toEqual({
			src: "fd00::5",
			dst: "fd00::7",
			proto: "ICMPv6",
		});
		expect(splitFlow("10.0.0.5, 10.0.0.7")).toEqual(["10.0.0.5", "10.0.0.7"]);
	});
	test("bad values are usage errors naming the value", () => {
		expect(usageError(() => parseFlow({ src: "10.0.0.5", dst: "db", port: "1" }))).toBe(
			'destination "db": not an IP address',
		);
		expect(usageError(() => parseFlow({ src: "10.0.0.5", dst: "10.0.0.7" }))).toBe(
			"--port is required with --proto tcp",
		);
		expect(usageError(() => parseFlow({ src: "10.0.0.5", dst: "10.0.0.7", port: "70000" }))).toBe(
			'--port "70000": expected a port number 1..65535',
		);
		expect(usageError(() => parseFlow({ src: "10.0.0.5", dst: "10.0.0.7", proto: "icmp", port: "1" }))).toBe(
			'--port "1": ports are for tcp, udp and sctp, not icmp',
		);
		expect(usageError(() => parseFlow({ src: "10.0.0.5", dst: "fd00::7", proto: "icmp" }))).toContain(
			"different address families",
		);
		expect(usageError(() => splitFlow("10.0.0.5"))).toBe(
			'--flow "10.0.0.5": expected SRC,DST (two addresses separated by a comma)',
		);
	});
	test("--pod: NS/NAME or an IP, anything else is a usage error", () => {
		expect(parsePodRef("prod/db-0")).toEqual({ kind: "name", namespace: "prod", name: "db-0" });
		expect(parsePodRef("10.0.0.7")).toEqual({ kind: "ip", ip: "10.0.0.7" });
		for (const bad of ["prod", "prod/", "/db", "Prod/db", "a/b/c", "prod/db_0"]) {
			expect(usageError(() => parsePodRef(bad))).toBe(
				`--pod ${JSON.stringify(bad)}: expected NAMESPACE/NAME (e.g. prod/db-0) or a pod IP address`,
			);
		}
	});
});

describe("explain document and text", () => {
	const state = fixtureState();
	const run = (src: string, dst: string, proto: string, port?: string) => {
		const flow = parseFlow({ src, dst, proto, port });
		return explainDoc(state, flow, explain(state, flow));
	};

	test("allowed by a rule: the rule is named", () => {
		const d = run("10.0.0.5", "10.0.0.7", "tcp", "8080");
		expect(d.verdict).toBe("allowed");
		expect(d.flow).toEqual({ src: "10.0.0.5", dst: "10.0.0.7", protocol: "TCP", port: 8080 });
		expect(d.checks.map((c) => [c.direction, c.verdict, c.rule])).toEqual([
			["egress", "allowed", null],
			["ingress", "allowed", "prod/allow-fe ingress[0]"],
		]);
		expect(d.src).toEqual({
			ip: "10.0.0.5",
			identity: 256,
			name: "pod prod/role=frontend",
			cidr: "10.0.0.5/32",
			local: true,
			isolation: { ingress: false, egress: false },
		});
		expect(renderExplain(d).split("\n")).toEqual([
			"10.0.0.5 -> 10.0.0.7 TCP 8080: ALLOWED",
			`  ${d.reason}`,
			"  source       10.0.0.5: pod prod/role=frontend (identity 256), local pod, not isolated",
			"  destination  10.0.0.7: pod prod/app=db (identity 257), local pod, isolated for ingress and egress",
			"  at egress of pod prod/role=frontend: allowed: prod/role=frontend is not selected by any policy for egress",
			"  at ingress of pod prod/app=db: allowed by prod/allow-fe ingress[0]",
		]);
	});

	test("dropped: the reason names the port and the peer", () => {
		const d = run("10.0.0.7", "10.1.2.3", "udp", "53");
		expect(d.verdict).toBe("dropped");
		expect(d.reason).toContain("no rule allows cidr 10.1.0.0/16 on UDP 53");
		expect(renderExplain(d).split("\n")[0]).toBe("10.0.0.7 -> 10.1.2.3 UDP 53: DROPPED");
	});
});
