// The gpu suite's time guard: the suite must finish inside --budget-s (default 420 s, the 8
// minutes on an H100 less a margin for start-up), so before each row it estimates the row's time and,
// when that would overrun, the row is printed as "skipped: budget" instead of run. A row's estimate is
// its work (FLOPs, or bytes for LayerNorm) times the slowest rate seen so far in its own section, which
// includes pipeline compiles and warm-ups, so estimates err long. The first row of a section has no
// rate of its own: it borrows the fastest rate of a named section (the model rows borrow the GEMMs':
// they run the tuned kernels, not the worst candidate) times a factor for the work that is not GEMMs,
// or, borrowing nothing, runs whenever any time is left.

export interface Borrow {
  from: string;
  factor: number;
}

export class Budget {
  readonly #t0 = performance.now();
  /** seconds per unit of work, per section: the slowest and the fastest seen */
  readonly #worst = new Map<string, number>();
  readonly #best = new Map<string, number>();

  constructor(readonly limitS: number) {}

  elapsedS(): number {
    return (performance.now() - this.#t0) / 1000;
  }

  leftS(): number {
    return this.limitS - this.elapsedS();
  }

  /** Estimated seconds for `work` units in `section`; undefined with nothing to go by. */
  estimateS(section: string, work: number, borrow?: Borrow): number | undefined {
    const own = this.#worst.get(section);
    if (own !== undefined) return own * work;
    const other = borrow && this.#best.get(borrow.from);
    return other === undefined ? undefined : other * work * borrow!.factor;
  }

  /** Whether a row of `work` units fits in what is left (one with no estimate runs while time is left). */
  fits(section: string, work: number, borrow?: Borrow): boolean {
    const est = this.estimateS(section, work, borrow);
    return this.leftS() > 0 && (est === undefined || est < this.leftS());
  }

  /** Times `run` and learns the section's rates from it. */
  async measure<T>(section: string, work: number, run: () => Promise<T>): Promise<T> {
    const t0 = performance.now();
    const out = await run();
    const perUnit = (performance.now() - t0) / 1000 / Math.max(work, 1);
    this.#worst.set(section, Math.max(this.#worst.get(section) ?? 0, perUnit));
    this.#best.set(section, Math.min(this.#best.get(section) ?? Infinity, perUnit));
    return out;
  }
}
