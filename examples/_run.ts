/**
 * Runs an example program as a subprocess (bounded to 30 s) for its test.
 *
 * @module
 */

/** Runs `examples/<name>` with `deno run -A`; returns exit code and output. */
export async function runExample(
  name: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const script = new URL(`./${name}`, import.meta.url).pathname;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", script],
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(30_000),
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}
