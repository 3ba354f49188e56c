import { describe, expect, test } from "bun:test";
import { cli } from "../status/harness.ts";
import { isSecretPath, macDirs, nearest, normalizeMetaPath, REDACTED, renderTree, walk } from "./tree.ts";

// The service's own listing format (cloud-sim.md §3): directories end in "/".
const SERVICE: Record<string, string> = {
	"": "instance-id\nnetwork/\nram/\nregion-id",
	"instance-id": "i-bp1abc",
	"region-id": "cn-hangzhou",
	"network/": "interfaces/",
	"network/interfaces/": "macs/",
	"network/interfaces/macs/": "00:16:3E:00:00:01/\n",
	"network/interfaces/macs/00:16:3E:00:00:01/": "gateway\nipv6s\nprivate-ipv4s",
	"network/interfaces/macs/00:16:3E:00:00:01/gateway": "198.18.0.253",
	"network/interfaces/macs/00:16:3E:00:00:01/private-ipv4s": '["198.18.0.10"]\n',
	"ram/": "security-credentials/",
	"ram/security-credentials/": "Role",
	"ram/security-credentials/Role": '{"AccessKeySecret":"never printed"}',
};

const get = async (p: string) => SERVICE[p] ?? null;

describe("metadata tree", () => {
	test("walks the listings; a listed key answering 404 is null; RAM credentials are never fetched", async () => {
		const asked: string[] = [];
		const tree = await walk(async (p) => {
			asked.push(p);
			return get(p);
		}, "");
		expect(tree).toEqual({
			"instance-id": "i-bp1abc",
			network: {
				interfaces: {
					macs: {
						"00:16:3E:00:00:01": { gateway: "198.18.0.253", ipv6s: null, "private-ipv4s": '["198.18.0.10"]' },
					},
				},
			},
			ram: { "security-credentials": { Role: REDACTED } },
			"region-id": "cn-hangzhou",
		});
		expect(asked).not.toContain("ram/security-credentials/Role");
	});

	test("a subtree; a directory that is not there", async () => {
		expect(await walk(get, "network/interfaces/")).toEqual({
			macs: {
				"00:16:3E:00:00:01": { gateway: "198.18.0.253", ipv6s: null, "private-ipv4s": '["198.18.0.10"]' },
			},
		});
		expect(await walk(get, "nope/")).toBeUndefined();
	});

	test("at most `parallel` requests at a time", async () => {
		let now = 0;
		let peak = 0;
		await walk(
			async (p) => {
				peak = Math.max(peak, ++now);
				await Bun.sleep(1);
				now--;
				return get(p);
			},
			"",
			2,
		);
		expect(peak).toBe(2);
	});

	test("renders a tree with each MAC's local link", async () => {
		const tree = (await walk(get, ""))!;
		expect(macDirs(tree)).toEqual(["00:16:3e:00:00:01"]);
		expect(renderTree(tree, "meta-data/", { "00:16:3e:00:00:01": "eth0" })).toBe(
			[
				"meta-data/",
				"├── instance-id: i-bp1abc",
				"├── network/",
				"│   └── interfaces/",
				"│       └── macs/",
				"│           └── 00:16:3E:00:00:01/  (eth0)",
				"│               ├── gateway: 198.18.0.253",
				"│               ├── ipv6s: (not found)",
				'│               └── private-ipv4s: ["198.18.0.10"]',
				"├── ram/",
				"│   └── security-credentials/",
				"│       └── Role: <redacted>",
				"└── region-id: cn-hangzhou",
			].join("\n"),
		);
		expect(renderTree(tree, "t", { "00:16:3e:00:00:01": null })).toContain(
			"00:16:3E:00:00:01/  (no local link)",
		);
	});

	test("paths: normalised, refused when they cannot be one; secrets; nearest entry", () => {
		expect(normalizeMetaPath("/latest/meta-data/instance-id")).toBe("instance-id");
		expect(normalizeMetaPath("network/")).toBe("network/");
		expect(normalizeMetaPath("")).toBe("");
		expect(normalizeMetaPath("../etc")).toBeUndefined();
		expect(normalizeMetaPath("a b")).toBeUndefined();
		expect(isSecretPath("ram/security-credentials/Role")).toBe(true);
		expect(isSecretPath("ram/security-credentials/")).toBe(false);
		expect(nearest("instance-ib", ["instance-id", "instance/", "region-id"])).toBe("instance-id");
		expect(nearest("mac", ["macs/"])).toBe("macs/");
		expect(nearest("zzzzzzzz", ["instance-id"])).toBeUndefined();
	});

	test("CLI: a path that cannot be a metadata path is exit 2; an unreachable service exit 1 saying what to do", async () => {
		const bad = await cli(["metadata", "../etc/passwd"]);
		expect(bad).toEqual({
			code: 2,
			out: "",
			err: 'terwayctl: metadata path "../etc/passwd": not a path under /latest/meta-data/ (no spaces, "." or "..")\n',
		});
		const down = await cli(["metadata", "instance-id"]);
		expect(down.code).toBe(1);
		expect(down.err).toStartWith("terwayctl: metadata service not reachable at http://127.0.0.1:9 (");
		expect(down.err).toContain("or set TERWAY_METADATA_URL");
		const help = await cli(["metadata", "--help"]);
		expect(help.code).toBe(0);
		expect(help.out).toContain("Examples:");
	});
});
