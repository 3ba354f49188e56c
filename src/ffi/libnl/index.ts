/**
 * Typed libnl (libnl-3 + libnl-route-3) for src/linux/. The only public face of src/ffi/libnl:
 * plain data in and out, `NlSocket` as the one handle. No pointer leaves this folder.
 */
export { NlSocket } from "./core.ts";
export * from "./route.ts";
export * from "./tc.ts";
