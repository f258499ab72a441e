// Synthetic video dataset in the upstream ViFi-CLIP layout (label CSV + "<path> <label>" lists + base-to-novel
// files). Classes are compositions (colour × shape × motion) so that a base-to-novel split can hold out
// unseen *combinations* of words that were all seen during training — the zero-shot question in miniature.

import { Rng } from "../random/rng.ts";
import { syntheticWords } from "./caption-templates.ts";

export const SHAPES = ["circle", "square", "triangle"] as const;
export const COLOURS = ["red", "green", "blue", "yellow"] as const;
export const MOTIONS = ["left", "right", "up", "down"] as const;

export const RGB: Record<string, [number, number, number]> = {
  red: [220, 40, 40],
  green: [40, 200, 60],
  blue: [50, 70, 230],
  yellow: [230, 220, 40],
};

export interface SyntheticOptions {
  seed?: number;
  clipsPerClass?: number;
  frames?: number;
  /** square frame side; must be even for H.264 4:2:0 */
  size?: number;
  fps?: number;
  shapes?: readonly string[];
  colours?: readonly string[];
  motions?: readonly string[];
  /** share of each class's clips that go to val (at least one when a class has two or more clips) */
  valFraction?: number;
  /** encoder quantiser: lower keeps colours truer, higher makes smaller files */
  qp?: number;
  /** key frame period, kept below the clip length by default so that seeking to a key frame is exercised */
  gop?: number;
}

export interface SyntheticClass {
  id: number;
  name: string;
  colour: string;
  shape: string;
  motion: string;
}

export interface SyntheticClip {
  path: string;
  label: number;
  split: "train" | "val";
  /** object centre per frame, in pixels, before encoding (for tests that check where the shape went) */
  centres: [number, number][];
  radius: number;
  rgb: [number, number, number];
}

export interface SyntheticSummary {
  dir: string;
  seed: number;
  classes: SyntheticClass[];
  baseClasses: number[];
  novelClasses: number[];
  clips: SyntheticClip[];
  frames: number;
  size: number;
  fps: number;
  bytes: number;
  seconds: number;
}

export function className(c: { colour: string; shape: string; motion: string }): string {
  return `${c.colour} ${c.shape} moving ${c.motion}`;
}

/** Half of the classes become novel, chosen so every word of a novel class still occurs in some base class. */
export function splitBaseNovel(classes: SyntheticClass[], rng: Rng): { base: number[]; novel: number[] } {
  const order = classes.map((c) => c.id);
  for (let i = order.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  const isNovel = new Set<number>();
  const target = Math.floor(classes.length / 2);
  const words = (c: SyntheticClass) => [`c:${c.colour}`, `s:${c.shape}`, `m:${c.motion}`];
  const baseCount = new Map<string, number>();
  for (const c of classes) for (const w of words(c)) baseCount.set(w, (baseCount.get(w) ?? 0) + 1);
  for (const id of order) {
    if (isNovel.size >= target) break;
    const ws = words(classes[id]);
    if (ws.every((w) => baseCount.get(w)! > 1)) {
      isNovel.add(id);
      for (const w of ws) baseCount.set(w, baseCount.get(w)! - 1);
    }
  }
  const base = classes.filter((c) => !isNovel.has(c.id)).map((c) => c.id);
  const novel = classes.filter((c) => isNovel.has(c.id)).map((c) => c.id);
  return { base, novel };
}

function inShape(shape: string, dx: number, dy: number, r: number): boolean {
  if (shape === "circle") return dx * dx + dy * dy <= r * r;
  if (shape === "square") return Math.abs(dx) <= r * 0.85 && Math.abs(dy) <= r * 0.85;
  // upward-pointing triangle with apex at -r and base at +r*0.8
  if (dy < -r || dy > r * 0.8) return false;
  const half = ((dy + r) / (1.8 * r)) * r;
  return Math.abs(dx) <= half;
}

// A fading trail behind the object: ViFi-CLIP averages per-frame embeddings, so the set of frames of a
// leftward clip equals that of a rightward one played backwards; only a cue inside each frame (as motion
// blur gives real videos) lets such a model tell the directions apart.
const TRAIL = [0.55, 0.35, 0.18];

/** Renders one RGBA frame; the noise keeps clips of one class from being byte-identical. */
export function renderFrame(
  out: Uint8Array,
  size: number,
  bg: [number, number, number],
  shape: string,
  rgb: [number, number, number],
  cx: number,
  cy: number,
  r: number,
  rng: Rng,
  noise: number,
  motion: [number, number],
): void {
  const step = 0.4 * r;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const o = (y * size + x) * 4;
      let alpha = inShape(shape, x + 0.5 - cx, y + 0.5 - cy, r) ? 1 : 0;
      for (let k = 0; alpha === 0 && k < TRAIL.length; k++) {
        const [tx, ty] = [cx - motion[0] * step * (k + 1), cy - motion[1] * step * (k + 1)];
        if (inShape(shape, x + 0.5 - tx, y + 0.5 - ty, r)) alpha = TRAIL[k];
      }
      const n = Math.round((rng.next() - 0.5) * 2 * noise);
      for (let ch = 0; ch < 3; ch++) {
        const v = Math.round(alpha * rgb[ch] + (1 - alpha) * bg[ch]) + n;
        out[o + ch] = Math.max(0, Math.min(255, v));
      }
      out[o + 3] = 255;
    }
  }
}

