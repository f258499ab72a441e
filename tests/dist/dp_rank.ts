// What one rank runs for tests/dist/data_parallel_test.ts, under `mpirun -np W` or alone (a world of one).
// A tiny ViFi-CLIP whose weights each rank first draws from its own seed (rank 0's are then broadcast),
// a fixed global batch of 8 of which rank r takes rows r·8/W …; then:
//   1. the gradients of one compiled "gradients" step, averaged over the ranks (GradientAverager);
//   2. 10 updates through MicroBatchSteps (the trainer's path), each on a new global batch of 8;
//      with a second argument "accumulate" this alone, each rank's 4 videos as 2 micro-batches of 2.
// Rank 0 writes OUT/{local-grads,grads,init,weights}.f32 (every trainable tensor in name order: its own
// gradients before averaging, after, the broadcast weights, the weights after training) and
// OUT/names.json ([name, length] of each); every rank checks that its weights after training are rank 0's, bit for bit.

import { initWorld } from "../../lib/dist/mpi.ts";
import { getRuntime } from "../../lib/gpu/runtime.ts";
import { initClipWeights } from "../../lib/models/config.ts";
import { ViFiClip } from "../../lib/models/vifi.ts";
import { Rng } from "../../lib/random/rng.ts";
import { MicroBatchSteps } from "../../lib/train/accumulation.ts";
import { broadcastWeights, GradientAverager } from "../../lib/train/data-parallel.ts";
import { AdamW } from "../../lib/train/optimizer.ts";
import { CompiledStep } from "../../lib/train/step.ts";
import type { ResolvedTrain } from "../../lib/dsl/types.ts";
import { C, flatTrainable, GLOBAL, PER, R, rankBatch, stepBatch, T, tiny, tokens } from "./tiny_ranks.ts";

const out = Deno.args[0];
const world = initWorld();
const rt = await getRuntime();
const B = GLOBAL / world.size;

const weights = initClipWeights(tiny, 100 + world.rank);
await broadcastWeights(world, weights);

// 1. gradients of one step on the first global batch, averaged over the ranks
if (Deno.args[1] !== "accumulate") {
  const model = ViFiClip.fromWeights(rt, tiny, weights, "both");
  const opt = new AdamW(model.trainable(), { weightDecay: 0.001 });
  const batch = stepBatch(rt, rankBatch(world, 0));
  const step = await CompiledStep.compile(model, opt, batch, 1e-3, undefined, { parts: "gradients" });
  const averager = new GradientAverager(rt, opt.params, world);
  const [local] = await flatTrainable(model, "grad");
  await averager.average();
  const [grads, names] = await flatTrainable(model, "grad");
  const [init] = await flatTrainable(model, "value");
  if (world.rank === 0) {
    await Deno.writeFile(`${out}/local-grads.f32`, new Uint8Array(local.buffer));
    await Deno.writeFile(`${out}/grads.f32`, new Uint8Array(grads.buffer));
    await Deno.writeFile(`${out}/init.f32`, new Uint8Array(init.buffer));
    await Deno.writeTextFile(`${out}/names.json`, JSON.stringify(names));
  }
  averager.dispose();
  step.dispose();
  opt.dispose();
  model.dispose();
}

/**
 * 2. Ten updates the trainer's way, each over `micro` micro-batches per rank (gradient accumulation:
 * the averaging waits for the window's last); a world of one with micro 1 takes the fused single-plan
 * step. Rank 0 writes OUT/`file`.
 */
async function tenUpdates(micro: number, file: string): Promise<void> {
  const model = ViFiClip.fromWeights(rt, tiny, weights, "both");
  // eps 1e-3, not 1e-8: with a tiny eps AdamW's first steps are lr·sign(g), and a gradient that is
  // rounding noise (about 1e-8 here, where the exact one is 0) gets a full step whose sign depends on
  // the summation order; a larger eps keeps the update proportional to the averaged gradient.
  const opt = new AdamW(model.trainable(), { weightDecay: 0.001, eps: 1e-3 });
  const averager = world.distributed ? new GradientAverager(rt, opt.params, world) : undefined;
  const mb = B / micro;
  const shape = { batch: mb, frames: T, size: R, classes: C, perUpdate: micro };
  const steps = new MicroBatchSteps(rt, model, opt, undefined, tokens, shape, averager);
  const tr = { labelSmoothing: 0, mixup: 0, cutmix: 0, switchProb: 0 } as ResolvedTrain;
  let n = 0;
  for (let k = 1; k <= 10; k++) {
    const b = rankBatch(world, k);
    for (let i = 0; i < micro; i++) {
      const frames = b.frames.slice(i * mb * PER, (i + 1) * mb * PER);
      const labels = b.labels.slice(i * mb, (i + 1) * mb);
      steps.load({ frames, shape: [mb, T, 3, R, R], labels, paths: [] }, tr, new Rng(k));
      await steps.take(1e-3 * (1 - k / 20), steps.updates(n++));
    }
  }
  const [final] = await flatTrainable(model, "value");
  if (world.rank === 0) await Deno.writeFile(`${out}/${file}`, new Uint8Array(final.buffer));
  const root = final.slice();
  await world.broadcast(root);
  const differ = root.findIndex((x, i) => x !== final[i]);
  if (differ >= 0) throw new Error(`rank ${world.rank}: weights differ from rank 0's at ${differ}`);
  steps.dispose();
  averager?.dispose();
  opt.dispose();
  model.dispose();
}

if (Deno.args[1] === "accumulate") await tenUpdates(2, "weights-accumulated.f32");
else await tenUpdates(1, "weights.f32");
await world.finalize();
console.log(`ok rank ${world.rank} of ${world.size}`);
