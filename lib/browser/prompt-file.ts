// The learned prompts as a file: the bridge-and-prompt tensors of ViFi-CLIP's prompting variant
// (prompt_learner.ctx, image_encoder.VPT and the VPT_shallow of deeper blocks, under their ViFi-CLIP names)
// in safetensors, with string metadata saying what they were learned on and for: the model's architecture
// and a fingerprint of its frozen weights, the prompt configuration, the class names and template, the
// steps and losses. A page writes it for download and `deno task predict --prompts FILE` and the
// dashboard read it, so both directions are bytes in, bytes out, with no Deno API.

import { readSafetensors, type WritableTensor, writeSafetensors } from "../io/safetensors.ts";
import type { ClipModel } from "../models/clip.ts";
import {
  type ClipConfig,
  clipShapes,
  type PromptConfig,
  promptShapes,
  type Weights,
} from "../models/config.ts";
import type { LoadedModel } from "../models/load.ts";
import type { PromptOverlay } from "../predict/predict.ts";
import { Tensor } from "../tensor/tensor.ts";

/** `format` in the metadata: what tells this file from a checkpoint. */
export const PROMPT_FILE_FORMAT = "vifi-prompts";
export const PROMPT_FILE_VERSION = 1;

/** A prompts file that cannot be read or does not fit the model: the user's input is at fault. */
export class PromptFileError extends Error {}

/** How the prompts were trained, as the file records it (informative: nothing reads it back to train). */
export interface PromptTraining {
  steps: number;
  /** loss of the first and of the last step */
  firstLoss: number;
  finalLoss: number;
  lr: number;
  weightDecay: number;
  batch: number;
  clips: number;
  frames: number;
  seed: number;
  /** true when the run was stopped before its planned steps */
  stopped: boolean;
}

export interface PromptFile {
  /** the architecture the prompts were learned on (its name is informative; the sizes must match) */
  model: ClipConfig;
  /** frozenFingerprint() of the weights they were learned on; absent when the writer had none */
  fingerprint?: string;
  /** the frozen weights' file or URL, as the trainer named it (informative) */
  weights?: string;
  config: PromptConfig;
  /** the learned tensors in promptShapes order, ViFi-CLIP names */
  tensors: Weights;
  classes: string[];
  /** the class prompt the text tower read after the learned context, "{name}" replaced */
  template: string;
  training?: PromptTraining;
}

/** The architecture's sizes, the part of a ClipConfig that must match (the name need not). */
function sizes(c: ClipConfig): [string, number][] {
  return [
    ["embedDim", c.embedDim],
    ...Object.entries(c.vision).map(([k, v]) => [`vision.${k}`, v] as [string, number]),
    ...Object.entries(c.text).map(([k, v]) => [`text.${k}`, v] as [string, number]),
  ];
}

/** The prompts as safetensors bytes (F32 tensors; metadata values are strings, JSON where structured). */
export function writePromptFile(f: PromptFile): Uint8Array {
  const tensors = new Map<string, WritableTensor>();
  for (const [name, shape] of promptShapes(f.model, f.config)) {
    const t = f.tensors.get(name);
    if (!t) throw new Error(`vifi: cannot write the prompts: tensor ${name} is missing`);
    tensors.set(name, { dtype: "F32", shape, data: t.data });
  }
  const meta: Record<string, string> = {
    format: PROMPT_FILE_FORMAT,
    version: String(PROMPT_FILE_VERSION),
    model: JSON.stringify(f.model),
    prompt: JSON.stringify(f.config),
    classes: JSON.stringify(f.classes),
    template: f.template,
  };
  if (f.fingerprint !== undefined) meta.fingerprint = f.fingerprint;
  if (f.weights !== undefined) meta.weights = f.weights;
  if (f.training) meta.training = JSON.stringify(f.training);
  return writeSafetensors(tensors, meta);
}

function parseJson<T>(
  meta: Record<string, string>,
  key: string,
  file: string,
  ok: (x: unknown) => boolean,
): T {
  const bad = () => new PromptFileError(`vifi: ${file}: metadata "${key}" is missing or malformed`);
  if (meta[key] === undefined) throw bad();
  let x: unknown;
  try {
    x = JSON.parse(meta[key]);
  } catch {
    throw bad();
  }
  if (!ok(x)) throw bad();
  return x as T;
}

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null;
const isInt = (x: unknown) => Number.isInteger(x) && (x as number) >= 0;

function isConfig(x: unknown): boolean {
  if (!isObject(x) || !isInt(x.embedDim) || !isObject(x.vision) || !isObject(x.text)) return false;
  const v = x.vision, t = x.text;
  return ["width", "layers", "heads", "patch", "resolution"].every((k) => isInt(v[k])) &&
    ["width", "layers", "heads", "context", "vocab"].every((k) => isInt(t[k]));
}

