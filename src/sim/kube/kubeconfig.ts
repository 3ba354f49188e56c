/**
 * kubeconfig files for the fake apiserver: what kubectl (and client-node) read to reach it.
 * One cluster, one user (bearer token), one context, all named after the sim.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { stringify } from "yaml";

export type KubeconfigSpec = {
	/** "https://127.0.0.1:6443" or "http://127.0.0.1:8080". */
	server: string;
	/** PEM CA that signed the server certificate (HTTPS). */
	caCert?: string;
	/** Skip server certificate checks (client-node needs this for plain http://, cloud-sim.md §4.3). */
	insecureSkipTlsVerify?: boolean;
	/** Bearer token (any token is admitted unless the handler was given a token list). */
	token?: string;
	/** Names of the cluster, user and context (default "terway-sim"). */
	name?: string;
	/** Default namespace of the context. */
	namespace?: string;
};

/** The kubeconfig as YAML text. */
export function kubeconfigYaml(spec: KubeconfigSpec): string {
	const n = spec.name ?? "terway-sim";
	return stringify({
		apiVersion: "v1",
		kind: "Config",
		clusters: [
			{
				name: n,
				cluster: {
					server: spec.server,
					...(spec.caCert
						? { "certificate-authority-data": Buffer.from(spec.caCert).toString("base64") }
						: {}),
					...(spec.insecureSkipTlsVerify ? { "insecure-skip-tls-verify": true } : {}),
				},
			},
		],
		users: [{ name: n, user: { token: spec.token ?? "terway-sim" } }],
		contexts: [
			{ name: n, context: { cluster: n, user: n, ...(spec.namespace ? { namespace: spec.namespace } : {}) } },
		],
		"current-context": n,
		preferences: {},
	});
}

/** Write a kubeconfig file (mode 0600, parent directories created). Returns the path. */
export function writeKubeconfig(path: string, spec: KubeconfigSpec): string {
	mkdirSync(dirname(path), { recursive: true });
	writeFileSync(path, kubeconfigYaml(spec), { mode: 0o600 });
	return path;
}
