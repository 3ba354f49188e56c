/**
 * Root suite for the plan executor's `bpf` op (src/linux/apply.ts): a program pinned under a
 * pin root (the counter program standing in for terwayd's policy programs) attached to the host
 * side of a real veth by BPF_OBJ_GET of its pin, both directions, with pinned TCX links;
 * re-apply changes nothing; CHECK reports a missing attachment; teardown detaches and unpins
 * every link (also when the veth went first: the defunct pins are swept); a missing program pin
 * is a clear error and rolls the plan back. Everything carries prefixFor("ab"); pins live
 * under /sys/fs/bpf/<prefix>.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, rmSync } from "node:fs";
import { checkPlan, formatOp, type Op, type Plan } from "../../src/core/datapath/index.ts";
import { openHandles } from "../../src/ffi/handles.ts";
import { ApplyError, applyPlan, observe, teardown } from "../../src/linux/apply.ts";
import { Counter, detach, pinProgram } from "../../src/linux/bpf/index.ts";
import { Netns } from "../../src/linux/netns.ts";
import { canRun, cleanupNetns, ipJson, ping, prefixFor, sh } from "../helpers/env.ts";

const P = prefixFor("ab");
const NODE = `${P}-node`;
const POD = `${P}-pod`;
const HOST_LINK = `${P}h1`;
const PIN_ROOT = `/sys/fs/bpf/${P}`;
const PROG = "terway_counter";

function plan(program = PROG, host = HOST_LINK): Plan {
	const ops: Op[] = [
		{
			op: "veth",
			side: "host",
			name: host,
			mac: "ee:ee:ee:ee:ee:ee",
			mtu: 1500,
			peer: { side: "pod", name: "eth0", mtu: 1500 },
		},
		{ op: "up", side: "host", name: host },
		{ op: "addr", side: "host", link: host, cidr: "198.18.30.1/24" },
		{ op: "addr", side: "pod", link: "eth0", cidr: "198.18.30.2/24" },
		{ op: "up", side: "pod", name: "eth0" },
		{ op: "bpf", side: "host", link: host, direction: "ingress", program },
		{ op: "bpf", side: "host", link: host, direction: "egress", program },
	];
	return { datapath: "veth", ops, hostLink: host, podLink: "eth0", notes: [], pinRoot: PIN_ROOT };
}

const linkPins = (): string[] => {
	try {
		return readdirSync(`${PIN_ROOT}/links`);
	} catch {
		return [];
	}
};

let node: Netns;
let pod: Netns;
let counter: Counter | undefined;

describe.skipIf(!canRun("tests/bpf/apply-bpf.test.ts"))(
	"plan executor: bpf op (pinned program, TCX link)",
	() => {
		beforeAll(() => {
			cleanupNetns(P);
			rmSync(PIN_ROOT, { recursive: true, force: true });
			sh(["ip", "netns", "add", NODE]);
			sh(["ip", "netns", "add", POD]);
			node = Netns.open(NODE);
			pod = Netns.open(POD);
			counter = Counter.load({ pinRoot: PIN_ROOT });
			pinProgram(counter.object, PROG, PIN_ROOT);
		});

		afterAll(() => {
			counter?.close();
			node?.close();
			pod?.close();
			cleanupNetns(P);
			rmSync(PIN_ROOT, { recursive: true, force: true });
			expect(openHandles()).toEqual([]);
		});

		test("apply attaches the pinned program both ways with pinned links; re-apply changes nothing; traffic passes and is counted", () => {
			const rep = applyPlan(plan(), { host: node, pod });
			expect(rep.outcomes.filter((o) => o.op.op === "bpf").map((o) => o.changed)).toEqual([true, true]);
			expect(linkPins()).toHaveLength(2);
			expect(checkPlan(plan(), observe(plan(), { host: node, pod }))).toEqual([]);
			const again = applyPlan(plan(), { host: node, pod });
			expect(again.outcomes.filter((o) => o.changed)).toEqual([]);
			expect(ping(POD, "198.18.30.1")).toBe(true);
			// the program on the host link saw the pings (its own per-ifindex counters)
			const ifindex = ipJson<{ ifindex: number }[]>(NODE, ["link", "show", HOST_LINK])[0]!.ifindex;
			expect(counter!.maps.statsFor(ifindex).packets).toBeGreaterThan(0n);
		});

		test("CHECK names a missing attachment", () => {
			// someone removed the ingress attachment (detached, then unpinned)
			expect(
				detach({ ns: node, ifName: HOST_LINK, direction: "ingress" }, { pinRoot: PIN_ROOT }).changed,
			).toBe(true);
			expect(checkPlan(plan(), observe(plan(), { host: node, pod }))).toEqual([
				`host: bpf program ${PROG} is not attached to ${HOST_LINK} ingress`,
			]);
			// apply repairs it
			applyPlan(plan(), { host: node, pod });
			expect(checkPlan(plan(), observe(plan(), { host: node, pod }))).toEqual([]);
		});

		test("teardown detaches and unpins both links before the veth goes; twice is fine", () => {
			const { removed } = teardown(plan(), { host: node, pod });
			expect(removed.filter((r) => r.includes("bpf"))).toEqual(
				plan()
					.ops.filter((o) => o.op === "bpf")
					.reverse()
					.map(formatOp),
			);
			expect(linkPins()).toEqual([]);
			expect(sh(["ip", "-n", NODE, "link", "show", HOST_LINK], { allowFail: true }).code).not.toBe(0);
			expect(teardown(plan(), { host: node, pod }).removed).toEqual([]);
		});

		test("the veth deleted first: teardown still removes the defunct link pins", () => {
			applyPlan(plan(), { host: node, pod });
			expect(linkPins()).toHaveLength(2);
			sh(["ip", "-n", NODE, "link", "del", HOST_LINK]);
			const { removed } = teardown(plan(), { host: node, pod });
			expect(removed.some((r) => r.includes("bpf"))).toBe(true);
			expect(linkPins()).toEqual([]);
		});

		test("a program that is not pinned: one clear error, the plan rolled back", () => {
			let err: unknown;
			try {
				applyPlan(plan("terway_pol_from"), { host: node, pod });
			} catch (e) {
				err = e;
			}
			expect(err).toBeInstanceOf(ApplyError);
			expect((err as ApplyError).message).toContain(
				`program terway_pol_from is not pinned at ${PIN_ROOT}/progs/terway_pol_from`,
			);
			expect((err as ApplyError).rollbackErrors).toEqual([]);
			expect(sh(["ip", "-n", NODE, "link", "show", HOST_LINK], { allowFail: true }).code).not.toBe(0);
			expect(linkPins()).toEqual([]);
			expect(existsSync(`${PIN_ROOT}/progs/${PROG}`)).toBe(true);
		});
	},
);
