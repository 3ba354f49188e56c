/**
 * `terwayctl version`: this binary, the native libraries it needs on this node (libnl, libbpf),
 * and the eBPF objects embedded in it. Reports what is missing rather than failing, so an admin
 * can run it on a node before `install`.
 */
import { readFileSync } from "node:fs";
import { VERSION } from "../meta.ts";

type LibraryStatus = { name: string; available: boolean; detail: string };

async function probe(name: string, load: () => Promise<string>): Promise<LibraryStatus> {
	try {
		return { name, available: true, detail: await load() };
	} catch (e) {
		return { name, available: false, detail: (e as Error).message };
	}
}

export async function versionCommand(opts: { json: boolean }): Promise<void> {
	const libraries = [
		await probe("libnl-route-3", async () => {
			const { libnlAvailable } = await import("../../ffi/libnl/core.ts");
			return libnlAvailable();
		}),
		await probe("libbpf", async () => {
			const { libbpfVersion } = await import("../../ffi/libbpf/index.ts");
			const v = libbpfVersion();
			if (v.major < 1 || (v.major === 1 && v.minor < 1))
				throw new Error(`libbpf ${v.text} is older than 1.1`);
			return `libbpf.so.1 (${v.text})`;
		}),
	];
	const { OBJECTS, objectBytes } = await import("../../linux/bpf/objects.ts");
	const bpfObjects = (Object.keys(OBJECTS) as (keyof typeof OBJECTS)[]).map((name) => ({
		name,
		bytes: objectBytes(name).length,
	}));
	const report = {
		version: VERSION,
		runtime: `bun ${Bun.version}`,
		kernel: kernelRelease(),
		libraries,
		bpfObjects,
	};
	if (opts.json) {
		console.log(JSON.stringify(report, null, 2));
		return;
	}
	console.log(`terwayctl ${report.version} (${report.runtime}, kernel ${report.kernel})`);
	for (const l of libraries)
		console.log(`  ${l.name.padEnd(16)} ${l.available ? "ok" : "MISSING"}  ${l.detail}`);
	for (const o of bpfObjects) console.log(`  bpf object       ${o.name}.bpf.o (${o.bytes} bytes, embedded)`);
}

function kernelRelease(): string {
	try {
		return readFileSync("/proc/sys/kernel/osrelease", "utf8").trim();
	} catch {
		return "unknown";
	}
}
