// What one rank runs for tests/dist/overlap_test.ts under `mpirun -np 2`: the tiny ViFi-CLIP's compiled
// "gradients" plan on this rank's own 4 videos of a global batch of 8 (different data on each rank), its
// gradients zeroed before each run (the plan accumulates into them), then
//   local: the rank's own gradients (the plan alone);
//   plain: the plan, then GradientAverager.average() (after the backward);
//   small: averageDuring(plan) with 64 KiB buckets (many buckets, the plan in many pieces);
//   whole: averageDuring(plan) with the default 25 MiB buckets (the tiny model: one bucket);
//   plain2, small2: both again on other frames (the buckets' staging buffers reused: a stale one shows);
//   then small2 again with +∞ added to one gradient on rank 1: +∞ there on every rank, the rest as before.
// Each rank checks that every overlapped result is its plain one, bit for bit. Rank 0 writes
// OUT/<name>.f32 for each, OUT/mean.f64 (the float64 mean of the ranks' own gradients), OUT/names.json
// ([name, length] of each trainable tensor, in name order) and OUT/buckets.json.

import { initWorld } from "../../lib/dist/mpi.ts";
import { getRuntime } from "../../lib/gpu/runtime.ts";
import { initClipWeights } from "../../lib/models/config.ts";
import { ViFiClip } from "../../lib/models/vifi.ts";
import { Rng } from "../../lib/random/rng.ts";
import { broadcastWeights, GradientAverager } from "../../lib/train/data-parallel.ts";
import { AdamW } from "../../lib/train/optimizer.ts";
import { CompiledStep } from "../../lib/train/step.ts";
import { flatTrainable, GLOBAL, PER, rankBatch, stepBatch, tiny } from "./tiny_ranks.ts";

const out = Deno.args[0];
const world = initWorld({ require: true });
const rt = await getRuntime();
const B = GLOBAL / world.size;

const weights = initClipWeights(tiny, 100 + world.rank);
await broadcastWeights(world, weights);
const model = ViFiClip.fromWeights(rt, tiny, weights, "both");
const opt = new AdamW(model.trainable(), { weightDecay: 0.001 });
// this rank's rows of one global batch: different data on each rank, so averaging changes things
const batch = stepBatch(rt, rankBatch(world, 0));
const step = await CompiledStep.compile(model, opt, batch, 1e-3, undefined, { parts: "gradients" });
const trainable = [...model.clip.params].filter(([, p]) => p.trainable).sort(([a], [b]) => (a < b ? -1 : 1));

/** Zeroed gradients (the plan accumulates into them), then `run`, then the gradients. */
async function after(run: () => void | Promise<void>): Promise<Float32Array> {
  for (const [, p] of trainable) p.zeroGrad();
  await run();
  return (await flatTrainable(model, "grad"))[0];
}

const plain = new GradientAverager(rt, opt.params, world, { overlap: false });
const small = new GradientAverager(rt, opt.params, world, { overlap: true, bucketBytes: 64 << 10 });
const whole = new GradientAverager(rt, opt.params, world, { overlap: true });
const got: Record<string, Float32Array> = {};
got.local = await after(() => step.plan.run());
got.plain = await after(async () => {
  step.plan.run();
  await plain.average();
});
got.small = await after(() => small.averageDuring(step.plan));
got.whole = await after(() => whole.averageDuring(step.plan));
const mean = Float64Array.from(got.local);
rt.write(batch.frames.buffer, Float32Array.from(new Rng(2000 + world.rank).normals(B * PER)));
got.plain2 = await after(async () => {
  step.plan.run();
  await plain.average();
});
got.small2 = await after(() => small.averageDuring(step.plan));
// mixed precision's overflow: +∞ in one gradient on rank 1 alone must reach every rank (the sum), the
// rest unchanged; element 3 of the first tensor in name order, the plan adding to it
const inf = await after(() => {
  if (world.rank === 1) rt.write(trainable[0][1].gradBuffer().buffer, Float32Array.of(Infinity), 12);
  return small.averageDuring(step.plan);
});
for (let i = 0; i < inf.length; i++) {
  const want = i === 3 ? Infinity : got.plain2[i];
  if (!Object.is(inf[i], want)) {
    throw new Error(`rank ${world.rank}: with +∞ on rank 1, [${i}] is ${inf[i]}, not ${want}`);
  }
}
for (const [k, ref] of [["small", "plain"], ["whole", "plain"], ["small2", "plain2"]]) {
  const a = new Uint32Array(got[k].buffer), b = new Uint32Array(got[ref].buffer);
  const i = a.findIndex((x, j) => x !== b[j]);
  // with 2 ranks each sum is one addition of the same two floats, whatever the pieces: the same bits
  if (i >= 0) {
    throw new Error(`rank ${world.rank}: ${k} differs from ${ref} at ${i}: ${got[k][i]} vs ${got[ref][i]}`);
  }
}
await world.allreduceSum(mean);
for (let i = 0; i < mean.length; i++) mean[i] /= world.size;
if (world.rank === 0) {
  for (const [k, v] of Object.entries(got)) await Deno.writeFile(`${out}/${k}.f32`, new Uint8Array(v.buffer));
  await Deno.writeFile(`${out}/mean.f64`, new Uint8Array(mean.buffer));
  const names = trainable.map(([n, p]) => [n, p.value.size]);
  await Deno.writeTextFile(`${out}/names.json`, JSON.stringify(names));
  await Deno.writeTextFile(
    `${out}/buckets.json`,
    JSON.stringify({ small: small.buckets, whole: whole.buckets, commands: step.plan.commands.length }),
  );
}
for (const a of [plain, small, whole]) a.dispose();
step.dispose();
opt.dispose();
model.dispose();
await world.finalize();
console.log(`ok rank ${world.rank} of ${world.size}`);
