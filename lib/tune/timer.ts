// Timing a candidate: a batch of runs recorded into one submit, bracketed by two timestamps on the
// device where the adapter has timestamp queries, else by the wall clock around recording and waiting.
//
// The device bracket is two empty compute passes, one submitted just before the batch and one just
// after: their timestamps span everything the batch does on the GPU, the copies into textures that the
// texture GEMM records included, which per-dispatch timestamps (lib/gpu/profiler.ts) would miss and so
// favour it unfairly; and they leave out the time JavaScript spends recording, which wall time counts.

import type { Runtime } from "../gpu/runtime.ts";

export type TimerKind = "device" | "wall";

export interface TimerOptions {
  /** aim for this much work per round (ms); the first round's time sets the reps */
  targetMs: number;
  maxReps: number;
  /** best of this many rounds */
  rounds: number;
  /** "device" needs timestamp-query; default: device where available */
  kind?: TimerKind;
}

export const DEFAULT_TIMER: TimerOptions = { targetMs: 30, maxReps: 20, rounds: 2 };

class DeviceBracket {
  readonly #set: GPUQuerySet;
  readonly #resolve: GPUBuffer;
  readonly #read: GPUBuffer;

  constructor(readonly device: GPUDevice) {
    this.#set = device.createQuerySet({ type: "timestamp", count: 2 });
    this.#resolve = device.createBuffer({
      size: 16,
      usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
    });
    this.#read = device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  }

  /** An encoder holding one empty pass that writes timestamp `i` (0: at its start, 1: at its end). */
  mark(i: 0 | 1): GPUCommandEncoder {
    const enc = this.device.createCommandEncoder();
    const writes: GPUComputePassTimestampWrites = i === 0
      ? { querySet: this.#set, beginningOfPassWriteIndex: 0 }
      : { querySet: this.#set, endOfPassWriteIndex: 1 };
    enc.beginComputePass({ timestampWrites: writes }).end();
    return enc;
  }

  /** Milliseconds between the marks, after `end` (mark(1) with the resolve appended) was submitted. */
  finish(end: GPUCommandEncoder): GPUCommandBuffer {
    end.resolveQuerySet(this.#set, 0, 2, this.#resolve, 0);
    end.copyBufferToBuffer(this.#resolve, 0, this.#read, 0, 16);
    return end.finish();
  }

  async ms(): Promise<number> {
    await this.#read.mapAsync(GPUMapMode.READ);
    const t = new BigUint64Array(this.#read.getMappedRange().slice(0));
    this.#read.unmap();
    return Number(t[1] - t[0]) / 1e6;
  }

  destroy() {
    this.#set.destroy();
    this.#resolve.destroy();
    this.#read.destroy();
  }
}

/** Which timer runs on this adapter for the asked kind. */
export function timerKind(rt: Runtime, kind?: TimerKind): TimerKind {
  if (kind === "device" && !rt.gpu.features.timestamps) {
    throw new Error("vifi: tune: --timer device needs the timestamp-query feature, which this adapter lacks");
  }
  return kind ?? (rt.gpu.features.timestamps ? "device" : "wall");
}

const roundTrips = new WeakMap<Runtime, number>();

/**
 * What one submit and wait costs with no work (about 11 ms in Deno), least of 3, measured once per
 * runtime: the wall clock takes it off each round, or it would swamp small kernels.
 */
async function roundTrip(rt: Runtime): Promise<number> {
  let ms = roundTrips.get(rt);
  if (ms === undefined) {
    ms = Infinity;
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      rt.device.queue.submit([rt.device.createCommandEncoder().finish()]);
      await rt.device.queue.onSubmittedWorkDone();
      ms = Math.min(ms, performance.now() - t0);
    }
    roundTrips.set(rt, ms);
  }
  return ms;
}

/** Time per run of `reps` runs in one submit: device bracket or wall clock (less one idle round trip). */
async function round(rt: Runtime, reps: number, run: () => Promise<void>, kind: TimerKind): Promise<number> {
  await rt.sync();
  if (kind === "wall") {
    const idle = await roundTrip(rt);
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) await run();
    await rt.sync();
    return Math.max(0, performance.now() - t0 - idle) / reps;
  }
  const bracket = new DeviceBracket(rt.device);
  try {
    const submits = rt.submits;
    for (let i = 0; i < reps; i++) await run();
    // Something inside the runs submitted early (a CPU write, say): the bracket would then miss work
    // or count the GPU idling while JavaScript recorded. Time this round by the wall clock instead.
    if (rt.submits !== submits) return await round(rt, reps, run, "wall");
    rt.device.queue.submit([bracket.mark(0).finish()]);
    rt.flush();
    rt.device.queue.submit([bracket.finish(bracket.mark(1))]);
    const ms = await bracket.ms();
    rt.checkErrors();
    return ms / reps;
  } finally {
    bracket.destroy();
  }
}

/** Time of a single run (ms), compiling included only on the wall clock (the device bracket sees none). */
export function timeOnce(
  rt: Runtime,
  run: () => Promise<void>,
  opts: TimerOptions = DEFAULT_TIMER,
): Promise<number> {
  return round(rt, 1, run, timerKind(rt, opts.kind));
}

/**
 * Best time per run (ms) of `run` over a few rounds, with reps sized from `first`, the time of one run
 * (measured here when not given; it counts as a round when a single rep is all the target allows).
 */
export async function timeRuns(
  rt: Runtime,
  run: () => Promise<void>,
  opts: TimerOptions = DEFAULT_TIMER,
  first?: number,
): Promise<number> {
  const kind = timerKind(rt, opts.kind);
  first ??= await round(rt, 1, run, kind);
  // the wall clock needs more work per round to stand above its noise (timers, the event loop)
  const target = kind === "wall" ? Math.max(opts.targetMs, 100) : opts.targetMs;
  const reps = Math.max(1, Math.min(opts.maxReps, Math.round(target / Math.max(first, 1e-3))));
  let best = reps === 1 ? first : Infinity;
  for (let r = reps === 1 ? 1 : 0; r < opts.rounds; r++) {
    best = Math.min(best, await round(rt, reps, run, kind));
  }
  return best;
}
