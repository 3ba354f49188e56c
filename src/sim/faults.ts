/**
 * The sim's fault engine: rules injected through the control API (`terwayctl sim fault add`)
 * and consulted by every face before it answers. Deterministic by default (nth/times); with a
 * probability the draw comes from a seeded RNG, so a test with the same seed sees the same faults.
 */
import type { FaultEffect, FaultFace, FaultMatch, FaultRule } from "./contracts.ts";
import { Rng } from "./world/rng.ts";

/** A bad control request: the message names the field. */
export class FaultRuleError extends Error {
	override readonly name = "FaultRuleError";
}

const EFFECT_KINDS = [
	"error",
	"throttle",
	"latency",
	"hang",
	"reset",
	"ipExhausted",
	"attachStuck",
	"attachFail",
	"metadataLag",
	"watchDrop",
	"gone",
] as const;
const FACES: FaultFace[] = ["openapi", "metadata", "kube", "world"];

function isObject(v: unknown): v is Record<string, unknown> {
	return typeof v === "object" && v !== null && !Array.isArray(v);
}

function num(
	obj: Record<string, unknown>,
	key: string,
	where: string,
	opts: { min?: number; max?: number; int?: boolean } = {},
) {
	const v = obj[key];
	if (v === undefined) return undefined;
	if (typeof v !== "number" || !Number.isFinite(v) || (opts.int && !Number.isInteger(v))) {
		throw new FaultRuleError(
			`${where}.${key}: expected ${opts.int ? "an integer" : "a number"}, got ${JSON.stringify(v)}`,
		);
	}
	if ((opts.min !== undefined && v < opts.min) || (opts.max !== undefined && v > opts.max)) {
		throw new FaultRuleError(
			`${where}.${key}: ${v} is out of range [${opts.min ?? "-inf"}, ${opts.max ?? "inf"}]`,
		);
	}
	return v;
}

function str(obj: Record<string, unknown>, key: string, where: string): string | undefined {
	const v = obj[key];
	if (v === undefined) return undefined;
	if (typeof v !== "string" || v === "")
		throw new FaultRuleError(`${where}.${key}: expected a non-empty string, got ${JSON.stringify(v)}`);
	return v;
}

/** Validate an untrusted rule (control API input); errors name the field and the value. */
export function parseFaultRule(input: unknown): Omit<FaultRule, "id"> & { id?: string } {
	if (!isObject(input))
		throw new FaultRuleError(`fault rule: expected an object, got ${JSON.stringify(input)}`);
	for (const k of Object.keys(input)) {
		if (!["id", "match", "effect", "times"].includes(k))
			throw new FaultRuleError(`fault rule: unknown field ${JSON.stringify(k)}`);
	}
	const m = input.match ?? {};
	if (!isObject(m)) throw new FaultRuleError(`match: expected an object, got ${JSON.stringify(m)}`);
	for (const k of Object.keys(m)) {
		if (!["face", "action", "instanceId", "eniId", "nth", "probability"].includes(k)) {
			throw new FaultRuleError(`match: unknown field ${JSON.stringify(k)}`);
		}
	}
	const face = str(m, "face", "match");
	if (face !== undefined && !FACES.includes(face as FaultFace)) {
		throw new FaultRuleError(`match.face: ${JSON.stringify(face)} is not one of ${FACES.join(", ")}`);
	}
	const match: FaultMatch = {
		...(face ? { face: face as FaultFace } : {}),
		...(str(m, "action", "match") ? { action: str(m, "action", "match") } : {}),
		...(str(m, "instanceId", "match") ? { instanceId: str(m, "instanceId", "match") } : {}),
		...(str(m, "eniId", "match") ? { eniId: str(m, "eniId", "match") } : {}),
	};
	const nth = num(m, "nth", "match", { min: 1, int: true });
	if (nth !== undefined) match.nth = nth;
	const probability = num(m, "probability", "match", { min: 0, max: 1 });
	if (probability !== undefined) match.probability = probability;

	const e = input.effect;
	if (!isObject(e))
		throw new FaultRuleError(`effect: expected an object with a "kind", got ${JSON.stringify(e)}`);
	const kind = e.kind;
	if (typeof kind !== "string" || !(EFFECT_KINDS as readonly string[]).includes(kind)) {
		throw new FaultRuleError(`effect.kind: ${JSON.stringify(kind)} is not one of ${EFFECT_KINDS.join(", ")}`);
	}
	let effect: FaultEffect;
	switch (kind) {
		case "error": {
			const code = str(e, "code", "effect");
			if (!code) throw new FaultRuleError(`effect.code: required for kind "error"`);
			const status = num(e, "status", "effect", { min: 400, max: 599, int: true }) ?? 500;
			const message = str(e, "message", "effect");
			effect = { kind, code, status, ...(message ? { message } : {}) };
			break;
		}
		case "throttle": {
			const retryAfterMs = num(e, "retryAfterMs", "effect", { min: 0 });
			effect = { kind, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) };
			break;
		}
		case "latency": {
			const ms = num(e, "ms", "effect", { min: 0 });
			if (ms === undefined) throw new FaultRuleError(`effect.ms: required for kind "latency"`);
			const jitterMs = num(e, "jitterMs", "effect", { min: 0 });
			effect = { kind, ms, ...(jitterMs !== undefined ? { jitterMs } : {}) };
			break;
		}
		case "metadataLag": {
			const ms = num(e, "ms", "effect", { min: 0 });
			if (ms === undefined) throw new FaultRuleError(`effect.ms: required for kind "metadataLag"`);
			effect = { kind, ms };
			break;
		}
		default:
			effect = { kind } as FaultEffect;
	}
	const times = num(input, "times", "fault rule", { min: 1, int: true });
	const id = str(input, "id", "fault rule");
	return { ...(id ? { id } : {}), match, effect, ...(times !== undefined ? { times } : {}) };
}

