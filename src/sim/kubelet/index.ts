/**
 * The kubelet stand-in: public surface for the sim server composer and tests. See README.md.
 */
export {
	CniConfigError,
	type CniNetworkConfigList,
	type CniPluginConf,
	loadConfDir,
	loadConfFile,
	parseConfList,
	parseSingleConf,
} from "./cni-config.ts";
export {
	type CachedAttachment,
	CniExecError,
	CniPluginError,
	CniPluginNotFoundError,
	type CniResult,
	CniResultError,
	CniRunner,
	type CniRunnerOptions,
	CniTimeoutError,
	type ExecRecord,
	type GcAttachment,
	isCniPluginError,
	type RuntimeConf,
} from "./cni-exec.ts";
export { Kubelet, type KubeletLogEntry, type KubeletOptions, LOOPBACK_NETWORK } from "./kubelet.ts";
export { sandboxIdFor } from "./pod.ts";
