/**
 * `terwayctl eni list|inspect|delete`: the node's ENIs as the cloud API, metadata, terwayd and the
 * kernel see them. Registration only; the implementations (eni/index.ts, eni/delete.ts) are
 * imported when they run.
 */
import { type Command, Option } from "commander";
import { addOutputOptions, examples, kubeconfigOption, outputFormat } from "../format.ts";
import { parseEniId } from "./eni/ids.ts";

const configOption = () =>
	new Option(
		"--config <file>",
		"terwayd's config (JSON/YAML) for cloud credentials and region (eni_conf access_key/access_secret, credential_path, region_id), over the eni-config ConfigMap's; default: the environment, then the instance RAM role",
	);

/** What every eni subcommand reads its sources with (config, kubeconfig, socket), then its output options. */
const sourceOptions = (cmd: Command, documentsOnly = false): Command =>
	addOutputOptions(cmd.addOption(configOption()).addOption(kubeconfigOption()), {
		socket: true,
		documentsOnly,
	});

export function registerEni(program: Command): void {
	const eni = program
		.command("eni")
		.description("this node's ENIs from the cloud API, metadata, terwayd and the kernel, side by side")
		.addHelpText(
			"after",
			examples([
				"terwayctl eni list",
				"terwayctl eni list -o wide                # every IP with its pod, all tags",
				"terwayctl eni inspect eni-bp1g6nzq2pvlz1x0ngys",
				"terwayctl eni delete eni-bp1g6nzq2pvlz1x0ngys --yes",
				"terwayctl sim exec node-1 -- terwayctl eni list    # a node of the offline sim",
			]),
		);

	sourceOptions(
		eni
			.command("list")
			.alias("ls")
			.description(
				"every ENI of this instance (and detached ones terway tagged for it): type, status, MAC, link, vSwitch, IPs, pods, tags, problems (exit 1 on any)",
			)
			.option("--problems", "only ENIs with a problem"),
	)
		.addHelpText(
			"after",
			examples([
				"terwayctl eni list",
				"terwayctl eni list --problems",
				"terwayctl eni list -o wide",
				"terwayctl eni list --json | jq '.enis[] | {id, problems}'",
				"terwayctl eni list --config /etc/eni/eni_conf.json   # credentials from terwayd's config",
			]),
		)
		.action(
			async (
				opts: { problems?: boolean; config?: string; kubeconfig?: string; socket?: string },
				cmd: Command,
			) => {
				const { eniList } = await import("./eni/index.ts");
				await eniList({ ...opts, format: outputFormat(cmd) });
			},
		);

	sourceOptions(
		eni
			.command("inspect")
			.alias("show")
			.description(
				"everything about one ENI: each IP in each source, its pod, tags, problems (exit 1 on any)",
			)
			.argument("<id>", "ENI id, eni-xxxx"),
		true,
	)
		.addHelpText(
			"after",
			examples([
				"terwayctl eni inspect eni-bp1g6nzq2pvlz1x0ngys",
				"terwayctl eni inspect eni-bp1g6nzq2pvlz1x0ngys -o yaml",
			]),
		)
		.action(
			async (id: string, opts: { config?: string; kubeconfig?: string; socket?: string }, cmd: Command) => {
				parseEniId(id); // a usage error before the cloud SDK is even loaded
				const { eniInspect } = await import("./eni/index.ts");
				await eniInspect({ ...opts, id, format: outputFormat(cmd) });
			},
		);

	sourceOptions(
		eni
			.command("delete")
			.alias("rm")
			.description(
				"detach and delete an ENI through the cloud API, waiting for each state; refuses ENIs pods use, not created by terway or attached elsewhere unless --force, never the primary",
			)
			.argument("<id>", "ENI id, eni-xxxx")
			.option(
				"--force",
				"delete even if pods use it, terway did not create it, or it is attached to another instance",
			)
			.option("-y, --yes", "do not ask for confirmation (required when stdin is not a terminal)"),
		true,
	)
		.addHelpText(
			"after",
			examples([
				"terwayctl eni delete eni-bp1g6nzq2pvlz1x0ngys          # asks on a terminal",
				"terwayctl eni delete eni-bp1g6nzq2pvlz1x0ngys --yes    # scripts",
				"terwayctl eni delete eni-bp1g6nzq2pvlz1x0ngys --force --yes   # even if in use / not terway's",
			]),
		)
		.action(
			async (
				id: string,
				opts: { force?: boolean; yes?: boolean; config?: string; kubeconfig?: string; socket?: string },
				cmd: Command,
			) => {
				parseEniId(id);
				const { eniDelete } = await import("./eni/delete.ts");
				await eniDelete({ ...opts, id, format: outputFormat(cmd) });
			},
		);
}
