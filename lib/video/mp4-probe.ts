// MP4 probing: the container is read with mp4box so that frame count, key frames and timestamps come from the
// sample table (decord's `len(reader)` semantics), and the codec's own bitstream says which samples decoding
// may start at, which later samples reference and whether frames are reordered — what decode.ts needs to
// decode only the samples the wanted frames depend on (a trimmed copy, see trimPlan there).

import { createFile, MP4BoxBuffer } from "npm:mp4box@2.4.1";
import type { Movie, Sample, Track } from "npm:mp4box@2.4.1";
import { capValue, TRACK_SAMPLES } from "./limits.ts";
import { mp4TableProblem } from "./mp4-tables.ts";
import type { TrackHeader, TrackSample } from "./mp4-write.ts";
import { VideoError, type VideoInfo } from "./video-info.ts";

export interface Mp4Probe {
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

/** The probe of an MP4 in memory, computed once per byte array. */
export function mp4Probe(bytes: Uint8Array, file: string): Mp4Probe {
  let p = probeCache.get(bytes);
  if (!p) probeCache.set(bytes, p = probeMp4(bytes, file));
  return p;
}

/** mp4Probe, or undefined where the bytes are no MP4 it can read (a VideoError). */
export function mp4ProbeOrUndefined(bytes: Uint8Array, file: string): Mp4Probe | undefined {
  try {
    return mp4Probe(bytes, file);
  } catch (e) {
    if (e instanceof VideoError) return undefined;
    throw e;
  }
}

type Mp4File = ReturnType<typeof createFile>;

/** The movie as mp4box parses it from the whole file, once the sample tables were found to fit the file. */
function parseMovie(bytes: Uint8Array, file: string): { mp4: Mp4File; movie: Movie } {
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
  return { mp4, movie };
}

/** The first video track, refused unless its codec is one decoding here supports. */
function videoTrack(mp4: Mp4File, movie: Movie, file: string): Track {
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
  return track;
}

/** The track's samples in decode order, refused when there are none or their data runs past the file. */
function trackSamples(mp4: Mp4File, track: Track, bytes: Uint8Array, file: string): Sample[] {
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
  return samples;
}

/** What the bitstream says about each sample, in decode order (see Mp4Probe for cut and isRef). */
interface SampleKinds {
  /** key frames as seeking should treat them */
  sync: boolean[];
  cut: Uint8Array;
  isRef: Uint8Array;
  /** the stream may show frames in another order than it decodes them */
  hasB: boolean;
  /** MPEG-4 Part 2: the VOP types of each sample */
  vops?: string[][];
}

/** Reads each sample's slice or VOP headers where the codec is parsed (H.264, H.265, MPEG-4 Part 2). */
// deno-lint-ignore no-explicit-any
function sampleKinds(bytes: Uint8Array, codec: string, samples: Sample[], entry: any): SampleKinds {
  const sync = samples.map((s) => s.is_sync);
  const cut = Uint8Array.from(sync, Number);
  const isRef = new Uint8Array(samples.length).fill(1);
  let hasB = false;
  let vops: string[][] | undefined;
  if (/^avc[13]/.test(codec)) {
    const lenSize = (entry?.avcC?.lengthSizeMinusOne ?? 3) + 1;
    const kinds = samples.map((s) => avcSampleKind(bytes, s.offset, s.size, lenSize));
    kinds.forEach((k, i) => (cut[i] = Number(k.idr), isRef[i] = Number(k.ref)));
    // Some muxers (minimp4, used by h264-mp4-encoder) omit stss, which declares every sample a key frame;
    // seeking to a P frame would then decode garbage, so the key frames are the IDR slices instead.
    if (samples.length > 1 && sync.every(Boolean)) kinds.forEach((k, i) => (sync[i] = k.idr));
    if (!sync.some(Boolean)) sync[0] = true;
    hasB = kinds.some((k) => k.bSlice);
  } else if (/^(hvc1|hev1)/.test(codec)) {
    const lenSize = (entry?.hvcC?.lengthSizeMinusOne ?? 3) + 1;
    samples.forEach((s, i) => (cut[i] = Number(s.is_sync && hevcHasIdr(bytes, s.offset, s.size, lenSize))));
    hasB = true; // not parsed: assume it may reorder
  } else if (/^mp4v/.test(codec)) {
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
  return { sync, cut, isRef, hasB, vops };
}

/** The decode-order sample of each presentation-order frame, and whether that order is really unknown. */
function presentationOrder(
  samples: Sample[],
  kinds: SampleKinds,
): { order: number[]; reorderUnknown: boolean } {
  let order = samples.map((_, i) => i).sort((a, b) => samples[a].cts - samples[b].cts);
  // Trimming picks frames by their presentation order. A file that reorders frames but records no composition
  // offsets (an AVI with B-frames remuxed by ffmpeg, for one) has times that do not say the decoder's output
  // order. For MPEG-4 Part 2 with one VOP per sample the VOP types say it; anything else decodes whole, where
  // frame n is simply the decoder's n-th output.
  let reorderUnknown = kinds.hasB && samples.every((s) => s.cts === s.dts);
  const vops = kinds.vops;
  if (reorderUnknown && vops?.every((v) => v.length === 1)) {
    order = anchorDelayOrder(vops.map((v) => v[0]));
    reorderUnknown = false;
  }
  return { order, reorderUnknown };
}

/** The facts openVideo reports, from the track and its samples in presentation `order`. */
function mp4Info(track: Track, samples: Sample[], sync: boolean[], order: number[]): VideoInfo {
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
  };
}

/** Parses the container, then reads what the samples' bitstream says; every stage refuses with a VideoError. */
function probeMp4(bytes: Uint8Array, file: string): Mp4Probe {
  const { mp4, movie } = parseMovie(bytes, file);
  const track = videoTrack(mp4, movie, file);
  const samples = trackSamples(mp4, track, bytes, file);
  // deno-lint-ignore no-explicit-any
  const stbl = (mp4.getTrackById(track.id) as any)?.mdia?.minf?.stbl;
  const kinds = sampleKinds(bytes, track.codec, samples, stbl?.stsd?.entries?.[0]);
  const { order, reorderUnknown } = presentationOrder(samples, kinds);
  const info = mp4Info(track, samples, kinds.sync, order);
  return {
    header: {
      timescale: track.timescale,
      width: track.track_width,
      height: track.track_height,
      matrix: Array.from(track.matrix as ArrayLike<number>),
      stsd: bytes.subarray(stbl.stsd.start, stbl.stsd.start + stbl.stsd.size),
    },
    samples: samples.map((s, i) => ({
      offset: s.offset,
      size: s.size,
      dts: s.dts,
      cts: s.cts,
      duration: s.duration,
      isSync: kinds.sync[i],
    })),
    decodeIndex: Int32Array.from(order),
    cut: kinds.cut,
    isRef: kinds.isRef,
    trimmable: (stbl?.stsd?.entries?.length ?? 1) === 1 && !reorderUnknown,
    info,
  };
}
