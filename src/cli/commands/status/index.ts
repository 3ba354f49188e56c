/**
 * `terwayctl status`: GET /v1/status rendered in a few lines (phase, node, instance, pool gauge,
 * ENIs, inhibit reason, Kubernetes), or the response itself with --json / -o yaml. Exits 1 when
 * terwayd is not ready; a missing daemon is the DaemonApi's one-line error (how to start it).
 */
import type { StatusResponse } from "../../../daemon/api-types.ts";
import { DaemonApi, socketPath } from "../../daemon-api.ts";
import { EXIT, ExitError } from "../../errors.ts";
import { emit, isDocument, type OutputFormat } from "../../format.ts";
import { style } from "../../output.ts";

export type StatusOptions = { socket?: string | undefined; format: OutputFormat };

/** `[###++......]`: allocated (#) and idle (+) out of the pool's capacity, `|` at max. */
export function poolGauge(p: StatusResponse["pool"], width = 24): string {
	const scale = Math.max(p.capacity, p.max, p.allocated + p.idle, 1);
	const cells = (n: number) => Math.round((n / scale) * width);
	const a = Math.min(cells(p.allocated), width);
	const i = Math.min(cells(p.allocated + p.idle), width) - a;
	const bar = [...`${"#".repeat(a)}${"+".repeat(i)}`.padEnd(width, ".")];
	const m = Math.min(cells(p.max), width - 1);
	if (p.max < scale && bar[m] === ".") bar[m] = "|";
	return `[${bar.join("")}]`;
}

export function duration(seconds: number): string {
	const s = Math.max(0, Math.floor(seconds));
	const d = Math.floor(s / 86400);
	const h = Math.floor((s % 86400) / 3600);
	const m = Math.floor((s % 3600) / 60);
	const parts = [d && `${d}d`, h && `${h}h`, m && `${m}m`, `${s % 60}s`].filter(Boolean);
	return parts.slice(0, 2).join("");
}

/** The human view: one line per aspect, the phase coloured on a TTY. */
export function renderStatus(s: StatusResponse): string {
	const phase = s.ready ? style.green(s.phase) : style.yellow(s.phase);
	const p = s.pool;
	const k8s = s.kubernetes === "disconnected" ? style.red(s.kubernetes) : s.kubernetes;
	const rows: [string, string][] = [
		["terwayd", `${phase}${s.ready ? "" : " (not ready)"}  v${s.version}, up ${duration(s.uptimeSeconds)}`],
		["node", `${s.node}  instance ${s.instanceId} (${s.instanceType}), ${s.mode} ENI mode`],
		[
			"pool",
			`${poolGauge(p)} allocated ${p.allocated}, idle ${p.idle}  (min ${p.min}, max ${p.max}, capacity ${p.capacity})`,
		],
		["enis", String(p.enis)],
		["inhibit", s.inhibit ? style.yellow(`${s.inhibit.reason} until ${s.inhibit.until}`) : "none"],
		["kubernetes", k8s],
	];
	return rows.map(([k, v]) => `${style.bold(k.padEnd(11))}${v}`).join("\n");
}

export async function statusCommand(opts: StatusOptions): Promise<void> {
	const api = new DaemonApi(socketPath(opts.socket));
	const s = await api.get<StatusResponse>("/v1/status");
	emit(opts.format, s, () => renderStatus(s));
	if (!s.ready) {
		const why = `terwayd is not ready (phase ${s.phase}${s.inhibit ? `, inhibited: ${s.inhibit.reason}` : ""})`;
		throw new ExitError(why, EXIT.problem, { printed: isDocument(opts.format) });
	}
}
