// Weights from any supported file into the model's vocabulary: OpenAI's TorchScript release, a
// ViFi-CLIP training checkpoint (torch zip), a Hugging Face or other safetensors export, or vifi's own
// checkpoint. The container is read by lib/io/tensor-file.ts, the naming is recognised from the tensor
// names and the architecture from the shapes (./keymap.ts).

import type { ClipConfig, PromptConfig, Weights } from "../config.ts";
import { type MappingReport, mapWeights, type Naming } from "./keymap.ts";
import {
  openWeightSource,
  type RawTensor,
  type RawTensorFile,
  readTensorFile,
  type WeightFormat,
} from "../../io/tensor-file.ts";
import { type ByteSource, memorySource } from "../../io/byte-source.ts";
import { oneLine } from "../../io/messages.ts";

export type { RawTensor, RawTensorFile, WeightFormat };

/**
 * A weight file already in memory (fetched by a page, say) and the name its errors give it: reading it
 * needs no file system, so this is the path a browser takes.
 */
export interface WeightBytes {
  bytes: Uint8Array;
  name: string;
}

/** A path or URL to read, or the file's bytes. */
export type WeightInput = string | URL | WeightBytes;

function isWeightBytes(x: WeightInput): x is WeightBytes {
  return typeof x === "object" && !(x instanceof URL) && x.bytes instanceof Uint8Array;
}

/** How errors and reports name a weight input. */
export function weightName(x: WeightInput): string {
  return isWeightBytes(x) ? x.name : String(x);
}

async function openWeightInput(x: WeightInput): Promise<ByteSource & { close(): void }> {
  return isWeightBytes(x) ? { ...memorySource(x.bytes, x.name), close() {} } : await openWeightSource(x);
}

export interface LoadWeightsOptions {
  /** throw unless every tensor is accounted for (default true) */
  strict?: boolean;
  /** an OpenAI CLIP file (any format) to take the token embedding from: ViFi-CLIP checkpoints lack it */
  clipWeights?: WeightInput;
  /** width of one attention head, to infer head counts (default 64; vifi checkpoints record theirs) */
  headWidth?: number;
}

export interface LoadedWeights {
  format: WeightFormat;
  naming: Naming;
  config: ClipConfig;
  /** CLIP parameters by OpenAI name, float32 (fp16 files widened exactly) */
  weights: Weights;
  prompts?: { config: PromptConfig; weights: Weights };
  report: MappingReport;
  /** values in `weights` and `prompts` */
  params: number;
  /** source tensors per stored dtype */
  dtypes: Record<string, number>;
  meta?: unknown;
}

/** A vifi checkpoint records its heads; width / heads is the head width to infer them back. */
function recordedHeadWidth(meta: unknown): number | undefined {
  const v = (meta as { model?: { config?: ClipConfig } } | undefined)?.model?.config?.vision;
  return v && v.width > 0 && v.heads > 0 ? v.width / v.heads : undefined;
}

/**
 * Load CLIP (and prompt) weights from any supported file into the model's vocabulary, float32.
 * Strict by default: a file that does not fit the architecture its own shapes imply is refused
 * with a summary of what is missing, unexpected or mis-shaped. Only the tensors the model takes are
 * read from disk (a training checkpoint's optimizer state is not).
 */
export async function loadWeights(path: WeightInput, opts: LoadWeightsOptions = {}): Promise<LoadedWeights> {
  return await withWeights(path, opts, false, (w) => {
    const plain = (m: Weights): Weights =>
      new Map([...m].map(([k, t]) => [k, { shape: t.shape, data: t.data }]));
    return {
      ...w,
      weights: plain(w.weights),
      prompts: w.prompts && { ...w.prompts, weights: plain(w.prompts.weights) },
    };
  });
}

/**
 * What `loadWeights` would answer (format, naming, architecture, report, parameter count, dtypes),
 * from the file's headers alone: no tensor data is read, so a multi-gigabyte checkpoint costs
 * kilobytes. The returned `weights` carry shapes only; reading their `data` throws.
 */
export async function inspectWeights(
  path: WeightInput,
  opts: LoadWeightsOptions = {},
): Promise<LoadedWeights> {
  return await withWeights(path, opts, true, (w) => w);
}

/** The weight file (and the CLIP file supplementing it) read, while `body` runs; closed after. */
export async function withTensorFiles<T>(
  path: WeightInput,
  opts: LoadWeightsOptions,
  headersOnly: boolean,
  body: (file: RawTensorFile, supplement: Map<string, RawTensor> | undefined) => T,
): Promise<T> {
  const sources: (ByteSource & { close(): void })[] = [];
  try {
    const src = await openWeightInput(path);
    sources.push(src);
    const file = await readTensorFile(src, weightName(path), { headersOnly });
    let supplement: Map<string, RawTensor> | undefined;
    if (opts.clipWeights) {
      const extra = await openWeightInput(opts.clipWeights);
      sources.push(extra);
      supplement = (await readTensorFile(extra, weightName(opts.clipWeights), { headersOnly })).tensors;
    }
    return body(file, supplement);
  } catch (e) {
    // names inside the file (keys, entries) appear in messages; keep them to one line
    if (e instanceof Error) e.message = oneLine(e.message);
    throw e;
  } finally {
    for (const s of sources) s.close();
  }
}

export function countDtypes(file: RawTensorFile): Record<string, number> {
  const dtypes: Record<string, number> = {};
  for (const t of file.tensors.values()) dtypes[t.dtype] = (dtypes[t.dtype] ?? 0) + 1;
  return dtypes;
}

export const elements = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

export function mapOptions(
  file: RawTensorFile,
  supplement: Map<string, RawTensor> | undefined,
  opts: LoadWeightsOptions,
  fileName: string,
) {
  return {
    strict: opts.strict,
    headWidth: opts.headWidth ?? recordedHeadWidth(file.meta),
    naming: file.format === "vifi-checkpoint" ? "openai" as const : undefined,
    supplement,
    source: fileName,
  };
}

async function withWeights(
  path: WeightInput,
  opts: LoadWeightsOptions,
  headersOnly: boolean,
  finish: (w: LoadedWeights) => LoadedWeights,
): Promise<LoadedWeights> {
  const fileName = weightName(path);
  return await withTensorFiles(path, opts, headersOnly, (file, supplement) => {
    const mapped = mapWeights(file.tensors, mapOptions(file, supplement, opts, fileName));
    const dtypes = countDtypes(file);
    let params = 0;
    for (const t of mapped.weights.values()) params += elements(t.shape);
    for (const t of mapped.prompts?.weights.values() ?? []) params += elements(t.shape);
    // the finishing step reads whatever data it needs while the files are still open
    return finish({
      format: file.format,
      naming: mapped.naming,
      config: mapped.config,
      weights: mapped.weights,
      prompts: mapped.prompts,
      report: mapped.report,
      params,
      dtypes,
      meta: file.meta,
    });
  });
}
