// Image–caption pairs for pretraining a tiny CLIP on the synthetic world (issue 14): still frames or short
// frame strips of one moving shape, rendered by the synthetic dataset's own renderer, with captions that
// name its colour, shape and motion in many phrasings and partial combinations. Every word is seen; the
// held-out (novel) colour × shape × motion triples are never named all three together, so a zero-shot
// prompt for a novel class is a combination of words the text tower never read in one caption.
// In memory and deterministic from the seed; the frames are normalised exactly as the model's test-time
// input (lib/video/test-transform.ts), so pretraining sees what evaluation will show it.

import { Rng } from "../random/rng.ts";
import { CAPTION_TEMPLATES } from "./caption-templates.ts";
import type { Frame } from "../video/frame.ts";
import { testTransform } from "../video/test-transform.ts";
import {
  classGrid,
  className,
  COLOURS,
  drawClipPlan,
  MOTIONS,
  NOISE,
  renderFrame,
  SHAPES,
  SPLIT_SALT,
  splitBaseNovel,
} from "./synthetic.ts";

export { CAPTION_TEMPLATES } from "./caption-templates.ts";

export interface Triple {
  colour: string;
  shape: string;
  motion: string;
}

export interface CaptionOptions {
  seed: number;
  count: number;
  /** side of the model's input (default 32, the "synthetic" config's resolution) */
  size?: number;
  /** frames per pair: 1 a still frame (default), 2–4 a strip in which the motion is visible across frames */
  frames?: number;
  /** the held-out triples, never named all three together (e.g. novelTriples(seed)) */
  novel: readonly Triple[];
  /**
   * side of the rendered frame before the test transform resizes and crops it to `size` (default 64, the
   * side of the synthetic dataset's videos, so the pixels look like those of the evaluation clips)
   */
  renderSize?: number;
  /**
   * "partial" (default): novel triples are drawn too, captioned by at most two of their attributes — a
   * web-trained CLIP has seen pictures of everything; what zero-shot on a novel class tests is reading an
   * unseen combination of words, and the image tower learns each factor from every kind of picture.
   * "never": only base triples are drawn (the stricter variant, to measure what the novel pictures give).
   */
  novelClips?: "partial" | "never";
  /** share of the base pairs whose caption names all three attributes (default 0.4) */
  fullShare?: number;
  /** also return each pair's rendered RGB frames (HWC, renderSize², before the transform): for tests */
  keepRgb?: boolean;
}

/** Where the object is drawn, in the coordinates of the returned (transformed) frames. */
export interface CaptionScene {
  /** object centre per frame, in output pixels (pixel x spans [x, x + 1)) */
  centres: [number, number][];
  /** the shape's radius in output pixels */
  radius: number;
  /** the object's and the background's colour before noise */
  rgb: [number, number, number];
  bg: [number, number, number];
}

export interface CaptionPairs {
  /** [count, frames, 3, size, size] normalised as the model's test-time input */
  frames: Float32Array;
  shape: [number, number, number, number, number];
  captions: string[];
  /** what each pair shows (its caption names some or all of it) */
  facts: Triple[];
  /** which attributes each caption names: "csm" all three, "cs" colour and shape, …, "m" motion alone */
  named: string[];
  scenes: CaptionScene[];
  /** with keepRgb: each pair's rendered frames, [frames, renderSize, renderSize, 3] bytes */
  rgb?: Uint8Array[];
}

/** The prompt the evaluation uses for a class (lib/dsl/defaults.ts template "a photo of a {name}."). */
export function evalPrompt(t: Triple): string {
  return `a photo of a ${className(t)}.`;
}

/** Partial captions: two attributes twice as often as one (they say more about the picture). */
const PARTIAL = ["cs", "cm", "sm", "cs", "cm", "sm", "c", "s", "m"];

/** The synthetic dataset's clips have 16 frames and the demo samples 8 of them: every other frame. */
const CLIP_FRAMES = 16;
const STRIDE = 2;

/** The novel triples of the split generateSynthetic makes for `seed` over all colours, shapes and motions. */
export function novelTriples(seed: number): Triple[] {
  const classes = classGrid(COLOURS, SHAPES, MOTIONS);
  const { novel } = splitBaseNovel(classes, new Rng(seed ^ SPLIT_SALT));
  return novel.map((id) => {
    const { colour, shape, motion } = classes[id];
    return { colour, shape, motion };
  });
}

const key = (t: Triple) => `${t.colour}|${t.shape}|${t.motion}`;

function resolve(o: CaptionOptions) {
  const size = o.size ?? 32, frames = o.frames ?? 1, renderSize = o.renderSize ?? 64;
  const fullShare = o.fullShare ?? 0.4;
  if (!Number.isInteger(o.count) || o.count < 0) throw new Error(`captionPairs: count ${o.count}`);
  if (!Number.isInteger(frames) || frames < 1 || frames > 4) {
    throw new Error(`captionPairs: frames must be 1 to 4, got ${frames}`);
  }
  if (!Number.isInteger(size) || size < 1) throw new Error(`captionPairs: size ${size}`);
  if (!Number.isInteger(renderSize) || renderSize < 16) {
    throw new Error(`captionPairs: renderSize ${renderSize}`);
  }
  if (!(fullShare >= 0 && fullShare <= 1)) throw new Error(`captionPairs: fullShare ${fullShare}`);
  const all: Triple[] = classGrid(COLOURS, SHAPES, MOTIONS);
  const known = new Set(all.map(key));
  for (const t of o.novel) {
    if (!known.has(key(t))) throw new Error(`captionPairs: unknown novel triple ${JSON.stringify(t)}`);
  }
  const novel = new Set(o.novel.map(key));
  const drawn = o.novelClips === "never" ? all.filter((t) => !novel.has(key(t))) : all;
  if (drawn.length === 0) throw new Error("captionPairs: every triple is novel and novelClips is never");
  return { size, frames, renderSize, fullShare, novel, drawn, keepRgb: o.keepRgb ?? false };
}

