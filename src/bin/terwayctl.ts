/**
 * The one entry of the terwayctl binary. Wiring only: everything lives in src/cli (and, from
 * the CNI issue on, an argv[0] === "terway" dispatch to src/plugin).
 */
import { run } from "../cli/main.ts";

process.exitCode = await run(process.argv);
