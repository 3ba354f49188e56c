/**
 * The CLI's output conventions, shared by every command that prints a table or a document:
 * `--json` and `-o json|yaml|wide` (one format, decided once), `--socket` for terwayd's API (the
 * three added together by `addOutputOptions`), `--kubeconfig` where Kubernetes is read, an
 * "Examples:" help block, and rendering of a document as JSON or YAML. Tables themselves come
 * from output.ts (`table`, `style`: colour only on a TTY).
 *
 * Must not: import a command, the daemon or the cloud (this is loaded by every registration).
 */
import { type Command, Option } from "commander";

/** `table` is the default human view; `wide` adds columns; `json`/`yaml` print the document. */
export type OutputFormat = "table" | "wide" | "json" | "yaml";

/** `-o, --output <format>`: json, yaml or wide. */
export function outputOption(): Option {
	return new Option("-o, --output <format>", "output format").choices(["json", "yaml", "wide"]);
}

/** `--json` on a subcommand (the same as `-o json`; errors become JSON too). */
export function jsonOption(): Option {
	return new Option("--json", "print as JSON (errors too); the same as -o json");
}

/** `--socket <path>` for commands that ask terwayd. */
export function socketOption(): Option {
	return new Option(
		"--socket <path>",
		"terwayd's API socket (default $TERWAY_DAEMON_SOCKET, else /var/run/terway/terwayd.sock)",
	);
}

/**
 * Adds the output options of a command that prints a document: `--socket` first when it asks
 * terwayd, then `--json` and `-o` (only json|yaml with `documentsOnly`, for commands with no
 * table to widen). Returns `cmd`, so a registration chain goes on.
 */
export function addOutputOptions(
	cmd: Command,
	o: { socket?: boolean; documentsOnly?: boolean } = {},
): Command {
	if (o.socket) cmd.addOption(socketOption());
	const output = outputOption();
	return cmd.addOption(jsonOption()).addOption(o.documentsOnly ? output.choices(["json", "yaml"]) : output);
}

/** `--kubeconfig <file>` for commands that read Kubernetes. */
export function kubeconfigOption(): Option {
	return new Option("--kubeconfig <file>", "kubeconfig (default $KUBECONFIG, else in-cluster)");
}

/** The "Examples:" help block every command ends its --help with. */
export function examples(lines: string[]): string {
	return `\nExamples:\n${lines.map((l) => `  ${l}`).join("\n")}`;
}

/**
 * The one output format of a command run: `--json` (the command's or the program's) wins, then
 * `-o`, else `table`. Call with the action's `Command` so a global `terwayctl --json X` counts.
 */
export function outputFormat(cmd: Command | { optsWithGlobals(): Record<string, unknown> }): OutputFormat {
	const o = cmd.optsWithGlobals() as { json?: boolean; output?: string };
	if (o.json) return "json";
	if (o.output === "json" || o.output === "yaml" || o.output === "wide") return o.output;
	return "table";
}

/** True when the format is a machine document (json or yaml). */
export function isDocument(f: OutputFormat): f is "json" | "yaml" {
	return f === "json" || f === "yaml";
}

/** A document as JSON (2-space indent) or YAML, with a trailing newline. */
export function renderDocument(doc: unknown, format: "json" | "yaml"): string {
	if (format === "json") return `${JSON.stringify(doc, null, 2)}\n`;
	// YAML has no `undefined`: drop it the way JSON.stringify does
	const plain = JSON.parse(JSON.stringify(doc ?? null));
	const text = Bun.YAML.stringify(plain, null, 2);
	return text.endsWith("\n") ? text : `${text}\n`;
}

/** Prints `doc` in a document format, or calls `human(wide)` for the table views. */
export function emit(format: OutputFormat, doc: unknown, human: (wide: boolean) => string): void {
	if (isDocument(format)) process.stdout.write(renderDocument(doc, format));
	else {
		const text = human(format === "wide");
		process.stdout.write(text.endsWith("\n") || text === "" ? text : `${text}\n`);
	}
}
