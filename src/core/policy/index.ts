/**
 * The NetworkPolicy compiler, pure: `compile` (policies + pods + namespaces -> map state),
 * `diff` (what to write), `explain` (why a flow is allowed or dropped), and the contract types.
 */
export * from "./compile.ts";
export * from "./diff.ts";
export * from "./explain.ts";
export { type PortPrefix, portRangePrefixes } from "./ports.ts";
export { formatLabels, matches as selectorMatches } from "./selector.ts";
export * from "./types.ts";