function slug(c: SyntheticClass): string {
  return `${c.colour}_${c.shape}_${c.motion}`;
}

/** Encodes RGBA frames to a Baseline H.264 MP4 in memory. */
export async function encodeMp4(
  frames: Uint8Array[],
  width: number,
  height: number,
  fps: number,
  opts: { qp?: number; gop?: number } = {},
): Promise<Uint8Array> {
  // Loaded on first use: its Emscripten glue installs a process-wide unhandledRejection handler that aborts,
  // which no program that merely reads videos should inherit.
  const HME = (await import("npm:h264-mp4-encoder@1.0.12")).default;
  const enc = await HME.createH264MP4Encoder();
  try {
    enc.width = width;
    enc.height = height;
    enc.frameRate = fps;
    enc.quantizationParameter = opts.qp ?? 20;
    enc.groupOfPictures = opts.gop ?? 8;
    enc.speed = 10;
    enc.initialize();
    for (const f of frames) enc.addFrameRgba(f);
    enc.finalize();
    return clearMp4Times(enc.FS.readFile(enc.outputFilename));
  } finally {
    enc.delete();
  }
}

/**
 * The muxer stamps the wall clock into mvhd/tkhd/mdhd: zero those times so the same seed gives the
 * same bytes whenever it runs.
 */
export function clearMp4Times(mp4: Uint8Array): Uint8Array {
  const view = new DataView(mp4.buffer, mp4.byteOffset, mp4.byteLength);
  const walk = (start: number, end: number) => {
    for (let o = start; o + 8 <= end;) {
      let size = view.getUint32(o);
      const type = String.fromCharCode(mp4[o + 4], mp4[o + 5], mp4[o + 6], mp4[o + 7]);
      let header = 8;
      if (size === 1) {
        size = Number(view.getBigUint64(o + 8));
        header = 16;
      } else if (size === 0) {
        size = end - o;
      }
      if (size < header || o + size > end) return;
      if (type === "moov" || type === "trak" || type === "mdia") walk(o + header, o + size);
      if (type === "mvhd" || type === "tkhd" || type === "mdhd") {
        const version = mp4[o + header];
        const field = version === 1 ? 8 : 4;
        mp4.fill(0, o + header + 4, o + header + 4 + 2 * field);
      }
      o += size;
    }
  };
  walk(0, mp4.length);
  return mp4;
}

function csv(rows: string[]): string {
  return ["id,name", ...rows.map((n, i) => `${i},${n.includes(",") ? `"${n}"` : n}`)].join("\n") + "\n";
}

