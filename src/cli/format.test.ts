import { describe, expect, test } from "bun:test";
import { Command } from "commander";
import {
	addOutputOptions,
	examples,
	isDocument,
	outputFormat,
	outputOption,
	renderDocument,
} from "./format.ts";

function parsed(args: string[]) {
	const program = new Command("t")
		.option("--json")
		.configureOutput({ writeErr: () => {} })
		.exitOverride();
	let got: ReturnType<typeof outputFormat> | undefined;
	program
		.command("x")
		.option("--json")
		.addOption(outputOption())
		.action((_o, cmd: Command) => {
			got = outputFormat(cmd);
		});
	program.parse(["node", "t", ...args]);
	return got;
}

describe("output conventions", () => {
	test("--json (the command's or the program's) wins over -o; default table", () => {
		expect(parsed(["x"])).toBe("table");
		expect(parsed(["x", "-o", "wide"])).toBe("wide");
		expect(parsed(["x", "-o", "yaml"])).toBe("yaml");
		expect(parsed(["x", "-o", "yaml", "--json"])).toBe("json");
		expect(parsed(["--json", "x", "-o", "wide"])).toBe("json");
		expect(() => parsed(["x", "-o", "xml"])).toThrow("Allowed choices are json, yaml, wide");
		expect(isDocument("yaml")).toBe(true);
		expect(isDocument("wide")).toBe(false);
	});

	test("addOutputOptions: --socket (when asked), --json, -o in that order; documentsOnly drops wide", () => {
		const flags = (c: Command) => c.options.map((o) => o.long);
		const all = addOutputOptions(new Command("a"), { socket: true });
		expect(flags(all)).toEqual(["--socket", "--json", "--output"]);
		expect(all.options.at(-1)?.argChoices).toEqual(["json", "yaml", "wide"]);
		const docs = addOutputOptions(new Command("d"), { documentsOnly: true });
		expect(flags(docs)).toEqual(["--json", "--output"]);
		expect(docs.options.at(-1)?.argChoices).toEqual(["json", "yaml"]);
	});

	test("documents: JSON indented, YAML without undefined, both newline-terminated", () => {
		const doc = { a: 1, b: undefined, c: [{ d: "x:y" }], e: null };
		expect(renderDocument(doc, "json")).toBe(
			'{\n  "a": 1,\n  "c": [\n    {\n      "d": "x:y"\n    }\n  ],\n  "e": null\n}\n',
		);
		const y = renderDocument(doc, "yaml");
		expect(y.endsWith("\n")).toBe(true);
		expect(Bun.YAML.parse(y)).toEqual({ a: 1, c: [{ d: "x:y" }], e: null });
	});

	test("examples block", () => {
		expect(examples(["a", "b"])).toBe("\nExamples:\n  a\n  b");
	});
});
