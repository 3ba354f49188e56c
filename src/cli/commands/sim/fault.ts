/** `terwayctl sim fault add|list|rm|clear`. Rules are validated by the world (errors name the field). */
import { SimClient } from "../../../sim/control/client.ts";
import { validatePrefix } from "../../../sim/layout.ts";
import { ExitError } from "../../errors.ts";
import { printJson, table } from "../../output.ts";

type AddOptions = {
	prefix: string;
	face?: string;
	action?: string;
	instance?: string;
	eni?: string;
	nth?: string;
	probability?: string;
	times?: string;
	effect?: string;
	code?: string;
	status?: string;
	ms?: string;
	rule?: string;
	json: boolean;
};

const number = (flag: string, v: string | undefined) => {
	if (v === undefined) return undefined;
	const n = Number(v);
	if (v.trim() === "" || !Number.isFinite(n))
		throw new ExitError(`--${flag} ${JSON.stringify(v)}: expected a number`, 2);
	return n;
};

/** Build the rule from the flags (the world validates it). */
export function ruleFromFlags(o: AddOptions): unknown {
	if (o.rule !== undefined) {
		try {
			return JSON.parse(o.rule);
		} catch {
			throw new ExitError(`--rule: not valid JSON: ${o.rule}`, 2);
		}
	}
	if (!o.effect) throw new ExitError("sim fault add: --effect is required (or --rule JSON)", 2);
	const match = Object.fromEntries(
		Object.entries({
			face: o.face,
			action: o.action,
			instanceId: o.instance,
			eniId: o.eni,
			nth: number("nth", o.nth),
			probability: number("probability", o.probability),
		}).filter(([, v]) => v !== undefined),
	);
	const effect = Object.fromEntries(
		Object.entries({
			kind: o.effect,
			code: o.code,
			status: number("status", o.status),
			ms: number("ms", o.ms),
		}).filter(([, v]) => v !== undefined),
	);
	const times = number("times", o.times);
	return { match, effect, ...(times !== undefined ? { times } : {}) };
}

export async function simFaultAdd(o: AddOptions): Promise<void> {
	const rule = await new SimClient(validatePrefix(o.prefix)).addFault(ruleFromFlags(o));
	if (o.json) printJson(rule);
	else console.log(`fault ${rule.id} added: ${JSON.stringify(rule.match)} -> ${JSON.stringify(rule.effect)}`);
}

export async function simFaultList(o: { prefix: string; json: boolean }): Promise<void> {
	const rules = await new SimClient(validatePrefix(o.prefix)).faults();
	if (o.json) printJson(rules);
	else
		console.log(
			table(
				["id", "match", "effect", "times", "seen", "fired"],
				rules.map((r) => [r.id, JSON.stringify(r.match), JSON.stringify(r.effect), r.times, r.seen, r.fired]),
			),
		);
}

export async function simFaultRm(o: { prefix: string; id: string }): Promise<void> {
	const { removed } = await new SimClient(validatePrefix(o.prefix))
		.removeFault(o.id)
		.catch(() => ({ removed: false }));
	if (!removed) throw new ExitError(`no fault rule ${o.id}`);
	console.log(`fault ${o.id} removed`);
}

export async function simFaultClear(o: { prefix: string }): Promise<void> {
	const { removed } = await new SimClient(validatePrefix(o.prefix)).clearFaults();
	console.log(`${removed} fault rules removed`);
}
