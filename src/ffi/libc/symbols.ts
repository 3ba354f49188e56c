/**
 * dlopen table for libc.so.6. Module-private to src/ffi/libc: import ./index.ts instead.
 * Declare only what the project calls: bun:ffi builds one trampoline per symbol (ffi-probe Q4a).
 */
import { dlopen } from "bun:ffi";
import { NotSupportedError } from "../errno.ts";

const defs = {
	open: { args: ["ptr", "i32", "u32"], returns: "i32" },
	close: { args: ["i32"], returns: "i32" },
	read: { args: ["i32", "ptr", "u64"], returns: "i64" },
	write: { args: ["i32", "ptr", "u64"], returns: "i64" },
	setns: { args: ["i32", "i32"], returns: "i32" },
	unshare: { args: ["i32"], returns: "i32" },
	mount: { args: ["ptr", "ptr", "ptr", "u64", "ptr"], returns: "i32" },
	umount2: { args: ["ptr", "i32"], returns: "i32" },
	ioctl: { args: ["i32", "u64"], returns: "i32" },
	if_nametoindex: { args: ["ptr"], returns: "u32" },
	__errno_location: { args: [], returns: "ptr" },
	strerror: { args: ["i32"], returns: "cstring" },
} as const;

type Lib = ReturnType<typeof dlopen<typeof defs>>["symbols"];
let lib: Lib | undefined;

export function libc(): Lib {
	if (!lib) {
		try {
			lib = dlopen("libc.so.6", defs).symbols;
		} catch (e) {
			throw new NotSupportedError("libc.so.6", `dlopen failed: ${(e as Error).message}`);
		}
	}
	return lib;
}
