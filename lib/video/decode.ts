// Video probing and frame decoding without WebCodecs (Deno has none). The container is read with mp4box so
// that frame count, key frames and timestamps come from the sample table (decord's `len(reader)` semantics),
// and pixels come from ffmpeg compiled to wasm, which handles every H.264 profile real datasets use.

import { createFile, MP4BoxBuffer } from "npm:mp4box@2.4.1";
import type { Movie, Sample } from "npm:mp4box@2.4.1";
import { type TrackHeader, type TrackSample, writeTrimmedMp4 } from "./mp4-write.ts";
import { capValue, decodeTooLarge, FRAME_PIXELS, frameTooLarge, TRACK_SAMPLES } from "./limits.ts";
import { mp4TableProblem } from "./mp4-tables.ts";

export interface VideoInfo {
  container: string;
  codec: string;
  width: number;
  height: number;
  fps: number;
  frameCount: number;
  /** presentation-order indices of the sync samples */
  keyFrames: number[];
  /** clockwise degrees from the track matrix (0, 90, 180, 270) */
  rotation: number;
  durationS: number;
  /** presentation time of each frame in seconds, relative to the first frame (MP4 only; empty otherwise) */
  times: number[];
  /**
   * where `frameCount` comes from, as decord's `len(reader)` takes it: the stream's frame count, else
   * fps × the container's duration (WebM has no count), else the packets counted
   */
  frameCountFrom?: "nb_frames" | "duration" | "packets";
}

export interface Frame {
  width: number;
  height: number;
  /** RGB, height × width × 3 */
  data: Uint8Array;
}

export class VideoError extends Error {
  constructor(readonly file: string, readonly reason: string) {
    // ffmpeg's log, quoted in some reasons, spans lines: the message stays one line
    super(`${file}: ${reason.replace(/\s*[\r\n\u2028\u2029]+\s*/g, " ")}`);
    this.name = "VideoError";
  }
}

function sniffContainer(b: Uint8Array): "mp4" | "avi" | "webm" | "unknown" {
  const ascii = (o: number, n: number) => String.fromCharCode(...b.subarray(o, o + n));
  if (b.length >= 12 && ["ftyp", "moov", "mdat", "free", "wide", "skip"].includes(ascii(4, 4))) return "mp4";
  if (b.length >= 12 && ascii(0, 4) === "RIFF" && ascii(8, 4) === "AVI ") return "avi";
  if (b.length >= 4 && b[0] === 0x1a && b[1] === 0x45 && b[2] === 0xdf && b[3] === 0xa3) return "webm";
  return "unknown";
}

interface Mp4Probe {
  info: VideoInfo;
  header: TrackHeader;
  /** the track's samples in decode order */
  samples: TrackSample[];
  /** decode-order index of each presentation-order frame */
  decodeIndex: Int32Array;
  /** per decode-order sample: decoding may start here with nothing before it (an IDR, or any key frame of
   * an intra-refresh-free codec) */
  cut: Uint8Array;
  /** per decode-order sample: later samples may reference it (H.264 nal_ref_idc; 1 where not parsed) */
  isRef: Uint8Array;
  /** false for several sample entries (a trimmed copy maps every sample to the first) and for files that
   * reorder frames without saying how in their composition times */
  trimmable: boolean;
}

/** [header start, end] of each length-prefixed NAL unit of one H.264/H.265 sample. */
function* nalUnits(
  b: Uint8Array,
  offset: number,
  size: number,
  lenSize: number,
): Generator<[number, number]> {
  const end = offset + size;
  for (let o = offset; o + lenSize < end;) {
    let len = 0;
    for (let k = 0; k < lenSize; k++) len = len * 256 + b[o + k];
    yield [o + lenSize, Math.min(end, o + lenSize + len)];
    o += lenSize + len;
  }
}

