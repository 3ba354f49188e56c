/**
 * `terwayctl install` on a live "node": a private mount and network namespace (unshare) where
 * /etc, /opt and /var are overlays on a temp dir (the host's files are never written) and bpffs
 * is unmounted, with an `eth0` (MTU 9000) carrying the default route. Install checks the node,
 * writes the binary and conflist (MTU from eth0), sets the namespace's sysctls (eth0's rp_filter
 * too) and mounts bpffs; a second run has nothing to do; uninstall puts the files and the
 * sysctls back (bpffs stays mounted, as documented).
 */
import { afterAll, expect, test } from "bun:test";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { canRun, prefixFor, sh } from "../helpers/env.ts";

const P = prefixFor("in");
const dir = `/tmp/${P}-install`;
const entry = new URL("../../src/bin/terwayctl.ts", import.meta.url).pathname;

const hasOverlay = () =>
	sh(["grep", "-qw", "overlay", "/proc/filesystems"], { allowFail: true }).code === 0
		? undefined
		: "overlayfs is not available (the test keeps the host's /etc, /opt and /var untouched with it)";

afterAll(() => rmSync(dir, { recursive: true, force: true }));

test.skipIf(!canRun("tests/netns/install.test.ts", { check: hasOverlay }))(
	"install on a node: checks, files, MTU from the default-route link, sysctls, bpffs; idempotent; uninstall restores",
	() => {
		mkdirSync(dir, { recursive: true });
		writeFileSync(`${dir}/terwayctl-binary`, "\x7fELF fake terwayctl\n", { mode: 0o755 });
		const tw = `${JSON.stringify(process.execPath)} ${JSON.stringify(entry)}`;
		const script = `
set -e
for d in etc opt var; do
	mkdir -p ${dir}/$d-up ${dir}/$d-work
	mount -t overlay overlay -o lowerdir=/$d,upperdir=${dir}/$d-up,workdir=${dir}/$d-work /$d
done
umount /sys/fs/bpf 2>/dev/null || true
ip link set lo up
ip link add eth0 mtu 9000 type veth peer name peer0
ip addr add 192.0.2.10/24 dev eth0
ip link set eth0 up
ip link set peer0 up
ip route add default via 192.0.2.1 dev eth0 onlink
sysctl -qw net.ipv4.ip_forward=0 net.ipv4.conf.eth0.rp_filter=1
snap() { find /etc/cni /opt/cni /var/lib/terway -printf '%p %m\\n' 2>/dev/null | sort; sysctl -n net.ipv4.ip_forward net.ipv4.conf.eth0.rp_filter; }
echo "== before"; snap
echo "== install"; ${tw} install --binary ${dir}/terwayctl-binary --json
echo "== conflist"; cat /etc/cni/net.d/10-terway.conflist
echo "== after"; snap
echo "== bpffs"; awk '$5 == "/sys/fs/bpf"' /proc/self/mountinfo | grep -c ' - bpf ' || true
echo "== again"; ${tw} install --binary ${dir}/terwayctl-binary
echo "== uninstall"; ${tw} install --uninstall
echo "== restored"; snap
`;
		const r = sh(["unshare", "--mount", "--net", "--propagation", "private", "bash", "-c", script], {
			allowFail: true,
		});
		expect(
			r.err
				.split("\n")
				.filter((l) => !l.startsWith("warning: "))
				.join("\n"),
		).toBe("note: bpffs at /sys/fs/bpf stays mounted (other programs pin there)\n");
		expect(r.code).toBe(0);
		const section = (name: string) => {
			const m = new RegExp(`== ${name}\\n([\\s\\S]*?)(?=\\n== |$)`).exec(r.out);
			return (m?.[1] ?? "").trim();
		};
		expect(section("before")).toBe("0\n1");

		const report = JSON.parse(section("install"));
		expect(report).toMatchObject({
			action: "install",
			root: "/",
			changed: true,
			datapath: "veth",
			mtu: 9000,
		});
		for (const c of report.checks) if (c.required) expect(`${c.name}: ${c.ok}`).toBe(`${c.name}: true`);
		expect(report.steps).toContain("sysctl net.ipv4.ip_forward: 0 -> 1");
		expect(report.steps).toContain("sysctl net.ipv4.conf.eth0.rp_filter: 1 -> 0");
		expect(report.steps).toContain("mount bpf at /sys/fs/bpf");
		expect(JSON.parse(section("conflist")).plugins[0]).toEqual({
			type: "terway",
			capabilities: { bandwidth: true },
			eniip_virtual_type: "Veth",
			mtu: 9000,
		});
		expect(section("after").split("\n")).toEqual([
			"/etc/cni 755",
			"/etc/cni/net.d 755",
			"/etc/cni/net.d/10-terway.conflist 644",
			"/opt/cni 755",
			"/opt/cni/bin 755",
			"/opt/cni/bin/terway 755",
			"/var/lib/terway 755",
			"/var/lib/terway/install.json 644",
			"1",
			"0",
		]);
		expect(section("bpffs")).toBe("1");
		expect(section("again")).toBe("nothing to do");
		expect(section("uninstall")).toContain("uninstalled from /");
		expect(section("restored")).toBe(section("before"));
	},
	60_000,
);

test.skipIf(!canRun("tests/netns/install.test.ts (missing libnl)", { check: hasOverlay }))(
	"a node without libnl-route-3: one line naming it and the package, exit 1, nothing written",
	() => {
		const lib = sh(["ldconfig", "-p"], { allowFail: true })
			.out.split("\n")
			.find((l) => l.includes("libnl-route-3.so.200 ("))
			?.split("=> ")[1]
			?.trim();
		if (!lib) {
			console.warn("SKIP missing libnl: libnl-route-3 is not installed (make setup)");
			return;
		}
		mkdirSync(`${dir}/nolib`, { recursive: true });
		writeFileSync(`${dir}/nolib/terwayctl-binary`, "fake\n");
		const tw = `${JSON.stringify(process.execPath)} ${JSON.stringify(entry)}`;
		const script = `
set -e
for d in etc opt var; do
	mkdir -p ${dir}/nolib/$d-up ${dir}/nolib/$d-work
	mount -t overlay overlay -o lowerdir=/$d,upperdir=${dir}/nolib/$d-up,workdir=${dir}/nolib/$d-work /$d
done
mount --bind /dev/null ${JSON.stringify(lib)}
set +e
${tw} install --binary ${dir}/nolib/terwayctl-binary
echo "rc=$?"
find ${dir}/nolib/etc-up ${dir}/nolib/opt-up ${dir}/nolib/var-up -mindepth 1 | wc -l
`;
		const r = sh(["unshare", "--mount", "--net", "--propagation", "private", "bash", "-c", script], {
			allowFail: true,
		});
		expect(r.out).toBe("rc=1\n0\n");
		const lines = r.err.trim().split("\n");
		expect(lines).toHaveLength(2);
		expect(lines[0]).toStartWith("error: libnl-route-3 cannot be loaded: ");
		expect(lines[0]).toContain("libnl-route-3-200");
		expect(lines[1]).toBe("terwayctl: the node is not ready for Terway (libnl-route-3); nothing was changed");
	},
	60_000,
);
