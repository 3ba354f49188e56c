/**
 * Kubernetes integration: API clients on Bun's fetch (client.ts), a list+watch informer
 * (watch.ts) and the daemon's node-level surface (node-agent.ts). Import from here.
 */
export * from "./client.ts";
export * from "./node-agent.ts";
export * from "./watch.ts";
