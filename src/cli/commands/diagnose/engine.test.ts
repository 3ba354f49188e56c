/**
 * The checks engine with injected ports (no daemon, cloud or kernel): each layer's disagreement
 * becomes the finding that names it, with its fix; a healthy node gives no warn/error.
 */
import { describe, expect, test } from "bun:test";
import type { Eni } from "../../../cloud/types.ts";
import { CloudApiError } from "../../../cloud/types.ts";
import type { HostView } from "../../../core/datapath/leftovers.ts";
import { hostVethName } from "../../../core/datapath/names.ts";
import type { NsState, Plan } from "../../../core/datapath/types.ts";
import type { AllocResponse, GcReport, MappingRow, StatusResponse } from "../../../daemon/api-types.ts";
import { ExitError } from "../../errors.ts";
import type { DiagnoseDeps, KernelPort } from "./context.ts";
import { runChecks } from "./engine.ts";
import type { DiagnoseReport } from "./findings.ts";
import { podPath, renderPodPath } from "./pod.ts";
import { WEB_CONTAINER_ID as CID, eniInfo, webRow as row, status } from "./testkit.ts";

const SOCK = "/run/test/terwayd.sock";
const alloc: AllocResponse = {
	pod: { namespace: "default", name: "web" },
	containerId: CID,
	ipv4: { ip: "10.0.1.5", prefixLen: 24, gateway: "10.0.1.253", cidr: "10.0.1.0/24" },
	eni: { id: "eni-1", mac: "00:16:3e:00:00:01", link: "eth1", ifindex: 3 },
	routeTable: 1003,
	datapath: "veth",
	serviceCidrs: [],
	existing: true,
};

const noGc: GcReport = { allocations: [], enis: [], ips: [], applied: false };

/** The host state in which every host op of `plan` is in place. */
function satisfied(plan: Plan, drop: (o: Plan["ops"][number]) => boolean = () => false): NsState {
	const st: NsState = { links: [], addrs: [], routes: [], rules: [], neighs: [], sysctls: {}, qdiscs: [] };
	for (const o of plan.ops) {
		if (o.side !== "host" || drop(o)) continue;
		if (o.op === "veth") st.links.push({ name: o.name, kind: "veth", mac: o.mac, mtu: o.mtu, up: true });
		if (o.op === "addr") st.addrs.push({ link: o.link, cidr: o.cidr });
		if (o.op === "route")
			st.routes.push({
				family: o.family,
				dst: o.dst,
				...(o.gateway ? { gateway: o.gateway } : {}),
				dev: o.dev,
				onlink: Boolean(o.onlink),
				table: o.table ?? 254,
			});
		if (o.op === "rule")
			st.rules.push({
				family: o.family,
				priority: o.priority,
				...(o.from ? { from: o.from } : {}),
				...(o.to ? { to: o.to } : {}),
				table: o.table,
				action: "to-table",
			});
		if (o.op === "sysctl") st.sysctls[o.key] = o.value;
	}
	return st;
}

type World = {
	daemon: Record<string, unknown> | Error;
	ecs?: (filter: { tags?: unknown }) => Eni[];
	kernel?: Partial<KernelPort>;
	conflist?: string | undefined;
	hostView?: HostView;
};

const CONFLIST = JSON.stringify({
	cniVersion: "1.1.0",
	name: "terway",
	plugins: [{ type: "terway", eniip_virtual_type: "Veth" }],
});