/** Exp-Golomb ue(v) reader over a NAL unit's first bytes (emulation prevention cannot occur that early). */
function bitReader(b: Uint8Array, start: number, end: number) {
  let bit = 0;
  const read = () => {
    const i = start + (bit >> 3);
    const v = i < end ? (b[i] >> (7 - (bit & 7))) & 1 : 1;
    bit++;
    return v;
  };
  return {
    ue(): number {
      let zeros = 0;
      while (read() === 0 && zeros < 31) zeros++;
      let v = 0;
      for (let k = 0; k < zeros; k++) v = v * 2 + read();
      return 2 ** zeros - 1 + v;
    },
  };
}

/**
 * What the length-prefixed NAL units of one H.264 sample say: an IDR slice, a slice used for reference, and
 * whether its first slice is a B slice.
 */
function avcSampleKind(b: Uint8Array, offset: number, size: number, lenSize: number) {
  let idr = false, ref = false, bSlice: boolean | undefined;
  for (const [o, end] of nalUnits(b, offset, size, lenSize)) {
    const type = b[o] & 0x1f;
    if (type === 5) idr = true;
    if (type >= 1 && type <= 5) {
      if ((b[o] & 0x60) !== 0) ref = true;
      if (bSlice === undefined) {
        const r = bitReader(b, o + 1, end);
        r.ue(); // first_mb_in_slice
        bSlice = r.ue() % 5 === 1;
      }
    }
  }
  return { idr, ref, bSlice: bSlice ?? false };
}

/** MPEG-4 Part 2: the coding types (I, P, B or S) of the VOPs in one sample, in bitstream order. */
function mp4vVopTypes(b: Uint8Array, offset: number, size: number): string[] {
  const types: string[] = [];
  const end = offset + size - 4;
  for (let i = offset; i < end; i++) {
    if (b[i] === 0 && b[i + 1] === 0 && b[i + 2] === 1 && b[i + 3] === 0xb6) {
      types.push("IPBS"[b[i + 4] >> 6]);
    }
  }
  return types;
}

/**
 * Output order of an MPEG-4 Part 2 stream from its VOP types alone: a B-VOP is shown as soon as it is decoded,
 * an anchor (I, P, S) when the next anchor arrives — the decoder's one-frame reordering delay.
 */
function anchorDelayOrder(types: string[]): number[] {
  const out: number[] = [];
  let pending = -1;
  types.forEach((t, i) => {
    if (t === "B") out.push(i);
    else {
      if (pending >= 0) out.push(pending);
      pending = i;
    }
  });
  if (pending >= 0) out.push(pending);
  return out;
}

/** H.265: IDR pictures only (a CRA's leading pictures would need the previous GOP). */
function hevcHasIdr(b: Uint8Array, offset: number, size: number, lenSize: number): boolean {
  for (const [o] of nalUnits(b, offset, size, lenSize)) {
    const type = (b[o] >> 1) & 0x3f;
    if (type === 19 || type === 20) return true;
  }
  return false;
}

const probeCache = new WeakMap<Uint8Array, Mp4Probe>();

function mp4Probe(bytes: Uint8Array, file: string): Mp4Probe {
  let p = probeCache.get(bytes);
  if (!p) probeCache.set(bytes, p = probeMp4(bytes, file));
  return p;
}

