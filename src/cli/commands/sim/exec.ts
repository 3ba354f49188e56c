/**
 * `terwayctl sim exec NODE -- CMD`: run a command as if on that node: inside its network
 * namespace (netns mode) with its environment (endpoints, credentials, kubeconfig, NODE_NAME).
 * The child is spawned while the JS thread is inside the namespace, so it is born there.
 */
import { existsSync, readFileSync } from "node:fs";
import { Netns } from "../../../linux/netns.ts";
import { SimClient } from "../../../sim/control/client.ts";
import { validatePrefix } from "../../../sim/layout.ts";
import { ExitError } from "../../errors.ts";

/** Parse the node env file (KEY=VALUE lines). */
export function parseEnvFile(text: string): Record<string, string> {
	const env: Record<string, string> = {};
	for (const line of text.split("\n")) {
		const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim());
		if (m) env[m[1]!] = m[2]!;
	}
	return env;
}

export async function simExec(opts: { prefix: string; node: string; command: string[] }): Promise<number> {
	const client = new SimClient(validatePrefix(opts.prefix));
	const info = client.info();
	const node = info.nodes.find((n) => n.name === opts.node);
	if (!node)
		throw new ExitError(
			`no node "${opts.node}" in world "${info.prefix}" (nodes: ${info.nodes.map((n) => n.name).join(", ")})`,
			2,
		);
	const command = opts.command[0] === "--" ? opts.command.slice(1) : opts.command;
	if (command.length === 0)
		throw new ExitError("sim exec: no command given (terwayctl sim exec NODE -- CMD ...)", 2);
	const envFile = client.paths.node(node.name).env;
	const env = { ...process.env, ...(existsSync(envFile) ? parseEnvFile(readFileSync(envFile, "utf8")) : {}) };
	const spawn = () => Bun.spawn(command, { stdio: ["inherit", "inherit", "inherit"], env });
	let child: ReturnType<typeof spawn>;
	if (node.netns) {
		using ns = Netns.open(node.netns);
		child = ns.run(spawn);
	} else child = spawn();
	return await child.exited;
}
