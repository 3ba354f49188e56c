/**
 * The harness driven with injected env, stdin and stdout (cni pkg/skel skel_test.go style): no
 * processes. Every missing or invalid env var and config field maps to the right code with a
 * message naming it; the handler is never reached in those cases.
 */
import { describe, expect, test } from "bun:test";
import { CniError } from "../core/cni/errors.ts";
import type { Result } from "../core/cni/types.ts";
import { SUPPORTED_VERSIONS } from "../core/cni/version.ts";
import { DaemonApiError, DaemonUnavailableError, DriftError } from "./errors.ts";
import { nullLogger } from "./log.ts";
import { mapError } from "./main.ts";
import {
	type CmdArgs,
	type CniHandlers,
	type GcArgs,
	parseCniArgs,
	runSkel,
	type StatusArgs,
} from "./skel.ts";

const CONF = { cniVersion: "1.0.0", name: "terway", type: "terway" };
const ENV = {
	CNI_COMMAND: "ADD",
	CNI_CONTAINERID: "abc123",
	CNI_NETNS: "/run/netns/pod1",
	CNI_IFNAME: "eth0",
	CNI_PATH: "/opt/cni/bin",
	CNI_ARGS: "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0;K8S_POD_INFRA_CONTAINER_ID=abc123",
};

const RESULT: Result = {
	cniVersion: "1.1.0",
	interfaces: [{ name: "eth0", mac: "02:00:00:00:00:01", sandbox: "/run/netns/pod1" }],
	ips: [{ address: "10.0.1.5/32", gateway: "169.254.1.1", interface: 0 }],
};

type Call = { cmd: string; args: CmdArgs | StatusArgs | GcArgs };

async function run(
	env: Record<string, string | undefined>,
	stdin: unknown = CONF,
	handlers: Partial<CniHandlers> = {},
	extra: { ownNetns?: string } = {},
) {
	const calls: Call[] = [];
	let out = "";
	let err = "";
	const h: CniHandlers = {
		add: async (a) => {
			calls.push({ cmd: "ADD", args: a });
			return RESULT;
		},
		del: async (a) => {
			calls.push({ cmd: "DEL", args: a });
		},
		check: async (a) => {
			calls.push({ cmd: "CHECK", args: a });
		},
		status: async (a) => {
			calls.push({ cmd: "STATUS", args: a });
		},
		gc: async (a) => {
			calls.push({ cmd: "GC", args: a });
		},
		...handlers,
	};
	const code = await runSkel({
		handlers: h,
		ports: {
			getenv: (n) => env[n],
			readStdin: async () => (typeof stdin === "string" ? stdin : JSON.stringify(stdin)),
			writeStdout: (t) => {
				out += t;
			},
			writeStderr: (t) => {
				err += t;
			},
			isOwnNetns: (p) => p === extra.ownNetns,
		},
		mapError,
		about: "terway test",
		log: nullLogger,
	});
	const json = out ? JSON.parse(out) : undefined;
	return { code, out, err, json, calls };
}

