import assert from "node:assert/strict";
import { DnsDiscovery } from "./dns_discovery.ts";

interface Srv {
  priority: number;
  weight: number;
  port: number;
  target: string;
}
interface Zone {
  A?: Record<string, string[]>;
  AAAA?: Record<string, string[]>;
  SRV?: Record<string, Srv[]>;
}
const TYPES = { A: 1, AAAA: 28, SRV: 33 } as const;

function encodeName(name: string): number[] {
  const out: number[] = [];
  for (const label of name.replace(/\.$/, "").split(".")) {
    out.push(label.length, ...new TextEncoder().encode(label));
  }
  out.push(0);
  return out;
}

function ipv6Bytes(ip: string): number[] {
  const [head, tail] = ip.split("::") as [string, string | undefined];
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const groups = [...h, ...Array(8 - h.length - t.length).fill("0"), ...t];
  return groups.flatMap((g) => {
    const n = parseInt(g, 16);
    return [n >> 8, n & 0xff];
  });
}

/** A tiny authoritative DNS server on 127.0.0.1 (UDP) answering from `zone`. */
function dnsServer(zone: Zone) {
  const socket = Deno.listenDatagram({ hostname: "127.0.0.1", port: 0, transport: "udp" });
  const state = { mode: "ok" as "ok" | "servfail" | "drop", queries: [] as string[] };
  const loop = (async () => {
    for await (const [query, addr] of socket) {
      let off = 12;
      const labels: string[] = [];
      while (query[off]! !== 0) {
        const len = query[off]!;
        labels.push(new TextDecoder().decode(query.subarray(off + 1, off + 1 + len)));
        off += len + 1;
      }
      off++;
      const qtype = (query[off]! << 8) | query[off + 1]!;
      const qend = off + 4;
      const name = labels.join(".").toLowerCase();
      const typeName = (Object.keys(TYPES) as (keyof typeof TYPES)[]).find((k) =>
        TYPES[k] === qtype
      );
      state.queries.push(`${typeName ?? qtype} ${name}`);
      if (state.mode === "drop") continue;
      const answers: number[][] = [];
      if (state.mode === "ok" && typeName !== undefined) {
        for (const record of zone[typeName]?.[name] ?? []) {
          let rdata: number[];
          if (typeName === "A") rdata = (record as string).split(".").map(Number);
          else if (typeName === "AAAA") rdata = ipv6Bytes(record as string);
          else {
            const s = record as Srv;
            rdata = [
              s.priority >> 8,
              s.priority & 0xff,
              s.weight >> 8,
              s.weight & 0xff,
              s.port >> 8,
              s.port & 0xff,
              ...encodeName(s.target),
            ];
          }
          answers.push([
            0xc0,
            0x0c,
            0,
            qtype,
            0,
            1,
            0,
            0,
            0,
            60,
            rdata.length >> 8,
            rdata.length & 0xff,
            ...rdata,
          ]);
        }
      }
      const known = Object.values(zone).some((records) => name in (records ?? {}));
      const rcode = state.mode === "servfail" ? 2 : known ? 0 : 3;
      const header = [
        query[0]!,
        query[1]!,
        0x84 | (query[2]! & 0x01),
        0x80 | rcode,
        0,
        1,
        0,
        answers.length,
        0,
        0,
        0,
        0,
      ];
      const response = new Uint8Array([...header, ...query.subarray(12, qend), ...answers.flat()]);
      await socket.send(response, addr);
    }
  })();
  return {
    nameServer: { ipAddr: "127.0.0.1", port: (socket.addr as Deno.NetAddr).port },
    state,
    async [Symbol.asyncDispose]() {
      socket.close();
      await loop.catch(() => {});
    },
  };
}

const ZONE: Zone = {
  A: {
    "api.svc.test": ["127.0.0.1", "127.0.0.2"],
    "a.svc.test": ["127.0.0.11"],
    "b.svc.test": ["127.0.0.12"],
    "c.svc.test": ["127.0.0.13"],
  },
  AAAA: { "api.svc.test": ["::1"], "a.svc.test": [] },
  SRV: {
    "_http._tcp.api.svc.test": [
      { priority: 10, weight: 60, port: 18081, target: "a.svc.test." },
      { priority: 10, weight: 0, port: 18082, target: "b.svc.test." },
      { priority: 20, weight: 100, port: 18083, target: "c.svc.test." },
    ],
  },
};

