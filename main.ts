// deno run -A main.ts -c examples/cirque.yaml        (add --demo to start the demo origins)
/**
 * The ready-made Cirque proxy: a reverse proxy driven by a YAML file
 * (listeners, upstream groups with backends and health checks, host/path
 * routes, header edits, timeouts, retries). It is built only on the public
 * API of the Cirque packages, the same way you would build your own.
 *
 * ```sh
 * deno run -A main.ts -c cirque.yaml      # run
 * deno run -A main.ts -t -c cirque.yaml   # check the file and exit 0/1
 * ```
 *
 * The file format is documented in `docs/user_guide/config.md`.
 *
 * @module
 */

import {
  arrayOf,
  boolean,
  ConfigError,
  type Infer,
  integer,
  mapOf,
  MAX_TIMER_MS,
  object,
  oneOf,
  optional,
  parseConfig,
  snakeCase,
  string,
  withDefault,
} from "@cirque/core/config";
import { runCli } from "@cirque/core/cli";
import { formatIpv6, parseIp } from "@cirque/core/ip";
import { Server } from "@cirque/core/server";
import { SERVER_CONF_FIELDS } from "@cirque/core/server-conf";
import type { Service } from "@cirque/core/service";
import { HttpPeer, parseAddress as parsePeerAddress, type PeerOptions } from "@cirque/core/peer";
import type { Connector } from "@cirque/core/connector";
import type { ProxyError } from "@cirque/core/error";
import { H1Connector } from "@cirque/core/h1";
import {
  Backend,
  type BackendSelection,
  Consistent,
  FnvHash,
  HttpHealthCheck,
  LeastRequests,
  LoadBalancer,
  Random,
  RoundRobin,
  StaticDiscovery,
  TcpHealthCheck,
} from "@cirque/lb";
import {
  HttpProxy,
  httpProxyService,
  type ProxyHttp,
  type ProxyListener,
  type Session,
} from "@cirque/proxy";
import { CacheConfig } from "@cirque/cache/http-cache";
import { CacheLock } from "@cirque/cache/cache-lock";
import { MemoryStorage } from "@cirque/cache/memory-storage";

