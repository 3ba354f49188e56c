/**
 * `terwayctl policy dump|explain`: NetworkPolicy as the node's pinned eBPF maps enforce it, read
 * straight from bpffs (works with terwayd down). Registration only; the implementations
 * (policy/dump.ts, policy/explain.ts) are imported lazily when the command runs.
 */
import { type Command, Option } from "commander";
import { EXIT, ExitError } from "../errors.ts";
import { addOutputOptions, examples, outputFormat, socketOption } from "../format.ts";

const pinRootOption = () =>
	new Option(
		"--pin-root <dir>",
		"where the policy maps are pinned (default $TERWAY_BPF_PIN_ROOT, else /sys/fs/bpf/terway)",
	);

const protoOption = () =>
	new Option("--proto <proto>", "protocol of the flow")
		.choices(["tcp", "udp", "sctp", "icmp"])
		.default("tcp");

export function registerPolicy(program: Command): void {
	const policy = program
		.command("policy")
		.description("NetworkPolicy on this node, read from the pinned eBPF maps (works while terwayd is down)");

	addOutputOptions(
		policy
			.command("dump")
			.description(
				"identities, each local pod's isolation and rules in NetworkPolicy words, counters and recent drops",
			),
	)
		.option("--pod <ns/name>", "only this pod (resolved from terwayd's state; an IP address works too)")
		.addOption(pinRootOption())
		.option("--state-dir <dir>", "terwayd state directory, to resolve --pod (default /var/lib/terway)")
		.addOption(socketOption())
		.option("--watch", "follow drop events live, one line each (JSON lines with --json), until Ctrl-C")
		.option(
			"--flow <src,dst>",
			"instead of the dump, explain a flow: SRC,DST (with --proto, --port), as `policy explain`",
		)
		.addOption(protoOption())
		.option("--port <n>", "destination port of the flow (tcp/udp/sctp)")
		.addHelpText(
			"after",
			examples([
				"terwayctl policy dump",
				"terwayctl policy dump --pod prod/db-0",
				"terwayctl policy dump --json | jq '.endpoints[] | {name, rules: [.rules[].text]}'",
				"terwayctl policy dump --watch                      # one line per dropped packet, Ctrl-C to stop",
				"terwayctl policy dump --flow 10.0.0.5,10.0.0.7 --port 5432",
				"terwayctl sim exec node-1 -- terwayctl policy dump  # a sim node (its pin root comes from the env)",
			]),
		)
		.action(async (opts, cmd: Command) => {
			if (opts.flow !== undefined) {
				const { policyExplain, splitFlow } = await import("./policy/explain.ts");
				const [src, dst] = splitFlow(opts.flow);
				await policyExplain({ ...opts, src, dst, format: outputFormat(cmd) });
				return;
			}
			if (opts.port !== undefined) {
				throw new ExitError("--port (and --proto) describe a flow: use them with --flow SRC,DST", EXIT.usage);
			}
			const { policyDump } = await import("./policy/dump.ts");
			await policyDump({ ...opts, format: outputFormat(cmd) });
		});

	addOutputOptions(
		policy
			.command("explain")
			.description("say in words why a flow is allowed or dropped by the policy in the maps")
			.argument("<src>", "source address (a pod IP, or any address)")
			.argument("<dst>", "destination address")
			.addOption(protoOption())
			.option("--port <n>", "destination port (tcp/udp/sctp)")
			.addOption(pinRootOption()),
	)
		.addHelpText(
			"after",
			examples([
				"terwayctl policy explain 10.0.0.5 10.0.0.7 --port 5432",
				"terwayctl policy explain 10.0.0.7 10.96.0.10 --proto udp --port 53",
				"terwayctl policy explain 10.0.0.5 10.0.0.7 --proto icmp --json",
			]),
		)
		.action(async (src: string, dst: string, opts, cmd: Command) => {
			const { policyExplain } = await import("./policy/explain.ts");
			await policyExplain({ ...opts, src, dst, format: outputFormat(cmd) });
		});
}
