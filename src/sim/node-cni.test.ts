import { expect, test } from "bun:test";
import { lstatSync, mkdtempSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { installTerwayBin, parseEnvFile, terwayConflist } from "./node-cni.ts";

test("terwayConflist: Terway's shape with the node's socket; portmap chained (1.0.0) only when installed", () => {
	const alone = JSON.parse(terwayConflist({ socket: "/run/x/terwayd.sock", portmap: false }));
	expect(alone).toEqual({
		cniVersion: "1.1.0",
		name: "terway",
		plugins: [
			{
				type: "terway",
				capabilities: { bandwidth: true },
				eniip_virtual_type: "Veth",
				daemon_socket: "/run/x/terwayd.sock",
			},
		],
	});
	const chained = JSON.parse(terwayConflist({ socket: "/s", portmap: true, logFile: "/l" }));
	expect(chained.cniVersion).toBe("1.0.0");
	expect(chained.plugins[0].log_file).toBe("/l");
	expect(chained.plugins[1]).toEqual({
		type: "portmap",
		capabilities: { portMappings: true },
		externalSetMarkChain: "KUBE-MARK-MASQ",
	});
});

test("installTerwayBin: a symlink for a compiled binary, an exec -a terway wrapper for bun + script", () => {
	const dir = mkdtempSync(join(tmpdir(), "node-cni-"));
	try {
		installTerwayBin(dir, ["/usr/local/bin/terwayctl"]);
		expect(lstatSync(`${dir}/terway`).isSymbolicLink()).toBe(true);
		expect(readlinkSync(`${dir}/terway`)).toBe("/usr/local/bin/terwayctl");
		installTerwayBin(dir, ["/opt/bun", "/src/it's/terwayctl.ts"]);
		expect(readFileSync(`${dir}/terway`, "utf8")).toBe(
			`#!/bin/bash\nexec -a terway '/opt/bun' '/src/it'\\''s/terwayctl.ts' "$@"\n`,
		);
		expect(lstatSync(`${dir}/terway`).mode & 0o111).toBe(0o111);
	} finally {
		rmSync(dir, { recursive: true, force: true });
	}
});

test("parseEnvFile reads KEY=VALUE lines (values may hold '=')", () => {
	expect(parseEnvFile("A=1\nB=x=y\n\nnoequals\n")).toEqual({ A: "1", B: "x=y" });
});
