/**
 * `terwayctl sim exec NODE -- CMD`: run a command as if on that node: inside its network
 * namespace (netns mode) with its environment (endpoints, credentials, kubeconfig, NODE_NAME).
 * The child is spawned while the JS thread is inside the namespace, so it is born there.
 * SIGTERM/SIGINT/SIGHUP are forwarded to the command; the exit status is the command's.
 */
import { existsSync, readFileSync } from "node:fs";
import os from "node:os";
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
	// Like exec(1) as far as the caller can tell: SIGTERM/SIGINT/SIGHUP sent to `sim exec` go to
	// the command (which may drain and exit on its own terms), and we exit with its status.
	const forward = (sig: NodeJS.Signals) => () => {
		try {
			child.kill(sig);
		} catch {
			// already gone
		}
	};
	const handlers = (["SIGTERM", "SIGINT", "SIGHUP"] as const).map((sig) => {
		const h = forward(sig);
		process.on(sig, h);
		return [sig, h] as const;
	});
	let code: number;
	try {
		code = await child.exited;
		// killed by a signal: report it the shell's way (128 + signal number)
		const sig = child.signalCode;
		if (sig) code = 128 + (typeof sig === "number" ? sig : (os.constants.signals[sig] ?? 0));
	} finally {
		for (const [sig, h] of handlers) process.off(sig, h);
	}
	// the CLI's exit status is the command's (an ExitError carries it through cli/main's run())
	if (code !== 0)
		throw new ExitError(
			`sim exec: ${command[0]} ${child.signalCode ? `was killed by ${child.signalCode}` : "exited"} (status ${code})`,
			code,
		);
	return code;
}
