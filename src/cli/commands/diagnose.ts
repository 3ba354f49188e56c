/**
 * `terwayctl diagnose [pod NS/NAME]`: registration only; the checks engine (diagnose/), the pod
 * path (diagnose/pod.ts) and the ink TUI (cli/tui/) are imported lazily when the command runs, so
 * `terwayctl --help` loads neither react nor ink.
 */
import { type Command, Option } from "commander";

const EXAMPLES = `
Checks: terwayd reachable and ready; cloud credentials (a signed ECS call); metadata (token,
instance); IP pool within watermarks; pod -> IP -> ENI across store / cloud / metadata / kernel;
leaked ENIs, IPs, veths and rules; the conflist; the eBPF policy maps. Each problem names the
layer that disagrees and its fix.

Exit codes: 0 no warn/error finding, 1 a problem was found, 2 usage error.

Examples:
  terwayctl diagnose                       # the TUI on a terminal (q quits, r refreshes)
  terwayctl diagnose --no-tui              # the text report once
  terwayctl diagnose --json | jq '.findings[] | select(.severity != "ok")'
  terwayctl diagnose pod default/web-1 --to 10.0.2.7:80
  terwayctl sim exec node-1 -- terwayctl diagnose --no-tui`;

export function registerDiagnose(program: Command): void {
	const common = (c: Command) =>
		c
			.option("--json", "print the findings as JSON (schema in docs/cli/diagnose.md)")
			.option(
				"--socket <path>",
				"terwayd's socket (default $TERWAY_DAEMON_SOCKET, /var/run/terway/terwayd.sock)",
			)
			.option("--kubeconfig <file>", "kubeconfig for the eni-config (default $KUBECONFIG, else in-cluster)")
			.option(
				"--config <file>",
				"terwayd's config (JSON/YAML); its eni_conf over the ConfigMap's: credentials, region, datapath",
			)
			.option("--timeout <seconds>", "per-call timeout (daemon, cloud, metadata)", "10")
			.option(
				"--cni-conf-dir <dir>",
				"where the runtime reads 10-terway.conflist (default $CNI_CONF_DIR, /etc/cni/net.d)",
			);
	const json = (cmd: Command) => Boolean(cmd.optsWithGlobals().json);

	const diag = common(
		program
			.command("diagnose")
			.description("find what is wrong with this node's pod networking, and say how to fix it")
			.addOption(new Option("--no-tui", "print the report once even on a terminal"))
			.option("--interval <seconds>", "TUI refresh period", "5")
			.addHelpText("after", EXAMPLES),
	).action(async (opts, cmd: Command) => {
		(await import("./diagnose/args.ts")).checkArgs(opts);
		const { diagnose } = await import("./diagnose/index.ts");
		await diagnose({ ...opts, json: json(cmd) });
	});

	common(
		diag
			.command("pod")
			.description(
				"one pod's full path: its IPs, ENI, host veth, the rule and table its packets take, the policy verdict",
			)
			.argument("<pod>", "NAMESPACE/NAME")
			.option("--to <ip[:port]>", "a peer to explain the policy verdict for (TCP unless --proto)")
			.addOption(new Option("--no-tui", "accepted for symmetry: the pod view is always printed once"))
			.addOption(
				new Option("--proto <proto>", "protocol for --to")
					.choices(["tcp", "udp", "sctp", "icmp"])
					.default("tcp"),
			),
	).action(async (pod: string, opts, cmd: Command) => {
		(await import("./diagnose/args.ts")).checkArgs({ ...opts, pod });
		const { diagnosePod } = await import("./diagnose/pod.ts");
		await diagnosePod({ ...opts, pod, json: json(cmd) });
	});
}
