/** netns mode of `terwayctl sim`: the VPC datapath (vpc.ts) and listeners in a namespace (serve.ts). */
export { type ServeOptions, serveIn } from "./serve.ts";
export {
	portName,
	SimDatapathError,
	VPC_RULE_PRIO,
	VpcDatapath,
	type VpcSpec,
	type VSwitchSpec,
	worldNetns,
} from "./vpc.ts";