describe("environment", () => {
	for (const cmd of ["ADD", "CHECK"]) {
		for (const name of ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"]) {
			test(`${cmd} without ${name} -> 4 naming it`, async () => {
				const r = await run({ ...ENV, CNI_COMMAND: cmd, [name]: undefined }, { ...CONF, prevResult: RESULT });
				expect(r.code).toBe(1);
				expect(r.json.code).toBe(4);
				expect(r.json.msg).toContain(name);
				expect(r.calls).toEqual([]);
			});
		}
	}

	test("DEL needs no CNI_NETNS", async () => {
		const r = await run({ ...ENV, CNI_COMMAND: "DEL", CNI_NETNS: "" });
		expect(r.code).toBe(0);
		expect(r.out).toBe("");
		expect(r.calls.map((c) => c.cmd)).toEqual(["DEL"]);
		expect((r.calls[0]!.args as CmdArgs).netns).toBe("");
	});

	for (const name of ["CNI_CONTAINERID", "CNI_IFNAME", "CNI_PATH"]) {
		test(`DEL without ${name} -> 4`, async () => {
			const r = await run({ ...ENV, CNI_COMMAND: "DEL", [name]: "" });
			expect(r.json.code).toBe(4);
			expect(r.json.msg).toContain(name);
		});
	}

	test("all missing ones are listed together", async () => {
		const r = await run({ CNI_COMMAND: "ADD" });
		expect(r.json.msg).toBe("required env variables [CNI_CONTAINERID,CNI_NETNS,CNI_IFNAME,CNI_PATH] missing");
	});

	const invalid: [string, string, string][] = [
		["CNI_CONTAINERID", "-abc", "CNI_CONTAINERID"],
		["CNI_CONTAINERID", "a b", "CNI_CONTAINERID"],
		["CNI_CONTAINERID", "a/b", "CNI_CONTAINERID"],
		["CNI_IFNAME", "eth0123456789012", "longer than 15 bytes"],
		["CNI_IFNAME", "et/h0", "'/'"],
		["CNI_IFNAME", "eth:0", "CNI_IFNAME"],
		["CNI_IFNAME", "eth 0", "CNI_IFNAME"],
		["CNI_IFNAME", "..", "CNI_IFNAME"],
		["CNI_NETNS", "run/netns/x", "CNI_NETNS"],
		["CNI_ARGS", "K8S_POD_NAME", "not KEY=VALUE"],
		["CNI_ARGS", "FOO=bar", "unknown key FOO"],
		["CNI_ARGS", "IgnoreUnknown=maybe", "IgnoreUnknown"],
		["CNI_ARGS", "K8S_POD_NAMESPACE=Bad_NS", "K8S_POD_NAMESPACE"],
		["CNI_ARGS", "K8S_POD_NAME=UPPER", "K8S_POD_NAME"],
		["CNI_ARGS", "K8S_POD_UID=not a uid", "K8S_POD_UID"],
	];
	for (const [name, value, needle] of invalid) {
		test(`invalid ${name}=${JSON.stringify(value)} -> 4`, async () => {
			const r = await run({ ...ENV, [name]: value });
			expect(r.code).toBe(1);
			expect(r.json.code).toBe(4);
			expect(r.json.msg).toContain(needle);
			expect(r.calls).toEqual([]);
		});
	}

	test("unknown CNI_COMMAND -> 4", async () => {
		const r = await run({ ...ENV, CNI_COMMAND: "FROB" });
		expect(r.json).toEqual({ cniVersion: "1.1.0", code: 4, msg: "unknown CNI_COMMAND: FROB" });
	});

	test("empty CNI_COMMAND prints about and versions on stderr, exit 0, stdout empty", async () => {
		const r = await run({});
		expect(r.code).toBe(0);
		expect(r.out).toBe("");
		expect(r.err).toContain("terway test");
		expect(r.err).toContain("0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0");
	});

	test("CNI_NETNS equal to the plugin's own netns -> 8", async () => {
		const r = await run(ENV, CONF, {}, { ownNetns: "/run/netns/pod1" });
		expect(r.json.code).toBe(8);
	});

	test("CNI_ARGS parsed into pod identity", () => {
		expect(parseCniArgs(ENV.CNI_ARGS)).toEqual({
			ignoreUnknown: true,
			podNamespace: "default",
			podName: "web-0",
			podInfraContainerId: "abc123",
			raw: {
				IgnoreUnknown: "1",
				K8S_POD_NAMESPACE: "default",
				K8S_POD_NAME: "web-0",
				K8S_POD_INFRA_CONTAINER_ID: "abc123",
			},
		});
		expect(parseCniArgs("").raw).toEqual({});
	});
});

describe("VERSION", () => {
	test("works with no other env and empty stdin", async () => {
		const r = await run({ CNI_COMMAND: "VERSION" }, "");
		expect(r.code).toBe(0);
		expect(r.json).toEqual({ cniVersion: "1.1.0", supportedVersions: [...SUPPORTED_VERSIONS] });
	});
	test("echoes the input version", async () => {
		const r = await run({ CNI_COMMAND: "VERSION" }, { cniVersion: "0.4.0" });
		expect(r.json.cniVersion).toBe("0.4.0");
	});
	test("garbage stdin is ignored", async () => {
		const r = await run({ CNI_COMMAND: "VERSION" }, "{not json");
		expect(r.code).toBe(0);
		expect(r.json.supportedVersions).toHaveLength(5);
	});
});

