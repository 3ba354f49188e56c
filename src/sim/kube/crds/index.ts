/**
 * Terway's CustomResourceDefinitions (network.alibabacloud.com/v1beta1) as the sim registers
 * them. The YAML files are imported through Bun's YAML loader, so they are bundled into a
 * compiled binary too.
 */
import type { KubeObject } from "../../contracts.ts";
import networkinterfaces from "./networkinterfaces.yaml";
import noderuntimes from "./noderuntimes.yaml";
import nodes from "./nodes.yaml";
import podenis from "./podenis.yaml";
import podnetworkings from "./podnetworkings.yaml";

/** PodENI (namespaced), PodNetworking, Node, NodeRuntime, NetworkInterface (cluster-scoped); all with status. */
export const TERWAY_CRDS: readonly KubeObject[] = [
	podenis,
	podnetworkings,
	nodes,
	noderuntimes,
	networkinterfaces,
];