/** A duration in ms: at least `min`, at most what a timer can wait (longer ones would fire at once). */
function ms(min: number) {
  return integer({ min, max: MAX_TIMER_MS });
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

function checkFieldName(name: string): string | undefined {
  return TOKEN.test(name) ? undefined : `expected a field name (an HTTP token), found "${name}"`;
}

/** Field values with CR, LF or NUL would split or break the message (header injection). */
const fieldValues = mapOf(
  string({
    check: (v) => /[\r\n\0]/.test(v) ? "expected a field value without CR, LF or NUL" : undefined,
  }),
  {
    check: (m) => {
      const bad = Object.keys(m).find((k) => !TOKEN.test(k));
      return bad === undefined ? undefined : checkFieldName(bad);
    },
  },
);

const headerEdits = object({
  set: optional(fieldValues),
  add: optional(fieldValues),
  remove: optional(arrayOf(string({ check: checkFieldName }))),
});

const healthCheck = object({
  kind: withDefault(oneOf(["tcp", "http"]), "http"),
  /** `http` only; `/` when absent. */
  path: optional(
    string({ check: (p) => p.startsWith("/") ? undefined : "expected a path starting with /" }),
  ),
  /** `http` only. */
  host: optional(string()),
  intervalMs: withDefault(ms(10), 5000),
  timeoutMs: withDefault(ms(1), 1000),
  consecutiveSuccess: withDefault(integer({ min: 1 }), 1),
  consecutiveFailure: withDefault(integer({ min: 1 }), 1),
}, {
  check: (hc) => {
    if (hc.timeoutMs >= hc.intervalMs) {
      return `timeout_ms (${hc.timeoutMs}) must be less than interval_ms (${hc.intervalMs}): ` +
        "a check would still run when the next one starts";
    }
    if (hc.kind !== "tcp") return undefined;
    const keys = (["path", "host"] as const).filter((k) => hc[k] !== undefined);
    return keys.length === 0
      ? undefined
      : `${keys.join(" and ")} ${keys.length === 1 ? "applies" : "apply"} to kind: http only ` +
        "(a tcp check only connects)";
  },
});

const upstream = object({
  backends: arrayOf(
    object({
      address: string({ check: checkBackendAddress }),
      weight: withDefault(integer({ min: 1, max: 65535 }), 1),
    }),
    { minItems: 1, check: checkDistinctBackends },
  ),
  selection: withDefault(
    oneOf(["round_robin", "random", "fnv", "consistent", "least_requests"]),
    "round_robin",
  ),
  /**
   * For `fnv`/`consistent` only: which request part is hashed; `path` when absent (applied in
   * {@linkcode buildCirque}, so that a `hash_key` given with another selection is an error).
   */
  hashKey: optional(oneOf(["path", "client_ip", "host"])),
  tls: withDefault(boolean(), false),
  sni: optional(string()),
  caFile: optional(string()),
  verifyCert: withDefault(boolean(), true),
  connectTimeoutMs: withDefault(ms(1), 5000),
  readTimeoutMs: withDefault(ms(1), 60000),
  writeTimeoutMs: withDefault(ms(1), 60000),
  idleTimeoutMs: withDefault(ms(0), 60000),
  /** Connections open to each backend at once; more requests wait up to connect_timeout_ms. */
  maxConnections: optional(integer({ min: 1 })),
  healthCheck: optional(healthCheck),
}, {
  check: (u) => {
    if (u.hashKey !== undefined && u.selection !== "fnv" && u.selection !== "consistent") {
      return `hash_key applies only to selection: fnv or consistent, found selection: ${u.selection} (which hashes nothing)`;
    }
    if (u.sni !== undefined && !u.tls) return "sni applies only with tls: true";
    return undefined;
  },
});

/** The `cache:` block of a route: an RFC 9111 shared cache in memory. */
const cacheBlock = object({
  /** Bytes of responses kept (bodies and heads). */
  maxBytes: withDefault(integer({ min: 1 }), 64 * 1024 * 1024),
  /** Largest response stored; larger ones pass through uncached. */
  maxObjectBytes: withDefault(integer({ min: 0 }), 8 * 1024 * 1024),
  /** Freshness for responses without explicit freshness, by status code (100–599). */
  defaultTtlSeconds: optional(mapOf(integer({ min: 0 }), {
    check: (m) => {
      const bad = Object.keys(m).find((k) => !/^[1-5][0-9][0-9]$/.test(k));
      return bad === undefined
        ? undefined
        : `expected status codes 100–599 as keys, found "${bad}"`;
    },
  })),
  /** stale-while-revalidate / stale-if-error when the response names none. */
  staleWhileRevalidateSeconds: withDefault(integer({ min: 0 }), 0),
  staleIfErrorSeconds: withDefault(integer({ min: 0 }), 0),
  /** How long concurrent misses wait for the one upstream request. */
  lockTimeoutMs: withDefault(ms(0), 5000),
  /** A writer holding the lock longer than this loses it. */
  lockAgeTimeoutMs: withDefault(ms(1), 10000),
  /** Targeted cache-control field obeyed first (RFC 9213), e.g. CDN-Cache-Control. */
  targetedField: optional(string()),
  /** Client IPs allowed to send PURGE (off when empty). */
  purgeAllowedFrom: withDefault(
    arrayOf(string({
      check: (a) => canonicalIp(a) === null ? `expected an IP address, found "${a}"` : undefined,
    })),
    [],
  ),
});

const route = object({
  /** `example.com` or `*.example.com`; absent for any host. */
  host: optional(string({
    check: (h) =>
      h === ""
        ? 'expected a host or "*.domain" pattern, found "" (omit host to match any host)'
        : undefined,
  })),
  pathPrefix: withDefault(
    string({ check: (p) => p.startsWith("/") ? undefined : "expected a path starting with /" }),
    "/",
  ),
  upstream: string(),
  stripPrefix: withDefault(boolean(), false),
  requestHeaders: optional(headerEdits),
  responseHeaders: optional(headerEdits),
  cache: optional(cacheBlock),
});

/** The `h1`-only listener keys (TypeScript names of the YAML keys), each with the `ProxyListener` key it sets. */
const H1_LISTENER_KEYS = {
  headerTimeoutMs: "headerTimeout",
  keepaliveTimeoutMs: "keepAliveTimeout",
  ioTimeoutMs: "ioTimeout",
  maxHeadBytes: "maxHeadBytes",
  maxFields: "maxFields",
  lingeringTimeMs: "lingeringTime",
  lingeringTimeoutMs: "lingeringTimeout",
} as const;

const listener = object({
  address: string({ check: checkListenAddress }),
  protocol: withDefault(oneOf(["h1", "h2"]), "h1"),
  tls: optional(object({ certFile: string(), keyFile: string() })),
  /** h1 only: keep a request going when its client closes before the response (nginx's proxy_ignore_client_abort). */
  ignoreClientAbort: withDefault(boolean(), false),
  /** h1 only: time to receive a whole request head once its first byte came (nginx's client_header_timeout). */
  headerTimeoutMs: optional(ms(1)),
  /** h1 only: how long an idle keep-alive connection waits for its next request (nginx's keepalive_timeout). */
  keepaliveTimeoutMs: optional(ms(1)),
  /** h1 only: each read of a request body and each write to the client (nginx's client_body_timeout, send_timeout). */
  ioTimeoutMs: optional(ms(1)),
  /** h1 only: request head size limit; larger heads get 431 (nginx's large_client_header_buffers). */
  maxHeadBytes: optional(integer({ min: 1024, max: 1024 * 1024 })),
  /** h1 only: request field count limit; more fields get 431. */
  maxFields: optional(integer({ min: 1, max: 10_000 })),
  /** h1 only: how long a lingering close may last in all, 0 to close at once (nginx's lingering_time). */
  lingeringTimeMs: optional(ms(0)),
  /** h1 only: how long each read of a lingering close waits (nginx's lingering_timeout). */
  lingeringTimeoutMs: optional(ms(1)),
}, {
  check: (l) => {
    if (l.protocol !== "h2") return undefined;
    const keys = Object.keys(H1_LISTENER_KEYS)
      .filter((k) => l[k as keyof typeof H1_LISTENER_KEYS] !== undefined)
      .map(snakeCase);
    if (l.ignoreClientAbort) keys.unshift("ignore_client_abort");
    if (keys.length === 0) return undefined;
    return `${keys.join(", ")} ${keys.length === 1 ? "applies" : "apply"} to h1 listeners ` +
      (l.ignoreClientAbort
        ? "only (Deno.serve always aborts a request whose client goes away)"
        : "only (Deno.serve takes no such setting)");
  },
});

function cirqueSchema(upstreamNames: Set<string> | null, checkFiles = false) {
  const file = string(checkFiles ? { check: checkReadable } : {});
  const listenerSchema = object({
    ...listener.fields,
    tls: optional(object({ certFile: file, keyFile: file })),
  }, { check: listener.check! });
  const upstreamSchema = object({ ...upstream.fields, caFile: optional(file) }, {
    check: upstream.check!,
  });
  const routeSchema = upstreamNames === null ? route : object({
    ...route.fields,
    upstream: string({
      check: (u) =>
        upstreamNames.has(u)
          ? undefined
          : `expected one of the upstreams (${[...upstreamNames].join(", ")}), found "${u}"`,
    }),
  });
  return object({
    ...SERVER_CONF_FIELDS,
    listeners: arrayOf(listenerSchema, { minItems: 1, check: checkDistinctListeners }),
    upstreams: mapOf(upstreamSchema),
    routes: arrayOf(routeSchema, { minItems: 1 }),
    /** Upstream attempts per request (first try included). */
    retries: withDefault(integer({ min: 1, max: 16 }), 3),
    /** Also log requests that failed on the client's side (nginx logs these at `info`). */
    logClientErrors: withDefault(boolean(), false),
    /** Demo origins started by `--demo`: addresses to serve on. */
    demoOrigins: optional(arrayOf(string({ check: checkListenAddress }))),
  });
}

/** The parsed configuration file. */
export type CirqueConf = Infer<ReturnType<typeof cirqueSchema>>;

/**
 * A backend address as the proxy will use it: parsed by `HttpPeer`'s parser (port 1–65535) and by
 * `Backend`'s (the host a valid IP literal or DNS name), the two that take it at build time.
 */
function checkBackendAddress(a: string): string | undefined {
  try {
    if (parsePeerAddress(a).transport !== "tcp") return `expected host:port, found "${a}"`;
    new Backend(a);
    return undefined;
  } catch (e) {
    return `expected host:port (${e instanceof Error ? e.message : e})`;
  }
}

/** A listen address: as a backend address, but port 0 (any free port) is allowed. */
function checkListenAddress(a: string): string | undefined {
  if (!a.endsWith(":0")) return checkBackendAddress(a);
  const asPort1 = `${a.slice(0, -1)}1`;
  return checkBackendAddress(asPort1)?.replaceAll(asPort1, a);
}

/** The first item whose key an earlier item had, as `[its index, the earlier one's]`; null keys never match. */
function firstRepeat<T>(
  items: readonly T[],
  key: (item: T) => string | null,
): [number, number] | null {
  const first = new Map<string, number>();
  for (const [i, item] of items.entries()) {
    const k = key(item);
    if (k === null) continue;
    const j = first.get(k);
    if (j !== undefined) return [i, j];
    first.set(k, i);
  }
  return null;
}

/** Two listeners on one address (port 0 aside: each gets its own free port) cannot both bind. */
function checkDistinctListeners(listeners: { address: string }[]): string | undefined {
  const r = firstRepeat(
    listeners,
    (l) => l.address.endsWith(":0") ? null : l.address.toLowerCase(),
  );
  return r === null ? undefined : `listeners[${r[0]}] has the address of listeners[${r[1]}] ` +
    `(${listeners[r[0]]!.address}); two listeners cannot bind one address`;
}

/**
 * Two backends of one upstream at one address (any spelling of the IP, any case of the name) would
 * be one backend: the load balancer keeps one of them, dropping the other's weight.
 */
function checkDistinctBackends(backends: { address: string }[]): string | undefined {
  const r = firstRepeat(backends, (b) => {
    const parsed = new Backend(b.address);
    return `${canonicalIp(parsed.hostname) ?? parsed.hostname.toLowerCase()} ${parsed.port}`;
  });
  return r === null ? undefined : `backends[${r[0]}] has the address of backends[${r[1]}] ` +
    `(${backends[r[0]]!.address}); list each backend once (use weight to give it a larger share)`;
}

function checkReadable(path: string): string | undefined {
  try {
    Deno.readTextFileSync(path);
    return undefined;
  } catch (e) {
    return `cannot read the file "${path}": ${e instanceof Error ? e.message : e}`;
  }
}

/** Options of {@linkcode parseCirqueConf}. */
export interface ParseCirqueConfOptions {
  /**
   * Check that the files the configuration names (`ca_file`, a listener's `tls.cert_file` and
   * `tls.key_file`) can be read, reporting those that cannot with their line.
   * {@linkcode loadCirqueConf} sets it; without it the text alone is checked.
   * @default {false}
   */
  checkFiles?: boolean;
}

/**
 * Parses and validates a configuration file's text (routes must name known upstreams). The
 * filesystem is not touched unless `options.checkFiles` is set.
 */
export function parseCirqueConf(
  text: string,
  file = "<config>",
  options: ParseCirqueConfOptions = {},
): CirqueConf {
  const first = parseConfig(text, cirqueSchema(null), { file });
  return parseConfig(
    text,
    cirqueSchema(new Set(Object.keys(first.upstreams)), options.checkFiles ?? false),
    { file },
  );
}

/** Loads a configuration file. */
export async function loadCirqueConf(path: string | undefined): Promise<CirqueConf> {
  const file = path ?? "cirque.yaml";
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (e) {
    throw new ConfigError([{
      file,
      path: "",
      message: `cannot read the file: ${e instanceof Error ? e.message : e}`,
    }]);
  }
  return parseCirqueConf(text, file, { checkFiles: true });
}

interface Upstream {
  name: string;
  lb: LoadBalancer<BackendSelection>;
  peers: Map<string, HttpPeer>;
  hashKey: "path" | "client_ip" | "host";
  /** Set for `least_requests`: told when each attempt starts and ends. */
  leastRequests: LeastRequests | null;
}

interface Route {
  host: string | null;
  prefix: string;
  upstream: Upstream;
  strip: boolean;
  request: CirqueConf["routes"][number]["requestHeaders"];
  response: CirqueConf["routes"][number]["responseHeaders"];
  cache: CacheConfig | null;
  purgeFrom: Set<string>;
}

interface Ctx {
  route: Route | null;
  tried: Set<string>;
  /** The attempt counted in flight by a `least_requests` upstream, until it ends. */
  inflight: { lr: LeastRequests; backend: Backend } | null;
}

function selection(kind: CirqueConf["upstreams"][string]["selection"]): BackendSelection {
  switch (kind) {
    case "round_robin":
      return new RoundRobin();
    case "random":
      return new Random();
    case "fnv":
      return new FnvHash();
    case "consistent":
      return new Consistent();
    case "least_requests":
      return new LeastRequests();
  }
}

function hostMatches(pattern: string, host: string): boolean {
  const h = host.replace(/:\d+$/, "").toLowerCase();
  if (pattern.startsWith("*.")) return h.endsWith(pattern.slice(1).toLowerCase());
  return h === pattern.toLowerCase();
}

/** What {@linkcode buildCirque} returns. */
export interface Cirque {
  /** The proxy, ready for `handle()` or a listener. */
  proxy: HttpProxy<Ctx>;
  /** The load balancers (background services: discovery and health checks). */
  services: Service[];
  /** Every upstream's load balancer, by upstream name (for states and in-flight counts). */
  balancers: ReadonlyMap<string, LoadBalancer<BackendSelection>>;
}

/** The configuration's `listeners`, as `httpProxyService` takes them (TLS files read). */
export function proxyListeners(
  conf: CirqueConf,
  readFile: (path: string) => string = Deno.readTextFileSync,
): ProxyListener[] {
  return conf.listeners.map((l) => ({
    address: l.address,
    protocol: l.protocol,
    ...(l.ignoreClientAbort ? { ignoreClientAbort: true } : {}),
    ...Object.fromEntries(
      Object.entries(H1_LISTENER_KEYS)
        .filter(([k]) => l[k as keyof typeof H1_LISTENER_KEYS] !== undefined)
        .map(([k, api]) => [api, l[k as keyof typeof H1_LISTENER_KEYS]]),
    ),
    ...(l.tls ? { tls: { cert: readFile(l.tls.certFile), key: readFile(l.tls.keyFile) } } : {}),
  }));
}

/** Builds the proxy and its load balancers from a configuration. */
export async function buildCirque(
  conf: CirqueConf,
  options: {
    connector?: Connector;
    readFile?: (path: string) => string;
    errorLog?: (line: string, error: ProxyError) => void;
  } = {},
): Promise<Cirque> {
  const readFile = options.readFile ?? Deno.readTextFileSync;
  const upstreams = new Map<string, Upstream>();
  const balancers = new Map<string, LoadBalancer<BackendSelection>>();
  const services: Service[] = [];
  for (const [name, u] of Object.entries(conf.upstreams)) {
    const peerOptions: PeerOptions = {
      connectTimeout: u.connectTimeoutMs,
      totalConnectTimeout: Math.min(u.connectTimeoutMs * 2, MAX_TIMER_MS),
      readTimeout: u.readTimeoutMs,
      writeTimeout: u.writeTimeoutMs,
      idleTimeout: u.idleTimeoutMs,
      ...(u.maxConnections !== undefined ? { maxConnections: u.maxConnections } : {}),
      verifyCert: u.verifyCert,
      ...(u.caFile ? { caCerts: [readFile(u.caFile)] } : {}),
    };
    const peers = new Map<string, HttpPeer>();
    for (const b of u.backends) {
      peers.set(
        b.address,
        new HttpPeer(b.address, {
          tls: u.tls,
          ...(u.sni ? { sni: u.sni } : {}),
          options: peerOptions,
        }),
      );
    }
    const hc = u.healthCheck;
    const healthCheck = hc === undefined ? undefined : hc.kind === "tcp"
      ? new TcpHealthCheck({
        connectTimeoutMs: hc.timeoutMs,
        consecutiveSuccess: hc.consecutiveSuccess,
        consecutiveFailure: hc.consecutiveFailure,
      })
      : new HttpHealthCheck({
        path: hc.path ?? "/",
        ...(hc.host ? { host: hc.host } : {}),
        // The TLS settings of the proxied requests: the check's own connection is made the same way.
        tls: u.tls,
        ...(u.sni ? { sni: u.sni } : {}),
        verifyCert: u.verifyCert,
        ...(peerOptions.caCerts ? { caCerts: peerOptions.caCerts } : {}),
        timeoutMs: hc.timeoutMs,
        consecutiveSuccess: hc.consecutiveSuccess,
        consecutiveFailure: hc.consecutiveFailure,
      });
    const discovery = new StaticDiscovery(
      u.backends.map((b) => new Backend(b.address, { weight: b.weight })),
    );
    const lb = new LoadBalancer(
      selection(u.selection),
      discovery,
      {
        name: `upstream ${name}`,
        ...(healthCheck ? { healthCheck, healthCheckFrequencyMs: hc!.intervalMs } : {}),
      },
    );
    await lb.update();
    upstreams.set(name, {
      name,
      lb,
      peers,
      hashKey: u.hashKey ?? "path",
      leastRequests: lb.selection instanceof LeastRequests ? lb.selection : null,
    });
    balancers.set(name, lb);
    if (healthCheck) services.push(lb);
  }
  // Most specific first: host routes before host-less ones, longer prefixes first.
  const routes: Route[] = conf.routes.map((r) => ({
    host: r.host ?? null,
    prefix: r.pathPrefix,
    upstream: upstreams.get(r.upstream)!,
    strip: r.stripPrefix,
    request: r.requestHeaders,
    response: r.responseHeaders,
    cache: r.cache === undefined ? null : cacheConfig(r.cache),
    purgeFrom: new Set((r.cache?.purgeAllowedFrom ?? []).map((a) => canonicalIp(a)!)),
  })).sort((a, b) =>
    Number(b.host !== null) - Number(a.host !== null) || b.prefix.length - a.prefix.length
  );

  const phases: ProxyHttp<Ctx> = {
    newCtx: () => ({ route: null, tried: new Set(), inflight: null }),
    requestFilter(session: Session, ctx: Ctx) {
      const host = session.req.host;
      const path = session.req.path;
      for (const r of routes) {
        if (r.host !== null && !hostMatches(r.host, host)) continue;
        if (!path.startsWith(r.prefix)) continue;
        ctx.route = r;
        session.tags.set("route", `${r.host ?? "*"}${r.prefix}`);
        session.tags.set("upstream", r.upstream.name);
        return;
      }
      return session.respond(404, "no route\n");
    },
    upstreamPeer(session: Session, ctx: Ctx) {
      const u = ctx.route!.upstream;
      const key = u.hashKey === "path"
        ? session.req.path
        : u.hashKey === "host"
        ? session.req.host
        : session.clientIp;
      // A retry ends the previous attempt before it picks the next backend.
      endAttempt(ctx);
      const tried = ctx.tried;
      const b = u.lb.select(key, 256, (b, healthy) => healthy && !tried.has(b.address)) ??
        u.lb.select(key, 256, (b) => !tried.has(b.address));
      if (b === undefined) throw new Error(`upstream ${u.name}: no backend left to try`);
      tried.add(b.address);
      if (u.leastRequests !== null) {
        u.leastRequests.start(b);
        ctx.inflight = { lr: u.leastRequests, backend: b };
      }
      return u.peers.get(b.address)!;
    },
    failToConnect(_session, _peer, ctx, error) {
      // Fail over to another backend of the same upstream while any is left.
      error.retryable = ctx.tried.size < ctx.route!.upstream.peers.size;
      return error;
    },
    upstreamRequestFilter(_session, up, ctx) {
      const r = ctx.route!;
      if (r.strip && r.prefix !== "/") {
        const rest = up.path.slice(r.prefix.length);
        up.path = rest.startsWith("/") ? rest : "/" + rest;
      }
      applyEdits(up.headers, r.request);
    },
    responseFilter(_session, res, ctx) {
      if (ctx.route) applyEdits(res.headers, ctx.route.response);
    },
  };
  if ([...upstreams.values()].some((u) => u.leastRequests !== null)) {
    // Runs once for every request, served or failed: its last attempt ends here.
    phases.logging = (_session, _error, ctx) => endAttempt(ctx);
  }
  if (!conf.logClientErrors) {
    // A client that went away, timed out or sent a broken body is not the proxy's
    // failure: like nginx (which logs these at `info`), keep them out of the error log.
    phases.suppressErrorLog = (_session, _ctx, error) => error.source === "downstream";
  }
  if (routes.some((r) => r.cache !== null)) {
    // Only then: a proxy without cache phases does no cache work at all.
    phases.requestCacheFilter = (_session, ctx) => ctx.route?.cache ?? null;
    phases.isPurge = (session, ctx) =>
      session.req.method === "PURGE" && ctx.route !== null &&
      ctx.route.purgeFrom.has(canonicalIp(session.clientIp) ?? "");
  }
  const connector = options.connector ??
    new H1Connector({ maxIdle: conf.upstreamKeepalivePoolSize });
  const proxy = new HttpProxy(phases, {
    connector,
    maxRetries: conf.retries,
    ...(options.errorLog ? { errorLog: options.errorLog } : {}),
  });
  return { proxy, services, balancers };
}

function endAttempt(ctx: Ctx): void {
  if (ctx.inflight === null) return;
  ctx.inflight.lr.end(ctx.inflight.backend);
  ctx.inflight = null;
}

/** One spelling per address (`::1`, not `0:0::1` or `[::1]`), or null when `a` is no IP address. */
function canonicalIp(a: string): string | null {
  const bytes = parseIp(a);
  if (bytes === undefined) return null;
  return bytes.length === 4 ? bytes.join(".") : formatIpv6(bytes);
}

function cacheConfig(c: NonNullable<CirqueConf["routes"][number]["cache"]>): CacheConfig {
  const ttl = c.defaultTtlSeconds ?? {};
  return new CacheConfig({
    storage: new MemoryStorage({ maxBytes: c.maxBytes, maxObjectSize: c.maxObjectBytes }),
    lock: new CacheLock({ ageTimeout: c.lockAgeTimeoutMs }),
    lockWaitTimeout: c.lockTimeoutMs,
    defaultTtl: (status) => ttl[String(status)],
    defaultStaleWhileRevalidate: c.staleWhileRevalidateSeconds,
    defaultStaleIfError: c.staleIfErrorSeconds,
    targetedField: c.targetedField ?? null,
  });
}

function applyEdits(
  headers: {
    set(k: string, v: string): void;
    append(k: string, v: string): void;
    delete(k: string): number;
  },
  edits: CirqueConf["routes"][number]["requestHeaders"],
): void {
  if (edits === undefined) return;
  for (const name of edits.remove ?? []) headers.delete(name);
  for (const [k, v] of Object.entries(edits.set ?? {})) headers.set(k, v);
  for (const [k, v] of Object.entries(edits.add ?? {})) headers.append(k, v);
}

/** A demo origin: answers every request with a small JSON document naming itself. */
export function startDemoOrigin(address: string): Deno.HttpServer<Deno.NetAddr> {
  const m = /^(.*):(\d+)$/.exec(address)!;
  const hostname = m[1]!.replace(/^\[|\]$/g, "");
  let hits = 0;
  return Deno.serve({ hostname, port: Number(m[2]), onListen: () => {} }, (req) => {
    hits++;
    const url = new URL(req.url);
    return Response.json({
      origin: address,
      hits,
      method: req.method,
      path: url.pathname + url.search,
      headers: Object.fromEntries(req.headers),
    });
  });
}

if (import.meta.main) {
  const demo = Deno.args.includes("--demo");
  const args = Deno.args.filter((a) => a !== "--demo");
  const code = await runCli(args, {
    program: "cirque",
    load: loadCirqueConf,
    async setup(conf) {
      const server = new Server({ conf });
      if (demo) {
        for (const a of conf.demoOrigins ?? []) {
          const origin = startDemoOrigin(a);
          server.add({
            name: `demo origin ${a}`,
            async start(signal) {
              await new Promise((r) => signal.addEventListener("abort", r, { once: true }));
              await origin.shutdown();
            },
          });
        }
      }
      const { proxy, services } = await buildCirque(conf);
      for (const s of services) server.add(s);
      server.add(httpProxyService(proxy, {
        listeners: proxyListeners(conf),
        onListen: (addr, l) => {
          const scheme = l.tls ? "https" : "http";
          const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
          console.log(
            `cirque: listening on ${scheme}://${host}:${addr.port}/ (${l.protocol ?? "h1"})`,
          );
          if (demo) console.log(`cirque: try  curl -i ${scheme}://${host}:${addr.port}/api/hello`);
        },
      }));
      return server;
    },
  });
  Deno.exit(code);
}