function deps(w: World): DiagnoseDeps {
	const emptyView: HostView = { links: [], routes: [], rules: [] };
	const kernel: KernelPort = {
		hostView: () => w.hostView ?? emptyView,
		observeHost: (plan) => satisfied(plan),
		routes: () => [],
		...w.kernel,
	};
	return {
		socket: SOCK,
		daemon: {
			async get<T>(path: string): Promise<T> {
				if (w.daemon instanceof Error) throw w.daemon;
				const p = path.replace(/\?.*$/, "");
				if (!(p in w.daemon)) throw new ExitError(`terwayd: GET ${path}: 404 NotFound`);
				return w.daemon[p] as T;
			},
		},
		metadata: {
			token: async () => "t",
			instanceId: async () => "i-1",
			macs: async () => ["00:16:3e:00:00:00", "00:16:3e:00:00:01"],
		} as unknown as DiagnoseDeps["metadata"],
		metadataUrl: "http://100.100.100.200",
		cloud: async () => ({
			ecs: { describeEnis: async (f) => (w.ecs ? w.ecs(f) : []) },
			credentials: {
				source: "env",
				get: async () => ({ accessKeyId: "a", accessKeySecret: "s" }),
				describe: () => "env AccessKeyId a",
			},
		}),
		kernel,
		conflist: () => ({
			path: "/etc/cni/net.d/10-terway.conflist",
			...(w.conflist === undefined
				? {}
				: { file: { path: "/etc/cni/net.d/10-terway.conflist", text: w.conflist } }),
		}),
		eniConfig: async () => ({ datapath: "veth", source: "ConfigMap kube-system/eni-config" }),
		timeoutMs: 1000,
	};
}

const healthy = (): Record<string, unknown> => ({
	"/v1/status": status,
	"/v1/mapping": [row],
	"/v1/enis": [eniInfo],
	"/v1/gc": noGc,
	"/v1/pods/default/web": alloc,
});

const problems = (r: DiagnoseReport) =>
	r.findings
		.filter((f) => f.severity === "warn" || f.severity === "error")
		.map((f) => `${f.id} ${f.subject}`);

