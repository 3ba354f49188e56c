/**
 * The completion scripts: committed completions/ match the program (drift check), each script
 * parses in its shell, and bash and fish complete commands, options, choices and files when
 * driven the way the shell drives them. Dynamic values come from a stand-in `terwayctl` on PATH
 * here; tests/daemon/complete.test.ts does it against a real terwayd.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildProgram } from "../../main.ts";
import { COMPLETION_FILES, SHELLS, script, specOf } from "./generate.ts";

const repo = new URL("../../../../", import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), "terway-completion-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const has = (bin: string) => Bun.spawnSync(["sh", "-c", `command -v ${bin}`]).exitCode === 0;

// a stand-in terwayctl for the dynamic values: `__complete enis` prints two ids
const bin = join(dir, "bin");
mkdirSync(bin);
writeFileSync(
	join(bin, "terwayctl"),
	'#!/bin/sh\n[ "$1" = __complete ] && [ "$2" = enis ] && printf "eni-aaa\\neni-bbb\\n"\n[ "$1" = __complete ] && [ "$2" = pods ] && printf "default/web-1\\n"\nexit 0\n',
);
chmodSync(join(bin, "terwayctl"), 0o755);
mkdirSync(join(dir, "tree", "somedir"), { recursive: true });
writeFileSync(join(dir, "tree", "somefile"), "");

const scripts = Object.fromEntries(SHELLS.map((s) => [s, script(s, buildProgram())])) as Record<
	(typeof SHELLS)[number],
	string
>;

test("completions/ is what the program generates (else: run make completions)", () => {
	for (const shell of SHELLS) {
		const committed = readFileSync(join(repo, COMPLETION_FILES[shell]), "utf8");
		if (committed !== scripts[shell])
			throw new Error(`${COMPLETION_FILES[shell]} drifted from the commander program: run make completions`);
	}
});

test("the model: hidden commands left out, choices and dynamic values found", () => {
	const root = specOf(buildProgram());
	expect(root.subcommands.map((c) => c.name)).not.toContain("__complete");
	const completion = root.subcommands.find((c) => c.name === "completion");
	expect(completion?.args).toEqual([{ name: "shell", choices: ["bash", "zsh", "fish"] }]);
	const install = root.subcommands.find((c) => c.name === "install");
	expect(install?.options.find((o) => o.names[0] === "--root")?.values).toBe("dir");
	expect(install?.options.find((o) => o.names[0] === "--eni-config")?.values).toBe("file");
});

test("each script parses in its shell", () => {
	for (const shell of SHELLS) {
		if (!has(shell)) {
			console.warn(`SKIP ${shell} -n: ${shell} is not installed`);
			continue;
		}
		const f = join(dir, `script.${shell}`);
		writeFileSync(f, scripts[shell]);
		const r = Bun.spawnSync([shell, "-n", f], { stderr: "pipe" });
		expect(`${shell}: ${r.stderr.toString()}`).toBe(`${shell}: `);
		expect(r.exitCode).toBe(0);
	}
});

/** What bash's programmable completion offers for `line` (cursor at the end). */
function bashComplete(line: string): string[] {
	const f = join(dir, "script.bash");
	writeFileSync(f, scripts.bash);
	const driver = `
source ${JSON.stringify(f)}
cd ${JSON.stringify(join(dir, "tree"))}
read -ra COMP_WORDS <<< "$LINE"
[[ $LINE == *" " ]] && COMP_WORDS+=("")
COMP_CWORD=$((\${#COMP_WORDS[@]} - 1))
_terwayctl
printf '%s\\n' "\${COMPREPLY[@]}"
`;
	const r = Bun.spawnSync(["bash", "-c", driver], {
		env: { ...process.env, LINE: line, PATH: `${bin}:${process.env.PATH}` },
		stdout: "pipe",
		stderr: "pipe",
	});
	if (r.exitCode !== 0) throw new Error(`bash: ${r.stderr.toString()}`);
	return r.stdout.toString().split("\n").filter(Boolean).sort();
}

