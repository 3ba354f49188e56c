import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LOCK_FILE, lockStateDir, processStart, StateDirLockedError } from "./state-lock.ts";

let dir: string;
beforeEach(() => {
	dir = mkdtempSync(join(tmpdir(), "terwayd-lock-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** The pid of a process that has exited (and been reaped). */
function deadPid(): number {
	const p = Bun.spawnSync(["sh", "-c", "echo $$"], { stdout: "pipe" });
	return Number(p.stdout.toString().trim());
}

describe("state dir lock", () => {
	test("the lock holds pid and start time; a second taker is refused naming the pid; release removes it", () => {
		const l = lockStateDir(dir);
		const text = readFileSync(join(dir, LOCK_FILE), "utf8").trim();
		expect(text).toBe(`${process.pid} ${processStart(process.pid)}`);
		let err: unknown;
		try {
			lockStateDir(dir);
		} catch (e) {
			err = e;
		}
		expect(err).toBeInstanceOf(StateDirLockedError);
		expect((err as StateDirLockedError).pid).toBe(process.pid);
		expect((err as Error).message).toContain(String(process.pid));
		l.release();
		l.release();
		expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
		lockStateDir(dir).release();
		expect(readdirSync(dir)).toEqual([]);
	});

	test("stale locks are taken over: dead pid, recycled pid (other start time), garbage", () => {
		const messages: string[] = [];
		for (const stale of [`${deadPid()} 12345`, `${process.pid} 1`, "not a pid"]) {
			writeFileSync(join(dir, LOCK_FILE), `${stale}\n`);
			const l = lockStateDir(dir, (m) => messages.push(m));
			expect(readFileSync(join(dir, LOCK_FILE), "utf8").trim()).toBe(
				`${process.pid} ${processStart(process.pid)}`,
			);
			l.release();
		}
		expect(messages).toHaveLength(3);
		expect(readdirSync(dir)).toEqual([]);
	});

	test("release leaves a lock that is no longer ours alone", () => {
		const l = lockStateDir(dir);
		writeFileSync(join(dir, LOCK_FILE), "1 1\n");
		l.release();
		expect(readFileSync(join(dir, LOCK_FILE), "utf8")).toBe("1 1\n");
	});

	test("a live other process holds it: pid 1", () => {
		writeFileSync(join(dir, LOCK_FILE), `1 ${processStart(1)}\n`);
		expect(() => lockStateDir(dir)).toThrow(StateDirLockedError);
		expect(readFileSync(join(dir, LOCK_FILE), "utf8").trim()).toBe(`1 ${processStart(1)}`);
	});
});