describe("diagnose engine", () => {
	test("a healthy node: every check ok, no warn/error, exit code 0", async () => {
		const r = await runChecks(deps({ daemon: healthy(), conflist: CONFLIST }));
		expect(problems(r)).toEqual([]);
		expect(r.problems).toBe(false);
		expect(r.node).toBe("node-1");
		expect(r.checks).toEqual(["daemon", "cloud", "metadata", "pool", "mapping", "leaks", "config", "ebpf"]);
		expect(r.findings.find((f) => f.id === "ebpf.maps")?.message).toContain("policy maps not found");
	});

	test("dead daemon: daemon.reachable error with how to start it; daemon-backed checks skipped", async () => {
		const down = new ExitError(
			`terwayd is not reachable on ${SOCK} (no socket there); start it with \`terwayctl daemon\` (or check the terway DaemonSet pod), or pass --socket`,
		);
		const r = await runChecks(deps({ daemon: down, conflist: CONFLIST }));
		expect(problems(r)).toEqual([`daemon.reachable ${SOCK}`]);
		const f = r.findings.find((x) => x.id === "daemon.reachable")!;
		expect(f).toMatchObject({ layer: "daemon", severity: "error" });
		expect(f.message).toBe(`terwayd is not reachable on ${SOCK} (no socket there)`);
		expect(f.fix).toContain("terwayctl daemon");
		for (const id of ["pool.watermarks", "mapping", "leak"])
			expect(r.findings.find((x) => x.id === id)?.severity).toBe("info");
		// the cloud and metadata are still checked (the instance id from metadata)
		expect(r.findings.find((x) => x.id === "cloud.credentials")?.severity).toBe("ok");
	});

	test("an IP the cloud dropped: mapping.cloud error naming the layer and the pod's fix", async () => {
		const bad: MappingRow = {
			...row,
			checks: { store: true, cloud: false, metadata: false, kernel: true },
			problems: [
				"the cloud does not list 10.0.1.5 on eni-1",
				"metadata does not list 10.0.1.5 on 00:16:3e:00:00:01",
			],
		};
		const r = await runChecks(deps({ daemon: { ...healthy(), "/v1/mapping": [bad] }, conflist: CONFLIST }));
		expect(problems(r)).toEqual(["mapping.cloud default/web"]);
		const f = r.findings.find((x) => x.id === "mapping.cloud")!;
		expect(f.layer).toBe("cloud");
		expect(f.message).toContain("[disagrees: cloud, metadata]");
		expect(f.fix).toContain("kubectl delete pod -n default web");
	});

	test("a deleted pod rule: kernel.pod-datapath error with the rule to add back", async () => {
		const kernel: Partial<KernelPort> = {
			observeHost: (plan) => satisfied(plan, (o) => o.op === "rule" && o.priority === 2048),
		};
		const r = await runChecks(deps({ daemon: healthy(), kernel, conflist: CONFLIST }));
		expect(problems(r)).toEqual(["kernel.pod-datapath default/web"]);
		const f = r.findings.find((x) => x.id === "kernel.pod-datapath" && x.severity === "error")!;
		expect(f.layer).toBe("kernel");
		expect(f.message).toContain("rule 2048 from 10.0.1.5/32 lookup 1003 is missing");
		expect(f.fix).toContain("ip -4 rule add prio 2048 from 10.0.1.5/32 lookup 1003");
	});

	test("rejected credentials: cloud.credentials error with the code and the AccessKey fix", async () => {
		const ecs = () => {
			throw new CloudApiError({
				code: "InvalidAccessKeyId.NotFound",
				message: "Specified access key is not found.",
				action: "DescribeNetworkInterfaces",
				requestId: "r-1",
			});
		};
		const r = await runChecks(deps({ daemon: healthy(), ecs, conflist: CONFLIST }));
		const f = r.findings.find((x) => x.id === "cloud.credentials")!;
		expect(f).toMatchObject({ layer: "cloud", severity: "error" });
		expect(f.message).toContain("InvalidAccessKeyId.NotFound");
		expect(f.fix).toContain("ALIBABA_CLOUD_ACCESS_KEY_ID");
	});

	test("leaks: GC candidates, an unknown tagged ENI, a stray veth and rule", async () => {
		const gc: GcReport = {
			allocations: [{ pod: "default/gone", containerId: "abc", reason: "pod no longer exists" }],
			enis: [],
			ips: [],
			applied: false,
		};
		const stray: Eni = {
			eniId: "eni-9",
			status: "InUse",
			type: "Secondary",
			mac: "00:16:3e:00:00:09",
			instanceId: "i-1",
			vswitchId: "vsw-1",
			zoneId: "z",
			primaryIp: "10.0.1.9",
			ipv4s: ["10.0.1.9"],
			ipv6s: [],
			ipv4Prefixes: [],
			ipv6Prefixes: [],
			securityGroupIds: [],
			tags: { creator: "terway" },
		};
		const hostView: HostView = {
			links: [{ name: "cali0123456789a", index: 9, kind: "veth" }],
			routes: [],
			rules: [{ family: 4, priority: 2048, table: 1003, action: "to-table", from: "10.0.1.77/32" }],
		};
		const r = await runChecks(
			deps({
				daemon: { ...healthy(), "/v1/gc": gc },
				ecs: (f) => (f.tags ? [stray] : []),
				hostView,
				conflist: CONFLIST,
			}),
		);
		expect(problems(r).sort()).toEqual([
			"leak.allocation default/gone",
			"leak.eni eni-9",
			"leak.rule 10.0.1.77/32",
			"leak.veth cali0123456789a",
		]);
	});

	test("conflist: missing, not terway, datapath mismatch", async () => {
		const missing = await runChecks(deps({ daemon: healthy() }));
		expect(problems(missing)).toContain("config.conflist /etc/cni/net.d/10-terway.conflist");
		const ptp = JSON.stringify({ cniVersion: "1.0.0", name: "x", plugins: [{ type: "ptp" }] });
		const other = await runChecks(deps({ daemon: healthy(), conflist: ptp }));
		expect(other.findings.find((f) => f.id === "config.conflist")?.message).toContain('not "terway"');
		const v2 = CONFLIST.replace("Veth", "IPVlan");
		const mismatch = await runChecks(deps({ daemon: healthy(), conflist: v2 }));
		expect(problems(mismatch)).toEqual(["config.datapath /etc/cni/net.d/10-terway.conflist"]);
	});

	test("pool below min_pool_size and an allocation pause are warnings with fixes", async () => {
		const st: StatusResponse = {
			...status,
			pool: { ...status.pool, idle: 0 },
			inhibit: { reason: "InvalidVSwitchId.IpNotEnough", until: "2026-01-01T00:01:00Z" },
		};
		const r = await runChecks(deps({ daemon: { ...healthy(), "/v1/status": st }, conflist: CONFLIST }));
		expect(problems(r).sort()).toEqual(["pool.inhibit node-1", "pool.watermarks node-1"]);
		expect(r.findings.find((f) => f.id === "pool.inhibit")?.fix).toContain("vSwitches");
	});

	test("pool.watermarks: exclusive mode info, above max warn, at capacity or within ok", async () => {
		const watermarks = async (st: Partial<StatusResponse>) => {
			const daemon = { ...healthy(), "/v1/status": { ...status, ...st } };
			const r = await runChecks(deps({ daemon, conflist: CONFLIST }));
			const f = r.findings.find((x) => x.id === "pool.watermarks")!;
			return { severity: f.severity, message: f.message, fix: f.fix, pool: f.details?.pool !== undefined };
		};
		const p = status.pool;
		expect(await watermarks({ mode: "exclusive" })).toEqual({
			severity: "info",
			message: "exclusive ENI mode: no shared IP pool (1 ENI(s))",
			fix: "",
			pool: false,
		});
		const above = await watermarks({ pool: { ...p, idle: 6 } });
		expect(above).toMatchObject({ severity: "warn", pool: true });
		expect(above.message).toStartWith("pool above max_pool_size: idle 6, allocated 1, capacity 12");
		expect(above.fix).toContain("UnassignPrivateIpAddresses");
		const full = await watermarks({ pool: { ...p, idle: 0, allocated: 12 } });
		expect(full).toMatchObject({ severity: "ok", fix: "", pool: true });
		expect(full.message).toStartWith("pool at capacity: idle 0");
		const within = await watermarks({});
		expect(within).toMatchObject({ severity: "ok", fix: "", pool: true });
		expect(within.message).toBe(
			"pool within watermarks: idle 2, allocated 1, capacity 12, 1 ENI(s); min_pool_size 1, max_pool_size 5",
		);
		const below = await watermarks({ pool: { ...p, idle: 0 } });
		expect(below).toMatchObject({ severity: "warn", pool: true });
		expect(below.fix).toContain("terwayd refills the pool");
	});

	test("a check that throws becomes one error finding, the run goes on", async () => {
		const kernel: Partial<KernelPort> = {
			hostView: () => {
				throw new Error("netlink: EPERM");
			},
		};
		const r = await runChecks(deps({ daemon: healthy(), kernel, conflist: CONFLIST }));
		expect(problems(r)).toEqual(["leaks.failed "]);
		expect(r.findings.find((f) => f.id === "leaks.failed")?.message).toContain("netlink: EPERM");
		expect(r.findings.some((f) => f.id === "config.conflist")).toBe(true);
	});

	test("eBPF: a pod IP missing from the identity map and a policy that did not compile are warnings", async () => {
		const policy = () => ({
			where: "/sys/fs/bpf/terway",
			entries: { ips: 3, policy: 2 },
			localPod: (ip: string) => ip !== "10.0.1.5",
			explain: () => ({ allowed: true, reason: "not isolated" }),
		});
		const agent = {
			enabled: true,
			policies: [{ policy: "default/deny", ok: false, message: "ipBlock.cidr 10.0.0.0/33: invalid" }],
			identities: 3,
			entries: { ips: 3, policy: 2 },
			syncs: 1,
		};
		const d = { ...deps({ daemon: { ...healthy(), "/v1/policy": agent }, conflist: CONFLIST }), policy };
		const r = await runChecks(d);
		expect(problems(r).sort()).toEqual(["ebpf.identity default/web", "ebpf.policy default/deny"]);
		expect(r.findings.find((f) => f.id === "ebpf.maps")).toMatchObject({
			severity: "ok",
			subject: "/sys/fs/bpf/terway",
		});
	});

	test("eBPF: no maps and terwayd says policy is off: one info finding with its reason", async () => {
		const agent = {
			enabled: false,
			reason: "standalone",
			policies: [],
			identities: 0,
			entries: { ips: 0, policy: 0 },
			syncs: 0,
		};
		const r = await runChecks(deps({ daemon: { ...healthy(), "/v1/policy": agent }, conflist: CONFLIST }));
		expect(r.findings.find((f) => f.id === "ebpf.maps")).toMatchObject({
			severity: "info",
			message:
				"policy maps not found: NetworkPolicy is not enforced on this node (terwayd: network policy is off: standalone)",
		});
	});

	test("progress is reported once per check, in order", async () => {
		const seen: string[] = [];
		await runChecks(deps({ daemon: healthy(), conflist: CONFLIST }), {
			progress: (i, n, title) => seen.push(`${i + 1}/${n} ${title}`),
		});
		expect(seen[0]).toBe("1/8 terwayd reachable and ready");
		expect(seen).toHaveLength(8);
	});
});