function probeMp4(bytes: Uint8Array, file: string): Mp4Probe {
  // before mp4box, which allocates whatever the tables declare
  const lie = mp4TableProblem(bytes, capValue(TRACK_SAMPLES));
  if (lie) throw new VideoError(file, lie);
  const mp4 = createFile();
  let movie: Movie | undefined;
  let err: string | undefined;
  mp4.onReady = (m) => (movie = m);
  mp4.onError = (_mod, msg) => (err ??= msg);
  try {
    const ab = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
    mp4.appendBuffer(MP4BoxBuffer.fromArrayBuffer(ab, 0));
    mp4.flush();
  } catch (e) {
    throw new VideoError(file, `corrupt MP4 (${(e as Error).message})`);
  }
  if (!movie) {
    throw new VideoError(file, `corrupt or truncated MP4: no complete moov box${err ? ` (${err})` : ""}`);
  }
  const track = movie.videoTracks[0];
  if (!track) {
    // mp4box files a video track whose sample entry it does not know under another kind; the handler says what
    // the track really is
    // deno-lint-ignore no-explicit-any
    const vide = movie.tracks.find((t) => (mp4.getTrackById(t.id) as any)?.mdia?.hdlr?.handler === "vide");
    if (vide) throw new VideoError(file, `unsupported codec "${vide.codec}" in the video track`);
    throw new VideoError(file, "no video track");
  }
  if (!/^(avc[13]|hvc1|hev1|mp4v|vp0[89]|av01|mjpg|jpeg)/.test(track.codec)) {
    throw new VideoError(file, `unsupported codec "${track.codec}"`);
  }
  const samples: Sample[] = mp4.getTrackById(track.id)?.samples ?? [];
  if (samples.length === 0) throw new VideoError(file, "zero frames in the video track");
  let end = 0;
  for (const s of samples) end = Math.max(end, s.offset + s.size);
  if (end > bytes.length) {
    throw new VideoError(
      file,
      `truncated: sample data ends at byte ${end} but the file has ${bytes.length} bytes`,
    );
  }
  let order = samples.map((_, i) => i).sort((a, b) => samples[a].cts - samples[b].cts);
  const sync = samples.map((s) => s.is_sync);
  const cut = Uint8Array.from(sync, Number);
  const isRef = new Uint8Array(samples.length).fill(1);
  let hasB = false;
  let vops: string[][] | undefined;
  // deno-lint-ignore no-explicit-any
  const stbl = (mp4.getTrackById(track.id) as any)?.mdia?.minf?.stbl;
  const entry = stbl?.stsd?.entries?.[0];
  if (/^avc[13]/.test(track.codec)) {
    const lenSize = (entry?.avcC?.lengthSizeMinusOne ?? 3) + 1;
    const kinds = samples.map((s) => avcSampleKind(bytes, s.offset, s.size, lenSize));
    kinds.forEach((k, i) => (cut[i] = Number(k.idr), isRef[i] = Number(k.ref)));
    // Some muxers (minimp4, used by h264-mp4-encoder) omit stss, which declares every sample a key frame;
    // seeking to a P frame would then decode garbage, so the key frames are the IDR slices instead.
    if (samples.length > 1 && sync.every(Boolean)) kinds.forEach((k, i) => (sync[i] = k.idr));
    if (!sync.some(Boolean)) sync[0] = true;
    hasB = kinds.some((k) => k.bSlice);
  } else if (/^(hvc1|hev1)/.test(track.codec)) {
    const lenSize = (entry?.hvcC?.lengthSizeMinusOne ?? 3) + 1;
    samples.forEach((s, i) => (cut[i] = Number(s.is_sync && hevcHasIdr(bytes, s.offset, s.size, lenSize))));
    hasB = true; // not parsed: assume it may reorder
  } else if (/^mp4v/.test(track.codec)) {
    // "mp4v" also holds MJPEG (no VOP start codes: "?", every frame intra)
    vops = samples.map((s) => mp4vVopTypes(bytes, s.offset, s.size));
    const types = vops.map((v) => v[0] ?? "?");
    types.forEach((t, i) => {
      isRef[i] = Number(t !== "B");
      cut[i] = Number(sync[i] && (t === "I" || t === "?"));
    });
    hasB = types.includes("B");
  }
  cut[0] = 1;
  // Trimming picks frames by their presentation order. A file that reorders frames but records no composition
  // offsets (an AVI with B-frames remuxed by ffmpeg, for one) has times that do not say the decoder's output
  // order. For MPEG-4 Part 2 with one VOP per sample the VOP types say it; anything else decodes whole, where
  // frame n is simply the decoder's n-th output.
  let reorderUnknown = hasB && samples.every((s) => s.cts === s.dts);
  if (reorderUnknown && vops?.every((v) => v.length === 1)) {
    order = anchorDelayOrder(vops.map((v) => v[0]));
    reorderUnknown = false;
  }
  const rank = new Int32Array(samples.length);
  order.forEach((s, i) => (rank[s] = i));
  const keyFrames = sync.map((k, i) => (k ? rank[i] : -1)).filter((i) => i >= 0).sort((a, b) => a - b);
  const cts = order.map((i) => samples[i].cts);
  const ts = track.timescale;
  const times = cts.map((c) => (c - cts[0]) / ts);
  const total = samples.reduce((a, s) => a + s.duration, 0) / ts;
  const m = Array.from(track.matrix as ArrayLike<number>);
  const rotation = ((Math.round(Math.atan2(m[1], m[0]) * 180 / Math.PI) % 360) + 360) % 360;
  return {
    header: {
      timescale: ts,
      width: track.track_width,
      height: track.track_height,
      matrix: m,
      stsd: bytes.subarray(stbl.stsd.start, stbl.stsd.start + stbl.stsd.size),
    },
    samples: samples.map((s, i) => ({
      offset: s.offset,
      size: s.size,
      dts: s.dts,
      cts: s.cts,
      duration: s.duration,
      isSync: sync[i],
    })),
    decodeIndex: Int32Array.from(order),
    cut,
    isRef,
    trimmable: (stbl?.stsd?.entries?.length ?? 1) === 1 && !reorderUnknown,
    info: {
      container: "mp4",
      codec: track.codec,
      width: track.video?.width ?? track.track_width,
      height: track.video?.height ?? track.track_height,
      fps: total > 0 ? samples.length / total : 0,
      frameCount: samples.length,
      keyFrames,
      rotation,
      durationS: total,
      times,
      // the sample table's count is what ffmpeg reports as the stream's nb_frames
      frameCountFrom: "nb_frames",
    },
  };
}

