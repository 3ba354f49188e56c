/**
 * What terwayd answers about a small healthy node, for the tests of the diagnose engine and its
 * TUI: node-1 (i-1, shared ENI mode) with one secondary ENI (eni-1, vsw-1, table 1003) holding one
 * pod (default/web, 10.0.1.5). Tests spread these to vary a field. Pure data; no bun:test here.
 */
import type { EniInfo, MappingRow, StatusResponse } from "../../../daemon/api-types.ts";

/** The sandbox id of default/web. */
export const WEB_CONTAINER_ID = "c0ffee0000000000000000000000000000000000000000000000000000000001";

/** `GET /v1/status`: ready, pool within min 1 / max 5. */
export const status: StatusResponse = {
	ready: true,
	phase: "ready",
	node: "node-1",
	instanceId: "i-1",
	instanceType: "ecs.g7.large",
	mode: "shared",
	version: "0.1.0",
	uptimeSeconds: 5,
	pool: { min: 1, max: 5, idle: 2, allocated: 1, capacity: 12, enis: 1 },
	kubernetes: "connected",
};

/** default/web's row of `GET /v1/mapping`: every source agrees. */
export const webRow: MappingRow = {
	pod: "default/web",
	containerId: WEB_CONTAINER_ID,
	ip: "10.0.1.5",
	eniId: "eni-1",
	mac: "00:16:3e:00:00:01",
	state: "allocated",
	checks: { store: true, cloud: true, metadata: true, kernel: true },
	problems: [],
};

/** eni-1 in `GET /v1/enis`. */
export const eniInfo: EniInfo = {
	id: "eni-1",
	mac: "00:16:3e:00:00:01",
	link: "eth1",
	type: "secondary",
	status: "InUse",
	vswitchId: "vsw-1",
	primaryIp: "10.0.1.4",
	routeTable: 1003,
	ips: [{ ip: "10.0.1.5", state: "allocated", pod: "default/web" }],
};
