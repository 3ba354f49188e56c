/**
 * A small in-memory MetadataSource for the metadata face's own tests (the real one is the world
 * model, src/sim/world/). Two instances in one VPC; the second has no RAM role and no IPv6.
 * Mutable on purpose: tests attach ENIs and rotate credentials through it.
 *
 * Test support only: nothing outside tests imports it.
 */
import type { EniView, InstanceView, MetadataSource } from "../contracts.ts";

export const FAKE_VPC = { id: "vpc-sim0001", cidr: "198.18.0.0/15", ipv6Cidr: "fd00:198:18::/56" };

export function fakeEni(over: Partial<EniView> & Pick<EniView, "eniId" | "mac" | "primaryIp">): EniView {
	return {
		type: "Secondary",
		status: "InUse",
		instanceId: undefined,
		deviceIndex: undefined,
		vpcId: FAKE_VPC.id,
		vswitchId: "vsw-sim0001",
		zoneId: "cn-hangzhou-i",
		cidr: "198.18.0.0/24",
		gateway: "198.18.0.253",
		ipv6Cidr: "fd00:198:18::/64",
		ipv6Gateway: "fd00:198:18::1",
		ips: [over.primaryIp],
		ipv6s: [],
		securityGroupIds: ["sg-sim0001"],
		tags: {},
		creationTime: "2026-11-27T00:00:00Z",
		...over,
	};
}

function node(n: number, over: Partial<InstanceView> = {}, eni: Partial<EniView> = {}): InstanceView {
	const instanceId = `i-sim00000${n}`;
	return {
		instanceId,
		regionId: "cn-hangzhou",
		zoneId: "cn-hangzhou-i",
		instanceType: "ecs.g7.large",
		nodeName: `node-${n}`,
		hostname: `iZsim00000${n}Z`,
		vpcId: FAKE_VPC.id,
		ramRole: "TerwaySimRole",
		primaryEni: fakeEni({
			eniId: `eni-sim00000${n}`,
			mac: `00:16:3e:00:00:0${n}`,
			primaryIp: `198.18.0.${10 + n}`,
			type: "Primary",
			instanceId,
			deviceIndex: 0,
			ipv6s: [`fd00:198:18::${10 + n}`],
			...eni,
		}),
		...over,
	};
}

export class FakeMetadataSource implements MetadataSource {
	readonly instances: InstanceView[] = [
		node(1),
		node(2, { ramRole: "" }, { ipv6Cidr: undefined, ipv6Gateway: undefined, ipv6s: [] }),
	];
	/** Secondary ENIs per instance, as metadata shows them. */
	readonly secondary = new Map<string, EniView[]>();
	/** STS triples per instance; `rotate` issues the next one. */
	#sts = new Map<string, { n: number; expiration: string }>();
	/** When false, metadataEnis leaves the primary ENI out (the handler must add it back). */
	includePrimary = true;

	instanceByIp(ip: string): InstanceView | undefined {
		return this.instances.find((i) => i.primaryEni.primaryIp === ip);
	}

	instance(instanceId: string): InstanceView | undefined {
		return this.instances.find((i) => i.instanceId === instanceId);
	}

	metadataEnis(instanceId: string): EniView[] {
		const inst = this.instance(instanceId);
		if (!inst) return [];
		return [...(this.includePrimary ? [inst.primaryEni] : []), ...(this.secondary.get(instanceId) ?? [])];
	}

	attach(instanceId: string, eni: EniView): void {
		const list = this.secondary.get(instanceId) ?? [];
		list.push({ ...eni, instanceId, deviceIndex: list.length + 1 });
		this.secondary.set(instanceId, list);
	}

	stsCredentials(instanceId: string) {
		const s = this.#sts.get(instanceId) ?? { n: 1, expiration: "2026-11-27T09:00:00.000Z" };
		this.#sts.set(instanceId, s);
		return {
			accessKeyId: `STS.sim-${instanceId}-${s.n}`,
			accessKeySecret: `secret-${instanceId}-${s.n}`,
			securityToken: `token-${instanceId}-${s.n}`,
			expiration: s.expiration,
		};
	}

	/** Issue the next STS triple for the instance, expiring at `expiration`. */
	rotate(instanceId: string, expiration: string): void {
		const n = (this.#sts.get(instanceId)?.n ?? 1) + 1;
		this.#sts.set(instanceId, { n, expiration });
	}
}
