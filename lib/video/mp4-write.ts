// A minimal single-track MP4 writer for handing ffmpeg only the samples a decode needs. The sample entry
// (stsd, with avcC/hvcC and everything else the decoder reads) is copied byte for byte from the source, and
// every kept sample keeps its own decode and presentation time, so ffmpeg decodes and orders the kept
// frames exactly as it would inside the original file.

export interface TrackSample {
  offset: number;
  size: number;
  dts: number;
  cts: number;
  duration: number;
  isSync: boolean;
}

export interface TrackHeader {
  timescale: number;
  width: number;
  height: number;
  /** the 9 tkhd matrix entries as stored (16.16 and 2.30 fixed point), so rotation survives */
  matrix: ArrayLike<number>;
  /** the source's whole stsd box */
  stsd: Uint8Array;
}

class Writer {
  private parts: Uint8Array[] = [];
  length = 0;
  bytes(b: Uint8Array): this {
    this.parts.push(b);
    this.length += b.length;
    return this;
  }
  // Big-endian integers; the array forms take sample tables, which can be too long to spread as arguments.
  u32(...vs: number[]): this {
    return this.u32s(vs);
  }
  u32s(vs: ArrayLike<number>): this {
    return this.ints(4, vs, (dv, o, v) => dv.setUint32(o, v >>> 0));
  }
  i32s(vs: ArrayLike<number>): this {
    return this.ints(4, vs, (dv, o, v) => dv.setInt32(o, v | 0));
  }
  u16(...vs: number[]): this {
    return this.ints(2, vs, (dv, o, v) => dv.setUint16(o, v));
  }
  private ints(
    width: number,
    vs: ArrayLike<number>,
    set: (dv: DataView, o: number, v: number) => void,
  ): this {
    const b = new Uint8Array(width * vs.length);
    const dv = new DataView(b.buffer);
    for (let i = 0; i < vs.length; i++) set(dv, width * i, vs[i]);
    return this.bytes(b);
  }
  zeros(n: number): this {
    return this.bytes(new Uint8Array(n));
  }
  concat(): Uint8Array {
    const out = new Uint8Array(this.length);
    let o = 0;
    for (const p of this.parts) out.set(p, o), o += p.length;
    return out;
  }
}

function box(type: string, ...children: Uint8Array[]): Uint8Array {
  const w = new Writer();
  const size = 8 + children.reduce((a, c) => a + c.length, 0);
  w.u32(size).bytes(new TextEncoder().encode(type));
  for (const c of children) w.bytes(c);
  return w.concat();
}

function fullBox(type: string, version: number, flags: number, body: Writer): Uint8Array {
  return box(type, new Writer().u32(((version & 255) << 24) | (flags & 0xffffff)).concat(), body.concat());
}

const IDENTITY = [0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000];

function runLength(values: number[]): [number, number][] {
  const runs: [number, number][] = [];
  for (const v of values) {
    const last = runs[runs.length - 1];
    if (last && last[1] === v) last[0]++;
    else runs.push([1, v]);
  }
  return runs;
}

/** An MP4 holding `keep` (decode-order indices into `samples`, ascending) of the source's video samples. */
export function writeTrimmedMp4(
  source: Uint8Array,
  header: TrackHeader,
  samples: TrackSample[],
  keep: number[],
): Uint8Array {
  const kept = keep.map((i) => samples[i]);
  if (kept.length === 0) throw new Error("writeTrimmedMp4: no samples to keep");
  for (let i = 1; i < keep.length; i++) {
    if (keep[i] <= keep[i - 1]) throw new Error("writeTrimmedMp4: sample indices must ascend");
  }
  const dts0 = kept[0].dts;
  // A kept sample lasts until the next kept one starts, so decode times stay those of the source.
  const durations = kept.map((s, i) => (i + 1 < kept.length ? kept[i + 1].dts - s.dts : s.duration));
  const duration = kept[kept.length - 1].dts - dts0 + durations[durations.length - 1];
  const dataSize = kept.reduce((a, s) => a + s.size, 0);

  const stts = runLength(durations);
  const ctts = runLength(kept.map((s) => s.cts - s.dts));
  const sync = kept.map((s, i) => (s.isSync ? i + 1 : 0)).filter((i) => i > 0);
  const ftyp = box(
    "ftyp",
    new TextEncoder().encode("isom"),
    new Writer().u32(512).concat(),
    new TextEncoder().encode("isomiso2mp41"),
  );
  // mdat before moov, so the one chunk's offset is known when the sample table is written
  const mdatStart = ftyp.length + 8;
  const stbl = box(
    "stbl",
    header.stsd,
    fullBox("stts", 0, 0, new Writer().u32(stts.length).u32s(stts.flat())),
    // version 1: signed offsets, which a source with negative composition offsets needs
    fullBox("ctts", 1, 0, new Writer().u32(ctts.length).i32s(ctts.flat())),
    fullBox("stss", 0, 0, new Writer().u32(sync.length).u32s(sync)),
    fullBox("stsz", 0, 0, new Writer().u32(0, kept.length).u32s(kept.map((s) => s.size))),
    fullBox("stsc", 0, 0, new Writer().u32(1, 1, kept.length, 1)),
    fullBox("stco", 0, 0, new Writer().u32(1, mdatStart)),
  );
  const moov = box(
    "moov",
    fullBox(
      "mvhd",
      0,
      0,
      // identity: ffmpeg composes the movie matrix with the track's, and the rotation is the track's
      new Writer().u32(0, 0, header.timescale, duration, 0x00010000).u16(0x0100).zeros(10)
        .i32s(IDENTITY).zeros(24).u32(2),
    ),
    box(
      "trak",
      fullBox(
        "tkhd",
        0,
        3,
        new Writer().u32(0, 0, 1, 0, duration).zeros(8).u16(0, 0, 0, 0).i32s(header.matrix)
          .u32(header.width * 65536, header.height * 65536),
      ),
      box(
        "mdia",
        fullBox("mdhd", 0, 0, new Writer().u32(0, 0, header.timescale, duration).u16(0x55c4, 0)),
        fullBox(
          "hdlr",
          0,
          0,
          new Writer().u32(0).bytes(new TextEncoder().encode("vide")).zeros(12)
            .bytes(new TextEncoder().encode("vifi\0")),
        ),
        box(
          "minf",
          fullBox("vmhd", 0, 1, new Writer().u16(0, 0, 0, 0)),
          box(
            "dinf",
            fullBox("dref", 0, 0, new Writer().u32(1).bytes(fullBox("url ", 0, 1, new Writer()))),
          ),
          stbl,
        ),
      ),
    ),
  );
  const out = new Uint8Array(mdatStart + dataSize + moov.length);
  out.set(ftyp, 0);
  new DataView(out.buffer).setUint32(ftyp.length, 8 + dataSize);
  out.set(new TextEncoder().encode("mdat"), ftyp.length + 4);
  out.set(moov, mdatStart + dataSize);
  let o = mdatStart;
  for (const s of kept) out.set(source.subarray(s.offset, s.offset + s.size), o), o += s.size;
  return out;
}
