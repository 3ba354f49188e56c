/**
 * `terwayctl sim ...`: the offline Alibaba Cloud + cluster. Registration only; each subcommand's
 * implementation is imported when it runs.
 */
import { type Command, Option } from "commander";

const prefixOption = () =>
	new Option("--prefix <prefix>", "which world (names its namespaces and files)").default(
		process.env.TERWAY_SIM_PREFIX ?? "tw",
	);

const cniOption = () =>
	new Option(
		"--cni <cni>",
		"the nodes' pod network (netns mode): Debian's ptp, or terway (its conflist + a terwayd per node)",
	)
		.choices(["ptp", "terway"])
		.default("ptp");

export function registerSim(program: Command): void {
	const sim = program
		.command("sim")
		.enablePositionalOptions()
		.description(
			"an offline Alibaba Cloud VPC with nodes, ENIs, metadata and a Kubernetes API on this machine",
		)
		.addHelpText(
			"after",
			`
Examples:
  terwayctl sim up --nodes 2                 # netns mode: a VPC of network namespaces
  terwayctl sim up --nodes 2 --cni terway    # ... whose nodes run terwayd and the terway plugin
  kubectl --kubeconfig /run/terway-sim/tw/kubeconfig get nodes
  terwayctl sim exec node-1 -- ip addr       # a command inside node-1's namespace
  terwayctl sim pod add web-1
  terwayctl sim fault add --face openapi --action AttachNetworkInterface --effect error --code InternalError --status 500 --times 1
  terwayctl sim log --face openapi
  terwayctl sim down`,
		);
	const json = (cmd: Command) => Boolean(cmd.optsWithGlobals().json);

	sim
		.command("up")
		.description("bring a world up (returns when its nodes are ready)")
		.addOption(prefixOption())
		.addOption(
			new Option("--mode <mode>", "netns (real packets) or loopback (127.0.0.1 only)")
				.choices(["netns", "loopback"])
				.default("netns"),
		)
		.option("--nodes <n>", "number of nodes (overrides the scenario)")
		.option("--scenario <file>", "scenario file (YAML or JSON); default: the embedded one")
		.option("--state <file>", "restore a world saved with `sim snapshot` instead of seeding one")
		.addOption(cniOption())
		.option("--json", "print the world as JSON when it is up")
		.action(async (opts, cmd: Command) => {
			const { simUp } = await import("./sim/up.ts");
			await simUp({ ...opts, json: json(cmd) });
		});

	sim
		.command("down")
		.description("stop a world and remove exactly what it made")
		.addOption(prefixOption())
		.option("--json", "print what was removed as JSON")
		.action(async (opts, cmd: Command) => {
			const { simDown } = await import("./sim/down.ts");
			await simDown({ ...opts, json: json(cmd) });
		});

	sim
		.command("status")
		.description("nodes, ENIs, IPs, pods and endpoints of a world")
		.addOption(prefixOption())
		.option("--json", "print as JSON")
		.action(async (opts, cmd: Command) => {
			const { simStatus } = await import("./sim/status.ts");
			await simStatus({ ...opts, json: json(cmd) });
		});

	sim
		.command("exec")
		.description("run a command inside a node (its namespace and environment: endpoints, kubeconfig)")
		.addOption(prefixOption())
		.argument("<node>", "node name, e.g. node-1")
		.argument("<command...>", "the command (after --)")
		.passThroughOptions()
		.action(async (node: string, command: string[], opts) => {
			const { simExec } = await import("./sim/exec.ts");
			process.exitCode = await simExec({ prefix: opts.prefix, node, command });
		});

	const pod = sim
		.command("pod")
		.description("add, delete and list pods (a scheduler and kubelet stand-in run them)");
	pod
		.command("add")
		.argument("<name>", "pod name")
		.addOption(prefixOption())
		.option("-n, --namespace <ns>", "namespace", "default")
		.option("--node <node>", "bind to this node (default: the node with the fewest pods)")
		.option("--json", "print as JSON")
		.action(async (name: string, opts, cmd: Command) => {
			const { simPodAdd } = await import("./sim/pod.ts");
			await simPodAdd({ ...opts, name, json: json(cmd) });
		});
	pod
		.command("del")
		.argument("<name>", "pod name")
		.addOption(prefixOption())
		.option("-n, --namespace <ns>", "namespace", "default")
		.action(async (name: string, opts) => {
			const { simPodDel } = await import("./sim/pod.ts");
			await simPodDel({ ...opts, name });
		});
	pod
		.command("list")
		.addOption(prefixOption())
		.option("--json", "print as JSON")
		.action(async (opts, cmd: Command) => {
			const { simPodList } = await import("./sim/pod.ts");
			await simPodList({ ...opts, json: json(cmd) });
		});

	const fault = sim.command("fault").description("inject faults into the cloud API, metadata and apiserver");
	fault
		.command("add")
		.addOption(prefixOption())
		.addOption(new Option("--face <face>", "which face").choices(["openapi", "metadata", "kube", "world"]))
		.option("--action <action>", "OpenAPI action, metadata path prefix, kube resource or world op")
		.option("--instance <id>", "only for this instance")
		.option("--eni <id>", "only for this ENI")
		.option("--nth <n>", "only the nth matching request")
		.option("--probability <p>", "fire with this probability (0..1)")
		.option("--times <n>", "fire at most n times")
		.option(
			"--effect <kind>",
			"error|throttle|latency|hang|reset|ipExhausted|attachStuck|attachFail|metadataLag|watchDrop|gone",
		)
		.option("--code <code>", "error code (effect error)")
		.option("--status <status>", "HTTP status (effect error)")
		.option("--ms <ms>", "milliseconds (latency, metadataLag)")
		.option("--rule <json>", "the whole rule as JSON instead of the flags")
		.option("--json", "print as JSON")
		.action(async (opts, cmd: Command) => {
			const { simFaultAdd } = await import("./sim/fault.ts");
			await simFaultAdd({ ...opts, json: json(cmd) });
		});
	fault
		.command("list")
		.addOption(prefixOption())
		.option("--json", "print as JSON")
		.action(async (opts, cmd: Command) => {
			const { simFaultList } = await import("./sim/fault.ts");
			await simFaultList({ ...opts, json: json(cmd) });
		});
	fault
		.command("rm")
		.argument("<id>", "rule id")
		.addOption(prefixOption())
		.action(async (id: string, opts) => {
			const { simFaultRm } = await import("./sim/fault.ts");
			await simFaultRm({ ...opts, id });
		});
	fault
		.command("clear")
		.addOption(prefixOption())
		.action(async (opts) => {
			const { simFaultClear } = await import("./sim/fault.ts");
			await simFaultClear(opts);
		});

	sim
		.command("log")
		.description("every API call and world transition, in order")
		.addOption(prefixOption())
		.option("--since <seq>", "only entries after this sequence number", "0")
		.addOption(
			new Option("--face <face>", "only this face").choices([
				"openapi",
				"metadata",
				"kube",
				"world",
				"control",
			]),
		)
		.option("-f, --follow", "keep printing new entries")
		.option("--json", "one JSON object per line")
		.action(async (opts, cmd: Command) => {
			const { simLog } = await import("./sim/log.ts");
			await simLog({ ...opts, json: json(cmd) });
		});

	sim
		.command("snapshot")
		.description("save the world's state (ENIs, IPs, pending operations) to a file for `sim up --state`")
		.addOption(prefixOption())
		.requiredOption("-o, --out <file>", "where to write the snapshot (JSON)")
		.action(async (opts) => {
			const { simSnapshot } = await import("./sim/snapshot.ts");
			await simSnapshot(opts);
		});

	sim
		.command("serve", { hidden: true })
		.description("run a world in the foreground (what `sim up` starts)")
		.addOption(prefixOption())
		.addOption(new Option("--mode <mode>").choices(["netns", "loopback"]).default("netns"))
		.option("--nodes <n>")
		.option("--scenario <file>")
		.option("--state <file>")
		.addOption(cniOption())
		.action(async (opts) => {
			const { simServe } = await import("./sim/serve.ts");
			await simServe(opts);
		});
}