/**
 * A caption for `t` from stream `r` (all three attributes only for a base triple) and which attributes it
 * names ("csm", "cs", …, "m").
 */
function drawCaption(
  t: Triple,
  isNovel: boolean,
  fullShare: number,
  r: Rng,
): { text: string; names: string } {
  const full = CAPTION_TEMPLATES.csm;
  let template: string, names: string;
  if (!isNovel && r.next() < fullShare) {
    template = r.next() < 0.5 ? full[0] : full[1 + r.int(full.length - 1)];
    names = "csm";
  } else {
    names = PARTIAL[r.int(PARTIAL.length)];
    const partial = CAPTION_TEMPLATES[names];
    template = partial[r.int(partial.length)];
  }
  return { text: template.replace("{c}", t.colour).replace("{s}", t.shape).replace("{m}", t.motion), names };
}

/** Whether a caption naming `names` of `said` is true of `shown`: every attribute it names agrees. */
export function describes(names: string, said: Triple, shown: Triple): boolean {
  return (!names.includes("c") || said.colour === shown.colour) &&
    (!names.includes("s") || said.shape === shown.shape) &&
    (!names.includes("m") || said.motion === shown.motion);
}

/**
 * [count, count] 0/1: entry (i, j) is 1 when caption j is true of pair i's picture ("a red circle" of every
 * red circle in the batch, whatever it does) — the positives of lib/train/contrastive.ts's `matches`.
 */
export function captionMatches(pairs: Pick<CaptionPairs, "facts" | "named">): Uint8Array {
  const B = pairs.facts.length;
  const out = new Uint8Array(B * B);
  for (let i = 0; i < B; i++) {
    for (let j = 0; j < B; j++) {
      out[i * B + j] = describes(pairs.named[j], pairs.facts[j], pairs.facts[i]) ? 1 : 0;
    }
  }
  return out;
}

/**
 * Renders `frames` frames of a clip of `t` (RGB, renderSize²): a still at a random moment of the clip, or
 * a strip of frames STRIDE apart as the demo's sampling sees them. Centres are in rendered pixels.
 */
function renderPair(t: Triple, frames: number, renderSize: number, r: Rng) {
  const plan = drawClipPlan(t, renderSize, r);
  const t0 = r.int(CLIP_FRAMES - STRIDE * (frames - 1));
  const rgba = new Uint8Array(renderSize * renderSize * 4);
  const out: Frame[] = [];
  const centres: [number, number][] = [];
  const { x0, y0, dx, dy, travel } = plan;
  for (let k = 0; k < frames; k++) {
    const f = (t0 + k * STRIDE) / (CLIP_FRAMES - 1);
    const cx = x0 + dx * travel * f, cy = y0 + dy * travel * f;
    renderFrame(rgba, renderSize, plan.bg, t.shape, plan.rgb, cx, cy, plan.radius, r, NOISE, [dx, dy]);
    const rgb = new Uint8Array(renderSize * renderSize * 3);
    for (let i = 0, j = 0; i < rgb.length; i += 3, j += 4) {
      rgb[i] = rgba[j], rgb[i + 1] = rgba[j + 1], rgb[i + 2] = rgba[j + 2];
    }
    out.push({ width: renderSize, height: renderSize, data: rgb });
    centres.push([cx, cy]);
  }
  return { frames: out, centres, plan };
}

/**
 * `count` caption pairs. Each pair draws from a private stream seeded by the master stream, so the first n
 * pairs of a larger count are the n pairs of a smaller one.
 */
export function captionPairs(options: CaptionOptions): CaptionPairs {
  const o = resolve(options);
  const { size, frames, renderSize } = o;
  const per = frames * 3 * size * size;
  const data = new Float32Array(options.count * per);
  const captions: string[] = [], facts: Triple[] = [], named: string[] = [];
  const scenes: CaptionScene[] = [], rgb: Uint8Array[] = [];
  // the test transform's geometry for a square frame: short side → trunc(256·size/224), centre crop
  const scaled = Math.trunc(256 / 224 * size), scale = scaled / renderSize;
  const offset = Math.floor((scaled - size) / 2);
  const master = new Rng(options.seed);
  for (let i = 0; i < options.count; i++) {
    const r = new Rng((master.next() * 2 ** 32) >>> 0);
    const t = o.drawn[r.int(o.drawn.length)];
    const caption = drawCaption(t, o.novel.has(key(t)), o.fullShare, r);
    captions.push(caption.text);
    named.push(caption.names);
    facts.push({ colour: t.colour, shape: t.shape, motion: t.motion });
    const pair = renderPair(t, frames, renderSize, r);
    data.set(testTransform(pair.frames, { size }).data, i * per);
    scenes.push({
      centres: pair.centres.map(([x, y]) => [x * scale - offset, y * scale - offset]),
      radius: pair.plan.radius * scale,
      rgb: pair.plan.rgb,
      bg: pair.plan.bg,
    });
    if (o.keepRgb) {
      const all = new Uint8Array(frames * renderSize * renderSize * 3);
      pair.frames.forEach((f, k) => all.set(f.data, k * f.data.length));
      rgb.push(all);
    }
  }
  return {
    frames: data,
    shape: [options.count, frames, 3, size, size],
    captions,
    facts,
    named,
    scenes,
    ...(o.keepRgb ? { rgb } : {}),
  };
}
