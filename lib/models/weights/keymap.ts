// Tensor names: checkpoints of the same CLIP come in three spellings — OpenAI's (the released .pt
// files), ViFi-CLIP's (training checkpoints: `module.`-prefixed, towers under image_encoder /
// text_encoder, no token embedding) and Hugging Face's (split q/k/v, transposed projections). The
// model speaks one vocabulary: OpenAI's names (exactly clipShapes) plus the prompt tensors under
// ViFi-CLIP's names. Everything here converts between those, and says precisely what did not fit.
// Describing a file that makes no loadable model (`weights inspect`) is partial-mapping.ts's part.

import {
  type ClipConfig,
  clipShapes,
  inferClipConfig,
  type PromptConfig,
  promptShapes,
  type Weights,
} from "../config.ts";
import type { SourceTensor } from "../../io/tensor-file.ts";

export type { SourceTensor };

export type Naming = "openai" | "vifi" | "hf";

const FLOAT_DTYPES = new Set(["F32", "F16", "BF16", "F64"]);

/** Whether a source tensor becomes Float32Array data, decided without reading the data when possible. */
function isFloat(t: SourceTensor): boolean {
  return typeof t.dtype === "string" ? FLOAT_DTYPES.has(t.dtype) : t.data instanceof Float32Array;
}

type F32Tensor = { shape: number[]; data: Float32Array };

/**
 * A tensor whose data is computed (read from disk, transposed, fused) on first use: mapping a file
 * only looks at shapes, so `weights inspect` reads no tensor data.
 */
function lazyTensor(shape: number[], compute: () => Float32Array): F32Tensor {
  let data: Float32Array | undefined;
  return {
    shape,
    get data() {
      return data ??= compute();
    },
    set data(d) {
      data = d;
    },
  };
}

export interface MappingReport {
  naming: Naming;
  /** model names (OpenAI / prompt vocabulary) the source lacks */
  missing: string[];
  /** source names that map to nothing the model has (or repeat a name already mapped) */
  unexpected: string[];
  /** model names whose source shape differs from what the architecture needs */
  mismatched: { name: string; expected: number[]; got: number[] }[];
  /** prompt tensors found, by model name */
  prompts: string[];
  /** source names deliberately ignored: buffers upstream also drops, JIT scalars, optimizer state */
  dropped: string[];
  /** model names taken from the supplementary source (the token embedding for ViFi files) */
  supplied: string[];
}

export interface MappedWeights {
  naming: Naming;
  config: ClipConfig;
  /** CLIP parameters by OpenAI name, shapes checked; in non-strict mode only the ones that fit */
  weights: Weights;
  prompts?: { config: PromptConfig; weights: Weights };
  report: MappingReport;
}

export interface MapOptions {
  /** throw unless every tensor is accounted for (default true); false = upstream's non-strict load */
  strict?: boolean;
  /** head width used to infer head counts (64 in every released CLIP) */
  headWidth?: number;
  /** force a naming instead of detecting it */
  naming?: Naming;
  /** a second source, in any naming, that fills `fill` names the first lacks */
  supplement?: Map<string, SourceTensor>;
  /** model names the supplement may provide (default: the token embedding ViFi files leave out) */
  fill?: string[];
  /** shown in errors */
  source?: string;
}

export class WeightMappingError extends Error {
  constructor(message: string, readonly report: MappingReport) {
    super(message);
    this.name = "WeightMappingError";
  }
}

const MODULE = "module.";

/**
 * Buffers and bookkeeping entries that are not parameters. ViFi-CLIP itself deletes the three
 * prompt_learner buffers before loading (they encode the training label set); the TorchScript
 * release carries three int scalars; HF carries position_ids; vifi checkpoints carry AdamW moments.
 */
export function isDropped(name: string): boolean {
  return /^prompt_learner\.(complete_text_embeddings|token_prefix|token_suffix)$/.test(name) ||
    /^(input_resolution|context_length|vocab_size)$/.test(name) ||
    /(^|\.)position_ids$/.test(name) ||
    /^optimizer\.(m|v)\./.test(name);
}

