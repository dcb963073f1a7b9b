/**
 * Cirque: a Deno-first toolkit for fast, programmable edge proxies. This root
 * module re-exports the umbrella package `@cirque/cirque`.
 *
 * @module
 */
export * from "@cirque/cirque";
