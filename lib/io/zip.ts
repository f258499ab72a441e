// ZIP archives as PyTorch uses them: torch.save and torch.jit.save write every record uncompressed,
// with each record's data aligned to 64 bytes (so loaders can map tensors in place), and switch to
// zip64 fields once sizes or offsets pass 4 GiB. The reader also inflates deflated entries, because
// archives re-packed by ordinary zip tools arrive compressed.

import { type ByteSource, toSource } from "./byte-source.ts";
import { oneLine } from "./messages.ts";

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_EOCD64 = 0x06064b50;
const SIG_EOCD64_LOCATOR = 0x07064b50;
const U32_MAX = 0xffffffff;
const U16_MAX = 0xffff;

export interface ZipEntry {
  name: string;
  /** 0 = stored, 8 = deflate */
  method: number;
  crc32: number;
  compressedSize: number;
  size: number;
  /** offset of the local header */
  headerOffset: number;
  /** offset of the entry's (possibly compressed) bytes, resolved from the local header */
  dataOffset: number;
}

export interface ZipArchive {
  fileName: string;
  entries: ZipEntry[];
  byName: Map<string, ZipEntry>;
  /** An entry's bytes (without copying when the archive is in memory); only for stored entries (all of torch's). */
  read(name: string | ZipEntry): Uint8Array;
  /** An entry's bytes, inflating deflated entries (checked against their CRC). */
  readAsync(name: string | ZipEntry): Promise<Uint8Array>;
}

function u16(b: Uint8Array, o: number): number {
  return b[o] | (b[o + 1] << 8);
}

