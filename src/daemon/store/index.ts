/**
 * @module daemon/store
 *
 * terwayd's durable state (bun:sqlite). Import from here, not from the files inside.
 * Crash semantics: README.md.
 */

export { isConstraintError, isStoreError, StoreError, type StoreErrorCode } from "./errors.ts";
export { pickBy } from "./pick.ts";
export { SCHEMA_VERSION } from "./schema.ts";
export { canonicalIp, DEFAULT_STATE_PATH, podKeyOf, Store, type StoreOptions } from "./store.ts";
export * from "./types.ts";
