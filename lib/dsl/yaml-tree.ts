// The upstream YAML configs as the upstream's yacs code reads them: the defaults tree of utils/config.py,
// recursive `BASE:` includes, string values literal-evaluated, unknown keys and type changes refused,
// `--opts KEY VALUE …` on top, then the command-line flags (docs/upstream.md §6.1: YAML < --opts < flags). The result is
// the merged tree; yaml.ts maps it onto an Experiment.

import { parse } from "npm:yaml@2.9.1";
import { dirname, resolve as resolvePath } from "node:path";
import { oneLine } from "../io/messages.ts";

/** A bad config: the message starts with the file (or `--opts`) and the dotted key. */
export class ConfigError extends Error {
  constructor(readonly file: string, readonly key: string, message: string) {
    // keys and values come from the file and may hold line breaks: the message stays one line
    super(`${file}: ${oneLine(key)}: ${oneLine(message)}`);
    this.name = "ConfigError";
  }
}

export type Value = string | number | boolean | null | Value[];
export type Tree = { [key: string]: Value | Tree };

/**
 * utils/config.py's defaults. `null` marks a key whose default is None (any type accepted). Keys the
 * ViFi-CLIP code never reads are kept so that configs setting them still load.
 */
function upstreamDefaults(): Tree {
  return {
    BASE: [""],
    DATA: {
      ROOT: "",
      TRAIN_FILE: "",
      VAL_FILE: "",
      DATASET: "kinetics400",
      INPUT_SIZE: 224,
      NUM_FRAMES: 8,
      NUM_CLASSES: 400,
      LABEL_LIST: "labels/kinetics_400_labels.csv",
    },
    MODEL: {
      ARCH: "ViT-B/32",
      DROP_PATH_RATE: 0.0,
      PRETRAINED: null,
      RESUME: null,
      FIX_TEXT: true,
    },
    TRAIN: {
      EPOCHS: 30,
      WARMUP_EPOCHS: 5,
      WEIGHT_DECAY: 0.001,
      LR: 8e-6,
      BATCH_SIZE: 8,
      ACCUMULATION_STEPS: 1,
      LR_SCHEDULER: "cosine",
      OPTIMIZER: "adamw",
      OPT_LEVEL: "O1",
      AUTO_RESUME: false,
      USE_CHECKPOINT: false,
    },
    AUG: {
      LABEL_SMOOTH: 0.1,
      COLOR_JITTER: 0.8,
      GRAY_SCALE: 0.2,
      MIXUP: 0.8,
      CUTMIX: 1.0,
      MIXUP_SWITCH_PROB: 0.5,
    },
    TEST: {
      NUM_CLIP: 1,
      NUM_CROP: 1,
      ONLY_TEST: false,
      MULTI_VIEW_INFERENCE: false,
    },
    TRAINER: {
      ViFi_CLIP: {
        PROMPT_MODEL: false,
        N_CTX_VISION: 0,
        N_CTX_TEXT: 0,
        CTX_INIT: "a photo of a",
        PROMPT_DEPTH_VISION: 0,
        PROMPT_DEPTH_TEXT: 1,
        USE: "both",
        ZS_EVAL: false,
      },
    },
    OUTPUT: "",
    SAVE_FREQ: 1,
    PRINT_FREQ: 50,
    SEED: 1024,
  };
}

const isTree = (v: unknown): v is Tree => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * Python's `ast.literal_eval` for the literals configs use (what yacs applies to every string value):
 * ints, floats (`4.e-02`, `8e-06`), True/False/None, quoted strings, flat lists/tuples. Anything else
 * stays the string it was, as in yacs.
 */
