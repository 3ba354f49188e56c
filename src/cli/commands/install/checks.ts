/**
 * The node checks of `terwayctl install`: kernel version, libnl-route-3 and libbpf loadable (as
 * `terwayctl version` reports them), kernel BTF, TCX. Each failed check is one line naming what
 * is missing and how to fix it. Required: kernel ≥ 5.10, libnl, libbpf ≥ 1.1 (every pod needs
 * them). BTF and TCX are needed by the eBPF features only (NetworkPolicy, datapathv2): without
 * them those fall back (clsact) or stay off, so they are warnings — BTF is required when the
 * eni-config asks for datapathv2.
 */
import { existsSync, readFileSync } from "node:fs";

export type Check = {
	name: "kernel" | "libnl-route-3" | "libbpf" | "btf" | "tcx";
	ok: boolean;
	required: boolean;
	detail: string;
	fix?: string;
};

/** Kernel release "6.1.0-18-amd64" → [6, 1]; undefined when unparsable. */
export function kernelVersion(release: string): [number, number] | undefined {
	const m = /^(\d+)\.(\d+)/.exec(release);
	return m ? [Number(m[1]), Number(m[2])] : undefined;
}

export const MIN_KERNEL: [number, number] = [5, 10];

function kernelCheck(): Check {
	let release = "unknown";
	try {
		release = readFileSync("/proc/sys/kernel/osrelease", "utf8").trim();
	} catch {}
	const v = kernelVersion(release);
	const ok = v !== undefined && (v[0] > MIN_KERNEL[0] || (v[0] === MIN_KERNEL[0] && v[1] >= MIN_KERNEL[1]));
	return {
		name: "kernel",
		ok,
		required: true,
		detail: ok ? `kernel ${release}` : `kernel ${release} is older than ${MIN_KERNEL.join(".")}`,
		...(ok ? {} : { fix: `upgrade the node's kernel to ${MIN_KERNEL.join(".")} or newer` }),
	};
}

async function libCheck(
	name: "libnl-route-3" | "libbpf",
	load: () => Promise<string>,
	fix: string,
): Promise<Check> {
	try {
		return { name, ok: true, required: true, detail: await load() };
	} catch (e) {
		const why = (e as Error).message;
		// the loaders' own messages often name the package already
		return {
			name,
			ok: false,
			required: true,
			detail: `${name} cannot be loaded: ${why}`,
			...(/install /.test(why) ? {} : { fix }),
		};
	}
}

export async function runChecks(opts: { datapath: string }): Promise<Check[]> {
	const checks: Check[] = [kernelCheck()];
	checks.push(
		await libCheck(
			"libnl-route-3",
			async () => {
				const { libnlAvailable } = await import("../../../ffi/libnl/core.ts");
				return libnlAvailable();
			},
			"install libnl-route-3-200 (apt-get install libnl-3-200 libnl-route-3-200)",
		),
	);
	checks.push(
		await libCheck(
			"libbpf",
			async () => {
				const { libbpfVersion } = await import("../../../ffi/libbpf/index.ts");
				const v = libbpfVersion();
				if (v.major < 1 || (v.major === 1 && v.minor < 1))
					throw new Error(`libbpf ${v.text} is older than 1.1`);
				return `libbpf.so.1 (${v.text})`;
			},
			"install libbpf 1.1 or newer (apt-get install libbpf1)",
		),
	);
	const btf = existsSync("/sys/kernel/btf/vmlinux");
	checks.push({
		name: "btf",
		ok: btf,
		required: opts.datapath === "datapathv2",
		detail: btf
			? "kernel BTF at /sys/kernel/btf/vmlinux"
			: "no kernel BTF at /sys/kernel/btf/vmlinux (eBPF NetworkPolicy and datapathv2 need it)",
		...(btf ? {} : { fix: "use a kernel built with CONFIG_DEBUG_INFO_BTF=y" }),
	});
	let tcx = false;
	let why = "";
	try {
		const { tcxSupported } = await import("../../../linux/bpf/index.ts");
		tcx = tcxSupported();
	} catch (e) {
		why = `: ${(e as Error).message}`;
	}
	checks.push({
		name: "tcx",
		ok: tcx,
		required: false,
		detail: tcx
			? "TCX (kernel 6.6+): eBPF programs attach as TCX links"
			: `no TCX${why}; eBPF programs attach through clsact instead`,
		...(tcx ? {} : { fix: "a 6.6+ kernel attaches eBPF programs as TCX links (optional)" }),
	});
	return checks;
}
