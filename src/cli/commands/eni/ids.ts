/**
 * ENI id form checks shared by `eni inspect|delete` and `mapping --eni`: a value that cannot be
 * an ENI id is a usage error (exit 2) naming the expected form, before anything is asked.
 */
import { EXIT, ExitError } from "../../errors.ts";

/** `eni-` followed by lower-case letters and digits (the ECS form, e.g. eni-bp1g6nzq2pvlz1x0ngys). */
export const ENI_ID = /^eni-[a-z0-9]{4,}$/;

/** Returns `v` when it has the ENI id form; else a usage ExitError naming `what` and the form. */
export function parseEniId(v: string, what = "ENI id"): string {
	if (!ENI_ID.test(v))
		throw new ExitError(
			`${what} ${JSON.stringify(v)}: not an ENI id; expected the form eni-xxxx (e.g. eni-bp1g6nzq2pvlz1x0ngys)`,
			EXIT.usage,
		);
	return v;
}
