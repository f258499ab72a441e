// The schedule, the soft targets with mixup/cutmix and the accuracy counts, against values worked out
// by hand from docs/upstream.md §8.2–8.4 and §9.

import { assert, assertEquals, assertThrows } from "../data/assert.ts";
import { Rng, sessionSeed } from "../../lib/random/rng.ts";
import { lrAt, LrSchedule } from "../../lib/train/schedule.ts";
import { batchPlan, upstreamIteration } from "../../lib/dsl/batch-plan.ts";
import { blendBatch, sampleBeta, smoothedTargets } from "../../lib/train/mixup.ts";
import { Accuracy } from "../../lib/train/metrics.ts";

function assertAlmostEquals(actual: number, expected: number, tol: number): void {
  if (!(Math.abs(actual - expected) <= tol)) throw new Error(`expected ${expected} ± ${tol}, got ${actual}`);
}

const seed = sessionSeed();
console.log(`train-loop tests seed ${seed} (VIFI_SEED=${seed} to replay)`);

Deno.test("lrAt: linear warmup from 0, cosine over the whole run not shifted by warmup, floor LR/100", () => {
  const c = { lr: 2e-6, epochs: 11, warmupEpochs: 5, itersPerEpoch: 7 };
  const W = 35, total = 77, min = 2e-8;
  assertEquals(lrAt(0, c), 0);
  assertAlmostEquals(lrAt(10, c), 2e-6 * 10 / W, 1e-20);
  assertAlmostEquals(lrAt(W - 1, c), 2e-6 * 34 / W, 1e-20);
  // first cosine iteration: t = W (not 0), so already below the peak
  const atW = min + 0.5 * (2e-6 - min) * (1 + Math.cos(Math.PI * W / total));
  assertAlmostEquals(lrAt(W, c), atW, 1e-20);
  assert(lrAt(W, c) < 2e-6);
  assertAlmostEquals(lrAt(total - 1, c), min + 0.5 * (2e-6 - min) * (1 + Math.cos(Math.PI * 76 / 77)), 1e-20);
  assertEquals(lrAt(total, c), min);
  assertEquals(lrAt(total + 5, c), min);
});

Deno.test("LrSchedule: the first update uses 0, later ones the rate of the previous update's iteration", () => {
  const c = { lr: 1, epochs: 2, warmupEpochs: 1, itersPerEpoch: 4 };
  const s = new LrSchedule(c);
  const used: number[] = [];
  const A = 2; // accumulation: updates after iterations 1 and 3 of each epoch
  for (let epoch = 0; epoch < 2; epoch++) {
    for (let idx = 0; idx < 4; idx++) {
      if ((idx + 1) % A === 0) {
        used.push(s.current);
        s.afterUpdate(epoch, idx);
      }
    }
  }
  assertEquals(used, [0, lrAt(1, c), lrAt(3, c), lrAt(5, c)]);
  assertEquals(used.slice(0, 3), [0, 0.25, 0.75]);
  assertEquals(new LrSchedule({ ...c, warmupEpochs: 0 }).current, 1);
  assertThrows(() => new LrSchedule({ ...c, itersPerEpoch: 0 }), "at least one iteration");
});

/**
 * torch's DistributedSampler (list padded with its first indices to a multiple of the world size, rank r
 * takes r, r + world, …) feeding a DataLoader(drop_last=True) on each rank: the iterations of one rank.
 */
function rankIterations(n: number, batch: number, world: number): number {
  const padded = Array.from({ length: Math.ceil(n / world) * world }, (_, i) => i % n);
  const mine = padded.filter((_, i) => i % world === 0);
  let it = 0;
  while ((it + 1) * batch <= mine.length) it++;
  return it;
}

