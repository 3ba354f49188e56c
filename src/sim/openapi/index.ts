/** The sim's ECS/VPC OpenAPI face: mount `createOpenApiHandler(world, opts)` in a Bun.serve. */
export { ACTIONS, ECS_VERSION, VPC_VERSION } from "./actions.ts";
export {
	createOpenApiHandler,
	type OpenApiContext,
	type OpenApiHandler,
	type OpenApiOptions,
} from "./handler.ts";
export { percentEncode, rpcSignature, rpcStringToSign } from "./signature.ts";
