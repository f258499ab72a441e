// Batches of prepared videos from Deno Workers with prefetch, so decoding keeps up with the GPU.
// Each item's randomness comes from (seed, epoch, index), so batches do not depend on which worker
// finished first. A file that fails is either fatal or skipped and counted (policy `onError`).

import { Rng } from "../random/rng.ts";
import type { ListItem } from "./lists.ts";
import { joinPath } from "./lists.ts";
import { type Prepared, type PrepareJob, prepareVideo } from "./prepare.ts";

/** What each video's preparation takes (PrepareJob without the per-item path and seed), plus batching. */
export interface LoaderOptions extends Omit<PrepareJob, "path" | "seed"> {
  root: string;
  batch: number;
  shuffle?: boolean;
  /** drop the last incomplete batch (the upstream does, for training and for validation) */
  dropLast?: boolean;
  seed?: number;
  /** worker threads; 0 prepares in this thread */
  workers?: number;
  /** batches prepared ahead of the consumer */
  prefetch?: number;
  onError?: "fail" | "skip";
  /** data-parallel: this process's rank and the number of ranks (each reads its shard of every epoch) */
  rank?: number;
  worldSize?: number;
}

export interface Batch {
  /** [B, views·T, 3, size, size] */
  frames: Float32Array;
  shape: [number, number, number, number, number];
  labels: Int32Array;
  paths: string[];
}

export interface Skipped {
  path: string;
  reason: string;
}

export function itemSeed(seed: number, epoch: number, index: number): number {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  for (const v of [epoch, index]) h = Math.imul(h ^ v, 0x85ebca6b) >>> 0;
  return (h ^ (h >>> 13)) >>> 0;
}

/** Items each rank reads per epoch: the dataset padded up to a multiple of the world size, divided. */
export function shardLength(items: number, worldSize: number): number {
  return Math.ceil(items / worldSize);
}

/**
 * Rank `rank`'s part of an epoch's order, PyTorch's DistributedSampler rule: the order (the same on every
 * rank: one seed per epoch) is padded with its own first items up to a multiple of the world size, and
 * rank r takes positions r, r + W, r + 2W, … So every rank has as many items, the shards are disjoint
 * except for the padding, and together they cover the epoch. A world of one is the order itself.
 */
export function shard(order: number[], rank: number, worldSize: number): number[] {
  if (!Number.isInteger(worldSize) || worldSize < 1) {
    throw new Error(`vifi: loader: worldSize must be a whole number ≥ 1, not ${worldSize}`);
  }
  if (!Number.isInteger(rank) || rank < 0 || rank >= worldSize) {
    throw new Error(`vifi: loader: rank ${rank} is outside a world of ${worldSize}`);
  }
  if (worldSize === 1) return order;
  if (order.length === 0) return [];
  const total = shardLength(order.length, worldSize) * worldSize;
  const out: number[] = [];
  for (let p = rank; p < total; p += worldSize) out.push(order[p % order.length]);
  return out;
}

export class VideoLoader {
  private pool: Worker[] = [];
  private next = 0;
  private waiting = new Map<number, (r: Prepared | { error: string }) => void>();
  private ids = 0;
  /** files skipped in the current epoch (onError "skip") */
  skipped: Skipped[] = [];

  constructor(readonly items: ListItem[], readonly opts: LoaderOptions) {
    const n = opts.workers ?? Math.max(1, (navigator.hardwareConcurrency ?? 2) - 1);
    for (let i = 0; i < n; i++) {
      const w = new Worker(new URL("./loader-worker.ts", import.meta.url), { type: "module" });
      w.onmessage = (e) => {
        const resolve = this.waiting.get(e.data.id);
        this.waiting.delete(e.data.id);
        resolve?.(e.data);
      };
      this.pool.push(w);
    }
  }

  get batchesPerEpoch(): number {
    const n = shardLength(this.items.length, this.opts.worldSize ?? 1) / this.opts.batch;
    return this.opts.dropLast ?? this.opts.mode === "train" ? Math.floor(n) : Math.ceil(n);
  }

