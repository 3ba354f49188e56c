/**
 * `terwayctl completion bash|zsh|fish` and the hidden `terwayctl __complete pods|enis` the
 * scripts call for dynamic values. Registration only; the implementations (completion/*.ts) are
 * imported lazily.
 */
import { Argument, type Command } from "commander";

export function registerCompletion(program: Command): void {
	program
		.command("completion")
		.description("print the shell completion script (bash, zsh or fish) for terwayctl")
		.addArgument(new Argument("<shell>", "the shell").choices(["bash", "zsh", "fish"]))
		.addHelpText(
			"after",
			`
Examples:
  source <(terwayctl completion bash)                       # this bash session
  terwayctl completion bash > /etc/bash_completion.d/terwayctl
  terwayctl completion zsh > "\${fpath[1]}/_terwayctl"
  terwayctl completion fish > ~/.config/fish/completions/terwayctl.fish

Pod names (diagnose pod, --pod) and ENI ids (eni inspect|delete, --eni) are completed from a
running terwayd (\`terwayctl __complete pods|enis\`); with no daemon they are simply not offered.`,
		)
		.action(async (shell: "bash" | "zsh" | "fish") => {
			const { script } = await import("./completion/generate.ts");
			const { buildProgram } = await import("../main.ts");
			process.stdout.write(script(shell, buildProgram()));
		});

	program
		.command("__complete", { hidden: true })
		.description("print pod names or ENI ids from terwayd for shell completion (nothing when it is down)")
		.addArgument(new Argument("<what>").choices(["pods", "enis"]))
		.option(
			"--socket <path>",
			"terwayd's socket (default $TERWAY_DAEMON_SOCKET, /var/run/terway/terwayd.sock)",
		)
		.action(async (what: "pods" | "enis", opts: { socket?: string }) => {
			const { completeCommand } = await import("./completion/dynamic.ts");
			await completeCommand(what, opts.socket);
		});
}