/** Reads a prompts file; anything else (a checkpoint, a bad tensor) is a one-line error naming `file`. */
export function readPromptFile(bytes: Uint8Array, file: string): PromptFile {
  let parsed;
  try {
    parsed = readSafetensors(bytes, file);
  } catch (e) {
    throw new PromptFileError(
      `vifi: ${file} is not a prompts file: ${(e as Error).message.replace(/^vifi: /, "")}`,
    );
  }
  const { tensors, metadata: meta } = parsed;
  if (meta.format !== PROMPT_FILE_FORMAT) {
    throw new PromptFileError(
      `vifi: ${file} is not a prompts file (its metadata has no format "${PROMPT_FILE_FORMAT}"; a model's ` +
        "weights go in --weights)",
    );
  }
  if (meta.version !== String(PROMPT_FILE_VERSION)) {
    throw new PromptFileError(
      `vifi: ${file} is a prompts file of version ${meta.version}; this vifi reads version ` +
        String(PROMPT_FILE_VERSION),
    );
  }
  const model = parseJson<ClipConfig>(meta, "model", file, isConfig);
  const config = parseJson<PromptConfig>(meta, "prompt", file, isObject);
  const classes = parseJson<string[]>(
    meta,
    "classes",
    file,
    (x) => Array.isArray(x) && x.length > 0 && x.every((s) => typeof s === "string"),
  );
  if (typeof meta.template !== "string" || !meta.template.includes("{name}")) {
    throw new PromptFileError(`vifi: ${file}: metadata "template" is missing or has no {name}`);
  }
  let shapes: [string, number[]][];
  try {
    shapes = promptShapes(model, config);
  } catch (e) {
    throw new PromptFileError(`vifi: ${file}: ${(e as Error).message.replace(/^vifi: /, "")}`);
  }
  const out: Weights = new Map();
  for (const [name, shape] of shapes) {
    const t = tensors.get(name);
    if (!t) throw new PromptFileError(`vifi: ${file}: tensor ${name} is missing`);
    if (t.shape.join(",") !== shape.join(",") || !(t.data instanceof Float32Array)) {
      throw new PromptFileError(
        `vifi: ${file}: tensor ${name} is ${t.dtype} [${t.shape}], the prompt configuration needs ` +
          `F32 [${shape}]`,
      );
    }
    out.set(name, { shape, data: t.data });
  }
  const extra = [...tensors.keys()].filter((k) => !out.has(k));
  if (extra.length) throw new PromptFileError(`vifi: ${file}: unexpected tensor ${extra[0]}`);
  const training = meta.training === undefined
    ? undefined
    : parseJson<PromptTraining>(meta, "training", file, isObject);
  return {
    model,
    fingerprint: meta.fingerprint,
    weights: meta.weights,
    config,
    tensors: out,
    classes,
    template: meta.template,
    training,
  };
}

/** Values sampled from each frozen tensor: its first, middle and last few. */
const SAMPLE = 16;

/**
 * A fingerprint of a model's frozen CLIP weights (prompt tensors excluded): 64-bit FNV-1a over the
 * architecture's sizes and the exact f32 bits of the first, middle and last 16 values of every tensor.
 * Sampled, so it costs one GPU read whatever the model's size: weights fine-tuned or initialised apart
 * differ in every value, so a sample tells them apart; two files that differ in a few values only are
 * beyond it. The copies into one buffer are data movement only, so every adapter gives the same bits.
 */
export async function frozenFingerprint(clip: ClipModel): Promise<string> {
  const spans: { buffer: GPUBuffer; first: number; n: number }[] = [];
  let total = 0;
  for (const [name] of clipShapes(clip.config)) {
    const t = clip.p(name).value;
    const n = Math.min(SAMPLE, t.size);
    for (const first of [0, Math.floor((t.size - n) / 2), t.size - n]) {
      spans.push({ buffer: t.buffer, first, n });
      total += n;
    }
  }
  const sample = Tensor.empty(clip.rt, [total], "f32", "weights fingerprint sample");
  let bits: Uint32Array;
  try {
    let at = 0;
    for (const s of spans) {
      clip.rt.copyBuffer(s.buffer, s.first * 4, sample.buffer, at * 4, s.n * 4);
      at += s.n;
    }
    const values = Float32Array.from(await sample.read());
    bits = new Uint32Array(values.buffer);
  } finally {
    sample.dispose();
  }
  const head = new TextEncoder().encode(JSON.stringify(sizes(clip.config)));
  let h = 0xcbf29ce484222325n;
  const mix = (byte: number) => {
    h = ((h ^ BigInt(byte)) * 0x100000001b3n) & 0xffffffffffffffffn;
  };
  for (const b of head) mix(b);
  for (const w of bits) for (let k = 0; k < 32; k += 8) mix((w >>> k) & 0xff);
  return h.toString(16).padStart(16, "0");
}

/**
 * Throws a one-line PromptFileError naming `file` when the prompts were learned on another model: a
 * different architecture (the first size that differs), or other frozen weights (the fingerprints).
 */
export async function checkPromptsFit(
  f: PromptFile,
  file: string,
  clip: ClipModel,
  weightsName = "the model",
): Promise<void> {
  const want = new Map(sizes(f.model));
  for (const [k, v] of sizes(clip.config)) {
    if (want.get(k) !== v) {
      throw new PromptFileError(
        `vifi: ${file} was learned on ${f.model.name} with ${k} ${want.get(k)}, but ${weightsName} ` +
          `(${clip.config.name}) has ${k} ${v}`,
      );
    }
  }
  if (f.fingerprint === undefined) return;
  const got = await frozenFingerprint(clip);
  if (got !== f.fingerprint) {
    throw new PromptFileError(
      `vifi: ${file} was learned on other weights of ${f.model.name} (fingerprint ${f.fingerprint}` +
        `${f.weights ? `, ${f.weights}` : ""}) than ${weightsName} (fingerprint ${got})`,
    );
  }
}

/** The file as predict's overlay: lib/predict adds the tensors once checkPromptsFit passes. */
export function promptOverlay(f: PromptFile, file: string): PromptOverlay {
  return {
    source: file,
    config: f.config,
    weights: f.tensors,
    check: (loaded: LoadedModel) => checkPromptsFit(f, file, loaded.model.clip, loaded.source?.file),
  };
}
