/**
 * The one error type the world raises for a refused operation: an ECS-style `code`, the HTTP
 * status the OpenAPI answers with, and a message. The OpenAPI face turns it into the
 * `{RequestId, HostId, Code, Message, Recommend}` body (cloud-sim.md §1.5, §2.3); other callers
 * (control API "console" operations) show it as is. A thrown CloudError means nothing changed.
 */
export class CloudError extends Error {
	override readonly name = "CloudError";
	constructor(
		readonly code: string,
		readonly status: number,
		message: string,
	) {
		super(message);
	}
}

export const isCloudError = (e: unknown): e is CloudError => e instanceof CloudError;

/** Error constructors for the codes the world raises, with their documented statuses. */
export const errs = {
	missing: (name: string) =>
		new CloudError(
			"MissingParameter",
			400,
			`The input parameter "${name}" that is mandatory for processing this request is not supplied.`,
		),
	invalid: (name: string, value: unknown, why: string) =>
		new CloudError(
			`InvalidParameter`,
			400,
			`The specified parameter "${name}" (${JSON.stringify(value)}) ${why}.`,
		),
	eniNotFound: (id: string) =>
		new CloudError("InvalidEniId.NotFound", 404, `The specified NetworkInterfaceId "${id}" does not exist.`),
	ecsNotFound: (id: string) =>
		new CloudError("InvalidEcsId.NotFound", 404, `The specified InstanceId "${id}" does not exist.`),
	vswNotFound: (id: string) =>
		new CloudError("InvalidVSwitchId.NotFound", 404, `The specified VSwitchId "${id}" does not exist.`),
	sgNotFound: (id: string) =>
		new CloudError(
			"InvalidSecurityGroupId.NotFound",
			404,
			`The specified SecurityGroupId "${id}" does not exist.`,
		),
	eniState: (id: string, status: string, op: string) =>
		new CloudError(
			"InvalidOperation.InvalidEniState",
			403,
			`The operation ${op} is not allowed in the current state "${status}" of NetworkInterface "${id}".`,
		),
	conflict: (id: string, status: string) =>
		new CloudError(
			"Operation.Conflict",
			403,
			`The operation conflicts with another operation in progress on NetworkInterface "${id}" (${status}).`,
		),
	ipNotEnough: (vsw: string) =>
		new CloudError(
			"InvalidVSwitchId.IpNotEnough",
			403,
			`The specified VSwitch "${vsw}" has not enough IP addresses.`,
		),
	quota: (quota: number) =>
		new CloudError(
			"QuotaExceeded.PrivateIpAddress",
			403,
			`The private IP address quota of the VPC (${quota}) is exceeded.`,
		),
	eniLimit: (instanceId: string, limit: number) =>
		new CloudError(
			"EniPerInstanceLimitExceeded",
			403,
			`The number of network interfaces on instance "${instanceId}" would exceed its limit (${limit}).`,
		),
	ipv4Count: (id: string, limit: number) =>
		new CloudError(
			"InvalidOperation.Ipv4CountExceeded",
			403,
			`The number of private IPv4 addresses on NetworkInterface "${id}" would exceed its limit (${limit}).`,
		),
	ipv6Count: (id: string, limit: number) =>
		new CloudError(
			"InvalidOperation.Ipv6CountExceeded",
			403,
			`The number of IPv6 addresses on NetworkInterface "${id}" would exceed its limit (${limit}).`,
		),
	ipUnassigned: (ip: string, id: string) =>
		new CloudError(
			"InvalidIp.IpUnassigned",
			400,
			`The IP address "${ip}" is not assigned to NetworkInterface "${id}" as a secondary address.`,
		),
	ipv6NotEnabled: (vsw: string) =>
		new CloudError("InvalidVSwitchId.Ipv6NotTurnOn", 403, `IPv6 is not enabled on VSwitch "${vsw}".`),
};
