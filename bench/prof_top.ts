// deno run -A bench/prof_top.ts <file.cpuprofile> [top=25]
/**
 * Prints the top self-time frames of a V8 CPU profile (`deno run --cpu-prof`)
 * as a markdown table, e.g. one written by
 * `deno task bench:proxy --quick --only=cirque-h1 --groups=h1 --profile=cirque-h1`
 * into `bench/scratch/prof/`.
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

const [file, topArg = "25"] = Deno.args;
if (file === undefined) throw new Error("Cannot profile: no .cpuprofile file given");
const prof = JSON.parse(Deno.readTextFileSync(file)) as Profile;
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const self = new Map<string, number>();
let total = 0;
for (let i = 0; i < prof.samples.length; i++) {
  const n = byId.get(prof.samples[i]!)!;
  const dt = prof.timeDeltas[i] ?? 0;
  const f = n.callFrame;
  const url = f.url.replace(/^.*\//, "");
  const key = `${f.functionName || "(anonymous)"} ${url}${url ? ":" + (f.lineNumber + 1) : ""}`;
  self.set(key, (self.get(key) ?? 0) + dt);
  total += dt;
}
const rows = [...self].sort((a, b) => b[1] - a[1]).slice(0, Number(topArg));
console.log(`| self % | frame |\n|---|---|`);
for (const [k, v] of rows) console.log(`| ${(100 * v / total).toFixed(1)} | \`${k.trim()}\` |`);
