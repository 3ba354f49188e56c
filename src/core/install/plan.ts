/**
 * @module core/install/plan
 *
 * What `terwayctl install` (and `--uninstall`) must do to a node or a directory tree, as a list
 * of actions computed from a read-only view of the tree, the desired files and the record of the
 * previous install (`/var/lib/terway/install.json`). The CLI executes the actions (or prints them
 * with `--dry-run`); planning twice over the result of an install yields no actions
 * ("nothing to do").
 *
 * What an install owns, all paths relative to the root:
 * - `/opt/cni/bin/terway`: a copy of the terwayctl binary (compared by sha256);
 * - `/etc/cni/net.d/10-terway.conflist`: a conflist that was there before is moved to
 *   `/var/lib/terway/backup/` once, and moved back on uninstall;
 * - host sysctls: live on a node (the previous value of each one we changed is recorded), or
 *   `/etc/sysctl.d/90-terway.conf` under `--root` (applied by systemd-sysctl at boot);
 * - bpffs at /sys/fs/bpf on a node (mounted when missing; never unmounted: other programs' pins
 *   live there);
 * - the directories it had to create (removed on uninstall when empty), and the record.
 *
 * Pure: the tree is seen through {@link TreeView}; no I/O here.
 */
import { unifiedDiff } from "./diff.ts";

export const BINARY_PATH = "/opt/cni/bin/terway";
export const CONFLIST_PATH = "/etc/cni/net.d/10-terway.conflist";
export const SYSCTL_FILE = "/etc/sysctl.d/90-terway.conf";
export const STATE_DIR = "/var/lib/terway";
export const RECORD_PATH = `${STATE_DIR}/install.json`;
export const BACKUP_DIR = `${STATE_DIR}/backup`;
export const BPFFS = "/sys/fs/bpf";

/** One host sysctl we want, in slash form as core/datapath's nodePlan writes it. */
export type SysctlWant = { key: string; value: string };

/** The install record (`install.json`): enough to reverse the install exactly. */
export type InstallRecord = {
	version: 1;
	/** Files we wrote: root-relative path, sha256 of what we wrote, where the previous file went. */
	files: { path: string; sha256: string; backup?: string }[];
	/** Live sysctls we changed (node only), with the value each had before. */
	sysctls: { key: string; value: string; previous: string }[];
	/** Mounts we made (node only; informational, never undone). */
	mounts: string[];
	/** Directories we created, parents first. */
	createdDirs: string[];
};

/** A read-only view of the tree (root-relative paths) and, on a node, of its live state. */
export interface TreeView {
	isDir(path: string): boolean;
	/** File content as text; undefined when absent. */
	read(path: string): string | undefined;
	/** sha256 hex of a file; undefined when absent. */
	sha256(path: string): string | undefined;
	/** Live sysctl value (node only); undefined when unknown. */
	sysctl?(key: string): string | undefined;
	/** Whether bpffs is mounted at /sys/fs/bpf (node only). */
	bpffsMounted?(): boolean;
}

export type Action =
	| { kind: "mkdir"; path: string }
	| { kind: "move"; path: string; to: string; why: string }
	| { kind: "write"; path: string; content: string; previous?: string; mode: number }
	| { kind: "copy"; path: string; from: string; sha256: string; previousSha256?: string }
	| { kind: "sysctl"; key: string; from?: string; to: string }
	| { kind: "mount"; path: string; fstype: "bpf" }
	| { kind: "remove"; path: string; previous?: string }
	| { kind: "rmdir"; path: string };

export type InstallWant = {
	/** true: live node (sysctls, bpffs); false: a directory tree (`--root`). */
	node: boolean;
	conflist: string;
	binary: { from: string; sha256: string };
	sysctls: SysctlWant[];
};

export type Plan = { actions: Action[]; record: InstallRecord; notes: string[] };

const sha256 = (s: string): string => new Bun.CryptoHasher("sha256").update(s).digest("hex");

/** `net/ipv4/conf/eth0.100/rp_filter` → `net.ipv4.conf.eth0/100.rp_filter` (sysctl.d spelling). */
export function dottedKey(key: string): string {
	return key.includes("/") ? key.replace(/[./]/g, (c) => (c === "/" ? "." : "/")) : key;
}

/** The `/etc/sysctl.d/90-terway.conf` text for a `--root` install. */
export function sysctlFile(sysctls: SysctlWant[]): string {
	const lines = sysctls.map((s) => `${dottedKey(s.key)} = ${s.value}`);
	return `# Written by terwayctl install: host settings the Terway datapaths rely on.\n${lines.join("\n")}\n`;
}

