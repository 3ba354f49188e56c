/**
 * `terwayctl daemon`: terwayd, the node's ENI/IP pool and local API. Registration only; the
 * implementation (daemon/run.ts) is imported when it runs.
 */
import { type Command, Option } from "commander";

export function registerDaemon(program: Command): void {
	program
		.command("daemon")
		.description("run terwayd: the node's ENI/IP pool, reconcile/GC loops and the local API socket")
		.option("--config <file>", "daemon config file (JSON or YAML; eni_conf and daemon keys)")
		.option("--kubeconfig <file>", "kubeconfig (default $KUBECONFIG, else in-cluster, else standalone)")
		.option("--socket <path>", "local API socket (default from config, /var/run/terway/terwayd.sock)")
		.option("--state-dir <dir>", "state directory holding state.db (default from config, /var/lib/terway)")
		.option("--node <name>", "Kubernetes node name (default from config, else $NODE_NAME, else hostname)")
		.addOption(
			new Option(
				"--no-datapath-links",
				"do not touch the ENIs' Linux links (worlds without kernel links, e.g. the loopback sim)",
			),
		)
		.addOption(
			new Option("--log-level <level>", "log level")
				.choices(["debug", "info", "warn", "error"])
				.default("info"),
		)
		.addHelpText(
			"after",
			`
Examples:
  terwayctl daemon --config /etc/terway/daemon.json
  terwayctl sim exec node-1 -- terwayctl daemon --config cfg.json --state-dir /run/terway-sim/tw/nodes/node-1/state \\
      --socket /run/terway-sim/tw/nodes/node-1/terwayd.sock
  curl --unix-socket /var/run/terway/terwayd.sock http://terwayd/v1/status`,
		)
		.action(async (opts) => {
			const { runDaemon } = await import("./daemon/run.ts");
			await runDaemon(opts);
		});
}