/** The options with their defaults, refused when the encoder or the class words cannot serve them. */
function resolveOptions(options: SyntheticOptions) {
  const seed = options.seed ?? 0;
  const clipsPerClass = options.clipsPerClass ?? 4;
  const frames = options.frames ?? 16;
  const size = options.size ?? 64;
  const fps = options.fps ?? 8;
  const valFraction = options.valFraction ?? 0.25;
  if (size % 2 !== 0 || size < 16) throw new Error(`synthetic: size must be even and >= 16, got ${size}`);
  if (frames < 1) throw new Error(`synthetic: frames must be >= 1, got ${frames}`);
  const shapes = options.shapes ?? SHAPES;
  const colours = options.colours ?? COLOURS;
  const motions = options.motions ?? MOTIONS;
  for (const c of colours) if (!RGB[c]) throw new Error(`synthetic: unknown colour "${c}"`);
  for (const s of shapes) {
    if (!(SHAPES as readonly string[]).includes(s)) throw new Error(`synthetic: unknown shape "${s}"`);
  }
  for (const m of motions) {
    if (!(MOTIONS as readonly string[]).includes(m)) throw new Error(`synthetic: unknown motion "${m}"`);
  }
  return { seed, clipsPerClass, frames, size, fps, valFraction, shapes, colours, motions };
}

/** Every colour × shape × motion, numbered in that nesting order (the label ids). */
export function classGrid(
  colours: readonly string[],
  shapes: readonly string[],
  motions: readonly string[],
): SyntheticClass[] {
  const classes: SyntheticClass[] = [];
  for (const colour of colours) {
    for (const shape of shapes) {
      for (const motion of motions) {
        const c = { id: classes.length, colour, shape, motion, name: "" };
        c.name = className(c);
        classes.push(c);
      }
    }
  }
  return classes;
}

/** The amplitude of the per-pixel noise of every frame. */
export const NOISE = 6;

/** Salt of the base/novel split's stream: the split of seed s is splitBaseNovel(classes, new Rng(s ^ SPLIT_SALT)). */
export const SPLIT_SALT = 0x5bd1e995;

/** One clip's look and path, drawn from the clip's stream in this order (the clips' bytes depend on it). */
export interface ClipPlan {
  radius: number;
  /** pixels travelled from the first frame to the last, from (x0, y0) along the unit step (dx, dy) */
  travel: number;
  x0: number;
  y0: number;
  dx: number;
  dy: number;
  bg: [number, number, number];
  rgb: [number, number, number];
}

/** Draws the look and path of a clip of `c` from its stream `r` (the frames' noise comes after). */
export function drawClipPlan(c: { colour: string; motion: string }, size: number, r: Rng): ClipPlan {
  const radius = size * (0.13 + 0.04 * r.next());
  const travel = size * (0.4 + 0.1 * r.next());
  const across = size * (0.35 + 0.3 * r.next());
  const mid = size / 2 + size * 0.06 * (r.next() * 2 - 1);
  const [dx, dy] = c.motion === "left"
    ? [-1, 0]
    : c.motion === "right"
    ? [1, 0]
    : c.motion === "up"
    ? [0, -1]
    : [0, 1];
  const x0 = dx === 0 ? across : mid - dx * travel / 2;
  const y0 = dy === 0 ? across : mid - dy * travel / 2;
  const g = 30 + r.int(40);
  const bg: [number, number, number] = [g + r.int(10), g + r.int(10), g + r.int(10)];
  const rgb = RGB[c.colour].map((v) => Math.max(0, Math.min(255, v + r.int(21) - 10))) as [
    number,
    number,
    number,
  ];
  return { radius, travel, x0, y0, dx, dy, bg, rgb };
}

/** One clip of class `c` as RGBA frames, every random choice drawn from the clip's own stream `r`. */
function renderClip(c: SyntheticClass, size: number, frames: number, r: Rng) {
  const { radius, travel, x0, y0, dx, dy, bg, rgb } = drawClipPlan(c, size, r);
  const centres: [number, number][] = [];
  const rgba: Uint8Array[] = [];
  for (let t = 0; t < frames; t++) {
    const f = frames > 1 ? t / (frames - 1) : 0;
    const cx = x0 + dx * travel * f;
    const cy = y0 + dy * travel * f;
    centres.push([cx, cy]);
    const buf = new Uint8Array(size * size * 4);
    renderFrame(buf, size, bg, c.shape, rgb, cx, cy, radius, r, NOISE, [dx, dy]);
    rgba.push(buf);
  }
  return { rgba, centres, radius, rgb };
}

