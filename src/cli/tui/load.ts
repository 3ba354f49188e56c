/**
 * @module cli/tui/load
 *
 * One refresh of the TUI: the diagnose checks, plus terwayd's status, ENIs and mapping for the
 * overview panes — the very answers the checks read (one context per refresh memoizes them), so
 * a refresh asks terwayd (and, through /v1/mapping, the cloud) once per view, not twice.
 */
import { DiagnoseContext, type DiagnoseDeps } from "../commands/diagnose/context.ts";
import { runChecks } from "../commands/diagnose/engine.ts";
import { errorLine } from "../errors.ts";
import type { Overview } from "./model.ts";

export async function loadOverview(deps: DiagnoseDeps): Promise<Overview> {
	const ctx = new DiagnoseContext(deps);
	const report = await runChecks(deps, { context: ctx });
	try {
		const [status, enis, mapping] = await Promise.all([ctx.status(), ctx.enis(), ctx.mapping()]);
		return { at: new Date(), report, status, enis, mapping };
	} catch (e) {
		return { at: new Date(), report, enis: [], mapping: [], daemonError: errorLine(e) };
	}
}
