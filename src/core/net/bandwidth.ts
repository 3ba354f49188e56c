/**
 * Pod bandwidth strings -> bits per second, exactly as Kubernetes reads the
 * `kubernetes.io/ingress-bandwidth` / `kubernetes.io/egress-bandwidth` annotations (and the CNI
 * `runtimeConfig.bandwidth` rates): a resource.Quantity, rounded up to a whole number of bits/s
 * (Quantity.Value()), then kept within kubelet's "reasonable" range 1k..1P
 * (pkg/util/bandwidth validateBandwidthIsReasonable). Pure: no I/O.
 *
 * Quantity grammar (k8s.io/apimachinery resource/quantity.go):
 *   [+|-] digits[.digits] | .digits   then one suffix:
 *   binary  Ki Mi Gi Ti Pi Ei  (2^10 .. 2^60)
 *   decimal m "" k M G T P E   (10^-3 .. 10^18)
 *   exponent e<int> / E<int>   ("1e6"; note a bare "E" is exa)
 * So "1M" = 1_000_000, "500k" = 500_000, "1G" = 1e9, "1Mi" = 1_048_576, "1.5M" = 1_500_000.
 */
import { InvalidValueError } from "./value-error.ts";

/** kubelet's bounds for a bandwidth annotation, bits/s. */
export const MIN_BANDWIDTH = 1_000;
export const MAX_BANDWIDTH = 1_000_000_000_000_000;

const DECIMAL: Record<string, number> = { m: -3, "": 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };
const BINARY: Record<string, number> = { Ki: 10, Mi: 20, Gi: 30, Ti: 40, Pi: 50, Ei: 60 };

const QUANTITY = /^([+-]?)(\d+\.?\d*|\.\d+)(?:(Ki|Mi|Gi|Ti|Pi|Ei)|[eE]([+-]?\d+)|(m|k|M|G|T|P|E)?)$/;

/**
 * Parse a Kubernetes quantity as bits/s ("10M" -> 10_000_000), rounding up like Quantity.Value().
 * Throws InvalidValueError naming the value when it is not a quantity, is negative, or falls
 * outside kubelet's 1k..1P range.
 *
 * @example parseBandwidth("500k") // 500000
 */
export function parseBandwidth(s: string): number {
	if (typeof s !== "string") throw new InvalidValueError("bandwidth", s, "must be a string like 10M");
	const m = QUANTITY.exec(s);
	if (!m) {
		throw new InvalidValueError("bandwidth", s, "not a Kubernetes quantity (examples: 500k, 10M, 1G, 1Mi)");
	}
	const [, sign, num = "", bin, exp, dec] = m;
	const [intPart = "", frac = ""] = num.split(".");
	let numer = BigInt((intPart || "0") + frac);
	let denom = 10n ** BigInt(frac.length);
	if (sign === "-" && numer !== 0n) throw new InvalidValueError("bandwidth", s, "must not be negative");
	if (bin) {
		numer *= 2n ** BigInt(BINARY[bin] ?? 0);
	} else {
		const e = exp !== undefined ? Number(exp) : (DECIMAL[dec ?? ""] ?? 0);
		if (!Number.isSafeInteger(e) || Math.abs(e) > 40) {
			throw new InvalidValueError("bandwidth", s, "exponent out of range");
		}
		if (e >= 0) numer *= 10n ** BigInt(e);
		else denom *= 10n ** BigInt(-e);
	}
	const bits = (numer + denom - 1n) / denom; // ceil, as Quantity.Value()
	if (bits < BigInt(MIN_BANDWIDTH)) {
		throw new InvalidValueError("bandwidth", s, "unreasonably small (< 1kbit/s)");
	}
	if (bits > BigInt(MAX_BANDWIDTH)) {
		throw new InvalidValueError("bandwidth", s, "unreasonably large (> 1Pbit/s)");
	}
	return Number(bits);
}

/** Format bits/s the way tc prints rates ("1Mbit", "500Kbit", "1500bit"), for messages and logs. */
export function formatBandwidth(bitsPerSecond: number): string {
	for (const [unit, f] of [
		["Gbit", 1e9],
		["Mbit", 1e6],
		["Kbit", 1e3],
	] as const) {
		if (bitsPerSecond >= f && bitsPerSecond % f === 0) return `${bitsPerSecond / f}${unit}`;
	}
	return `${bitsPerSecond}bit`;
}

/**
 * The tbf queue limit (bytes) that gives at most `latencyMs` of queueing at `rateBytes` with a
 * `burstBytes` bucket: rate * latency + burst, as iproute2 `tc ... tbf latency` and libnl's
 * rtnl_qdisc_tbf_set_limit_by_latency compute it (truncated to whole bytes).
 */
export function tbfLimitForLatency(rateBytes: number, burstBytes: number, latencyMs: number): number {
	return Math.trunc(rateBytes * ((latencyMs * 1000) / 1_000_000) + burstBytes);
}