function u32(b: Uint8Array, o: number): number {
  return (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;
}

// Offsets stay exact up to 2^53 as plain numbers, far beyond any checkpoint.
function u64(b: Uint8Array, o: number, fail: (what: string) => never): number {
  const v = u32(b, o) + u32(b, o + 4) * 0x100000000;
  if (!Number.isSafeInteger(v)) fail(`64-bit zip field ${v} exceeds 2^53`);
  return v;
}

/** The smallest central directory record: signature through comment length, no name. */
const CENTRAL_MIN = 46;
/** The largest: a 46-byte record with a 64 KiB name, extra field and comment each. */
const CENTRAL_MAX = 46 + 3 * U16_MAX;

/** Throws `${fileName}: what`; every reader error names the file. */
type Fail = (what: string) => never;

/** Where the central directory lies and how many entries it holds, from the end record (or its zip64 twin). */
interface Directory {
  count: number;
  cdSize: number;
  cdOffset: number;
}

/**
 * Parse a ZIP archive's central directory. Entry bytes are not touched until read; given a
 * ByteSource, only the end records, the central directory and the local headers are read.
 */
export function readZip(input: Uint8Array | ByteSource, fileName: string): ZipArchive {
  const fail: Fail = (what) => {
    throw new Error(`${fileName}: ${oneLine(what)}`);
  };
  const src = toSource(input, fileName);
  const { count, cdSize, cdOffset } = findDirectory(src, fail);
  const cd = src.read(cdOffset, cdSize);
  const entries: ZipEntry[] = [];
  let p = 0;
  for (let i = 0; i < count; i++) {
    const { entry, next } = centralEntry(cd, p, `entry ${i} of ${count}`, cdOffset, fail);
    entry.dataOffset = localDataOffset(src, entry, fail);
    entries.push(entry);
    p = next;
  }
  return archiveOf(src, fileName, entries, fail);
}

/** The end-of-central-directory record, then the zip64 end record its locator points at, if any. */
function findDirectory(src: ByteSource, fail: Fail): Directory {
  const n = src.size;
  if (n < 22) fail(`truncated: central directory not found (file is only ${n} bytes)`);
  // The end record sits at the end, followed only by a comment of at most 65535 bytes; the zip64
  // locator sits just before it.
  const tailStart = Math.max(0, n - 22 - U16_MAX - 20);
  const tail = src.read(tailStart, n - tailStart);
  let eocd = -1;
  for (let o = tail.length - 22; o >= Math.max(0, tail.length - 22 - U16_MAX); o--) {
    if (u32(tail, o) === SIG_EOCD && o + 22 + u16(tail, o + 20) <= tail.length) {
      eocd = o;
      break;
    }
  }
  if (eocd < 0) {
    if (u32(src.read(0, 4), 0) === SIG_LOCAL) {
      fail("truncated: central directory not found (end record missing)");
    }
    fail("not a zip archive (no end-of-central-directory record)");
  }
  let count = u16(tail, eocd + 10);
  let cdSize = u32(tail, eocd + 12);
  let cdOffset = u32(tail, eocd + 16);
  const eocdAt = tailStart + eocd;
  const locator = eocd - 20;
  if (locator >= 0 && u32(tail, locator) === SIG_EOCD64_LOCATOR) {
    const rec = u64(tail, locator + 8, fail);
    const r = rec + 56 <= n ? src.read(rec, 56) : new Uint8Array(0);
    if (r.length < 56 || u32(r, 0) !== SIG_EOCD64) {
      fail(`truncated: zip64 end record expected at byte ${rec} is missing`);
    }
    count = u64(r, 32, fail);
    cdSize = u64(r, 40, fail);
    cdOffset = u64(r, 48, fail);
  } else if (count === U16_MAX || cdSize === U32_MAX || cdOffset === U32_MAX) {
    fail("zip64 archive without its zip64 end-record locator");
  }
  if (cdOffset + cdSize > eocdAt) {
    fail(
      `truncated: central directory (${cdSize} bytes at ${cdOffset}) overlaps the end record at ${eocdAt}`,
    );
  }
  // checked before reading it: a damaged size must not make us read the whole file
  if (count * CENTRAL_MIN > cdSize || cdSize > count * CENTRAL_MAX) {
    fail(`corrupt central directory: ${cdSize} bytes cannot hold ${count} entries`);
  }
  return { count, cdSize, cdOffset };
}

const utf8 = new TextDecoder();

/**
 * The central directory record at `p` (`which`: "entry i of n", for errors), with its zip64 sizes and
 * offset applied; `dataOffset` is left for the local header to tell. `next`: where the next record starts.
 */
function centralEntry(
  cd: Uint8Array,
  p: number,
  which: string,
  cdOffset: number,
  fail: Fail,
): { entry: ZipEntry; next: number } {
  if (p + 46 > cd.length || u32(cd, p) !== SIG_CENTRAL) {
    fail(`corrupt central directory: ${which} at byte ${cdOffset + p} has no header signature`);
  }
  const flags = u16(cd, p + 8);
  const method = u16(cd, p + 10);
  const nameLen = u16(cd, p + 28);
  const extraLen = u16(cd, p + 30);
  const commentLen = u16(cd, p + 32);
  if (p + 46 + nameLen + extraLen + commentLen > cd.length) {
    fail(`corrupt central directory: ${which} runs past its end`);
  }
  const name = utf8.decode(cd.subarray(p + 46, p + 46 + nameLen));
  const entry: ZipEntry = {
    name,
    method,
    crc32: u32(cd, p + 16),
    compressedSize: u32(cd, p + 20),
    size: u32(cd, p + 24),
    headerOffset: u32(cd, p + 42),
    dataOffset: 0,
  };
  const extraStart = p + 46 + nameLen;
  applyZip64Extra(cd, extraStart, extraStart + extraLen, entry, fail);
  if (flags & 1) fail(`entry ${name} is encrypted`);
  if (method !== 0 && method !== 8) {
    fail(`entry ${name} uses compression method ${method} (only stored and deflate)`);
  }
  return { entry, next: extraStart + extraLen + commentLen };
}

/** zip64 extra: the 64-bit values appear only for the fields whose 32-bit slot overflowed, in this order. */
function applyZip64Extra(cd: Uint8Array, e: number, extraEnd: number, entry: ZipEntry, fail: Fail): void {
  while (e + 4 <= extraEnd) {
    const id = u16(cd, e);
    const len = u16(cd, e + 2);
    if (id === 0x0001) {
      let q = e + 4;
      const take = () => {
        if (q + 8 > e + 4 + len) fail(`entry ${entry.name}: zip64 extra field is too short`);
        const v = u64(cd, q, fail);
        q += 8;
        return v;
      };
      if (entry.size === U32_MAX) entry.size = take();
      if (entry.compressedSize === U32_MAX) entry.compressedSize = take();
      if (entry.headerOffset === U32_MAX) entry.headerOffset = take();
    }
    e += 4 + len;
  }
}

/** Where an entry's bytes start: after its local header, whose name and extra lengths may differ from the directory's. */
function localDataOffset(src: ByteSource, entry: ZipEntry, fail: Fail): number {
  const { name, headerOffset, compressedSize } = entry;
  const n = src.size;
  const local = headerOffset + 30 <= n ? src.read(headerOffset, 30) : new Uint8Array(0);
  if (local.length < 30 || u32(local, 0) !== SIG_LOCAL) {
    fail(`truncated: local header of ${name} expected at byte ${headerOffset} is missing`);
  }
  const dataOffset = headerOffset + 30 + u16(local, 26) + u16(local, 28);
  if (dataOffset + compressedSize > n) {
    fail(`truncated: entry ${name} needs bytes up to ${dataOffset + compressedSize} but the file has ${n}`);
  }
  return dataOffset;
}

/** The archive over its parsed entries: stored ones read in place, deflated ones inflated and checked. */
function archiveOf(src: ByteSource, fileName: string, entries: ZipEntry[], fail: Fail): ZipArchive {
  const byName = new Map(entries.map((en) => [en.name, en]));
  const lookup = (ref: string | ZipEntry): ZipEntry => {
    if (typeof ref !== "string") return ref;
    const en = byName.get(ref);
    if (!en) fail(`missing entry ${ref}`);
    return en!;
  };
  const raw = (en: ZipEntry) => src.read(en.dataOffset, en.compressedSize);
  return {
    fileName,
    entries,
    byName,
    read(ref) {
      const en = lookup(ref);
      if (en.method !== 0) {
        fail(`entry ${en.name} is deflate-compressed; read it with readAsync (torch writes stored entries)`);
      }
      return raw(en);
    },
    async readAsync(ref) {
      const en = lookup(ref);
      if (en.method === 0) return raw(en);
      let out: Uint8Array;
      try {
        out = await inflateRaw(raw(en), en.size);
      } catch (e) {
        return fail(`entry ${en.name} does not inflate (${e instanceof Error ? e.message : e})`);
      }
      if (out.length !== en.size) {
        const got = out.length > en.size ? `more than ${en.size}` : `${out.length}`;
        fail(`entry ${en.name} inflated to ${got} bytes, expected ${en.size}`);
      }
      if (crc32(out) !== en.crc32) fail(`entry ${en.name} fails its CRC-32 check`);
      return out;
    },
  };
}

/** Inflates at most `limit` bytes (the size the directory declares): a deflate bomb stops there. */
async function inflateRaw(data: Uint8Array, limit: number): Promise<Uint8Array> {
  const stream = new Blob([data as Uint8Array<ArrayBuffer>]).stream().pipeThrough(
    new DecompressionStream("deflate-raw"),
  );
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > limit) {
      await reader.cancel();
      break;
    }
    chunks.push(value);
  }
  const out = new Uint8Array(Math.min(total, limit + 1));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