// --- ffmpeg.wasm -------------------------------------------------------------------------------------------

interface FFmpegCore {
  FS: {
    writeFile(path: string, data: Uint8Array): void;
    readFile(path: string): Uint8Array;
    unlink(path: string): void;
  };
  exec(...args: string[]): number;
  ffprobe(...args: string[]): number;
  setLogger(fn: (e: { type: string; message: string }) => void): void;
  reset(): void;
}

let wasmModule: Promise<WebAssembly.Module> | undefined;
let corePromise: Promise<FFmpegCore> | undefined;
let coreRuns = 0;
let coreLog: string[] = [];

/**
 * ffmpeg.wasm corrupts its own heap after about 100 runs in one instance ("memory access out of bounds"), so
 * the instance is replaced every CORE_RUNS runs. Compiling the 32 MB wasm is the slow part (~0.3 s) and is done
 * once; a fresh instance from the compiled module costs a few milliseconds.
 */
const CORE_RUNS = 40;

function ffmpegCore(): Promise<FFmpegCore> {
  if (corePromise && coreRuns >= CORE_RUNS) corePromise = undefined;
  corePromise ??= (async () => {
    coreRuns = 0;
    // The Emscripten build assumes a worker and reads self.location while loading.
    if (!(globalThis as { location?: unknown }).location) {
      Object.defineProperty(globalThis, "location", { value: new URL(import.meta.url), configurable: true });
    }
    const mod = await import("npm:@ffmpeg/core@0.12.10");
    wasmModule ??= Deno.readFile(new URL(import.meta.resolve("npm:@ffmpeg/core@0.12.10/wasm"))).then((b) =>
      WebAssembly.compile(b)
    );
    const compiled = await wasmModule;
    const core = (await mod.default({
      instantiateWasm(
        imports: WebAssembly.Imports,
        done: (inst: WebAssembly.Instance, m: WebAssembly.Module) => void,
      ) {
        WebAssembly.instantiate(compiled, imports).then((inst) => done(inst, compiled));
        return {};
      },
    })) as FFmpegCore;
    core.setLogger((e) => {
      coreLog.push(e.message);
      if (coreLog.length > 200) coreLog = coreLog.slice(-100);
    });
    return core;
  })();
  coreRuns++;
  return corePromise;
}

let fileCounter = 0;

/** How decodes went: MP4s decode a trimmed copy, whose output falls back to a full decode when it comes up short. */
export const decodeStats = { trimmed: 0, fromStart: 0, trimFallbacks: 0, samplesDecoded: 0 };

