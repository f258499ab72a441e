// The gpu suite's time guard: the suite must finish inside --budget-s (default 420 s, the 8
// minutes on an H100 less a margin for start-up), so before each row it estimates the row's time and,
// when that would overrun, the row is printed as "skipped: budget" instead of run. Estimates scale the
// row's work (FLOPs or bytes) by the slowest rate seen so far in its section, which already includes the
// pipeline compiles and warm-ups, so they err long; the first row of a section has nothing to go by and
// borrows the previous section's rate times `firstFactor`.

export class Budget {
  readonly #t0 = performance.now();
  /** seconds per unit of work, per section: the worst seen */
  readonly #rate = new Map<string, number>();
  #last: number | undefined;

  constructor(readonly limitS: number) {}

  elapsedS(): number {
    return (performance.now() - this.#t0) / 1000;
  }

  leftS(): number {
    return this.limitS - this.elapsedS();
  }

  /** Estimated seconds for `work` units in `section`; undefined before anything was measured at all. */
  estimateS(section: string, work: number, firstFactor = 4): number | undefined {
    const r = this.#rate.get(section);
    if (r !== undefined) return r * work;
    return this.#last === undefined ? undefined : this.#last * work * firstFactor;
  }

  /** Whether a row of `work` units fits in what is left (a first row with no estimate always runs). */
  fits(section: string, work: number, firstFactor?: number): boolean {
    const est = this.estimateS(section, work, firstFactor);
    return est === undefined ? this.leftS() > 0 : est < this.leftS();
  }

  /** Times `run` and learns the section's rate from it. */
  async measure<T>(section: string, work: number, run: () => Promise<T>): Promise<T> {
    const t0 = performance.now();
    const out = await run();
    const perUnit = (performance.now() - t0) / 1000 / Math.max(work, 1);
    this.#rate.set(section, Math.max(this.#rate.get(section) ?? 0, perUnit));
    this.#last = perUnit;
    return out;
  }
}
