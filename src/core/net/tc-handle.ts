/**
 * Traffic-control handles ("1:", "1:10", "ffff:fff1", "root") <-> the kernel's u32, as iproute2
 * reads and prints them. Pure: no I/O.
 *
 * A handle is `major:minor`, both hexadecimal 16-bit numbers (pkt_sched.h TC_H_MAKE): "1:" is
 * 0x00010000, "1:10" is 0x00010010, ":10" is 0x00000010, "ffff:" is 0xffff0000. Names:
 * "root" = TC_H_ROOT (0xffffffff), "ingress"/"clsact" = TC_H_INGRESS = TC_H_CLSACT (0xfffffff1),
 * "none" = TC_H_UNSPEC (0). Parsing follows iproute2 get_tc_classid(); formatting follows
 * sprint_tc_classid() so values compare equal with `tc -j` output.
 */
import { InvalidValueError } from "./value-error.ts";

export const TC_H_ROOT = 0xffffffff;
export const TC_H_UNSPEC = 0;
export const TC_H_INGRESS = 0xfffffff1;
export const TC_H_CLSACT = TC_H_INGRESS;

/** Build a handle from major and minor (each 0..0xffff). */
export function tcHandle(major: number, minor = 0): number {
	for (const [what, v] of [
		["major", major],
		["minor", minor],
	] as const) {
		if (!Number.isInteger(v) || v < 0 || v > 0xffff) {
			throw new InvalidValueError(
				"tc handle",
				`${major.toString(16)}:${minor.toString(16)}`,
				`${what} must be 0..ffff`,
			);
		}
	}
	return ((major << 16) | minor) >>> 0;
}

export const tcMajor = (h: number): number => (h >>> 16) & 0xffff;
export const tcMinor = (h: number): number => h & 0xffff;

const HEX = /^[0-9a-fA-F]{1,4}$/;

/**
 * Parse "1:", "1:10", ":10", "ffff:fff1", "root", "ingress", "clsact", "none" into a u32.
 * Throws InvalidValueError naming the value for anything else (a bare number is rejected, as
 * the unit would be ambiguous).
 */
export function parseTcHandle(s: string): number {
	const t = s.trim().toLowerCase();
	if (t === "root") return TC_H_ROOT;
	if (t === "ingress" || t === "clsact") return TC_H_INGRESS;
	if (t === "none") return TC_H_UNSPEC;
	const i = t.indexOf(":");
	if (i < 0 || t.indexOf(":", i + 1) >= 0) {
		throw new InvalidValueError(
			"tc handle",
			s,
			'expected "major:" or "major:minor" in hex, or root/ingress/clsact/none',
		);
	}
	const maj = t.slice(0, i);
	const min = t.slice(i + 1);
	if (maj === "" && min === "") throw new InvalidValueError("tc handle", s, "major and minor are both empty");
	if (maj !== "" && !HEX.test(maj))
		throw new InvalidValueError("tc handle", s, "major must be 1-4 hex digits");
	if (min !== "" && !HEX.test(min))
		throw new InvalidValueError("tc handle", s, "minor must be 1-4 hex digits");
	return tcHandle(maj === "" ? 0 : Number.parseInt(maj, 16), min === "" ? 0 : Number.parseInt(min, 16));
}

/** Format a u32 handle the way `tc` prints it ("root", "1:", "1:10", ":10", "ffff:fff1"). */
export function formatTcHandle(h: number): string {
	const v = h >>> 0;
	if (v === TC_H_ROOT) return "root";
	if (v === TC_H_UNSPEC) return "0:";
	const maj = tcMajor(v);
	const min = tcMinor(v);
	if (maj === 0) return `:${min.toString(16)}`;
	if (min === 0) return `${maj.toString(16)}:`;
	return `${maj.toString(16)}:${min.toString(16)}`;
}
