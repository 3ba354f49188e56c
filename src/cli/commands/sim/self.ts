/** How to start this program again (a compiled binary, or bun + the entry script). */
export function selfArgv(): string[] {
	return Bun.main.startsWith("/$bunfs/") ? [process.execPath] : [process.execPath, Bun.main];
}
