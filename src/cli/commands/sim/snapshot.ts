/** `terwayctl sim snapshot -o FILE`: the world's state, for `sim up --state FILE`. */
import { writeFileSync } from "node:fs";
import { SimClient } from "../../../sim/control/client.ts";
import { validatePrefix } from "../../../sim/layout.ts";

export async function simSnapshot(opts: { prefix: string; out: string }): Promise<void> {
	const snap = await new SimClient(validatePrefix(opts.prefix)).snapshot();
	writeFileSync(opts.out, `${JSON.stringify(snap, null, 2)}\n`);
	console.log(`world ${opts.prefix} saved to ${opts.out}`);
}
