/**
 * The ECS (2014-05-26) and VPC (2016-04-28) actions the sim serves, with the exact response
 * shapes of cloud-sim.md §1.2 (PascalCase keys, `…Sets.…Set[]` wrappers; ECS tags as
 * TagKey/TagValue, VPC tags as Key/Value). Each action reads its parameters, calls the world
 * (which validates everything before mutating) and returns the body without RequestId.
 */
import { CloudError, errs } from "../world/errors.ts";
import type { EniDetail, World } from "../world/world.ts";
import { type Params, paginate } from "./params.ts";

export const ECS_VERSION = "2014-05-26";
export const VPC_VERSION = "2016-04-28";
/** The account every sim resource belongs to. */
export const SIM_OWNER_ID = "1799999999999999";

type Body = Record<string, unknown>;

export type ActionSpec = {
	/** RegionId is required (MissingParameter without it). */
	region: boolean;
	/** ClientToken makes the call idempotent (cloud-sim.md §1.4). */
	idempotent?: boolean;
	/** For an `ipExhausted` fault: the vSwitch the call would allocate from. */
	allocatesFrom?: (p: Params, w: World) => string | undefined;
	run: (p: Params, w: World) => Body;
};

const ipSets = (e: EniDetail) => ({
	PrivateIpSets: { PrivateIpSet: e.ips.map((ip, i) => ({ PrivateIpAddress: ip, Primary: i === 0 })) },
	Ipv6Sets: { Ipv6Set: e.ipv6s.map((ip) => ({ Ipv6Address: ip })) },
	Ipv4PrefixSets: { Ipv4PrefixSet: [] },
	Ipv6PrefixSets: { Ipv6PrefixSet: [] },
	SecurityGroupIds: { SecurityGroupId: e.securityGroupIds },
	Tags: { Tag: Object.entries(e.tags).map(([k, v]) => ({ TagKey: k, TagValue: v })) },
});

function eniBody(e: EniDetail, w: World, attribute: boolean): Body {
	const attachment: Body | undefined = e.instanceId
		? {
				InstanceId: e.instanceId,
				DeviceIndex: e.deviceIndex ?? 0,
				NetworkCardIndex: e.networkCardIndex ?? 0,
				...(e.trunkEniId ? { TrunkNetworkInterfaceId: e.trunkEniId } : {}),
				...(attribute && e.type === "Trunk"
					? {
							MemberNetworkInterfaceIds: {
								MemberNetworkInterfaceId: w
									.describeEnis({})
									.filter((m) => m.trunkEniId === e.eniId)
									.map((m) => m.eniId),
							},
						}
					: {}),
			}
		: undefined;
	return {
		NetworkInterfaceId: e.eniId,
		NetworkInterfaceName: "",
		Description: e.description,
		Status: e.status,
		Type: e.type,
		VpcId: e.vpcId,
		VSwitchId: e.vswitchId,
		ZoneId: e.zoneId,
		PrivateIpAddress: e.primaryIp,
		MacAddress: e.mac,
		InstanceId: e.instanceId ?? "",
		CreationTime: e.creationTime,
		ResourceGroupId: e.resourceGroupId,
		OwnerId: SIM_OWNER_ID,
		ServiceManaged: false,
		DeleteOnRelease: e.deleteOnRelease,
		SourceDestCheck: e.sourceDestCheck,
		NetworkInterfaceTrafficMode: e.trafficMode,
		QueueNumber: 1,
		AssociatedPublicIp: {},
		...(attachment ? { Attachment: attachment } : {}),
		...ipSets(e),
	};
}

function noPrefixes(p: Params, ...names: string[]) {
	for (const n of names) {
		if ((p.int(n) ?? 0) > 0 || p.list(n).length > 0)
			throw new CloudError("InvalidParameter", 400, `${n}: IP prefixes are not simulated.`);
	}
}

