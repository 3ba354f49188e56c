/**
 * A node without libnl or libbpf: the process must say which library and which Debian package,
 * not crash. The library file is hidden (bind-mounted over with /dev/null) in a private mount
 * namespace of a child process, so the machine itself is untouched.
 */
import { describe, expect, test } from "bun:test";
import { canRun, sh } from "../helpers/env.ts";

const entry = new URL("../../src/bin/terwayctl.ts", import.meta.url).pathname;

function resolveLib(soname: string): string | undefined {
	const line = sh(["ldconfig", "-p"], { allowFail: true })
		.out.split("\n")
		.find((l) => l.includes(`${soname} (`));
	return line?.split("=> ")[1]?.trim();
}

const libnl = resolveLib("libnl-route-3.so.200");
const libbpf = resolveLib("libbpf.so.1");

describe.skipIf(
	!canRun("tests/netns/missing-libraries.test.ts", {
		check: () => (!libnl || !libbpf ? "libnl-route-3 or libbpf not installed (run make setup)" : undefined),
	}),
)("missing native libraries", () => {
	function versionWithout(libPath: string) {
		const r = sh(
			[
				"unshare",
				"-m",
				"--propagation",
				"private",
				"sh",
				"-c",
				`mount --bind /dev/null "$1" && exec "$2" "$3" version --json`,
				"sh",
				libPath,
				process.execPath,
				entry,
			],
			{ allowFail: true },
		);
		return {
			code: r.code,
			doc: JSON.parse(r.out) as { libraries: { name: string; available: boolean; detail: string }[] },
		};
	}

	test("without libnl-route-3: reported as missing, naming the Debian package", () => {
		const { code, doc } = versionWithout(libnl!);
		expect(code).toBe(0);
		const nl = doc.libraries.find((l) => l.name === "libnl-route-3")!;
		expect(nl.available).toBe(false);
		expect(nl.detail).toContain(
			"libnl-route-3.so.200 is not available: install the Debian package libnl-route-3-200",
		);
		expect(doc.libraries.find((l) => l.name === "libbpf")?.available).toBe(true);
	});

	test("without libbpf: reported as missing, naming the Debian package", () => {
		const { doc } = versionWithout(libbpf!);
		const bpf = doc.libraries.find((l) => l.name === "libbpf")!;
		expect(bpf.available).toBe(false);
		expect(bpf.detail).toContain("install the Debian package libbpf1");
		expect(doc.libraries.find((l) => l.name === "libnl-route-3")?.available).toBe(true);
	});
});
