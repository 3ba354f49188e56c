/**
 * The commander program. Subcommands are registered here with their options and help, and
 * their implementations are imported lazily (changesets style), so `terwayctl --help` and
 * `--version` load commander and nothing else.
 */
import { Command, CommanderError, Option } from "commander";
import { registerCompletion } from "./commands/completion.ts";
import { registerDaemon } from "./commands/daemon.ts";
import { registerDiagnose } from "./commands/diagnose.ts";
import { registerEni } from "./commands/eni.ts";
import { registerInstall } from "./commands/install.ts";
import { registerMapping } from "./commands/mapping.ts";
import { registerMetadata } from "./commands/metadata.ts";
import { registerPolicy } from "./commands/policy.ts";
import { registerSim } from "./commands/sim.ts";
import { registerStatus } from "./commands/status.ts";
import { EXIT, ExitError, errorJson, errorLine } from "./errors.ts";
import { VERSION } from "./meta.ts";

/** The whole commander program (also walked by `terwayctl completion` to generate the shell scripts). */
export function buildProgram(): Command {
	const program = new Command("terwayctl")
		.description(
			"Terway container networking for Alibaba Cloud VPC/ENI, rebuilt on Bun: install, inspect, troubleshoot",
		)
		.version(`terwayctl ${VERSION}`, "-V, --version", "print the version")
		.addOption(new Option("--json", "machine-readable output (errors too)"))
		.showHelpAfterError("(run with --help for usage)")
		.configureHelp({ sortSubcommands: true })
		.enablePositionalOptions()
		.exitOverride();

	program
		.command("version")
		.description("print the version, the native libraries this node has and the embedded eBPF objects")
		.option("--json", "print as JSON")
		.addHelpText("after", "\nExamples:\n  terwayctl version\n  terwayctl version --json | jq .libraries")
		.action(async (opts: { json?: boolean }) => {
			const { versionCommand } = await import("./commands/version.ts");
			await versionCommand({ json: Boolean(opts.json || program.opts().json) });
		});

	registerSim(program);
	registerDaemon(program);
	registerInstall(program);
	registerCompletion(program);
	registerDiagnose(program);
	registerEni(program);
	registerMetadata(program);
	registerMapping(program);
	registerStatus(program);
	registerPolicy(program);
	return program;
}

/** Run the CLI with `argv` (process.argv shape); returns the exit code. */
export async function run(argv: string[]): Promise<number> {
	const program = buildProgram();
	const json = argv.includes("--json");
	try {
		await program.parseAsync(argv);
		return EXIT.ok;
	} catch (e) {
		if (e instanceof CommanderError) {
			// --help / --version exit 0; commander already printed the usage error line.
			return e.exitCode === 0 ? EXIT.ok : EXIT.usage;
		}
		const code = e instanceof ExitError ? e.exitCode : EXIT.problem;
		if (json) console.log(errorJson(e));
		else console.error(`terwayctl: ${errorLine(e)}`);
		return code;
	}
}