/** How many addresses an Assign* call asks for (prefixes and chosen addresses are not simulated). */
function assignCount(p: Params, countKey: string, chosenKey: string, prefixKey: string): number {
	noPrefixes(p, prefixKey);
	if (p.list(chosenKey).length > 0)
		throw new CloudError(
			"InvalidParameter",
			400,
			`Choosing specific addresses is not simulated; pass ${countKey}.`,
		);
	const count = p.int(countKey, 1, 1000);
	if (count === undefined) throw errs.missing(countKey);
	return count;
}

function eniType(p: Params): "Secondary" | "Trunk" {
	const t = p.str("InstanceType") ?? "Secondary";
	if (t !== "Secondary" && t !== "Trunk")
		throw errs.invalid("InstanceType", t, 'is not "Secondary" or "Trunk"');
	return t;
}

const ecs: Record<string, ActionSpec> = {
	CreateNetworkInterface: {
		region: true,
		idempotent: true,
		allocatesFrom: (p) => p.str("VSwitchId"),
		run(p, w) {
			const vswitchId = p.req("VSwitchId");
			const sgs = p.list("SecurityGroupIds");
			if (sgs.length === 0 && p.str("SecurityGroupId")) sgs.push(p.str("SecurityGroupId")!);
			if (sgs.length === 0) throw errs.missing("SecurityGroupIds");
			noPrefixes(p, "Ipv4PrefixCount", "Ipv6PrefixCount", "Ipv4Prefix", "Ipv6Prefix");
			if (
				p.str("PrimaryIpAddress") ||
				p.list("PrivateIpAddress").length > 0 ||
				p.list("Ipv6Address").length > 0
			)
				throw new CloudError(
					"InvalidParameter",
					400,
					"Choosing specific addresses is not simulated; pass counts.",
				);
			const tags = p.tags();
			const e = w.createEni({
				vswitchId,
				securityGroupIds: sgs,
				type: eniType(p),
				secondaryIpCount: p.int("SecondaryPrivateIpAddressCount", 0, 1000) ?? 0,
				ipv6Count: p.int("Ipv6AddressCount", 0, 1000) ?? 0,
				description: p.str("Description") ?? "",
				...(tags ? { tags } : {}),
				deleteOnRelease: p.bool("DeleteOnRelease") ?? true,
				sourceDestCheck: p.bool("SourceDestCheck") ?? false,
				resourceGroupId: p.str("ResourceGroupId") ?? "",
				trafficMode: p.str("NetworkInterfaceTrafficMode") ?? "Standard",
			});
			return {
				NetworkInterfaceId: e.eniId,
				NetworkInterfaceName: "",
				Description: e.description,
				Status: e.status,
				Type: e.type,
				VpcId: e.vpcId,
				VSwitchId: e.vswitchId,
				ZoneId: e.zoneId,
				PrivateIpAddress: e.primaryIp,
				MacAddress: e.mac,
				ResourceGroupId: e.resourceGroupId,
				OwnerId: SIM_OWNER_ID,
				ServiceManaged: false,
				SourceDestCheck: e.sourceDestCheck,
				...ipSets(e),
			};
		},
	},
	AttachNetworkInterface: {
		region: true,
		run(p, w) {
			const eniId = p.req("NetworkInterfaceId");
			const instanceId = p.req("InstanceId");
			const trunk = p.str("TrunkNetworkInstanceId");
			const card = p.int("NetworkCardIndex", 0, 0);
			w.attachEni(eniId, instanceId, {
				...(trunk ? { trunkEniId: trunk } : {}),
				...(card !== undefined ? { networkCardIndex: card } : {}),
			});
			return {};
		},
	},
	DetachNetworkInterface: {
		region: true,
		run(p, w) {
			w.detachEni(p.req("NetworkInterfaceId"), p.req("InstanceId"), p.str("TrunkNetworkInstanceId"));
			return {};
		},
	},
	DeleteNetworkInterface: {
		region: true,
		run(p, w) {
			w.deleteEni(p.req("NetworkInterfaceId"));
			return {};
		},
	},
	DescribeNetworkInterfaces: {
		region: true,
		run(p, w) {
			const ids = p.list("NetworkInterfaceId");
			const ips = p.list("PrivateIpAddress");
			const type = p.str("Type");
			if (type && !["Primary", "Secondary", "Trunk", "Member"].includes(type))
				throw errs.invalid("Type", type, "is not Primary, Secondary, Trunk or Member");
			const status = p.str("Status");
			if (status && !["Available", "Attaching", "InUse", "Detaching", "Deleting"].includes(status))
				throw errs.invalid("Status", status, "is not a network interface status");
			const tags = p.tags();
			const all = w.describeEnis({
				...(ids.length ? { eniIds: ids } : {}),
				...(ips.length ? { privateIps: ips } : {}),
				...(p.str("InstanceId") ? { instanceId: p.str("InstanceId")! } : {}),
				...(p.str("VpcId") ? { vpcId: p.str("VpcId")! } : {}),
				...(p.str("VSwitchId") ? { vswitchId: p.str("VSwitchId")! } : {}),
				...(p.str("SecurityGroupId") ? { securityGroupId: p.str("SecurityGroupId")! } : {}),
				...(type ? { type: type as EniDetail["type"] } : {}),
				...(status ? { status: status as EniDetail["status"] } : {}),
				...(tags ? { tags } : {}),
			});
			const { page, fields } = paginate(p, all, {
				maxResults: 10,
				maxMax: 500,
				pageSize: 10,
				maxPageSize: 1000,
			});
			return {
				NetworkInterfaceSets: { NetworkInterfaceSet: page.map((e) => eniBody(e, w, false)) },
				...fields,
			};
		},
	},
	DescribeNetworkInterfaceAttribute: {
		region: true,
		run(p, w) {
			const id = p.req("NetworkInterfaceId");
			const e = w.eni(id);
			if (!e) throw errs.eniNotFound(id);
			return eniBody(e, w, true);
		},
	},
	AssignPrivateIpAddresses: {
		region: true,
		idempotent: true,
		allocatesFrom: (p, w) => w.eni(p.str("NetworkInterfaceId") ?? "")?.vswitchId,
		run(p, w) {
			const id = p.req("NetworkInterfaceId");
			const ips = w.assignIpv4(
				id,
				assignCount(p, "SecondaryPrivateIpAddressCount", "PrivateIpAddress", "Ipv4PrefixCount"),
			);
			return {
				AssignedPrivateIpAddressesSet: {
					NetworkInterfaceId: id,
					PrivateIpSet: { PrivateIpAddress: ips },
					Ipv4PrefixSet: { Ipv4Prefixes: [] },
				},
			};
		},
	},
	UnassignPrivateIpAddresses: {
		region: true,
		run(p, w) {
			const id = p.req("NetworkInterfaceId");
			const ips = p.list("PrivateIpAddress");
			const prefixes = p.list("Ipv4Prefix");
			if (ips.length > 0 && prefixes.length > 0)
				throw new CloudError("InvalidParameter", 400, "PrivateIpAddress and Ipv4Prefix cannot be combined.");
			noPrefixes(p, "Ipv4Prefix");
			if (ips.length === 0) throw errs.missing("PrivateIpAddress");
			w.unassignIpv4(id, ips);
			return {};
		},
	},
	AssignIpv6Addresses: {
		region: true,
		idempotent: true,
		allocatesFrom: (p, w) => w.eni(p.str("NetworkInterfaceId") ?? "")?.vswitchId,
		run(p, w) {
			const id = p.req("NetworkInterfaceId");
			const ips = w.assignIpv6(id, assignCount(p, "Ipv6AddressCount", "Ipv6Address", "Ipv6PrefixCount"));
			return { NetworkInterfaceId: id, Ipv6Sets: { Ipv6Address: ips }, Ipv6PrefixSets: { Ipv6Prefix: [] } };
		},
	},
	UnassignIpv6Addresses: {
		region: true,
		run(p, w) {
			const id = p.req("NetworkInterfaceId");
			const ips = p.list("Ipv6Address");
			noPrefixes(p, "Ipv6Prefix");
			if (ips.length === 0) throw errs.missing("Ipv6Address");
			w.unassignIpv6(id, ips);
			return {};
		},
	},
	DescribeInstanceTypes: {
		region: false,
		run(p, w) {
			const want = p.list("InstanceTypes");
			const all = w.instanceTypes().filter((t) => want.length === 0 || want.includes(t.id));
			const { page, fields } = paginate(p, all, {
				maxResults: 100,
				maxMax: 1600,
				pageSize: 100,
				maxPageSize: 1600,
			});
			const { TotalCount: _total, ...rest } = fields;
			return {
				InstanceTypes: {
					InstanceType: page.map((t) => ({
						InstanceTypeId: t.id,
						InstanceTypeFamily: t.id.split(".").slice(0, 2).join("."),
						CpuCoreCount: t.cpu,
						MemorySize: t.memoryGiB,
						EniQuantity: t.eniQuantity,
						EniTotalQuantity: t.eniTotalQuantity,
						EniPrivateIpAddressQuantity: t.eniPrivateIpAddressQuantity,
						EniIpv6AddressQuantity: t.eniIpv6AddressQuantity,
						EniTrunkSupported: t.eniTrunkSupported,
						EriQuantity: 0,
						InstanceBandwidthRx: 1_024_000 * t.cpu,
						InstanceBandwidthTx: 1_024_000 * t.cpu,
						NetworkCardQuantity: 1,
						NetworkCards: { NetworkCardInfo: [{ NetworkCardIndex: 0 }] },
					})),
				},
				...rest,
			};
		},
	},
};

