/**
 * Error bodies of the metadata face. Alibaba Cloud's documentation names its metadata errors in
 * the EC2 style "<status> - <reason>" ("400 - Missing or Invalid Parameters" for a token TTL
 * outside 1..21600, "401 - Unauthorized" for a bad token, "403 - Forbidden" for a token PUT
 * carrying X-Forwarded-For; help.aliyun.com, ECS "instance metadata" FAQ). The page around that
 * title is the EC2 one, which the ECS service mirrors; its exact bytes were not captured from a
 * real instance, so clients must (and Terway does) decide on the status alone.
 *
 * Pure: no I/O.
 */

/** Reason phrases, as the real service words them where known. */
const REASONS: Record<number, string> = {
	400: "Missing or Invalid Parameters",
	401: "Unauthorized",
	403: "Forbidden",
	404: "Not Found",
	405: "Method Not Allowed",
	429: "Too Many Requests",
	500: "Internal Server Error",
	502: "Bad Gateway",
	503: "Service Unavailable",
	504: "Gateway Timeout",
};

export function reasonPhrase(status: number): string {
	return REASONS[status] ?? "Error";
}

/** The HTML page the service answers errors with: `errorPage(404)` has title "404 - Not Found". */
export function errorPage(status: number, reason = reasonPhrase(status)): string {
	const title = `${status} - ${reason}`;
	return [
		'<?xml version="1.0" encoding="iso-8859-1"?>',
		'<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"',
		'         "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">',
		'<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en">',
		" <head>",
		`  <title>${title}</title>`,
		" </head>",
		" <body>",
		`  <h1>${title}</h1>`,
		" </body>",
		"</html>",
		"",
	].join("\n");
}

/** A response carrying `errorPage(status)`. */
export function errorResponse(
	status: number,
	headers: Record<string, string> = {},
	reason?: string,
): Response {
	return new Response(errorPage(status, reason), {
		status,
		headers: { "content-type": "text/html", ...headers },
	});
}
