// What one rank runs under `mpirun -np 2` for tests/dist/data_parallel_test.ts: mixed-precision loss
// scaling decides an overflow for all ranks. Rank 1's loss scale is set so high that its gradients
// overflow while rank 0's are finite; after the averaged step both ranks must have skipped the update
// (weights untouched, AdamW's step back to 0, the scale halved on both), and a clean step after it must
// update both alike. Prints "ok rank R skipped S step N".

import { initWorld } from "../../lib/dist/mpi.ts";
import { getRuntime } from "../../lib/gpu/runtime.ts";
import { clipConfig, initClipWeights } from "../../lib/models/config.ts";
import { randomTokens } from "../../lib/models/parity.ts";
import { ViFiClip } from "../../lib/models/vifi.ts";
import { Rng } from "../../lib/random/rng.ts";
import { MicroBatchSteps } from "../../lib/train/accumulation.ts";
import { broadcastWeights, GradientAverager } from "../../lib/train/data-parallel.ts";
import { LossScaler } from "../../lib/train/loss-scale.ts";
import { AdamW } from "../../lib/train/optimizer.ts";
import type { ResolvedTrain } from "../../lib/dsl/types.ts";

const world = initWorld({ require: true });
const rt = await getRuntime();
const tiny = clipConfig("tiny");
const B = 2, T = 2, C = 3, R = tiny.vision.resolution;
const weights = initClipWeights(tiny, 7);
await broadcastWeights(world, weights);
const model = ViFiClip.fromWeights(rt, tiny, weights, "both");
const opt = new AdamW(model.trainable(), { weightDecay: 0.001 });
const scaler = new LossScaler(rt);
const averager = new GradientAverager(rt, opt.params, world);
const shape = { batch: B, frames: T, size: R, classes: C, perUpdate: 1 };
const steps = new MicroBatchSteps(rt, model, opt, scaler, randomTokens(tiny, C, new Rng(3)), shape, averager);
const tr = { labelSmoothing: 0, mixup: 0, cutmix: 0, switchProb: 0 } as ResolvedTrain;

function fail(msg: string): never {
  throw new Error(`rank ${world.rank}: ${msg}`);
}

function setScale(scale: number) {
  scaler.scale = scale;
  rt.write(scaler.seed.buffer, new Float32Array([scale]));
}

const snapshot = async () => {
  const w = await model.clip.weights();
  return [...w.keys()].sort().flatMap((k) => Array.from(w.get(k)!.data));
};
const before = await snapshot();
const batch = () => {
  const rng = new Rng(50 + world.rank);
  return {
    frames: Float32Array.from(rng.normals(B * T * 3 * R * R)),
    shape: [B, T, 3, R, R] as [number, number, number, number, number],
    labels: Int32Array.from({ length: B }, () => rng.int(C)),
    paths: [],
  };
};

// rank 1 alone overflows
if (world.rank === 1) setScale(3e38);
steps.load(batch(), tr, new Rng(1));
await steps.take(1e-3, true);
/** [skipped updates, AdamW's step] now (a function: the type checker would keep the first test's narrowing) */
const counts = (): [number, number] => [scaler.skipped, opt.step];
if (counts().join() !== "1,0") fail(`skipped, step = ${counts()} after the overflow, not 1,0`);
const after = await snapshot();
if (after.some((x, i) => x !== before[i])) fail("the weights changed in a skipped update");

// a clean step on both
setScale(2 ** 16);
steps.load(batch(), tr, new Rng(2));
await steps.take(1e-3, true);
const moved = await snapshot();
if (counts().join() !== "1,1") fail(`skipped, step = ${counts()} after the clean step, not 1,1`);
if (moved.every((x, i) => x === before[i])) fail("the clean step changed nothing");
const root = Float32Array.from(moved);
const mine = root.slice();
await world.broadcast(root);
const k = root.findIndex((x, i) => x !== mine[i]);
if (k >= 0) {
  fail(`weights differ from rank 0's at ${k}: ${mine[k]} here, ${root[k]} there (${before[k]} before)`);
}
await world.finalize();
console.log(`ok rank ${world.rank} skipped ${scaler.skipped} step ${opt.step}`);
