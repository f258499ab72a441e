// Decode + sample + transform throughput for `deno task bench`, on one core with no workers: what one loader
// worker delivers. Each clip is read from disk, probed, sampled and decoded as the loader does, and the same
// frame indices are decoded again the way this code did before MP4 trimming (from the start of the file up to
// the last wanted frame) as the reference, with the same transform time added, so the ratio is the gain of
// trimming alone.

import { prepareVideo } from "../../data/prepare.ts";
import { generateSynthetic } from "../../data/synthetic.ts";
import { decodeFrames, decodeStats, openVideo } from "../../video/decode.ts";
import { encodeTestPattern } from "../../video/test-pattern.ts";

export interface VideoBenchRow {
  clip: string;
  /** frames per clip (T) */
  frames: number;
  /** output frames per second, end to end */
  frames_per_s: number;
  /** per output frame */
  decode_ms: number;
  transform_ms: number;
  /** samples the decoder was fed per output frame */
  samples_per_frame: number;
  /** the same, decoding from the start of the file */
  ref_frames_per_s: number;
}

/** A 320×240, 25 fps moving test pattern with temporal noise, so that bitrate and decode cost look like video. */
async function realisticClip(path: string, seconds: number, encode: string[], format = "mp4"): Promise<void> {
  const bytes = await encodeTestPattern({
    width: 320,
    height: 240,
    rate: 25,
    seconds,
    noise: 4,
    encode,
    format,
  });
  await Deno.writeFile(path, bytes);
}

async function measure(clip: string, paths: string[], T: number, draws: number): Promise<VideoBenchRow> {
  let decode = 0, transform = 0, ref = 0, frames = 0;
  // ffmpeg.wasm start-up and JIT warm-up
  await prepareVideo({ path: paths[0], mode: "train", frames: T, seed: 0 });
  let samples = 0;
  for (let d = 0; d < draws; d++) {
    for (const path of paths) {
      const before = decodeStats.samplesDecoded;
      const p = await prepareVideo({ path, mode: "train", frames: T, seed: 1 + d });
      samples += decodeStats.samplesDecoded - before;
      decode += p.ms.decode;
      transform += p.ms.transform;
      frames += T;
      const t0 = performance.now();
      const bytes = await Deno.readFile(path);
      await decodeFrames(bytes, path, p.indices, await openVideo(bytes, path), { trim: false });
      ref += performance.now() - t0;
    }
  }
  return {
    clip,
    frames: T,
    frames_per_s: (1000 * frames) / (decode + transform),
    decode_ms: decode / frames,
    transform_ms: transform / frames,
    samples_per_frame: samples / frames,
    ref_frames_per_s: (1000 * frames) / (ref + transform),
  };
}

export async function benchVideoPipeline(): Promise<VideoBenchRow[]> {
  const dir = await Deno.makeTempDir({ prefix: "vifi-bench-video-" });
  try {
    const rows: VideoBenchRow[] = [];
    await generateSynthetic(`${dir}/syn`, {
      seed: 1,
      clipsPerClass: 2,
      frames: 32,
      size: 240,
      shapes: ["circle", "square"],
      colours: ["red", "blue"],
      motions: ["left", "up"],
    });
    const syn: string[] = [];
    for await (const e of Deno.readDir(`${dir}/syn/videos`)) syn.push(`${dir}/syn/videos/${e.name}`);
    syn.sort();
    rows.push(await measure("synthetic H.264 Baseline 240², 32 frames", syn.slice(0, 8), 8, 1));
    const x264 = ["-c:v", "libx264", "-profile:v", "high", "-pix_fmt", "yuv420p"];
    await realisticClip(`${dir}/long-gop.mp4`, 8, x264);
    await realisticClip(`${dir}/gop25.mp4`, 8, [...x264, "-g", "25"]);
    // UCF-101 and HMDB-51 ship MPEG-4 Part 2 (Xvid/DivX) in AVI at 320×240; Xvid's defaults: 2 B-frames, key
    // frames 300 apart
    await realisticClip(
      `${dir}/xvid.avi`,
      7,
      ["-c:v", "mpeg4", "-vtag", "xvid", "-q:v", "5", "-bf", "2", "-g", "300"],
      "avi",
    );
    const clips: [string, string][] = [
      ["H.264 High 320×240, 200 frames, B-frames, one IDR (x264 defaults), ~290 kb/s", "long-gop.mp4"],
      ["the same clip with an IDR every 25 frames", "gop25.mp4"],
      ["MPEG-4 Part 2 (Xvid) AVI 320×240, 175 frames, B-frames, one key frame, ~830 kb/s", "xvid.avi"],
    ];
    for (const T of [8, 32]) {
      for (const [name, file] of clips) rows.push(await measure(name, [`${dir}/${file}`], T, 6));
    }
    return rows;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
