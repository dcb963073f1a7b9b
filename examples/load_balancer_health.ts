// deno run -A examples/load_balancer_health.ts
/**
 * A health-checked load balancer in front of three origins.
 *
 * Three `Deno.serve` origins answer with their name; a `LoadBalancer` with
 * round robin and an HTTP health check (every 100 ms, 2 failures to go down,
 * 2 successes to come back) picks one per request; a Cirque proxy forwards,
 * retrying once on another backend when a connection fails. During the run origin-b is stopped: traffic leaves it as soon as the
 * failure threshold is reached; it is restarted and traffic comes back. Exits
 * 0 when all of that happened, 1 otherwise.
 *
 * @module
 */

import { H1Connector } from "@cirque/core/h1";
import { HttpPeer } from "@cirque/core/peer";
import { HttpHealthCheck, LoadBalancer, RoundRobin, StaticDiscovery } from "@cirque/lb";
import { HttpProxy, type ProxyHttp, serveH1 } from "@cirque/proxy";

const CHECK_EVERY_MS = 100;
const FAILURES_TO_GO_DOWN = 2;
const SUCCESSES_TO_COME_BACK = 2;

function startOrigin(name: string, port = 0): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve(
    { hostname: "127.0.0.1", port, onListen() {} },
    (req) => new URL(req.url).pathname === "/health" ? new Response("ok") : new Response(name),
  );
}

const names = ["origin-a", "origin-b", "origin-c"];
const origins = names.map((name) => startOrigin(name));
const nameOf = new Map(origins.map((o, i) => [`127.0.0.1:${o.addr.port}`, names[i]!]));

const lb = new LoadBalancer(
  new RoundRobin(),
  StaticDiscovery.fromAddresses(nameOf.keys()),
  {
    healthCheck: new HttpHealthCheck({
      path: "/health",
      timeoutMs: 500,
      consecutiveFailure: FAILURES_TO_GO_DOWN,
      consecutiveSuccess: SUCCESSES_TO_COME_BACK,
      onHealthChange: (backend, healthy) =>
        console.log(
          `health: ${nameOf.get(backend.address)} ${healthy ? "healthy" : "unhealthy"}`,
        ),
    }),
    healthCheckFrequencyMs: CHECK_EVERY_MS,
    parallelHealthCheck: true,
  },
);
const stop = new AbortController();
const background = lb.start(stop.signal);

let failedAttempts = 0;
// The front is a Cirque proxy: `upstreamPeer` asks the load balancer for a
// ready backend not tried yet; `failToConnect` retries on another one.
const peers = new Map([...nameOf.keys()].map((a) => [a, new HttpPeer(a)]));
const connector = new H1Connector();
const phases: ProxyHttp<{ tried: Set<string> }> = {
  newCtx: () => ({ tried: new Set() }),
  upstreamPeer(session, ctx) {
    const b = lb.select(
      session.req.path,
      256,
      (b, healthy) => healthy && !ctx.tried.has(b.address),
    );
    if (b === undefined) throw new Error("no backend available");
    ctx.tried.add(b.address);
    return peers.get(b.address)!;
  },
  failToConnect(_session, _peer, ctx, error) {
    failedAttempts++;
    error.retryable = ctx.tried.size < 2; // one retry on another backend
    return error;
  },
};
const front = serveH1(new HttpProxy(phases, { connector, errorLog: () => {} }), { port: 0 });

async function phase(label: string, requests: number): Promise<Map<string, number>> {
  const counts = new Map(names.map((n) => [n, 0]));
  let errors = 0;
  for (let i = 0; i < requests; i++) {
    const res = await fetch(`http://127.0.0.1:${front.addr.port}/`);
    const body = await res.text();
    if (res.ok) counts.set(body, (counts.get(body) ?? 0) + 1);
    else errors++;
  }
  const summary = [...counts].map(([n, c]) => `${n}=${c}`).join(" ");
  console.log(`phase ${label}: ${summary} errors=${errors}`);
  return counts;
}

async function until(what: string, condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const bAddress = `127.0.0.1:${origins[1]!.addr.port}`;
const bReady = () => lb.states().find((s) => s.address === bAddress)?.ready === true;
let ok = true;
try {
  await lb.firstUpdate();
  const up = await phase("all-up", 30);
  ok &&= up.get("origin-b")! > 0;

  await origins[1]!.shutdown();
  const stoppedAt = performance.now();
  console.log("origin-b stopped");
  // Keep sending traffic while the health check notices.
  const attemptsBefore = failedAttempts;
  let during = 0;
  let duringErrors = 0;
  while (bReady()) {
    if (performance.now() - stoppedAt > 5000 || during >= 10_000) {
      throw new Error("origin-b never went down");
    }
    const res = await fetch(`http://127.0.0.1:${front.addr.port}/`);
    await res.body?.cancel();
    during++;
    if (!res.ok) duringErrors++;
  }
  const took = performance.now() - stoppedAt;
  console.log(
    `while going down: ${during} requests, ${failedAttempts - attemptsBefore} attempts ` +
      `hit the dead origin-b and were retried, client errors=${duringErrors}`,
  );
  ok &&= duringErrors === 0;
  console.log(
    `origin-b out of rotation after ${Math.round(took)} ms ` +
      `(threshold: ${FAILURES_TO_GO_DOWN} failed checks every ${CHECK_EVERY_MS} ms)`,
  );
  const down = await phase("b-down", 30);
  ok &&= down.get("origin-b") === 0 && down.get("origin-a")! > 0 && down.get("origin-c")! > 0;

  origins[1] = startOrigin("origin-b", Number(bAddress.split(":")[1]));
  console.log("origin-b restarted");
  await until("origin-b to be marked healthy", bReady);
  const back = await phase("recovered", 30);
  ok &&= back.get("origin-b")! > 0;
  console.log(`failed upstream attempts (all retried elsewhere): ${failedAttempts}`);
} catch (err) {
  console.error(err);
  ok = false;
} finally {
  stop.abort();
  await background;
  front.close();
  await front.finished;
  await connector.close();
  await Promise.all(origins.map((o) => o.shutdown().catch(() => {})));
}
console.log(ok ? "ok" : "FAILED");
Deno.exit(ok ? 0 : 1);
