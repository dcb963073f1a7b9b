/**
 * RateLimit header fields (draft-ietf-httpapi-ratelimit-headers-11) and
 * problem responses (private to the package).
 *
 * @module
 */

/** Problem type URIs registered by the draft (section 10.2). */
export const PROBLEM_TYPES = {
  quotaExceeded: "https://iana.org/assignments/http-problem-types#quota-exceeded",
  reducedCapacity: "https://iana.org/assignments/http-problem-types#temporary-reduced-capacity",
} as const;

/**
 * A policy name as a Structured Field String (RFC 9651 §3.3.3): printable
 * ASCII, with `"` and `\` escaped. Throws for other characters.
 */
export function sfString(name: string, what: string): string {
  if (typeof name !== "string" || name === "" || !/^[\x20-\x7e]+$/.test(name)) {
    throw new TypeError(
      `Cannot create ${what}: policy name must be printable ASCII, got ${JSON.stringify(name)}`,
    );
  }
  return `"${name.replace(/[\\"]/g, "\\$&")}"`;
}

/** A JSON problem response (RFC 9457) with extra header fields. */
export function problemResponse(
  status: number,
  type: string,
  title: string,
  policy: string,
  headers: [string, string][],
): Response {
  const body = JSON.stringify({ type, title, status, "violated-policies": [policy] });
  headers.push(["content-type", "application/problem+json"]);
  return new Response(body, { status, headers });
}