/**
 * Renders, encodes and writes every class's clips under `dir`/videos, the last `nVal` of each class going to
 * val; `rng` seeds one private stream per clip, in class order.
 */
async function writeClips(
  dir: string,
  classes: SyntheticClass[],
  rng: Rng,
  o: ReturnType<typeof resolveOptions>,
  encoder: { qp?: number; gop?: number },
): Promise<{ clips: SyntheticClip[]; bytes: number }> {
  await Deno.mkdir(`${dir}/videos`, { recursive: true });
  const clips: SyntheticClip[] = [];
  let bytes = 0;
  const { clipsPerClass, size, frames, fps } = o;
  const nVal = clipsPerClass >= 2 ? Math.max(1, Math.round(clipsPerClass * o.valFraction)) : 0;
  for (const c of classes) {
    for (let i = 0; i < clipsPerClass; i++) {
      // a private stream per clip makes each clip independent of how many clips came before it
      const r = new Rng((rng.next() * 2 ** 32) >>> 0);
      const { rgba, centres, radius, rgb } = renderClip(c, size, frames, r);
      const mp4 = await encodeMp4(rgba, size, size, fps, encoder);
      const path = `videos/${slug(c)}_${i}.mp4`;
      await Deno.writeFile(`${dir}/${path}`, mp4);
      bytes += mp4.length;
      clips.push({
        path,
        label: c.id,
        split: i >= clipsPerClass - nVal ? "val" : "train",
        centres,
        radius,
        rgb,
      });
    }
  }
  return { clips, bytes };
}

/** The label CSVs and "<path> <label>" lists of the upstream layout, base and novel ones relabelled 0..n-1. */
async function writeLists(
  dir: string,
  classes: SyntheticClass[],
  clips: SyntheticClip[],
  base: number[],
  novel: number[],
): Promise<void> {
  const list = (xs: SyntheticClip[], relabel?: Map<number, number>) =>
    xs.map((x) => `${x.path} ${relabel ? relabel.get(x.label)! : x.label}`).join("\n") +
    (xs.length ? "\n" : "");
  const baseMap = new Map(base.map((id, i) => [id, i]));
  const novelMap = new Map(novel.map((id, i) => [id, i]));
  const train = clips.filter((x) => x.split === "train");
  const val = clips.filter((x) => x.split === "val");
  const files: Record<string, string> = {
    "labels.csv": csv(classes.map((c) => c.name)),
    "train.txt": list(train),
    "val.txt": list(val),
    "base_labels.csv": csv(base.map((id) => classes[id].name)),
    "novel_labels.csv": csv(novel.map((id) => classes[id].name)),
    "base_train.txt": list(train.filter((x) => baseMap.has(x.label)), baseMap),
    "base_val.txt": list(val.filter((x) => baseMap.has(x.label)), baseMap),
    "novel_val.txt": list(val.filter((x) => novelMap.has(x.label)), novelMap),
    // the vocabulary of the "words" tokenizer: every word of the class names and of the captions
    "words.txt": syntheticWords(classes.map((c) => c.name)).join("\n") + "\n",
  };
  for (const [name, text] of Object.entries(files)) await Deno.writeTextFile(`${dir}/${name}`, text);
}

/** Writes the dataset under `dir` (created if missing) and returns what was written. */
export async function generateSynthetic(
  dir: string,
  options: SyntheticOptions = {},
): Promise<SyntheticSummary> {
  const t0 = performance.now();
  const o = resolveOptions(options);
  const classes = classGrid(o.colours, o.shapes, o.motions);
  const rng = new Rng(o.seed);
  const { base, novel } = splitBaseNovel(classes, new Rng(o.seed ^ SPLIT_SALT));
  const { clips, bytes } = await writeClips(dir, classes, rng, o, { qp: options.qp, gop: options.gop });
  await writeLists(dir, classes, clips, base, novel);
  return {
    dir,
    seed: o.seed,
    classes,
    baseClasses: base,
    novelClasses: novel,
    clips,
    frames: o.frames,
    size: o.size,
    fps: o.fps,
    bytes,
    seconds: (performance.now() - t0) / 1000,
  };
}
