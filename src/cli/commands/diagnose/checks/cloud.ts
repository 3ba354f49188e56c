/**
 * @module cli/commands/diagnose/checks/cloud
 *
 * The cloud as terwayd reaches it, with the same environment: the credentials (one cheap signed
 * ECS call, DescribeNetworkInterfaces of the primary ENI), and the metadata service (its token
 * protocol, the instance it says we are, the ENIs it lists).
 */
import { CloudApiError } from "../../../../cloud/types.ts";
import { errorLine } from "../../../errors.ts";
import type { Check, DiagnoseContext } from "../context.ts";
import { type Finding, finding } from "../findings.ts";

const CREDENTIAL_CODES =
	/^(InvalidAccessKeyId|SignatureDoesNotMatch|InvalidSecurityToken|IncompleteSignature|Forbidden|NoPermission|InvalidAccessKeySecret|UnauthorizedOperation)/;

function credentialFix(code: string): string {
	if (/SecurityToken/.test(code))
		return "the STS token expired or is invalid: refresh it (ALIBABA_CLOUD_SECURITY_TOKEN, TERWAY_CREDENTIAL_FILE) or let terwayd use the instance RAM role";
	if (/Forbidden|NoPermission|Unauthorized/.test(code))
		return "the credentials lack a permission terway needs: grant the RAM policy of terway (ecs:*NetworkInterface*, ecs:Describe*, vpc:DescribeVSwitches)";
	return "fix the AccessKey: ALIBABA_CLOUD_ACCESS_KEY_ID/ALIBABA_CLOUD_ACCESS_KEY_SECRET, eni-config access_key/access_secret, TERWAY_CREDENTIAL_FILE, or the instance RAM role";
}

async function instanceIdOf(ctx: DiagnoseContext): Promise<string> {
	if (await ctx.daemonUp()) {
		const st = await ctx.status();
		if (st.instanceId) return st.instanceId;
	}
	return ctx.deps.metadata.instanceId({ signal: ctx.signal() });
}

export const credentialsCheck: Check = {
	id: "cloud",
	title: "cloud credentials (a signed ECS call)",
	async run(ctx: DiagnoseContext): Promise<Finding[]> {
		const id = "cloud.credentials";
		let cloud: Awaited<ReturnType<DiagnoseContext["cloud"]>>;
		try {
			cloud = await ctx.cloud();
		} catch (e) {
			return [
				finding({
					id,
					layer: "cloud",
					severity: "error",
					subject: "",
					message: `cannot build the cloud client: ${errorLine(e)}`,
					fix: credentialFix(""),
				}),
			];
		}
		const who = cloud.credentials.describe();
		let instanceId: string;
		try {
			instanceId = await instanceIdOf(ctx);
		} catch (e) {
			return [
				finding({
					id,
					layer: "cloud",
					severity: "info",
					subject: who,
					message: `skipped: the instance id is unknown (daemon down and metadata failed: ${errorLine(e)})`,
				}),
			];
		}
		try {
			const enis = await cloud.ecs.describeEnis({ instanceId, type: "Primary" }, { signal: ctx.signal() });
			return [
				finding({
					id,
					layer: "cloud",
					severity: "ok",
					subject: who,
					message: `signed DescribeNetworkInterfaces accepted (${instanceId}: ${enis.length} primary ENI)`,
				}),
			];
		} catch (e) {
			const code = e instanceof CloudApiError ? e.code : "";
			const rid = e instanceof CloudApiError && e.requestId ? ` (RequestId ${e.requestId})` : "";
			if (CREDENTIAL_CODES.test(code))
				return [
					finding({
						id,
						layer: "cloud",
						severity: "error",
						subject: who,
						message: `the ECS API rejects the credentials: ${code}: ${errorLine(e)}${rid}`,
						fix: credentialFix(code),
						details: { code },
					}),
				];
			return [
				finding({
					id: "cloud.reachable",
					layer: "cloud",
					severity: "error",
					subject: who,
					message: `the ECS API call failed: ${code ? `${code}: ` : ""}${errorLine(e)}${rid}`,
					fix: "check that the node reaches the ECS endpoint (ECS_ENDPOINT / VPC_ENDPOINT, ALICLOUD_CLIENT_SCHEME, DNS, proxy) and read the error code",
					details: { code },
				}),
			];
		}
	},
};

export const metadataCheck: Check = {
	id: "metadata",
	title: "metadata service (token, instance, ENIs)",
	async run(ctx: DiagnoseContext): Promise<Finding[]> {
		const md = ctx.deps.metadata;
		const base = ctx.deps.metadataUrl;
		const out: Finding[] = [];
		if (md.token) {
			try {
				await md.token(ctx.signal());
				out.push(
					finding({
						id: "metadata.token",
						layer: "metadata",
						severity: "ok",
						subject: base,
						message: "token protocol works (PUT /latest/api/token)",
					}),
				);
			} catch (e) {
				return [
					finding({
						id: "metadata.reachable",
						layer: "metadata",
						severity: "error",
						subject: base,
						message: `no metadata token: ${errorLine(e)}`,
						fix: "the node must reach the metadata service (100.100.100.200, or TERWAY_METADATA_URL) with the token protocol: check routes/iptables on the node and the instance's metadata settings",
					}),
				];
			}
		}
		let instanceId: string;
		let macs: string[];
		try {
			const signal = ctx.signal();
			[instanceId, macs] = await Promise.all([md.instanceId({ signal }), md.macs({ signal })]);
		} catch (e) {
			out.push(
				finding({
					id: "metadata.reachable",
					layer: "metadata",
					severity: "error",
					subject: base,
					message: `metadata reads fail: ${errorLine(e)}`,
					fix: "the node must reach the metadata service (100.100.100.200, or TERWAY_METADATA_URL): check routes/iptables on the node",
				}),
			);
			return out;
		}
		out.push(
			finding({
				id: "metadata.reachable",
				layer: "metadata",
				severity: "ok",
				subject: base,
				message: `instance ${instanceId}, ${macs.length} ENI MAC(s) listed`,
			}),
		);
		if (await ctx.daemonUp()) {
			const st = await ctx.status();
			if (st.instanceId && st.instanceId !== instanceId)
				out.push(
					finding({
						id: "metadata.identity",
						layer: "metadata",
						severity: "error",
						subject: instanceId,
						message: `metadata says this is ${instanceId}, terwayd manages ${st.instanceId}`,
						fix: "terwayd's instance_id config (or TERWAY_SIM_INSTANCE_ID) names another instance: remove the override or run diagnose on the right node",
					}),
				);
		}
		return out;
	},
};
