// The data-parallel trainer's arithmetic without MPI (issue 18): a saved position carried into a world
// of another size, the micro-batches per update divided among ranks, the evaluation shard sizes, and
// evaluation counts summed over shards giving the whole set's metrics.

import { assert, assertEquals, assertThrows } from "../data/assert.ts";
import { batchPlan } from "../../lib/dsl/batch-plan.ts";
import { shardCount } from "../../lib/train/evaluator.ts";
import { Accuracy } from "../../lib/train/metrics.ts";
import { positionIn } from "../../lib/train/run-checkpoints.ts";
import { ranksShare } from "../../lib/train/training-session.ts";
import { Rng } from "../../lib/random/rng.ts";

Deno.test("positionIn: the same videos per step keep the position; another count rescales it at an update's end only", () => {
  const p = { epoch: 1, batch: 6, iteration: 6, lossSum: 3, lr: 1e-4 };
  // 2 ranks × 2 = 1 × 4
  assertEquals(positionIn(p, { ranks: 2, batch: 2 }, { ranks: 1, batch: 4 }, 8), p);
  // 1 × 4 a step (6 steps: 24 videos, 3 updates of 8) → 2 × 1 (2 videos a step): 12 steps
  assertEquals(positionIn(p, { ranks: 1, batch: 4 }, { ranks: 2, batch: 1 }, 8), {
    epoch: 1,
    batch: 12,
    iteration: 12,
    lossSum: 6,
    lr: 1e-4,
  });
  // the epoch's mean loss so far is kept
  const q = positionIn(p, { ranks: 1, batch: 4 }, { ranks: 4, batch: 2 }, 8)!;
  assertEquals([q.iteration, q.lossSum / q.iteration], [3, p.lossSum / p.iteration]);
  // 5 steps of 4 = 20 videos: inside an update of 8 (its gradients are one rank's): refused
  assertEquals(
    positionIn({ ...p, batch: 5, iteration: 5 }, { ranks: 1, batch: 4 }, { ranks: 2, batch: 4 }, 8),
    undefined,
  );
});

Deno.test("ranksShare: the plan's micro-batches per update divided among the ranks, or one line why not", () => {
  const plan = batchPlan(100, { batch: 2, accumulation: 3, worldSize: 2 });
  assertEquals(plan.microBatchesPerUpdate, 6);
  assertEquals([1, 2, 3, 6].map((r) => ranksShare("e", plan, r)), [6, 3, 2, 1]);
  for (const r of [4, 5, 12]) {
    const e = assertThrows(() => ranksShare("e", plan, r), `6 micro-batches per update`);
    assert(e.message.includes(`among ${r} MPI ranks`) && !e.message.includes("\n"), e.message);
  }
});

Deno.test("shardCount: every video scored once over the ranks; the sampler's padding by no one", () => {
  for (const n of [0, 1, 3, 77, 197, 257]) {
    for (const w of [1, 2, 3, 8]) {
      const counts = Array.from({ length: w }, (_, r) => shardCount(n, r, w));
      assertEquals(counts.reduce((a, b) => a + b, 0), n, `n ${n} over ${w}`);
      // rank r's videos are r, r + w, …: exactly those below n
      for (let r = 0; r < w; r++) {
        let k = 0;
        for (let i = r; i < n; i += w) k++;
        assertEquals(counts[r], k);
      }
    }
  }
});

Deno.test("Accuracy counts summed over shards = the whole set's metrics (odd sizes, 5 classes)", () => {
  const C = 5, rng = new Rng(11);
  for (const n of [1, 3, 77, 197]) {
    const scores = Float32Array.from({ length: n * C }, () => rng.uniform(0, 1));
    const labels = Int32Array.from({ length: n }, () => rng.int(C));
    const names = ["a", "b", "c", "d", "e"];
    const whole = new Accuracy(names);
    whole.add(scores, labels);
    const sum = new Float64Array(3 + C * C);
    for (let r = 0; r < 3; r++) {
      const part = new Accuracy(names);
      for (let i = r; i < n; i += 3) part.add(scores.subarray(i * C, (i + 1) * C), labels.subarray(i, i + 1));
      part.counts().forEach((v, k) => sum[k] += v);
    }
    const merged = new Accuracy(names);
    merged.setCounts(sum);
    assertEquals(merged.result(), whole.result());
  }
  assertThrows(() => new Accuracy(["a", "b"]).setCounts(new Float64Array(3)), "3 counts for 2 classes");
});
