// safetensors (Hugging Face's tensor container): an 8-byte little-endian header length, a JSON header
// naming every tensor's dtype, shape and byte range, then the raw little-endian data. Unlike a torch
// pickle, reading one cannot run code, which is why vifi writes its own checkpoints in it.

import { type ByteSource, memorySource } from "./byte-source.ts";

export type SafetensorsDtype = "F32" | "F16" | "BF16" | "F64" | "I64" | "I32" | "U8" | "BOOL";
export type WritableDtype = "F32" | "F16" | "I64" | "I32";

export interface SafetensorsTensor {
  dtype: SafetensorsDtype;
  shape: number[];
  /** F32/F16/BF16/F64 widen (or, for F64, round) to Float32Array; I64 → BigInt64Array; I32; U8/BOOL bytes */
  data: Float32Array | BigInt64Array | Int32Array | Uint8Array;
}

export interface WritableTensor {
  dtype: WritableDtype;
  shape: number[];
  data: Float32Array | BigInt64Array | Int32Array;
}

/** The reference implementation refuses larger headers; so do we, before allocating anything for it. */
const MAX_HEADER_BYTES = 100_000_000;

const ELEMENT_BYTES: Record<SafetensorsDtype, number> = {
  F32: 4,
  F16: 2,
  BF16: 2,
  F64: 8,
  I64: 8,
  I32: 4,
  U8: 1,
  BOOL: 1,
};

/** Dtypes the format defines that vifi has no use for: named in the error so a user knows it is not corruption. */
const KNOWN_UNSUPPORTED = new Set(["I8", "I16", "U16", "U32", "U64", "F8_E5M2", "F8_E4M3", "F8_E8M0", "F4"]);

/**
 * The reference writer's dtype order (its enum order, lowest alignment first). It writes tensors in
 * descending order of this rank, then by name, so every tensor starts aligned to its element size.
 */
const DTYPE_RANK: Record<string, number> = {
  BOOL: 0,
  U8: 1,
  I8: 2,
  F8_E5M2: 3,
  F8_E4M3: 4,
  I16: 5,
  U16: 6,
  F16: 7,
  BF16: 8,
  I32: 9,
  U32: 10,
  F32: 11,
  F64: 12,
  I64: 13,
  U64: 14,
};

let halfTable: Float32Array | undefined;

/** Every binary16 value as float32 (exact: binary32 holds all of them), built once on first use. */
function halfToFloatTable(): Float32Array {
  if (halfTable) return halfTable;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    if (exp === 0) t[h] = sign * frac * 2 ** -24;
    else if (exp === 31) t[h] = frac ? NaN : sign * Infinity;
    else t[h] = sign * (1 + frac / 1024) * 2 ** (exp - 15);
  }
  halfTable = t;
  return t;
}

/** binary16 bits → float32 values. */
export function halfBitsToFloat32(bits: Uint16Array): Float32Array {
  const t = halfToFloatTable();
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = t[bits[i]];
  return out;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float32 → binary16 bits, rounding to nearest with ties to even (as a float→half cast does). */
export function float32ToHalfBits(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    f32[0] = values[i];
    const x = u32[0];
    const sign = (x >>> 16) & 0x8000;
    const exp = (x >>> 23) & 0xff;
    let mant = x & 0x7fffff;
    if (exp === 0xff) {
      // keep NaN a NaN even when its payload lives only in the low bits
      out[i] = sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0);
      continue;
    }
    const e = exp - 127 + 15;
    if (e >= 31) {
      out[i] = sign | 0x7c00;
      continue;
    }
    if (e <= 0) {
      if (e < -10) {
        out[i] = sign; // below half the smallest subnormal: rounds to zero
        continue;
      }
      mant |= 0x800000;
      const shift = 14 - e;
      let h = mant >>> shift;
      const rem = mant & ((1 << shift) - 1);
      const halfway = 1 << (shift - 1);
      if (rem > halfway || (rem === halfway && (h & 1))) h++;
      out[i] = sign | h;
      continue;
    }
    let h = (e << 10) | (mant >>> 13);
    const rem = mant & 0x1fff;
    // a carry out of the mantissa correctly bumps the exponent (up to infinity)
    if (rem > 0x1000 || (rem === 0x1000 && (h & 1))) h++;
    out[i] = sign | h;
  }
  return out;
}

