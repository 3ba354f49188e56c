/**
 * `terwayctl status`: terwayd's state and pool in a few lines. Registration only; the
 * implementation (status/index.ts) is imported when it runs.
 */
import type { Command } from "commander";
import { addOutputOptions, examples, outputFormat } from "../format.ts";

export function registerStatus(program: Command): void {
	addOutputOptions(
		program
			.command("status")
			.description(
				"terwayd's phase, node, instance, pool gauge, ENIs and Kubernetes connectivity (exit 1 when not ready)",
			),
		{ socket: true, documentsOnly: true },
	)
		.addHelpText(
			"after",
			examples([
				"terwayctl status",
				"terwayctl status --json | jq .pool",
				"terwayctl sim exec node-1 -- terwayctl status     # a node of the offline sim",
				"terwayctl status || echo 'not ready (exit 1); exit 2 is a usage error'",
			]),
		)
		.action(async (opts: { socket?: string }, cmd: Command) => {
			const { statusCommand } = await import("./status/index.ts");
			await statusCommand({ socket: opts.socket, format: outputFormat(cmd) });
		});
}