describe("diagnose pod", () => {
	const veth = hostVethName(CID, "eth0");
	const hostView: HostView = {
		links: [{ name: veth, index: 7, kind: "veth" }],
		routes: [{ family: 4, dst: "10.0.1.5/32", dev: veth }],
		rules: [
			// terwayd's ENI-primary rule only takes the node's own packets: not the pod's way out
			{ family: 4, priority: 512, table: 1003, action: "to-table", from: "10.0.1.5/32", iif: "lo" },
			{ family: 4, priority: 512, table: 254, action: "to-table", to: "10.0.1.5/32" },
			{ family: 4, priority: 2048, table: 1003, action: "to-table", from: "10.0.1.5/32" },
		],
	};
	const kernel: Partial<KernelPort> = {
		routes: (table) =>
			table === 1003 ? [{ family: 4 as const, dst: "default", gateway: "10.0.1.253", dev: "eth1" }] : [],
	};

	test("the way out and in, read from the kernel, and the policy verdict for a peer", async () => {
		const d = {
			...deps({ daemon: healthy(), kernel, hostView, conflist: CONFLIST }),
			policy: () => ({
				where: "/sys/fs/bpf/terway",
				entries: { ips: 2, policy: 1 },
				localPod: () => true,
				explain: (q: { from: string; to: string; port?: number; proto?: string }) => ({
					allowed: false,
					reason: `egress of ${q.from} to ${q.to}:${q.port} (${q.proto}) is isolated by default/deny`,
				}),
			}),
		};
		const p = await podPath(d, { pod: "default/web", to: "10.0.2.7:80", proto: "tcp" });
		expect(p).toMatchObject({
			pod: "default/web",
			ips: ["10.0.1.5"],
			hostVeth: veth,
			routeTable: 1003,
			problems: false,
		});
		expect(p.paths).toEqual([
			{
				ip: "10.0.1.5",
				egress: {
					rule: "2048: from 10.0.1.5/32 lookup 1003",
					table: 1003,
					routes: ["default via 10.0.1.253 dev eth1"],
				},
				ingress: {
					rule: "512: to 10.0.1.5/32 lookup main",
					table: "main",
					routes: [`10.0.1.5/32 dev ${veth}`],
				},
			},
		]);
		expect(p.policy).toEqual({
			to: "10.0.2.7",
			port: 80,
			proto: "TCP",
			verdict: {
				allowed: false,
				reason: "egress of 10.0.1.5 to 10.0.2.7:80 (TCP) is isolated by default/deny",
			},
		});
		expect(renderPodPath(p)).toContain("policy    TCP 10.0.2.7:80: dropped (egress of 10.0.1.5");
	});

	test("an unknown pod is one readable error (exit 1)", async () => {
		const d = deps({ daemon: healthy(), kernel, hostView, conflist: CONFLIST });
		const err = await podPath(d, { pod: "default/nope" }).catch((e) => e);
		expect(err).toBeInstanceOf(ExitError);
		expect((err as ExitError).exitCode).toBe(1);
		expect((err as ExitError).message).toContain("terwayd holds no allocation for pod default/nope");
	});
});
