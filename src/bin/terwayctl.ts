/**
 * The one entry of the terwayctl binary. Wiring only:
 * - invoked as `terway` (argv[0] basename, e.g. /opt/cni/bin/terway, a copy or a symlink) or as
 *   `terwayctl cni`: the CNI plugin (src/plugin), imported lazily so the per-pod exec path loads
 *   only plugin/, core/, linux/ and ffi/ (no commander, no SDKs);
 * - anything else: the CLI (src/cli).
 */
export {};

const argv0 = process.argv0.slice(process.argv0.lastIndexOf("/") + 1);

if (argv0 === "terway" || process.argv[2] === "cni") {
	const { pluginMain } = await import("../plugin/main.ts");
	process.exitCode = await pluginMain();
} else {
	// the cloud SDKs call url.parse(); its DEP0169 warning is noise to an admin reading our output
	process.noDeprecation = true;
	const { run } = await import("../cli/main.ts");
	process.exitCode = await run(process.argv);
}
