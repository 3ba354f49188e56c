/**
 * eBPF on the typed OS API: embedded objects, typed maps, pins on bpffs, tc attachment (TCX or
 * clsact) inside a network namespace. Built on src/ffi/libbpf; no processes spawned.
 */
export {
	type AttachedProgram,
	detach,
	ensureAttached,
	listAttached,
	resolveMode,
	TC_HANDLE,
	TC_PRIORITY,
	type TcAttachment,
	type TcAttachOptions,
	type TcDirection,
	type TcMode,
	type TcTarget,
	tcxSupported,
} from "./attach.ts";
export {
	BPFFS_MOUNT,
	bpffsMounts,
	DEFAULT_PIN_ROOT,
	ensureBpffs,
	ensurePinDir,
	PinLayout,
	unpin,
} from "./bpffs.ts";
export { type Codec, struct, u32 } from "./codec.ts";
export { Counter, CounterMaps, type IfStats } from "./counter.ts";
export { COUNTER_MAPS, COUNTER_PROGRAM, ifKey, ifStats } from "./counter-maps.ts";
export { loadObject, OBJECTS, type ObjectName, objectBytes, pinProgram } from "./objects.ts";
export {
	attachPinnedProgram,
	POLICY_PROGRAM_DIRECTION,
	PolicyProgram,
	type PolicyProgramName,
	policyProgramPin,
	TC_ACT_SHOT,
	TC_ACT_UNSPEC,
} from "./policy.ts";
export {
	type CtEntry,
	type DropEvent,
	DropReader,
	decodeDropEvent,
	ipEntryKey,
	ipKeyCidr,
	POLICY_DROPS_MAP,
	POLICY_MAPS,
	POLICY_PROGRAMS,
	PolicyMaps,
	type PolicyStats,
	policyEntryKey,
	policyKeyEntry,
} from "./policy-maps.ts";
export { type MapSpec, TypedMap } from "./typed-map.ts";
