/**
 * The CNI ADD result for a plan (current schema): the host link (no sandbox), the pod link (with
 * sandbox = CNI_NETNS, as the spec wants; Terway puts the container id there, we do not), one
 * ip per family on the pod link with its gateway, and the pod's default routes. Pure: the pod
 * link's MAC is observed by the executor and passed in.
 */
import type { Interface, IPConfig, Result, Route } from "../cni/types.ts";
import { GATEWAY_V4, GATEWAY_V6 } from "./names.ts";
import type { DatapathInput, Plan } from "./types.ts";
import { families, hostPrefix } from "./veth.ts";

export function resultFor(
	plan: Plan,
	input: DatapathInput,
	observed: { netns: string; podMac?: string; hostMac?: string },
): Result {
	const interfaces: Interface[] = [];
	if (plan.hostLink) {
		const h: Interface = { name: plan.hostLink };
		if (observed.hostMac) h.mac = observed.hostMac;
		interfaces.push(h);
	}
	const podIdx = interfaces.length;
	const p: Interface = { name: plan.podLink, mtu: input.mtu, sandbox: observed.netns };
	if (observed.podMac) p.mac = observed.podMac;
	interfaces.push(p);
	const ips: IPConfig[] = [];
	const routes: Route[] = [];
	for (const [family, a] of families(input)) {
		const gw = plan.datapath === "exclusive" ? a.gateway : family === 4 ? GATEWAY_V4 : GATEWAY_V6;
		ips.push({ address: hostPrefix(a.ip), gateway: gw, interface: podIdx });
		routes.push({ dst: family === 4 ? "0.0.0.0/0" : "::/0", gw });
	}
	return { cniVersion: "1.1.0", interfaces, ips, routes };
}
