// vifi's own checkpoints: every tensor of the training state in one safetensors file (parameters by
// their model names, AdamW moments under `optimizer.m.` / `optimizer.v.`), and everything else as
// JSON in the safetensors metadata. Written to a temporary file and renamed, so a crash mid-write
// leaves the previous checkpoint intact, never half a new one. A checkpoint saved mid-epoch (Ctrl-C)
// carries the loader position and any half-accumulated gradients (`grad.`), so a continued run takes
// exactly the steps the unbroken run would have taken.

import { readSafetensors, readSafetensorsSource, writeSafetensors } from "../io/safetensors.ts";
import { openFileSource } from "../io/byte-source.ts";
import type { ViFiClip } from "../models/vifi.ts";
import type { AdamW, AdamWConfig } from "./optimizer.ts";
import type { LossScaler } from "./loss-scale.ts";
import { writeFileAtomic } from "../io/atomic-write.ts";
import { loadWeights } from "../models/weights/load.ts";
import type { ModelCheckpointMeta } from "../models/weights/checkpoint-meta.ts";
import type { CheckpointTokenizer } from "../models/weights/checkpoint-meta.ts";
import type { TokenizerKind } from "../text/tokenizer.ts";
import { readWordList } from "../text/words.ts";

export const LIBRARY_VERSION = "0.1.0";

/** A vifi checkpoint's metadata: the model half loading needs, and the run's state. */
export interface CheckpointMeta extends ModelCheckpointMeta {
  runId?: string;
  experiment?: unknown;
  /** the last complete epoch */
  epoch?: number;
  bestAccuracy?: number;
  bestEpoch?: number;
  /** where training stopped: the next batch is `batch` of `epoch` (absent: after epoch `epoch`) */
  position?: TrainPosition;
  optimizer?: { step: number; lr: number; config: AdamWConfig };
  lossScale?: { scale: number; cleanSteps: number; skipped: number };
  /** the data-parallel world that saved it: MPI ranks and each one's batch (absent: one process) */
  world?: SavedWorld;
}

/** Who took the steps a position counts: `ranks` MPI ranks, each a micro-batch of `batch` videos per step. */
export interface SavedWorld {
  ranks: number;
  batch: number;
}

export interface TrainPosition {
  epoch: number;
  /** loader batches of the epoch consumed */
  batch: number;
  /** training steps taken in the epoch (batches a skipped file shortened are not steps) */
  iteration: number;
  /** sum of the epoch's step losses so far, for its mean */
  lossSum: number;
  /** the learning rate of the next update */
  lr: number;
}

export interface SaveOptions {
  optimizer?: AdamW;
  scaler?: LossScaler;
  runId?: string;
  experiment?: unknown;
  epoch?: number;
  bestAccuracy?: number;
  bestEpoch?: number;
  position?: TrainPosition;
  /** also save the trainable parameters' gradients (an accumulation window cut in half) */
  gradients?: boolean;
  world?: SavedWorld;
}

type Stored = { dtype: "F32"; shape: number[]; data: Float32Array };

/** The experiment's tokenizer, a word list with its words (read now), for the checkpoint's model half. */
async function tokenizerMeta(experiment: unknown): Promise<CheckpointTokenizer | undefined> {
  const m = (experiment as { model?: { tokenizer?: unknown; vocab?: unknown } } | undefined)?.model;
  if (!m || typeof m.tokenizer !== "string") return undefined;
  const kind = m.tokenizer as TokenizerKind;
  if (kind !== "words" || typeof m.vocab !== "string") return { kind };
  return { kind, words: (await readWordList(m.vocab)).words };
}

