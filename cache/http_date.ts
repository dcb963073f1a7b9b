/**
 * HTTP-date parsing and formatting (RFC 9110 §5.6.7): IMF-fixdate, the
 * obsolete RFC 850 and asctime forms, always in GMT.
 *
 * @example
 * ```ts
 * import { formatHttpDate, parseHttpDate } from "@cirque/cache/http-date";
 * import assert from "node:assert/strict";
 *
 * const t = parseHttpDate("Sun, 06 Nov 1994 08:49:37 GMT");
 * assert.equal(t, 784111777000);
 * assert.equal(formatHttpDate(t!), "Sun, 06 Nov 1994 08:49:37 GMT");
 * ```
 *
 * @module
 */

const MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MON = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

const IMF =
  /^[A-Za-z]{3},\s*(\d{1,2})[\s-]+([A-Za-z]{3})[\s-]+(\d{2,4})\s+(\d{1,2}):(\d{2}):(\d{2})\s*(?:GMT|UTC|\+0000)?$/;
const RFC850 = /^[A-Za-z]+,\s*(\d{1,2})-([A-Za-z]{3})-(\d{2,4})\s+(\d{1,2}):(\d{2}):(\d{2})\s*GMT$/;
const ASCTIME = /^[A-Za-z]{3}\s+([A-Za-z]{3})\s+(\d{1,2})\s+(\d{1,2}):(\d{2}):(\d{2})\s+(\d{4})$/;

function build(
  day: string,
  mon: string,
  year: string,
  h: string,
  m: string,
  s: string,
): number | null {
  const month = MONTHS.indexOf(mon.toLowerCase());
  if (month < 0) return null;
  let y = Number(year);
  // RFC 9110 §5.6.7: a two-digit year more than 50 years in the future is in the past century.
  if (year.length === 2) y += y < 70 ? 2000 : 1900;
  const d = Number(day), hh = Number(h), mm = Number(m), ss = Number(s);
  if (d < 1 || d > 31 || hh > 23 || mm > 59 || ss > 60) return null;
  return Date.UTC(y, month, d, hh, mm, ss);
}

/**
 * Parses an HTTP-date into epoch milliseconds; `null` when it is not one
 * (callers treat that per their RFC rule, e.g. `Expires` → already expired).
 *
 * @example
 * ```ts
 * import { parseHttpDate } from "@cirque/cache/http-date";
 * import assert from "node:assert/strict";
 *
 * assert.equal(parseHttpDate("Sunday, 06-Nov-94 08:49:37 GMT"), 784111777000);
 * assert.equal(parseHttpDate("Sun Nov  6 08:49:37 1994"), 784111777000);
 * assert.equal(parseHttpDate("0"), null);
 * ```
 */
export function parseHttpDate(value: string): number | null {
  const v = value.trim();
  let m = IMF.exec(v) ?? RFC850.exec(v);
  if (m !== null) return build(m[1]!, m[2]!, m[3]!, m[4]!, m[5]!, m[6]!);
  m = ASCTIME.exec(v);
  if (m !== null) return build(m[2]!, m[1]!, m[6]!, m[3]!, m[4]!, m[5]!);
  return null;
}

function pad(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/**
 * Formats epoch milliseconds as an IMF-fixdate.
 *
 * @example
 * ```ts
 * import { formatHttpDate } from "@cirque/cache/http-date";
 * import assert from "node:assert/strict";
 *
 * assert.equal(formatHttpDate(0), "Thu, 01 Jan 1970 00:00:00 GMT");
 * ```
 */
export function formatHttpDate(ms: number): string {
  const d = new Date(ms);
  return `${DAYS[d.getUTCDay()]}, ${pad(d.getUTCDate())} ${
    MON[d.getUTCMonth()]
  } ${d.getUTCFullYear()} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${
    pad(d.getUTCSeconds())
  } GMT`;
}