describe("config", () => {
	const bad: [string, unknown, number, string][] = [
		["not JSON", "{", 6, "decoding"],
		["an array", "[]", 6, "JSON object"],
		["no cniVersion", { name: "n", type: "terway" }, 7, "cniVersion"],
		["cniVersion not semver", { ...CONF, cniVersion: "1.0" }, 7, "cniVersion"],
		["unsupported cniVersion", { ...CONF, cniVersion: "0.2.0" }, 1, "0.2.0"],
		["no name", { cniVersion: "1.0.0", type: "terway" }, 7, "name"],
		["bad name", { ...CONF, name: "a/b" }, 7, "name"],
		["no type", { cniVersion: "1.0.0", name: "n" }, 7, "type"],
		["unknown key", { ...CONF, mtuu: 1400 }, 2, "mtuu"],
		["mtu too small", { ...CONF, mtu: 10 }, 7, "mtu"],
		["mtu a string", { ...CONF, mtu: "1500" }, 7, "mtu"],
		["eniip_virtual_type", { ...CONF, eniip_virtual_type: "macvlan" }, 7, "eniip_virtual_type"],
		["host_stack_cidrs element", { ...CONF, host_stack_cidrs: ["10.0.0.0/33"] }, 7, "host_stack_cidrs[0]"],
		["host_stack_cidrs type", { ...CONF, host_stack_cidrs: "10.0.0.0/8" }, 7, "host_stack_cidrs"],
		["disable_host_peer", { ...CONF, disable_host_peer: "yes" }, 7, "disable_host_peer"],
		["vlan_strip_type", { ...CONF, vlan_strip_type: "strip" }, 7, "vlan_strip_type"],
		["bandwidth_mode", { ...CONF, bandwidth_mode: "fq" }, 7, "bandwidth_mode"],
		["enable_network_priority", { ...CONF, enable_network_priority: 1 }, 7, "enable_network_priority"],
		["debug", { ...CONF, debug: "true" }, 7, "debug"],
		["veth_prefix", { ...CONF, veth_prefix: "toolong" }, 7, "veth_prefix"],
		["log_file", { ...CONF, log_file: "rel.log" }, 7, "log_file"],
		["daemon_socket", { ...CONF, daemon_socket: 5 }, 7, "daemon_socket"],
		["symmetric_routing_config", { ...CONF, symmetric_routing_config: [] }, 7, "symmetric_routing_config"],
		["capabilities", { ...CONF, capabilities: { bandwidth: "yes" } }, 7, "capabilities.bandwidth"],
		["runtimeConfig type", { ...CONF, runtimeConfig: 3 }, 7, "runtimeConfig"],
		[
			"bandwidth rate negative",
			{ ...CONF, runtimeConfig: { bandwidth: { egressRate: -1 } } },
			7,
			"runtimeConfig.bandwidth.egressRate",
		],
		[
			"bandwidth rate tiny",
			{ ...CONF, runtimeConfig: { bandwidth: { ingressRate: 10 } } },
			7,
			"runtimeConfig.bandwidth.ingressRate",
		],
		[
			"bandwidth rate beyond tc",
			{ ...CONF, runtimeConfig: { bandwidth: { ingressRate: 1e12 } } },
			7,
			"runtimeConfig.bandwidth.ingressRate",
		],
		[
			"bandwidth unknown key",
			{ ...CONF, runtimeConfig: { bandwidth: { rate: 1000 } } },
			2,
			"runtimeConfig.bandwidth.rate",
		],
		[
			"portMappings port",
			{ ...CONF, runtimeConfig: { portMappings: [{ hostPort: 0, containerPort: 80 }] } },
			7,
			"runtimeConfig.portMappings[0].hostPort",
		],
		[
			"portMappings protocol",
			{ ...CONF, runtimeConfig: { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: "icmp" }] } },
			7,
			"runtimeConfig.portMappings[0].protocol",
		],
		["runtimeConfig.ips", { ...CONF, runtimeConfig: { ips: ["10.0.0.300"] } }, 7, "runtimeConfig.ips[0]"],
		["runtimeConfig.mac", { ...CONF, runtimeConfig: { mac: "zz" } }, 7, "runtimeConfig.mac"],
		["dns", { ...CONF, dns: { nameservers: ["x"] } }, 7, "dns.nameservers[0]"],
		["args", { ...CONF, args: [] }, 7, "args"],
		["ipam", { ...CONF, ipam: {} }, 7, "ipam"],
		["prevResult type", { ...CONF, prevResult: "x" }, 7, "prevResult"],
		["prevResult version", { ...CONF, prevResult: { cniVersion: "9.0.0" } }, 7, "prevResult.cniVersion"],
		[
			"prevResult address",
			{ ...CONF, prevResult: { cniVersion: "1.0.0", ips: [{ address: "10.0.0.1" }] } },
			7,
			"prevResult.ips[0].address",
		],
		[
			"prevResult interface index",
			{ ...CONF, prevResult: { cniVersion: "1.0.0", ips: [{ address: "10.0.0.1/32", interface: 2 }] } },
			7,
			"prevResult.ips[0].interface",
		],
		[
			"prevResult route",
			{ ...CONF, prevResult: { cniVersion: "1.0.0", routes: [{ dst: "default" }] } },
			7,
			"prevResult.routes[0].dst",
		],
	];
	for (const [what, conf, code, needle] of bad) {
		test(`${what} -> ${code} naming ${needle}`, async () => {
			const r = await run(ENV, conf);
			expect(r.code).toBe(1);
			expect(r.json.code).toBe(code);
			expect(r.json.msg).toContain(needle);
			expect(r.calls).toEqual([]);
		});
	}

	test("several bad fields: msg names the first, details every one", async () => {
		const r = await run(ENV, { ...CONF, mtu: 1, debug: "x", host_stack_cidrs: ["a"] });
		expect(r.json.code).toBe(7);
		expect(r.json.msg).toContain("(and 2 more)");
		expect(r.json.details).toContain("mtu 1");
		expect(r.json.details).toContain('debug "x"');
		expect(r.json.details).toContain("host_stack_cidrs[0]");
	});

	test("error JSON carries the config's cniVersion", async () => {
		const r = await run(ENV, { ...CONF, cniVersion: "0.4.0", mtu: 1 });
		expect(r.json.cniVersion).toBe("0.4.0");
	});

	test("a full Terway conflist entry parses with defaults applied", async () => {
		const r = await run(ENV, {
			cniVersion: "0.4.0",
			name: "terway",
			type: "terway",
			capabilities: { bandwidth: true },
			eniip_virtual_type: "IPVlan",
			host_stack_cidrs: ["169.254.20.10/32"],
			bandwidth_mode: "tc",
			network_policy_provider: "ebpf",
			mtu: 0,
			"cni.dev/whatever": 1,
			args: { cni: { x: 1 } },
			runtimeConfig: {
				bandwidth: { ingressRate: 1_000_000, egressRate: 2_000_000, ingressBurst: 0 },
				portMappings: [{ hostPort: 8080, containerPort: 80, protocol: "tcp" }],
				somethingElse: { tolerated: true },
			},
		});
		expect(r.code).toBe(0);
		const a = r.calls[0]?.args as CmdArgs;
		expect(a.conf.terway).toEqual({
			eniipVirtualType: "ipvlan",
			hostStackCidrs: ["169.254.20.10/32"],
			disableHostPeer: false,
			vlanStripType: "filter",
			mtu: 1500,
			bandwidthMode: "tc",
			enableNetworkPriority: false,
			debug: false,
			vethPrefix: "cali",
		});
		expect(a.conf.net.runtimeConfig?.bandwidth).toEqual({
			ingressRate: 1_000_000,
			egressRate: 2_000_000,
			ingressBurst: 0,
		});
		expect(a.conf.net.runtimeConfig?.somethingElse).toEqual({ tolerated: true });
		expect(a.args.podName).toBe("web-0");
		expect(a.path).toEqual(["/opt/cni/bin"]);
	});
});

