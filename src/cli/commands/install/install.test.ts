/**
 * `terwayctl install --root` end to end through the CLI (a child process per run): a fresh tree,
 * idempotency, --dry-run, --uninstall restoring the tree byte for byte, bad eni-config, --json.
 */
import { afterAll, expect, test } from "bun:test";
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const entry = new URL("../../../bin/terwayctl.ts", import.meta.url).pathname;
const base = mkdtempSync(join(tmpdir(), "terway-install-"));
afterAll(() => rmSync(base, { recursive: true, force: true }));

const fakeBinary = join(base, "terwayctl-binary");
writeFileSync(fakeBinary, "\x7fELF fake terwayctl\n", { mode: 0o755 });

function cli(...args: string[]) {
	const r = Bun.spawnSync([process.execPath, entry, ...args], { stdout: "pipe", stderr: "pipe" });
	return { code: r.exitCode, out: r.stdout.toString(), err: r.stderr.toString() };
}

/** Every path below `dir` with its type, mode and content. */
function snapshot(dir: string): Record<string, string> {
	const out: Record<string, string> = {};
	const walk = (d: string) => {
		for (const name of readdirSync(d).sort()) {
			const p = join(d, name);
			const st = lstatSync(p);
			const rel = p.slice(dir.length);
			if (st.isDirectory()) {
				out[rel] = `dir ${(st.mode & 0o7777).toString(8)}`;
				walk(p);
			} else out[rel] = `file ${(st.mode & 0o7777).toString(8)} ${readFileSync(p, "base64")}`;
		}
	};
	walk(dir);
	return out;
}

function freshRoot(name: string): string {
	const root = join(base, name);
	mkdirSync(root);
	return root;
}

const eniConfigMap = (root: string, eniConf: string) => {
	const p = join(root, "..", `${root.split("/").pop()}-eni-config.yaml`);
	writeFileSync(
		p,
		`apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: eni-config\n  namespace: kube-system\ndata:\n  eni_conf: |\n    ${eniConf}\n`,
	);
	return p;
};

test("install into an empty tree; the conflist follows the eni-config; the second run has nothing to do", () => {
	const root = freshRoot("fresh");
	const cfg = eniConfigMap(root, '{"eniip_virtual_type": "IPVlan", "max_pool_size": 5}');
	const r = cli("install", "--root", root, "--binary", fakeBinary, "--eni-config", cfg, "--mtu", "9000");
	expect(r.err).toBe("");
	expect(r.code).toBe(0);
	expect(r.out.trim().split("\n").at(-1)).toBe(`installed into ${root}`);
	expect(readFileSync(join(root, "opt/cni/bin/terway"), "utf8")).toBe("\x7fELF fake terwayctl\n");
	expect(lstatSync(join(root, "opt/cni/bin/terway")).mode & 0o777).toBe(0o755);
	expect(JSON.parse(readFileSync(join(root, "etc/cni/net.d/10-terway.conflist"), "utf8"))).toEqual({
		cniVersion: "1.1.0",
		name: "terway",
		plugins: [
			{ type: "terway", capabilities: { bandwidth: true }, eniip_virtual_type: "datapathv2", mtu: 9000 },
		],
	});
	expect(readFileSync(join(root, "etc/sysctl.d/90-terway.conf"), "utf8")).toContain(
		"net.ipv4.ip_forward = 1\n",
	);
	const record = JSON.parse(readFileSync(join(root, "var/lib/terway/install.json"), "utf8"));
	expect(record.files.map((f: { path: string }) => f.path)).toEqual([
		"/opt/cni/bin/terway",
		"/etc/cni/net.d/10-terway.conflist",
		"/etc/sysctl.d/90-terway.conf",
	]);
	const after = snapshot(root);
	const again = cli("install", "--root", root, "--binary", fakeBinary, "--eni-config", cfg, "--mtu", "9000");
	expect(again.code).toBe(0);
	expect(again.out).toBe("nothing to do\n");
	expect(snapshot(root)).toEqual(after);
});

