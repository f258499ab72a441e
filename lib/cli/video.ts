// `deno task video FILE`: what the loader would see in one video — container facts from the sample table and
// the frame indices the train/test sampler picks — so a bad file or a surprising sampling shows up before a
// training run. Exit codes: 0 fine, 1 the file could not be read or decoded, 2 usage.

import { parseArgs } from "node:util";
import { decodeFrames, openVideo, VideoError, type VideoInfo } from "../video/decode.ts";
import { encodePng } from "../video/png.ts";
import { sampleForMode } from "../video/sampling.ts";
import { MEAN, STD, type TransformResult } from "../video/transforms.ts";
import { checkJobSize, transformFor } from "../data/prepare.ts";
import { LIMITS_USAGE } from "../video/limits.ts";
import { Rng } from "../random/rng.ts";
import { intArg, UsageError } from "./args.ts";

const USAGE = `usage:
  deno task video FILE [--frames T] [--mode test|train] [--clips N] [--crops 1|3] [--seed S] [--dump DIR]
                  [--transformed] [--json]
      container, codec, size, fps, frame count, key frames and the T sampled frame indices
      (test: segment centres, or with --clips > 1 independent random TSN draws; train: a random TSN draw
      from --seed); --dump DIR writes each sampled frame as decoded, DIR/<order>_f<index>.png; with
      --transformed, after the spatial transforms (train augmentations or test crops), one PNG per view
      and frame, exactly what the model receives for that seed
  --crops 1|3     test views per clip: centre crop, or three crops along the long side (docs/upstream.md §7.3)
  ${LIMITS_USAGE}`;

/** What the model would receive: the container facts plus the sampling that was applied. */
export interface VideoReport extends Omit<VideoInfo, "times"> {
  file: string;
  mode: "test" | "train";
  frames: number;
  clips: number;
  crops: number;
  seed: number;
  indices: number[];
  dumped?: string[];
}

export async function videoReport(
  file: string,
  opts: {
    frames: number;
    mode: "test" | "train";
    clips: number;
    crops: number;
    seed: number;
    dump?: string;
    transformed?: boolean;
  },
): Promise<VideoReport> {
  const bytes = await readVideoFile(file);
  const info = await openVideo(bytes, file);
  const rng = new Rng(opts.seed);
  const n = info.frameCount;
  const indices = Array.from(sampleForMode(opts.mode, n, opts.frames, opts.clips, rng));
  const { times: _times, ...facts } = info;
  const report: VideoReport = { file, ...facts, ...opts, indices };
  delete (report as { dump?: string }).dump;
  delete (report as { transformed?: boolean }).transformed;
  if (opts.dump) {
    const job = { path: file, ...opts };
    if (opts.transformed) checkJobSize(job);
    await dumpFolder(opts.dump);
    let frames = await decodeFrames(bytes, file, indices, info);
    let names = indices.map((src, k) => `${k}_f${src}`);
    if (opts.transformed) {
      // Exactly what the loader feeds the model for this seed (same random stream as prepareVideo).
      const out = transformFor(job, frames, rng);
      frames = denormalize(out);
      const views = out.shape[0] / indices.length;
      names = frames.map((_, k) =>
        `${k}_view${Math.floor(k / indices.length)}_f${indices[k % indices.length]}`
      );
      if (!Number.isInteger(views)) {
        throw new Error("transformed frame count is not a multiple of the sampled frames");
      }
    }
    const width = String(frames.length - 1).length;
    report.dumped = [];
    for (let k = 0; k < frames.length; k++) {
      const f = frames[k];
      const [order, ...rest] = names[k].split("_");
      const path = `${opts.dump}/${order.padStart(width, "0")}_${rest.join("_")}.png`;
      const png = await encodePng(f.width, f.height, f.data);
      await Deno.writeFile(path, png).catch((e) => {
        throw new Error(
          `vifi: cannot write ${path} in the dump folder ${opts.dump}: ${(e as Error).message}`,
        );
      });
      report.dumped.push(path);
    }
  }
  return report;
}

/** The file's bytes, or a VideoError saying why not (a folder, a missing file, no permission). */
async function readVideoFile(file: string): Promise<Uint8Array> {
  try {
    if ((await Deno.stat(file)).isDirectory) throw new VideoError(file, "is a folder, not a video file");
    return await Deno.readFile(file);
  } catch (e) {
    if (e instanceof VideoError) throw e;
    throw new VideoError(file, `cannot read: ${(e as Error).message}`);
  }
}