/** Write model (+ optimizer, loss scale) to `path` atomically. */
export async function saveCheckpoint(path: string, model: ViFiClip, opts: SaveOptions = {}): Promise<void> {
  const tensors = new Map<string, Stored>();
  for (const [name, p] of model.clip.params) {
    tensors.set(name, {
      dtype: "F32",
      shape: [...p.value.shape],
      data: Float32Array.from(await p.value.read()),
    });
  }
  if (opts.optimizer) {
    for (const [name, { m, v }] of opts.optimizer.momentTensors()) {
      tensors.set(`optimizer.m.${name}`, {
        dtype: "F32",
        shape: [...m.shape],
        data: Float32Array.from(await m.read()),
      });
      tensors.set(`optimizer.v.${name}`, {
        dtype: "F32",
        shape: [...v.shape],
        data: Float32Array.from(await v.read()),
      });
    }
  }
  if (opts.gradients && opts.optimizer) {
    for (const p of opts.optimizer.params) {
      if (!p.trainable) continue;
      const g = p.gradBuffer();
      tensors.set(`grad.${p.name}`, {
        dtype: "F32",
        shape: [...g.shape],
        data: Float32Array.from(await g.read()),
      });
    }
  }
  const meta: CheckpointMeta = {
    format: "vifi-checkpoint",
    library: LIBRARY_VERSION,
    runId: opts.runId,
    experiment: opts.experiment,
    epoch: opts.epoch,
    bestAccuracy: opts.bestAccuracy,
    bestEpoch: opts.bestEpoch,
    position: opts.position,
    world: opts.world,
    model: {
      config: model.config,
      variant: model.variant,
      precision: model.clip.precision,
      prompts: model.clip.prompts,
      tokenizer: await tokenizerMeta(opts.experiment),
    },
    optimizer: opts.optimizer &&
      { step: opts.optimizer.step, lr: opts.optimizer.lr, config: opts.optimizer.config },
    lossScale: opts.scaler &&
      { scale: opts.scaler.scale, cleanSteps: opts.scaler.cleanSteps, skipped: opts.scaler.skipped },
    savedAt: new Date().toISOString(),
  };
  const bytes = writeSafetensors(tensors, { format: "vifi-checkpoint", vifi: JSON.stringify(meta) });
  await writeFileAtomic(path, bytes);
}

export interface Checkpoint {
  meta: CheckpointMeta;
  /** model tensors by name (conv1 flattened as the model stores it) */
  params: Map<string, Float32Array>;
  moments: Map<string, { m: Float32Array; v: Float32Array }>;
  /** gradients of a half-accumulated window, by parameter name */
  grads: Map<string, Float32Array>;
}

/** A vifi checkpoint's metadata from a safetensors header's strings; a clear error for anything else. */
function checkpointMetaOf(metadata: Record<string, string>, path: string): CheckpointMeta {
  if (metadata.format !== "vifi-checkpoint" || !metadata.vifi) {
    throw new Error(`vifi: ${path} is a safetensors file but not a vifi checkpoint (no vifi metadata)`);
  }
  try {
    return JSON.parse(metadata.vifi);
  } catch {
    throw new Error(`vifi: ${path}: the checkpoint metadata is not valid JSON`);
  }
}

/** A checkpoint's metadata alone, from the file's header (the tensors are not read). */
export function readCheckpointMeta(path: string): CheckpointMeta {
  const src = openFileSource(path);
  try {
    return checkpointMetaOf(readSafetensorsSource(src, path).metadata, path);
  } finally {
    src.close();
  }
}

export async function readCheckpoint(path: string): Promise<Checkpoint> {
  const { tensors, metadata } = readSafetensors(await Deno.readFile(path), path);
  const meta = checkpointMetaOf(metadata, path);
  const params = new Map<string, Float32Array>();
  const moments = new Map<string, { m: Float32Array; v: Float32Array }>();
  const grads = new Map<string, Float32Array>();
  for (const [name, t] of tensors) {
    if (!(t.data instanceof Float32Array)) {
      throw new Error(`vifi: ${path}: tensor ${name} is not floating point`);
    }
    const opt = /^optimizer\.(m|v)\.(.+)$/.exec(name);
    if (opt) {
      const entry = moments.get(opt[2]) ?? { m: new Float32Array(0), v: new Float32Array(0) };
      entry[opt[1] as "m" | "v"] = t.data;
      moments.set(opt[2], entry);
    } else if (name.startsWith("grad.")) {
      grads.set(name.slice(5), t.data);
    } else {
      params.set(name, t.data);
    }
  }
  return { meta, params, moments, grads };
}

