/**
 * @module cli/commands/diagnose/kernel
 *
 * The real KernelPort: netlink (libnl through src/linux) in the network namespace diagnose runs
 * in — the node's (on a node, or under `terwayctl sim exec NODE --`). Read-only. Returns
 * undefined when this process cannot open a netlink socket or is not root (the checks then say
 * "skipped" instead of failing).
 */
import type { Plan } from "../../../core/datapath/types.ts";
import { observe, readHostView } from "../../../linux/apply.ts";
import { Netlink } from "../../../linux/netlink/handle.ts";
import { Netns } from "../../../linux/netns.ts";
import type { KernelPort } from "./context.ts";

export class NetlinkKernel implements KernelPort {
	hostView() {
		using here = Netns.current();
		return readHostView(here);
	}

	observeHost(plan: Plan) {
		using here = Netns.current();
		return observe(plan, { host: here }).host;
	}

	routes(table: number) {
		using nl = Netlink.current();
		return nl
			.routeList({ table })
			.map((r) => ({ family: r.family, dst: r.dst, gateway: r.gateway, dev: r.dev }));
	}
}

/** The node's kernel, or undefined (not root, no libnl): kernel checks are then skipped. */
export function nodeKernel(): KernelPort | undefined {
	if (process.getuid?.() !== 0) return undefined;
	try {
		using nl = Netlink.current();
		nl.linkList();
		return new NetlinkKernel();
	} catch {
		return undefined;
	}
}