  private prepare(job: PrepareJob): Promise<Prepared> {
    if (this.pool.length === 0) return prepareVideo(job);
    const id = this.ids++;
    const w = this.pool[this.next++ % this.pool.length];
    return new Promise((resolve, reject) => {
      this.waiting.set(id, (r) => ("error" in r ? reject(new Error(r.error)) : resolve(r)));
      w.postMessage({ id, job });
    });
  }

  private order(epoch: number): number[] {
    const idx = this.items.map((_, i) => i);
    if (this.opts.shuffle ?? this.opts.mode === "train") {
      const rng = new Rng(itemSeed(this.opts.seed ?? 0, epoch, -1));
      for (let i = idx.length - 1; i > 0; i--) {
        const j = rng.int(i + 1);
        [idx[i], idx[j]] = [idx[j], idx[i]];
      }
    }
    return shard(idx, this.opts.rank ?? 0, this.opts.worldSize ?? 1);
  }

  private async load(epoch: number, indices: number[]): Promise<Batch | undefined> {
    const o = this.opts;
    // Everything that is not batching goes to prepareVideo as it is.
    const {
      root: _r,
      batch: _b,
      shuffle: _s,
      dropLast: _d,
      rank: _rank,
      worldSize: _world,
      seed: _seed,
      workers: _w,
      prefetch: _p,
      onError: _e,
      ...job
    } = o;
    const results = await Promise.all(indices.map(async (i) => {
      const item = this.items[i];
      const path = joinPath(o.root, item.path);
      try {
        const r = await this.prepare({ ...job, path, seed: itemSeed(o.seed ?? 0, epoch, i) });
        return { item, path, r };
      } catch (e) {
        const reason = e instanceof Error ? e.message : String(e);
        if ((o.onError ?? "fail") === "fail") throw new Error(`vifi: loading ${path}: ${reason}`);
        this.skipped.push({ path, reason });
        return undefined;
      }
    }));
    const ok = results.filter((x) => x !== undefined);
    if (ok.length === 0) return undefined;
    const [v, c, h, w] = ok[0].r.shape;
    const per = v * c * h * w;
    const frames = new Float32Array(ok.length * per);
    ok.forEach((x, b) => frames.set(x.r.data, b * per));
    return {
      frames,
      shape: [ok.length, v, c, h, w],
      labels: Int32Array.from(ok, (x) => x.item.label),
      paths: ok.map((x) => x.path),
    };
  }

  /**
   * The batches of one epoch, `prefetch` batches prepared ahead. `startBatch` skips the epoch's first
   * batches without loading them: the order and every item's randomness depend only on (seed, epoch,
   * index), so that position is all a run continued mid-epoch needs to see the same batches.
   */
  async *epoch(epoch: number, startBatch = 0): AsyncGenerator<Batch> {
    this.skipped = [];
    const order = this.order(epoch);
    const B = this.opts.batch;
    const chunks: number[][] = [];
    for (let i = startBatch * B; i < order.length; i += B) {
      const chunk = order.slice(i, i + B);
      if (chunk.length < B && (this.opts.dropLast ?? this.opts.mode === "train")) break;
      chunks.push(chunk);
    }
    const ahead = Math.max(1, this.opts.prefetch ?? 2);
    const inflight: Promise<Batch | undefined>[] = [];
    let k = 0;
    while (k < chunks.length || inflight.length) {
      while (k < chunks.length && inflight.length < ahead) {
        const p = this.load(epoch, chunks[k++]);
        // If an earlier batch fails the epoch ends there; batches still loading must not surface
        // as unhandled rejections afterwards.
        p.catch(() => {});
        inflight.push(p);
      }
      const b = await inflight.shift()!;
      if (b) yield b;
    }
  }

  close(): void {
    for (const w of this.pool) w.terminate();
    this.pool = [];
  }
}
