/**
 * One CNI command through the plugin's skel in-process, the way a runtime execs the plugin: the
 * CNI_* environment (pod default/<containerId>, eth0), the network config on stdin, the result or
 * error JSON captured from stdout. For the netns suites that drive the handlers against real
 * namespaces. Test helper, not a test.
 */
import type { Logger } from "../../src/plugin/log.ts";
import { mapError } from "../../src/plugin/main.ts";
import { type CniHandlers, runSkel } from "../../src/plugin/skel.ts";

export type CniRun = { code: number; out: string };

export async function runCni(
	handlers: CniHandlers,
	log: Logger,
	cmd: string,
	containerId: string,
	netns: string,
	stdin: object,
): Promise<CniRun> {
	let out = "";
	const env: Record<string, string> = {
		CNI_COMMAND: cmd,
		CNI_CONTAINERID: containerId,
		CNI_NETNS: netns,
		CNI_IFNAME: "eth0",
		CNI_PATH: "/opt/cni/bin",
		CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=${containerId}`,
	};
	const code = await runSkel({
		handlers,
		ports: {
			getenv: (n) => env[n],
			readStdin: async () => JSON.stringify(stdin),
			writeStdout: (t) => {
				out += t;
			},
			writeStderr: () => {},
		},
		mapError,
		about: "test",
		log,
	});
	return { code, out };
}
