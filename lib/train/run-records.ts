// What a run tells the results store, in one place: after each epoch's steps their rows and a
// heartbeat, then the epoch's row, every checkpoint written, and every evaluation with its embeddings.
// A run without a store (or without a run id) records nothing and trains the same.

import type { ResolvedEval } from "../dsl/types.ts";
import type { CheckpointInput, EpochRow, ResultsStore, StepRow } from "../results/store.ts";
import type { EvalResult } from "./evaluator.ts";

/** What the trainer tells a results store (lib/results' ResultsStore; tests may pass their own). */
export type RunRecorder = Pick<
  ResultsStore,
  | "startRun"
  | "heartbeat"
  | "logSteps"
  | "logEpoch"
  | "addEval"
  | "addEmbeddings"
  | "addCheckpoint"
  | "finishRun"
>;

/** The store's rows of one run: `runId` is the id the store gave it when it started. */
export class RunRecords {
  constructor(readonly recorder: RunRecorder | undefined, readonly runId: number | undefined) {}

  /** An epoch's step rows (also after Ctrl-C), and a heartbeat that says the run is alive. */
  steps(rows: StepRow[]): void {
    if (!this.recorder || this.runId === undefined) return;
    this.recorder.logSteps(this.runId, rows);
    this.recorder.heartbeat(this.runId);
  }

  /** A completed epoch's row: its mean loss, and the validation when one ran. */
  epoch(row: EpochRow): void {
    if (this.recorder && this.runId !== undefined) this.recorder.logEpoch(this.runId, row);
  }

  checkpoint(c: CheckpointInput): void {
    // a store always gives a run id, so a recorder means there is one
    this.recorder?.addCheckpoint(this.runId!, c);
  }

  /** One evaluation: its scores, per-class results and confusion, and the embeddings behind them. */
  evaluation(
    e: ResolvedEval,
    clips: number,
    crops: number,
    r: EvalResult,
    epoch: number | undefined,
    name: string,
  ) {
    if (!this.recorder || this.runId === undefined) return;
    const id = this.recorder.addEval(this.runId, {
      name,
      dataset: e.dataset,
      split: e.split,
      subset: e.subset,
      clips,
      crops,
      top1: r.top1,
      top5: r.top5,
      count: r.count,
      epoch,
      dropLast: e.dropLast,
      perClass: r.perClass,
      confusion: r.confusion,
    });
    this.recorder.addEmbeddings(id, {
      vectors: r.embeddings.video,
      dim: r.embeddings.dim,
      labels: r.embeddings.labels,
      classNames: r.perClass.map((c) => c.name),
      classEmbeddings: r.embeddings.text,
    });
  }
}
