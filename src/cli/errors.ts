/**
 * CLI exit contract: 0 ok, 1 a problem was found (or an operation failed), 2 usage error.
 * Errors print as one line on stderr, or as `{"error": {...}}` on stdout with --json.
 */
export const EXIT = { ok: 0, problem: 1, usage: 2 } as const;

/**
 * An error whose message is already the one line the user should see. `printed: true` says the
 * command has already written its whole answer (e.g. a `--json` document listing the problems
 * that make it exit 1), so the top level exits with `exitCode` and prints nothing more.
 */
export class ExitError extends Error {
	override readonly name = "ExitError";
	readonly printed: boolean;
	constructor(
		message: string,
		readonly exitCode: number = EXIT.problem,
		opts: { printed?: boolean } = {},
	) {
		super(message);
		this.printed = opts.printed ?? false;
	}
}

/** One readable line for any error: its message, plus its cause when that adds something. */
export function errorLine(e: unknown): string {
	if (!(e instanceof Error)) return String(e);
	const cause =
		e.cause instanceof Error && !e.message.includes(e.cause.message) ? `: ${e.cause.message}` : "";
	return `${e.message}${cause}`.trim().replace(/:?\s*\n\s*/g, (m) => (m.startsWith(":") ? ": " : "; "));
}

/** The JSON error document printed with --json. */
export function errorJson(e: unknown): string {
	const err = e as { name?: string; code?: unknown };
	return JSON.stringify({
		error: {
			message: errorLine(e),
			kind: err?.name ?? "Error",
			...(err?.code !== undefined ? { code: err.code } : {}),
		},
	});
}
