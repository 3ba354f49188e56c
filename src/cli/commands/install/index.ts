/**
 * `terwayctl install`: prepare a node (or a directory tree, `--root`) for Terway — check the
 * kernel and libraries, install the binary as the CNI plugin, write the conflist generated from
 * the eni-config, set the host sysctls, mount bpffs — and `--uninstall` to reverse it.
 *
 * The work is planned by core/install (pure) and executed here: files are written to a temp name
 * and renamed (atomic), sysctls go through linux/sysctl.ts, bpffs through linux/bpf. A bad
 * eni-config or a failed required check stops before anything is written.
 */
import {
	chmodSync,
	copyFileSync,
	existsSync,
	mkdirSync,
	readFileSync,
	renameSync,
	rmdirSync,
	rmSync,
	statSync,
	writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { chainedPlugins, renderConflist } from "../../../core/config/conflist.ts";
import { isEniConfigError, parseEniConf } from "../../../core/config/eni-config.ts";
import type { EniConfig } from "../../../core/config/types.ts";
import { nodePlan } from "../../../core/datapath/node.ts";
import {
	type Action,
	CONFLIST_PATH,
	describeAction,
	type Plan,
	planInstall,
	planUninstall,
	renderDiff,
	type SysctlWant,
	type TreeView,
} from "../../../core/install/plan.ts";
import { EXIT, ExitError } from "../../errors.ts";
import { printJson } from "../../output.ts";
import { type Check, runChecks } from "./checks.ts";

export type InstallOptions = {
	root?: string;
	dryRun?: boolean;
	uninstall?: boolean;
	eniConfig?: string;
	configmap?: string;
	kubeconfig?: string;
	binary?: string;
	mtu?: string;
	json?: boolean;
};

/** The `--json` document (docs/cli/install.md). */
export type InstallReport = {
	action: "install" | "uninstall";
	root: string;
	dryRun: boolean;
	changed: boolean;
	checks: Check[];
	datapath?: string;
	mtu?: number;
	steps: string[];
	notes: string[];
	diff?: string;
};

/** Read the eni-config: a file holding eni_conf (JSON/YAML) or an eni-config ConfigMap manifest. */
function configFromFile(path: string): { eniConf: unknown; conflist?: string } {
	let text: string;
	try {
		text = readFileSync(path, "utf8");
	} catch (e) {
		throw new ExitError(`cannot read --eni-config ${path}: ${(e as Error).message}`, EXIT.usage);
	}
	let doc: unknown;
	try {
		doc = Bun.YAML.parse(text); // YAML is a superset of JSON
	} catch (e) {
		throw new ExitError(`--eni-config ${path} is neither JSON nor YAML: ${(e as Error).message}`, EXIT.usage);
	}
	const obj = doc as { kind?: unknown; data?: Record<string, unknown> } | null;
	if (obj && typeof obj === "object" && obj.kind === "ConfigMap") {
		const data = obj.data ?? {};
		if (data.eni_conf === undefined)
			throw new ExitError(`--eni-config ${path}: the ConfigMap has no data.eni_conf`, EXIT.usage);
		return {
			eniConf: data.eni_conf,
			...(typeof data["10-terway.conflist"] === "string" ? { conflist: data["10-terway.conflist"] } : {}),
		};
	}
	return { eniConf: doc };
}

async function configFromCluster(
	ref: string,
	kubeconfig?: string,
): Promise<{ eniConf: unknown; conflist?: string }> {
	const m = /^([a-z0-9][-a-z0-9]*)\/([a-z0-9][-.a-z0-9]*)$/.exec(ref);
	if (!m?.[1] || !m[2])
		throw new ExitError(`--configmap ${JSON.stringify(ref)} is not NAMESPACE/NAME`, EXIT.usage);
	const { KubeClient, loadKubeConfig } = await import("../../../k8s/index.ts");
	const loaded = loadKubeConfig(kubeconfig ? { kubeconfig } : {});
	if (!loaded)
		throw new ExitError(
			"--configmap needs a cluster: pass --kubeconfig or run in a pod (in-cluster config)",
			EXIT.usage,
		);
	const kube = new KubeClient(loaded);
	try {
		const cm = await kube.core.readNamespacedConfigMap({ name: m[2], namespace: m[1] });
		const data = cm.data ?? {};
		if (data.eni_conf === undefined) throw new ExitError(`configmap ${ref} has no eni_conf key`);
		return {
			eniConf: data.eni_conf,
			...(data["10-terway.conflist"] !== undefined ? { conflist: data["10-terway.conflist"] } : {}),
		};
	} catch (e) {
		if (e instanceof ExitError) throw e;
		throw new ExitError(`cannot read configmap ${ref}: ${(e as Error).message}`);
	} finally {
		kube.close();
	}
}

function parseConfig(raw: unknown, where: string): { config: EniConfig; warnings: string[] } {
	try {
		return parseEniConf(raw ?? {});
	} catch (e) {
		if (isEniConfigError(e)) {
			throw new ExitError(
				`invalid eni-config (${where}): ${e.issues.map((i) => `${i.path}: ${i.message}`).join("; ")}`,
				EXIT.usage,
			);
		}
		throw e;
	}
}

function parseMtu(v: string | undefined): number | undefined {
	if (v === undefined) return undefined;
	const n = Number(v);
	if (!/^\d+$/.test(v) || n < 68 || n > 65535)
		throw new ExitError(`--mtu ${JSON.stringify(v)} is not a number 68..65535`, EXIT.usage);
	return n;
}

const sha256File = (path: string): string | undefined => {
	try {
		const h = new Bun.CryptoHasher("sha256");
		h.update(readFileSync(path));
		return h.digest("hex");
	} catch {
		return undefined;
	}
};

/** The tree (and on a node its live state) as core/install sees it. */
async function treeView(root: string, node: boolean): Promise<TreeView> {
	const at = (p: string) => join(root, p);
	const view: TreeView = {
		isDir: (p) => {
			try {
				return statSync(at(p)).isDirectory();
			} catch {
				return false;
			}
		},
		read: (p) => {
			try {
				return readFileSync(at(p), "utf8");
			} catch {
				return undefined;
			}
		},
		sha256: (p) => sha256File(at(p)),
	};
	if (node) {
		const { Netns } = await import("../../../linux/netns.ts");
		const { sysctlGet } = await import("../../../linux/sysctl.ts");
		const { bpffsMounts, BPFFS_MOUNT } = await import("../../../linux/bpf/bpffs.ts");
		view.sysctl = (key) => {
			using here = Netns.current();
			try {
				return sysctlGet(here, key);
			} catch {
				return undefined;
			}
		};
		view.bpffsMounted = () => bpffsMounts().includes(BPFFS_MOUNT);
	}
	return view;
}

/** The primary link (the one carrying the IPv4 default route) and its MTU, on this node. */
async function primaryLink(): Promise<{ name: string; mtu: number } | undefined> {
	try {
		const { Netlink } = await import("../../../linux/netlink/handle.ts");
		const nl = Netlink.current();
		try {
			const def = nl
				.routeList({ family: 4 })
				.find((r) => r.dst === "default" && (r.dev || r.nexthops?.[0]?.dev));
			const dev = def?.dev ?? def?.nexthops?.[0]?.dev;
			if (!dev) return undefined;
			return { name: dev, mtu: nl.linkByName(dev).mtu };
		} finally {
			nl.close();
		}
	} catch {
		return undefined;
	}
}

/** Execute one action against the tree (root-relative paths) or the live node. */
async function apply(a: Action, root: string): Promise<void> {
	const at = (p: string) => join(root, p);
	const tmp = (p: string) => `${at(p)}.terway-tmp-${process.pid}`;
	switch (a.kind) {
		case "mkdir":
			mkdirSync(at(a.path), { mode: 0o755 });
			return;
		case "move":
			renameSync(at(a.path), at(a.to));
			return;
		case "write":
			writeFileSync(tmp(a.path), a.content, { mode: a.mode });
			chmodSync(tmp(a.path), a.mode);
			renameSync(tmp(a.path), at(a.path));
			return;
		case "copy":
			copyFileSync(a.from, tmp(a.path));
			chmodSync(tmp(a.path), 0o755);
			renameSync(tmp(a.path), at(a.path));
			return;
		case "remove":
			rmSync(at(a.path), { force: true });
			return;
		case "rmdir":
			try {
				rmdirSync(at(a.path));
			} catch (e) {
				const code = (e as NodeJS.ErrnoException).code;
				if (code !== "ENOTEMPTY" && code !== "ENOENT" && code !== "EEXIST") throw e;
			}
			return;
		case "sysctl": {
			const { Netns } = await import("../../../linux/netns.ts");
			const { sysctlSet } = await import("../../../linux/sysctl.ts");
			using here = Netns.current();
			sysctlSet(here, a.key, a.to);
			return;
		}
		case "mount": {
			const { ensureBpffs } = await import("../../../linux/bpf/bpffs.ts");
			ensureBpffs(a.path);
			return;
		}
	}
}

/** The binary to install: --binary, else this executable when compiled. */
function sourceBinary(flag: string | undefined): string {
	if (flag) {
		if (!existsSync(flag)) throw new ExitError(`--binary ${flag}: no such file`, EXIT.usage);
		return flag;
	}
	if (!Bun.main.startsWith("/$bunfs/"))
		throw new ExitError(
			"this terwayctl runs from source under bun, so there is no binary to copy; pass --binary dist/terwayctl (make build)",
			EXIT.usage,
		);
	return process.execPath;
}

function print(report: InstallReport, json: boolean): void {
	if (json) {
		printJson(report);
		return;
	}
	for (const c of report.checks)
		if (!c.ok) console.error(`${c.required ? "error" : "warning"}: ${c.detail}${c.fix ? ` — ${c.fix}` : ""}`);
	for (const n of report.notes) console.error(`note: ${n}`);
	if (report.dryRun) {
		console.log(report.diff ? report.diff : "nothing to do");
		return;
	}
	if (!report.changed) {
		console.log("nothing to do");
		return;
	}
	for (const s of report.steps) console.log(s);
	console.log(
		report.action === "install" ? `installed into ${report.root}` : `uninstalled from ${report.root}`,
	);
}

export async function install(opts: InstallOptions): Promise<InstallReport> {
	if (opts.eniConfig && opts.configmap)
		throw new ExitError("--eni-config and --configmap are alternatives: pass one", EXIT.usage);
	const root = opts.root ?? "/";
	const node = opts.root === undefined;
	if (!node && !existsSync(root)) throw new ExitError(`--root ${root}: no such directory`, EXIT.usage);
	const tree = await treeView(root, node);

	if (opts.uninstall) {
		const plan = planUninstall(tree);
		return execute(plan, { action: "uninstall", root, opts, checks: [] });
	}

	const mtuFlag = parseMtu(opts.mtu);
	const src = opts.configmap
		? await configFromCluster(opts.configmap, opts.kubeconfig)
		: opts.eniConfig
			? configFromFile(opts.eniConfig)
			: { eniConf: {} };
	const where = opts.configmap ? `configmap ${opts.configmap}` : (opts.eniConfig ?? "defaults");
	const { config: cfg, warnings } = parseConfig(src.eniConf, where);
	const binary = sourceBinary(opts.binary);

	const checks = await runChecks({ datapath: cfg.datapath });
	const failed = checks.filter((c) => !c.ok && c.required);
	if (failed.length > 0 && node) {
		for (const c of failed) console.error(`error: ${c.detail}${c.fix ? ` — ${c.fix}` : ""}`);
		throw new ExitError(
			`the node is not ready for Terway (${failed.map((c) => c.name).join(", ")}); nothing was changed`,
		);
	}
	const primary = node ? await primaryLink() : undefined;
	const mtu = mtuFlag ?? primary?.mtu ?? 1500;
	// chained plugins: the ConfigMap's 10-terway.conflist, else the conflist on the node
	const chained = chainedPlugins(src.conflist ?? tree.read(CONFLIST_PATH));
	const conflist = renderConflist({
		datapath: cfg.datapath,
		mtu,
		chained: chained.plugins,
		...(chained.cniVersion ? { cniVersion: chained.cniVersion } : {}),
	});
	const sysctls: SysctlWant[] = nodePlan({
		ipv4: true,
		ipv6: cfg.ipStack === "dual",
		...(primary ? { eniLinks: [primary.name] } : {}),
	}).ops.flatMap((o) => (o.op === "sysctl" ? [{ key: o.key, value: o.value }] : []));
	const sha = sha256File(binary);
	if (!sha) throw new ExitError(`cannot read the binary ${binary}`, EXIT.usage);
	const plan = planInstall(tree, { node, conflist, binary: { from: binary, sha256: sha }, sysctls });
	plan.notes.unshift(...warnings.map((w) => `eni-config (${where}): ${w}`));
	return execute(plan, { action: "install", root, opts, checks, datapath: cfg.datapath, mtu });
}

async function execute(
	plan: Plan,
	ctx: {
		action: "install" | "uninstall";
		root: string;
		opts: InstallOptions;
		checks: Check[];
		datapath?: string;
		mtu?: number;
	},
): Promise<InstallReport> {
	const report: InstallReport = {
		action: ctx.action,
		root: ctx.root,
		dryRun: Boolean(ctx.opts.dryRun),
		changed: plan.actions.length > 0,
		checks: ctx.checks,
		...(ctx.datapath ? { datapath: ctx.datapath } : {}),
		...(ctx.mtu ? { mtu: ctx.mtu } : {}),
		steps: plan.actions.map(describeAction),
		notes: plan.notes,
	};
	if (ctx.opts.dryRun) report.diff = renderDiff(plan.actions);
	else for (const a of plan.actions) await apply(a, ctx.root);
	print(report, Boolean(ctx.opts.json));
	return report;
}