Deno.test("DnsDiscovery against a local DNS server", async (t) => {
  await t.step("A+AAAA gives one backend per address", async () => {
    await using dns = dnsServer(ZONE);
    const discovery = new DnsDiscovery({
      name: "api.svc.test",
      port: 8080,
      weight: 2,
      nameServer: dns.nameServer,
    });
    const { backends } = await discovery.discover();
    assert.deepEqual(
      backends.map((b) => [b.address, b.weight]).sort(),
      [["127.0.0.1:8080", 2], ["127.0.0.2:8080", 2], ["[::1]:8080", 2]],
    );
  });

  await t.step("A only and AAAA only", async () => {
    await using dns = dnsServer(ZONE);
    for (
      const [recordType, expected] of [
        ["A", ["127.0.0.1:80", "127.0.0.2:80"]],
        ["AAAA", ["[::1]:80"]],
      ] as const
    ) {
      const discovery = new DnsDiscovery({
        name: "api.svc.test",
        port: 80,
        recordType,
        nameServer: dns.nameServer,
      });
      const { backends } = await discovery.discover();
      assert.deepEqual(backends.map((b) => b.address).sort(), expected);
    }
  });

  await t.step("SRV: lowest priority, ports and weights from the records", async () => {
    await using dns = dnsServer(ZONE);
    const discovery = new DnsDiscovery({
      name: "_http._tcp.api.svc.test",
      recordType: "SRV",
      nameServer: dns.nameServer,
    });
    const { backends } = await discovery.discover();
    assert.deepEqual(
      backends.map((b) => [b.address, b.weight, b.metadata.srvTarget]).sort(),
      [["127.0.0.11:18081", 60, "a.svc.test"], ["127.0.0.12:18082", 1, "b.svc.test"]],
    );
    const names = new DnsDiscovery({
      name: "_http._tcp.api.svc.test",
      recordType: "SRV",
      resolveSrvTargets: false,
      nameServer: dns.nameServer,
    });
    assert.deepEqual(
      (await names.discover()).backends.map((b) => b.address).sort(),
      ["a.svc.test:18081", "b.svc.test:18082"],
    );
  });

  await t.step(
    "SRV: a target that does not resolve is left out; none resolving fails",
    async () => {
      await using dns = dnsServer({
        A: { "a.svc.test": ["127.0.0.11"] },
        SRV: {
          "_http._tcp.api.svc.test": [
            { priority: 10, weight: 1, port: 18081, target: "a.svc.test." },
            { priority: 10, weight: 1, port: 18082, target: "gone.svc.test." },
          ],
          "_http._tcp.none.svc.test": [
            { priority: 10, weight: 1, port: 18082, target: "gone.svc.test." },
            { priority: 10, weight: 1, port: 18083, target: "lost.svc.test." },
          ],
        },
      });
      const some = new DnsDiscovery({
        name: "_http._tcp.api.svc.test",
        recordType: "SRV",
        nameServer: dns.nameServer,
      });
      assert.deepEqual((await some.discover()).backends.map((b) => b.address), [
        "127.0.0.11:18081",
      ]);
      const none = new DnsDiscovery({
        name: "_http._tcp.none.svc.test",
        recordType: "SRV",
        nameServer: dns.nameServer,
      });
      await assert.rejects(
        none.discover(),
        /no SRV target of "_http\._tcp\.none\.svc\.test" resolves \(gone\.svc\.test: .+; lost\.svc\.test: .+\)/,
      );
    },
  );

  await t.step("answers are reused for ttlMs, then asked again", async () => {
    await using dns = dnsServer(ZONE);
    let now = 0;
    const discovery = new DnsDiscovery({
      name: "api.svc.test",
      port: 80,
      recordType: "A",
      ttlMs: 30_000,
      now: () => now,
      nameServer: dns.nameServer,
    });
    await discovery.discover();
    const asked = dns.state.queries.length;
    now = 29_999;
    await discovery.discover();
    assert.equal(dns.state.queries.length, asked);
    assert.equal(discovery.refreshes, 1);
    now = 30_000;
    await discovery.discover();
    assert.equal(dns.state.queries.length, asked * 2);
    assert.equal(discovery.refreshes, 2);
  });

  await t.step("resolver failure keeps the last good answer and reports it", async () => {
    await using dns = dnsServer(ZONE);
    let now = 0;
    const errors: Error[] = [];
    const discovery = new DnsDiscovery({
      name: "api.svc.test",
      port: 80,
      recordType: "A",
      ttlMs: 1000,
      timeoutMs: 300,
      now: () => now,
      onError: (e) => errors.push(e),
      nameServer: dns.nameServer,
    });
    const good = await discovery.discover();
    for (const mode of ["servfail", "drop"] as const) {
      dns.state.mode = mode;
      now += 1000;
      const kept = await discovery.discover();
      assert.equal(kept, good, mode);
      assert.ok(discovery.lastError instanceof Error, mode);
    }
    assert.equal(errors.length, 2);
    dns.state.mode = "ok";
    now += 1; // a failed refresh does not extend the TTL: the next call asks again
    await discovery.discover();
    assert.equal(discovery.lastError, undefined);
    assert.equal(discovery.refreshes, 4);
  });

  await t.step("the first failure rejects; an unknown name is a failure", async () => {
    await using dns = dnsServer(ZONE);
    const discovery = new DnsDiscovery({
      name: "nope.svc.test",
      port: 80,
      nameServer: dns.nameServer,
    });
    await assert.rejects(discovery.discover());
  });

  await t.step("options are validated", () => {
    assert.throws(() => new DnsDiscovery({ name: "x.test", port: 0 }), RangeError);
    new DnsDiscovery({ name: "_x._tcp.x.test", recordType: "SRV" });
  });
});