test("--dry-run changes nothing and shows a unified diff per file", () => {
	const root = freshRoot("dry");
	const before = snapshot(root);
	const r = cli("install", "--root", root, "--binary", fakeBinary, "--dry-run");
	expect(r.code).toBe(0);
	expect(snapshot(root)).toEqual(before);
	expect(r.out).toContain("--- /dev/null\n+++ b/etc/cni/net.d/10-terway.conflist\n@@ -0,0 +1,14 @@\n+{\n");
	expect(r.out).toContain('+      "mtu": 1500\n');
	expect(r.out).toContain(`binary /opt/cni/bin/terway: absent -> sha256 `);
	expect(r.out).toContain("mkdir /opt/cni/bin\n");
});

test("--uninstall restores the tree byte for byte, including a conflist install replaced (chained portmap kept)", () => {
	const root = freshRoot("pre");
	mkdirSync(join(root, "etc/cni/net.d"), { recursive: true });
	const theirs = `${JSON.stringify({
		cniVersion: "0.4.0",
		name: "terway-chainer",
		plugins: [{ type: "terway" }, { type: "portmap", capabilities: { portMappings: true } }],
	})}\n`;
	writeFileSync(join(root, "etc/cni/net.d/10-terway.conflist"), theirs, { mode: 0o600 });
	writeFileSync(join(root, "etc/cni/net.d/99-other.conf"), "{}\n");
	const before = snapshot(root);
	const r = cli("install", "--root", root, "--binary", fakeBinary);
	expect(r.code).toBe(0);
	const conflist = JSON.parse(readFileSync(join(root, "etc/cni/net.d/10-terway.conflist"), "utf8"));
	expect(conflist.cniVersion).toBe("0.4.0");
	expect(conflist.plugins.map((p: { type: string }) => p.type)).toEqual(["terway", "portmap"]);
	expect(readFileSync(join(root, "var/lib/terway/backup/10-terway.conflist"), "utf8")).toBe(theirs);
	const dry = cli("install", "--root", root, "--uninstall", "--dry-run");
	expect(dry.code).toBe(0);
	expect(dry.out).toContain(
		"move /var/lib/terway/backup/10-terway.conflist -> /etc/cni/net.d/10-terway.conflist",
	);
	const un = cli("install", "--root", root, "--uninstall");
	expect(un.code).toBe(0);
	expect(snapshot(root)).toEqual(before);
	expect(cli("install", "--root", root, "--uninstall").out).toBe("nothing to do\n");
});

test("a bad eni-config names the key and value, exits 2 and writes nothing", () => {
	const root = freshRoot("bad");
	const before = snapshot(root);
	const cfg = join(base, "bad.json");
	writeFileSync(cfg, '{"max_pool_sise": 5, "ip_stack": "ipv7"}');
	const r = cli("install", "--root", root, "--binary", fakeBinary, "--eni-config", cfg);
	expect(r.code).toBe(2);
	expect(r.out).toBe("");
	expect(r.err.trim()).toBe(
		`terwayctl: invalid eni-config (${cfg}): eni_conf.max_pool_sise: unknown key (did you mean "max_pool_size"?); eni_conf.ip_stack: "ipv7" is not one of ipv4, dual`,
	);
	expect(snapshot(root)).toEqual(before);
	const mtu = cli("install", "--root", root, "--binary", fakeBinary, "--mtu", "12");
	expect(mtu.code).toBe(2);
	expect(mtu.err.trim()).toBe('terwayctl: --mtu "12" is not a number 68..65535');
	const both = cli("install", "--root", root, "--eni-config", cfg, "--configmap", "kube-system/eni-config");
	expect(both.code).toBe(2);
	expect(both.err).toContain(
		"error: option '--eni-config <file>' cannot be used with option '--configmap <ns/name>'",
	);
	expect(snapshot(root)).toEqual(before);
});