async function runFfmpeg(
  bytes: Uint8Array,
  file: string,
  build: (input: string, output: string) => string[],
  probe = false,
): Promise<Uint8Array> {
  try {
    return await runFfmpegOnce(bytes, file, build, probe);
  } catch (e) {
    // a damaged file can leave the instance in a state where a later, valid file hangs (fuzz VIFI_SEED=29):
    // after any failure the next run starts on a fresh instance (a few milliseconds)
    coreRuns = CORE_RUNS;
    if (!(e instanceof WebAssembly.RuntimeError)) throw e;
    // a trap leaves the instance unusable; one retry on a fresh instance separates that from a bad file
    coreRuns = CORE_RUNS;
    try {
      return await runFfmpegOnce(bytes, file, build, probe);
    } catch (e2) {
      coreRuns = CORE_RUNS;
      if (e2 instanceof WebAssembly.RuntimeError) {
        throw new VideoError(file, `ffmpeg crashed (${e2.message})`);
      }
      throw e2;
    }
  }
}

function fsExists(core: FFmpegCore, path: string): boolean {
  try {
    return core.FS.readFile(path).length > 0;
  } catch {
    return false;
  }
}

async function runFfmpegOnce(
  bytes: Uint8Array,
  file: string,
  build: (input: string, output: string) => string[],
  probe: boolean,
): Promise<Uint8Array> {
  const core = await ffmpegCore();
  const ext = file.match(/\.[A-Za-z0-9]{1,5}$/)?.[0] ?? "";
  const input = `in${++fileCounter}${ext}`;
  const output = `out${fileCounter}`;
  core.FS.writeFile(input, bytes);
  coreLog = [];
  try {
    core.reset();
    let rc: number;
    if (probe) {
      // ffprobe's wrapper never sets a return code, and on some exits throws a non-Error that the wrapper's own
      // `e.message.startsWith` check trips over; success is judged by whether it wrote its output.
      try {
        core.ffprobe(...build(input, output));
      } catch (e) {
        if (e instanceof WebAssembly.RuntimeError) throw e;
      }
      rc = fsExists(core, output) ? 0 : 1;
    } else {
      try {
        rc = core.exec(...build(input, output));
      } catch (e) {
        // an abort inside ffmpeg can surface as the wrapper's own TypeError rather than a wasm trap; either way
        // the instance is not to be trusted any more
        if (e instanceof WebAssembly.RuntimeError) throw e;
        throw new WebAssembly.RuntimeError(`ffmpeg aborted (${(e as Error)?.message ?? e})`);
      }
    }
    if (rc !== 0) {
      const big = coreLog.join(" ").match(/Picture size (\d+)x(\d+) exceeds specified max pixel count/);
      if (big) {
        throw new VideoError(file, `its video stream declares ${frameTooLarge(+big[1], +big[2]) ?? big[0]}`);
      }
      const log = coreLog.filter((l) => !l.startsWith("Aborted")).slice(-4).join(" | ");
      if (/Decoder .* not found|Unknown decoder|unsupported codec|codec not currently supported/i.test(log)) {
        throw new VideoError(file, `unsupported codec (${log})`);
      }
      throw new VideoError(file, `ffmpeg failed with code ${rc}: ${log || "no log"}`);
    }
    return core.FS.readFile(output);
  } finally {
    for (const p of [input, output]) {
      try {
        core.FS.unlink(p);
      } catch { /* output may not exist */ }
    }
  }
}