Deno.test("batchPlan: the upstream's per-rank iterations, its updates up to the sampler's padding, and which rank iteration a micro-batch is", () => {
  for (const n of [1, 7, 20, 60, 102, 416, 816, 1000]) {
    for (const batch of [1, 2, 4]) {
      for (const accumulation of [1, 2, 3]) {
        for (const world of [1, 2, 8]) {
          const p = batchPlan(n, { batch, accumulation, worldSize: world });
          const iters = rankIterations(n, batch, world);
          const upstreamUpdates = Math.floor(iters / accumulation);
          const at = `n ${n} batch ${batch} accumulation ${accumulation} world ${world}`;
          assertEquals(p.itersPerEpoch, iters, at);
          assertEquals([p.effectiveBatch, p.microBatchesPerUpdate], [
            batch * accumulation * world,
            accumulation * world,
          ]);
          assertEquals(p.microBatchesPerEpoch, Math.floor(n / batch), at);
          // one device has no padded duplicates: never more updates, at most the one they fill
          assert(p.updatesPerEpoch <= upstreamUpdates && p.updatesPerEpoch >= upstreamUpdates - 1, at);
          if (world === 1 || n % (world * batch) === 0) assertEquals(p.updatesPerEpoch, upstreamUpdates, at);
        }
      }
    }
  }
  // the micro-batches of one update cover whole rank iterations: the update after micro-batch 15 of
  // 8 ranks × accumulation 2 is the upstream's step at iteration 1
  assertEquals([0, 7, 8, 15, 16].map((m) => upstreamIteration(m, 8)), [0, 0, 1, 1, 2]);
});

Deno.test("smoothedTargets: off ε/C, on 1−ε+ε/C; a label outside the classes is named", () => {
  const t = smoothedTargets(Int32Array.from([2, 0]), 4, 0.1);
  assertEquals(Array.from(t).map((v) => +v.toFixed(6)), [
    0.025,
    0.025,
    0.925,
    0.025,
    0.925,
    0.025,
    0.025,
    0.025,
  ]);
  assertThrows(() => smoothedTargets(Int32Array.from([4]), 4, 0.1), "label 4 of batch row 0");
});

Deno.test("sampleBeta: moments of Beta(0.8, 0.8) and Beta(1, 1)", () => {
  const rng = new Rng(seed);
  for (const a of [0.8, 1]) {
    const n = 20000;
    const xs = Array.from({ length: n }, () => sampleBeta(rng, a, a));
    const mean = xs.reduce((s, x) => s + x, 0) / n;
    const variance = xs.reduce((s, x) => s + (x - mean) ** 2, 0) / n;
    assert(xs.every((x) => x >= 0 && x <= 1));
    // Beta(a, a): mean 1/2, variance 1 / (4 (2a + 1)); 20k draws put the mean within ~0.01
    assert(Math.abs(mean - 0.5) < 0.012, `mean ${mean}`);
    assert(Math.abs(variance - 1 / (4 * (2 * a + 1))) < 0.01, `variance ${variance} for α ${a}`);
  }
});

function batch(B: number, T: number, H: number, W: number): Float32Array {
  // sample b holds the value b + 1 everywhere, so every output pixel tells where it came from
  const per = T * 3 * H * W;
  return Float32Array.from({ length: B * per }, (_, i) => Math.floor(i / per) + 1);
}

Deno.test("mixup: x = λx + (1−λ)x[π], targets mixed with the same λ and π", () => {
  const [B, T, H, W, C] = [5, 2, 3, 4, 3];
  const frames = batch(B, T, H, W);
  const labels = Int32Array.from([0, 1, 2, 0, 1]);
  const targets = smoothedTargets(labels, C, 0.1);
  const before = targets.slice();
  const r = blendBatch(frames, [B, T, 3, H, W], targets, {
    classes: C,
    labelSmoothing: 0.1,
    mixup: 0.8,
    cutmix: 0,
    switchProb: 0.5,
  }, new Rng(seed));
  assertEquals(r.kind, "mixup");
  const per = T * 3 * H * W;
  for (let b = 0; b < B; b++) {
    const want = r.lambda * (b + 1) + (1 - r.lambda) * (r.permutation[b] + 1);
    for (const i of [0, per - 1]) assertAlmostEquals(frames[b * per + i], want, 1e-5);
    for (let c = 0; c < C; c++) {
      const t = r.lambda * before[b * C + c] + (1 - r.lambda) * before[r.permutation[b] * C + c];
      assertAlmostEquals(targets[b * C + c], t, 1e-6);
    }
    assertAlmostEquals(targets.subarray(b * C, b * C + C).reduce((a, v) => a + v, 0), 1, 1e-5);
  }
  assertEquals([...r.permutation].sort(), [0, 1, 2, 3, 4]);
});

