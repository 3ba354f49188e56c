/**
 * deploy/: every manifest parses; the DaemonSet has what a node needs; RBAC is exactly the API
 * calls made in src/ (every call site covered, no rule unused); the Helm chart renders the same
 * objects as deploy/terway.yaml (minimal renderer, tests/sim/helm-render.ts: helm is not
 * available offline); the CRDs are the sim's; and `kubectl apply -f deploy/terway.yaml` against a
 * loopback sim's apiserver creates the objects, which read back as written and re-apply unchanged.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import YAML from "yaml";
import { parseEniConf } from "../../src/core/config/eni-config.ts";
import { canRun, prefixFor, sh } from "../helpers/env.ts";
import { renderTemplate } from "./helm-render.ts";

const repo = new URL("../../", import.meta.url).pathname;
const deploy = join(repo, "deploy");

type Obj = {
	apiVersion: string;
	kind: string;
	metadata: { name: string; namespace?: string };
	[k: string]: unknown;
};
type Rule = { apiGroups: string[]; resources: string[]; verbs: string[] };

const docsOf = (text: string): Obj[] =>
	YAML.parseAllDocuments(text).flatMap((d) => {
		if (d.errors.length > 0) throw new Error(d.errors.map((e) => e.message).join("; "));
		const v = d.toJS() as Obj | null;
		return v ? [v] : [];
	});
const manifest = docsOf(readFileSync(join(deploy, "terway.yaml"), "utf8"));
const byKind = (kind: string, name = "terway") => {
	const o = manifest.find((m) => m.kind === kind && m.metadata.name === name);
	if (!o) throw new Error(`deploy/terway.yaml has no ${kind} ${name}`);
	return o;
};
const key = (o: Obj) => `${o.kind}/${o.metadata.namespace ?? ""}/${o.metadata.name}`;

test("every manifest parses and names apiVersion, kind and name; objects live in kube-system", () => {
	const files = [
		"terway.yaml",
		...readdirSync(join(deploy, "crds")).map((f) => `crds/${f}`),
		"helm/terway/Chart.yaml",
		"helm/terway/values.yaml",
	];
	for (const f of files) {
		const docs = docsOf(readFileSync(join(deploy, f), "utf8"));
		expect(docs.length).toBeGreaterThan(0);
		if (f.startsWith("helm/")) continue;
		for (const d of docs) {
			expect(typeof d.apiVersion).toBe("string");
			expect(typeof d.kind).toBe("string");
			expect(typeof d.metadata?.name).toBe("string");
		}
	}
	expect(manifest.map(key).sort()).toEqual(
		[
			"ClusterRole//terway",
			"ClusterRoleBinding//terway",
			"ConfigMap/kube-system/eni-config",
			"DaemonSet/kube-system/terway",
			"Role/kube-system/terway",
			"RoleBinding/kube-system/terway",
			"ServiceAccount/kube-system/terway",
		].sort(),
	);
	expect(manifest.some((m) => m.kind === "Namespace")).toBe(false);
});

test("the eni-config example is valid Terway eni_conf (no issues, no warnings)", () => {
	const cm = byKind("ConfigMap", "eni-config") as Obj & { data: Record<string, string> };
	const parsed = parseEniConf(cm.data.eni_conf);
	expect(parsed.warnings).toEqual([]);
	expect(parsed.config.datapath).toBe("veth");
	expect(cm.data.disable_network_policy).toBe("false");
});

describe("the DaemonSet", () => {
	const ds = byKind("DaemonSet") as Obj & { spec: { template: { spec: Record<string, unknown> } } };
	const pod = ds.spec.template.spec as {
		hostNetwork: boolean;
		priorityClassName: string;
		serviceAccountName: string;
		tolerations: unknown[];
		initContainers: Container[];
		containers: Container[];
		volumes: { name: string; hostPath?: { path: string }; configMap?: { name: string } }[];
	};
	type Container = {
		name: string;
		command: string[];
		securityContext?: { privileged?: boolean };
		env?: { name: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[];
		readinessProbe?: { exec?: { command: string[] } };
		volumeMounts: { name: string; mountPath: string; readOnly?: boolean; mountPropagation?: string }[];
	};
	const hostPathOf = (c: Container, mountPath: string) => {
		const m = c.volumeMounts.find((v) => v.mountPath === mountPath);
		const vol = pod.volumes.find((v) => v.name === m?.name);
		return { mount: m, host: vol?.hostPath?.path };
	};

	test("host network, node-critical, every taint tolerated, our service account", () => {
		expect(pod.hostNetwork).toBe(true);
		expect(pod.priorityClassName).toBe("system-node-critical");
		expect(pod.tolerations).toEqual([{ operator: "Exists" }]);
		expect(pod.serviceAccountName).toBe(byKind("ServiceAccount").metadata.name);
	});

	test("a privileged init container runs terwayctl install with the host's CNI dirs, state and bpffs", () => {
		const init = pod.initContainers[0] as Container;
		expect(init.command.slice(0, 2)).toEqual(["terwayctl", "install"]);
		expect(init.securityContext?.privileged).toBe(true);
		for (const p of ["/opt/cni/bin", "/etc/cni/net.d", "/var/lib/terway", "/sys/fs/bpf"])
			expect(hostPathOf(init, p).host).toBe(p);
		expect(hostPathOf(init, "/sys/fs/bpf").mount?.mountPropagation).toBe("Bidirectional");
		expect(hostPathOf(init, "/lib/modules")).toMatchObject({
			host: "/lib/modules",
			mount: { readOnly: true },
		});
		// --eni-config points at the mounted eni-config ConfigMap
		const file = init.command[init.command.indexOf("--eni-config") + 1] ?? "";
		const m = init.volumeMounts.find((v) => file.startsWith(`${v.mountPath}/`));
		expect(pod.volumes.find((v) => v.name === m?.name)?.configMap?.name).toBe("eni-config");
	});

	test("the daemon container runs terwayctl daemon with NODE_NAME, the socket dir, bpffs, a readiness probe", () => {
		const d = pod.containers.find((c) => c.name === "terwayd") as Container;
		expect(d.command.slice(0, 2)).toEqual(["terwayctl", "daemon"]);
		expect(d.env?.find((e) => e.name === "NODE_NAME")?.valueFrom?.fieldRef?.fieldPath).toBe("spec.nodeName");
		for (const p of ["/var/run/terway", "/var/lib/terway", "/sys/fs/bpf"])
			expect(hostPathOf(d, p).host).toBe(p);
		expect(hostPathOf(d, "/sys/fs/bpf").mount?.mountPropagation).toBe("Bidirectional");
		expect(hostPathOf(d, "/lib/modules")).toMatchObject({ host: "/lib/modules", mount: { readOnly: true } });
		expect(d.readinessProbe?.exec?.command).toEqual(["terwayctl", "status"]);
	});
});

/** An API call: group, resource (with /subresource), verb. */
type Call = { group: string; resource: string; verb: string; where: string };