/** The context a face gives when it asks whether a fault applies. */
export type FaultContext = { face: FaultFace; action?: string; instanceId?: string; eniId?: string };

type Live = { rule: FaultRule; seen: number; fired: number };

export class FaultEngine {
	#rules: Live[] = [];
	#next = 1;
	#random: Rng;

	constructor(seed = 1) {
		this.#random = new Rng(seed);
	}

	/** Add a validated rule (see parseFaultRule); returns it with its id. */
	add(rule: Omit<FaultRule, "id"> & { id?: string }): FaultRule {
		const id = rule.id ?? `f${this.#next++}`;
		if (this.#rules.some((r) => r.rule.id === id))
			throw new FaultRuleError(`fault rule: id ${JSON.stringify(id)} already exists`);
		const full: FaultRule = { ...rule, id };
		this.#rules.push({ rule: full, seen: 0, fired: 0 });
		return full;
	}

	remove(id: string): boolean {
		const before = this.#rules.length;
		this.#rules = this.#rules.filter((r) => r.rule.id !== id);
		return this.#rules.length !== before;
	}

	clear(): void {
		this.#rules = [];
	}

	/** Active rules with how often each matched and fired. */
	list(): (FaultRule & { seen: number; fired: number })[] {
		return this.#rules.map((r) => ({ ...r.rule, seen: r.seen, fired: r.fired }));
	}

	/**
	 * The first rule that applies to this request, counted as fired; spent rules are dropped.
	 * `only` restricts to effect kinds the caller can act on (a face ignores the others).
	 */
	check(
		ctx: FaultContext,
		only?: readonly FaultEffect["kind"][],
	): { rule: FaultRule; effect: FaultEffect } | undefined {
		for (const live of this.#rules) {
			const { match, effect } = live.rule;
			if (only && !only.includes(effect.kind)) continue;
			if (match.face && match.face !== ctx.face) continue;
			if (match.action && match.action !== ctx.action && !(ctx.action ?? "").startsWith(match.action))
				continue;
			if (match.instanceId && match.instanceId !== ctx.instanceId) continue;
			if (match.eniId && match.eniId !== ctx.eniId) continue;
			live.seen++;
			if (match.nth !== undefined && live.seen !== match.nth) continue;
			if (match.probability !== undefined && this.#random.next() >= match.probability) continue;
			live.fired++;
			if (live.rule.times !== undefined && live.fired >= live.rule.times) {
				this.#rules = this.#rules.filter((r) => r !== live);
			}
			return { rule: live.rule, effect };
		}
		return undefined;
	}
}