function elementCount(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

interface HeaderEntry {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  begin: number;
  end: number;
}

/** Parse a safetensors file. Errors name `fileName` and, where one is at fault, the tensor. */
export function readSafetensors(
  bytes: Uint8Array,
  fileName: string,
): { tensors: Map<string, SafetensorsTensor>; metadata: Record<string, string> } {
  const { entries, metadata, dataStart } = readHeader(memorySource(bytes, fileName), fileName);
  const tensors = new Map<string, SafetensorsTensor>();
  for (const e of entries) {
    // slice, not subarray: the copy is aligned for typed-array views and does not pin the whole file
    const raw = bytes.slice(dataStart + e.begin, dataStart + e.end);
    tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data: decode(e.dtype, raw) });
  }
  return { tensors, metadata };
}

/**
 * The same from a random-access source, reading only the header: each tensor's bytes are read and
 * decoded when its `data` is first used (`weights inspect` never does).
 */
export function readSafetensorsSource(
  src: ByteSource,
  fileName: string,
): { tensors: Map<string, SafetensorsTensor>; metadata: Record<string, string> } {
  const { entries, metadata, dataStart } = readHeader(src, fileName);
  const tensors = new Map<string, SafetensorsTensor>();
  for (const e of entries) {
    let data: SafetensorsTensor["data"] | undefined;
    tensors.set(e.name, {
      dtype: e.dtype,
      shape: e.shape,
      get data() {
        // a copy either way: aligned for typed-array views
        return data ??= decode(e.dtype, src.read(dataStart + e.begin, e.end - e.begin).slice());
      },
      set data(d) {
        data = d;
      },
    });
  }
  return { tensors, metadata };
}

/** The JSON header, checked against the file's length; no tensor data is read. */
function readHeader(
  src: ByteSource,
  fileName: string,
): { entries: HeaderEntry[]; metadata: Record<string, string>; dataStart: number } {
  const fail = (what: string): never => {
    throw new Error(`vifi: ${fileName}: not a valid safetensors file: ${what}`);
  };
  const size = src.size;
  if (size < 8) fail(`${size} bytes is shorter than the 8-byte header length`);
  const lenBytes = src.read(0, 8);
  const headerLen = new DataView(lenBytes.buffer, lenBytes.byteOffset, 8).getBigUint64(0, true);
  if (headerLen > BigInt(MAX_HEADER_BYTES)) {
    fail(`header length ${headerLen} exceeds ${MAX_HEADER_BYTES} bytes`);
  }
  const n = Number(headerLen);
  if (8 + n > size) {
    fail(`header length ${n} runs past the end of the ${size}-byte file (truncated?)`);
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(src.read(8, n));
  } catch {
    return fail("the header is not UTF-8");
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    return fail(`the header is not JSON (${oneLine(e instanceof Error ? e.message : String(e))})`);
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) {
    fail("the header is not a JSON object");
  }
  const dataStart = 8 + n;
  const dataLen = size - dataStart;
  const metadata: Record<string, string> = {};
  const entries: HeaderEntry[] = [];
  for (const [name, info] of Object.entries(header as Record<string, unknown>)) {
    if (name === "__metadata__") {
      if (typeof info !== "object" || info === null || Array.isArray(info)) {
        fail("__metadata__ is not an object");
      }
      for (const [k, v] of Object.entries(info as Record<string, unknown>)) {
        if (typeof v !== "string") fail(`__metadata__.${brief(k)} is not a string`);
        metadata[k] = v as string;
      }
      continue;
    }
    const bad = (what: string): never => fail(`tensor ${JSON.stringify(name)}: ${what}`);
    if (typeof info !== "object" || info === null) bad("its entry is not an object");
    const { dtype, shape, data_offsets: offsets } = info as Record<string, unknown>;
    if (typeof dtype !== "string") return bad("no dtype");
    if (!Object.hasOwn(ELEMENT_BYTES, dtype)) {
      bad(
        KNOWN_UNSUPPORTED.has(dtype)
          ? `dtype ${dtype} is not supported by vifi`
          : `unknown dtype ${/^[\x20-\x7e]{1,40}$/.test(dtype) ? dtype : brief(dtype)}`,
      );
    }
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      bad(`shape ${brief(shape)} is not a list of non-negative integers`);
    }
    if (
      !Array.isArray(offsets) || offsets.length !== 2 ||
      !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)
    ) {
      bad(`data_offsets ${brief(offsets)} is not a pair of non-negative integers`);
    }
    const [begin, end] = offsets as number[];
    if (end < begin) bad(`data_offsets [${begin}, ${end}] end before they begin`);
    if (end > dataLen) {
      bad(`data_offsets [${begin}, ${end}] run past the ${dataLen} data bytes (truncated file?)`);
    }
    const dims = shape as number[];
    const want = elementCount(dims) * ELEMENT_BYTES[dtype as SafetensorsDtype];
    if (end - begin !== want) {
      bad(`${end - begin} bytes for ${dtype}${JSON.stringify(dims)}, which needs ${want}`);
    }
    entries.push({ name, dtype: dtype as SafetensorsDtype, shape: dims, begin, end });
  }
  const byOffset = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  for (let i = 1; i < byOffset.length; i++) {
    const prev = byOffset[i - 1], cur = byOffset[i];
    if (cur.begin < prev.end) {
      fail(
        `tensors ${JSON.stringify(prev.name)} [${prev.begin}, ${prev.end}] and ${
          JSON.stringify(cur.name)
        } [${cur.begin}, ${cur.end}] overlap`,
      );
    }
  }
  return { entries, metadata, dataStart };
}

