// What a weight file's names and shapes say when they do not make a loadable model, for `weights inspect`:
// the architecture field by field (null where no tensor tells it, with the reason), and the mapping
// report by name. Loading (keymap.ts's mapWeights) refuses such files; describing them never throws.

import { clipShapes } from "../config.ts";
import {
  addSupplement,
  detectNaming,
  isDropped,
  isPromptName,
  type MapOptions,
  type MappingReport,
  type Naming,
  type Renamed,
  renameToModel,
  type SourceTensor,
  stripModule,
} from "./keymap.ts";

/** A ClipConfig field by field; null where the file does not say (or says something impossible). */
export interface PartialClipConfig {
  embedDim: number | null;
  vision: {
    width: number | null;
    layers: number;
    heads: number | null;
    patch: number | null;
    resolution: number | null;
  };
  text: {
    width: number | null;
    layers: number;
    heads: number | null;
    context: number | null;
    vocab: number | null;
  };
}

/** What a file's names and shapes say even when they do not make a loadable model. */
export interface PartialMapping {
  naming: Naming | null;
  arch: PartialClipConfig;
  /** one line per architecture field left null: which tensor would have told it */
  unknown: string[];
  /** `missing` by name only (shapes are not checked: the architecture is incomplete); naming may be null */
  report: Omit<MappingReport, "naming"> & { naming: Naming | null };
  /** source tensors that map onto a model (or prompt) name, by that name */
  mapped: Map<string, { shape: number[] }>;
}

type Shapes = Map<string, { shape: number[] }>;

const BLOCK_INDEX = {
  vision: /^visual\.transformer\.resblocks\.(\d+)\./,
  text: /^transformer\.resblocks\.(\d+)\./,
};

/** Axis `axis` of tensor `name` when it has rank `rank` and a positive size there. */
function dim(shapes: Shapes, name: string, rank: number, axis: number): number | null {
  const s = shapes.get(name)?.shape;
  return s && s.length === rank && s[axis] > 0 ? s[axis] : null;
}

function first(...xs: (number | null)[]): number | null {
  return xs.find((x) => x !== null) ?? null;
}

/** Blocks in a tower, by the highest block index seen (0 when none). */
function blockCount(shapes: Shapes, re: RegExp): number {
  let n = 0;
  for (const name of shapes.keys()) {
    const m = re.exec(name);
    if (m) n = Math.max(n, Number(m[1]) + 1);
  }
  return n;
}

/** Collects, in field order, one line per field left unknown and why. */
class Unknowns {
  readonly lines: string[] = [];
  constructor(private readonly headWidth: number) {}

  known<T>(value: T | null, field: string, why: string): T | null {
    if (value === null) this.lines.push(`${field}: ${why}`);
    return value;
  }

  heads(width: number | null, field: string): number | null {
    if (width === null) return this.known(null, field, "the width is unknown");
    if (width % this.headWidth) {
      return this.known(
        null,
        field,
        `width ${width} is not a multiple of the head width ${this.headWidth} (--head-width N sets it)`,
      );
    }
    return width / this.headWidth;
  }
}

/**
 * The architecture field by field from whichever tensors are present. Unlike inferConfig, nothing
 * here throws: `weights inspect` describes files no model can load (a bare image tower, a tiny
 * model whose width is not a multiple of the head width) and says what is unknown and why.
 */
export function partialArchitecture(
  shapes: Shapes,
  headWidth = 64,
): { arch: PartialClipConfig; unknown: string[] } {
  const u = new Unknowns(headWidth);
  const embedDim = u.known(
    first(dim(shapes, "text_projection", 2, 1), dim(shapes, "visual.proj", 2, 1)),
    "embedDim",
    "no text_projection or visual.proj",
  );
  const vision = visionArchitecture(shapes, u);
  const text = textArchitecture(shapes, u);
  return { arch: { embedDim, vision, text }, unknown: u.lines };
}

