/**
 * `terwayctl policy explain SRC DST [--proto] [--port]` (and `policy dump --flow`): read the
 * pinned maps (no daemon needed) and say in words why the flow is allowed or dropped, with
 * core/policy `explain()` doing the same lookups as the datapath. The verdict is the answer,
 * not an error: exit 0 either way (JSON `verdict` for scripts).
 */
import { explain } from "../../../core/policy/explain.ts";
import { emit, type OutputFormat } from "../../format.ts";
import { explainDoc, parseFlow, renderExplain } from "./explain-view.ts";
import { checkPins, openPolicySource, pinRootOf } from "./source.ts";

export { splitFlow } from "./explain-view.ts";

export type ExplainOptions = {
	src: string;
	dst: string;
	proto?: string;
	port?: string;
	pinRoot?: string;
	format: OutputFormat;
};

export async function policyExplain(opts: ExplainOptions): Promise<void> {
	const flow = parseFlow(opts);
	const pinRoot = pinRootOf(opts.pinRoot);
	checkPins(pinRoot);
	const src = await openPolicySource(pinRoot);
	try {
		const state = src.readState();
		const doc = explainDoc(state, flow, explain(state, flow));
		emit(opts.format, doc, () => renderExplain(doc));
	} finally {
		src.close();
	}
}
