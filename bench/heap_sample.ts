// deno run -A bench/heap_sample.ts <inspector ws url> <seconds> [top=30]
/**
 * Samples allocations (including objects a GC already collected) of a process
 * started with `--inspect`, for the given seconds, and prints the top
 * allocating frames. Diagnostic aid for the hot-path work; see bench/README.md.
 *
 * @module
 */

interface HeapNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: HeapNode[];
}

const [url, secsArg = "3", topArg = "30"] = Deno.args;
if (url === undefined) throw new Error("Cannot sample: no inspector URL given");
const ws = new WebSocket(url);
await new Promise((r) => ws.onopen = r);
let id = 0;
const pending = new Map<number, (v: unknown) => void>();
ws.onmessage = (e) => {
  const m = JSON.parse(e.data as string) as { id?: number; result?: unknown };
  if (m.id !== undefined) pending.get(m.id)?.(m.result);
};
const call = (method: string, params: unknown = {}) =>
  new Promise<unknown>((r) => {
    pending.set(++id, r);
    ws.send(JSON.stringify({ id, method, params }));
  });
await call("HeapProfiler.enable");
await call("HeapProfiler.startSampling", {
  samplingInterval: 1024,
  includeObjectsCollectedByMajorGC: true,
  includeObjectsCollectedByMinorGC: true,
});
await new Promise((r) => setTimeout(r, Number(secsArg) * 1000));
const res = await call("HeapProfiler.stopSampling") as { profile: { head: HeapNode } };
ws.close();
const self = new Map<string, number>();
let total = 0;
const walk = (n: HeapNode) => {
  const f = n.callFrame;
  const k = `${f.functionName || "(anonymous)"} ${f.url.replace(/^.*\//, "")}:${f.lineNumber + 1}`;
  self.set(k, (self.get(k) ?? 0) + n.selfSize);
  total += n.selfSize;
  for (const c of n.children) walk(c);
};
walk(res.profile.head);
console.log(`total sampled: ${(total / 1e6).toFixed(1)} MB`);
for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, Number(topArg))) {
  console.log(
    `${(100 * v / total).toFixed(1).padStart(5)}%  ${(v / 1e6).toFixed(1).padStart(7)} MB  ${k}`,
  );
}
