// Test origins for the connector tests: a raw TCP origin that can misbehave on
// purpose, and certificates generated with the openssl CLI.

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A raw origin: `handler` owns each accepted connection. */
export interface RawOrigin extends AsyncDisposable {
  port: number;
  /** Connections accepted so far. */
  accepted(): number;
  /** Resolves when the `n`-th accepted connection (1-based) has been closed by the peer or the handler. */
  closedCount(): number;
  /** Resolves when closedCount() reaches n; rejects if it has not after 10 s. */
  waitClosed(n: number): Promise<void>;
}

export function rawOrigin(
  handler: (conn: Deno.Conn, index: number) => Promise<void>,
): RawOrigin {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  let accepted = 0;
  let closed = 0;
  const waiters: { n: number; resolve: () => void }[] = [];
  const tasks = new Set<Promise<void>>();
  const loop = (async () => {
    try {
      for await (const c of listener) {
        conns.add(c);
        const i = accepted++;
        const task = handler(c, i).catch(() => {}).finally(() => {
          try {
            c.close();
          } catch { /* closed */ }
          conns.delete(c);
          closed++;
          for (const w of waiters.splice(0)) {
            if (closed >= w.n) w.resolve();
            else waiters.push(w);
          }
          tasks.delete(task);
        });
        tasks.add(task);
      }
    } catch { /* listener closed */ }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    accepted: () => accepted,
    closedCount: () => closed,
    waitClosed(n) {
      if (closed >= n) return Promise.resolve();
      // Bounded: a connection that is never closed fails the test instead of hanging it.
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          const i = waiters.findIndex((w) => w.resolve === done);
          if (i >= 0) waiters.splice(i, 1);
          reject(new Error(`waitClosed(${n}): ${closed} connection(s) closed after 10 s`));
        }, 10_000);
        const done = () => {
          clearTimeout(timer);
          resolve();
        };
        waiters.push({ n, resolve: done });
      });
    },
    async [Symbol.asyncDispose]() {
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch { /* closed */ }
      }
      await loop;
      await Promise.all([...tasks]);
    },
  };
}

/** Reads one request head (and a Content-Length body) from `conn`; null at EOF. */
export async function readRequest(
  conn: Deno.Conn,
  state: { buf: Uint8Array; len: number } = { buf: new Uint8Array(1 << 16), len: 0 },
): Promise<{ head: string; body: Uint8Array } | null> {
  for (;;) {
    const text = dec.decode(state.buf.subarray(0, state.len));
    const i = text.indexOf("\r\n\r\n");
    if (i >= 0) {
      const head = text.slice(0, i);
      const m = /content-length:\s*(\d+)/i.exec(head);
      const cl = m ? Number(m[1]) : 0;
      const total = i + 4 + cl;
      while (state.len < total) {
        const n = await conn.read(state.buf.subarray(state.len));
        if (n === null) return null;
        state.len += n;
      }
      const body = state.buf.slice(i + 4, total);
      state.buf.copyWithin(0, total, state.len);
      state.len -= total;
      return { head, body };
    }
    const n = await conn.read(state.buf.subarray(state.len));
    if (n === null) return null;
    state.len += n;
  }
}

export async function writeAll(conn: Deno.Conn, data: string | Uint8Array): Promise<void> {
  const b = typeof data === "string" ? enc.encode(data) : data;
  let n = 0;
  while (n < b.length) n += await conn.write(b.subarray(n));
}

/**
 * Wraps a socket so that each write waits `delayMs` and then writes at most
 * `chunk` bytes: an upstream that reads slowly but steadily.
 */
export function throttleWrites(conn: Deno.Conn, chunk: number, delayMs: number): Deno.Conn {
  const wrapped = {
    read: (b: Uint8Array) => conn.read(b),
    async write(b: Uint8Array) {
      await new Promise((r) => setTimeout(r, delayMs));
      return await conn.write(b.subarray(0, chunk));
    },
    close: () => conn.close(),
    closeWrite: () => conn.closeWrite(),
    ref: () => conn.ref(),
    unref: () => conn.unref(),
    get localAddr() {
      return conn.localAddr;
    },
    get remoteAddr() {
      return conn.remoteAddr;
    },
  };
  return wrapped as unknown as Deno.Conn;
}

