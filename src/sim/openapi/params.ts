/**
 * Reading RPC-style parameters (cloud-sim.md §1.2 "Encoding"): flat `Name=value` pairs, lists as
 * `Name.1`, `Name.2`, ..., lists of objects as `Tag.1.Key`/`Tag.1.Value`, booleans as
 * `true`/`false`, integers as decimal strings. Every bad value is a 400 naming the parameter.
 */
import { CloudError, errs } from "../world/errors.ts";

export class Params {
	constructor(readonly raw: Record<string, string>) {}

	str(name: string): string | undefined {
		const v = this.raw[name];
		return v === undefined || v === "" ? undefined : v;
	}

	req(name: string): string {
		const v = this.str(name);
		if (v === undefined) throw errs.missing(name);
		return v;
	}

	int(name: string, min = 0, max = Number.MAX_SAFE_INTEGER): number | undefined {
		const v = this.str(name);
		if (v === undefined) return undefined;
		if (!/^-?\d+$/.test(v)) throw errs.invalid(name, v, "is not an integer");
		const n = Number(v);
		if (n < min || n > max) throw errs.invalid(name, v, `is out of range [${min}, ${max}]`);
		return n;
	}

	bool(name: string): boolean | undefined {
		const v = this.str(name);
		if (v === undefined) return undefined;
		if (v !== "true" && v !== "false") throw errs.invalid(name, v, "is not true or false");
		return v === "true";
	}

	/** `Name.1..N` (1-based, contiguous), or a bare `Name` as a one-item list; empty when absent. */
	list(name: string): string[] {
		const out: string[] = [];
		for (let i = 1; ; i++) {
			const v = this.raw[`${name}.${i}`];
			if (v === undefined) break;
			out.push(v);
		}
		const stray = Object.keys(this.raw).find(
			(k) =>
				k.startsWith(`${name}.`) &&
				/^\d+$/.test(k.slice(name.length + 1)) &&
				Number(k.slice(name.length + 1)) > out.length,
		);
		if (stray) throw errs.invalid(stray, this.raw[stray], `is out of order (${name}.N must count from 1)`);
		if (out.length === 0 && this.str(name) !== undefined) out.push(this.str(name)!);
		return out;
	}

	/** `Tag.N.Key` / `Tag.N.Value` as a record (Key required per item). */
	tags(name = "Tag"): Record<string, string> | undefined {
		const out: Record<string, string> = {};
		let any = false;
		for (let i = 1; ; i++) {
			const k = this.raw[`${name}.${i}.Key`];
			const v = this.raw[`${name}.${i}.Value`];
			if (k === undefined && v === undefined) break;
			if (!k)
				throw new CloudError(
					"InvalidParameter",
					400,
					`${name}.${i}.Key is required when ${name}.${i}.Value is set.`,
				);
			out[k] = v ?? "";
			any = true;
		}
		return any ? out : undefined;
	}
}

/** Opaque NextToken: the offset into the filtered, ordered result. */
export function encodeNextToken(offset: number): string {
	return Buffer.from(`sim:${offset}`).toString("base64url");
}

export function decodeNextToken(token: string | undefined): number {
	if (token === undefined) return 0;
	const m = /^sim:(\d+)$/.exec(Buffer.from(token, "base64url").toString());
	if (!m)
		throw new CloudError(
			"InvalidNextToken.Malformed",
			400,
			`The specified NextToken ${JSON.stringify(token)} is not valid.`,
		);
	return Number(m[1]);
}

/**
 * One page of `items`: token mode (MaxResults/NextToken) unless only PageNumber/PageSize are given.
 * Returns the page and the paging fields of the response body.
 */
export function paginate<T>(
	p: Params,
	items: T[],
	defaults: { maxResults: number; maxMax: number; pageSize: number; maxPageSize: number },
): { page: T[]; fields: Record<string, unknown> } {
	const pageMode = (p.str("PageNumber") || p.str("PageSize")) && !p.str("MaxResults") && !p.str("NextToken");
	if (pageMode) {
		const pageNumber = p.int("PageNumber", 1) ?? 1;
		const pageSize = p.int("PageSize", 1, defaults.maxPageSize) ?? defaults.pageSize;
		const start = (pageNumber - 1) * pageSize;
		return {
			page: items.slice(start, start + pageSize),
			fields: { TotalCount: items.length, PageNumber: pageNumber, PageSize: pageSize },
		};
	}
	const max = p.int("MaxResults", 1, defaults.maxMax) ?? defaults.maxResults;
	const start = decodeNextToken(p.str("NextToken"));
	if (start > items.length)
		throw new CloudError("InvalidNextToken.Malformed", 400, "The specified NextToken is past the end.");
	const page = items.slice(start, start + max);
	const next = start + page.length < items.length ? encodeNextToken(start + page.length) : "";
	return { page, fields: { NextToken: next, TotalCount: items.length } };
}
