// Video in a page: the same container probe (mp4box), TSN sampling and test transforms as the server
// (lib/data/prepare.ts), with the pixels from the browser's own H.264 decoder (WebCodecs' VideoDecoder)
// where it can give the server's frames exactly, else from the same ffmpeg.wasm the server runs.
//
// Exactly: H.264 decoding is bit-exact by the standard, so the decoder's YUV planes are ffmpeg's; the
// colour conversion is then ./yuv.ts, swscale's arithmetic for even-sided frames, with the colour matrix
// and range the stream's SPS declares (./avc-colour.ts), as ffmpeg takes them. Anything else (another
// codec or container, a rotated or odd-sided frame, a colour matrix swscale has no table for, a pixel
// layout other than I420/NV12, a decoder that comes up short) goes to ffmpeg.wasm, and the result says so.

import { Rng } from "../random/rng.ts";
import { openVideo, type VideoInfo } from "../video/decode.ts";
import { mp4Probe } from "../video/mp4-probe.ts";
import { setFfmpegWasm } from "../video/ffmpeg-wasm.ts";
import { sampleForMode } from "../video/sampling.ts";
import { decodeTooLarge, frameTooLarge } from "../video/limits.ts";
import { VideoError } from "../video/video-info.ts";
import type { Frame } from "../video/frame.ts";
import { checkJobSize, type Prepared, type PrepareJob, prepareVideo, transformFor } from "../data/prepare.ts";
import { swscaleExact, swscaleMatrix, yuv420ToRgb, type YuvMatrix } from "./yuv.ts";
import { avcColour } from "./avc-colour.ts";
import { type VideoDecoderConfig, type VideoFrameLike, webCodecs } from "./webcodecs.ts";

export type PageDecoder = "webcodecs" | "ffmpeg.wasm";

export interface PageVideoOptions {
  /** "auto" (default): WebCodecs where it gives the server's pixels, else ffmpeg.wasm */
  decoder?: "auto" | PageDecoder;
}

export interface PagePrepared extends Prepared {
  /** which decoder made the pixels */
  decoder: PageDecoder;
  /** why WebCodecs was not used, when it was not */
  fallback?: string;
}

/** Where useFfmpegWasm said the binary is; without it a page cannot run ffmpeg (the default reads a file). */
let ffmpegWasmUrl: string | undefined;

/**
 * Where the page's ffmpeg.wasm binary is fetched from (same origin: nothing leaves the page's host). Call
 * before the first ffmpeg decode.
 */
export function useFfmpegWasm(url: string | URL): void {
  ffmpegWasmUrl = String(url);
  setFfmpegWasm(async () => {
    const res = await fetch(url);
    if (!res.ok) throw new Error(`vifi: cannot fetch ffmpeg.wasm from ${url}: HTTP ${res.status}`);
    return await res.arrayBuffer();
  });
}

/** The avcC box's payload in the sample entry: WebCodecs' `description` for H.264 in MP4. */
export function avcDescription(stsd: Uint8Array): Uint8Array | undefined {
  for (let i = 4; i + 4 <= stsd.length; i++) {
    if (stsd[i] === 0x61 && stsd[i + 1] === 0x76 && stsd[i + 2] === 0x63 && stsd[i + 3] === 0x43) {
      const size = ((stsd[i - 4] << 24) | (stsd[i - 3] << 16) | (stsd[i - 2] << 8) | stsd[i - 1]) >>> 0;
      if (size >= 8 && i - 4 + size <= stsd.length) return stsd.slice(i + 4, i - 4 + size);
    }
  }
  return undefined;
}