const PROMPT_NAME =
  /^(prompt_learner\.ctx|image_encoder\.VPT|(image|text)_encoder\.transformer\.resblocks\.\d+\.VPT_shallow)$/;

export function isPromptName(name: string): boolean {
  return PROMPT_NAME.test(name);
}

/** Prompt tensors spelled with OpenAI tower prefixes (as an openai-named export might) → vocabulary names. */
function promptAlias(name: string): string | undefined {
  if (PROMPT_NAME.test(name)) return name;
  if (name === "visual.VPT") return "image_encoder.VPT";
  let m = /^visual\.transformer\.resblocks\.(\d+)\.VPT_shallow$/.exec(name);
  if (m) return `image_encoder.transformer.resblocks.${m[1]}.VPT_shallow`;
  m = /^transformer\.resblocks\.(\d+)\.VPT_shallow$/.exec(name);
  if (m) return `text_encoder.transformer.resblocks.${m[1]}.VPT_shallow`;
  return undefined;
}

export function stripModule(name: string): string {
  return name.startsWith(MODULE) ? name.slice(MODULE.length) : name;
}

/** Which spelling a set of tensor names uses; null when it looks like none of them. */
export function detectNaming(names: Iterable<string>): Naming | null {
  let vifi = false, openai = false, other = false, prompts = false;
  for (const raw of names) {
    const name = stripModule(raw);
    if (/^(vision_model|text_model)\.|^visual_projection\.weight$|^text_projection\.weight$/.test(name)) {
      return "hf";
    }
    if (isDropped(name) && !name.startsWith("prompt_learner.")) continue;
    if (PROMPT_NAME.test(name)) prompts = true;
    if (PROMPT_NAME.test(name) || name === "logit_scale") continue;
    if (/^(image_encoder|text_encoder|prompt_learner)\./.test(name)) vifi = true;
    else if (
      /^(visual\.|transformer\.)/.test(name) ||
      /^(token_embedding\.weight|positional_embedding|ln_final\.(weight|bias)|text_projection)$/.test(name)
    ) openai = true;
    else other = true;
  }
  if (vifi) return "vifi";
  if (openai) return "openai";
  // a file of nothing but prompt tensors (and maybe logit_scale) is a ViFi prompt checkpoint
  return prompts && !other ? "vifi" : null;
}

const HF_BLOCK: [RegExp, string][] = [
  [/^self_attn\.out_proj\.(weight|bias)$/, "attn.out_proj.$1"],
  [/^layer_norm1\.(weight|bias)$/, "ln_1.$1"],
  [/^layer_norm2\.(weight|bias)$/, "ln_2.$1"],
  [/^mlp\.fc1\.(weight|bias)$/, "mlp.c_fc.$1"],
  [/^mlp\.fc2\.(weight|bias)$/, "mlp.c_proj.$1"],
];

const HF_TOP: Record<string, string> = {
  "vision_model.embeddings.patch_embedding.weight": "visual.conv1.weight",
  "vision_model.embeddings.class_embedding": "visual.class_embedding",
  "vision_model.embeddings.position_embedding.weight": "visual.positional_embedding",
  "vision_model.pre_layrnorm.weight": "visual.ln_pre.weight",
  "vision_model.pre_layrnorm.bias": "visual.ln_pre.bias",
  "vision_model.post_layernorm.weight": "visual.ln_post.weight",
  "vision_model.post_layernorm.bias": "visual.ln_post.bias",
  "text_model.embeddings.token_embedding.weight": "token_embedding.weight",
  "text_model.embeddings.position_embedding.weight": "positional_embedding",
  "text_model.final_layer_norm.weight": "ln_final.weight",
  "text_model.final_layer_norm.bias": "ln_final.bias",
  "logit_scale": "logit_scale",
};

/** HF stores the projections as Linear weights [embed, width]; OpenAI as matrices [width, embed]. */
const HF_TRANSPOSED: Record<string, string> = {
  "visual_projection.weight": "visual.proj",
  "text_projection.weight": "text_projection",
};

