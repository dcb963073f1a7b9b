// deno run -A bench/instr_top.ts <callgrind.out> <perf map> <requests> [top=30]
/**
 * Top frames by instructions per request from a callgrind dump of a Deno
 * process started with `--v8-flags=--perf-basic-prof` (bench/instr.sh does
 * both): self cost per function, JIT code and V8's builtins named through
 * V8's perf map (the latest entry covering an address wins, since code space
 * is reused; builtins at callgrind's address plus valgrind's load offset), then
 * the totals of our code, Deno's JavaScript, V8's builtins and the binary
 * (Rust, V8's C++ runtime and GC, tokio; stripped, so shown by address).
 * Diagnostic aid for the hot-path work; see bench/README.md.
 *
 * @module
 */

const [dumpPath, mapPath, requestsArg, topArg = "30"] = Deno.args;
if (dumpPath === undefined || mapPath === undefined || requestsArg === undefined) {
  throw new Error("Usage: instr_top.ts <callgrind.out> <perf map> <requests> [top]");
}
const requests = Number(requestsArg);

interface Code {
  start: number;
  end: number;
  name: string;
  order: number;
}
// V8's embedded builtins live in the binary; the perf map gives their run-time
// addresses, while callgrind names code in a stripped binary by its address
// relative to where valgrind loaded it (0x108000 for a PIE). So JIT code and
// builtins are looked up in two tables, builtins after adding that offset,
// which is found below from the builtins' entry points.
const jit: Code[] = [];
const embedded: Code[] = [];
for (const line of Deno.readTextFileSync(mapPath).split("\n")) {
  const a = line.indexOf(" ");
  const b = line.indexOf(" ", a + 1);
  if (a < 0 || b < 0) continue;
  const start = parseInt(line.slice(0, a), 16);
  const name = line.slice(b + 1).replace(/ (file|ext):\S*\//, " ");
  const table = /^(Builtin|BytecodeHandler):/.test(name) ? embedded : jit;
  table.push({ start, end: start + parseInt(line.slice(a + 1, b), 16), name, order: table.length });
}
jit.sort((x, y) => x.start - y.start);
embedded.sort((x, y) => x.start - y.start);

/** The latest entry of `codes` covering `addr`, or null. */
function codeAt(codes: Code[], addr: number): string | null {
  let lo = 0;
  let hi = codes.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (codes[mid]!.start <= addr) lo = mid + 1;
    else hi = mid;
  }
  let best: Code | null = null;
  // Entries overlap only where code was replaced; none is larger than a few MB.
  for (let i = lo - 1; i >= 0 && codes[i]!.start > addr - 4_000_000; i--) {
    const c = codes[i]!;
    if (addr < c.end && (best === null || c.order > best.order)) best = c;
  }
  return best?.name ?? null;
}

/**
 * The distance from callgrind's addresses to the perf map's for builtins: the
 * difference that makes the most of callgrind's function addresses land
 * exactly on a builtin's first byte (0 when none stands out).
 */
function builtinOffset(addrs: number[]): number {
  const starts = new Set(embedded.map((c) => c.start));
  const lo = embedded[0]?.start ?? 0;
  const hi = embedded.at(-1)?.end ?? 0;
  const votes = new Map<number, number>();
  for (const a of addrs) {
    // Only addresses within 64 MiB below the builtins can be theirs.
    if (a > hi || a < lo - 0x4000000) continue;
    for (const s of starts) {
      if (s >= a && s - a < 0x4000000) votes.set(s - a, (votes.get(s - a) ?? 0) + 1);
    }
  }
  let best = 0;
  let bestVotes = 10;
  for (const [d, n] of votes) if (n > bestVotes) [best, bestVotes] = [d, n];
  return best;
}

// callgrind's format: `fn=(id) name` (the name only the first time an id
// appears, also via cfn=), `ob=(id) object` likewise; cost lines follow; the
// cost line after `calls=` is the callee's inclusive cost, not self cost.
const fnNames = new Map<string, string>();
const obNames = new Map<string, string>();
const self = new Map<string, number>();
let current = "";
let object = "";
let afterCalls = false;
const compressed = /^(fn|cfn|ob|cob)=\((\d+)\)(?: (.*))?$/;
for (const line of Deno.readTextFileSync(dumpPath).split("\n")) {
  const m = compressed.exec(line);
  if (m !== null) {
    const [, kind, id, name] = m;
    const table = kind === "ob" || kind === "cob" ? obNames : fnNames;
    if (name !== undefined) {
      table.set(id!, kind === "fn" || kind === "cfn" ? `${name}\t${object}` : name);
    }
    if (kind === "ob") object = (obNames.get(id!) ?? "").replace(/^.*\//, "");
    if (kind === "fn") {
      current = fnNames.get(id!) ?? "";
      afterCalls = false;
    }
    continue;
  }
  if (line.startsWith("calls=")) {
    afterCalls = true;
    continue;
  }
  const c = line.charCodeAt(0);
  if ((c >= 48 && c <= 57) || c === 43 || c === 45 || c === 42) {
    if (afterCalls) {
      afterCalls = false;
      continue;
    }
    const cost = Number(line.slice(line.indexOf(" ") + 1).split(" ")[0]);
    self.set(current, (self.get(current) ?? 0) + cost);
  }
}

const hexOf = (fn: string | undefined) => {
  const hex = /^0x([0-9a-f]+)$/.exec(fn ?? "");
  return hex === null ? -1 : parseInt(hex[1]!, 16);
};
const offset = builtinOffset(
  [...self.keys()].map((k) => hexOf(k.split("\t")[0])).filter((a) => a >= 0),
);
const byName = new Map<string, number>();
let total = 0;
for (const [key, cost] of self) {
  const [fn, ob] = key.split("\t");
  const addr = hexOf(fn);
  const name = addr >= 0
    ? codeAt(jit, addr) ?? codeAt(embedded, addr + offset) ?? `${ob || "?"} ${fn}`
    : `${fn} (${ob})`;
  byName.set(name, (byName.get(name) ?? 0) + cost);
  total += cost;
}

function kind(name: string): string {
  if (name.startsWith("JS:")) {
    return /file:|\.ts:/.test(name) ? "our JavaScript" : "Deno's JavaScript";
  }
  if (name.startsWith("Builtin:") || name.startsWith("BytecodeHandler:")) return "V8 builtins";
  if (name.startsWith("deno ")) return "binary: Rust, V8 runtime and GC, tokio";
  return "libraries and other";
}
const per = (n: number) => Math.round(n / requests).toLocaleString("en").padStart(9);
console.log(`${per(total)}  instructions per request in all\n`);
for (const [name, cost] of [...byName].sort((a, b) => b[1] - a[1]).slice(0, Number(topArg))) {
  console.log(`${per(cost)}  ${(100 * cost / total).toFixed(1).padStart(5)}%  ${name}`);
}
const kinds = new Map<string, number>();
for (const [name, cost] of byName) kinds.set(kind(name), (kinds.get(kind(name)) ?? 0) + cost);
console.log("");
for (const [k, cost] of [...kinds].sort((a, b) => b[1] - a[1])) {
  console.log(`${per(cost)}  ${(100 * cost / total).toFixed(1).padStart(5)}%  ${k}`);
}
