/**
 * The plugin's real handlers: the commands of commands.ts over the terwayd client, with DEL's
 * release journal and the host's addresses. The socket and the journal path come from the config
 * of each invocation (conflist `daemon_socket` / `release_journal`, else TERWAY_DAEMON_SOCKET /
 * TERWAY_RELEASE_JOURNAL, else the defaults), so the handlers are built per call.
 *
 * commands.ts (and with it linux/ and the FFI) is imported on first use only: VERSION never
 * loads it (ffi-probe Q4a: declare and load only what a command uses).
 */
import type { CommandDeps } from "./commands.ts";
import { daemonClient, socketFor } from "./daemon-client.ts";
import type { PluginConf } from "./netconf.ts";
import { journalFor, journalRelease } from "./release-journal.ts";
import type { CniHandlers } from "./skel.ts";

type Env = Record<string, string | undefined>;

/** The dependencies of one invocation (exported for tests). */
export function depsFor(conf: PluginConf, env: Env): Omit<CommandDeps, "nodeIps"> {
	const journal = journalFor(conf.terway.releaseJournal, env);
	return {
		daemon: daemonClient({ socket: socketFor(conf.terway.daemonSocket, env) }),
		journal: (r) => journalRelease(journal, r),
	};
}

/** Handlers talking to terwayd. */
export function daemonHandlers(env: Env = process.env): CniHandlers {
	const make = async (conf: PluginConf) => {
		const { makeHandlers, hostNodeIps } = await import("./commands.ts");
		return makeHandlers({ ...depsFor(conf, env), nodeIps: () => hostNodeIps(conf.terway.vethPrefix) });
	};
	return {
		add: async (a) => (await make(a.conf)).add(a),
		del: async (a) => (await make(a.conf)).del(a),
		check: async (a) => (await make(a.conf)).check(a),
		status: async (a) => (await make(a.conf)).status(a),
		gc: async (a) => (await make(a.conf)).gc(a),
	};
}