function hfTower(name: string): { prefix: string; layer: string; rest: string } | undefined {
  const m = /^(vision_model|text_model)\.encoder\.layers\.(\d+)\.(.+)$/.exec(name);
  if (!m) return undefined;
  return { prefix: m[1] === "vision_model" ? "visual.transformer" : "transformer", layer: m[2], rest: m[3] };
}

function vifiToModel(name: string): string {
  if (name.startsWith("image_encoder.")) return `visual.${name.slice("image_encoder.".length)}`;
  if (name.startsWith("text_encoder.")) return name.slice("text_encoder.".length);
  return name;
}

export function transpose2d(
  t: { shape: number[]; data: Float32Array },
): { shape: number[]; data: Float32Array } {
  const [r, c] = t.shape;
  const out = new Float32Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = t.data[i * c + j];
  return { shape: [c, r], data: out };
}

function concatRows(
  parts: { shape: number[]; data: Float32Array }[],
): { shape: number[]; data: Float32Array } {
  const data = new Float32Array(parts.reduce((n, p) => n + p.data.length, 0));
  let at = 0;
  for (const p of parts) {
    data.set(p.data, at);
    at += p.data.length;
  }
  return { shape: [parts.reduce((n, p) => n + p.shape[0], 0), ...parts[0].shape.slice(1)], data };
}

export interface Renamed {
  /** model name → tensor, with the source name it came from */
  mapped: Map<string, { from: string; tensor: { shape: number[]; data: Float32Array } }>;
  unexpected: string[];
  dropped: string[];
}

/** Rename (and for HF, fuse and transpose) a source's tensors into the model vocabulary, unchecked. */
export function renameToModel(tensors: Map<string, SourceTensor>, naming: Naming): Renamed {
  const out: Renamed = { mapped: new Map(), unexpected: [], dropped: [] };
  const put = (to: string, from: string, tensor: { shape: number[]; data: Float32Array }) => {
    if (out.mapped.has(to)) out.unexpected.push(from); // e.g. both `module.x` and `x` present
    else out.mapped.set(to, { from, tensor });
  };
  const qkv = new Map<string, Map<string, { from: string; tensor: SourceTensor }>>();
  for (const [from, t] of tensors) {
    const name = stripModule(from);
    if (isDropped(name)) {
      out.dropped.push(from);
      continue;
    }
    if (!isFloat(t)) {
      out.unexpected.push(from);
      continue;
    }
    const tensor = lazyTensor(t.shape, () => t.data as Float32Array);
    const prompt = promptAlias(name);
    if (prompt) {
      put(prompt, from, tensor);
      continue;
    }
    if (naming === "openai") put(name, from, tensor);
    else if (naming === "vifi") {
      if (name.startsWith("prompt_learner.")) out.unexpected.push(from);
      else put(vifiToModel(name), from, tensor);
    } else {
      if (HF_TOP[name]) put(HF_TOP[name], from, tensor);
      else if (HF_TRANSPOSED[name]) {
        if (t.shape.length !== 2) out.unexpected.push(from);
        else {put(
            HF_TRANSPOSED[name],
            from,
            lazyTensor([t.shape[1], t.shape[0]], () => transpose2d(tensor).data),
          );}
      } else {
        const tower = hfTower(name);
        const fused = tower && /^self_attn\.(q|k|v)_proj\.(weight|bias)$/.exec(tower.rest);
        if (tower && fused) {
          const key = `${tower.prefix}.resblocks.${tower.layer}.attn.in_proj_${fused[2]}`;
          const group = qkv.get(key) ?? new Map();
          group.set(fused[1], { from, tensor: t });
          qkv.set(key, group);
          continue;
        }
        const rule = tower && HF_BLOCK.find(([re]) => re.test(tower.rest));
        if (tower && rule) {
          put(
            `${tower.prefix}.resblocks.${tower.layer}.${tower.rest.replace(rule[0], rule[1])}`,
            from,
            tensor,
          );
        } else out.unexpected.push(from);
      }
    }
  }
  for (const [key, group] of qkv) {
    const parts = ["q", "k", "v"].map((p) => group.get(p));
    const shape0 = JSON.stringify(parts[0]?.tensor.shape);
    if (parts.every((p) => p && JSON.stringify(p.tensor.shape) === shape0)) {
      // PyTorch's MultiheadAttention packs the three projections as rows q, k, v of in_proj
      const tensors = parts.map((p) => p!.tensor);
      const shape = [tensors.reduce((n, p) => n + p.shape[0], 0), ...tensors[0].shape.slice(1)];
      put(key, parts[0]!.from, lazyTensor(shape, () => concatRows(tensors as F32Tensor[]).data));
    } else {
      // an incomplete or inconsistent triple cannot be fused: report what is there, in_proj will be missing
      for (const p of group.values()) out.unexpected.push(p.from);
    }
  }
  return out;
}