/** Write values into the model's parameters (and their f16 copies); names not in the model are ignored. */
export function setParams(model: ViFiClip, values: Map<string, Float32Array>): string[] {
  const set: string[] = [];
  for (const [name, p] of model.clip.params) {
    const data = values.get(name);
    if (!data || data.length !== p.value.size) continue;
    p.value.rt.write(p.value.buffer, data);
    if (p.half) p.value.rt.write(p.half.buffer, new Float16Array(data));
    set.push(name);
  }
  model.dropTextCache();
  return set;
}

/**
 * The upstream's `--resume` (docs/upstream.md §8.8): a complete vifi checkpoint brings weights and optimizer state;
 * any other file (a ViFi-CLIP .pth, OpenAI CLIP, a checkpoint of another variant) brings the tensors
 * that fit, non-strictly, and the rest (e.g. new prompt vectors) keep their initialisation. Either
 * way the schedule starts again at epoch 0. Returns what was taken, for the log.
 */
export async function initialiseFrom(
  path: string,
  model: ViFiClip,
  opts: { optimizer?: AdamW; scaler?: LossScaler; clipWeights?: string } = {},
): Promise<string> {
  let ck: Checkpoint | undefined;
  try {
    ck = await readCheckpoint(path);
  } catch {
    ck = undefined; // not a vifi checkpoint: read it as weights below
  }
  const names = [...model.clip.params.keys()];
  if (ck && names.every((n) => ck.params.get(n)?.length === model.clip.p(n).value.size)) {
    await resumeInto(path, model, opts.optimizer, opts.scaler);
    return "weights and optimizer state";
  }
  let values = ck?.params;
  if (!values) {
    const w = await loadWeights(path, { clipWeights: opts.clipWeights, strict: false });
    values = new Map([...w.weights, ...(w.prompts?.weights ?? [])].map(([n, t]) => [n, t.data]));
  }
  const set = setParams(model, values);
  if (!set.length) throw new Error(`vifi: ${path}: no tensor fits the model`);
  const left = names.filter((n) => !set.includes(n));
  return `${set.length} of ${names.length} tensors` +
    (left.length
      ? `; kept their initialisation: ${left.slice(0, 4).join(", ")}${left.length > 4 ? ", …" : ""}`
      : "");
}

/**
 * Continue a run: parameter values, optimizer moments and step, and the loss scale go back exactly
 * where they were, so the loss curve continues as if training had not stopped.
 */
export async function resumeInto(
  path: string,
  model: ViFiClip,
  opt?: AdamW,
  scaler?: LossScaler,
): Promise<CheckpointMeta> {
  const ck = await readCheckpoint(path);
  for (const [name, p] of model.clip.params) {
    const data = ck.params.get(name);
    if (!data) throw new Error(`vifi: checkpoint ${path} has no ${name}`);
    if (data.length !== p.value.size) {
      throw new Error(
        `vifi: checkpoint ${path}: ${name} has ${data.length} values, the model ${p.value.size}`,
      );
    }
  }
  setParams(model, ck.params);
  if (opt && ck.meta.optimizer) {
    opt.restore(ck.meta.optimizer.step, ck.moments);
    opt.lr = ck.meta.optimizer.lr;
  }
  if (opt) {
    for (const p of opt.params) {
      const g = ck.grads.get(p.name);
      if (!p.trainable) continue;
      if (g && g.length !== p.value.size) {
        throw new Error(
          `vifi: checkpoint ${path}: grad.${p.name} has ${g.length} values, the model ${p.value.size}`,
        );
      }
      if (g) p.value.rt.write(p.gradBuffer().buffer, g);
    }
  }
  if (scaler && ck.meta.lossScale) {
    scaler.scale = ck.meta.lossScale.scale;
    scaler.cleanSteps = ck.meta.lossScale.cleanSteps;
    scaler.skipped = ck.meta.lossScale.skipped;
    scaler.rt.write(scaler.seed.buffer, new Float32Array([scaler.scale]));
  }
  return ck.meta;
}
