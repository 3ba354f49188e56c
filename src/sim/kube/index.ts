/**
 * The sim's kube-apiserver subset: public surface for the sim server composer and tests.
 * See README.md for what is implemented and what is approximated.
 */
export { TERWAY_CRDS } from "./crds/index.ts";
export { isKubeApiError, KubeApiError, type KubeStatus, kubeErrors } from "./errors.ts";
export { createKubeHandler, type KubeHandler, type KubeHandlerOptions } from "./handler.ts";
export { type KubeconfigSpec, kubeconfigYaml, writeKubeconfig } from "./kubeconfig.ts";
export { ResourceRegistry, type ResourceType, resourceFromCrd } from "./resources.ts";
export { KubeApiServer, type KubeApiServerOptions, type Listener, type TlsListener } from "./server.ts";
export {
	type DeleteOptions,
	type KubeList,
	KubeStore,
	type KubeStoreOptions,
	type ListOptions,
	type ObjectRef,
	type PatchType,
	type ResourceRef,
	type Watch,
	type WatchEvent,
	type WatchOptions,
	type WriteOptions,
} from "./store.ts";
export { generateTls, type TlsMaterial } from "./x509.ts";