/** Prompt architecture read off the prompt tensors present (counts from rows, depths from the deepest block). */
function inferPromptConfig(prompts: Map<string, { shape: number[] }>, config: ClipConfig): PromptConfig {
  let textDepth = 1, visionDepth = 0, textCtx: number | undefined, visionCtx: number | undefined;
  for (const [name, t] of prompts) {
    const rows = t.shape[0] ?? 0;
    if (name === "prompt_learner.ctx") textCtx = rows;
    else if (name === "image_encoder.VPT") {
      visionCtx = rows;
      visionDepth = Math.max(visionDepth, 1);
    } else {
      const m = /^(image|text)_encoder\.transformer\.resblocks\.(\d+)\.VPT_shallow$/.exec(name)!;
      const depth = Number(m[2]) + 1;
      if (m[1] === "text") {
        if (depth <= config.text.layers) textDepth = Math.max(textDepth, depth);
        textCtx ??= rows;
      } else {
        if (depth <= config.vision.layers) visionDepth = Math.max(visionDepth, depth);
        visionCtx ??= rows;
      }
    }
  }
  return { textCtx: textCtx ?? 0, visionCtx: visionCtx ?? 0, textDepth, visionDepth };
}

/** Stand-in vocabulary size when the token embedding is absent: CLIP's BPE vocabulary, used by every release. */
const CLIP_VOCAB = 49408;

function inferConfig(
  mapped: Map<string, { tensor: { shape: number[] } }>,
  headWidth: number | undefined,
  /** the error's opening words: which file, which naming, what did not map */
  describe: () => string,
): ClipConfig {
  const shapes: Weights = new Map();
  for (const [name, { tensor }] of mapped) {
    shapes.set(name, { shape: tensor.shape, data: new Float32Array(0) });
  }
  if (!shapes.has("token_embedding.weight") && shapes.has("positional_embedding")) {
    // ViFi files have no token embedding; the report still lists it missing
    shapes.set("token_embedding.weight", {
      shape: [CLIP_VOCAB, shapes.get("positional_embedding")!.shape[1]],
      data: new Float32Array(0),
    });
  }
  let config: ClipConfig;
  try {
    config = inferClipConfig(shapes, { headWidth });
    // damaged shapes can infer a geometry no model has (a patch of 0): refused here, where the file is named
    clipShapes(config);
  } catch (e) {
    throw new Error(`${describe()}: ${(e instanceof Error ? e.message : String(e)).replace(/^vifi: /, "")}`);
  }
  // count blocks by the highest index seen, so a block missing its in_proj is reported, not silently dropped
  for (
    const [tower, re] of [["vision", /^visual\.transformer\.resblocks\.(\d+)\./], [
      "text",
      /^transformer\.resblocks\.(\d+)\./,
    ]] as const
  ) {
    for (const name of shapes.keys()) {
      const m = re.exec(name);
      if (m) config[tower].layers = Math.max(config[tower].layers, Number(m[1]) + 1);
    }
  }
  return config;
}

/**
 * Map a tensor map in any supported naming into the model vocabulary and check it against the
 * architecture its shapes imply. Strict (the default) throws a WeightMappingError that lists what
 * is missing, unexpected or the wrong shape; non-strict returns only the tensors that fit, as
 * upstream's non-strict load keeps random initial values for anything absent.
 */
