// Database rows (either backend: sql.ts) to the store's records and back: the column-by-column decoding of each table's rows
// (runs, evals, epochs, checkpoints, …) and the blob helpers that carry typed arrays in and out.

import type { Row, SqlValue } from "./sql.ts";
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

export type { Row } from "./sql.ts";

export function bytesOf(a: Float32Array | Int32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

// A database hands back blobs at any byte offset; copying gives the typed array its own aligned buffer.
export function f32Of(b: Uint8Array): Float32Array {
  return new Float32Array(b.slice().buffer);
}

export function i32Of(b: Uint8Array): Int32Array {
  return new Int32Array(b.slice().buffer);
}

export function json(s: SqlValue): unknown {
  return typeof s === "string" ? JSON.parse(s) : null;
}

export function num(v: SqlValue): number {
  return Number(v);
}

export function numOrNull(v: SqlValue): number | null {
  return v === null || v === undefined ? null : Number(v);
}

export function strOrNull(v: SqlValue): string | null {
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

/** What the results query needs from a finished run's JSON: its best epoch and its validation eval's name. */
export interface RunBest {
  best: { epoch: number; top1: number } | null;
  valName: string | null;
}

/** A run's metrics.best (the trainer's, validated on the experiment's first evaluation) and that eval's name. */
export function runBestOf(metrics: SqlValue, config: SqlValue): RunBest {
  const parse = (s: SqlValue): unknown => {
    try {
      return typeof s === "string" ? JSON.parse(s) : null;
    } catch {
      return null;
    }
  };
  const m = parse(metrics) as { best?: { epoch?: unknown; top1?: unknown } } | null;
  const c = parse(config) as { evals?: { name?: unknown }[] } | null;
  const b = m?.best;
  const valName = c?.evals?.[0]?.name;
  return {
    best: b && typeof b.top1 === "number" && typeof b.epoch === "number"
      ? { epoch: b.epoch, top1: b.top1 }
      : null,
    valName: typeof valName === "string" ? valName : null,
  };
}

/**
 * An evaluation joined with its run (store-reads.ts's results query): the best epoch goes on the row only
 * when the row is the run's validation evaluation.
 */
export function resultRowOf(r: Row, run: RunBest | undefined): ResultRow {
  return {
    ...evalOf(r),
    experiment: String(r.experiment),
    protocol: protocolOf(r),
    variant: String(r.variant),
    finishedAt: num(r.finished_at),
    best: run?.best && run.valName === r.name ? run.best : null,
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
