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

const EXIT_CODES_HELP = `
Exit codes:
  0  ok
  1  a problem was found (an inconsistency, a daemon not ready) or an operation failed
  2  usage error: unknown command or option (with the nearest valid choice), bad argument form`;

/**
 * A commander usage error as one line: its "(Did you mean X?)" suggestion joined onto the error,
 * or with --json the error document on stdout (`kind: "UsageError"`, `suggestion` when there is one).
 */
export function usageErrorOutput(jsonErrors: boolean) {
	return (str: string, write: (s: string) => void): void => {
		const lines = str.trim().split("\n");
		// "(Did you mean list?)" or "(Did you mean one of list, ls?)": the first is the nearest
		const suggestion = /\(Did you mean (?:one of )?([^,?]+)/.exec(str)?.[1];
		if (!jsonErrors) {
			write(`${lines.join(" ")}\n`);
			return;
		}
		const message = (lines[0] ?? "").replace(/^error: /, "");
		process.stdout.write(
			`${JSON.stringify({ error: { message, kind: "UsageError", ...(suggestion ? { suggestion } : {}) } })}\n`,
		);
	};
}

/** The whole commander program (also walked by `terwayctl completion` to generate the shell scripts). */
export function buildProgram(opts: { jsonErrors?: boolean } = {}): Command {
	const program = new Command("terwayctl")
		.description(
			"Terway container networking for Alibaba Cloud VPC/ENI, rebuilt on Bun: install, inspect, troubleshoot",
		)
		.version(`terwayctl ${VERSION}`, "-V, --version", "print the version")
		.addOption(new Option("--json", "machine-readable output (errors too)"))
		.showHelpAfterError(opts.jsonErrors ? false : "(run with --help for usage)")
		.showSuggestionAfterError(true)
		.configureOutput({ outputError: usageErrorOutput(Boolean(opts.jsonErrors)) })
		.configureHelp({ sortSubcommands: true })
		.addHelpText("after", EXIT_CODES_HELP)
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
	// only our own flags count: `sim exec NODE -- terwayctl X --json` must not make sim exec's errors JSON
	const end = argv.indexOf("--");
	const json = (end < 0 ? argv : argv.slice(0, end)).includes("--json");
	const program = buildProgram({ jsonErrors: json });
	// `terwayctl ... | head`: the reader went away; stop quietly like any Unix tool
	process.stdout.on("error", (e: NodeJS.ErrnoException) => {
		if (e.code === "EPIPE") process.exit(EXIT.ok);
	});
	try {
		await program.parseAsync(argv);
		return EXIT.ok;
	} catch (e) {
		if ((e as NodeJS.ErrnoException)?.code === "EPIPE") return EXIT.ok;
		if (e instanceof CommanderError) {
			// --help / --version exit 0; commander already printed the usage error line.
			return e.exitCode === 0 ? EXIT.ok : EXIT.usage;
		}
		const code = e instanceof ExitError ? e.exitCode : EXIT.problem;
		if (e instanceof ExitError && e.printed) return code;
		if (json) console.log(errorJson(e));
		else console.error(`terwayctl: ${errorLine(e)}`);
		return code;
	}
}
