/**
 * @module cli/tui/load
 *
 * One refresh of the TUI: the diagnose checks, plus terwayd's status, ENIs and mapping for the
 * overview panes (fetched again: the report keeps findings, not the raw views).
 */
import type { EniInfo, MappingRow, StatusResponse } from "../../daemon/api-types.ts";
import type { DiagnoseDeps } from "../commands/diagnose/context.ts";
import { runChecks } from "../commands/diagnose/engine.ts";
import { errorLine } from "../errors.ts";
import type { Overview } from "./model.ts";

export async function loadOverview(deps: DiagnoseDeps): Promise<Overview> {
	const report = await runChecks(deps);
	try {
		const [status, enis, mapping] = await Promise.all([
			deps.daemon.get<StatusResponse>("/v1/status"),
			deps.daemon.get<EniInfo[]>("/v1/enis"),
			deps.daemon.get<MappingRow[]>("/v1/mapping"),
		]);
		return { at: new Date(), report, status, enis, mapping };
	} catch (e) {
		return { at: new Date(), report, enis: [], mapping: [], daemonError: errorLine(e) };
	}
}
