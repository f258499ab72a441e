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