const describeVSwitches: ActionSpec = {
	region: true,
	run(p, w) {
		const ids = [
			...p
				.list("VSwitchId")
				.flatMap((s) => s.split(","))
				.filter(Boolean),
		];
		const vpcId = p.str("VpcId");
		const zoneId = p.str("ZoneId");
		const all = w
			.vswitches()
			.filter(
				(v) =>
					(ids.length === 0 || ids.includes(v.vswitchId)) &&
					(!vpcId || v.vpcId === vpcId) &&
					(!zoneId || v.zoneId === zoneId),
			);
		const pageNumber = p.int("PageNumber", 1) ?? 1;
		const pageSize = p.int("PageSize", 1, 50) ?? 10;
		const page = all.slice((pageNumber - 1) * pageSize, pageNumber * pageSize);
		return {
			VSwitches: {
				VSwitch: page.map((v) => ({
					VSwitchId: v.vswitchId,
					VSwitchName: v.vswitchId,
					VpcId: v.vpcId,
					ZoneId: v.zoneId,
					CidrBlock: v.cidr,
					Ipv6CidrBlock: v.ipv6Cidr ?? "",
					EnabledIpv6: v.ipv6Cidr !== undefined,
					AvailableIpAddressCount: v.availableIpAddressCount,
					Status: "Available",
					IsDefault: false,
					Description: "",
					CreationTime: v.creationTime,
					ResourceGroupId: "",
					OwnerId: Number(SIM_OWNER_ID),
					ShareType: "",
					NetworkAclId: "",
					RouteTable: { RouteTableId: "", RouteTableType: "System" },
					Tags: { Tag: [] },
				})),
			},
			TotalCount: all.length,
			PageNumber: pageNumber,
			PageSize: pageSize,
		};
	},
};

/** version -> action -> spec. ECS also answers DescribeVSwitches (the ECS SDK has it too). */
export const ACTIONS: Record<string, Record<string, ActionSpec>> = {
	[ECS_VERSION]: { ...ecs, DescribeVSwitches: describeVSwitches },
	[VPC_VERSION]: { DescribeVSwitches: describeVSwitches },
};

/** Which product a version belongs to (for HostId and the Recommend link). */
export const PRODUCT: Record<string, { name: string; host: string }> = {
	[ECS_VERSION]: { name: "Ecs", host: "ecs.aliyuncs.com" },
	[VPC_VERSION]: { name: "Vpc", host: "vpc.aliyuncs.com" },
};
