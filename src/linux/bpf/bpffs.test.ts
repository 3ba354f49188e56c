import { describe, expect, test } from "bun:test";
import { DEFAULT_PIN_ROOT, PinLayout, parseBpffsMounts } from "./bpffs.ts";

describe("bpffs", () => {
	test("finds bpf mounts in mountinfo, unescaping octal", () => {
		const text = [
			"22 27 0:21 / /sys rw,nosuid shared:7 - sysfs sysfs rw",
			"40 22 0:33 / /sys/fs/bpf rw,nosuid,nodev,noexec,relatime shared:16 - bpf bpf rw,mode=700",
			"41 22 0:34 / /tmp/my\\040pins rw shared:17 - bpf none rw",
			"",
		].join("\n");
		expect(parseBpffsMounts(text)).toEqual(["/sys/fs/bpf", "/tmp/my pins"]);
	});

	test("pin layout: maps by name, programs and links in subdirectories, links unique per netns", () => {
		const p = new PinLayout("/sys/fs/bpf/tw1");
		expect(p.map("terway_ifstats")).toBe("/sys/fs/bpf/tw1/terway_ifstats");
		expect(p.program("terway_counter")).toBe("/sys/fs/bpf/tw1/progs/terway_counter");
		expect(p.link(4026532000, 5, "egress")).toBe("/sys/fs/bpf/tw1/links/tcx_4026532000_5_egress");
		expect(new PinLayout().root).toBe(DEFAULT_PIN_ROOT);
	});
});