describe.skipIf(!has("bash"))("bash", () => {
	test("subcommands, options, option choices, positional choices", () => {
		expect(bashComplete("terwayctl ")).toContain("install");
		expect(bashComplete("terwayctl in")).toEqual(["install"]);
		expect(bashComplete("terwayctl install --dr")).toEqual(["--dry-run"]);
		expect(bashComplete("terwayctl daemon --log-level ")).toEqual(["debug", "error", "info", "warn"]);
		expect(bashComplete("terwayctl completion ")).toEqual(["bash", "fish", "zsh"]);
		expect(bashComplete("terwayctl --json completion z")).toEqual(["zsh"]);
	});

	test("files and directories for path options; an option's value is not taken for a command", () => {
		expect(bashComplete("terwayctl install --root so")).toEqual(["somedir"]);
		expect(bashComplete("terwayctl install --eni-config some")).toEqual(["somedir", "somefile"]);
		expect(bashComplete("terwayctl install --root somedir --")).toContain("--uninstall");
	});

	test("dynamic ENI ids and pod names through terwayctl __complete", () => {
		const eni = specOf(buildProgram()).subcommands.find((c) => c.name === "eni");
		if (!eni?.subcommands.some((c) => c.name === "inspect")) {
			console.warn("SKIP dynamic ENI ids: `eni inspect` is not registered yet");
			return;
		}
		expect(bashComplete("terwayctl eni inspect ")).toEqual(["eni-aaa", "eni-bbb"]);
		expect(bashComplete("terwayctl eni inspect eni-a")).toEqual(["eni-aaa"]);
	});
});

describe.skipIf(!has("fish"))("fish", () => {
	const fishComplete = (line: string): string[] => {
		const f = join(dir, "script.fish");
		writeFileSync(f, scripts.fish);
		const r = Bun.spawnSync(
			["fish", "--no-config", "-c", `source ${f}; cd ${join(dir, "tree")}; complete -C $LINE`],
			{
				env: { ...process.env, LINE: line, PATH: `${bin}:${process.env.PATH}` },
				stdout: "pipe",
				stderr: "pipe",
			},
		);
		if (r.exitCode !== 0) throw new Error(`fish: ${r.stderr.toString()}`);
		return r.stdout
			.toString()
			.split("\n")
			.filter(Boolean)
			.map((l) => l.split("\t")[0] ?? "")
			.sort();
	};

	test("subcommands, options with choices, positional choices, nested commands", () => {
		expect(fishComplete("terwayctl in")).toEqual(["install"]);
		expect(fishComplete("terwayctl completion ")).toEqual(["bash", "fish", "zsh"]);
		expect(fishComplete("terwayctl daemon --log-level ")).toEqual(["debug", "error", "info", "warn"]);
		expect(fishComplete("terwayctl install --dry")).toEqual(["--dry-run"]);
		expect(fishComplete("terwayctl install --root so")).toEqual(["somedir/"]);
	});
});

describe.skipIf(!has("zsh"))("zsh", () => {
	/** Drive _terwayctl with zsh's completion builtins stubbed to print what they are given. */
	const zshComplete = (line: string): string[] => {
		const f = join(dir, "script.zsh");
		writeFileSync(f, scripts.zsh);
		const driver = `
compdef() { : }
compadd() { [[ $1 == -- ]] && shift; print -l -- "$@" }
_describe() { print -l -- \${\${(P)4}%%:*} }
_files() { print -- "FILES $*" }
source ${JSON.stringify(f)}
words=(\${(z)LINE})
[[ $LINE == *" " ]] && words+=("")
CURRENT=\${#words}
_terwayctl
`;
		const r = Bun.spawnSync(["zsh", "-f", "-c", driver], {
			env: { ...process.env, LINE: line, PATH: `${bin}:${process.env.PATH}` },
			stdout: "pipe",
			stderr: "pipe",
		});
		if (r.exitCode !== 0 && r.stderr.length > 0) throw new Error(`zsh: ${r.stderr.toString()}`);
		return r.stdout.toString().split("\n").filter(Boolean).sort();
	};

	test("subcommands, options, choices, files", () => {
		expect(zshComplete("terwayctl ")).toContain("install");
		expect(zshComplete("terwayctl completion ")).toEqual(["bash", "fish", "zsh"]);
		expect(zshComplete("terwayctl daemon --log-level ")).toEqual(["debug", "error", "info", "warn"]);
		expect(zshComplete("terwayctl install --")).toContain("--dry-run");
		expect(zshComplete("terwayctl install --root ")).toEqual(["FILES -/"]);
		expect(zshComplete("terwayctl install --root /tmp --eni-config ")).toEqual(["FILES "]);
	});
});
