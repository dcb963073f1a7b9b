// deno run -A bench/prof_top.ts <file.cpuprofile> [top=25] [--kinds] [--from=s] [--to=s]
/**
 * Prints the top self-time frames of a V8 CPU profile (`deno run --cpu-prof`)
 * as a markdown table, e.g. one written by
 * `deno task bench:proxy --quick --only=cirque-h1 --groups=h1 --profile=cirque-h1`
 * into `bench/scratch/prof/`.
 *
 * `--kinds` groups the frames by layer instead: V8's own entries (`(idle)`,
 * `(garbage collector)`, `(program)`), ops, Deno's JavaScript (`ext:`), the
 * program's own code (`file:`). `--from`/`--to` keep only the samples taken
 * that many seconds after the profile started, e.g. the window of a load run.
 *
 * @module
 */

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
}

const flags = Deno.args.filter((a) => a.startsWith("--"));
const [file, topArg = "25"] = Deno.args.filter((a) => !a.startsWith("--"));
if (file === undefined) throw new Error("Cannot profile: no .cpuprofile file given");
const flag = (name: string) => flags.find((f) => f.startsWith(`--${name}`))?.split("=")[1];
const kinds = flags.includes("--kinds");
const from = Number(flag("from") ?? 0) * 1e6;
const to = Number(flag("to") ?? Infinity) * 1e6;
const prof = JSON.parse(Deno.readTextFileSync(file)) as Profile;
const byId = new Map(prof.nodes.map((n) => [n.id, n]));

/** The layer a frame belongs to. */
function kind(f: Node["callFrame"]): string {
  if (f.functionName.startsWith("(")) return f.functionName;
  if (f.functionName.startsWith("op_")) return "ops";
  if (f.url.startsWith("ext:")) return "Deno's JavaScript (ext:)";
  if (f.url.startsWith("file:")) return "own code (file:)";
  return "other";
}

const self = new Map<string, number>();
let total = 0;
let t = 0;
for (let i = 0; i < prof.samples.length; i++) {
  const n = byId.get(prof.samples[i]!)!;
  const dt = prof.timeDeltas[i] ?? 0;
  t += dt;
  if (t < from || t > to) continue;
  const f = n.callFrame;
  const url = f.url.replace(/^.*\//, "");
  const key = kinds
    ? kind(f)
    : `${f.functionName || "(anonymous)"} ${url}${url ? ":" + (f.lineNumber + 1) : ""}`;
  self.set(key, (self.get(key) ?? 0) + dt);
  total += dt;
}
const rows = [...self].sort((a, b) => b[1] - a[1]).slice(0, Number(topArg));
console.log(`| self % | ${kinds ? "layer" : "frame"} |\n|---|---|`);
for (const [k, v] of rows) console.log(`| ${(100 * v / total).toFixed(1)} | \`${k.trim()}\` |`);
