/**
 * The Kubernetes client transport (src/k8s/client.ts) against the sim's kube-apiserver on
 * 127.0.0.1:0: HTTPS with the generated CA (kubeconfig and in-cluster), a wrong CA rejected,
 * plain HTTP, a client certificate (mTLS), token file rotation and request timeouts.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as k8s from "@kubernetes/client-node";
import { stringify } from "yaml";
import { KubeClient, KubeTimeoutError, loadInCluster, loadKubeconfigFile } from "../../src/k8s/client.ts";
import { FaultEngine } from "../../src/sim/faults.ts";
import { generateTls, KubeApiServer, type Listener, type TlsListener } from "../../src/sim/kube/index.ts";

let kube: KubeApiServer;
let http: Listener;
let https: TlsListener;
let dir: string;
const faults = new FaultEngine(3);
const clients: KubeClient[] = [];

beforeAll(() => {
	dir = mkdtempSync(join(tmpdir(), "terway-k8s-client-"));
	kube = new KubeApiServer({ faults, tokens: ["good", "rotated"] });
	http = kube.listen();
	https = kube.listenTls();
});

afterAll(async () => {
	for (const c of clients) c.close();
	await kube?.close();
	rmSync(dir, { recursive: true, force: true });
});

function client(file: string, opts: { timeoutMs?: number } = {}): KubeClient {
	const c = new KubeClient(loadKubeconfigFile(file), opts);
	clients.push(c);
	return c;
}

async function namespaces(c: KubeClient): Promise<string[]> {
	return (await c.core.listNamespace()).items.map((n) => n.metadata?.name ?? "");
}

describe("KubeClient transport", () => {
	test("HTTPS with the kubeconfig's CA data", async () => {
		const c = client(kube.writeKubeconfig(join(dir, "tls"), https, { token: "good" }));
		expect(c.server).toBe(https.url);
		expect(await namespaces(c)).toContain("kube-system");
	});

	test("HTTPS with a CA that did not sign the server certificate is rejected", async () => {
		const other = generateTls(["127.0.0.1"]);
		const c = client(
			kube.writeKubeconfig(join(dir, "wrong-ca"), https, { token: "good", caCert: other.caCert }),
		);
		const err = await c.core.listNamespace().then(
			() => undefined,
			(e: unknown) => e as { code?: string },
		);
		expect(err?.code).toBe("UNABLE_TO_VERIFY_LEAF_SIGNATURE");
	});

	test("HTTPS with certificate-authority as a relative file path", async () => {
		writeFileSync(join(dir, "ca.pem"), https.tls.caCert);
		const file = join(dir, "ca-file.yaml");
		writeFileSync(
			file,
			stringify({
				apiVersion: "v1",
				kind: "Config",
				clusters: [{ name: "c", cluster: { server: https.url, "certificate-authority": "ca.pem" } }],
				users: [{ name: "u", user: { token: "good" } }],
				contexts: [{ name: "x", context: { cluster: "c", user: "u", namespace: "kube-system" } }],
				"current-context": "x",
			}),
		);
		const c = client(file);
		expect(c.namespace).toBe("kube-system");
		expect(await namespaces(c)).toContain("default");
	});

	test("insecure-skip-tls-verify accepts any server certificate", async () => {
		const c = client(
			kube.writeKubeconfig(join(dir, "skip"), https, {
				token: "good",
				caCert: undefined,
				insecureSkipTlsVerify: true,
			}),
		);
		expect(await namespaces(c)).toContain("default");
	});

	test("plain HTTP", async () => {
		const c = client(kube.writeKubeconfig(join(dir, "http"), http, { token: "good" }));
		expect(c.server.startsWith("http://")).toBe(true);
		expect(await namespaces(c)).toContain("default");
	});

	test("a wrong bearer token is a 401 ApiException", async () => {
		const c = client(kube.writeKubeconfig(join(dir, "bad-token"), http, { token: "nope" }));
		const err = await c.core.listNamespace().then(
			() => undefined,
			(e: unknown) => e,
		);
		expect(err).toBeInstanceOf(k8s.ApiException);
		expect((err as k8s.ApiException<unknown>).code).toBe(401);
	});

	test("client certificate (mTLS): sent when the kubeconfig has one, refused without", async () => {
		// A TLS server that requires a client certificate signed by clientPki's CA. The sim's
		// generated certificates carry both serverAuth and clientAuth, so one serves as a client cert.
		const serverPki = generateTls(["127.0.0.1"]);
		const clientPki = generateTls(["terway-daemon"], { cn: "system:node:node-1" });
		const server = Bun.serve({
			hostname: "127.0.0.1",
			port: 0,
			tls: {
				cert: serverPki.cert,
				key: serverPki.key,
				ca: clientPki.caCert,
				requestCert: true,
				rejectUnauthorized: true,
			},
			fetch: (req) => kube.handler(req),
		});
		try {
			const url = `https://127.0.0.1:${server.port}`;
			const withCert = join(dir, "mtls.yaml");
			const b64 = (s: string) => Buffer.from(s).toString("base64");
			const config = (user: Record<string, string>) =>
				stringify({
					apiVersion: "v1",
					kind: "Config",
					clusters: [
						{ name: "c", cluster: { server: url, "certificate-authority-data": b64(serverPki.caCert) } },
					],
					users: [{ name: "u", user }],
					contexts: [{ name: "x", context: { cluster: "c", user: "u" } }],
					"current-context": "x",
				});
			writeFileSync(
				withCert,
				config({
					token: "good",
					"client-certificate-data": b64(clientPki.cert),
					"client-key-data": b64(clientPki.key),
				}),
			);
			expect(await namespaces(client(withCert))).toContain("default");
			const without = join(dir, "no-mtls.yaml");
			writeFileSync(without, config({ token: "good" }));
			const err = await client(without)
				.core.listNamespace()
				.then(
					() => undefined,
					(e: unknown) => e,
				);
			expect(err).toBeDefined();
			expect(err).not.toBeInstanceOf(k8s.ApiException);
		} finally {
			await server.stop(true);
		}
	});

	test("in-cluster: KUBERNETES_SERVICE_HOST/PORT, the ServiceAccount CA, token and namespace; a rotated token is re-read", async () => {
		const sa = join(dir, "serviceaccount");
		mkdirSync(sa, { recursive: true });
		writeFileSync(join(sa, "ca.crt"), https.tls.caCert);
		writeFileSync(join(sa, "token"), "good\n");
		writeFileSync(join(sa, "namespace"), "kube-system");
		const env = { KUBERNETES_SERVICE_HOST: "127.0.0.1", KUBERNETES_SERVICE_PORT: String(https.port) };
		const loaded = loadInCluster({ env, serviceAccountDir: sa });
		expect(loaded?.source).toBe("in-cluster");
		const c = new KubeClient(loaded!);
		clients.push(c);
		expect([c.server, c.namespace]).toEqual([https.url, "kube-system"]);
		expect(await namespaces(c)).toContain("default");
		// kubelet rotates a projected token by replacing the file
		writeFileSync(join(sa, "token"), "expired-and-unknown");
		const stale = await c.core.listNamespace().then(
			() => 200,
			(e: k8s.ApiException<unknown>) => e.code,
		);
		expect(stale).toBe(401);
		writeFileSync(join(sa, "token"), "rotated");
		expect(await namespaces(c)).toContain("default");
		expect(loadInCluster({ env: {}, serviceAccountDir: sa })).toBeUndefined();
	});

	test("a request that outlives timeoutMs fails with KubeTimeoutError", async () => {
		faults.add({
			id: "slow",
			match: { face: "kube", action: "configmaps" },
			effect: { kind: "hang" },
			times: 1,
		});
		const c = client(kube.writeKubeconfig(join(dir, "timeout"), http, { token: "good" }), { timeoutMs: 200 });
		const started = Date.now();
		const err = await c.core.listNamespacedConfigMap({ namespace: "default" }).then(
			() => undefined,
			(e: unknown) => e,
		);
		expect(err).toBeInstanceOf(KubeTimeoutError);
		expect(Date.now() - started).toBeLessThan(2000);
		expect(faults.list()).toEqual([]);
		expect((await c.core.listNamespacedConfigMap({ namespace: "default" })).kind).toBe("ConfigMapList");
	});
});