export function mapWeights(tensors: Map<string, SourceTensor>, opts: MapOptions = {}): MappedWeights {
  const strict = opts.strict ?? true;
  const where = opts.source ? `${opts.source}: ` : "";
  const naming = opts.naming ?? detectNaming(tensors.keys());
  if (!naming) {
    const some = [...tensors.keys()].slice(0, 5).join(", ");
    throw new Error(
      `vifi: ${where}cannot tell which naming these ${tensors.size} tensors use (first: ${some}); ` +
        "expected OpenAI CLIP (visual.*, transformer.*), ViFi-CLIP (image_encoder.*, text_encoder.*) or " +
        "Hugging Face (vision_model.*, text_model.*) names",
    );
  }
  const renamed = renameToModel(tensors, naming);
  const supplied = addSupplement(renamed, opts);
  const report: MappingReport = {
    naming,
    missing: [],
    unexpected: [...renamed.unexpected],
    mismatched: [],
    prompts: [...renamed.mapped.keys()].filter(isPromptName),
    dropped: renamed.dropped,
    supplied,
  };
  const config = inferConfig(
    renamed.mapped,
    opts.headWidth,
    () =>
      `vifi: ${where}cannot infer the architecture of these ${naming}-named weights` +
      (report.unexpected.length ? ` (unmapped: ${report.unexpected.slice(0, 5).join(", ")})` : ""),
  );
  const expected = new Map<string, number[]>(clipShapes(config));
  let promptConfig: PromptConfig | undefined;
  if (report.prompts.length) {
    const found = new Map(report.prompts.map((n) => [n, renamed.mapped.get(n)!.tensor]));
    promptConfig = inferPromptConfig(found, config);
    try {
      for (const [n, s] of promptShapes(config, promptConfig)) expected.set(n, s);
    } catch (e) {
      throw new Error(
        `vifi: ${where}the prompt tensors do not describe a valid prompt model: ${(e as Error).message}`,
      );
    }
  }
  const weights: Weights = new Map();
  const prompts: Weights = new Map();
  for (const [name, shape] of expected) {
    const got = renamed.mapped.get(name);
    if (!got) report.missing.push(name);
    else if (JSON.stringify(got.tensor.shape) !== JSON.stringify(shape)) {
      report.mismatched.push({ name, expected: shape, got: got.tensor.shape });
    } else (isPromptName(name) ? prompts : weights).set(name, got.tensor);
  }
  for (const [name, { from }] of renamed.mapped) if (!expected.has(name)) report.unexpected.push(from);
  if (strict && (report.missing.length || report.unexpected.length || report.mismatched.length)) {
    throw new WeightMappingError(
      `vifi: ${where}the ${naming}-named weights do not fit a CLIP model (strict load): ${
        summarizeReport(report)
      }`,
      report,
    );
  }
  return {
    naming,
    config,
    weights,
    prompts: promptConfig ? { config: promptConfig, weights: prompts } : undefined,
    report,
  };
}

/** Fill `opts.fill` names the source lacks from `opts.supplement`; returns the names taken. */
export function addSupplement(renamed: Renamed, opts: MapOptions): string[] {
  const supplied: string[] = [];
  if (!opts.supplement) return supplied;
  const extra = renameToModel(opts.supplement, detectNaming(opts.supplement.keys()) ?? "openai");
  for (const name of opts.fill ?? ["token_embedding.weight"]) {
    const t = extra.mapped.get(name);
    if (t && !renamed.mapped.has(name)) {
      renamed.mapped.set(name, { from: `(supplement) ${t.from}`, tensor: t.tensor });
      supplied.push(name);
    }
  }
  return supplied;
}

