/**
 * `terwayctl mapping`: pod -> IP -> ENI with state and problems. Registration only; the
 * implementation (mapping/index.ts) is imported when it runs.
 */
import type { Command } from "commander";
import { addOutputOptions, examples, outputFormat } from "../format.ts";

export function registerMapping(program: Command): void {
	addOutputOptions(
		program
			.command("mapping")
			.description(
				"pod -> IP -> ENI as terwayd holds it, cross-checked against the cloud, metadata and the kernel (exit 1 on any problem)",
			)
			.option("--pod <ns/name>", "only this pod's rows")
			.option("--eni <id>", "only this ENI's rows (eni-...)"),
		{ socket: true },
	)
		.addHelpText(
			"after",
			examples([
				"terwayctl mapping",
				"terwayctl mapping -o wide                 # + container, MAC and each source's check",
				"terwayctl mapping --pod default/web-1",
				"terwayctl mapping --eni eni-bp1abc --json | jq '.rows[].problems'",
				"terwayctl mapping -q || echo 'inconsistent (exit 1)'",
			]),
		)
		.option("-q, --quiet", "print nothing; the exit status says whether every row is consistent")
		.action(async (opts: { pod?: string; eni?: string; socket?: string; quiet?: boolean }, cmd: Command) => {
			const { mappingCommand } = await import("./mapping/index.ts");
			await mappingCommand({ ...opts, format: outputFormat(cmd) });
		});
}