test("--json: the report schema (docs/cli/install.md)", () => {
	const root = freshRoot("json");
	const r = cli("install", "--root", root, "--binary", fakeBinary, "--json");
	expect(r.code).toBe(0);
	const doc = JSON.parse(r.out);
	expect(Object.keys(doc).sort()).toEqual(
		["action", "changed", "checks", "datapath", "dryRun", "mtu", "notes", "root", "steps"].sort(),
	);
	expect(doc).toMatchObject({
		action: "install",
		root,
		dryRun: false,
		changed: true,
		datapath: "veth",
		mtu: 1500,
	});
	expect(doc.checks.map((c: { name: string }) => c.name)).toEqual([
		"kernel",
		"libnl-route-3",
		"libbpf",
		"btf",
		"tcx",
	]);
	for (const c of doc.checks) {
		expect(typeof c.ok).toBe("boolean");
		expect(typeof c.required).toBe("boolean");
		expect(typeof c.detail).toBe("string");
	}
	expect(doc.steps).toContain("create /etc/cni/net.d/10-terway.conflist");
	const dry = JSON.parse(
		cli("install", "--root", root, "--binary", fakeBinary, "--json", "--uninstall", "--dry-run").out,
	);
	expect(dry).toMatchObject({ action: "uninstall", dryRun: true, changed: true, checks: [] });
	expect(dry.diff).toContain("--- a/etc/cni/net.d/10-terway.conflist\n+++ /dev/null\n");
	const bad = cli("install", "--root", root, "--json", "--mtu", "x");
	expect(bad.code).toBe(2);
	expect(JSON.parse(bad.out)).toEqual({
		error: { message: '--mtu "x" is not a number 68..65535', kind: "ExitError" },
	});
});

test("a ConfigMap manifest's 10-terway.conflist chains its plugins (a chained bandwidth takes the capability)", () => {
	const root = freshRoot("chain");
	const cm = join(base, "chain-cm.yaml");
	const conflist = JSON.stringify({
		cniVersion: "1.0.0",
		name: "terway",
		plugins: [{ type: "terway" }, { type: "bandwidth", capabilities: { bandwidth: true } }],
	});
	writeFileSync(
		cm,
		`apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: eni-config\ndata:\n  eni_conf: '{}'\n  10-terway.conflist: '${conflist}'\n`,
	);
	const r = cli("install", "--root", root, "--binary", fakeBinary, "--eni-config", cm);
	expect(r.code).toBe(0);
	expect(JSON.parse(readFileSync(join(root, "etc/cni/net.d/10-terway.conflist"), "utf8"))).toEqual({
		cniVersion: "1.0.0",
		name: "terway",
		plugins: [
			{ type: "terway", eniip_virtual_type: "Veth", mtu: 1500 },
			{ type: "bandwidth", capabilities: { bandwidth: true } },
		],
	});
	const noKey = join(base, "nokey-cm.yaml");
	writeFileSync(noKey, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata: {}\n");
	const bad = cli("install", "--root", root, "--binary", fakeBinary, "--eni-config", noKey);
	expect(bad.code).toBe(2);
	expect(bad.err.trim()).toBe(`terwayctl: --eni-config ${noKey}: the ConfigMap has no data.eni_conf`);
});

test("eni-config warnings (legacy keys) are notes; the install goes on", () => {
	const root = freshRoot("warn");
	const cfg = join(base, "legacy.json");
	writeFileSync(cfg, '{"enable_eip_pool": "true"}');
	const r = cli("install", "--root", root, "--binary", fakeBinary, "--eni-config", cfg, "--json");
	expect(r.code).toBe(0);
	expect(JSON.parse(r.out).notes).toEqual([
		`eni-config (${cfg}): eni_conf.enable_eip_pool: no longer used by Terway; ignored`,
	]);
});

test("run from source (bun + .ts), install needs --binary: there is no executable of its own to copy", () => {
	const root = freshRoot("nobin");
	const r = cli("install", "--root", root);
	expect(r.code).toBe(2);
	expect(r.err.trim()).toBe(
		"terwayctl: this terwayctl runs from source under bun, so there is no binary to copy; pass --binary dist/terwayctl (make build)",
	);
	expect(readdirSync(root)).toEqual([]);
});
