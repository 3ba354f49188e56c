import { describe, expect, test } from "bun:test";
import {
	type Action,
	BINARY_PATH,
	CONFLIST_PATH,
	dottedKey,
	type InstallWant,
	planInstall,
	planUninstall,
	RECORD_PATH,
	renderDiff,
	SYSCTL_FILE,
	sysctlFile,
	type TreeView,
} from "./plan.ts";

/** An in-memory tree plus live sysctls, with a tiny executor for the plan's actions. */
class MemTree implements TreeView {
	files = new Map<string, string>();
	dirs = new Set<string>(["/"]);
	sysctls = new Map<string, string>();
	mounted = false;
	constructor(readonly binaries: Record<string, string> = {}) {}
	isDir(p: string) {
		return this.dirs.has(p);
	}
	read(p: string) {
		return this.files.get(p);
	}
	sha256(p: string) {
		const c = this.files.get(p);
		return c === undefined ? undefined : new Bun.CryptoHasher("sha256").update(c).digest("hex");
	}
	sysctl(k: string) {
		return this.sysctls.get(k);
	}
	bpffsMounted() {
		return this.mounted;
	}
	apply(actions: Action[]) {
		for (const a of actions) {
			if (a.kind === "mkdir") this.dirs.add(a.path);
			else if (a.kind === "write") this.files.set(a.path, a.content);
			else if (a.kind === "copy") this.files.set(a.path, this.binaries[a.from] ?? "");
			else if (a.kind === "move") {
				this.files.set(a.to, this.files.get(a.path) ?? "");
				this.files.delete(a.path);
			} else if (a.kind === "remove") this.files.delete(a.path);
			else if (a.kind === "rmdir") {
				const busy = [...this.files.keys(), ...this.dirs].some((p) => p.startsWith(`${a.path}/`));
				if (!busy) this.dirs.delete(a.path);
			} else if (a.kind === "sysctl") this.sysctls.set(a.key, a.to);
			else if (a.kind === "mount") this.mounted = true;
		}
	}
	snapshot() {
		return { files: new Map(this.files), dirs: new Set(this.dirs), sysctls: new Map(this.sysctls) };
	}
}

const sha = (s: string) => new Bun.CryptoHasher("sha256").update(s).digest("hex");
const BIN = "ELF-terwayctl";
const want = (over: Partial<InstallWant> = {}): InstallWant => ({
	node: false,
	conflist: '{"cniVersion":"1.1.0"}\n',
	binary: { from: "/dist/terwayctl", sha256: sha(BIN) },
	sysctls: [
		{ key: "net/ipv4/ip_forward", value: "1" },
		{ key: "net/ipv4/conf/eth0.100/rp_filter", value: "0" },
	],
	...over,
});

test("dottedKey and the sysctl.d file", () => {
	expect(dottedKey("net/ipv4/conf/eth0.100/rp_filter")).toBe("net.ipv4.conf.eth0/100.rp_filter");
	expect(dottedKey("net.ipv4.ip_forward")).toBe("net.ipv4.ip_forward");
	expect(sysctlFile(want().sysctls).split("\n").slice(1)).toEqual([
		"net.ipv4.ip_forward = 1",
		"net.ipv4.conf.eth0/100.rp_filter = 0",
		"",
	]);
});