async function probeWithFfmpeg(bytes: Uint8Array, file: string, container: string): Promise<VideoInfo> {
  const out = await runFfmpeg(bytes, file, (i, o) => [
    "-v",
    "error",
    "-select_streams",
    "v:0",
    "-show_entries",
    "stream=codec_name,width,height,avg_frame_rate,r_frame_rate,nb_frames:packet=pts_time,flags:format=duration",
    "-of",
    "json",
    i,
    "-o",
    o,
  ], true);
  // deno-lint-ignore no-explicit-any
  const j = JSON.parse(new TextDecoder().decode(out)) as any;
  const st = j.streams?.[0];
  if (!st) throw new VideoError(file, "no video stream");
  const packets: { pts_time?: string; flags?: string }[] = j.packets ?? [];
  if (packets.length === 0) throw new VideoError(file, "zero frames in the video stream");
  const pts = packets.map((p, i) => ({ t: Number(p.pts_time ?? i), key: (p.flags ?? "").includes("K") }));
  pts.sort((a, b) => a.t - b.t);
  const rate = (s: string | undefined) => {
    const [a, b] = (s ?? "0/1").split("/").map(Number);
    return b ? a / b : 0;
  };
  const fps = rate(st.avg_frame_rate) || rate(st.r_frame_rate);
  const counted = decordFrameCount(st.nb_frames, st.avg_frame_rate, j.format?.duration, packets.length);
  const duration = Number(j.format?.duration);
  return {
    container,
    codec: st.codec_name,
    width: st.width,
    height: st.height,
    fps,
    frameCount: counted.count,
    keyFrames: pts.map((p, i) => (p.key ? i : -1)).filter((i) => i >= 0),
    rotation: 0,
    durationS: Number.isFinite(duration) && duration > 0 ? duration : fps ? packets.length / fps : 0,
    times: pts.map((p) => p.t - pts[0].t),
    frameCountFrom: counted.from,
  };
}

/**
 * The frame count decord's VideoReader reports (its `len`, which places TSN's segment boundaries):
 * the stream's nb_frames; where the container keeps none (WebM, as SSv2 ships), avg_frame_rate × the
 * container's duration, truncated, in decord's order of double operations; the packets counted when
 * neither is known. A count past the frames that decode is caught when decoding (MissingFramesError).
 */
export function decordFrameCount(
  nbFrames: string | number | undefined,
  avgFrameRate: string | undefined,
  formatDuration: string | number | undefined,
  packets: number,
): { count: number; from: "nb_frames" | "duration" | "packets" } {
  const nb = Number(nbFrames);
  if (Number.isInteger(nb) && nb >= 1) return { count: nb, from: "nb_frames" };
  const [num, den] = (avgFrameRate ?? "0/0").split("/").map(Number);
  // ffprobe prints the duration in seconds with microsecond digits: AV_TIME_BASE units, exactly
  const durationUs = Math.round(Number(formatDuration) * 1e6);
  if (den > 0 && num > 0 && durationUs > 0) {
    const count = Math.trunc(num / den * durationUs / 1e6);
    if (count >= 1) return { count, from: "duration" };
  }
  return { count: packets, from: "packets" };
}

/** Container facts without decoding pixels. */
export async function openVideo(bytes: Uint8Array, fileName: string): Promise<VideoInfo> {
  if (bytes.length === 0) throw new VideoError(fileName, "empty file");
  const container = sniffContainer(bytes);
  if (container === "mp4") return mp4Probe(bytes, fileName).info;
  if (container === "unknown") {
    throw new VideoError(fileName, "unrecognised container (not MP4, AVI or WebM)");
  }
  return await probeWithFfmpeg(bytes, fileName, container);
}

function rawToFrames(raw: Uint8Array, w: number, h: number, n: number, file: string): Frame[] {
  const size = w * h * 3;
  if (raw.length < size * n) {
    throw new MissingFramesError(file, `decoded ${Math.floor(raw.length / size)} of ${n} wanted frames`);
  }
  // more bytes than n frames: the stream's frames are larger than the container says; slicing would be garbage
  if (raw.length > size * n) {
    throw new VideoError(file, `the decoded frames are larger than the ${w}x${h} the container declares`);
  }
  const out: Frame[] = [];
  for (let i = 0; i < n; i++) out.push({ width: w, height: h, data: raw.slice(i * size, (i + 1) * size) });
  return out;
}

/**
 * Which samples a decode of the presentation-order frames `unique` (ascending) needs, like decord's random
 * access but finer: for each wanted frame, the referenced samples from the last cut point before it in decode
 * order, then the frame itself; unreferenced frames nobody asked for are left out. `positions` are the wanted
 * frames' places among the kept ones in presentation order, which is the order ffmpeg outputs them in.
 */