/** One paragraph: counts and the first few names of each kind of problem. */
export function summarizeReport(report: MappingReport, show = 5): string {
  const list = (names: string[]) =>
    names.slice(0, show).join(", ") + (names.length > show ? `, … (${names.length - show} more)` : "");
  const parts: string[] = [];
  if (report.missing.length) parts.push(`${report.missing.length} missing: ${list(report.missing)}`);
  if (report.unexpected.length) {
    parts.push(`${report.unexpected.length} unexpected: ${list(report.unexpected)}`);
  }
  if (report.mismatched.length) {
    parts.push(
      `${report.mismatched.length} with the wrong shape: ${
        list(report.mismatched.map((m) => `${m.name} [${m.got}] (expected [${m.expected}])`))
      }`,
    );
  }
  if (report.missing.includes("token_embedding.weight") && report.naming === "vifi") {
    parts.push("ViFi-CLIP checkpoints have no token embedding: supply an OpenAI CLIP file for it");
  }
  return parts.length ? parts.join("; ") : "every tensor accounted for";
}

/**
 * Model vocabulary → a naming, for export. "openai" is the identity (prompts keep their ViFi
 * names); "vifi" writes what a ViFi-CLIP checkpoint's `model` dict holds (with `module.` unless
 * `modulePrefix: false`) and, like those, no token embedding; "hf" splits in_proj and transposes
 * the projections back.
 */
export function fromModelNames(
  weights: Weights,
  naming: Naming,
  opts: { modulePrefix?: boolean } = {},
): Weights {
  const out: Weights = new Map();
  if (naming === "openai") {
    for (const [k, v] of weights) out.set(k, v);
    return out;
  }
  if (naming === "vifi") {
    const prefix = opts.modulePrefix ?? true ? MODULE : "";
    for (const [name, t] of weights) {
      let to: string;
      if (isPromptName(name) || name === "logit_scale") to = name;
      else if (name === "token_embedding.weight") continue;
      else if (name.startsWith("visual.")) to = `image_encoder.${name.slice("visual.".length)}`;
      else to = `text_encoder.${name}`;
      out.set(prefix + to, t);
    }
    return out;
  }
  const top = new Map(Object.entries(HF_TOP).map(([hf, model]) => [model, hf]));
  const transposed = new Map(Object.entries(HF_TRANSPOSED).map(([hf, model]) => [model, hf]));
  for (const [name, t] of weights) {
    if (isPromptName(name)) {
      out.set(name, t);
      continue;
    }
    if (top.has(name)) {
      out.set(top.get(name)!, t);
      continue;
    }
    if (transposed.has(name)) {
      out.set(transposed.get(name)!, transpose2d(t));
      continue;
    }
    const m = /^(visual\.transformer|transformer)\.resblocks\.(\d+)\.(.+)$/.exec(name);
    if (!m) throw new Error(`vifi: no Hugging Face name for ${name}`);
    const base = `${m[1] === "transformer" ? "text_model" : "vision_model"}.encoder.layers.${m[2]}`;
    const fused = /^attn\.in_proj_(weight|bias)$/.exec(m[3]);
    if (fused) {
      const rows = t.shape[0] / 3;
      const size = t.data.length / 3;
      ["q", "k", "v"].forEach((p, i) =>
        out.set(`${base}.self_attn.${p}_proj.${fused[1]}`, {
          shape: [rows, ...t.shape.slice(1)],
          data: t.data.slice(i * size, (i + 1) * size),
        })
      );
      continue;
    }
    const inverse: [RegExp, string][] = [
      [/^attn\.out_proj\.(weight|bias)$/, "self_attn.out_proj.$1"],
      [/^ln_1\.(weight|bias)$/, "layer_norm1.$1"],
      [/^ln_2\.(weight|bias)$/, "layer_norm2.$1"],
      [/^mlp\.c_fc\.(weight|bias)$/, "mlp.fc1.$1"],
      [/^mlp\.c_proj\.(weight|bias)$/, "mlp.fc2.$1"],
    ];
    const rule = inverse.find(([re]) => re.test(m[3]));
    if (!rule) throw new Error(`vifi: no Hugging Face name for ${name}`);
    out.set(`${base}.${m[3].replace(rule[0], rule[1])}`, t);
  }
  return out;
}