let crcTable: Uint32Array | undefined;

/** CRC-32 (IEEE), as stored in zip headers. */
export function crc32(data: Uint8Array, crc = 0): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256 * 4);
    for (let i = 0; i < 256; i++) {
      let c = i;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[i] = c;
    }
    // Slicing-by-4 tables: a 500 MB checkpoint is checksummed in about a second instead of four.
    for (let i = 0; i < 256; i++) {
      for (let t = 1; t < 4; t++) {
        const prev = crcTable[(t - 1) * 256 + i];
        crcTable[t * 256 + i] = crcTable[prev & 0xff] ^ (prev >>> 8);
      }
    }
  }
  const T = crcTable;
  let c = ~crc >>> 0;
  let i = 0;
  const n4 = data.length & ~3;
  for (; i < n4; i += 4) {
    c ^= data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24);
    c = T[768 + (c & 0xff)] ^ T[512 + ((c >>> 8) & 0xff)] ^ T[256 + ((c >>> 16) & 0xff)] ^ T[c >>> 24];
  }
  for (; i < data.length; i++) c = T[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

export interface ZipWriteOptions {
  /** data alignment in bytes; torch uses 64 */
  align?: number;
  /** write zip64 fields even for small archives (lets tests exercise them without 4 GiB files) */
  forceZip64?: boolean;
}

/** One entry laid out: where its local header goes, and the extra fields of both its headers. */
interface PlannedEntry {
  name: Uint8Array;
  data: Uint8Array;
  crc: number;
  /** offset of the local header */
  offset: number;
  /** sizes in zip64 fields (data of 4 GiB or more, or forced) */
  big: boolean;
  /** offset in a zip64 field (a header at or past 4 GiB, or forced) */
  off64: boolean;
  localExtra: Uint8Array;
  centralExtra: Uint8Array;
}

/**
 * A ZIP of stored entries whose data starts on `align`-byte boundaries, padded the way torch pads: an
 * extra field with id "FB" filled with "Z" in each local header (never in the central directory).
 */
export function writeZip(
  files: Iterable<[string, Uint8Array]>,
  opts: ZipWriteOptions = {},
): Uint8Array {
  const align = opts.align ?? 64;
  const force = opts.forceZip64 ?? false;
  const encoder = new TextEncoder();
  const planned: PlannedEntry[] = [];
  let offset = 0;
  for (const [nameStr, data] of files) {
    const f = planEntry(encoder.encode(nameStr), data, offset, align, force);
    planned.push(f);
    offset += 30 + f.name.length + f.localExtra.length + data.length;
  }
  const cdOffset = offset;
  const cdSize = planned.reduce((s, f) => s + 46 + f.name.length + f.centralExtra.length, 0);
  const zip64 = force || cdOffset + cdSize >= U32_MAX || planned.length >= U16_MAX;
  const total = cdOffset + cdSize + (zip64 ? 56 + 20 : 0) + 22;
  const out = new Uint8Array(total);
  const v = new DataView(out.buffer);
  for (const f of planned) writeLocalEntry(out, v, f);
  let p = cdOffset;
  for (const f of planned) p = writeCentralRecord(out, v, p, f);
  if (zip64) p = writeZip64End(v, p, planned.length, cdSize, cdOffset);
  v.setUint32(p, SIG_EOCD, true);
  // With a zip64 end record the classic fields hold the "see zip64" markers.
  v.setUint16(p + 8, zip64 ? U16_MAX : planned.length, true);
  v.setUint16(p + 10, zip64 ? U16_MAX : planned.length, true);
  v.setUint32(p + 12, zip64 ? U32_MAX : cdSize, true);
  v.setUint32(p + 16, zip64 ? U32_MAX : cdOffset, true);
  return out;
}

/** An entry's local extra (zip64 sizes, then the "FB" padding up to `align`) and central extra (zip64). */
function planEntry(
  name: Uint8Array,
  data: Uint8Array,
  offset: number,
  align: number,
  force: boolean,
): PlannedEntry {
  const big = force || data.length >= U32_MAX;
  // A zip64 extra in the local header carries both sizes; it must precede the padding so the
  // padding computation sees its length.
  const zip64Local = big ? 20 : 0;
  const start = offset + 30 + name.length + zip64Local + 4;
  const pad = (align - (start % align)) % align;
  const localExtra = new Uint8Array(zip64Local + 4 + pad);
  const lv = new DataView(localExtra.buffer);
  if (big) {
    lv.setUint16(0, 0x0001, true);
    lv.setUint16(2, 16, true);
    lv.setBigUint64(4, BigInt(data.length), true);
    lv.setBigUint64(12, BigInt(data.length), true);
  }
  lv.setUint16(zip64Local, 0x4246, true); // "FB"
  lv.setUint16(zip64Local + 2, pad, true);
  localExtra.fill(0x5a, zip64Local + 4); // "Z"
  const off64 = force || offset >= U32_MAX;
  const c64 = (big ? 16 : 0) + (off64 ? 8 : 0);
  const centralExtra = new Uint8Array(c64 ? 4 + c64 : 0);
  if (c64) {
    const cv = new DataView(centralExtra.buffer);
    cv.setUint16(0, 0x0001, true);
    cv.setUint16(2, c64, true);
    let q = 4;
    if (big) {
      cv.setBigUint64(q, BigInt(data.length), true);
      cv.setBigUint64(q + 8, BigInt(data.length), true);
      q += 16;
    }
    if (off64) cv.setBigUint64(q, BigInt(offset), true);
  }
  return { name, data, crc: crc32(data), offset, big, off64, localExtra, centralExtra };
}

/** The local header, its name and extra, then the entry's data. */
function writeLocalEntry(out: Uint8Array, v: DataView, f: PlannedEntry): void {
  const o = f.offset;
  v.setUint32(o, SIG_LOCAL, true);
  v.setUint16(o + 4, f.big ? 45 : 20, true);
  v.setUint16(o + 6, 0x0800, true); // names are UTF-8
  v.setUint16(o + 8, 0, true);
  v.setUint16(o + 10, 0, true);
  v.setUint16(o + 12, 0x21, true); // 1980-01-01: deterministic output
  v.setUint32(o + 14, f.crc, true);
  v.setUint32(o + 18, f.big ? U32_MAX : f.data.length, true);
  v.setUint32(o + 22, f.big ? U32_MAX : f.data.length, true);
  v.setUint16(o + 26, f.name.length, true);
  v.setUint16(o + 28, f.localExtra.length, true);
  out.set(f.name, o + 30);
  out.set(f.localExtra, o + 30 + f.name.length);
  out.set(f.data, o + 30 + f.name.length + f.localExtra.length);
}

/** The entry's central directory record at `p`; returns where the next one starts. */
function writeCentralRecord(out: Uint8Array, v: DataView, p: number, f: PlannedEntry): number {
  v.setUint32(p, SIG_CENTRAL, true);
  v.setUint16(p + 4, f.centralExtra.length ? 45 : 20, true);
  v.setUint16(p + 6, f.centralExtra.length ? 45 : 20, true);
  v.setUint16(p + 8, 0x0800, true);
  v.setUint16(p + 10, 0, true);
  v.setUint16(p + 12, 0, true);
  v.setUint16(p + 14, 0x21, true);
  v.setUint32(p + 16, f.crc, true);
  v.setUint32(p + 20, f.big ? U32_MAX : f.data.length, true);
  v.setUint32(p + 24, f.big ? U32_MAX : f.data.length, true);
  v.setUint16(p + 28, f.name.length, true);
  v.setUint16(p + 30, f.centralExtra.length, true);
  v.setUint16(p + 32, 0, true);
  v.setUint16(p + 34, 0, true);
  v.setUint16(p + 36, 0, true);
  v.setUint32(p + 38, 0, true);
  v.setUint32(p + 42, f.off64 ? U32_MAX : f.offset, true);
  out.set(f.name, p + 46);
  out.set(f.centralExtra, p + 46 + f.name.length);
  return p + 46 + f.name.length + f.centralExtra.length;
}

/** The zip64 end record and its locator at `p`; returns where the classic end record goes. */
function writeZip64End(v: DataView, p: number, count: number, cdSize: number, cdOffset: number): number {
  const rec = p;
  v.setUint32(p, SIG_EOCD64, true);
  v.setBigUint64(p + 4, 44n, true);
  v.setUint16(p + 12, 45, true);
  v.setUint16(p + 14, 45, true);
  v.setUint32(p + 16, 0, true);
  v.setUint32(p + 20, 0, true);
  v.setBigUint64(p + 24, BigInt(count), true);
  v.setBigUint64(p + 32, BigInt(count), true);
  v.setBigUint64(p + 40, BigInt(cdSize), true);
  v.setBigUint64(p + 48, BigInt(cdOffset), true);
  p += 56;
  v.setUint32(p, SIG_EOCD64_LOCATOR, true);
  v.setUint32(p + 4, 0, true);
  v.setBigUint64(p + 8, BigInt(rec), true);
  v.setUint32(p + 16, 1, true);
  return p + 20;
}
