// One entry point for every weight file a user may hold: OpenAI's TorchScript release, a ViFi-CLIP
// training checkpoint (torch zip), a Hugging Face or other safetensors export, or vifi's own
// checkpoint. The container is recognised by its first bytes (extensions lie: ViFi-CLIP ships
// .pth, OpenAI .pt, both zips), the naming by the tensor names, the architecture by the shapes.

import type { ClipConfig, PromptConfig, Weights } from "../models/config.ts";
import {
  describePartial,
  type MappingReport,
  mapWeights,
  type Naming,
  type PartialClipConfig,
  type SourceTensor,
} from "./keymap.ts";
import { readSafetensorsSource } from "./safetensors.ts";
import { type ByteSource, memorySource, openFileSource, toSource } from "./byte-source.ts";
import { oneLine } from "./messages.ts";

export type WeightFormat = "safetensors" | "torch-zip" | "torchscript" | "vifi-checkpoint";

export interface RawTensor extends SourceTensor {
  dtype: string;
}

export interface RawTensorFile {
  format: WeightFormat;
  tensors: Map<string, RawTensor>;
  /** a vifi checkpoint's parsed `vifi` metadata; a safetensors file's metadata otherwise */
  meta?: unknown;
}

export interface LoadWeightsOptions {
  /** throw unless every tensor is accounted for (default true) */
  strict?: boolean;
  /** an OpenAI CLIP file (any format) to take the token embedding from: ViFi-CLIP checkpoints lack it */
  clipWeights?: string | URL;
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

/** The part of ./torch.ts's TorchFile the state-dict selection looks at. */
export interface TorchContents<T> {
  root: unknown;
  tensors: Map<string, T>;
}

export type Container = "safetensors" | "zip" | "pickle" | "unknown";

/** The container, from magic bytes (the first 9 are enough). */
export function sniffContainer(bytes: Uint8Array): Container {
  if (bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04) {
    return "zip";
  }
  // pickle protocol 2+ opens with PROTO; that is torch.save's pre-1.6 format
  if (bytes.length >= 2 && bytes[0] === 0x80 && bytes[1] >= 2 && bytes[1] <= 5) return "pickle";
  // a plausible header length (under 4 GiB) followed by the JSON header's `{`; a truncated file
  // still qualifies, so the safetensors reader gets to say what is wrong with it
  if (
    bytes.length >= 9 && bytes[8] === 0x7b && bytes[4] === 0 && bytes[5] === 0 && bytes[6] === 0 &&
    bytes[7] === 0
  ) {
    return "safetensors";
  }
  return "unknown";
}

function entriesOf(x: unknown): [string, unknown][] | undefined {
  if (x instanceof Map) return [...x.entries()].map(([k, v]) => [String(k), v]);
  if (x && typeof x === "object" && !Array.isArray(x) && !ArrayBuffer.isView(x)) return Object.entries(x);
  return undefined;
}

/**
 * A training checkpoint is a dict whose `model` (ViFi-CLIP) or `state_dict` (common elsewhere) entry
 * is the state dict; the optimizer state beside it is not weights. Tensors are found in that
 * sub-dict by identity with the reader's tensor objects, or failing that by a `model.` key prefix.
 */
export function selectStateDict<T>(file: TorchContents<T>, fileName: string): Map<string, T> {
  const top = entriesOf(file.root);
  const sub = top?.find(([k]) => k === "model") ?? top?.find(([k]) => k === "state_dict");
  if (!sub) return file.tensors;
  const byObject = new Map<unknown, string>();
  for (const [name, t] of file.tensors) byObject.set(t, name);
  const out = new Map<string, T>();
  for (const [k, v] of entriesOf(sub[1]) ?? []) {
    if (byObject.has(v)) out.set(k, v as T);
  }
  if (out.size) return out;
  const prefix = `${sub[0]}.`;
  for (const [name, t] of file.tensors) if (name.startsWith(prefix)) out.set(name.slice(prefix.length), t);
  if (!out.size) throw new Error(`vifi: ${fileName}: its "${sub[0]}" entry holds no tensors`);
  return out;
}

export interface ReadTensorFileOptions {
  /** read names, dtypes and shapes only; tensor data stays unread (deflated torch storages uninflated) */
  headersOnly?: boolean;
}

/**
 * Tensors of a weight file in whatever naming it uses, unmapped. Only the headers are read here;
 * each tensor's bytes are read from `input` when its `data` is first used.
 */
export async function readTensorFile(
  input: Uint8Array | ByteSource,
  fileName: string,
  opts: ReadTensorFileOptions = {},
): Promise<RawTensorFile> {
  const src = toSource(input, fileName);
  const bytes = src.read(0, 9);
  const container = sniffContainer(bytes);
  if (container === "safetensors") {
    const { tensors, metadata } = readSafetensorsSource(src, fileName);
    if (metadata.format === "vifi-checkpoint") {
      let meta: unknown = metadata.vifi;
      try {
        meta = JSON.parse(metadata.vifi);
      } catch { /* keep the raw string: the weights are still usable */ }
      // vifi's model keeps conv1 as the [W, 3·P·P] matrix its GEMM multiplies; files carry [W, 3, P, P]
      const conv = tensors.get("visual.conv1.weight");
      if (conv && conv.shape.length === 2) {
        const patch = Math.sqrt(conv.shape[1] / 3);
        if (Number.isInteger(patch)) conv.shape = [conv.shape[0], 3, patch, patch];
      }
      return { format: "vifi-checkpoint", tensors, meta };
    }
    return { format: "safetensors", tensors, meta: Object.keys(metadata).length ? metadata : undefined };
  }
  if (container === "zip") {
    // loaded on first use: safetensors users never pay for the pickle reader
    const { readTorchAsync } = await import("./torch.ts");
    let file: Awaited<ReturnType<typeof readTorchAsync>>;
    try {
      file = await readTorchAsync(src, fileName, opts);
    } catch (e) {
      // the zip and pickle readers name the file; the prefix makes their messages read like the rest
      const message = e instanceof Error ? e.message : String(e);
      throw new Error(message.startsWith("vifi: ") ? message : `vifi: ${message}`);
    }
    const tensors = new Map<string, RawTensor>();
    for (const [name, t] of selectStateDict(file, fileName)) {
      // torch converts `data` on first access; staying lazy means a training checkpoint's unused
      // tensors are never converted. Dtypes are spelled as safetensors spells them.
      tensors.set(name, {
        dtype: t.dtype.toUpperCase(),
        shape: t.shape,
        get data() {
          return t.data;
        },
      });
    }
    return { format: file.format, tensors };
  }
  if (container === "pickle") {
    throw new Error(
      `vifi: ${fileName} is a legacy (pre-1.6, non-zip) torch.save file; re-save it with a newer torch ` +
        "or convert it to safetensors",
    );
  }
  const head = [...bytes.subarray(0, 8)].map((b) => b.toString(16).padStart(2, "0")).join(" ");
  throw new Error(
    `vifi: ${fileName}: not a safetensors, PyTorch zip or TorchScript file (first bytes ${head || "none"})`,
  );
}

/** A weight file as a source: a local file is read on demand, an http(s) URL is fetched whole. */
async function openWeightSource(path: string | URL): Promise<ByteSource & { close(): void }> {
  const url = path instanceof URL ? path : /^https?:\/\//.test(path) ? new URL(path) : undefined;
  if (url && url.protocol !== "file:") {
    const res = await fetch(url);
    if (!res.ok) throw new Error(`vifi: cannot fetch ${url}: HTTP ${res.status} ${res.statusText}`);
    return { ...memorySource(new Uint8Array(await res.arrayBuffer()), String(path)), close() {} };
  }
  const file = url ? decodeURIComponent(url.pathname) : String(path);
  try {
    return openFileSource(file);
  } catch (e) {
    const why = (e instanceof Error ? e.message : String(e)).replace(`vifi: cannot read ${file}: `, "");
    throw new Error(`vifi: cannot read weights ${path}: ${why}`);
  }
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
export async function loadWeights(path: string | URL, opts: LoadWeightsOptions = {}): Promise<LoadedWeights> {
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
  path: string | URL,
  opts: LoadWeightsOptions = {},
): Promise<LoadedWeights> {
  return await withWeights(path, opts, true, (w) => w);
}

/** The weight file (and the CLIP file supplementing it) read, while `body` runs; closed after. */
async function withTensorFiles<T>(
  path: string | URL,
  opts: LoadWeightsOptions,
  headersOnly: boolean,
  body: (file: RawTensorFile, supplement: Map<string, RawTensor> | undefined) => T,
): Promise<T> {
  const sources: (ByteSource & { close(): void })[] = [];
  try {
    const src = await openWeightSource(path);
    sources.push(src);
    const file = await readTensorFile(src, String(path), { headersOnly });
    let supplement: Map<string, RawTensor> | undefined;
    if (opts.clipWeights) {
      const extra = await openWeightSource(opts.clipWeights);
      sources.push(extra);
      supplement = (await readTensorFile(extra, String(opts.clipWeights), { headersOnly })).tensors;
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

function countDtypes(file: RawTensorFile): Record<string, number> {
  const dtypes: Record<string, number> = {};
  for (const t of file.tensors.values()) dtypes[t.dtype] = (dtypes[t.dtype] ?? 0) + 1;
  return dtypes;
}

const elements = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

function mapOptions(
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
  path: string | URL,
  opts: LoadWeightsOptions,
  headersOnly: boolean,
  finish: (w: LoadedWeights) => LoadedWeights,
): Promise<LoadedWeights> {
  const fileName = String(path);
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

/** `weights inspect`'s answer: everything a file says, and what loading it would take. */
export interface WeightsDescription {
  format: WeightFormat;
  /** null when the names fit none of OpenAI, ViFi-CLIP or Hugging Face */
  naming: Naming | null;
  /** null where the file does not say; `unknown` says why */
  arch: PartialClipConfig & { vision: { tokens: number | null } };
  unknown: string[];
  /** tensors in the file (its state dict), and how many map onto the model */
  tensors: number;
  mapped: number;
  /** values in the mapped tensors */
  params: number;
  dtypes: Record<string, number>;
  prompts: { config: PromptConfig | null; names: string[] } | null;
  /** `mismatched` is only checked when the architecture is complete (`shapesChecked`) */
  report: Omit<MappingReport, "naming"> & { naming: Naming | null };
  shapesChecked: boolean;
  /** what else loading needs, one line each ("token embedding: supply a CLIP file with --clip-weights") */
  needs: string[];
  /** whether loadWeights accepts the file, strict and non-strict; `error` is its one-line refusal */
  load: { strict: { ok: boolean; error?: string }; nonStrict: { ok: boolean; error?: string } };
  meta?: unknown;
}

const gcd = (a: number, b: number): number => b ? gcd(b, a % b) : a;

/**
 * Describe a weight file from its headers alone, however incomplete: a ViFi-CLIP training
 * checkpoint without its token embedding, a tiny model whose width no head width divides, a bare
 * image tower. Only an unreadable file throws; whether loading would refuse is part of the answer.
 */
export async function describeWeights(
  path: string | URL,
  opts: LoadWeightsOptions = {},
): Promise<WeightsDescription> {
  const fileName = String(path);
  return await withTensorFiles(path, opts, true, (file, supplement) => {
    const base = mapOptions(file, supplement, opts, fileName);
    const attempt = (strict: boolean, headWidth = base.headWidth) => {
      try {
        return { mapped: mapWeights(file.tensors, { ...base, strict, headWidth }) };
      } catch (e) {
        return { error: oneLine(e instanceof Error ? e.message : String(e)) };
      }
    };
    const strict = attempt(true), loose = attempt(false);
    const partial = describePartial(file.tensors, base);
    const { arch, unknown } = partial;
    // heads change no shape: when they are all that is unknown, a head width dividing both widths
    // checks every shape exactly; the heads stay unknown in the answer
    let full = loose.mapped;
    const onlyHeads = unknown.every((u) => /^(vision|text)\.heads:|^text\.vocab:/.test(u));
    if (!full && onlyHeads && arch.vision.width && arch.text.width) {
      full = attempt(false, gcd(arch.vision.width, arch.text.width)).mapped;
    }
    let params = 0, mapped = 0;
    let report: WeightsDescription["report"] = partial.report;
    let prompts: WeightsDescription["prompts"] = partial.report.prompts.length
      ? { config: null, names: partial.report.prompts }
      : null;
    if (full) {
      report = full.report;
      for (const t of [...full.weights.values(), ...full.prompts?.weights.values() ?? []]) {
        params += elements(t.shape);
        mapped++;
      }
      if (full.prompts) prompts = { config: full.prompts.config, names: full.report.prompts };
    } else {
      for (const t of partial.mapped.values()) params += elements(t.shape);
      mapped = partial.mapped.size;
    }
    const v = arch.vision;
    const tokens = v.resolution !== null && v.patch ? (v.resolution / v.patch) ** 2 + 1 : null;
    return {
      format: file.format,
      naming: partial.naming,
      arch: { ...arch, vision: { ...v, tokens } },
      unknown,
      tensors: file.tensors.size,
      mapped,
      params,
      dtypes: countDtypes(file),
      prompts,
      report,
      shapesChecked: !!full,
      needs: loadNeeds(partial.naming, unknown, report, !!full),
      load: {
        strict: strict.mapped ? { ok: true } : { ok: false, error: strict.error },
        nonStrict: loose.mapped ? { ok: true } : { ok: false, error: loose.error },
      },
      meta: file.meta,
    };
  });
}

/** What else a load needs, in the words of the remedy. Empty when a strict load succeeds. */
function loadNeeds(
  naming: Naming | null,
  unknown: string[],
  report: WeightsDescription["report"],
  shapesChecked: boolean,
): string[] {
  const needs: string[] = [];
  if (!naming) {
    needs.push(
      "a naming: OpenAI (visual.*), ViFi-CLIP (image_encoder.*) or Hugging Face (vision_model.*) names",
    );
  }
  if (report.missing.includes("token_embedding.weight")) {
    needs.push("token embedding: supply a CLIP file with --clip-weights");
  }
  const heads = unknown.find((u) => /^(vision|text)\.heads: width/.test(u));
  if (heads) needs.push(`head width: ${heads.replace(/^[a-z.]+: /, "")}`);
  const others = unknown.filter((u) => !/^(vision|text)\.heads:|^text\.vocab:/.test(u));
  if (others.length) needs.push(`architecture: ${others.join("; ")}`);
  const rest = report.missing.filter((n) => n !== "token_embedding.weight");
  if (rest.length) {
    needs.push(
      `${rest.length} more missing tensor${
        rest.length > 1 ? "s" : ""
      } (a non-strict load keeps initial values)`,
    );
  }
  if (report.unexpected.length) {
    needs.push(`${report.unexpected.length} unmapped tensor(s) dropped: a strict load refuses them`);
  }
  if (report.mismatched.length) {
    needs.push(
      `${report.mismatched.length} tensor(s) of the wrong shape replaced: a strict load refuses them`,
    );
  }
  if (!shapesChecked && naming) needs.push("shapes unchecked until the architecture is complete");
  return needs;
}