export function literalEval(text: string): Value {
  const s = text.trim();
  if (/^[+-]?\d[\d_]*$/.test(s)) return Number(s.replaceAll("_", ""));
  if (/^[+-]?(\d[\d_]*\.[\d_]*|\.\d[\d_]*|\d[\d_]*)([eE][+-]?\d+)?$/.test(s)) {
    return Number(s.replaceAll("_", ""));
  }
  if (s === "True") return true;
  if (s === "False") return false;
  if (s === "None") return null;
  const q = /^(?:[rRuUbB]?)(['"])(.*)\1$/s.exec(s);
  if (q && !q[2].includes(q[1])) {
    return q[2].replace(
      /\\(.)/g,
      (_, c: string) => ({ n: "\n", t: "\t", r: "\r", "\\": "\\" } as Record<string, string>)[c] ?? c,
    );
  }
  const l = /^[[(](.*)[\])]$/s.exec(s);
  if (l && (s[0] === "[") === (s.at(-1) === "]")) {
    const inner = l[1].trim();
    if (inner === "") return [];
    const parts = inner.split(",").map((p) => p.trim()).filter((p, i, a) => p !== "" || i < a.length - 1);
    const items = parts.map(literalEval);
    // a list of Python names (not literals) is a syntax error in literal_eval: keep the text
    if (parts.every((p, i) => typeof items[i] !== "string" || /^[rRuUbB]?['"]/.test(p))) return items;
  }
  return text;
}

function decode(v: unknown): Value | Tree {
  if (typeof v === "string") return literalEval(v);
  if (Array.isArray(v)) return v.map((x) => decode(x) as Value);
  if (isTree(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, decode(x)]));
  return v as Value;
}

function typeName(v: unknown): string {
  if (v === null) return "None";
  if (Array.isArray(v)) return "list";
  return typeof v;
}

/** yacs' type check: the new value must have the default's type (numbers: int and float both fine). */
function coerce(file: string, key: string, old: Value | Tree, v: Value | Tree): Value | Tree {
  if (old === null || v === null) return v;
  if (typeof old === typeof v && Array.isArray(old) === Array.isArray(v) && isTree(old) === isTree(v)) {
    return v;
  }
  throw new ConfigError(
    file,
    key,
    `type mismatch: the default is ${typeName(old)} ${JSON.stringify(old)}, got ${typeName(v)} ${
      JSON.stringify(v)
    }`,
  );
}

function mergeInto(dst: Tree, src: Tree, file: string, prefix = ""): void {
  for (const [k, v] of Object.entries(src)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (!(k in dst)) {
      throw new ConfigError(file, key, "unknown config key (not in the upstream's utils/config.py)");
    }
    const old = dst[k];
    if (isTree(old)) {
      if (!isTree(v)) {
        throw new ConfigError(file, key, `expected a section of keys, got ${JSON.stringify(v)}`);
      }
      mergeInto(old, v, file, key);
    } else {
      dst[k] = coerce(file, key, old, v as Value);
    }
  }
}

async function mergeFile(cfg: Tree, file: string, stack: string[]): Promise<void> {
  if (stack.includes(file)) {
    throw new ConfigError(file, "BASE", `include cycle: ${[...stack, file].join(" → ")}`);
  }
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (e) {
    const by = stack.length ? ` (BASE of ${stack.at(-1)})` : "";
    throw new ConfigError(file, "BASE", `cannot read the config${by}: ${(e as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (e) {
    // the parser's message goes on to quote the offending lines; its first line says what and where
    throw new ConfigError(file, "(yaml)", (e as Error).message.split("\n")[0].replace(/:$/, ""));
  }
  if (raw === null || raw === undefined) raw = {};
  if (!isTree(raw)) throw new ConfigError(file, "(yaml)", "the top level must be a mapping of keys");
  const tree = decode(raw) as Tree;
  // upstream: each BASE entry (relative to this file) is merged first, then this file on top
  const base = tree.BASE;
  delete tree.BASE;
  if (base !== undefined) {
    const list = Array.isArray(base) ? base : [base];
    for (const b of list) {
      if (b === "" || b === null) continue;
      if (typeof b !== "string") {
        throw new ConfigError(file, "BASE", `expected file names, got ${JSON.stringify(b)}`);
      }
      await mergeFile(cfg, resolvePath(dirname(file), b), [...stack, file]);
    }
  }
  mergeInto(cfg, tree, file);
}

/** `--opts KEY VALUE …` onto the tree (yacs merge_from_list). */
export function applyOpts(cfg: Tree, opts: string[]): void {
  if (opts.length % 2 !== 0) {
    throw new ConfigError("--opts", opts.at(-1) ?? "", "expects KEY VALUE pairs (odd number of arguments)");
  }
  for (let i = 0; i < opts.length; i += 2) {
    const key = opts[i];
    const parts = key.split(".");
    let node: Tree = cfg;
    for (let j = 0; j < parts.length - 1; j++) {
      const next = node[parts[j]];
      if (!isTree(next)) throw new ConfigError("--opts", key, "unknown config key");
      node = next;
    }
    const last = parts.at(-1)!;
    if (!(last in node) || isTree(node[last]) || last === "BASE") {
      throw new ConfigError("--opts", key, "unknown config key");
    }
    node[last] = coerce("--opts", key, node[last], literalEval(opts[i + 1]));
  }
}

/** The upstream's command-line flags, which win over the YAML and `--opts`. */
export interface ConfigFlags {
  /** --output */
  output?: string;
  /** --resume; "" = none (vanilla CLIP evaluation) */
  resume?: string;
  /** --only_test */
  onlyTest?: boolean;
  /** --batch-size */
  batchSize?: number;
  /** --accumulation-steps */
  accumulationSteps?: number;
  /**
   * --world-size: the devices of the run reproduced; YAML default {@link UPSTREAM_WORLD_SIZE}. vifi runs one
   * and accumulates world-size × ACCUMULATION_STEPS micro-batches per update.
   */
  worldSize?: number;
}

/** Every shipped config was run on 8 GPUs (docs/TRAIN.md: `--nproc_per_node=8`; docs/upstream.md §8.6). */
export const UPSTREAM_WORLD_SIZE = 8;

/** The merged config tree of a YAML file: defaults < file (with BASE includes) < opts < flags. */
export async function loadConfigTree(
  file: string,
  opts: string[] = [],
  flags: ConfigFlags = {},
): Promise<Tree> {
  const cfg = upstreamDefaults();
  await mergeFile(cfg, resolvePath(file), []);
  applyOpts(cfg, opts);
  const sec = (k: string) => cfg[k] as Tree;
  if (flags.output !== undefined) cfg.OUTPUT = flags.output;
  if (flags.resume !== undefined) sec("MODEL").RESUME = flags.resume;
  if (flags.onlyTest) sec("TEST").ONLY_TEST = true;
  if (flags.batchSize !== undefined) sec("TRAIN").BATCH_SIZE = flags.batchSize;
  if (flags.accumulationSteps !== undefined) sec("TRAIN").ACCUMULATION_STEPS = flags.accumulationSteps;
  return cfg;
}
