// The colour matrix and range an H.264 stream declares, read from its sequence parameter set (the avcC box
// of an MP4). ffmpeg converts with what the stream says (and BT.601, limited range, where it says
// nothing); a browser's VideoFrame.colorSpace is the browser's guess (Chromium reports BT.709 for a stream
// without colour information), so the page takes the stream's own word, as the server does.

/** RBSP bits of one NAL unit (emulation-prevention bytes removed), read MSB first. */
class Bits {
  private bit = 0;
  private readonly b: Uint8Array;

  constructor(nal: Uint8Array) {
    const out: number[] = [];
    let zeros = 0;
    for (const byte of nal) {
      // 00 00 03 → 00 00: the 03 only keeps start codes out of the payload
      if (zeros >= 2 && byte === 3) {
        zeros = 0;
        continue;
      }
      out.push(byte);
      zeros = byte === 0 ? zeros + 1 : 0;
    }
    this.b = Uint8Array.from(out);
  }

  u(n: number): number {
    let v = 0;
    for (let k = 0; k < n; k++) {
      const i = this.bit >> 3;
      if (i >= this.b.length) throw new Error("the SPS ends early");
      v = v * 2 + ((this.b[i] >> (7 - (this.bit & 7))) & 1);
      this.bit++;
    }
    return v;
  }

  ue(): number {
    let zeros = 0;
    while (this.u(1) === 0) {
      if (++zeros > 31) throw new Error("an exp-Golomb code longer than 32 bits");
    }
    return 2 ** zeros - 1 + this.u(zeros);
  }

  se(): number {
    const k = this.ue();
    return k % 2 ? (k + 1) / 2 : -k / 2;
  }
}

function skipScalingList(r: Bits, size: number): void {
  let last = 8, next = 8;
  for (let j = 0; j < size; j++) {
    if (next !== 0) next = (last + r.se() + 256) % 256;
    last = next === 0 ? last : next;
  }
}

/** What the SPS's VUI says about colour; matrix 2 ("unspecified") where it says nothing. */
export interface AvcColour {
  /** ITU-T H.273 matrix_coefficients (1 BT.709, 2 unspecified, 5 BT.470BG, 6 SMPTE 170M, 9 BT.2020 NCL, …) */
  matrix: number;
  fullRange: boolean;
}

/** Skips the SPS fields before the VUI (H.264 7.3.2.1.1); true when a VUI follows. */
function skipToVui(r: Bits): boolean {
  const profile = r.u(8);
  r.u(16); // constraint flags, level
  r.ue(); // seq_parameter_set_id
  if ([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135].includes(profile)) {
    const chroma = r.ue();
    if (chroma === 3) r.u(1);
    r.ue(); // bit depths
    r.ue();
    r.u(1);
    if (r.u(1)) {
      for (let i = 0; i < (chroma !== 3 ? 8 : 12); i++) if (r.u(1)) skipScalingList(r, i < 6 ? 16 : 64);
    }
  }
  r.ue(); // log2_max_frame_num
  const poc = r.ue();
  if (poc === 0) r.ue();
  else if (poc === 1) {
    r.u(1);
    r.se();
    r.se();
    const n = r.ue();
    for (let i = 0; i < n; i++) r.se();
  }
  r.ue(); // max_num_ref_frames
  r.u(1);
  r.ue(); // width, height in macroblocks
  r.ue();
  if (!r.u(1)) r.u(1); // frame_mbs_only, mb_adaptive_frame_field
  r.u(1);
  if (r.u(1)) { for (let i = 0; i < 4; i++) r.ue(); // cropping
   }
  return r.u(1) === 1;
}

/** The colour of the first SPS in an avcC payload (WebCodecs' `description`), or why it cannot be read. */
export function avcColour(avcC: Uint8Array): AvcColour | string {
  try {
    if (avcC.length < 8 || avcC[0] !== 1) return "not an avcC record";
    if ((avcC[5] & 0x1f) < 1) return "the avcC record has no SPS";
    const len = (avcC[6] << 8) | avcC[7];
    const nal = avcC.subarray(8, 8 + len);
    if (nal.length !== len || (nal[0] & 0x1f) !== 7) return "the avcC record's first parameter set is no SPS";
    const r = new Bits(nal.subarray(1));
    const none = { matrix: 2, fullRange: false };
    if (!skipToVui(r)) return none;
    if (r.u(1) && r.u(8) === 255) r.u(32); // aspect ratio (extended SAR)
    if (r.u(1)) r.u(1); // overscan
    if (!r.u(1)) return none; // no video signal type
    r.u(3); // video_format
    const fullRange = r.u(1) === 1;
    if (!r.u(1)) return { matrix: 2, fullRange };
    r.u(16); // colour primaries, transfer characteristics
    return { matrix: r.u(8), fullRange };
  } catch (e) {
    return `the SPS cannot be read (${e instanceof Error ? e.message : e})`;
  }
}
