// The upstream learning-rate schedule (docs/upstream.md §8.4): timm's CosineLRScheduler with linear warmup from 0,
// indexed by loader iteration (not optimizer step), the cosine NOT shifted by the warmup, floor LR/100.
// The scheduler is stepped right after each optimizer step, so an update uses the rate set by the
// previous update's iteration — and the very first update runs at the warmup's initial rate, 0.

export interface ScheduleConfig {
  lr: number;
  epochs: number;
  warmupEpochs: number;
  /** loader iterations per epoch (per-step batches, not optimizer steps) */
  itersPerEpoch: number;
  /** floor as a fraction of lr (timm lr_min = LR/100 upstream) */
  minRatio?: number;
}

/** lr(t) for global loader iteration t, exactly timm's formula with the upstream arguments. */
export function lrAt(t: number, c: ScheduleConfig): number {
  const warm = c.warmupEpochs * c.itersPerEpoch;
  const total = c.epochs * c.itersPerEpoch;
  const min = c.lr * (c.minRatio ?? 0.01);
  if (t < warm) return (c.lr * t) / warm;
  if (t >= total) return min;
  return min + 0.5 * (c.lr - min) * (1 + Math.cos((Math.PI * t) / total));
}

/** The scheduler as the training loop sees it: `current` is the rate the next update uses. */
export class LrSchedule {
  current: number;

  constructor(readonly config: ScheduleConfig) {
    if (!(config.itersPerEpoch > 0)) {
      throw new Error(
        `vifi: the schedule needs at least one iteration per epoch, got ${config.itersPerEpoch}`,
      );
    }
    // timm sets warmup_lr_init (0) at construction when there is a warmup, the base rate otherwise.
    this.current = config.warmupEpochs > 0 ? 0 : lrAt(0, config);
  }

  /** Called after the optimizer step taken at loader iteration `iteration` of epoch `epoch`. */
  afterUpdate(epoch: number, iteration: number): void {
    this.current = lrAt(epoch * this.config.itersPerEpoch + iteration, this.config);
  }
}
