// The results store's records: what the trainer hands it (StartRunInput, StepRow, EvalInput, …) and what
// readers get back (RunSummary, RunDetail, EvalDetail, ResultRow, …). Row decoding lives in
// store-rows.ts, the SQL in store.ts (writes) and store-reads.ts (reads).

import type { ProtocolKind, ProtocolTag } from "../dsl/types.ts";

export type RunStatus = "running" | "done" | "failed" | "interrupted";
export type CheckpointKind = "best" | "last" | "epoch";
export type Subset = "base" | "novel" | "all";

export interface StartRunInput {
  experiment: string;
  protocol: ProtocolTag;
  /** what trained (ModelSpec.variant); for an evaluation-only run, the variant the weights were trained with */
  variant: string;
  /** the resolved experiment, stored as JSON */
  config: unknown;
  /** default: currentCommit() */
  commit?: string | null;
  seed: number;
  /** adapter description */
  device: string;
  /** the Slurm task this run is ("<array job>_<task>" or "<job>"); default: from SLURM_* in the environment */
  slurmJob?: string | null;
}

export interface StepRow {
  step: number;
  epoch: number;
  loss: number;
  lr: number;
  framesPerSec?: number | null;
  /** ms since the epoch (Date.now()); default: the time of logging */
  time?: number;
}

export interface EpochRow {
  epoch: number;
  trainLoss?: number | null;
  valTop1?: number | null;
  valTop5?: number | null;
  seconds?: number | null;
}

export interface ClassResult {
  name: string;
  correct: number;
  total: number;
}

export interface EvalInput {
  name: string;
  dataset?: string;
  split?: number;
  subset?: Subset;
  clips: number;
  crops: number;
  /** percent, 0..100, as the paper reports */
  top1: number;
  top5: number;
  /** videos evaluated */
  count: number;
  epoch?: number;
  /** scored as the upstream's drop_last validation batches (default false: every video) */
  dropLast?: boolean;
  /** one entry per class, in label-index order */
  perClass: ClassResult[];
  /** confusion[true][predicted], C × C */
  confusion: number[][];
}

export interface EmbeddingsInput {
  /** N × dim video embeddings, row-major */
  vectors: Float32Array;
  dim: number;
  /** N label indices */
  labels: ArrayLike<number>;
  classNames: string[];
  /** C × dim class text embeddings, row-major */
  classEmbeddings?: Float32Array;
}

export interface Embeddings {
  n: number;
  dim: number;
  labels: Int32Array;
  vectors: Float32Array;
  classNames: string[];
  classEmbeddings: Float32Array | null;
}

export interface EmbeddingMapRow {
  /** N × 2, row-major */
  points: Float32Array;
  /** ms since the epoch */
  created: number;
}

export interface CheckpointInput {
  epoch: number;
  kind: CheckpointKind;
  path: string;
  top1?: number | null;
}

export interface FinishInput {
  status: Exclude<RunStatus, "running">;
  error?: string;
  metrics?: unknown;
}

export interface RunSummary {
  id: number;
  experiment: string;
  protocol: ProtocolTag;
  variant: string;
  commit: string | null;
  seed: number;
  device: string;
  status: RunStatus;
  error: string | null;
  pid: number;
  host: string;
  /** the Slurm task it ran as, null outside Slurm */
  slurmJob: string | null;
  startedAt: number;
  finishedAt: number | null;
  heartbeatAt: number;
  metrics: unknown;
}

export interface EvalSummary {
  id: number;
  runId: number;
  name: string;
  dataset: string | null;
  split: number | null;
  subset: Subset | null;
  clips: number;
  crops: number;
  top1: number;
  top5: number;
  count: number;
  epoch: number | null;
  createdAt: number;
  /** scored as the upstream's drop_last validation (a device's odd video out left unscored); absent = no */
  dropLast?: boolean;
}

export interface CheckpointRow extends CheckpointInput {
  id: number;
  runId: number;
  createdAt: number;
}

export interface RunDetail extends RunSummary {
  config: unknown;
  evals: EvalSummary[];
  epochs: Required<EpochRow>[];
  checkpoints: CheckpointRow[];
}

export interface EvalDetail extends EvalSummary {
  perClass: (ClassResult & { index: number })[];
  confusion: number[][] | null;
  hasEmbeddings: boolean;
}

export interface RunFilter {
  experiment?: string;
  protocol?: ProtocolKind;
  dataset?: string;
  variant?: string;
  status?: RunStatus;
  /** most recent first; default all */
  limit?: number;
}

/** One evaluation of a finished run with its run's tags: what the leaderboard aggregates. */
export interface ResultRow extends EvalSummary {
  experiment: string;
  protocol: ProtocolTag;
  variant: string;
  finishedAt: number;
  /**
   * The run's best validated epoch, on this row when it is the run's validation evaluation (the
   * experiment's first, at its own views): the row itself is the final epoch's. Few-shot reports
   * either (the paper does not say which); null when the run validated no epoch.
   */
  best?: { epoch: number; top1: number } | null;
}

/** A checkpoint of a finished run, as the predict form lists it. */
export interface DoneCheckpoint {
  path: string;
  runId: number;
  experiment: string;
  kind: CheckpointKind;
  epoch: number;
  top1: number | null;
}
