/**
 * Where a world lives on disk: `/run/terway-sim/<prefix>/`. The serve process writes these files;
 * every `terwayctl sim` subcommand finds its world by `--prefix` through them.
 *
 *   world.json       WorldInfo: mode, endpoints, nodes, pid (written once the world is up)
 *   control.sock     the control API (HTTP over a unix socket, root only)
 *   kubeconfig       for kubectl and the daemon
 *   serve.log        the serve process's own output
 *   requests.jsonl   the request log, appended
 *   nodes/<name>/    per-node dirs: env (for `sim exec`), cni/net.d, cni/cache
 */
import { SIM_RUN_DIR } from "./contracts.ts";

export type WorldMode = "netns" | "loopback";

/** What `sim up` leaves for the other subcommands (world.json). */
export type WorldInfo = {
	prefix: string;
	mode: WorldMode;
	pid: number;
	scenario: string;
	startedAt: string;
	/** As nodes reach them (netns mode: VPC-internal addresses). */
	endpoints: {
		/** ECS/VPC OpenAPI "host:port" (ECS_ENDPOINT/VPC_ENDPOINT), scheme http. */
		openapi: string;
		/** kube-apiserver URL. */
		apiserver: string;
		/** metadata base URL (netns: http://100.100.100.200). */
		metadata: string;
	};
	/** As this machine's root namespace reaches them (127.0.0.1). */
	host: { openapi: string; apiserver: string; apiserverTls: string };
	nodes: {
		name: string;
		instanceId: string;
		primaryIp: string;
		/** netns mode: the node's network namespace. */
		netns?: string;
		/** loopback mode: this node's own metadata listener. */
		metadata?: string;
	}[];
	/** Every network namespace this world made (sim down removes exactly these). */
	namespaces: string[];
	/** bpffs pin roots of the world's terwayds (`--cni terway`; sim down removes exactly these). */
	pinDirs?: string[];
};

const PREFIX_RE = /^[a-z][a-z0-9]{0,9}$/;

/** World prefixes name namespaces and links: short, lowercase, starting with a letter. */
export function validatePrefix(prefix: string): string {
	if (!PREFIX_RE.test(prefix)) {
		throw new Error(`--prefix ${JSON.stringify(prefix)}: must be 1-10 of [a-z0-9], starting with a letter`);
	}
	return prefix;
}

export function worldPaths(prefix: string, root: string = SIM_RUN_DIR) {
	const dir = `${root}/${validatePrefix(prefix)}`;
	return {
		dir,
		info: `${dir}/world.json`,
		control: `${dir}/control.sock`,
		kubeconfig: `${dir}/kubeconfig`,
		serveLog: `${dir}/serve.log`,
		requests: `${dir}/requests.jsonl`,
		node: (name: string) => ({
			dir: `${dir}/nodes/${name}`,
			env: `${dir}/nodes/${name}/env`,
			cniConfDir: `${dir}/nodes/${name}/cni/net.d`,
			cniCacheDir: `${dir}/nodes/${name}/cni/cache`,
		}),
	};
}
