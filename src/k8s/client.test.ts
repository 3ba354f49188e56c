import { describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as k8s from "@kubernetes/client-node";
import { stringify } from "yaml";
import { KubeAuth, KubeConfigError, loadKubeConfig, loadKubeconfigFile, tlsOptionsOf } from "./client.ts";

const dir = mkdtempSync(join(tmpdir(), "terway-k8s-unit-"));
const b64 = (s: string) => Buffer.from(s).toString("base64");

function kubeconfig(name: string, cluster: Record<string, unknown>, user: Record<string, unknown>): string {
	const file = join(dir, name);
	writeFileSync(
		file,
		stringify({
			apiVersion: "v1",
			kind: "Config",
			clusters: [{ name: "c", cluster: { server: "https://10.0.0.1:6443", ...cluster } }],
			users: [{ name: "u", user }],
			contexts: [
				{ name: "x", context: { cluster: "c", user: "u" } },
				{ name: "y", context: { cluster: "c", user: "u", namespace: "ns-y" } },
			],
			"current-context": "x",
		}),
	);
	return file;
}

describe("kubeconfig loading", () => {
	test("TLS options from data fields: CA, client cert and key, server name", () => {
		const f = kubeconfig(
			"data.yaml",
			{ "certificate-authority-data": b64("CA"), "tls-server-name": "kubernetes" },
			{ "client-certificate-data": b64("CERT"), "client-key-data": b64("KEY") },
		);
		expect(tlsOptionsOf(loadKubeconfigFile(f).kubeConfig)).toEqual({
			rejectUnauthorized: true,
			ca: "CA",
			cert: "CERT",
			key: "KEY",
			serverName: "kubernetes",
		});
	});

	test("file fields resolve against the kubeconfig's directory; skip-verify turns verification off", () => {
		writeFileSync(join(dir, "ca.pem"), "CAFILE");
		const f = kubeconfig(
			"files.yaml",
			{ "certificate-authority": "ca.pem", "insecure-skip-tls-verify": true },
			{ token: "t" },
		);
		expect(tlsOptionsOf(loadKubeconfigFile(f).kubeConfig)).toEqual({
			rejectUnauthorized: false,
			ca: "CAFILE",
		});
	});

	test("a client certificate without its key is an error naming both fields", () => {
		const f = kubeconfig("half.yaml", {}, { "client-certificate-data": b64("CERT") });
		expect(() => tlsOptionsOf(loadKubeconfigFile(f).kubeConfig)).toThrow(
			'kubeconfig user "u": client-certificate and client-key must be given together',
		);
	});

	test("context selection and namespace; unknown context and missing file are KubeConfigError", () => {
		const f = kubeconfig("ctx.yaml", {}, { token: "t" });
		expect(loadKubeConfig({ kubeconfig: f, context: "y" })?.namespace).toBe("ns-y");
		expect(() => loadKubeconfigFile(f, "nope")).toThrow(KubeConfigError);
		expect(() => loadKubeconfigFile(join(dir, "absent.yaml"))).toThrow(KubeConfigError);
		expect(loadKubeConfig({ env: {} })).toBeUndefined();
	});

	test("auth headers: token-file (re-read on change, relative to the kubeconfig), static token, basic, impersonation", async () => {
		writeFileSync(join(dir, "tok"), "one\n");
		const loaded = loadKubeconfigFile(kubeconfig("tf.yaml", {}, { "token-file": "tok", as: "admin" }));
		expect(loaded.tokenFile).toBe(join(dir, "tok"));
		const auth = new KubeAuth(loaded.kubeConfig, loaded.tokenFile);
		expect(await auth.headers()).toEqual({ Authorization: "Bearer one", "Impersonate-User": "admin" });
		writeFileSync(join(dir, "tok"), "second");
		expect((await auth.headers()).Authorization).toBe("Bearer second");
		const basic = loadKubeconfigFile(kubeconfig("basic.yaml", {}, { username: "a", password: "b" }));
		expect(await new KubeAuth(basic.kubeConfig).headers()).toEqual({ Authorization: `Basic ${b64("a:b")}` });
		const ctx = new k8s.RequestContext("https://x/api", k8s.HttpMethod.GET);
		const tok = loadKubeconfigFile(kubeconfig("tok.yaml", {}, { token: "static" }));
		await new KubeAuth(tok.kubeConfig).applySecurityAuthentication(ctx);
		expect(ctx.getHeaders()).toEqual({ Authorization: "Bearer static" });
	});
});