function trimPlan(p: Mp4Probe, unique: number[]): { keep: number[]; positions: number[] } {
  const n = p.samples.length;
  const need = new Uint8Array(n);
  for (const f of unique) {
    const s = p.decodeIndex[f];
    if (need[s]) continue;
    need[s] = 1;
    let c = s;
    while (c > 0 && !p.cut[c]) c--;
    for (let d = s - 1; d >= c && !need[d]; d--) if (p.isRef[d]) need[d] = 1;
  }
  const keep: number[] = [];
  for (let d = 0; d < n; d++) if (need[d]) keep.push(d);
  const place = new Map<number, number>();
  let k = 0;
  for (let f = 0; f < n; f++) if (need[p.decodeIndex[f]]) place.set(f, k++);
  return { keep, positions: unique.map((f) => place.get(f)!) };
}

/** The video stream copied into an MP4 by ffmpeg, or undefined when ffmpeg cannot. */
async function remuxToMp4(bytes: Uint8Array, file: string): Promise<Uint8Array | undefined> {
  try {
    return await runFfmpeg(bytes, file, (i, o) => [
      "-nostdin",
      "-v",
      "error",
      "-i",
      i,
      "-map",
      "0:v:0",
      "-c",
      "copy",
      "-f",
      "mp4",
      o,
    ]);
  } catch (e) {
    if (e instanceof VideoError) return undefined;
    throw e;
  }
}

function mp4ProbeOrUndefined(bytes: Uint8Array, file: string): Mp4Probe | undefined {
  try {
    return mp4Probe(bytes, file);
  } catch (e) {
    if (e instanceof VideoError) return undefined;
    throw e;
  }
}

/** ffmpeg's decoder option refusing frames over the pixel cap (lib/video/limits.ts), as input options. */
function maxPixels(): string[] {
  return ["-max_pixels", String(capValue(FRAME_PIXELS))];
}

/** Frame-number select expression; ffmpeg evaluates it per decoded frame, so keep it a flat sum. */
function selectByNumber(wanted: number[]): string {
  return `select='${wanted.map((i) => `eq(n,${i})`).join("+")}'`;
}

/**
 * Decodes the frames at `indices` (presentation order, 0-based, any order, repeats allowed) and returns them in
 * the requested order; repeated indices share one Frame object. An MP4 decodes only the samples the wanted
 * frames depend on (see trimPlan); AVI and WebM decode from the start up to the last wanted frame.
 */
