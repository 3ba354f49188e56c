/**
 * @module cli/commands/diagnose
 *
 * `terwayctl diagnose`: wires the real ports (terwayd's socket, the cloud clients from the
 * node's environment, netlink in this namespace, the conflist, the eni-config through the
 * kubeconfig) and picks the output: the ink TUI on a TTY (lazily imported, so nothing else
 * loads react/ink), else the text report, or the JSON document with --json. Exit 0 when no
 * finding is warn/error, 1 when one is.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { metadataBaseUrl } from "../../../cloud/endpoints.ts";
import { MetadataClient } from "../../../cloud/metadata.ts";
import { TERWAY_CONFLIST } from "../../../core/config/conflist.ts";
import { mergePatch, parseEniConf } from "../../../core/config/eni-config.ts";
import type { JsonObject } from "../../../core/config/types.ts";
import { DaemonApi, socketPath } from "../../daemon-api.ts";
import { EXIT, ExitError } from "../../errors.ts";
import { style } from "../../output.ts";
import { secondsMs } from "./args.ts";
import type { DiagnoseDeps } from "./context.ts";
import { runChecks } from "./engine.ts";
import type { DiagnoseReport } from "./findings.ts";
import { renderJson, renderText } from "./render.ts";

export type DiagnoseOptions = {
	json?: boolean;
	socket?: string;
	kubeconfig?: string;
	/** Per-call timeout, seconds (string from commander). */
	timeout?: string;
	/** commander's --no-tui gives tui=false. */
	tui?: boolean;
	cniConfDir?: string;
	/** terwayd's config file (its eni_conf over the ConfigMap's: credentials, region, datapath). */
	config?: string;
	/** Refresh period of the TUI, seconds. */
	interval?: string;
};

export const DEFAULT_CNI_CONF_DIR = "/etc/cni/net.d";

/** `--timeout` in ms (seconds on the command line; 10 s default). */
export function timeoutMsOf(v: string | undefined, flag = "--timeout"): number {
	return secondsMs(v, flag);
}

type JsonObj = Record<string, unknown>;

/**
 * terwayd's configuration as diagnose sees it: the cluster's `kube-system/eni-config` eni_conf
 * (read as `terwayctl eni` reads it) with `--config`'s eni_conf merged over it, as terwayd does.
 */
async function nodeEniConf(kubeconfig: string | undefined, configFile: string | undefined) {
	const { clusterEniConf, readConfigFile } = await import("../eni/sources.ts");
	const cluster = await clusterEniConf(kubeconfig);
	const file = configFile ? readConfigFile(configFile) : undefined;
	if (!cluster.eniConf && !file) return { note: cluster.note };
	const merged = mergePatch((cluster.eniConf ?? {}) as JsonObject, (file?.eniConf ?? {}) as JsonObject);
	const source = [cluster.eniConf ? "ConfigMap kube-system/eni-config" : "", file ? configFile : ""]
		.filter(Boolean)
		.join(" + ");
	return { eniConf: merged as JsonObj, top: (file?.top ?? {}) as JsonObj, source, note: cluster.note };
}

/** The real ports, from flags and the environment (the node's, under `sim exec`). */
export function realDeps(o: DiagnoseOptions): DiagnoseDeps {
	const timeoutMs = timeoutMsOf(o.timeout);
	const socket = socketPath(o.socket);
	const env = process.env;
	const confDir = o.cniConfDir ?? env.CNI_CONF_DIR ?? DEFAULT_CNI_CONF_DIR;
	const kubeconfig = o.kubeconfig ?? env.KUBECONFIG;
	const metadata = new MetadataClient({ env, timeoutMs, retry: { steps: 2 } });
	let conf: ReturnType<typeof nodeEniConf> | undefined;
	const eniConf = () => {
		conf ??= nodeEniConf(kubeconfig, o.config);
		return conf;
	};
	return {
		daemon: new DaemonApi(socket, timeoutMs),
		socket,
		metadata,
		metadataUrl: metadataBaseUrl(env),
		cloud: async () => {
			const { createCloud } = await import("../../../cloud/index.ts");
			const { cloudKeys } = await import("../eni/sources.ts");
			const c0 = await eniConf();
			// terwayd's sources: eni_conf access_key/access_secret/credential_path/region_id, then the env
			const keys = c0.eniConf ? cloudKeys(c0.eniConf, c0.top) : {};
			const regionId = keys.regionId || env.REGION_ID || env.ALIBABA_CLOUD_REGION_ID || undefined;
			const c = await createCloud({
				env,
				...(regionId ? { regionId } : {}),
				credentials: {
					...(keys.accessKeyId ? { accessKeyId: keys.accessKeyId } : {}),
					...(keys.accessKeySecret ? { accessKeySecret: keys.accessKeySecret } : {}),
					...(keys.credentialPath ? { credentialPath: keys.credentialPath } : {}),
				},
				metadata: { timeoutMs, retry: { steps: 2 } },
				ecs: { timeoutMs },
			});
			return { ecs: c.ecs, credentials: c.credentials };
		},
		kernel: undefined,
		conflist: () => {
			const path = join(confDir, TERWAY_CONFLIST);
			if (!existsSync(path)) return { path };
			return { path, file: { path, text: readFileSync(path, "utf8") } };
		},
		eniConfig: async () => {
			const c = await eniConf();
			if (!c.eniConf) {
				if (c.note) throw new Error(c.note);
				return undefined;
			}
			return { datapath: parseEniConf(c.eniConf).config.datapath, source: c.source };
		},
		timeoutMs,
	};
}

/** Progress on stderr, only on a TTY (one rewritten line). */
function progressLine(): ((i: number, n: number, title: string) => void) | undefined {
	if (!process.stderr.isTTY) return undefined;
	return (i, n, title) => process.stderr.write(`\r\x1b[2K[${i + 1}/${n}] ${title} ...`);
}

/**
 * The deps with the node's kernel and policy maps attached (netlink and libbpf load only here).
 * A layer that cannot even load (a missing library) is reported by its check, not a crash.
 */
export async function withKernel(deps: DiagnoseDeps): Promise<DiagnoseDeps> {
	let kernel: DiagnoseDeps["kernel"];
	try {
		kernel = (await import("./kernel.ts")).nodeKernel();
	} catch {
		kernel = undefined; // the kernel checks say "skipped: no netlink access"
	}
	let policy: DiagnoseDeps["policy"];
	try {
		policy = (await import("./policy.ts")).openPolicyPort;
	} catch (e) {
		policy = () => {
			throw e;
		};
	}
	return { ...deps, kernel, policy };
}

/** Runs the checks once and prints the report; exit 1 when it found a problem. */
export async function diagnose(o: DiagnoseOptions): Promise<void> {
	const intervalMs = timeoutMsOf(o.interval ?? "5", "--interval");
	const deps = await withKernel(realDeps(o));
	const tty = Boolean(process.stdout.isTTY) && Boolean(process.stdin.isTTY);
	if (tty && !o.json && o.tui !== false) {
		const { runTui } = await import("../../tui/run.tsx");
		await runTui({ deps, intervalMs });
		return;
	}
	const progress = progressLine();
	const report = await runChecks(deps, progress ? { progress } : {});
	if (progress) process.stderr.write("\r\x1b[2K");
	printReport(report, Boolean(o.json));
	if (report.problems)
		throw new ExitError(
			`diagnose found ${report.summary.error + report.summary.warn} problem(s)`,
			EXIT.problem,
			{
				printed: true,
			},
		);
}

export function printReport(report: DiagnoseReport, json: boolean): void {
	console.log(json ? renderJson(report) : renderText(report, style));
}
