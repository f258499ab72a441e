// Clips of ffmpeg's moving test pattern (testsrc2), encoded by ffmpeg.wasm in memory: benchmark inputs and
// test fixtures with real encoder structure (B-frames, chosen GOPs, lossless VP9) made without native tools.

import { ffmpegTransform } from "./decode.ts";

export interface TestPatternOptions {
  width: number;
  height: number;
  rate: number;
  seconds: number;
  /** temporal noise strength (ffmpeg's noise filter), so that bitrate and decode cost look like camera video */
  noise?: number;
  /** encoder arguments, e.g. ["-c:v", "libx264", "-profile:v", "high"] */
  encode: string[];
  format?: string;
}

export function encodeTestPattern(o: TestPatternOptions): Promise<Uint8Array> {
  return ffmpegTransform(new Uint8Array(1), `pattern.${o.format ?? "mp4"}`, (_i, out) => [
    "-nostdin",
    "-v",
    "error",
    "-f",
    "lavfi",
    "-i",
    `testsrc2=size=${o.width}x${o.height}:rate=${o.rate}:duration=${o.seconds}`,
    ...(o.noise ? ["-vf", `noise=alls=${o.noise}:allf=t`] : []),
    ...o.encode,
    "-f",
    o.format ?? "mp4",
    out,
  ]);
}