/** One decoded frame's 4:2:0 planes turned into RGB, or why they cannot be converted exactly. */
async function frameToRgb(
  frame: VideoFrameLike,
  w: number,
  h: number,
  colour: { matrix: YuvMatrix; fullRange: boolean },
): Promise<Uint8Array | string> {
  const fmt = frame.format;
  if (fmt !== "I420" && fmt !== "NV12") return `the decoder gave ${fmt ?? "an opaque"} frames`;
  if (frame.visibleRect?.width !== w || frame.visibleRect?.height !== h) {
    return `decoded ${frame.visibleRect?.width}x${frame.visibleRect?.height}, the container says ${w}x${h}`;
  }
  const buf = new Uint8Array(frame.allocationSize());
  const layout = await frame.copyTo(buf);
  const cw = w / 2, ch = h / 2;
  const y = buf.subarray(layout[0].offset);
  let u: Uint8Array, v: Uint8Array, uStride: number, vStride: number;
  if (fmt === "I420") {
    u = buf.subarray(layout[1].offset);
    v = buf.subarray(layout[2].offset);
    [uStride, vStride] = [layout[1].stride, layout[2].stride];
  } else {
    // NV12 interleaves U and V; split them so one conversion serves both layouts
    u = new Uint8Array(cw * ch);
    v = new Uint8Array(cw * ch);
    const uv = buf.subarray(layout[1].offset);
    for (let r = 0; r < ch; r++) {
      for (let c = 0; c < cw; c++) {
        u[r * cw + c] = uv[r * layout[1].stride + 2 * c];
        v[r * cw + c] = uv[r * layout[1].stride + 2 * c + 1];
      }
    }
    uStride = vStride = cw;
  }
  return yuv420ToRgb(
    { y, u, v, yStride: layout[0].stride, uStride, vStride },
    w,
    h,
    colour.matrix,
    colour.fullRange,
  );
}

/** Why WebCodecs cannot give this video's frames exactly, or undefined when it can try. */
function webCodecsRefusal(info: VideoInfo): string | undefined {
  if (!webCodecs()) return "this browser has no WebCodecs VideoDecoder";
  if (info.container !== "mp4") return `the container is ${info.container}, not MP4`;
  if (!/^avc[13]/.test(info.codec)) return `the codec is ${info.codec}, not H.264`;
  if (info.rotation) return `the video is rotated ${info.rotation}°`;
  if (!swscaleExact(info.width, info.height)) return `${info.width}x${info.height} has an odd side`;
  return undefined;
}

/**
 * The frames at `indices` (presentation order, repeats allowed) decoded by WebCodecs, or the reason it
 * could not give them exactly. Decodes, in decode order, from the last cut point before the first wanted
 * frame to the last sample a wanted frame needs.
 */
