/**
 * The NetworkPolicy programs (bpf/policy.bpf.c) as a typed object: load them from the embedded
 * bytes with their maps pinned by name under the pin root, pin both programs at
 * `<pinRoot>/progs/<name>`, and attach a pinned program to a host veth by path, so the
 * short-lived CNI plugin attaches without loading anything (the agent owns the maps).
 *
 *   terway_pol_from on the host veth's tc ingress (packets from the pod: its egress policy)
 *   terway_pol_to   on the host veth's tc egress  (packets to the pod: its ingress policy)
 */

import type { BpfObject } from "../../ffi/libbpf/index.ts";
import { objGet, progTestRun } from "../../ffi/libbpf/index.ts";
import { LinuxError } from "../errors.ts";
import type { Netns } from "../netns.ts";
import { ensureAttached, type TcAttachment, type TcDirection, type TcMode } from "./attach.ts";
import { DEFAULT_PIN_ROOT, PinLayout } from "./bpffs.ts";
import { loadObject, pinProgram } from "./objects.ts";
import { DropReader, POLICY_DROPS_MAP, POLICY_PROGRAMS, PolicyMaps } from "./policy-maps.ts";

/** The verdict of a policy program that lets a packet go on (TCX_NEXT). */
export const TC_ACT_UNSPEC = -1;
/** The verdict of a policy program that drops. */
export const TC_ACT_SHOT = 2;

export type PolicyProgramName = (typeof POLICY_PROGRAMS)[keyof typeof POLICY_PROGRAMS];

/** The tc direction of the host veth each program belongs on. */
export const POLICY_PROGRAM_DIRECTION: Record<PolicyProgramName, TcDirection> = {
	terway_pol_from: "ingress",
	terway_pol_to: "egress",
};

/** Where `program` is pinned under `pinRoot`. */
export function policyProgramPin(program: PolicyProgramName, pinRoot: string = DEFAULT_PIN_ROOT): string {
	return new PinLayout(pinRoot).program(program);
}

/** The loaded policy object: program fds, pins, and its maps (borrowed from the object). */
export class PolicyProgram {
	readonly maps: PolicyMaps;
	/** Program name -> pin path. */
	readonly pins: Record<PolicyProgramName, string>;

	private constructor(
		readonly object: BpfObject,
		readonly pinRoot: string,
	) {
		this.maps = PolicyMaps.borrow((name) => object.mapFd(name));
		this.pins = {
			terway_pol_from: pinProgram(object, POLICY_PROGRAMS.from, pinRoot),
			terway_pol_to: pinProgram(object, POLICY_PROGRAMS.to, pinRoot),
		};
	}

	/**
	 * Load bpf/build/policy.bpf.o (embedded): maps reused from / pinned at `<pinRoot>/<name>`,
	 * both programs pinned at `<pinRoot>/progs/<name>` (replacing older pins: links attached to
	 * the old programs keep them until re-attached).
	 */
	static load(opts: { pinRoot?: string } = {}): PolicyProgram {
		const pinRoot = opts.pinRoot ?? DEFAULT_PIN_ROOT;
		const obj = loadObject("policy", { pinRoot });
		try {
			return new PolicyProgram(obj, pinRoot);
		} catch (e) {
			obj.close();
			throw e;
		}
	}

	/** Borrowed fd of one program (valid until close). */
	programFd(program: PolicyProgramName): number {
		return this.object.programFd(program);
	}

	/**
	 * Probe: run both programs once under BPF_PROG_TEST_RUN on an ARP frame, which must pass
	 * (TC_ACT_UNSPEC) without touching any map. Throws when the kernel refuses test runs.
	 */
	selfTest(): { program: PolicyProgramName; retval: number; ok: boolean }[] {
		const arp = new Uint8Array(42);
		arp.set([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 1, 0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1]);
		return (Object.values(POLICY_PROGRAMS) as PolicyProgramName[]).map((program) => {
			const { retval } = progTestRun(this.programFd(program), { data: arp });
			return { program, retval, ok: retval === TC_ACT_UNSPEC };
		});
	}

	/** A reader of the drop ring buffer on this object's fd (close it before the object). */
	drops(): DropReader {
		return DropReader.borrow(this.object.mapFd(POLICY_DROPS_MAP));
	}

	/** Closes the object's fds; pinned maps, pinned programs and pinned links stay. */
	close(): void {
		this.object.close();
	}

	[Symbol.dispose](): void {
		this.close();
	}
}

/**
 * Attach a pinned policy program to an interface in `ns` (TCX pinned link, or clsact when the
 * kernel lacks TCX or `mode` says so), idempotently: `changed` is false when it already runs
 * there. The program must have been pinned by `PolicyProgram.load` under the same `pinRoot`.
 */
export function attachPinnedProgram(o: {
	ns: Netns;
	ifName: string;
	direction: TcDirection;
	program: PolicyProgramName;
	pinRoot?: string;
	mode?: TcMode | "auto";
}): TcAttachment & { changed: boolean } {
	const path = policyProgramPin(o.program, o.pinRoot);
	let prog: ReturnType<typeof objGet>;
	try {
		prog = objGet(path);
	} catch (e) {
		throw new LinuxError(
			"bpf.attach",
			`pinned program ${path} cannot be opened (is the policy agent running?)`,
			e,
		);
	}
	try {
		return ensureAttached({ ns: o.ns, ifName: o.ifName, direction: o.direction }, prog.fd, {
			pinRoot: o.pinRoot,
			mode: o.mode,
		});
	} finally {
		prog.close();
	}
}
