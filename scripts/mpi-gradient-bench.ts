// The gradient exchange of a data-parallel ViT-B/16 step and its share of the step, in one command:
//   mpirun -np 2 deno run -A scripts/mpi-gradient-bench.ts [FRAMES] [TENSORS] [ARCH]
// 1. Rank 0 times one compiled ViFi-CLIP ViT-B/16 training step (both towers + AdamW, f32, 1 video ×
//    FRAMES frames, default 2; 0 skips it) before MPI is initialised, while the other ranks wait in
//    MPI_Init without spinning: a rank's GPU is its own on a real node, so the step is timed without the
//    others' load. Its trainable parameters give the gradient count (else 150 M).
// 2. The all-reduce alone of that many f32 on the host (min and median of 5): time, algorithm bandwidth
//    (bytes / time) and bus bandwidth (2(W−1)/W · bytes / time, NCCL-tests' busbw: what each rank's link
//    carries in a ring, comparable across world sizes).
// 3. GradientAverager.average() over TENSORS (default 200) parameters holding them: the whole exchange
//    (copies into one buffer, one device→host read, the all-reduce, one write, copies back), and alone
//    one read and one write of that size.
// Rank 0 prints each, the share of a step the exchange takes (exchange / (step + exchange): nothing
// overlapped), the machine's load average before and after, and one JSON line of it all.

import { Param } from "../lib/autograd/tape.ts";
import { checkGpusPerRank, launchFromEnv } from "../lib/dist/launch.ts";
import { initWorld } from "../lib/dist/mpi.ts";
import { getRuntime, type Runtime } from "../lib/gpu/runtime.ts";
import { clipConfig } from "../lib/models/config.ts";
import { Tensor } from "../lib/tensor/tensor.ts";
import { GradientAverager } from "../lib/train/data-parallel.ts";
import { disposeModelBench, modelBench, trainStepRow } from "../lib/cli/bench/model.ts";

const frames = Number(Deno.args[0] ?? 2);
const tensors = Number(Deno.args[1] ?? 200);
/** the model whose step is timed: ViT-B/16, or a smaller config ("tiny") to try the script out */
const arch = (Deno.args[2] ?? "ViT-B/16") as Parameters<typeof clipConfig>[0];
const rt = await getRuntime();
const load = () => Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");
const loadBefore = load();

const sorted = (a: number[]) => [...a].sort((x, y) => x - y);
const stats = (a: number[]) => ({ min: sorted(a)[0], median: sorted(a)[Math.floor(a.length / 2)] });

/**
 * Rank 0's step time (ms) and the model's trainable float count, measured BEFORE MPI is initialised:
 * the other ranks meanwhile wait in MPI_Init, which sleeps between polls (an MPI barrier would spin on
 * a core that the step needs here; on a real node each rank has its own GPU and cores).
 */
async function stepOnRankZero(rt: Runtime): Promise<{ ms: number; floats: number }> {
  const m = modelBench(rt, clipConfig(arch), { B: 1, T: frames, C: 8, shape: `${arch} 1x${frames}` });
  try {
    const row = await trainStepRow(m, 1, true);
    const floats = m.model.trainable().reduce((s, p) => s + p.value.shape.reduce((a, b) => a * b, 1), 0);
    return { ms: row.ms, floats };
  } finally {
    disposeModelBench(m);
  }
}

const result = Float64Array.of(NaN, 150e6);
if (frames > 0 && launchFromEnv().rank === 0) {
  const s = await stepOnRankZero(rt);
  result.set([s.ms, s.floats]);
}
const world = initWorld({ require: true });
await world.broadcast(result, 0);
await checkGpusPerRank(world, rt.gpu.info);
const step = { ms: result[0], floats: result[1] };
const n = step.floats;

// 2. the all-reduce alone, on host memory
const data = new Float32Array(n).fill(world.rank + 1);
await world.allreduceSum(data); // connections up, every page touched
const reduceRuns: number[] = [];
for (let r = 0; r < 5; r++) {
  await world.barrier();
  const t0 = performance.now();
  await world.allreduceSum(data);
  reduceRuns.push(performance.now() - t0);
}

// 3. the whole exchange, and its transfers alone
const per = Math.floor(n / tensors);
const params = Array.from({ length: tensors }, (_, i) => {
  const len = i === tensors - 1 ? n - per * (tensors - 1) : per;
  const p = new Param(Tensor.zeros(rt, [len], "f32", `p${i}`), true, `p${i}`);
  p.gradBuffer();
  return p;
});
const averager = new GradientAverager(rt, params, world);
await averager.average(); // buffers made
const flat = Tensor.zeros(rt, [n], "f32", "bench flat");
const total: number[] = [], down: number[] = [], up: number[] = [];
for (let r = 0; r < 3; r++) {
  await world.barrier();
  let t0 = performance.now();
  await averager.average();
  await rt.sync();
  total.push(performance.now() - t0);
  t0 = performance.now();
  await rt.read(flat.buffer, 0, n * 4);
  down.push(performance.now() - t0);
  t0 = performance.now();
  rt.write(flat.buffer, data);
  await rt.sync();
  up.push(performance.now() - t0);
}
flat.dispose();
averager.dispose();
for (const p of params) p.dispose();

if (world.rank === 0) {
  const W = world.size, bytes = n * 4;
  const ar = stats(reduceRuns), avg = stats(total);
  const s = ar.min / 1000;
  const algbw = bytes / s / 1e9, busbw = 2 * (W - 1) / W * bytes / s / 1e9;
  const f = (ms: number) => ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(0)} ms`;
  const pct = (part: number) => `${(100 * part / (step.ms + part)).toFixed(1)} %`;
  console.log(
    `${W} ranks, ${n} floats (${
      (bytes / 1e6).toFixed(0)
    } MB), adapter ${rt.gpu.info.description}, load ${loadBefore}`,
  );
  if (frames > 0) {
    console.log(`${arch} training step, 1 video × ${frames} frames, rank 0 alone: ${f(step.ms)}`);
  }
  console.log(
    `all-reduce: min ${f(ar.min)} (median ${f(ar.median)}), algorithm ${algbw.toFixed(2)} GB/s, ` +
      `bus ${busbw.toFixed(2)} GB/s`,
  );
  console.log(
    `average(): min ${f(avg.min)} (median ${f(avg.median)}), of which alone one read ${
      f(stats(down).min)
    }, ` +
      `one write ${f(stats(up).min)}`,
  );
  if (frames > 0) {
    console.log(
      `share of a step (exchange / (step + exchange)): average() ${pct(avg.min)}, all-reduce alone ${
        pct(ar.min)
      }`,
    );
  }
  console.log(`load average after: ${load()}`);
  console.log(JSON.stringify({
    ranks: W,
    floats: n,
    arch,
    frames,
    step_ms: step.ms,
    allreduce_ms: ar,
    algbw_gbs: algbw,
    busbw_gbs: busbw,
    average_ms: avg,
    read_ms: stats(down).min,
    write_ms: stats(up).min,
    load_before: loadBefore,
    load_after: load(),
  }));
}
await world.finalize();
