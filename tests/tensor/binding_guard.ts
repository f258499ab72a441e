// Test helpers for work split to fit the storage binding limit: run with the limit lowered (and the
// offset alignment raised, as on most GPUs), and refuse every dispatch whose storage binding is over
// the limit or misaligned, whatever the runtime itself checks.

import type { Binding, Runtime } from "../../lib/gpu/runtime.ts";

export interface GuardStats {
  dispatches: number;
  /** dispatches that bound a window of a buffer larger than the limit (work that had to be split) */
  windowed: number;
  /** the largest storage binding seen */
  largest: number;
}

/** Thrown by a guarded dispatch past `maxDispatches`: the limit is too low for a test to be quick. */
export class TooManyDispatches extends Error {
  constructor() {
    super("too many dispatches for this binding limit");
  }
}

function storageSize(b: Binding): { buffer: GPUBuffer; offset: number; size: number } | undefined {
  if (b instanceof GPUBuffer) return { buffer: b, offset: 0, size: b.size };
  if (!("buffer" in b)) return undefined; // a texture view
  const offset = b.offset ?? 0;
  return { buffer: b.buffer, offset, size: b.size ?? b.buffer.size - offset };
}

/**
 * Run `fn` with maxStorageBufferBindingSize = `limit` (and minStorageBufferOffsetAlignment = `align`
 * when given), every dispatch checked against them; both are restored afterwards.
 */
export async function withBindingLimit<T>(
  rt: Runtime,
  limit: number,
  align: number | undefined,
  fn: (stats: GuardStats) => Promise<T>,
  maxDispatches?: number,
): Promise<T> {
  const limits = rt.gpu.limits;
  const saved = { limit: limits.maxStorageBufferBindingSize, align: limits.minStorageBufferOffsetAlignment };
  const dispatch = rt.dispatch;
  const stats: GuardStats = { dispatches: 0, windowed: 0, largest: 0 };
  limits.maxStorageBufferBindingSize = limit;
  if (align) limits.minStorageBufferOffsetAlignment = align;
  rt.dispatch = function (pipeline, bindings, workgroups, opts = {}) {
    if (maxDispatches !== undefined && stats.dispatches >= maxDispatches) throw new TooManyDispatches();
    let windowed = false;
    bindings.forEach((b, i) => {
      const s = b && storageSize(b);
      if (!s || s.buffer.usage & GPUBufferUsage.UNIFORM) return;
      const what = `${opts.label ?? pipeline.label}: binding ${i}`;
      if (s.size > limit) throw new Error(`${what} of ${s.size} bytes is over the ${limit}-byte limit`);
      if (s.offset % limits.minStorageBufferOffsetAlignment) {
        throw new Error(
          `${what} at offset ${s.offset} is not ${limits.minStorageBufferOffsetAlignment}-aligned`,
        );
      }
      stats.largest = Math.max(stats.largest, s.size);
      if (s.buffer.size > limit && s.size < s.buffer.size) windowed = true;
    });
    stats.dispatches++;
    if (windowed) stats.windowed++;
    return dispatch.call(this, pipeline, bindings, workgroups, opts);
  };
  try {
    return await fn(stats);
  } finally {
    rt.dispatch = dispatch;
    limits.maxStorageBufferBindingSize = saved.limit;
    limits.minStorageBufferOffsetAlignment = saved.align;
  }
}
