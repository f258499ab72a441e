// Small H.264 MP4s that declare huge frames, for the size caps' tests: a 64×64 baseline-profile clip whose
// sequence parameter set is rewritten to say W×H (the decoder then allocates W×H frames), and optionally
// whose container (avc1 sample entry, tkhd) says so too. The slices stay 64×64 worth of data, so the file
// is a few KB — the shape of a decompression bomb.

import { encodeTestPattern } from "../../lib/video/test-pattern.ts";

class Bits {
  bit = 0;
  constructor(readonly b: Uint8Array) {}
  u(n: number): number {
    let v = 0;
    for (let k = 0; k < n; k++, this.bit++) v = v * 2 + ((this.b[this.bit >> 3] >> (7 - (this.bit & 7))) & 1);
    return v;
  }
  ue(): number {
    let zeros = 0;
    while (this.u(1) === 0) zeros++;
    return 2 ** zeros - 1 + this.u(zeros);
  }
  se(): number {
    const k = this.ue();
    return k % 2 ? (k + 1) / 2 : -k / 2;
  }
}

class Writer {
  out: number[] = [];
  u(n: number, v: number) {
    for (let k = n - 1; k >= 0; k--) this.out.push(Math.floor(v / 2 ** k) % 2);
  }
  ue(v: number) {
    const len = Math.floor(Math.log2(v + 1));
    this.u(len, 0);
    this.u(len + 1, v + 1);
  }
  se(v: number) {
    this.ue(v > 0 ? 2 * v - 1 : -2 * v);
  }
  bytes(): Uint8Array {
    while (this.out.length % 8) this.out.push(0);
    return Uint8Array.from({ length: this.out.length / 8 }, (_, i) => {
      let v = 0;
      for (let k = 0; k < 8; k++) v = v * 2 + this.out[i * 8 + k];
      return v;
    });
  }
}

function unescape(nal: Uint8Array): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < nal.length; i++) {
    if (i >= 2 && nal[i] === 3 && nal[i - 1] === 0 && nal[i - 2] === 0 && out.at(-1) === 0) continue;
    out.push(nal[i]);
  }
  return Uint8Array.from(out);
}

function escape(rbsp: Uint8Array): Uint8Array {
  const out: number[] = [];
  let zeros = 0;
  for (const b of rbsp) {
    if (zeros >= 2 && b <= 3) out.push(3), zeros = 0;
    out.push(b);
    zeros = b === 0 ? zeros + 1 : 0;
  }
  return Uint8Array.from(out);
}

/** A baseline/main-profile SPS NAL unit with pic_width/height_in_mbs rewritten for w×h (multiples of 16). */
export function rewriteSps(nal: Uint8Array, w: number, h: number): Uint8Array {
  const rbsp = unescape(nal);
  const r = new Bits(rbsp);
  const o = new Writer();
  const copy = (n: number) => o.u(n, r.u(n));
  copy(8); // NAL header
  const profile = r.u(8);
  if (profile !== 66 && profile !== 77) throw new Error(`SPS profile ${profile}: encode baseline or main`);
  o.u(8, profile);
  copy(16); // constraint flags, level
  o.ue(r.ue()); // seq_parameter_set_id
  o.ue(r.ue()); // log2_max_frame_num_minus4
  const poc = r.ue();
  o.ue(poc);
  if (poc === 0) o.ue(r.ue());
  else if (poc === 1) {
    copy(1);
    o.se(r.se());
    o.se(r.se());
    const n = r.ue();
    o.ue(n);
    for (let i = 0; i < n; i++) o.se(r.se());
  }
  o.ue(r.ue()); // max_num_ref_frames
  copy(1); // gaps_in_frame_num_allowed
  r.ue(), r.ue();
  o.ue(w / 16 - 1);
  o.ue(h / 16 - 1);
  // frame_mbs_only, cropping, VUI, up to and including the stop bit
  let last = rbsp.length * 8 - 1;
  while (((rbsp[last >> 3] >> (7 - (last & 7))) & 1) === 0) last--;
  while (r.bit <= last) copy(1);
  return escape(o.bytes());
}

const be32 = (b: Uint8Array, o: number) => new DataView(b.buffer, b.byteOffset).getUint32(o);
const type = (b: Uint8Array, o: number) => String.fromCharCode(...b.subarray(o + 4, o + 8));

/** Offsets of the boxes along `path` (each a child of the one before; the first at the top level). */
function boxPath(b: Uint8Array, path: string[]): number[] {
  // where children start inside a box: sample descriptions and visual sample entries have fields first
  const skip: Record<string, number> = { stsd: 16, avc1: 86 };
  const out: number[] = [];
  let start = 0, end = b.length;
  for (const want of path) {
    let o = start;
    while (o < end && type(b, o) !== want) o += be32(b, o);
    if (o >= end) throw new Error(`no ${want} box`);
    out.push(o);
    start = o + (skip[want] ?? 8);
    end = o + be32(b, o);
  }
  return out;
}

/** A 64×64 H.264 clip whose SPS declares w×h frames and, with `container`, whose tkhd and avc1 say so too. */
export async function hugeDimsMp4(w: number, h: number, container: boolean): Promise<Uint8Array> {
  const mp4 = await encodeTestPattern({
    width: 64,
    height: 64,
    rate: 4,
    seconds: 1,
    encode: ["-c:v", "libx264", "-profile:v", "baseline", "-pix_fmt", "yuv420p", "-g", "4"],
  });
  const path = ["moov", "trak", "mdia", "minf", "stbl", "stsd", "avc1", "avcC"];
  const at = boxPath(mp4, path);
  if (boxPath(mp4, ["mdat"])[0] > at[0]) {
    throw new Error("expected mdat before moov (chunk offsets stay put)");
  }
  const avcC = at[7];
  const spsLen = (mp4[avcC + 14] << 8) | mp4[avcC + 15];
  const sps = rewriteSps(mp4.subarray(avcC + 16, avcC + 16 + spsLen), w, h);
  const delta = sps.length - spsLen;
  const out = new Uint8Array(mp4.length + delta);
  out.set(mp4.subarray(0, avcC + 14));
  out[avcC + 14] = sps.length >> 8;
  out[avcC + 15] = sps.length & 0xff;
  out.set(sps, avcC + 16);
  out.set(mp4.subarray(avcC + 16 + spsLen), avcC + 16 + sps.length);
  const view = new DataView(out.buffer);
  for (const o of at) view.setUint32(o, be32(mp4, o) + delta);
  if (container) {
    view.setUint16(at[6] + 32, w);
    view.setUint16(at[6] + 34, h);
    const tkhd = boxPath(out, ["moov", "trak", "tkhd"])[2];
    const fields = out[tkhd + 8] === 1 ? tkhd + 96 : tkhd + 84;
    view.setUint32(fields, w * 65536);
    view.setUint32(fields + 4, h * 65536);
  }
  return out;
}
