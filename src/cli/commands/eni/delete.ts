/**
 * `terwayctl eni delete ID [--force] [--yes]`: detach (when attached) and delete an ENI through
 * the cloud API, waiting out the asynchronous states (InUse -> Detaching -> Available, then
 * Deleting -> gone). Refuses, unless --force: an ENI pods use (terwayd says so, or terwayd cannot
 * be asked), one not tagged creator=terway, one attached to another instance. Never the primary
 * ENI (the cloud cannot detach it). Asks on a TTY; elsewhere --yes is required. Progress goes to
 * stderr, so --json keeps stdout to one document.
 *
 * Errors: malformed id -> exit 2; unknown id -> exit 1 and nothing changed; a refusal -> exit 1.
 */
import type { Eni } from "../../../cloud/index.ts";
import { EXIT, ExitError } from "../../errors.ts";
import { emit, type OutputFormat } from "../../format.ts";
import { style } from "../../output.ts";
import { parseEniId } from "./ids.ts";
import { type EniView, mergeEnis, TAG_CREATOR, TAG_CREATOR_VALUE } from "./merge.ts";
import { gather, type SourceOptions } from "./sources.ts";

export type EniDeleteOptions = SourceOptions & {
	id: string;
	force?: boolean | undefined;
	yes?: boolean | undefined;
	format: OutputFormat;
	/** Injected by tests; default: stdin is a TTY and Bun's confirm(). */
	confirm?: ((question: string) => boolean) | undefined;
	interactive?: boolean | undefined;
};

/** `eni delete --json`. */
export type EniDeleteDocument = {
	deleted: string;
	/** The instance it was detached from, null when it was not attached. */
	detachedFrom: string | null;
	forced: boolean;
	/** What --force overrode (empty without --force). */
	overridden: string[];
};

/** Why the ENI must not be deleted: `hard` ones even with --force, `soft` ones unless --force. */
export function refusals(
	c: Eni,
	v: EniView | undefined,
	ctx: { instanceId: string; daemonAsked: boolean },
): { hard: string[]; soft: string[] } {
	const hard: string[] = [];
	const soft: string[] = [];
	if (c.type === "Primary")
		hard.push(`${c.eniId} is the instance's primary ENI; the cloud cannot detach or delete it`);
	const pods = [...new Set((v?.ips ?? []).flatMap((x) => (x.pod ? [x.pod] : [])))];
	if (pods.length) soft.push(`in use by pods ${pods.join(", ")} (terwayd)`);
	else if (!ctx.daemonAsked && c.instanceId === ctx.instanceId)
		soft.push("terwayd is not reachable, so which pods use it is unknown");
	if (c.tags[TAG_CREATOR] !== TAG_CREATOR_VALUE)
		soft.push(`not created by terway (no tag ${TAG_CREATOR}=${TAG_CREATOR_VALUE})`);
	if (c.instanceId && c.instanceId !== ctx.instanceId)
		soft.push(`attached to another instance (${c.instanceId})`);
	return { hard, soft };
}

const say = (s: string) => process.stderr.write(`${s}\n`);

export async function eniDelete(opts: EniDeleteOptions): Promise<void> {
	const id = parseEniId(opts.id);
	const g = await gather(opts);
	if (!g.ecs || !g.state.cloud.ok)
		throw new ExitError(
			`cannot delete ${id}: the cloud API is not available (${g.state.cloud.error ?? "no client"}); nothing changed`,
		);
	const ecs = g.ecs;
	const c = await ecs.describeEni(id);
	if (!c) {
		const mine = (g.sources.cloud ?? []).map((e) => e.eniId);
		throw new ExitError(
			`no ENI ${id} in region ${g.regionId}; nothing changed${mine.length ? ` (this instance's: ${mine.join(", ")})` : ""}`,
		);
	}
	const v = mergeEnis(g.sources).find((x) => x.id === id);
	const { hard, soft } = refusals(c, v, { instanceId: g.sources.instanceId, daemonAsked: g.state.daemon.ok });
	if (hard.length) throw new ExitError(`refusing to delete: ${hard.join("; ")}; nothing changed`);
	if (soft.length && !opts.force)
		throw new ExitError(
			`refusing to delete ${id}: ${soft.join("; ")}; pass --force to delete it anyway; nothing changed`,
		);

	if (v?.seen.daemon)
		say(
			style.yellow(
				`note: terwayd holds ${id} in its pool; it sees it gone when it next reconciles with the cloud`,
			),
		);
	if (!opts.yes) {
		const interactive = opts.interactive ?? Boolean(process.stdin.isTTY);
		if (!interactive)
			throw new ExitError(
				`eni delete ${id}: stdin is not a terminal; pass --yes to confirm; nothing changed`,
				EXIT.usage,
			);
		const what = `${id} (${c.type}, ${c.status}${c.instanceId ? ` on ${c.instanceId}` : ""}, ${c.ipv4s.length + c.ipv6s.length} IPs)`;
		const ask = opts.confirm ?? ((q: string) => confirm(q));
		if (!ask(`Delete ENI ${what}${opts.force && soft.length ? ` despite: ${soft.join("; ")}` : ""}?`))
			throw new ExitError(`eni delete ${id}: not confirmed; nothing changed`);
	}

	let detachedFrom: string | null = null;
	if (c.instanceId && c.status !== "Available") {
		say(style.dim(`detaching ${id} from ${c.instanceId} ...`));
		await ecs.detachEni(id, c.instanceId);
		await ecs.waitEniStatus(id, "Available", { timeoutMs: 120_000 });
		detachedFrom = c.instanceId;
		say(style.dim(`${id} is Available`));
	}
	say(style.dim(`deleting ${id} ...`));
	await ecs.deleteEni(id);
	await ecs.waitEniStatus(id, "absent", { backoff: "ENIDeleteConfirm", timeoutMs: 120_000 });
	const doc: EniDeleteDocument = {
		deleted: id,
		detachedFrom,
		forced: Boolean(opts.force && soft.length),
		overridden: opts.force ? soft : [],
	};
	emit(
		opts.format,
		doc,
		() => `deleted ${id}${detachedFrom ? ` (detached from ${detachedFrom} first)` : ""}`,
	);
}
