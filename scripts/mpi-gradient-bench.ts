// The whole gradient exchange of a data-parallel step, as GradientAverager does it:
// `mpirun -np 2 deno run -A scripts/mpi-gradient-bench.ts [FLOATS] [TENSORS]` makes TENSORS parameters
// holding FLOATS floats in all (default 150 M in 200, about ViT-B/16's gradients) and times average():
// copies into one device buffer, one read, the all-reduce, one write, copies back. Rank 0 prints the
// total, and alone: the all-reduce, one device→host read and one host→device write of that size.

import { Param } from "../lib/autograd/tape.ts";
import { initWorld } from "../lib/dist/mpi.ts";
import { getRuntime } from "../lib/gpu/runtime.ts";
import { Tensor } from "../lib/tensor/tensor.ts";
import { GradientAverager } from "../lib/train/data-parallel.ts";

const n = Number(Deno.args[0] ?? 150e6);
const count = Number(Deno.args[1] ?? 200);
const world = initWorld({ require: true });
const rt = await getRuntime();
const per = Math.floor(n / count);
const params = Array.from({ length: count }, (_, i) => {
  const p = new Param(Tensor.zeros(rt, [per], "f32", `p${i}`), true, `p${i}`);
  p.gradBuffer();
  return p;
});
const averager = new GradientAverager(rt, params, world);
await averager.average(); // buffers made, connections up
const host = new Float32Array(averager.length);
const flat = Tensor.zeros(rt, [averager.length], "f32", "bench flat");
const total: number[] = [], reduce: number[] = [], down: number[] = [], up: number[] = [];
for (let r = 0; r < 3; r++) {
  await world.barrier();
  let t0 = performance.now();
  await averager.average();
  await rt.sync();
  total.push(performance.now() - t0);
  await world.barrier();
  t0 = performance.now();
  await world.allreduceSum(host);
  reduce.push(performance.now() - t0);
  t0 = performance.now();
  await rt.read(flat.buffer, 0, averager.length * 4);
  down.push(performance.now() - t0);
  t0 = performance.now();
  rt.write(flat.buffer, host);
  await rt.sync();
  up.push(performance.now() - t0);
}
flat.dispose();
if (world.rank === 0) {
  const min = (a: number[]) => Math.min(...a).toFixed(0);
  console.log(
    `${world.size} ranks, ${count} tensors, ${averager.length} floats (${
      (averager.length * 4 / 1e6).toFixed(0)
    } MB), ` +
      `adapter ${rt.gpu.info.description || rt.gpu.info.vendor}: average() ${
        min(total)
      } ms, of which the all-reduce alone ${min(reduce)} ms, ` +
      `one read ${min(down)} ms, one write ${min(up)} ms`,
  );
}
averager.dispose();
await world.finalize();
