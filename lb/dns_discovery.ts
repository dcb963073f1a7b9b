/**
 * {@linkcode DnsDiscovery}: backends from A/AAAA or SRV records, via
 * `Deno.resolveDns`.
 *
 * @module
 */

import { Backend } from "./backend.ts";
import type { Discovered, ServiceDiscovery } from "./service_discovery.ts";

/** Which records to ask for. */
export type DnsRecordKind = "A" | "AAAA" | "A+AAAA" | "SRV";

/** A name server to ask instead of the system resolver. */
export interface DnsNameServer {
  /** IP address. */
  ipAddr: string;
  /**
   * Port.
   * @default {53}
   */
  port?: number;
}

/** Options of {@linkcode DnsDiscovery}. */
export interface DnsDiscoveryOptions {
  /** The name to resolve (for SRV, the full `_service._proto.name`). */
  name: string;
  /**
   * Records to ask for. `"A+AAAA"` asks for both and needs at least one answer.
   * SRV gives port and weight per target; only the lowest priority is used,
   * and each target is resolved to A+AAAA (or kept as a name, see
   * `resolveSrvTargets`); targets that do not resolve are left out, and
   * the discovery fails only when none resolves.
   * @default {"A+AAAA"}
   */
  recordType?: DnsRecordKind;
  /** Port of A/AAAA backends (required for them, unused for SRV). */
  port?: number;
  /**
   * Weight of A/AAAA backends (SRV weights come from the records; a weight of
   * 0 becomes 1).
   * @default {1}
   */
  weight?: number;
  /**
   * Resolve SRV targets to addresses; when false, backends are `target:port`.
   * @default {true}
   */
  resolveSrvTargets?: boolean;
  /** Name server to ask. @default {the system resolver} */
  nameServer?: DnsNameServer;
  /**
   * How long an answer is reused before `discover()` asks again, in ms.
   * `Deno.resolveDns` does not return record TTLs, so set this to the TTL
   * your zone publishes.
   * @default {30000}
   */
  ttlMs?: number;
  /**
   * Bound on one round of queries, in ms.
   * @default {5000}
   */
  timeoutMs?: number;
  /**
   * Clock in ms.
   * @default {Date.now}
   */
  now?: () => number;
  /** Called when a refresh fails and the last good answer is kept. */
  onError?: (error: Error) => void;
}

function stripDot(name: string): string {
  return name.endsWith(".") ? name.slice(0, -1) : name;
}

function hostPort(ip: string, port: number): string {
  return ip.includes(":") ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/**
 * Resolves a name into backends and caches the answer for `ttlMs`. When the
 * resolver fails or answers nothing after a good answer, the last good
 * answer is kept, the error goes to `onError` and `lastError`, and the next
 * `discover()` asks again. The very first failure rejects.
 *
 * @example
 * ```ts
 * import { DnsDiscovery } from "@cirque/lb/dns-discovery";
 * import assert from "node:assert/strict";
 *
 * assert.throws(() => new DnsDiscovery({ name: "api.internal" }), RangeError); // no port
 * ```
 */
export class DnsDiscovery implements ServiceDiscovery {
  #o: DnsDiscoveryOptions;
  #now: () => number;
  #last: Discovered | undefined;
  #expiresAt = -Infinity;
  #lastError: Error | undefined;
  #queries = 0;

  /** Validates options; nothing is resolved until `discover()`. */
  constructor(options: DnsDiscoveryOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    const kind = options.recordType ?? "A+AAAA";
    if (kind !== "SRV") {
      const p = options.port;
      if (p === undefined || !Number.isInteger(p) || p < 1 || p > 65535) {
        throw new RangeError(
          `Cannot create DnsDiscovery for "${options.name}": port ${p} is not in 1..65535`,
        );
      }
    }
  }

  /** The error of the last failed refresh, cleared by a good one. */
  get lastError(): Error | undefined {
    return this.#lastError;
  }

  /** How many refreshes asked the resolver (for tests and metrics). */
  get refreshes(): number {
    return this.#queries;
  }

  /** Returns the cached answer, or resolves again when it is older than `ttlMs`. */
  async discover(signal?: AbortSignal): Promise<Discovered> {
    const now = this.#now();
    if (this.#last !== undefined && now < this.#expiresAt) return this.#last;
    this.#queries++;
    try {
      const backends = await this.#resolve(signal);
      if (backends.length === 0) {
        throw new Error(`Cannot discover backends: "${this.#o.name}" has no usable records`);
      }
      this.#last = { backends };
      this.#expiresAt = now + (this.#o.ttlMs ?? 30000);
      this.#lastError = undefined;
      return this.#last;
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      if (this.#last === undefined || signal?.aborted) throw error;
      this.#lastError = error;
      this.#o.onError?.(error);
      return this.#last;
    }
  }

  async #resolve(signal?: AbortSignal): Promise<Backend[]> {
    const o = this.#o;
    const timeout = AbortSignal.timeout(o.timeoutMs ?? 5000);
    const bound = signal ? AbortSignal.any([signal, timeout]) : timeout;
    const opts: Deno.ResolveDnsOptions = {
      signal: bound,
      ...(o.nameServer ? { nameServer: o.nameServer } : {}),
    };
    const kind = o.recordType ?? "A+AAAA";
    if (kind === "SRV") {
      const records = await Deno.resolveDns(o.name, "SRV", opts);
      if (records.length === 0) return [];
      const best = Math.min(...records.map((r) => r.priority));
      const chosen = records.filter((r) => r.priority === best);
      const out: Backend[] = [];
      const failures: string[] = [];
      let firstError: unknown;
      for (const r of chosen) {
        const target = stripDot(r.target);
        const weight = Math.min(Math.max(r.weight, 1), 65535);
        const metadata = { srvTarget: target, srvPriority: r.priority };
        if (o.resolveSrvTargets === false) {
          out.push(new Backend(`${target}:${r.port}`, { weight, metadata }));
          continue;
        }
        let ips: string[];
        try {
          ips = await this.#addresses(target, "A+AAAA", opts);
        } catch (err) {
          // A target that does not resolve is left out; the others still serve.
          firstError ??= err;
          failures.push(`${target}: ${err instanceof Error ? err.message : String(err)}`);
          continue;
        }
        for (const ip of ips) {
          out.push(new Backend(hostPort(ip, r.port), { weight, metadata }));
        }
      }
      if (out.length === 0 && failures.length > 0) {
        throw new Error(
          `Cannot discover backends: no SRV target of "${o.name}" resolves (${
            failures.join("; ")
          })`,
          { cause: firstError },
        );
      }
      return out;
    }
    const ips = await this.#addresses(o.name, kind, opts);
    return ips.map((ip) => new Backend(hostPort(ip, o.port!), { weight: o.weight ?? 1 }));
  }

  async #addresses(
    name: string,
    kind: "A" | "AAAA" | "A+AAAA",
    opts: Deno.ResolveDnsOptions,
  ): Promise<string[]> {
    if (kind !== "A+AAAA") return await Deno.resolveDns(name, kind, opts);
    const [a, aaaa] = await Promise.allSettled([
      Deno.resolveDns(name, "A", opts),
      Deno.resolveDns(name, "AAAA", opts),
    ]);
    if (a.status === "rejected" && aaaa.status === "rejected") throw a.reason;
    return [
      ...(a.status === "fulfilled" ? a.value : []),
      ...(aaaa.status === "fulfilled" ? aaaa.value : []),
    ];
  }
}
