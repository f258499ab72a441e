// Evaluation per docs/upstream.md §9: each video's NUM_CROP·NUM_CLIP views scored separately, softmax per view,
// probabilities summed; top-1/top-5, per-class accuracy, confusion matrix, and the pooled embeddings
// (mean over views, renormalised) for plots.

import type { VideoLoader } from "../data/loader.ts";
import type { World } from "../dist/mpi.ts";
import type { ViFiClip } from "../models/vifi.ts";
import { Accuracy, type EvalMetrics } from "./metrics.ts";
import { scoreViews } from "./views.ts";
import { Rng } from "../random/rng.ts";

export interface EvalEmbeddings {
  /** [N, E] unit-norm video embeddings in loader order */
  video: Float32Array;
  labels: Int32Array;
  /** [C, E] unit-norm class embeddings */
  text: Float32Array;
  dim: number;
}

export interface EvalResult extends EvalMetrics {
  embeddings: EvalEmbeddings;
  seconds: number;
}

export interface EvalOptions {
  tokens: Int32Array;
  classNames: string[];
  /** views per video (clips × crops) in the loader's output */
  views: number;
  /** called after each batch with (videos done, videos total) */
  onBatch?: (done: number, total: number) => void;
  /**
   * Data-parallel: the loader gives this rank's shard (the DistributedSampler's rule without a
   * shuffle: videos rank, rank + W, …, padded with repeats up to a multiple of W, which are not
   * scored), and the counts and embeddings are summed over the ranks: every rank holds the whole result.
   */
  world?: World;
}

/** Videos of `n` that rank `rank` of `size` scores: positions rank, rank + size, … below n. */
export function shardCount(n: number, rank: number, size: number): number {
  return rank < n ? Math.ceil((n - rank) / size) : 0;
}

/** One pass over a test-mode loader. */
export async function evaluate(model: ViFiClip, loader: VideoLoader, opts: EvalOptions): Promise<EvalResult> {
  const t0 = performance.now();
  const C = opts.classNames.length;
  const acc = new Accuracy(opts.classNames);
  const E = model.config.embedDim;
  const videos: Float32Array[] = [];
  const labels: number[] = [];
  let text: Float32Array = new Float32Array(0);
  const total = loader.items.length;
  const world = opts.world?.distributed ? opts.world : undefined;
  const mine = world ? shardCount(total, world.rank, world.size) : total;
  await model.withoutGrad(async () => {
    for await (const batch of loader.epoch(0)) {
      const [B, VT, , S] = batch.shape;
      if (VT % opts.views !== 0) {
        throw new Error(`vifi: a batch of ${VT} frames per video is not ${opts.views} views`);
      }
      const r = await scoreViews(model, batch.frames, B, opts.views, VT / opts.views, S, opts.tokens, C);
      // scoreViews read its results, which checks; said here too, since no score may outlive an error
      model.clip.rt.checkErrors();
      // the sampler's padding (data-parallel) is scored by no one
      const take = Math.min(B, mine - labels.length);
      acc.add(r.scores.subarray(0, take * C), batch.labels.slice(0, take));
      videos.push(r.video.subarray(0, take * E));
      labels.push(...batch.labels.slice(0, take));
      text = r.text;
      opts.onBatch?.(labels.length, total);
    }
  });
  const video = new Float32Array(labels.length * E);
  let o = 0;
  for (const v of videos) {
    video.set(v, o);
    o += v.length;
  }
  const embeddings = world
    ? await gatherEmbeddings(world, video, labels, total, E, text)
    : { video, labels: Int32Array.from(labels), text, dim: E };
  if (world) {
    const counts = acc.counts();
    await world.allreduceSum(counts);
    acc.setCounts(counts);
  }
  return { ...acc.result(), embeddings, seconds: (performance.now() - t0) / 1000 };
}

/**
 * Every rank's embeddings and labels in the list's order, on every rank: each rank writes its rows at
 * their positions (its k-th video is video rank + k·W) into zeros and the ranks' arrays are summed,
 * which adds only zeros to each value, so nothing is rounded.
 */
async function gatherEmbeddings(
  world: World,
  video: Float32Array,
  labels: number[],
  total: number,
  E: number,
  text: Float32Array,
): Promise<EvalEmbeddings> {
  const all = new Float32Array(total * E);
  const allLabels = new Float64Array(total);
  for (let k = 0; k < labels.length; k++) {
    const row = world.rank + k * world.size;
    all.set(video.subarray(k * E, (k + 1) * E), row * E);
    allLabels[row] = labels[k];
  }
  await world.allreduceSum(all);
  await world.allreduceSum(allLabels);
  return { video: all, labels: Int32Array.from(allLabels), text, dim: E };
}

/**
 * The videos the upstream's validation scores (its `drop_last=True`, docs/upstream.md §7.4): each of `worldSize`
 * ranks takes indices rank, rank + world, … in a random order, in batches of `batch` (2) with the
 * incomplete last batch dropped, so a rank holding an odd count leaves one video unscored. Which one
 * is up to torch's sampler there; here a seeded choice. Kept indices, ascending.
 */
export function upstreamValidationSubset(n: number, worldSize: number, seed: number, batch = 2): number[] {
  if (!Number.isInteger(worldSize) || worldSize < 1) {
    throw new Error(`vifi: drop_last validation needs a world size ≥ 1, not ${worldSize}`);
  }
  const rng = new Rng(seed);
  const dropped = new Set<number>();
  for (let rank = 0; rank < worldSize; rank++) {
    const mine: number[] = [];
    for (let i = rank; i < n; i += worldSize) mine.push(i);
    // the rank's random order, then whatever does not fill a last batch
    for (let i = mine.length - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [mine[i], mine[j]] = [mine[j], mine[i]];
    }
    for (const i of mine.slice(mine.length - (mine.length % batch))) dropped.add(i);
  }
  const kept: number[] = [];
  for (let i = 0; i < n; i++) if (!dropped.has(i)) kept.push(i);
  return kept;
}
