// SQLite rows to the store's records and back: the column-by-column decoding of each table's rows
// (runs, evals, epochs, checkpoints, …) and the blob helpers that carry typed arrays in and out.

import type { SQLInputValue } from "node:sqlite";
import type { ProtocolKind, ProtocolTag } from "../dsl/types.ts";
import type {
  CheckpointKind,
  CheckpointRow,
  ClassResult,
  DoneCheckpoint,
  Embeddings,
  EpochRow,
  EvalSummary,
  ResultRow,
  RunStatus,
  RunSummary,
  StepRow,
  Subset,
} from "./store-types.ts";

export type Row = Record<string, SQLInputValue>;

export function bytesOf(a: Float32Array | Int32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

// SQLite hands back blobs at any byte offset; copying gives the typed array its own aligned buffer.
export function f32Of(b: Uint8Array): Float32Array {
  return new Float32Array(b.slice().buffer);
}

export function i32Of(b: Uint8Array): Int32Array {
  return new Int32Array(b.slice().buffer);
}

export function json(s: SQLInputValue): unknown {
  return typeof s === "string" ? JSON.parse(s) : null;
}

export function num(v: SQLInputValue): number {
  return Number(v);
}

export function numOrNull(v: SQLInputValue): number | null {
  return v === null || v === undefined ? null : Number(v);
}

export function strOrNull(v: SQLInputValue): string | null {
  return v === null || v === undefined ? null : String(v);
}

/** A run's protocol tag from its protocol_* columns (the optional parts only where set). */
function protocolOf(r: Row): ProtocolTag {
  const protocol: ProtocolTag = { kind: String(r.protocol_kind) as ProtocolKind };
  if (r.protocol_dataset !== null) protocol.dataset = String(r.protocol_dataset);
  if (r.protocol_seed !== null) protocol.seed = num(r.protocol_seed);
  if (r.protocol_shots !== null) protocol.shots = num(r.protocol_shots);
  return protocol;
}

export function runOf(r: Row): RunSummary {
  return {
    id: num(r.id),
    experiment: String(r.experiment),
    protocol: protocolOf(r),
    variant: String(r.variant),
    commit: strOrNull(r.git_commit),
    seed: num(r.seed),
    device: String(r.device),
    status: String(r.status) as RunStatus,
    error: strOrNull(r.error),
    pid: num(r.pid),
    host: String(r.host),
    slurmJob: strOrNull(r.slurm_job),
    startedAt: num(r.started_at),
    finishedAt: numOrNull(r.finished_at),
    heartbeatAt: num(r.heartbeat_at),
    metrics: json(r.metrics),
  };
}

export function evalOf(r: Row): EvalSummary {
  return {
    id: num(r.id),
    runId: num(r.run_id),
    name: String(r.name),
    dataset: strOrNull(r.dataset),
    split: numOrNull(r.split),
    subset: strOrNull(r.subset) as Subset | null,
    clips: num(r.clips),
    crops: num(r.crops),
    top1: num(r.top1),
    top5: num(r.top5),
    count: num(r.count),
    epoch: numOrNull(r.epoch),
    createdAt: num(r.created_at),
    dropLast: num(r.drop_last ?? 0) === 1,
  };
}

export function epochOf(e: Row): Required<EpochRow> {
  return {
    epoch: num(e.epoch),
    trainLoss: numOrNull(e.train_loss),
    valTop1: numOrNull(e.val_top1),
    valTop5: numOrNull(e.val_top5),
    seconds: numOrNull(e.seconds),
  };
}

export function checkpointOf(c: Row): CheckpointRow {
  return {
    id: num(c.id),
    runId: num(c.run_id),
    epoch: num(c.epoch),
    kind: String(c.kind) as CheckpointKind,
    path: String(c.path),
    top1: numOrNull(c.top1),
    createdAt: num(c.created_at),
  };
}

export function stepOf(r: Row): Required<StepRow> {
  return {
    step: num(r.step),
    epoch: num(r.epoch),
    loss: num(r.loss),
    lr: num(r.lr),
    framesPerSec: numOrNull(r.frames_per_sec),
    time: num(r.time),
  };
}

export function classResultOf(c: Row): ClassResult & { index: number } {
  return {
    index: num(c.class_index),
    name: String(c.class_name),
    correct: num(c.correct),
    total: num(c.total),
  };
}

/** The confusion table's C × C counts blob as rows (confusion[true][predicted]). */
export function confusionOf(cm: Row): number[][] {
  const c = num(cm.classes), counts = i32Of(cm.counts as Uint8Array);
  return Array.from({ length: c }, (_, i) => Array.from(counts.subarray(i * c, (i + 1) * c)));
}

export function embeddingsOf(r: Row): Embeddings {
  return {
    n: num(r.n),
    dim: num(r.dim),
    labels: i32Of(r.labels as Uint8Array),
    vectors: f32Of(r.vectors as Uint8Array),
    classNames: JSON.parse(String(r.class_names)),
    classEmbeddings: r.class_vectors ? f32Of(r.class_vectors as Uint8Array) : null,
  };
}

/**
 * An evaluation joined with its run (store-reads.ts's results query): the best epoch goes on the row only
 * when the row is the run's validation evaluation (best_* and val_name come from the run's JSON).
 */
export function resultRowOf(r: Row): ResultRow {
  return {
    ...evalOf(r),
    experiment: String(r.experiment),
    protocol: protocolOf(r),
    variant: String(r.variant),
    finishedAt: num(r.finished_at),
    best: typeof r.best_top1 === "number" && typeof r.best_epoch === "number" && r.val_name === r.name
      ? { epoch: r.best_epoch, top1: r.best_top1 }
      : null,
  };
}

export function doneCheckpointOf(c: Row): DoneCheckpoint {
  return {
    path: String(c.path),
    runId: num(c.run_id),
    experiment: String(c.experiment),
    kind: String(c.kind) as CheckpointKind,
    epoch: num(c.epoch),
    top1: numOrNull(c.top1),
  };
}
