// Sample-table counts checked against the bytes that back them, before mp4box reads the file. mp4box trusts
// every declared count: it builds one array slot per sample of a constant-size stsz and one object per sample
// when it lists them, and it reads a table's entries on past its box's end. A damaged 3 KB file whose stsz
// declares 200 million samples took 2.8 GB that way. Every count here must fit the box that holds its entries,
// and samples must fit the file that holds their data. Even samples that fit cost mp4box about 660 bytes
// each, so a track's sample count is capped too (VIFI_MAX_TRACK_SAMPLES, lib/video/limits.ts).

import { over, TRACK_SAMPLES } from "./limits.ts";

/** Boxes whose payload is more boxes, on the way to the sample tables of movies and of fragments. */
const CONTAINERS = new Set(["moov", "trak", "mdia", "minf", "stbl", "edts", "mvex", "moof", "traf"]);

/** Bytes per entry of the FullBox tables read as `version/flags, entry_count, entries` (elst by version). */
const TABLES: Record<string, (version: number) => number> = {
  stts: () => 8,
  ctts: () => 8,
  stsc: () => 12,
  stco: () => 4,
  co64: () => 8,
  stss: () => 4,
  stps: () => 4,
  elst: (v) => (v === 1 ? 20 : 12),
};

interface Walk {
  b: Uint8Array;
  dv: DataView;
  /** the default sample size of the fragment being walked (tfhd, else trex), for trun boxes without sizes */
  fragmentSampleSize: number;
  trexSampleSize: number;
  /** the track_id of the fragment being walked (tfhd) */
  fragmentTrack: number;
  /** samples declared so far per track: "trak N" for a movie's tracks, "fragments of N" for a track_id */
  samples: Map<string, number>;
  traks: number;
  maxSamples: number;
}

/**
 * Why the file's sample tables cannot be true ("stsz declares 201881164 samples of 1330493646 bytes …"), or
 * undefined when every count fits. Only counts are checked; what the entries say is left to the reader.
 */
export function mp4TableProblem(b: Uint8Array, maxSamples: number): string | undefined {
  const w: Walk = {
    b,
    dv: new DataView(b.buffer, b.byteOffset, b.byteLength),
    fragmentSampleSize: 0,
    trexSampleSize: 0,
    fragmentTrack: 0,
    samples: new Map(),
    traks: 0,
    maxSamples,
  };
  return walk(w, 0, b.length, 0);
}

/** Real files nest the sample tables five boxes deep; deeper nesting is not followed (and not recursed into). */
const MAX_DEPTH = 12;

function walk(w: Walk, start: number, end: number, depth: number): string | undefined {
  if (depth > MAX_DEPTH) return undefined;
  for (let at = start; at + 8 <= end;) {
    let size = w.dv.getUint32(at);
    const type = String.fromCharCode(...w.b.subarray(at + 4, at + 8));
    let header = 8;
    if (size === 1) {
      if (at + 16 > end) return undefined;
      size = Number(w.dv.getBigUint64(at + 8));
      header = 16;
    } else if (size === 0) size = end - at;
    if (size < header) return undefined; // the reader refuses the broken box itself
    // a box that claims more than its parent holds is read only as far as the parent's bytes go
    const boxEnd = Math.min(end, at + size);
    const problem = boxProblem(w, type, at + header, boxEnd, depth);
    if (problem) return problem;
    at += size;
  }
  return undefined;
}

function boxProblem(w: Walk, type: string, p: number, end: number, depth: number): string | undefined {
  if (CONTAINERS.has(type)) {
    if (type === "traf") w.fragmentSampleSize = w.trexSampleSize;
    if (type === "trak") w.traks++;
    return walk(w, p, end, depth + 1);
  }
  const room = end - p;
  const u32 = (o: number) => (p + o + 4 <= end ? w.dv.getUint32(p + o) : 0);
  if (Object.hasOwn(TABLES, type)) {
    const entry = TABLES[type](w.b[p]);
    return fits(type, u32(4), entry, room - 8);
  }
  if (type === "stsz") {
    const constant = u32(4), count = u32(8);
    const problem = constant === 0
      ? fits(type, count, 4, room - 12)
      : samplesFit(type, count, constant, w.b.length);
    return problem ?? tooMany(w, `trak ${w.traks}`, count);
  }
  if (type === "stz2") {
    const field = w.b[p + 7] ?? 0, count = u32(8);
    return fits(type, count, field / 8, room - 12) ?? tooMany(w, `trak ${w.traks}`, count);
  }
  if (type === "trex") w.trexSampleSize = u32(16);
  if (type === "tfhd" && (u32(0) & 0x10)) {
    // optional fields before default_sample_size: base data offset (8 bytes), sample description, duration
    const flags = u32(0);
    const o = 8 + (flags & 1 ? 8 : 0) + (flags & 2 ? 4 : 0) + (flags & 8 ? 4 : 0);
    w.fragmentSampleSize = u32(o);
  }
  if (type === "tfhd") w.fragmentTrack = u32(4);
  if (type === "trun") {
    const flags = u32(0), count = u32(4);
    const perSample = 4 * [0x100, 0x200, 0x400, 0x800].filter((f) => flags & f).length;
    const fixed = 8 + (flags & 1 ? 4 : 0) + (flags & 4 ? 4 : 0);
    const problem = perSample > 0
      ? fits(type, count, perSample, room - fixed)
      : samplesFit(type, count, w.fragmentSampleSize, w.b.length);
    return problem ?? tooMany(w, `fragments of track ${w.fragmentTrack}`, count);
  }
  return undefined;
}

/** A table of `count` entries of `entry` bytes must lie inside the `room` bytes its box has for them. */
function fits(type: string, count: number, entry: number, room: number): string | undefined {
  if (count * entry <= Math.max(0, room)) return undefined;
  return `corrupt MP4: its ${type} box declares ${count} entries (${count * entry} bytes) ` +
    `but holds ${Math.max(0, room)} bytes of them`;
}

/**
 * `count` samples of `size` bytes each must fit in the file holding their data; a size of 0 (not given) counts
 * as one byte, the least a sample can be.
 */
function samplesFit(type: string, count: number, size: number, fileBytes: number): string | undefined {
  if (count * Math.max(1, size) <= fileBytes) return undefined;
  return `corrupt MP4: its ${type} box declares ${count} samples of ${Math.max(1, size)} bytes, ` +
    `more than the file's ${fileBytes} bytes hold`;
}

/** Adds `count` samples to a track's total and refuses it over the cap. */
function tooMany(w: Walk, track: string, count: number): string | undefined {
  const total = (w.samples.get(track) ?? 0) + count;
  w.samples.set(track, total);
  if (total <= w.maxSamples) return undefined;
  return `its MP4 ${track} declares ${total} samples, ${over(TRACK_SAMPLES, w.maxSamples)}`;
}
