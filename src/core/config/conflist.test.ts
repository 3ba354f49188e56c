import { expect, test } from "bun:test";
import { buildConflist, chainedPlugins, PORTMAP_PLUGIN, renderConflist } from "./conflist.ts";

test("terway alone: 1.1.0, bandwidth capability, Veth, mtu when given", () => {
	expect(buildConflist({ mtu: 1500 })).toEqual({
		cniVersion: "1.1.0",
		name: "terway",
		plugins: [{ type: "terway", capabilities: { bandwidth: true }, eniip_virtual_type: "Veth", mtu: 1500 }],
	});
	expect(buildConflist({ datapath: "datapathv2" }).plugins[0]?.eniip_virtual_type).toBe("datapathv2");
	expect(renderConflist({}).endsWith("}\n")).toBe(true);
});

test("chained plugins follow terway; their list's version is kept; a chained bandwidth takes the capability", () => {
	const doc = buildConflist({ chained: [PORTMAP_PLUGIN] });
	expect(doc.cniVersion).toBe("1.0.0");
	expect(doc.plugins.map((p) => p.type)).toEqual(["terway", "portmap"]);
	const bw = buildConflist({
		chained: [{ type: "bandwidth", capabilities: { bandwidth: true } }],
		cniVersion: "0.4.0",
	});
	expect(bw.cniVersion).toBe("0.4.0");
	expect(bw.plugins[0]?.capabilities).toBeUndefined();
});

test("chainedPlugins: keeps everything but terway and cilium-cni, strips per-plugin name/cniVersion", () => {
	const existing = JSON.stringify({
		cniVersion: "0.4.0",
		name: "terway-chainer",
		plugins: [
			{ type: "terway", eniip_virtual_type: "veth" },
			{ type: "cilium-cni", "data-path": "ipvlan" },
			{ type: "portmap", cniVersion: "0.4.0", name: "x", capabilities: { portMappings: true } },
			{ type: "bandwidth", capabilities: { bandwidth: true } },
		],
	});
	expect(chainedPlugins(existing)).toEqual({
		plugins: [
			{ type: "portmap", capabilities: { portMappings: true } },
			{ type: "bandwidth", capabilities: { bandwidth: true } },
		],
		cniVersion: "0.4.0",
	});
	expect(chainedPlugins(JSON.stringify({ cniVersion: "1.0.0", plugins: [{ type: "terway" }] }))).toEqual({
		plugins: [],
	});
	expect(chainedPlugins("not json")).toEqual({ plugins: [] });
	expect(chainedPlugins('{"type":"bridge"}')).toEqual({ plugins: [] });
	expect(chainedPlugins(undefined)).toEqual({ plugins: [] });
});
