/**
 * The error pure parsers in src/core/net throw for bad input: it names the field and the value, so
 * a CNI or CLI caller can map it to "invalid configuration" with a message a person can act on.
 * No I/O here.
 */
export class InvalidValueError extends Error {
	override readonly name = "InvalidValueError";
	constructor(
		/** What was being parsed ("bandwidth", "tc handle"). */
		readonly field: string,
		/** The offending input, as given. */
		readonly value: unknown,
		reason: string,
	) {
		super(`invalid ${field} ${JSON.stringify(value)}: ${reason}`);
	}
}

export const isInvalidValue = (e: unknown): e is InvalidValueError => e instanceof InvalidValueError;
