/**
 * @module cli/tui/run
 *
 * Entry of the diagnose TUI: renders <App> on the terminal and resolves when the user quits.
 * Imported only by `terwayctl diagnose` on a TTY (the one place react/ink load).
 */
import { render } from "ink";
import type { DiagnoseDeps } from "../commands/diagnose/context.ts";
import { App } from "./App.tsx";
import { loadOverview } from "./load.ts";

export async function runTui(o: { deps: DiagnoseDeps; intervalMs: number }): Promise<void> {
	const load = () => loadOverview(o.deps);
	// interactive: we are only called on a TTY; ink's own CI detection (CI=true) would otherwise
	// print nothing until exit. The alternate screen leaves the shell's scrollback as it was.
	const app = render(<App load={load} intervalMs={o.intervalMs} />, {
		exitOnCtrlC: true,
		interactive: true,
		alternateScreen: true,
	});
	await app.waitUntilExit();
}