/** Parents of `path` (root-relative), outermost first, excluding "/". */
function parents(path: string): string[] {
	const parts = path.split("/").filter(Boolean);
	const out: string[] = [];
	for (let i = 1; i < parts.length; i++) out.push(`/${parts.slice(0, i).join("/")}`);
	return out;
}

export function parseRecord(text: string | undefined): InstallRecord | undefined {
	if (!text) return undefined;
	try {
		const r = JSON.parse(text) as InstallRecord;
		if (r?.version !== 1 || !Array.isArray(r.files)) return undefined;
		return {
			version: 1,
			files: r.files,
			sysctls: r.sysctls ?? [],
			mounts: r.mounts ?? [],
			createdDirs: r.createdDirs ?? [],
		};
	} catch {
		return undefined;
	}
}

export function renderRecord(r: InstallRecord): string {
	return `${JSON.stringify(r, null, 2)}\n`;
}

/** The install plan: what differs from `want`, given the tree and the previous record. */
export function planInstall(tree: TreeView, want: InstallWant): Plan {
	const prev = parseRecord(tree.read(RECORD_PATH));
	const actions: Action[] = [];
	const notes: string[] = [];
	const createdDirs = [...(prev?.createdDirs ?? [])];
	const made = new Set<string>();
	const ensureDir = (dir: string) => {
		for (const d of [...parents(`${dir}/x`)]) {
			if (made.has(d) || tree.isDir(d)) continue;
			made.add(d);
			actions.push({ kind: "mkdir", path: d });
			if (!createdDirs.includes(d)) createdDirs.push(d);
		}
	};
	const files: InstallRecord["files"] = [];
	const prevFile = (path: string) => prev?.files.find((f) => f.path === path);

	// a text file we own; a foreign file already there is moved aside once
	const textFile = (path: string, content: string) => {
		const current = tree.read(path);
		const before = prevFile(path);
		let backup = before?.backup;
		const ours = before !== undefined && current !== undefined && sha256(current) === before.sha256;
		if (current !== content) {
			ensureDir(path.slice(0, path.lastIndexOf("/")));
			if (current !== undefined && !ours && backup === undefined) {
				backup = `${BACKUP_DIR}/${path.split("/").pop()}`;
				ensureDir(BACKUP_DIR);
				actions.push({ kind: "move", path, to: backup, why: "keep the previous file for --uninstall" });
				actions.push({ kind: "write", path, content, mode: 0o644, previous: current });
			} else {
				if (current !== undefined && !ours && backup !== undefined)
					notes.push(
						`${path} was changed since the last install; it is replaced (the original stays in ${backup})`,
					);
				actions.push({
					kind: "write",
					path,
					content,
					mode: 0o644,
					...(current !== undefined ? { previous: current } : {}),
				});
			}
		}
		files.push({ path, sha256: sha256(content), ...(backup ? { backup } : {}) });
	};

	// the binary
	const installed = tree.sha256(BINARY_PATH);
	if (installed !== want.binary.sha256) {
		ensureDir(BINARY_PATH.slice(0, BINARY_PATH.lastIndexOf("/")));
		actions.push({
			kind: "copy",
			path: BINARY_PATH,
			from: want.binary.from,
			sha256: want.binary.sha256,
			...(installed ? { previousSha256: installed } : {}),
		});
	}
	files.push({ path: BINARY_PATH, sha256: want.binary.sha256 });

	textFile(CONFLIST_PATH, want.conflist);

	const sysctls: InstallRecord["sysctls"] = [];
	const mounts = [...(prev?.mounts ?? [])];
	if (want.node) {
		for (const s of want.sysctls) {
			const current = tree.sysctl?.(s.key);
			const before = prev?.sysctls.find((p) => p.key === s.key);
			if (current !== s.value) {
				actions.push({
					kind: "sysctl",
					key: s.key,
					...(current !== undefined ? { from: current } : {}),
					to: s.value,
				});
				sysctls.push({ key: s.key, value: s.value, previous: before?.previous ?? current ?? "" });
			} else if (before) sysctls.push(before);
		}
		if (!tree.bpffsMounted?.()) {
			actions.push({ kind: "mount", path: BPFFS, fstype: "bpf" });
			if (!mounts.includes(BPFFS)) mounts.push(BPFFS);
		}
	} else {
		textFile(SYSCTL_FILE, sysctlFile(want.sysctls));
	}

	const record: InstallRecord = { version: 1, files, sysctls, mounts, createdDirs };
	const recordText = renderRecord(record);
	const currentRecord = tree.read(RECORD_PATH);
	if (actions.length > 0 || currentRecord !== recordText) {
		ensureDir(STATE_DIR);
		record.createdDirs = createdDirs;
		const text = renderRecord(record);
		if (currentRecord !== text)
			actions.push({
				kind: "write",
				path: RECORD_PATH,
				content: text,
				mode: 0o644,
				...(currentRecord !== undefined ? { previous: currentRecord } : {}),
			});
	}
	return { actions, record, notes };
}

