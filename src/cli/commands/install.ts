/**
 * `terwayctl install`: registration only; the implementation (install/index.ts) is imported
 * lazily when the command runs.
 */
import { type Command, Option } from "commander";

export function registerInstall(program: Command): void {
	program
		.command("install")
		.description(
			"prepare this node for Terway: check kernel and libraries, install the CNI binary and conflist, host sysctls, bpffs",
		)
		.option(
			"--root <dir>",
			"install into a directory tree instead of this node (images, tests); no live sysctls or mounts",
		)
		.option(
			"--dry-run",
			"print what would change (a unified diff per file, old -> new per sysctl) and change nothing",
		)
		.option("--uninstall", "reverse what install did (from <root>/var/lib/terway/install.json)")
		.addOption(
			new Option(
				"--eni-config <file>",
				"eni_conf as JSON/YAML, or an eni-config ConfigMap manifest",
			).conflicts("configmap"),
		)
		.addOption(
			new Option(
				"--configmap <ns/name>",
				"read eni_conf from this ConfigMap (e.g. kube-system/eni-config)",
			).conflicts("eniConfig"),
		)
		.option("--kubeconfig <file>", "kubeconfig for --configmap (default in-cluster)")
		.option(
			"--binary <path>",
			"the terwayctl binary to install as /opt/cni/bin/terway (default: this executable)",
		)
		.option("--mtu <n>", "pod MTU (default: the primary link's MTU on a node, 1500 under --root)")
		.option("--json", "print the report as JSON")
		.addHelpText(
			"after",
			`
Examples:
  terwayctl install --configmap kube-system/eni-config
  terwayctl install --dry-run --eni-config /etc/eni/eni_conf
  terwayctl install --root /tmp/image --binary dist/terwayctl --mtu 9000
  terwayctl install --uninstall

Exit codes: 0 done (or nothing to do), 1 a required check failed or a step failed, 2 bad usage or eni-config.`,
		)
		.action(async (opts, cmd: Command) => {
			const { install } = await import("./install/index.ts");
			const json = Boolean(opts.json || cmd.parent?.opts().json);
			await install({ ...opts, json });
		});
}