/** JSON.stringify for error messages: one line, at most `max` characters. */
function brief(v: unknown, max = 80): string {
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = String(v);
  }
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, " ");
}

function decode(dtype: SafetensorsDtype, raw: Uint8Array): SafetensorsTensor["data"] {
  const buf = raw.buffer as ArrayBuffer;
  switch (dtype) {
    case "F32":
      return new Float32Array(buf);
    case "F16":
      return halfBitsToFloat32(new Uint16Array(buf));
    case "BF16": {
      // bfloat16 is the top half of a float32, so widening is a shift
      const src = new Uint16Array(buf);
      const out = new Float32Array(src.length);
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < src.length; i++) bits[i] = src[i] << 16;
      return out;
    }
    case "F64":
      return Float32Array.from(new Float64Array(buf));
    case "I64":
      return new BigInt64Array(buf);
    case "I32":
      return new Int32Array(buf);
    case "U8":
    case "BOOL":
      return raw;
  }
}

function utf8Compare(a: string, b: string): number {
  const enc = new TextEncoder();
  const x = enc.encode(a), y = enc.encode(b);
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
}

/**
 * Serialise tensors the way the reference writer does, byte for byte: tensors ordered by descending
 * dtype alignment then name, `__metadata__` first in the compact JSON header, the header padded
 * with spaces to a multiple of 8 bytes. F16 tensors are given as Float32Array and rounded to half.
 */
export function writeSafetensors(
  tensors: Map<string, WritableTensor>,
  metadata?: Record<string, string>,
): Uint8Array {
  const names = [...tensors.keys()].sort((a, b) =>
    DTYPE_RANK[tensors.get(b)!.dtype] - DTYPE_RANK[tensors.get(a)!.dtype] || utf8Compare(a, b)
  );
  const header: Record<string, unknown> = {};
  if (metadata) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== "string") throw new Error(`vifi: safetensors metadata ${k} must be a string`);
    }
    header.__metadata__ = metadata;
  }
  const payloads: Uint8Array[] = [];
  let offset = 0;
  for (const name of names) {
    if (name === "__metadata__") throw new Error("vifi: a tensor cannot be called __metadata__");
    const t = tensors.get(name)!;
    const bytes = encode(name, t);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes.length] };
    offset += bytes.length;
    payloads.push(bytes);
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = json.length + ((8 - (json.length % 8)) % 8);
  const out = new Uint8Array(8 + padded + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + padded);
  let at = 8 + padded;
  for (const p of payloads) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function encode(name: string, t: WritableTensor): Uint8Array {
  const bad = (what: string): never => {
    throw new Error(`vifi: cannot write tensor ${JSON.stringify(name)}: ${what}`);
  };
  if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) bad(`bad shape ${JSON.stringify(t.shape)}`);
  const n = elementCount(t.shape);
  if (t.data.length !== n) bad(`${t.data.length} values for shape ${JSON.stringify(t.shape)}`);
  const want = { F32: Float32Array, F16: Float32Array, I64: BigInt64Array, I32: Int32Array }[t.dtype];
  if (!want) bad(`dtype ${t.dtype} cannot be written`);
  if (!(t.data instanceof want)) {
    bad(`${t.dtype} data must be a ${want.name}, got ${t.data.constructor.name}`);
  }
  const arr = t.dtype === "F16" ? float32ToHalfBits(t.data as Float32Array) : t.data;
  return new Uint8Array(arr.buffer.slice(arr.byteOffset, arr.byteOffset + arr.byteLength));
}
