/**
 * Names and constants shared by the datapath planners. Pure.
 *
 * Host veth names follow Terway's `VethNameForPod` shape (prefix + leading hex of a SHA-1, 15
 * bytes in all) but hash the *container id* (plus the ifname when it is not eth0) instead of
 * the pod's namespace/name: a recreated sandbox of the same pod then never collides with its
 * predecessor's leftovers, and the name is known from CNI_CONTAINERID alone (DEL, GC).
 */

/** Link-local gateway of the veth datapaths (Terway consts_linux.go). */
export const GATEWAY_V4 = "169.254.1.1";
export const GATEWAY_V6 = "fe80::1";

/**
 * The MAC of every host-side veth (as Calico's ee:ee:ee:ee:ee:ee): unicast, locally administered.
 * One value for all is fine (each veth is its own L2 segment) and keeps plans pure: the pod's
 * static neighbour for the gateway is known before anything exists, and CHECK can verify it.
 */
export const HOST_VETH_MAC = "ee:ee:ee:ee:ee:ee";

/** Rule priorities (Terway): `to <podIP> lookup main` and `from <podIP> lookup <ENI table>`. */
export const PRIO_TO_CONTAINER = 512;
export const PRIO_FROM_CONTAINER = 2048;

/** Main routing table id. */
export const MAIN_TABLE = 254;

/** The pod-side name of the exclusive ENI's host peer (Terway: veth1). */
export const HOST_PEER_POD_NAME = "veth1";

/** SHA-1 hex of a string (Bun's native hasher: computation only, no I/O). */
function sha1Hex(s: string): string {
	return new Bun.CryptoHasher("sha1").update(s).digest("hex");
}

/**
 * The host-side veth name for a container's interface: `prefix` + hex, 15 bytes.
 * @example hostVethName("abc123", "eth0") // "cali" + 11 hex digits
 */
export function hostVethName(containerId: string, ifName: string, prefix = "cali"): string {
	const key = ifName === "eth0" ? containerId : `${containerId}.${ifName}`;
	return prefix + sha1Hex(key).slice(0, 15 - prefix.length);
}
