/**
 * `terwayctl policy dump`: read the pinned policy maps (no daemon needed), build the dump model
 * and print it as text or one JSON document; `--watch` then follows drop events until Ctrl-C.
 * The recent drops are whatever waits in the terway_drops ring buffer: reading consumes them, so
 * a drop is shown by one dump (or watch) only.
 */
import type { MapState } from "../../../core/policy/types.ts";
import { emit, isDocument, type OutputFormat } from "../../format.ts";
import { buildDump, type DropRow, dropDoc } from "./model.ts";
import { parsePodRef, resolvePod } from "./pods.ts";
import { dropLine, renderDump } from "./render.ts";
import { agentView, hasPins, nodeLinks, noMapsError, openPolicySource, pinRootOf } from "./source.ts";

export type DumpOptions = {
	format: OutputFormat;
	pod?: string;
	pinRoot?: string;
	stateDir?: string;
	socket?: string;
	watch?: boolean;
};

/** How long the dump waits for the first drop event (ms): they are already there or not. */
const DRAIN_MS = 0;
const WATCH_POLL_MS = 200;
/** --watch re-reads identity and rule names at most this often (the agent may rename). */
const NAMES_TTL_MS = 2_000;

export async function policyDump(opts: DumpOptions): Promise<void> {
	const pinRoot = pinRootOf(opts.pinRoot);
	if (opts.pod !== undefined) parsePodRef(opts.pod); // a usage error before anything else
	const agentAnswer = agentView(opts.socket);
	if (!hasPins(pinRoot)) throw noMapsError(pinRoot, await agentAnswer);
	const pod = opts.pod !== undefined ? await resolvePod(opts.pod, opts) : undefined;
	const src = await openPolicySource(pinRoot);
	try {
		const state = src.readState();
		const drops = src.drops(DRAIN_MS);
		const links = await nodeLinks();
		const agent = await agentAnswer;
		const doc = buildDump({ pinRoot, state, stats: src.stats(), ct: src.ct(), drops, links, agent }, pod);
		if (opts.watch) {
			// the drops drained for the dump are shown once: in the dump, or as the first JSON lines
			if (!isDocument(opts.format)) console.log(renderDump(doc, opts.format === "wide"));
			else for (const d of doc.drops) console.log(JSON.stringify(d));
			await watch(
				opts,
				() => src.drops(WATCH_POLL_MS),
				() => src.readState(),
				pod?.addresses,
			);
			return;
		}
		emit(opts.format, doc, (wide) => renderDump(doc, wide));
	} finally {
		src.close();
	}
}

/** One line (or JSON line) per drop until SIGINT/SIGTERM; names refresh as the agent updates them. */
async function watch(
	opts: DumpOptions,
	poll: () => DropRow[],
	state: () => MapState,
	podAddrs?: string[],
): Promise<void> {
	let stop = false;
	const onSignal = () => {
		stop = true;
	};
	process.on("SIGINT", onSignal);
	process.on("SIGTERM", onSignal);
	const lines = isDocument(opts.format);
	let names = state();
	let namesAt = performance.now();
	if (!lines) console.log("\nwatching drops (Ctrl-C to stop)");
	try {
		while (!stop) {
			const events = poll().filter(
				(d) => !podAddrs || podAddrs.includes(d.direction === "egress" ? d.saddr : d.daddr),
			);
			if (events.length) {
				if (performance.now() - namesAt > NAMES_TTL_MS) {
					names = state();
					namesAt = performance.now();
				}
				for (const d of events) {
					const doc = dropDoc(names, d);
					console.log(lines ? JSON.stringify(doc) : dropLine(doc));
				}
			}
			// let the signal handlers run between polls
			await Bun.sleep(0);
		}
	} finally {
		process.off("SIGINT", onSignal);
		process.off("SIGTERM", onSignal);
	}
}