/** Makes the dump folder and proves it takes a file before anything is decoded. */
async function dumpFolder(dir: string): Promise<void> {
  const probe = `${dir}/.vifi-write-check-${Deno.pid}`;
  try {
    await Deno.mkdir(dir, { recursive: true });
    await Deno.writeFile(probe, new Uint8Array(0));
    await Deno.remove(probe);
  } catch (e) {
    throw new Error(`vifi: cannot write to the dump folder ${dir}: ${(e as Error).message}`);
  }
}

/** Normalised (N, 3, S, S) floats back to RGB bytes, for looking at what the model receives. */
function denormalize(r: TransformResult): { width: number; height: number; data: Uint8Array }[] {
  const [n, , h, w] = r.shape;
  const out = [];
  for (let k = 0; k < n; k++) {
    const data = new Uint8Array(h * w * 3);
    for (let c = 0; c < 3; c++) {
      const base = (k * 3 + c) * h * w;
      for (let i = 0; i < h * w; i++) {
        data[i * 3 + c] = Math.max(0, Math.min(255, Math.round(r.data[base + i] * STD[c] + MEAN[c])));
      }
    }
    out.push({ width: w, height: h, data });
  }
  return out;
}

function printText(r: VideoReport): void {
  const keys = r.keyFrames.length > 12
    ? `${r.keyFrames.slice(0, 12).join(",")},… (${r.keyFrames.length})`
    : r.keyFrames.join(",");
  console.log(`file        ${r.file}`);
  console.log(`container   ${r.container}`);
  console.log(`codec       ${r.codec}`);
  console.log(`size        ${r.width}x${r.height}${r.rotation ? ` (rotated ${r.rotation}°)` : ""}`);
  console.log(`fps         ${Number(r.fps.toFixed(3))}`);
  console.log(`frames      ${r.frameCount} (${r.durationS.toFixed(3)} s)`);
  console.log(`key frames  ${keys}`);
  const how = r.clips > 1
    ? `${r.clips} random clips, seed ${r.seed}`
    : r.mode === "train"
    ? `train, seed ${r.seed}`
    : "test";
  console.log(`sampled     T=${r.frames} ${how}${r.crops > 1 ? `, ×${r.crops} crops` : ""}`);
  for (let c = 0; c < r.clips; c++) {
    const part = r.indices.slice(c * r.frames, (c + 1) * r.frames);
    console.log(`  ${r.clips > 1 ? `clip ${c}: ` : ""}${part.join(" ")}`);
  }
  if (r.dumped) console.log(`dumped      ${r.dumped.length} PNGs to ${r.dumped[0].replace(/\/[^/]*$/, "")}`);
}

export async function main(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        frames: { type: "string", short: "T" },
        mode: { type: "string" },
        clips: { type: "string" },
        crops: { type: "string" },
        seed: { type: "string" },
        dump: { type: "string" },
        transformed: { type: "boolean" },
        json: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    });
    if (parsed.values.help) {
      console.log(USAGE);
      return 0;
    }
    if (parsed.positionals.length !== 1) throw new UsageError("expected exactly one FILE");
    const mode = parsed.values.mode ?? "test";
    if (mode !== "test" && mode !== "train") {
      throw new UsageError(`--mode must be test or train, got "${mode}"`);
    }
    const crops = intArg(parsed.values.crops, "crops", 1, 1);
    if (crops !== 1 && crops !== 3) {
      throw new UsageError(`--crops must be 1 or 3 (docs/upstream.md §7.3), got ${crops}`);
    }
    const opts = {
      frames: intArg(parsed.values.frames, "frames", 8, 1),
      mode: mode as "test" | "train",
      clips: intArg(parsed.values.clips, "clips", 1, 1),
      crops,
      seed: intArg(parsed.values.seed, "seed", 0, 0),
      dump: parsed.values.dump,
      transformed: parsed.values.transformed ?? false,
    };
    const report = await videoReport(parsed.positionals[0], opts);
    if (parsed.values.json) console.log(JSON.stringify(report, null, 2));
    else printText(report);
    return 0;
  } catch (e) {
    if (e instanceof UsageError || (e as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
      console.error(`error: ${(e as Error).message}\n${USAGE}`);
      return 2;
    }
    // a file that cannot be read, decoded or written: one line naming it, never a stack trace
    const msg = e instanceof Error ? e.message : String(e);
    console.error(`error: ${msg.replace(/^vifi: /, "").replace(/\s*\n\s*/g, " ")}`);
    return 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