/** Answers every request on a connection with `response(head)` until EOF. */
export function serveRaw(
  response: (head: string, index: number) => string | Uint8Array,
): (conn: Deno.Conn, index: number) => Promise<void> {
  return async (conn, index) => {
    const st = { buf: new Uint8Array(1 << 16), len: 0 };
    for (;;) {
      const req = await readRequest(conn, st);
      if (req === null) return;
      await writeAll(conn, response(req.head, index));
    }
  };
}

export interface Certs {
  ca: string;
  server: { cert: string; key: string };
  other: { cert: string; key: string };
  client: { cert: string; key: string };
}

async function openssl(dir: string, ...args: string[]): Promise<void> {
  const out = await new Deno.Command("openssl", { args, cwd: dir, stdout: "null", stderr: "piped" })
    .output();
  if (!out.success) throw new Error(`openssl ${args.join(" ")}: ${dec.decode(out.stderr)}`);
}

/** A CA and three CA-signed leaves (basicConstraints=CA:FALSE), made with openssl in a temp dir. */
export async function makeCerts(): Promise<Certs> {
  const dir = await Deno.makeTempDir({ prefix: "cirque-certs-" });
  try {
    const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    await openssl(
      dir,
      "req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
      "-subj", "/CN=cirque test CA",
      "-addext", "basicConstraints=critical,CA:TRUE",
      "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    );
    const leaf = async (name: string, cn: string, ext: string) => {
      await Deno.writeTextFile(`${dir}/${name}.ext`, `basicConstraints=critical,CA:FALSE\n${ext}\n`);
      await openssl(dir, "req", ...ec, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${cn}`);
      await openssl(
        dir,
        "x509", "-req", "-in", `${name}.csr`, "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", `${name}.crt`, "-days", "2", "-extfile", `${name}.ext`,
      );
      return {
        cert: await Deno.readTextFile(`${dir}/${name}.crt`),
        key: await Deno.readTextFile(`${dir}/${name}.key`),
      };
    };
    const server = await leaf(
      "server",
      "localhost",
      "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth",
    );
    const other = await leaf("other", "other.test", "subjectAltName=DNS:other.test\nextendedKeyUsage=serverAuth");
    const client = await leaf("client", "client1", "extendedKeyUsage=clientAuth");
    return { ca: await Deno.readTextFile(`${dir}/ca.crt`), server, other, client };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * Bytes of a deterministic pseudo-random stream, `total` long, in
 * `chunk`-sized pieces; another `seed` gives other bytes.
 */
export function patternStream(
  total: number,
  chunk = 65536,
  seed = 0x12345678,
): ReadableStream<Uint8Array> {
  let sent = 0;
  let x = seed;
  return new ReadableStream<Uint8Array>({
    pull(c) {
      if (sent >= total) {
        c.close();
        return;
      }
      const n = Math.min(chunk, total - sent);
      const b = new Uint8Array(n);
      for (let i = 0; i < n; i += 4) {
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        b[i] = x;
        b[i + 1] = x >>> 8;
        b[i + 2] = x >>> 16;
        b[i + 3] = x >>> 24;
      }
      sent += n;
      c.enqueue(b);
    },
  }, { highWaterMark: 0 });
}

/** SHA-256 (hex) of a stream, computed incrementally with node:crypto. */
export async function sha256(stream: ReadableStream<Uint8Array>): Promise<{ hex: string; bytes: number }> {
  const { createHash } = await import("node:crypto");
  const h = createHash("sha256");
  let bytes = 0;
  for await (const c of stream) {
    h.update(c);
    bytes += c.length;
  }
  return { hex: h.digest("hex"), bytes };
}
