/**
 * `terwayctl metadata [PATH]`: the ECS instance metadata tree (like Terway's `terway-cli
 * metadata`). Registration only; the implementation (metadata/index.ts) is imported when it runs.
 */
import type { Command } from "commander";
import { addOutputOptions, examples, outputFormat } from "../format.ts";

export function registerMetadata(program: Command): void {
	addOutputOptions(
		program
			.command("metadata")
			.description(
				"the instance metadata tree (instance, region, zone, each ENI by MAC with its IPs, vSwitch, gateway, CIDR and local link), or one PATH",
			)
			.argument(
				"[path]",
				"a path under /latest/meta-data/ (a directory prints its subtree, a key its value)",
			),
		{ documentsOnly: true },
	)
		.addHelpText(
			"after",
			examples([
				"terwayctl metadata                                  # the whole tree",
				"terwayctl metadata instance-id                      # one value, as is",
				"terwayctl metadata network/interfaces/macs/         # every ENI",
				"terwayctl metadata --json | jq '.tree.\"region-id\"'",
				"terwayctl sim exec node-1 -- terwayctl metadata     # a node of the offline sim",
				"TERWAY_METADATA_URL=http://127.0.0.1:8080 terwayctl metadata   # another service",
				"RAM-role STS credentials are shown as <redacted> in trees; ask for their path to print them.",
			]),
		)
		.action(async (path: string | undefined, _opts: unknown, cmd: Command) => {
			const { metadataCommand } = await import("./metadata/index.ts");
			await metadataCommand({ path, format: outputFormat(cmd) });
		});
}