/**
 * The uninstall plan: reverse the recorded install. Files still as we wrote them are removed and
 * their backups moved back; a file changed since is left alone (noted). Sysctls still at our
 * value get their previous value back. Created directories are removed when empty (deepest
 * first; the executor skips non-empty ones).
 */
export function planUninstall(tree: TreeView): Plan {
	const text = tree.read(RECORD_PATH);
	const record = parseRecord(text);
	const empty: InstallRecord = { version: 1, files: [], sysctls: [], mounts: [], createdDirs: [] };
	if (!record) {
		return {
			actions: [],
			record: empty,
			notes:
				text === undefined
					? ["no install record: nothing to uninstall"]
					: [`${RECORD_PATH} is not an install record; nothing done`],
		};
	}
	const actions: Action[] = [];
	const notes: string[] = [];
	for (const f of record.files) {
		const current = tree.sha256(f.path);
		if (current !== undefined && current !== f.sha256) {
			notes.push(`${f.path} changed since install; left in place`);
			continue;
		}
		if (current !== undefined) {
			const previous = tree.read(f.path);
			actions.push({
				kind: "remove",
				path: f.path,
				...(f.path !== BINARY_PATH && previous !== undefined ? { previous } : {}),
			});
		}
		if (f.backup && tree.read(f.backup) !== undefined)
			actions.push({ kind: "move", path: f.backup, to: f.path, why: "restore the file install replaced" });
	}
	for (const s of record.sysctls) {
		const current = tree.sysctl?.(s.key);
		if (current === s.value && s.previous !== "")
			actions.push({ kind: "sysctl", key: s.key, from: current, to: s.previous });
		else if (current !== s.value)
			notes.push(`sysctl ${dottedKey(s.key)} is ${current ?? "unknown"} now, not ${s.value}; left alone`);
	}
	actions.push({ kind: "remove", path: RECORD_PATH, previous: text });
	for (const d of [...record.createdDirs].reverse()) actions.push({ kind: "rmdir", path: d });
	if (record.mounts.length > 0)
		notes.push(`bpffs at ${record.mounts.join(", ")} stays mounted (other programs pin there)`);
	return { actions, record: empty, notes };
}

/** One line per action, the way `--dry-run` and the summary show it. */
export function describeAction(a: Action): string {
	switch (a.kind) {
		case "mkdir":
			return `mkdir ${a.path}`;
		case "move":
			return `move ${a.path} -> ${a.to} (${a.why})`;
		case "write":
			return `${a.previous === undefined ? "create" : "update"} ${a.path}`;
		case "copy":
			return `${a.previousSha256 ? "replace" : "install"} ${a.path} from ${a.from} (sha256 ${a.sha256.slice(0, 12)})`;
		case "sysctl":
			return `sysctl ${dottedKey(a.key)}: ${a.from ?? "?"} -> ${a.to}`;
		case "mount":
			return `mount ${a.fstype} at ${a.path}`;
		case "remove":
			return `remove ${a.path}`;
		case "rmdir":
			return `rmdir ${a.path} (if empty)`;
	}
}

/** The `--dry-run` text: a unified diff per text file, old -> new per sysctl, one line for the rest. */
export function renderDiff(actions: Action[]): string {
	const out: string[] = [];
	for (const a of actions) {
		if (a.kind === "write") out.push(unifiedDiff(a.path, a.previous, a.content).trimEnd());
		else if (a.kind === "remove" && a.previous !== undefined)
			out.push(unifiedDiff(a.path, a.previous, undefined).trimEnd());
		else if (a.kind === "copy")
			out.push(
				`binary ${a.path}: ${a.previousSha256 ? `sha256 ${a.previousSha256.slice(0, 12)}` : "absent"} -> sha256 ${a.sha256.slice(0, 12)} (${a.from})`,
			);
		else out.push(describeAction(a));
	}
	return out.join("\n");
}