export async function decodeFrames(
  bytes: Uint8Array,
  fileName: string,
  indices: ArrayLike<number>,
  /** from openVideo on the same bytes, to skip probing twice */
  known?: VideoInfo,
  /** trim: false decodes an MP4 from its start too (the reference the benchmark compares against) */
  opts: { trim?: boolean } = {},
): Promise<Frame[]> {
  const info = known ?? await openVideo(bytes, fileName);
  const wanted = Array.from(indices);
  const n = info.frameCount;
  for (const i of wanted) {
    if (!Number.isInteger(i) || i < 0 || i >= n) {
      throw new VideoError(fileName, `frame index ${i} out of range 0..${n - 1}`);
    }
  }
  const unique = [...new Set(wanted)].sort((a, b) => a - b);
  if (unique.length === 0) return [];
  // ffmpeg applies the display matrix by default, so quarter turns swap the output's sides
  const quarter = info.rotation === 90 || info.rotation === 270;
  const w = quarter ? info.height : info.width;
  const h = quarter ? info.width : info.height;
  // refused before ffmpeg allocates anything; -max_pixels holds the decoder to the same cap whatever the
  // bitstream itself declares (it can disagree with the container)
  const big = frameTooLarge(w, h);
  if (big) throw new VideoError(fileName, `declares ${big}`);
  const tooMuch = decodeTooLarge(w, h, unique.length);
  if (tooMuch) throw new VideoError(fileName, tooMuch);
  const common = ["-nostdin", "-v", "error", "-fflags", "+discardcorrupt", ...maxPixels()];
  const tail = (o: string, filter: string) => [
    "-an",
    "-vf",
    filter,
    "-fps_mode",
    "passthrough",
    "-frames:v",
    String(unique.length),
    "-f",
    "rawvideo",
    "-pix_fmt",
    "rgb24",
    o,
  ];
  let frames: Frame[] | undefined;
  const trim = opts.trim ?? true;
  let source = bytes;
  let probe = info.container === "mp4" ? mp4Probe(bytes, fileName) : undefined;
  if (trim && info.container === "avi" && info.codec === "mpeg4" && unique[unique.length - 1] > 0) {
    // Xvid/DivX AVIs (UCF-101, HMDB-51) copied into an MP4 (a few ms, no decoding) can be trimmed like any MP4
    const remuxed = await remuxToMp4(bytes, fileName);
    const p = remuxed && mp4ProbeOrUndefined(remuxed, fileName);
    if (p && p.samples.length === n) source = remuxed!, probe = p;
  }
  if (probe?.trimmable && trim) {
    const { keep, positions } = trimPlan(probe, unique);
    const whole = keep.length === probe.samples.length;
    const input = whole ? source : writeTrimmedMp4(source, probe.header, probe.samples, keep);
    const raw = await runFfmpeg(
      input,
      fileName,
      (i, o) => [...common, "-i", i, ...tail(o, selectByNumber(positions))],
    );
    if (raw.length === w * h * 3 * unique.length) {
      frames = rawToFrames(raw, w, h, unique.length, fileName);
      decodeStats.trimmed++;
      decodeStats.samplesDecoded += keep.length;
    } else decodeStats.trimFallbacks++;
  }
  if (!frames) {
    decodeStats.fromStart++;
    // ffmpeg stops once the last wanted frame is out: every frame up to it was decoded
    decodeStats.samplesDecoded += unique[unique.length - 1] + 1;
    const raw = await runFfmpeg(
      bytes,
      fileName,
      (i, o) => [...common, "-i", i, ...tail(o, selectByNumber(unique))],
    );
    frames = rawToFrames(raw, w, h, unique.length, fileName);
  }
  const byIndex = new Map(unique.map((i, k) => [i, frames![k]]));
  return wanted.map((i) => byIndex.get(i)!);
}

/**
 * Runs the shared ffmpeg.wasm on one in-memory file and returns the output file; `args` receives the input and
 * output names inside ffmpeg's file system. Used to make High-profile / B-frame fixtures without native ffmpeg.
 */
export function ffmpegTransform(
  bytes: Uint8Array,
  fileName: string,
  args: (input: string, output: string) => string[],
): Promise<Uint8Array> {
  return runFfmpeg(bytes, fileName, args);
}

/** Thrown when the container lists frames that do not decode (a header that lies, a damaged tail). */
export class MissingFramesError extends VideoError {}

/**
 * How many frames actually decode: a full decode scaled to 2×2 gray pixels, for when the container's
 * count is wrong (decord would trust the header and fail or return garbage).
 */
export async function countDecodableFrames(bytes: Uint8Array, fileName: string): Promise<number> {
  const raw = await runFfmpeg(bytes, fileName, (i, o) => [
    "-nostdin",
    "-v",
    "error",
    "-fflags",
    "+discardcorrupt",
    ...maxPixels(),
    "-i",
    i,
    "-an",
    "-vf",
    "scale=2:2",
    "-fps_mode",
    "passthrough",
    "-f",
    "rawvideo",
    "-pix_fmt",
    "gray",
    o,
  ]);
  return Math.floor(raw.length / 4);
}

/** Every frame, in order: for tests and small clips only (the whole clip is held in memory). */
export async function decodeAll(bytes: Uint8Array, fileName: string): Promise<Frame[]> {
  const info = await openVideo(bytes, fileName);
  return decodeFrames(bytes, fileName, Array.from({ length: info.frameCount }, (_, i) => i), info);
}
