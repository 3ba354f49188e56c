/**
 * Reactions to cloud errors that pause allocation, and the node condition they imply.
 *
 * Terway (`pkg/eni/local.go` `factoryAllocWorker`, `pkg/vswitch` cache, `pkg/eni/manager.go`,
 * cloud-sim.md §1.5):
 * - `InvalidVSwitchId.IpNotEnough`: the vSwitch is marked 0-available for 10 min, allocation from
 *   it is inhibited 10 min, node condition `SufficientIP=False/InsufficientIP`.
 * - `QuotaExceeded.PrivateIpAddress`: an account/VPC quota — all allocation inhibited 10 min,
 *   `SufficientIP=False`.
 * - `EniPerInstanceLimitExceeded`: no ENI creation for 1 min.
 * - the condition clears 10 min later or on the next release (`clearInsufficientIp`).
 *
 * Pure: the caller passes `nowMs` and keeps the returned state.
 */

import type { InhibitReason, InhibitState, SufficientIpCondition } from "./types.ts";

export const IP_NOT_ENOUGH_INHIBIT_MS = 10 * 60_000;
export const ENI_LIMIT_INHIBIT_MS = 60_000;
export const INSUFFICIENT_IP_CONDITION_MS = 10 * 60_000;

export type ErrorClass = "vswitchExhausted" | "ipQuota" | "eniLimit" | "eniIpLimit" | "retryable" | "other";

/** What a cloud error `Code` means for the pool (cloud-sim.md §1.5). */
export function classifyError(code: string): ErrorClass {
	switch (code) {
		case "InvalidVSwitchId.IpNotEnough":
			return "vswitchExhausted";
		case "QuotaExceeded.PrivateIpAddress":
			return "ipQuota";
		case "EniPerInstanceLimitExceeded":
			return "eniLimit";
		case "InvalidOperation.Ipv4CountExceeded":
		case "InvalidOperation.Ipv6CountExceeded":
			return "eniIpLimit";
		case "Throttling":
		case "InternalError":
		case "ServiceUnavailable":
		case "Operation.Conflict":
			return "retryable";
		default:
			return code.startsWith("Throttling") ? "retryable" : "other";
	}
}

export const emptyInhibit = (): InhibitState => ({ blockedVSwitches: {} });

/**
 * New inhibit state after a failed Assign/Create. `vswitchId` is the vSwitch the call used (the
 * ENI's, or the one chosen for the new ENI). Codes that do not inhibit return `state` unchanged.
 *
 * @example
 * s = inhibitOnError("InvalidVSwitchId.IpNotEnough", { nowMs, vswitchId: "vsw-1" }, s);
 */
export function inhibitOnError(
	code: string,
	ctx: { nowMs: number; vswitchId?: string },
	state: InhibitState,
): InhibitState {
	const { nowMs } = ctx;
	const later = (a: number | undefined, b: number) => Math.max(a ?? 0, b);
	switch (classifyError(code)) {
		case "vswitchExhausted": {
			const blocked = { ...state.blockedVSwitches };
			if (ctx.vswitchId)
				blocked[ctx.vswitchId] = later(blocked[ctx.vswitchId], nowMs + IP_NOT_ENOUGH_INHIBIT_MS);
			return { ...state, blockedVSwitches: blocked, code, insufficientIpSinceMs: nowMs };
		}
		case "ipQuota":
			return {
				...state,
				allocInhibitUntilMs: later(state.allocInhibitUntilMs, nowMs + IP_NOT_ENOUGH_INHIBIT_MS),
				code,
				insufficientIpSinceMs: nowMs,
			};
		case "eniLimit":
			return {
				...state,
				createInhibitUntilMs: later(state.createInhibitUntilMs, nowMs + ENI_LIMIT_INHIBIT_MS),
				code,
			};
		default:
			return state;
	}
}

/** Drop expired entries (cosmetic: every reader already ignores them). */
export function pruneInhibit(state: InhibitState, nowMs: number): InhibitState {
	const blocked: Record<string, number> = {};
	for (const [id, until] of Object.entries(state.blockedVSwitches)) if (until > nowMs) blocked[id] = until;
	const out: InhibitState = { blockedVSwitches: blocked };
	if ((state.allocInhibitUntilMs ?? 0) > nowMs) out.allocInhibitUntilMs = state.allocInhibitUntilMs;
	if ((state.createInhibitUntilMs ?? 0) > nowMs) out.createInhibitUntilMs = state.createInhibitUntilMs;
	if (state.code !== undefined) out.code = state.code;
	if (
		state.insufficientIpSinceMs !== undefined &&
		nowMs < state.insufficientIpSinceMs + INSUFFICIENT_IP_CONDITION_MS
	)
		out.insufficientIpSinceMs = state.insufficientIpSinceMs;
	return out;
}

/** Is `vswitchId` blocked at `nowMs`? */
export const isVSwitchBlocked = (state: InhibitState, vswitchId: string, nowMs: number): boolean =>
	(state.blockedVSwitches[vswitchId] ?? 0) > nowMs;

/** The active pause that stops all allocation, if any. */
export function allocPause(
	state: InhibitState,
	nowMs: number,
): { untilMs: number; reason: InhibitReason } | undefined {
	if ((state.allocInhibitUntilMs ?? 0) > nowMs)
		return { untilMs: state.allocInhibitUntilMs as number, reason: "QuotaExceeded" };
	return undefined;
}

/** The active pause on ENI creation, if any. */
export function createPause(
	state: InhibitState,
	nowMs: number,
): { untilMs: number; reason: InhibitReason } | undefined {
	if ((state.createInhibitUntilMs ?? 0) > nowMs)
		return { untilMs: state.createInhibitUntilMs as number, reason: "EniPerInstanceLimitExceeded" };
	return undefined;
}

/** A successful release clears the InsufficientIP condition (Terway `Manager.Release`). */
export function clearInsufficientIp(state: InhibitState): InhibitState {
	if (state.insufficientIpSinceMs === undefined) return state;
	const { insufficientIpSinceMs: _, ...rest } = state;
	return rest;
}

/** Node condition `SufficientIP` at `nowMs` (§4.3): False for 10 min after an IP shortage. */
export function sufficientIpCondition(state: InhibitState, nowMs: number): SufficientIpCondition {
	const since = state.insufficientIpSinceMs;
	if (since !== undefined && nowMs < since + INSUFFICIENT_IP_CONDITION_MS) {
		return {
			type: "SufficientIP",
			status: "False",
			reason: "InsufficientIP",
			message: `IP allocation failed (${state.code ?? "insufficient vSwitch IPs"}); retrying after the back-off`,
		};
	}
	return { type: "SufficientIP", status: "True", reason: "SufficientIP", message: "node has sufficient IP" };
}