export async function decodeWithWebCodecs(
  bytes: Uint8Array,
  name: string,
  indices: ArrayLike<number>,
  info: VideoInfo,
): Promise<Frame[] | string> {
  const refused = webCodecsRefusal(info);
  const wc = webCodecs();
  if (refused || !wc) return refused ?? "no WebCodecs";
  const { VideoDecoder, EncodedVideoChunk } = wc;
  const probe = mp4Probe(bytes, name);
  const description = avcDescription(probe.header.stsd);
  if (!description) return "the sample entry has no avcC box";
  // the stream's own colour, as ffmpeg reads it: VideoFrame.colorSpace is the browser's guess
  const said = avcColour(description);
  if (typeof said === "string") return said;
  const matrix = swscaleMatrix(said.matrix);
  if (matrix === undefined) return `colour matrix ${said.matrix} has no swscale table`;
  const colour = { matrix, fullRange: said.fullRange };
  const { width: w, height: h } = info;
  const big = frameTooLarge(w, h);
  if (big) throw new VideoError(name, `declares ${big}`);
  const wanted = [...new Set(Array.from(indices))].sort((a, b) => a - b);
  const tooMuch = decodeTooLarge(w, h, wanted.length);
  if (tooMuch) throw new VideoError(name, tooMuch);
  const config: VideoDecoderConfig = { codec: info.codec, description, codedWidth: w, codedHeight: h };
  if (!(await VideoDecoder.isConfigSupported(config)).supported) {
    return `VideoDecoder does not take ${info.codec}`;
  }
  let start = probe.samples.length, end = -1;
  for (const f of wanted) {
    let c = probe.decodeIndex[f];
    end = Math.max(end, c);
    while (c > 0 && !probe.cut[c]) c--;
    start = Math.min(start, c);
  }
  const rank = new Int32Array(probe.samples.length);
  probe.decodeIndex.forEach((d, f) => (rank[d] = f));
  const want = new Set(wanted);
  const got = new Map<number, Promise<Uint8Array | string>>();
  let failure: string | undefined;
  const decoder = new VideoDecoder({
    output: (frame: VideoFrameLike) => {
      // the timestamp carries the presentation index; frames nobody asked for are dropped at once
      const f = Math.round(frame.timestamp / 1000);
      if (want.has(f) && !got.has(f)) {
        got.set(
          f,
          frameToRgb(frame, w, h, colour).finally(() => frame.close()),
        );
      } else frame.close();
    },
    error: (e: Error) => (failure ??= `VideoDecoder: ${e.message}`),
  });
  try {
    decoder.configure(config);
    for (let d = start; d <= end; d++) {
      const s = probe.samples[d];
      decoder.decode(
        new EncodedVideoChunk({
          type: d === start || s.isSync && probe.cut[d] ? "key" : "delta",
          timestamp: rank[d] * 1000,
          duration: 1000,
          data: bytes.subarray(s.offset, s.offset + s.size),
        }),
      );
    }
    await decoder.flush();
  } catch (e) {
    failure ??= `VideoDecoder: ${e instanceof Error ? e.message : e}`;
  } finally {
    if (decoder.state !== "closed") decoder.close();
  }
  const rgb = new Map<number, Uint8Array>();
  for (const [f, p] of got) {
    const r = await p;
    if (typeof r === "string") return r;
    rgb.set(f, r);
  }
  if (failure) return failure;
  if (rgb.size < wanted.length) return `VideoDecoder gave ${rgb.size} of ${wanted.length} wanted frames`;
  const frames = new Map(wanted.map((f) => [f, { width: w, height: h, data: rgb.get(f)! }]));
  return Array.from(indices, (f) => frames.get(f)!);
}

/**
 * What the model receives for one video, as lib/data/prepare.ts's prepareVideo makes it on the server:
 * the same probe, sampling, random stream and transforms; the pixels from WebCodecs where that is exact,
 * else from ffmpeg.wasm (then it is the server's own function, byte for byte).
 */
export async function prepareVideoInPage(
  job: PrepareJob,
  bytes: Uint8Array,
  opts: PageVideoOptions = {},
): Promise<PagePrepared> {
  const choice = opts.decoder ?? "auto";
  let fallback = choice === "ffmpeg.wasm" ? "ffmpeg.wasm was asked for" : undefined;
  if (!fallback) {
    checkJobSize(job);
    const t0 = performance.now();
    const info = await openVideo(bytes, job.path);
    const clips = job.mode === "test" ? job.clips ?? 1 : 1;
    const rng = new Rng(job.seed);
    const idx = sampleForMode(job.mode, info.frameCount, job.frames, clips, rng);
    const frames = await decodeWithWebCodecs(bytes, job.path, idx, info);
    if (typeof frames !== "string") {
      const t1 = performance.now();
      const out = transformFor(job, frames, rng);
      return {
        data: out.data,
        shape: out.shape,
        indices: Array.from(idx),
        frameCount: info.frameCount,
        ms: { decode: t1 - t0, transform: performance.now() - t1 },
        decoder: "webcodecs",
      };
    }
    if (choice === "webcodecs") {
      throw new VideoError(job.path, `WebCodecs cannot decode it exactly: ${frames}`);
    }
    fallback = frames;
  }
  if (ffmpegWasmUrl === undefined && typeof (globalThis as { Deno?: unknown }).Deno === "undefined") {
    throw new VideoError(
      job.path,
      `needs ffmpeg.wasm (${fallback}); call useFfmpegWasm(url) with this site's ffmpeg-core.wasm first`,
    );
  }
  return { ...await prepareVideo(job, bytes), decoder: "ffmpeg.wasm", fallback };
}
