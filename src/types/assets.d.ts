/** Build artifacts imported with `with { type: "file" }`: Bun gives their path ($bunfs inside a compiled binary). */
declare module "*.o" {
	const path: string;
	export default path;
}