describe("dispatch and results", () => {
	for (const v of SUPPORTED_VERSIONS) {
		test(`ADD result written in ${v}`, async () => {
			const r = await run(ENV, { ...CONF, cniVersion: v });
			expect(r.code).toBe(0);
			expect(r.json.cniVersion).toBe(v);
			expect(r.json.ips[0].version).toBe(v.startsWith("0.") ? "4" : undefined);
		});
	}

	test("CHECK below 0.4.0 -> 1", async () => {
		const r = await run(
			{ ...ENV, CNI_COMMAND: "CHECK" },
			{ ...CONF, cniVersion: "0.3.1", prevResult: RESULT },
		);
		expect(r.json.code).toBe(1);
		expect(r.json.msg).toContain("CHECK");
	});

	test("CHECK without prevResult -> 7", async () => {
		const r = await run({ ...ENV, CNI_COMMAND: "CHECK" }, CONF);
		expect(r.json.code).toBe(7);
		expect(r.json.msg).toContain("prevResult");
	});

	test("CHECK with a 0.4.0 prevResult gets it in the current schema; stdout empty", async () => {
		const prev = {
			cniVersion: "0.4.0",
			ips: [{ version: "4", address: "10.0.1.5/32", interface: 0 }],
			interfaces: [{ name: "eth0" }],
		};
		const r = await run({ ...ENV, CNI_COMMAND: "CHECK" }, { ...CONF, cniVersion: "0.4.0", prevResult: prev });
		expect(r.code).toBe(0);
		expect(r.out).toBe("");
		expect((r.calls[0]!.args as CmdArgs).conf.net.prevResult?.ips).toEqual([
			{ address: "10.0.1.5/32", interface: 0 },
		]);
	});

	for (const cmd of ["STATUS", "GC"]) {
		test(`${cmd} below 1.1.0 -> 1`, async () => {
			const r = await run({ CNI_COMMAND: cmd, CNI_PATH: "/opt/cni/bin" }, CONF);
			expect(r.json.code).toBe(1);
		});
	}

	test("STATUS needs no container env; no output on success", async () => {
		const r = await run({ CNI_COMMAND: "STATUS" }, { ...CONF, cniVersion: "1.1.0" });
		expect(r.code).toBe(0);
		expect(r.out).toBe("");
		expect(r.calls.map((c) => c.cmd)).toEqual(["STATUS"]);
	});

	test("STATUS with the daemon unreachable -> 50", async () => {
		const r = await run(
			{ CNI_COMMAND: "STATUS" },
			{ ...CONF, cniVersion: "1.1.0" },
			{
				status: async () => {
					throw new DaemonUnavailableError("connect ENOENT");
				},
			},
		);
		expect(r.json.code).toBe(50);
	});

	test("GC needs CNI_PATH, reads both attachment keys, deduplicated", async () => {
		const missing = await run({ CNI_COMMAND: "GC" }, { ...CONF, cniVersion: "1.1.0" });
		expect(missing.json.code).toBe(4);
		expect(missing.json.msg).toContain("CNI_PATH");
		const r = await run(
			{ CNI_COMMAND: "GC", CNI_PATH: "/opt/cni/bin" },
			{
				...CONF,
				cniVersion: "1.1.0",
				"cni.dev/valid-attachments": [{ containerID: "a", ifname: "eth0" }],
				"cni.dev/attachments": [
					{ containerID: "a", ifname: "eth0" },
					{ containerID: "c", ifname: "eth0" },
				],
			},
		);
		expect(r.code).toBe(0);
		expect((r.calls[0]!.args as GcArgs).validAttachments).toEqual([
			{ containerID: "a", ifname: "eth0" },
			{ containerID: "c", ifname: "eth0" },
		]);
	});

	test("GC with a malformed attachment list -> 7 naming the key", async () => {
		const r = await run(
			{ CNI_COMMAND: "GC", CNI_PATH: "/x" },
			{
				...CONF,
				cniVersion: "1.1.0",
				"cni.dev/valid-attachments": [{ containerID: 1 }],
			},
		);
		expect(r.json.code).toBe(7);
		expect(r.json.msg).toContain("cni.dev/valid-attachments[0]");
	});
});