Deno.test("cutmix: one box from sample π(b) in every frame, λ = 1 − box area / image area", () => {
  const [B, T, H, W, C] = [4, 3, 13, 17, 2];
  for (let trial = 0; trial < 20; trial++) {
    const frames = batch(B, T, H, W);
    const targets = smoothedTargets(Int32Array.from([0, 1, 1, 0]), C, 0);
    const before = targets.slice();
    const r = blendBatch(frames, [B, T, 3, H, W], targets, {
      classes: C,
      labelSmoothing: 0,
      mixup: 0.8,
      cutmix: 1,
      switchProb: 1,
    }, new Rng(seed + trial));
    assertEquals(r.kind, "cutmix");
    const { x1, x2, y1, y2 } = r.box!;
    assert(0 <= x1 && x1 <= x2 && x2 <= W && 0 <= y1 && y1 <= y2 && y2 <= H, JSON.stringify(r.box));
    assertAlmostEquals(r.lambda, 1 - ((x2 - x1) * (y2 - y1)) / (W * H), 1e-12);
    for (let b = 0; b < B; b++) {
      for (let plane = 0; plane < T * 3; plane++) {
        for (let y = 0; y < H; y++) {
          for (let x = 0; x < W; x++) {
            const inBox = x >= x1 && x < x2 && y >= y1 && y < y2;
            const v = frames[((b * T * 3 + plane) * H + y) * W + x];
            assertEquals(v, inBox ? r.permutation[b] + 1 : b + 1, `b ${b} plane ${plane} (${x}, ${y})`);
          }
        }
      }
      const t = r.lambda * before[b * C] + (1 - r.lambda) * before[r.permutation[b] * C];
      assertAlmostEquals(targets[b * C], t, 1e-6);
    }
  }
});

Deno.test("blend: both off leaves the batch alone; wrong sizes are named", () => {
  const frames = batch(2, 1, 2, 2);
  const copy = frames.slice();
  const targets = smoothedTargets(Int32Array.from([0, 1]), 2, 0.1);
  const cfg = { classes: 2, labelSmoothing: 0.1, mixup: 0, cutmix: 0, switchProb: 0.5 };
  assertEquals(blendBatch(frames, [2, 1, 3, 2, 2], targets, cfg, new Rng(1)).kind, "none");
  assertEquals(frames, copy);
  assertThrows(() => blendBatch(frames, [3, 1, 3, 2, 2], targets, cfg, new Rng(1)), "frames hold");
});

Deno.test("Accuracy: top-1, top-5 by strict rank, per-class counts and the confusion matrix", () => {
  const names = ["a", "b", "c", "d", "e", "f"];
  const acc = new Accuracy(names);
  acc.add(
    Float32Array.from([
      // label 0, predicted 0
      0.9,
      0.1,
      0,
      0,
      0,
      0,
      // label 1, predicted 0; label ranks second → top-5
      0.5,
      0.4,
      0.1,
      0,
      0,
      0,
      // label 5, ranks sixth → not top-5
      0.3,
      0.25,
      0.2,
      0.15,
      0.1,
      0,
    ]),
    [0, 1, 5],
  );
  const r = acc.result();
  assertAlmostEquals(r.top1, 100 / 3, 1e-9);
  assertAlmostEquals(r.top5, 200 / 3, 1e-9);
  assertEquals(r.count, 3);
  assertEquals(r.confusion[0][0], 1);
  assertEquals(r.confusion[1][0], 1);
  assertEquals(r.confusion[5][0], 1);
  assertEquals(r.perClass.map((c) => [c.correct, c.total]), [[1, 1], [0, 1], [0, 0], [0, 0], [0, 0], [0, 1]]);
  assertThrows(() => acc.add(new Float32Array(5), [0]), "5 scores for 1 videos");
});
