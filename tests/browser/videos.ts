// Videos the browser tests share, made here (no fixture files): H.264 with and without colour tags.

import { encodeMp4 } from "../../lib/data/synthetic.ts";
import { runFfmpeg } from "../../lib/video/ffmpeg-wasm.ts";

/** A small H.264 MP4 (gradient frames), and the same stream re-tagged by ffmpeg's h264_metadata filter. */
export async function taggedVideos(): Promise<{ plain: Uint8Array; tagged: Uint8Array }> {
  const w = 48, h = 32;
  const frames = Array.from({ length: 6 }, (_, k) =>
    Uint8Array.from({ length: w * h * 4 }, (_, i) => {
      const px = i >> 2, c = i & 3;
      return c === 3 ? 255 : ((px % w) * 5 + Math.floor(px / w) * 3 + k * 17 + c * 60) & 255;
    }));
  const plain = await encodeMp4(frames, w, h, 10, { gop: 3 });
  const tagged = await runFfmpeg(plain, "plain.mp4", (i, o) => [
    "-v",
    "error",
    "-i",
    i,
    "-c",
    "copy",
    "-bsf:v",
    "h264_metadata=matrix_coefficients=1:video_full_range_flag=1:colour_primaries=1:transfer_characteristics=1",
    "-f",
    "mp4",
    o,
  ]);
  return { plain, tagged };
}
