/**
 * `@cirque/proxy` (work in progress: see the issue tracker).
 *
 * @example
 * ```ts
 * import { VERSION } from "@cirque/proxy";
 * import assert from "node:assert/strict";
 *
 * assert.equal(VERSION, "0.1.0");
 * ```
 *
 * @module
 */

/** The package version. */
export const VERSION: string = "0.1.0";