const VERBS: Record<string, string> = {
	read: "get",
	list: "list",
	patch: "patch",
	create: "create",
	replace: "update",
	delete: "delete",
	watch: "watch",
};
const GROUPS: Record<string, string> = { core: "", networking: "networking.k8s.io", apps: "apps" };
const plural = (kind: string) => {
	const k = kind.toLowerCase();
	return k.endsWith("y") ? `${k.slice(0, -1)}ies` : k.endsWith("s") ? `${k}es` : `${k}s`;
};

/** Every Kubernetes API call in src/ (not the sim, which is the server; not tests). */
function apiCalls(): Call[] {
	const out: Call[] = [];
	const walk = (dir: string) => {
		for (const e of readdirSync(dir, { withFileTypes: true })) {
			const p = join(dir, e.name);
			if (e.isDirectory()) {
				if (p !== join(repo, "src/sim")) walk(p);
				continue;
			}
			if (!/\.tsx?$/.test(e.name) || /\.test\.tsx?$/.test(e.name)) continue;
			const code = readFileSync(p, "utf8")
				.replace(/\/\*[\s\S]*?\*\//g, "")
				.replace(/^\s*\/\/.*$/gm, "");
			const where = p.slice(repo.length);
			// typed clients: kube.core.readNamespacedConfigMap(...), kube.networking.listNetworkPolicy...
			for (const m of code.matchAll(/\.(core|networking|apps|coordination|custom)\.(\w+)\(/g)) {
				const api = m[1] as string;
				const mm =
					/^(read|list|patch|create|replace|delete|watch)(Namespaced)?(\w+?)(Status)?(ForAllNamespaces)?$/.exec(
						m[2] as string,
					);
				const group = GROUPS[api];
				if (!mm || group === undefined)
					throw new Error(`${where}: unmapped API call ${m[0]}; teach this test`);
				const resource = plural(mm[3] as string) + (mm[4] ? "/status" : "");
				out.push({ group, resource, verb: VERBS[mm[1] as string] as string, where });
			}
			// informers and raw requests: a literal API path; a collection is listed and watched
			for (const m of code.matchAll(/["'`](\/apis?\/[^"'`?]*)/g)) {
				const parts = (m[1] as string).split("/").filter(Boolean);
				const group = parts[0] === "api" ? "" : (parts[1] as string);
				const rest = parts.slice(parts[0] === "api" ? 2 : 3);
				const resource = rest[0] === "namespaces" && rest.length > 2 ? rest[2] : rest[0];
				if (!resource || resource.includes("$"))
					throw new Error(`${where}: API path ${m[1]} not understood; teach this test`);
				out.push({ group, resource, verb: "list", where }, { group, resource, verb: "watch", where });
			}
		}
	};
	walk(join(repo, "src"));
	return out;
}

describe("RBAC: least privilege", () => {
	const rules = [
		...((byKind("ClusterRole") as Obj & { rules: Rule[] }).rules ?? []),
		...((byKind("Role") as Obj & { rules: Rule[] }).rules ?? []),
	];
	const grants = new Set(
		rules.flatMap((r) =>
			r.apiGroups.flatMap((g) => r.resources.flatMap((res) => r.verbs.map((v) => `${g}|${res}|${v}`))),
		),
	);
	const calls = apiCalls();

	test("the call sites found include the daemon's node, pod, event and configmap calls", () => {
		const seen = new Set(calls.map((c) => `${c.group}|${c.resource}|${c.verb}`));
		for (const k of [
			"|nodes|get",
			"|nodes/status|patch",
			"|pods|list",
			"|pods|watch",
			"|pods|patch",
			"|events|create",
			"|configmaps|get",
		])
			expect(seen.has(k)).toBe(true);
	});

	test("every API call site in src/ is covered by a rule", () => {
		const missing = calls.filter((c) => !grants.has(`${c.group}|${c.resource}|${c.verb}`));
		expect(missing.map((c) => `${c.where}: ${c.verb} ${c.group || "core"}/${c.resource}`)).toEqual([]);
	});

	test("no rule grants what nothing in src/ calls", () => {
		const used = new Set(calls.map((c) => `${c.group}|${c.resource}|${c.verb}`));
		expect([...grants].filter((g) => !used.has(g))).toEqual([]);
	});

	test("the bindings bind our service account to our roles", () => {
		for (const [b, role] of [
			["ClusterRoleBinding", "ClusterRole"],
			["RoleBinding", "Role"],
		] as const) {
			const o = byKind(b) as Obj & {
				roleRef: { kind: string; name: string };
				subjects: { kind: string; name: string; namespace: string }[];
			};
			expect(o.roleRef).toMatchObject({ kind: role, name: "terway" });
			expect(o.subjects).toEqual([{ kind: "ServiceAccount", name: "terway", namespace: "kube-system" }]);
		}
	});
});

test("deploy/crds are the sim's CRDs (src/sim/kube/crds)", () => {
	const sim = join(repo, "src/sim/kube/crds");
	const names = readdirSync(sim)
		.filter((f) => f.endsWith(".yaml"))
		.sort();
	expect(readdirSync(join(deploy, "crds")).sort()).toEqual(names);
	for (const f of names)
		expect(docsOf(readFileSync(join(deploy, "crds", f), "utf8"))).toEqual(
			docsOf(readFileSync(join(sim, f), "utf8")),
		);
});

describe("Helm chart", () => {
	const chart = join(deploy, "helm/terway");
	const values = YAML.parse(readFileSync(join(chart, "values.yaml"), "utf8"));
	const ctx = (over: Record<string, unknown> = {}) => ({
		Values: { ...values, ...over },
		Release: { Name: "terway", Namespace: "kube-system" },
		Chart: YAML.parse(readFileSync(join(chart, "Chart.yaml"), "utf8")),
	});
	const render = (c = ctx()) =>
		readdirSync(join(chart, "templates"))
			.filter((f) => f.endsWith(".yaml"))
			.sort()
			.flatMap((f) => docsOf(renderTemplate(readFileSync(join(chart, "templates", f), "utf8"), c)));

	test("the renderer: values, quote, toYaml | nindent, if/else, trimming; anything else is refused", () => {
		const c = ctx();
		expect(renderTemplate("a: {{ .Values.logLevel | quote }}", c)).toBe('a: "info"');
		expect(renderTemplate("t:\n  {{- toYaml .Values.tolerations | nindent 2 }}\n", c)).toBe(
			"t:\n  - operator: Exists\n",
		);
		expect(renderTemplate("{{- if .Values.nope }}x{{ else }}y{{- end }}", c)).toBe("y");
		expect(() => renderTemplate("{{ range .Values.tolerations }}{{ end }}", c)).toThrow(
			"unsupported template construct",
		);
		expect(() => renderTemplate('{{ include "x" . }}', c)).toThrow("unsupported");
	});

	test("the default values render exactly the objects of deploy/terway.yaml", () => {
		const sort = (l: Obj[]) => [...l].sort((a, b) => key(a).localeCompare(key(b)));
		expect(sort(render())).toEqual(sort(manifest));
	});

	test("eniConfig.create=false leaves the ConfigMap out; image and log level come from values", () => {
		const objs = render(
			ctx({
				eniConfig: { ...values.eniConfig, create: false },
				logLevel: "debug",
				image: { ...values.image, tag: "9.9.9" },
			}),
		);
		expect(objs.some((o) => o.kind === "ConfigMap")).toBe(false);
		const ds = objs.find((o) => o.kind === "DaemonSet") as Obj & {
			spec: { template: { spec: { containers: { image: string; command: string[] }[] } } };
		};
		expect(ds.spec.template.spec.containers[0]?.image).toBe("terwayctl:9.9.9");
		expect(ds.spec.template.spec.containers[0]?.command).toEqual([
			"terwayctl",
			"daemon",
			"--log-level",
			"debug",
		]);
	});
});

const hasKubectl = Bun.spawnSync(["sh", "-c", "command -v kubectl"]).exitCode === 0;
describe.skipIf(
	!canRun("tests/sim/deploy.test.ts (kubectl apply)", {
		check: () => (hasKubectl ? undefined : "kubectl is not installed (make apt)"),
	}),
)("kubectl apply against the sim's apiserver", () => {
	const P = prefixFor("dp");
	const entry = join(repo, "src/bin/terwayctl.ts");
	const cli = (...args: string[]) => sh([process.execPath, entry, ...args], { allowFail: true });
	const kubectl = (...args: string[]) =>
		sh(["kubectl", "--kubeconfig", `/run/terway-sim/${P}/kubeconfig`, ...args], { allowFail: true });
	afterAll(() => {
		cli("sim", "down", "--prefix", P);
	});

	test("apply creates every object; they read back as written; a second apply changes nothing", () => {
		const up = cli("sim", "up", "--prefix", P, "--mode", "loopback", "--nodes", "1", "--json");
		expect(up.err).toBe("");
		expect(up.code).toBe(0);
		// the sim registers Terway's CRDs at start (without kubectl's last-applied annotation: warned)
		const crds = kubectl("apply", "-f", join(deploy, "crds"));
		expect(crds.code).toBe(0);
		for (const l of crds.err.trim().split("\n"))
			expect(l).toStartWith("Warning: resource customresourcedefinitions/");
		expect(crds.out.trim().split("\n").length).toBe(5);
		for (const l of crds.out.trim().split("\n"))
			expect(l).toMatch(
				/^customresourcedefinition\.apiextensions\.k8s\.io\/\w+\.network\.alibabacloud\.com (configured|unchanged)$/,
			);
		// the sim seeds kube-system/eni-config (its scenario's); apply takes it over (warned, configured)
		const r = kubectl("apply", "-f", join(deploy, "terway.yaml"));
		expect(r.err.trim()).toStartWith(
			"Warning: resource configmaps/eni-config is missing the kubectl.kubernetes.io/last-applied-configuration annotation",
		);
		expect(r.err.trim().split("\n").length).toBe(1);
		expect(r.code).toBe(0);
		expect(r.out.trim().split("\n").sort()).toEqual(
			[
				"clusterrole.rbac.authorization.k8s.io/terway created",
				"clusterrolebinding.rbac.authorization.k8s.io/terway created",
				"configmap/eni-config configured",
				"daemonset.apps/terway created",
				"role.rbac.authorization.k8s.io/terway created",
				"rolebinding.rbac.authorization.k8s.io/terway created",
				"serviceaccount/terway created",
			].sort(),
		);
		const got = kubectl("get", "-f", join(deploy, "terway.yaml"), "-o", "json");
		expect(got.code).toBe(0);
		const items = (JSON.parse(got.out) as { items: Obj[] }).items;
		expect(items.map(key).sort()).toEqual(manifest.map(key).sort());
		for (const want of manifest) {
			const { metadata, ...body } = want;
			const have = items.find((i) => key(i) === key(want)) as Obj;
			expect(have).toMatchObject(body);
			expect(have.metadata).toMatchObject(metadata);
		}
		const again = kubectl("apply", "-f", join(deploy, "terway.yaml"));
		expect(again.code).toBe(0);
		expect(
			again.out
				.trim()
				.split("\n")
				.every((l) => l.endsWith(" unchanged")),
		).toBe(true);

		// the init step's other form: install reading eni_conf from the applied ConfigMap
		const root = `/tmp/${P}-root`;
		const kc = `/run/terway-sim/${P}/kubeconfig`;
		mkdirSync(root, { recursive: true });
		try {
			writeFileSync(`${root}.bin`, "fake terwayctl\n");
			const patch = JSON.stringify({ data: { eni_conf: JSON.stringify({ eniip_virtual_type: "IPVlan" }) } });
			expect(
				kubectl("patch", "configmap", "eni-config", "-n", "kube-system", "--type", "merge", "-p", patch).code,
			).toBe(0);
			const base = ["install", "--root", root, "--binary", `${root}.bin`, "--kubeconfig", kc];
			const inst = cli(...base, "--configmap", "kube-system/eni-config", "--json");
			expect(inst.err).toBe("");
			expect(inst.code).toBe(0);
			expect(JSON.parse(inst.out).datapath).toBe("datapathv2");
			const bad = cli(...base, "--configmap", "kube-system/nope");
			expect(bad.code).toBe(1);
			expect(bad.err).toStartWith("terwayctl: cannot read configmap kube-system/nope: ");
		} finally {
			rmSync(root, { recursive: true, force: true });
			rmSync(`${root}.bin`, { force: true });
		}
		expect(cli("sim", "down", "--prefix", P).code).toBe(0);
	});
});
