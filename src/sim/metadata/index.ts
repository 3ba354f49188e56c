/**
 * The ECS instance metadata service of the offline cloud (`terwayctl sim`), as a request
 * handler over a `MetadataSource`. See handler.ts for what it serves and README.md for how
 * clients point at it.
 */
export { ramRoleDocument, uriDocument, utcSeconds } from "./credentials.ts";
export {
	createMetadataHandler,
	type MetadataHandler,
	type MetadataHandlerOptions,
	type VpcCidrs,
} from "./handler.ts";
export {
	type Identify,
	identifyAs,
	identifyByHeader,
	identifyBySourceIp,
	type Peer,
	plainIpv4,
	SIM_INSTANCE_HEADER,
} from "./identify.ts";
export { errorPage } from "./pages.ts";
export { TOKEN_HEADER, TOKEN_TTL_HEADER, TOKEN_TTL_MAX_SECONDS } from "./tokens.ts";
export { ipv6sBody, netmaskOf } from "./tree.ts";
