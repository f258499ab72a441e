// All-reduce bandwidth under mpirun: `mpirun -np 2 deno run -A scripts/mpi-allreduce-bench.ts [FLOATS] [BUCKET]`
// sums FLOATS f32 values (default 150 M, ViT-B/16's gradients) in place over the ranks, whole and in
// buckets of BUCKET floats (default 6.25 M = 25 MB, DDP's default bucket), and rank 0 prints the time
// and the bandwidths: algorithm (bytes / time) and bus (2(n-1)/n · bytes / time, what a ring moves
// per rank, comparable across world sizes).

import { initWorld } from "../lib/dist/mpi.ts";

const n = Number(Deno.args[0] ?? 150e6);
const bucket = Number(Deno.args[1] ?? 6.25e6);
const world = initWorld({ require: true });
const data = new Float32Array(n).fill(world.rank + 1);
const runs = 5;

/** Seconds of one all-reduce of the whole array in pieces of `parts` floats. */
async function once(parts: number): Promise<number> {
  await world.barrier();
  const t0 = performance.now();
  for (let o = 0; o < n; o += parts) await world.allreduceSum(data.subarray(o, Math.min(n, o + parts)));
  return (performance.now() - t0) / 1000;
}

await world.allreduceSum(data); // connections up, every page touched
// alternated, so a change in the machine's load falls on both alike; min and median of each
const times: Record<"whole" | "bucketed", number[]> = { whole: [], bucketed: [] };
for (let r = 0; r < runs; r++) {
  times.whole.push(await once(n));
  times.bucketed.push(await once(bucket));
}
if (world.rank === 0) {
  const bytes = n * 4, busFactor = 2 * (world.size - 1) / world.size;
  for (const [name, ts] of [["whole", times.whole], [`buckets of ${bucket}`, times.bucketed]] as const) {
    const sorted = [...ts].sort((a, b) => a - b);
    const [min, median] = [sorted[0], sorted[Math.floor(sorted.length / 2)]];
    console.log(
      `${world.size} ranks, ${n} floats (${(bytes / 1e6).toFixed(0)} MB), ${name}: min ${
        (min * 1000).toFixed(1)
      } ms ` +
        `(median ${(median * 1000).toFixed(1)}), algorithm ${(bytes / min / 1e9).toFixed(2)} GB/s, ` +
        `bus ${(busFactor * bytes / min / 1e9).toFixed(2)} GB/s`,
    );
  }
}
await world.finalize();
