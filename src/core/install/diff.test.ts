import { expect, test } from "bun:test";
import { unifiedDiff } from "./diff.ts";

test("equal texts: no diff", () => {
	expect(unifiedDiff("/a", "x\n", "x\n")).toBe("");
});

test("created and deleted files diff against /dev/null", () => {
	expect(unifiedDiff("/etc/x.conf", undefined, "a\nb\n")).toBe(
		"--- /dev/null\n+++ b/etc/x.conf\n@@ -0,0 +1,2 @@\n+a\n+b\n",
	);
	expect(unifiedDiff("/etc/x.conf", "a\n", undefined)).toBe(
		"--- a/etc/x.conf\n+++ /dev/null\n@@ -1 +0,0 @@\n-a\n",
	);
});

test("a change in the middle: removals before additions, 3 lines of context, diff -u numbering", () => {
	const before = `${["1", "2", "3", "4", "5", "6", "7", "8", "9", "10"].join("\n")}\n`;
	const after = `${["1", "2", "3", "4", "five", "6", "7", "8", "9", "10"].join("\n")}\n`;
	expect(unifiedDiff("/f", before, after)).toBe(
		"--- a/f\n+++ b/f\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n",
	);
});

test("changes far apart make two hunks; close ones merge", () => {
	const lines = Array.from({ length: 20 }, (_, i) => `l${i + 1}`);
	const far = [...lines];
	far[1] = "X";
	far[18] = "Y";
	const d = unifiedDiff("/f", `${lines.join("\n")}\n`, `${far.join("\n")}\n`);
	expect(d.split("\n").filter((l) => l.startsWith("@@"))).toEqual(["@@ -1,5 +1,5 @@", "@@ -16,5 +16,5 @@"]);
	const near = [...lines];
	near[4] = "X";
	near[9] = "Y";
	const d2 = unifiedDiff("/f", `${lines.join("\n")}\n`, `${near.join("\n")}\n`);
	expect(d2.split("\n").filter((l) => l.startsWith("@@"))).toEqual(["@@ -2,12 +2,12 @@"]);
});
