// What a run tells the results store, in one place: after each epoch's steps their rows and a
// heartbeat, then the epoch's row, every checkpoint written, and every evaluation with its embeddings.
// A run without a store (or without a run id) records nothing and trains the same.

import { dirname } from "node:path";
import type { ResolvedEval } from "../dsl/types.ts";
import type { CheckpointInput, EpochRow, ResultsStore, StepRow } from "../results/store.ts";
import { type CheckpointMeta, readCheckpointMeta } from "./checkpoint.ts";
import type { EvalResult } from "./evaluator.ts";
import { readOwner, samePath } from "./output.ts";

/** What the trainer tells a results store (lib/results' ResultsStore; tests may pass their own). */
export type RunRecorder =
  & Pick<
    ResultsStore,
    | "startRun"
    | "heartbeat"
    | "logSteps"
    | "logEpoch"
    | "addEval"
    | "addEmbeddings"
    | "addCheckpoint"
    | "finishRun"
  >
  // what a `--continue` needs to take its own run up again; a recorder without them starts a new run
  & Partial<Pick<ResultsStore, "reopenRun" | "getRun" | "stepMetrics">>;

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

/** The run a `--continue` takes up again: its id, and the rows of it the checkpoint accounts for. */
export interface ContinuedRun {
  runId: number;
  /** the last step row the checkpoint holds (-1: none); later ones are logged again */
  keepSteps: number;
  /** the first epoch the checkpoint did not complete; its row and later ones are logged again */
  fromEpoch: number;
}

/** A store file's path or a database URL, as the owner file and the recorder name it. */
function sameStore(a: string, b: string): boolean {
  const url = /^[a-z][a-z0-9+.-]*:\/\//i;
  if (url.test(a) || url.test(b)) return a.replace(/\/+$/, "") === b.replace(/\/+$/, "");
  return samePath(a, b);
}

/**
 * The step rows and epoch rows of a run that the checkpoint accounts for. Step numbers grow with
 * (epoch, step of the epoch), so what the checkpoint holds is every row of its complete epochs and,
 * saved inside an epoch, that epoch's first `position.iteration` rows; everything after them is
 * trained, and logged, again.
 */
export function rowsHeld(meta: CheckpointMeta, steps: StepRow[]): { keepSteps: number; fromEpoch: number } {
  const pos = meta.position;
  const fromEpoch = pos ? pos.epoch : meta.epoch !== undefined ? meta.epoch + 1 : 0;
  const kept = [
    ...steps.filter((r) => r.epoch < fromEpoch),
    ...(pos ? steps.filter((r) => r.epoch === pos.epoch).slice(0, pos.iteration) : []),
  ];
  return { keepSteps: kept.length ? Math.max(...kept.map((r) => r.step)) : -1, fromEpoch };
}

/**
 * Which run a `--continue` from `checkpoint` into `output` carries on, or why it starts a new one. It is
 * the run the output folder's owner file names, when that file names this same store, the checkpoint
 * lies in that folder and (when it says) was saved by that run, and the run is this experiment's and
 * not done. A checkpoint continued into another folder starts a new run, as a branch of the first.
 */
export async function continuedRun(
  rec: RunRecorder,
  /** the store's path or URL (what the owner file's `db` is compared with) */
  store: string | undefined,
  experiment: string,
  output: string,
  checkpoint: string,
): Promise<{ run?: ContinuedRun; why?: string }> {
  if (!rec.reopenRun || !rec.getRun || !rec.stepMetrics) return { why: "this store cannot reopen a run" };
  if (!samePath(dirname(checkpoint), output)) return { why: `${checkpoint} is not in ${output}` };
  const owner = await readOwner(output);
  if (owner?.runId === undefined) return { why: `no run id in ${output}'s owner file` };
  const id = owner.runId;
  if (!owner.db || !store || !sameStore(owner.db, store)) {
    return { why: `run ${id} is in ${owner.db ?? "no store"}, not in ${store ?? "this store"}` };
  }
  const meta = readCheckpointMeta(checkpoint);
  if (meta.runId !== undefined && meta.runId !== String(id)) {
    return { why: `${checkpoint} was saved by run ${meta.runId}, the folder's owner is run ${id}` };
  }
  const run = rec.getRun(id);
  if (!run) return { why: `run ${id} is not in ${store}` };
  if (run.experiment !== experiment) return { why: `run ${id} is ${run.experiment}, not ${experiment}` };
  if (run.status === "done") return { why: `run ${id} is done` };
  return { run: { runId: id, ...rowsHeld(meta, rec.stepMetrics(id)) } };
}
