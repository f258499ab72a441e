// The DistributedSampler rule of VideoLoader (lib/data/loader.ts `shard`): pad the epoch's order with its
// own first items to a multiple of the world size, rank r takes positions r, r + W, …; the order is the
// same on every rank and changes with the epoch.

import { assert, assertEquals, assertThrows } from "./assert.ts";
import { shard, shardLength, VideoLoader } from "../../lib/data/loader.ts";

Deno.test("shard: padding, disjoint shards that cover the order, a world of one unchanged", () => {
  const order = [7, 3, 9, 0, 5, 1, 8, 2, 6, 4];
  assertEquals(shard(order, 0, 1), order);
  // 10 items over 3 ranks: 12 positions, the last two are order[0] and order[1] again
  assertEquals(shard(order, 0, 3), [7, 0, 8, 4]);
  assertEquals(shard(order, 1, 3), [3, 5, 2, 7]);
  assertEquals(shard(order, 2, 3), [9, 1, 6, 3]);
  for (const [n, w] of [[1, 1], [1, 3], [3, 2], [77, 4], [197, 8], [257, 3], [5, 7]]) {
    const o = Array.from({ length: n }, (_, i) => (i * 37) % n);
    const all = Array.from({ length: w }, (_, r) => shard(o, r, w));
    for (const s of all) assertEquals(s.length, shardLength(n, w), `n ${n} w ${w}`);
    const counts = new Map<number, number>();
    for (const s of all) for (const i of s) counts.set(i, (counts.get(i) ?? 0) + 1);
    // every item at least once, and only the padding (the order's first items) twice or more
    const pad = shardLength(n, w) * w - n;
    for (let p = 0; p < n; p++) {
      const expected = 1 + Math.floor(pad / n) + (p < pad % n ? 1 : 0);
      assertEquals(counts.get(o[p]), expected, `n ${n} w ${w} position ${p}`);
    }
  }
  assertEquals(shard([], 1, 2), []);
  assertThrows(() => shard(order, 3, 3), "rank 3 is outside a world of 3");
  assertThrows(() => shard(order, 0, 0), "worldSize");
});

Deno.test("VideoLoader: each rank's epoch is its shard of the one shuffled order; batches per epoch count the shard", () => {
  const items = Array.from({ length: 11 }, (_, i) => ({ path: `v${i}.mp4`, label: i % 3 }));
  const opts = {
    root: "/nonexistent",
    batch: 2,
    mode: "train" as const,
    frames: 2,
    size: 8,
    seed: 5,
    workers: 0,
  };
  const order = (l: VideoLoader, epoch: number) =>
    (l as unknown as { order(e: number): number[] }).order(epoch);
  const single = new VideoLoader(items, opts as ConstructorParameters<typeof VideoLoader>[1]);
  const ranks = [0, 1].map((rank) =>
    new VideoLoader(items, { ...opts, rank, worldSize: 2 } as ConstructorParameters<typeof VideoLoader>[1])
  );
  for (const epoch of [0, 1]) {
    const whole = order(single, epoch);
    assertEquals(order(ranks[0], epoch), shard(whole, 0, 2));
    assertEquals(order(ranks[1], epoch), shard(whole, 1, 2));
  }
  assert(order(single, 0).join() !== order(single, 1).join(), "the epoch reshuffles");
  assertEquals(single.batchesPerEpoch, 5);
  assertEquals(ranks[1].batchesPerEpoch, 3); // 6 items each, batch 2, drop_last
});
