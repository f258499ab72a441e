// Evaluation counts per docs/upstream.md §9: top-1 / top-5 over summed per-view probabilities, per-class accuracy
// and the confusion matrix (rows = true class, columns = predicted).

export interface ClassResult {
  name: string;
  correct: number;
  total: number;
}

export interface EvalMetrics {
  top1: number;
  top5: number;
  count: number;
  perClass: ClassResult[];
  confusion: number[][];
}

export class Accuracy {
  private correct1 = 0;
  private correct5 = 0;
  private n = 0;
  readonly confusion: number[][];

  constructor(readonly classNames: string[]) {
    this.confusion = classNames.map(() => new Array(classNames.length).fill(0));
  }

  /** scores [B, C] (any monotone score: summed probabilities), labels [B] */
  add(scores: Float32Array, labels: ArrayLike<number>): void {
    const C = this.classNames.length;
    if (scores.length !== labels.length * C) {
      throw new Error(`vifi: accuracy: ${scores.length} scores for ${labels.length} videos × ${C} classes`);
    }
    for (let b = 0; b < labels.length; b++) {
      const row = scores.subarray(b * C, (b + 1) * C);
      const y = labels[b];
      let best = 0;
      for (let c = 1; c < C; c++) if (row[c] > row[best]) best = c;
      // top-5: fewer than five classes score strictly higher than the true one
      let above = 0;
      for (let c = 0; c < C; c++) if (row[c] > row[y]) above++;
      if (best === y) this.correct1++;
      if (above < 5) this.correct5++;
      this.confusion[y][best]++;
      this.n++;
    }
  }

  /** The counts behind the result, [top-1 correct, top-5 correct, videos, confusion row by row]: summable. */
  counts(): Float64Array {
    const C = this.classNames.length;
    const out = new Float64Array(3 + C * C);
    out[0] = this.correct1;
    out[1] = this.correct5;
    out[2] = this.n;
    for (let y = 0; y < C; y++) out.set(this.confusion[y], 3 + y * C);
    return out;
  }

  /** Replaces the counts with `counts` (counts() of several shards, summed: data-parallel evaluation). */
  setCounts(counts: Float64Array): void {
    const C = this.classNames.length;
    if (counts.length !== 3 + C * C) {
      throw new Error(`vifi: accuracy: ${counts.length} counts for ${C} classes (want ${3 + C * C})`);
    }
    [this.correct1, this.correct5, this.n] = [counts[0], counts[1], counts[2]];
    for (let y = 0; y < C; y++) {
      for (let c = 0; c < C; c++) this.confusion[y][c] = counts[3 + y * C + c];
    }
  }

  result(): EvalMetrics {
    const pct = (k: number) => (this.n ? (100 * k) / this.n : 0);
    return {
      top1: pct(this.correct1),
      top5: pct(this.correct5),
      count: this.n,
      perClass: this.classNames.map((name, c) => ({
        name,
        correct: this.confusion[c][c],
        total: this.confusion[c].reduce((a, b) => a + b, 0),
      })),
      confusion: this.confusion.map((r) => r.slice()),
    };
  }
}