describe("error mapping (main.ts)", () => {
	const cases: [string, unknown, number][] = [
		["daemon unreachable", new DaemonUnavailableError("ECONNREFUSED"), 11],
		["daemon warming", new DaemonApiError("NotReady", "warming up"), 11],
		["IP exhausted", new DaemonApiError("IPExhausted", "vSwitch full"), 100],
		["other daemon error", new DaemonApiError("Internal", "boom"), 101],
		["drift", new DriftError(["route default missing"]), 104],
		["a CniError passes through", new CniError(3, "unknown"), 3],
		["a bug", new TypeError("x is undefined"), 999],
	];
	for (const [what, err, code] of cases) {
		test(`${what} -> ${code}`, async () => {
			const r = await run(ENV, CONF, {
				add: async () => {
					throw err;
				},
			});
			expect(r.code).toBe(1);
			expect(r.json.code).toBe(code);
			expect(r.json.cniVersion).toBe("1.0.0");
		});
	}

	test("the stack of an internal error stays off stdout", async () => {
		const r = await run(ENV, CONF, {
			add: async () => {
				throw new Error("kaboom");
			},
		});
		expect(r.out).not.toContain("    at ");
	});
});

describe("error mapping of datapath failures", () => {
	const applyError = (reason: string, rollbackErrors: string[] = []) =>
		Object.assign(new Error("host: ip link add ...: exists"), { name: "ApplyError", reason, rollbackErrors });
	for (const [reason, code] of [
		["eni-not-found", 102],
		["conflict", 103],
		["kernel", 103],
	] as const) {
		test(`ApplyError ${reason} -> ${code}`, async () => {
			const r = await run(ENV, CONF, {
				add: async () => {
					throw applyError(reason);
				},
			});
			expect(r.json.code).toBe(code);
			expect(r.json.msg).toContain("datapath:");
		});
	}
	test("an incomplete rollback is reported in details", async () => {
		const r = await run(ENV, CONF, {
			add: async () => {
				throw applyError("kernel", ["pod: ip addr add x: EBUSY"]);
			},
		});
		expect(r.json.details).toBe("rollback incomplete: pod: ip addr add x: EBUSY");
	});
});
