import { describe, expect, test } from "bun:test";
import { fixtureAgent, fixtureInput } from "./fixture.ts";
import { buildDump } from "./model.ts";
import { bytes, renderDump } from "./render.ts";

describe("policy dump text", () => {
	test("bytes are human sized", () => {
		expect([bytes(0), bytes(1023), bytes(1536), bytes(5 * 1024 ** 3)]).toEqual([
			"0 B",
			"1023 B",
			"1.5 KiB",
			"5.0 GiB",
		]);
	});

	test("the whole dump (no colour off a TTY)", () => {
		const text = renderDump(buildDump(fixtureInput()));
		expect(text).not.toContain("\x1b[");
		const lines = text.split("\n");
		expect(lines[0]).toBe("pin root /sys/fs/bpf/terway");
		expect(lines).toContain("IDENTITIES");
		expect(lines).toContain("16777216  cidr 10.0.0.0/8                   10.0.0.0/8");
		expect(text).toContain(
			[
				"pod prod/app=db (identity 257): 10.0.0.7, 10.0.0.8",
				"  ingress: isolated by prod/allow-fe (default deny); allowed 5 (500 B), dropped 2 (120 B)",
				"    ingress from pod prod/role=frontend on TCP 8080 (prod/allow-fe ingress[0])",
				"    ingress from pod prod/role=frontend on TCP 9000-9003 (prod/allow-fe ingress[1])",
				"  egress: isolated by prod/db-egress, prod/dns (default deny); allowed 0 (0 B), dropped 0 (0 B)",
				"    egress to cidr 10.0.0.0/8 except 10.1.0.0/16 on any port (prod/db-egress egress[0])",
				"    egress to pod kube-system/k8s-app=kube-dns on TCP 53, UDP 53 (prod/dns egress[0])",
				"  interfaces (ifindex): 13, 14",
			].join("\n"),
		);
		expect(text).toContain(
			[
				"pod prod/role=frontend (identity 256): 10.0.0.5, fd00::5",
				"  ingress: not isolated (everything allowed); allowed 2 (200 B), dropped 0 (0 B)",
				"  egress: not isolated (everything allowed); allowed 3 (300 B), dropped 0 (0 B)",
			].join("\n"),
		);
		expect(text).toContain(
			[
				"IFINDEX  NAME      ADDRESSES          ENDPOINT  IN ALLOWED  IN DROPPED  OUT ALLOWED  OUT DROPPED",
				"12       cali-fe0  10.0.0.5, fd00::5  256       2           0           3            0",
				"13       -         10.0.0.7           257       5           2           0            0",
				"14       cali-db1  10.0.0.8           257       0           0           0            0",
			].join("\n"),
		);
		expect(
			text.endsWith(
				"RECENT DROPS\n2026-11-27T06:10:00.123Z 10.0.0.5:40000 -> 10.0.0.7:5432 TCP dropped by policy-ingress of pod prod/app=db (peer pod prod/role=frontend, if 13)",
			),
		).toBe(true);
	});

	test("terwayd's policy statuses when it answers, and a note when it does not", () => {
		const up = renderDump(buildDump({ ...fixtureInput(), agent: fixtureAgent() }));
		expect(up).toContain(
			[
				"POLICIES",
				"terwayd on /var/run/terway/terwayd.sock, last map write 2026-11-27T06:09:59.000Z",
				"POLICY         STATUS   MESSAGE",
				"prod/allow-fe  applied  applied: selects 2 local pods, 2 entries",
				'prod/bad       error    ingress[0].from[0].ipBlock.cidr "10.0.0.0/33": not a CIDR',
				"",
				"IDENTITIES",
			].join("\n"),
		);
		const off = renderDump(
			buildDump({
				...fixtureInput(),
				agent: { ...fixtureAgent(), enabled: false, reason: "standalone mode" },
			}),
		);
		expect(off).toContain(
			"POLICIES\nterwayd on /var/run/terway/terwayd.sock: network policy is off: standalone mode\n",
		);
		expect(renderDump(buildDump(fixtureInput()))).toContain(
			"POLICIES\nterwayd did not answer: policy statuses not shown (the maps below are what is enforced)\n",
		);
	});

	test("an isolated endpoint without rules says nothing is allowed", () => {
		const input = fixtureInput();
		input.state.policy.clear();
		const text = renderDump(buildDump(input, { ref: "prod/db-0", addresses: ["10.0.0.7"] }));
		expect(text.split("\n")[0]).toBe("pin root /sys/fs/bpf/terway, pod prod/db-0 (10.0.0.7)");
		expect(text).toContain(
			"  ingress: isolated by prod/allow-fe (default deny); allowed 5 (500 B), dropped 2 (120 B)\n    nothing allowed",
		);
	});
});