describe("--root tree", () => {
	test("install into an empty tree, then nothing to do, then uninstall leaves the tree as it was", () => {
		const t = new MemTree({ "/dist/terwayctl": BIN });
		const before = t.snapshot();
		const plan = planInstall(t, want());
		expect(plan.actions.map((a) => `${a.kind} ${"path" in a ? a.path : ""}`)).toEqual([
			"mkdir /opt",
			"mkdir /opt/cni",
			"mkdir /opt/cni/bin",
			`copy ${BINARY_PATH}`,
			"mkdir /etc",
			"mkdir /etc/cni",
			"mkdir /etc/cni/net.d",
			`write ${CONFLIST_PATH}`,
			"mkdir /etc/sysctl.d",
			`write ${SYSCTL_FILE}`,
			"mkdir /var",
			"mkdir /var/lib",
			"mkdir /var/lib/terway",
			`write ${RECORD_PATH}`,
		]);
		t.apply(plan.actions);
		expect(t.read(BINARY_PATH)).toBe(BIN);
		expect(planInstall(t, want()).actions).toEqual([]);
		const un = planUninstall(t);
		t.apply(un.actions);
		expect(t.snapshot()).toEqual(before);
		expect(planUninstall(t).notes).toEqual(["no install record: nothing to uninstall"]);
	});

	test("a foreign conflist is moved aside once and restored by uninstall; a config change updates in place", () => {
		const t = new MemTree({ "/dist/terwayctl": BIN });
		for (const d of ["/etc", "/etc/cni", "/etc/cni/net.d"]) t.dirs.add(d);
		t.files.set(CONFLIST_PATH, "theirs\n");
		const before = t.snapshot();
		const p1 = planInstall(t, want());
		expect(p1.actions.filter((a) => a.kind === "move")).toEqual([
			{
				kind: "move",
				path: CONFLIST_PATH,
				to: "/var/lib/terway/backup/10-terway.conflist",
				why: "keep the previous file for --uninstall",
			},
		]);
		expect(renderDiff(p1.actions)).toContain('-theirs\n+{"cniVersion":"1.1.0"}');
		t.apply(p1.actions);
		const p2 = planInstall(t, want({ conflist: "v2\n" }));
		expect(p2.actions.map((a) => a.kind)).toEqual(["write", "write"]); // conflist + record (sha)
		expect(p2.record.files.find((f) => f.path === CONFLIST_PATH)?.backup).toBe(
			"/var/lib/terway/backup/10-terway.conflist",
		);
		t.apply(p2.actions);
		t.apply(planUninstall(t).actions);
		expect(t.snapshot()).toEqual(before);
	});

	test("uninstall leaves a file changed since install, and says so", () => {
		const t = new MemTree({ "/dist/terwayctl": BIN });
		t.apply(planInstall(t, want()).actions);
		t.files.set(CONFLIST_PATH, "edited by hand\n");
		const un = planUninstall(t);
		expect(un.notes).toContain(`${CONFLIST_PATH} changed since install; left in place`);
		t.apply(un.actions);
		expect(t.read(CONFLIST_PATH)).toBe("edited by hand\n");
		expect(t.isDir("/etc/cni/net.d")).toBe(true);
	});
});

describe("live node", () => {
	test("sysctls: only the changed ones are recorded, with their previous values, and restored", () => {
		const t = new MemTree({ "/dist/terwayctl": BIN });
		t.sysctls.set("net/ipv4/ip_forward", "0");
		t.sysctls.set("net/ipv4/conf/eth0.100/rp_filter", "0");
		const p = planInstall(t, want({ node: true }));
		expect(p.actions.filter((a) => a.kind === "sysctl" || a.kind === "mount")).toEqual([
			{ kind: "sysctl", key: "net/ipv4/ip_forward", from: "0", to: "1" },
			{ kind: "mount", path: "/sys/fs/bpf", fstype: "bpf" },
		]);
		expect(p.record.sysctls).toEqual([{ key: "net/ipv4/ip_forward", value: "1", previous: "0" }]);
		expect(p.actions.some((a) => "path" in a && a.path === SYSCTL_FILE)).toBe(false);
		expect(renderDiff(p.actions)).toContain("sysctl net.ipv4.ip_forward: 0 -> 1");
		t.apply(p.actions);
		expect(planInstall(t, want({ node: true })).actions).toEqual([]);
		const un = planUninstall(t);
		expect(un.notes).toEqual(["bpffs at /sys/fs/bpf stays mounted (other programs pin there)"]);
		t.apply(un.actions);
		expect(t.sysctls.get("net/ipv4/ip_forward")).toBe("0");
	});
});
