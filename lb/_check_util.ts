// Option checks shared by the health checks.

import type { Backend } from "./backend.ts";

/** Validates a threshold option. */
export function checkThreshold(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(`Cannot create health check: ${name} ${value} is not a positive integer`);
  }
  return value;
}

/** Backend port or a RangeError. */
export function requirePort(backend: Backend, override?: number): number {
  const port = override ?? backend.port;
  if (port === undefined) {
    throw new RangeError(`Cannot check "${backend.address}": the address has no port`);
  }
  return port;
}