function visionArchitecture(shapes: Shapes, u: Unknowns): PartialClipConfig["vision"] {
  const conv = shapes.get("visual.conv1.weight")?.shape;
  const patch = conv && conv.length === 4 && conv[2] > 0 && conv[2] === conv[3] ? conv[2] : null;
  const width = first(
    dim(shapes, "visual.conv1.weight", 4, 0),
    dim(shapes, "visual.class_embedding", 1, 0),
    dim(shapes, "visual.positional_embedding", 2, 1),
    dim(shapes, "visual.proj", 2, 0),
  );
  const rows = dim(shapes, "visual.positional_embedding", 2, 0);
  const grid = rows === null ? null : Math.sqrt(rows - 1);
  const gridOk = grid !== null && Number.isInteger(grid) && grid > 0;
  return {
    width: u.known(width, "vision.width", "no visual.conv1.weight, class_embedding or positional_embedding"),
    layers: blockCount(shapes, BLOCK_INDEX.vision),
    heads: u.heads(width, "vision.heads"),
    patch: u.known(patch, "vision.patch", "no usable visual.conv1.weight [W, 3, P, P]"),
    resolution: u.known(
      gridOk && patch !== null ? grid * patch : null,
      "vision.resolution",
      gridOk ? "the patch is unknown" : "no visual.positional_embedding of grid² + 1 rows",
    ),
  };
}

function textArchitecture(shapes: Shapes, u: Unknowns): PartialClipConfig["text"] {
  const width = first(
    dim(shapes, "positional_embedding", 2, 1),
    dim(shapes, "token_embedding.weight", 2, 1),
    dim(shapes, "text_projection", 2, 0),
    dim(shapes, "ln_final.weight", 1, 0),
  );
  return {
    width: u.known(width, "text.width", "no positional_embedding, token_embedding.weight or text_projection"),
    layers: blockCount(shapes, BLOCK_INDEX.text),
    heads: u.heads(width, "text.heads"),
    context: u.known(dim(shapes, "positional_embedding", 2, 0), "text.context", "no positional_embedding"),
    vocab: u.known(
      dim(shapes, "token_embedding.weight", 2, 0),
      "text.vocab",
      "no token_embedding.weight (supply a CLIP file with --clip-weights)",
    ),
  };
}

/**
 * A file described as far as its names and shapes allow, for `weights inspect`: never throws for
 * what the tensors are (only loading refuses). Expected names come from the architecture with 1 in
 * place of each unknown size, so `missing` is right by name while shapes go unchecked.
 */
export function describePartial(tensors: Map<string, SourceTensor>, opts: MapOptions = {}): PartialMapping {
  const naming = opts.naming ?? detectNaming(tensors.keys());
  const renamed: Renamed = naming
    ? renameToModel(tensors, naming)
    : { mapped: new Map(), unexpected: [], dropped: [] };
  if (!naming) {
    for (const name of tensors.keys()) {
      (isDropped(stripModule(name)) ? renamed.dropped : renamed.unexpected).push(name);
    }
  }
  const supplied = addSupplement(renamed, opts);
  const shapes = new Map([...renamed.mapped].map(([name, { tensor }]) => [name, { shape: tensor.shape }]));
  const { arch, unknown } = partialArchitecture(shapes, opts.headWidth);
  const v = arch.vision, t = arch.text;
  const stand = {
    name: "partial",
    embedDim: arch.embedDim ?? 1,
    vision: { width: v.width ?? 1, layers: v.layers, heads: 1, patch: 1, resolution: 1 },
    text: { width: t.width ?? 1, layers: t.layers, heads: 1, context: 1, vocab: 1 },
  };
  const expected = new Set(clipShapes(stand).map(([name]) => name));
  const prompts = [...shapes.keys()].filter(isPromptName);
  const mapped = new Map<string, { shape: number[] }>();
  const unexpected = [...renamed.unexpected];
  for (const [name, { from }] of renamed.mapped) {
    if (expected.has(name) || isPromptName(name)) mapped.set(name, shapes.get(name)!);
    else unexpected.push(from);
  }
  return {
    naming,
    arch,
    unknown,
    report: {
      naming,
      missing: [...expected].filter((name) => !shapes.has(name)),
      unexpected,
      mismatched: [],
      prompts,
      dropped: renamed.dropped,
      supplied,
    },
    mapped,
  };
}
