/**
 * @module cli/commands/diagnose/engine
 *
 * Runs the checks in order against one context and collects their findings into a report. A
 * check that throws becomes one error finding naming the check (the run goes on). Progress is
 * reported through a callback (the command prints it on stderr only on a TTY).
 */
import { errorLine } from "../../errors.ts";
import { credentialsCheck, metadataCheck } from "./checks/cloud.ts";
import { conflistCheck, ebpfCheck } from "./checks/config.ts";
import { daemonCheck, poolCheck } from "./checks/daemon.ts";
import { leaksCheck } from "./checks/leaks.ts";
import { mappingCheck } from "./checks/mapping.ts";
import { type Check, DiagnoseContext, type DiagnoseDeps } from "./context.ts";
import { type DiagnoseReport, type Finding, finding, type Layer, makeReport } from "./findings.ts";

/** Every check of `terwayctl diagnose`, in the order they run. */
export const CHECKS: readonly Check[] = [
	daemonCheck,
	credentialsCheck,
	metadataCheck,
	poolCheck,
	mappingCheck,
	leaksCheck,
	conflistCheck,
	ebpfCheck,
];

const CHECK_LAYER: Record<string, Layer> = {
	daemon: "daemon",
	cloud: "cloud",
	metadata: "metadata",
	pool: "daemon",
	mapping: "store",
	leaks: "leak",
	config: "config",
	ebpf: "ebpf",
};

export type RunOptions = {
	checks?: readonly Check[];
	/** Called before each check: (index, total, title). */
	progress?: (i: number, n: number, title: string) => void;
	/** Run in this context (its memoized daemon answers are then reusable by the caller, e.g. the TUI). */
	context?: DiagnoseContext;
};

export async function runChecks(deps: DiagnoseDeps, opts: RunOptions = {}): Promise<DiagnoseReport> {
	const checks = opts.checks ?? CHECKS;
	const ctx = opts.context ?? new DiagnoseContext(deps);
	const started = new Date();
	const t0 = performance.now();
	const findings: Finding[] = [];
	for (const [i, c] of checks.entries()) {
		opts.progress?.(i, checks.length, c.title);
		try {
			findings.push(...(await c.run(ctx)));
		} catch (e) {
			findings.push(
				finding({
					id: `${c.id}.failed`,
					layer: CHECK_LAYER[c.id] ?? "daemon",
					severity: "error",
					subject: "",
					message: `check "${c.title}" failed: ${errorLine(e)}`,
					fix: "re-run with --timeout higher if it timed out; otherwise this is a diagnose bug worth reporting with the message",
				}),
			);
		}
	}
	let node = "";
	try {
		node = (await ctx.status()).node;
	} catch {
		// daemon down: the report says so in daemon.reachable
	}
	return makeReport({
		node,
		socket: deps.socket,
		startedAt: started,
		durationMs: performance.now() - t0,
		checks: checks.map((c) => c.id),
		findings,
	});
}
