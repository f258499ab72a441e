// The gradient exchange overlapped with the backward (GradientAverager.averageDuring, the plan in
// pieces) against the plain one after it, under mpirun -np 2 (tests/dist/overlap_rank.ts): bit for bit
// the same gradients, each element within 1e-6 relative of the float64 mean of the two ranks' own, on
// ranks given different data. Poisoned: every tensor's own gradient is checked to differ from the mean
// (a bucket skipped would leave one), a bucket reduced twice is twice the mean. Skipped, with the reason
// printed, where mpirun is missing.

import { assert } from "../data/assert.ts";
import { mpirun, mpirunMissing } from "./mpirun.ts";

const RANK = new URL("./overlap_rank.ts", import.meta.url).pathname;
const missing = await mpirunMissing();
if (missing) console.log(`tests/dist/overlap_test.ts: skipped: ${missing}`);

async function f32(path: string): Promise<Float32Array> {
  const b = await Deno.readFile(path);
  return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
}

Deno.test({
  name:
    "data-parallel overlap: bucketed exchange during the backward = plain average = float64 mean (2 ranks)",
  ignore: missing !== undefined,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "vifi-overlap-" });
    try {
      const r = await mpirun(2, RANK, [dir], { timeoutS: 240 });
      assert(r.code === 0 && !r.timedOut, `exit ${r.code}${r.timedOut ? " (timed out)" : ""}: ${r.err}`);
      assert(r.out.includes("ok rank 0 of 2") && r.out.includes("ok rank 1 of 2"), r.out);
      const names = JSON.parse(await Deno.readTextFile(`${dir}/names.json`)) as [string, number][];
      const g: Record<string, Float32Array> = {};
      for (const k of ["local", "plain", "small", "whole", "plain2", "small2"]) {
        g[k] = await f32(`${dir}/${k}.f32`);
      }
      const b = await Deno.readFile(`${dir}/mean.f64`);
      const mean = new Float64Array(b.buffer, b.byteOffset, b.byteLength / 8);
      const total = names.reduce((a, [, n]) => a + n, 0);
      for (const v of [...Object.values(g), mean]) {
        assert(v.length === total, `${v.length} of ${total} values`);
      }

      // the rank checked small/whole/small2 against plain/plain2 bit for bit; here again from the files
      for (const [k, ref] of [["small", "plain"], ["whole", "plain"], ["small2", "plain2"]]) {
        const a = new Uint32Array(g[k].buffer, g[k].byteOffset, total);
        const c = new Uint32Array(g[ref].buffer, g[ref].byteOffset, total);
        const i = a.findIndex((x, j) => x !== c[j]);
        assert(i < 0, `${k} differs from ${ref} at ${i}`);
      }
      let worst = 0, worstAt = "", o = 0, apart = Infinity, apartAt = "";
      for (const [name, n] of names) {
        let own = 0, norm = 0;
        for (let i = o; i < o + n; i++) {
          // (a + b)/2 in f32 is the exact mean rounded once (halving is exact): 6e-8 relative at most
          const e = Math.abs(g.plain[i] - mean[i]);
          assert(e <= 1e-6 * Math.abs(mean[i]), `${name}[${i - o}]: ${g.plain[i]} vs mean ${mean[i]}`);
          if (mean[i] !== 0 && e / Math.abs(mean[i]) > worst) {
            [worst, worstAt] = [e / Math.abs(mean[i]), name];
          }
          own += (g.local[i] - mean[i]) ** 2;
          norm += mean[i] ** 2;
        }
        // rank 0's own gradient is not the mean in any tensor: a bucket left unreduced would show
        const rel = Math.sqrt(own / Math.max(norm, 1e-300));
        if (rel < apart) [apart, apartAt] = [rel, name];
        o += n;
      }
      assert(
        apart > 1e-3,
        `rank 0's own gradient of ${apartAt} is within ${apart} of the mean: the test shows nothing`,
      );
      const moved = g.plain2.findIndex((v, i) => v !== g.plain[i]);
      assert(moved >= 0, "the second batch gave the same gradients: a stale bucket would not show");
      const buckets = JSON.parse(await Deno.readTextFile(`${dir}/buckets.json`));
      assert(
        buckets.small.count > 2 && buckets.small.pieces > 2,
        `64 KiB buckets: ${JSON.stringify(buckets)}`,
      );
      assert(buckets.whole.count === 1, `25 MiB buckets: ${JSON.stringify(buckets)}`);
      console.log(
        `${total} gradients in ${names.length} tensors: overlapped = plain bit for bit (${buckets.small.count} ` +
          `buckets in ${buckets.small.pieces} pieces of ${buckets.commands} commands, and 1), ${
            worst.toExponential(2)
          } from the float64 mean at worst (${worstAt}); own gradients ≥ ${apart.toFixed(3)} from it ` +
          `(${apartAt}); mpirun ${r.seconds.toFixed(1)} s`,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
