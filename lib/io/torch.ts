// PyTorch files without PyTorch: torch.save checkpoints (ViFi-CLIP's .pth) and TorchScript archives
// (OpenAI's ViT-B-16.pt), both ZIPs holding a pickle whose tensors point at raw storages in sibling
// records. Tensor data is converted on first access of `.data`, so reading a 1.5 GB training checkpoint
// for its model weights never converts the optimizer moments; storage bounds are still checked up front
// so a damaged file fails at read time with the tensor's name.

import { type ByteSource, toSource } from "./byte-source.ts";
import { readZip, writeZip, type ZipArchive } from "./zip.ts";
import {
  brief,
  type GlobalHandler,
  type GlobalRegistry,
  isPyObject,
  MAX_PICKLE_DEPTH,
  pickle,
  PyGlobal,
  PyPersistent,
  PyReduce,
  PyTuple,
  tooDeep,
  unpickle,
} from "./pickle.ts";

export type TorchDType = "f32" | "f16" | "bf16" | "f64" | "i64" | "i32" | "u8" | "bool";

export interface TorchTensor {
  /** the stored dtype; `data` widens every float dtype to f32 */
  dtype: TorchDType;
  shape: number[];
  data: Float32Array | BigInt64Array | Int32Array | Uint8Array;
}

export interface TorchFile {
  format: "torch-zip" | "torchscript";
  /** the unpickled object (dicts → objects, unknown classes → PyObject); tensors in it are `tensors`' objects */
  root: unknown;
  /** the state dict: tensors by dotted path (torch-zip) or by module attribute path (TorchScript) */
  tensors: Map<string, TorchTensor>;
  /** TorchScript only: the unpickled constants.pkl */
  constants?: unknown;
}

const STORAGE_TYPES: Record<string, [TorchDType, number]> = {
  FloatStorage: ["f32", 4],
  HalfStorage: ["f16", 2],
  BFloat16Storage: ["bf16", 2],
  DoubleStorage: ["f64", 8],
  LongStorage: ["i64", 8],
  IntStorage: ["i32", 4],
  ByteStorage: ["u8", 1],
  BoolStorage: ["bool", 1],
};

const ITEM_SIZE: Record<TorchDType, number> = {
  f32: 4,
  f16: 2,
  bf16: 2,
  f64: 8,
  i64: 8,
  i32: 4,
  u8: 1,
  bool: 1,
};

interface Storage {
  key: string;
  dtype: TorchDType;
  /** the record's length, known from the zip directory without reading it */
  size: number;
  /** the record's bytes, read on first use */
  readonly bytes: Uint8Array;
  littleEndian: boolean;
}

interface View {
  storage: Storage;
  offset: number;
  stride: number[];
  /** first name the tensor was found under, for errors raised on lazy access */
  name?: string;
  fileName: string;
}

const views = new WeakMap<TorchTensor, View>();

/** Attribute names that TorchScript code declares as parameters or buffers, per module object. */
const moduleStateNames = new WeakMap<object, Set<string>>();

export function isTorchTensor(v: unknown): v is TorchTensor {
  return typeof v === "object" && v !== null && views.has(v as TorchTensor);
}

/** Storage offset and strides of a tensor read from a file (the layout `data` was materialised from). */
export function tensorLayout(
  t: TorchTensor,
): { storageKey: string; offset: number; stride: number[] } | undefined {
  const v = views.get(t);
  return v && { storageKey: v.storage.key, offset: v.offset, stride: [...v.stride] };
}

function product(xs: number[]): number {
  return xs.reduce((a, b) => a * b, 1);
}

function contiguousStrides(shape: number[]): number[] {
  const s = new Array(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

/** Bytes of storage a view reaches: (offset + largest index + 1) · itemsize, 0 for empty tensors. */
function neededBytes(shape: number[], v: View): number {
  if (shape.some((d) => d === 0)) return 0;
  let last = v.offset;
  for (let i = 0; i < shape.length; i++) last += (shape[i] - 1) * v.stride[i];
  return (last + 1) * ITEM_SIZE[v.storage.dtype];
}

function checkBounds(t: TorchTensor, name: string): void {
  const v = views.get(t)!;
  const need = neededBytes(t.shape, v);
  const have = v.storage.size;
  if (need > have) {
    throw new Error(
      `${v.fileName}: tensor ${name} (${t.dtype} [${t.shape.join(", ")}], offset ${v.offset}, stride ` +
        `[${
          v.stride.join(", ")
        }]) needs ${need} bytes of storage ${v.storage.key} but only ${have} are available`,
    );
  }
}

let halfTable: Float32Array | undefined;

// Every fp16 value is exactly representable in fp32; a 64 Ki-entry table built from bit patterns keeps
// signed zeros, subnormals, infinities and NaN payloads exact.
function halfToFloatTable(): Float32Array {
  if (halfTable) return halfTable;
  const bits = new Uint32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = (h & 0x8000) << 16;
    const exp = (h >> 10) & 0x1f;
    let mant = h & 0x3ff;
    if (exp === 0x1f) bits[h] = sign | 0x7f800000 | (mant << 13);
    else if (exp !== 0) bits[h] = sign | ((exp + 112) << 23) | (mant << 13);
    else if (mant === 0) bits[h] = sign;
    else {
      let e = 113;
      while (!(mant & 0x400)) {
        mant <<= 1;
        e--;
      }
      bits[h] = sign | (e << 23) | ((mant & 0x3ff) << 13);
    }
  }
  halfTable = new Float32Array(bits.buffer);
  return halfTable;
}

type Src = Float32Array | Float64Array | Uint16Array | BigInt64Array | Int32Array | Uint8Array;

function srcView(dtype: TorchDType, buf: ArrayBuffer, byteOffset: number, length: number): Src {
  switch (dtype) {
    case "f32":
      return new Float32Array(buf, byteOffset, length);
    case "f64":
      return new Float64Array(buf, byteOffset, length);
    case "f16":
    case "bf16":
      return new Uint16Array(buf, byteOffset, length);
    case "i64":
      return new BigInt64Array(buf, byteOffset, length);
    case "i32":
      return new Int32Array(buf, byteOffset, length);
    default:
      return new Uint8Array(buf, byteOffset, length);
  }
}

const HOST_LITTLE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function materialise(t: TorchTensor): TorchTensor["data"] {
  const v = views.get(t)!;
  checkBounds(t, v.name ?? "<unnamed>");
  const n = product(t.shape);
  const item = ITEM_SIZE[t.dtype];
  const span = n === 0 ? 0 : neededBytes(t.shape, v) / item - v.offset;
  let bytes = v.storage.bytes.subarray(v.offset * item, (v.offset + span) * item);
  // Typed views need aligned offsets and host byte order; otherwise work on an aligned copy.
  const swap = v.storage.littleEndian !== HOST_LITTLE;
  if (swap || (bytes.byteOffset % item) !== 0) {
    bytes = bytes.slice();
    if (swap && item > 1) {
      for (let i = 0; i < bytes.length; i += item) bytes.subarray(i, i + item).reverse();
    }
  }
  let src = srcView(t.dtype, bytes.buffer as ArrayBuffer, bytes.byteOffset, span);
  const dense = contiguousStrides(t.shape);
  const contiguous = t.shape.every((d, i) => d === 1 || v.stride[i] === dense[i]);
  if (!contiguous) src = gather(src, t.shape, v.stride);
  switch (t.dtype) {
    case "f32":
    case "f64":
      return new Float32Array(src as Float32Array | Float64Array);
    case "f16": {
      const table = halfToFloatTable();
      const out = new Float32Array(n);
      const h = src as Uint16Array;
      for (let i = 0; i < n; i++) out[i] = table[h[i]];
      return out;
    }
    case "bf16": {
      // bf16 is the upper half of an fp32 bit pattern.
      const out = new Uint32Array(n);
      const h = src as Uint16Array;
      for (let i = 0; i < n; i++) out[i] = h[i] << 16;
      return new Float32Array(out.buffer);
    }
    case "i64":
      return new BigInt64Array(src as BigInt64Array);
    case "i32":
      return new Int32Array(src as Int32Array);
    default:
      return new Uint8Array(src as Uint8Array);
  }
}

// Row-major walk over the view's index space, reading through the strides.
function gather(src: Src, shape: number[], stride: number[]): Src {
  const n = product(shape);
  const Ctor = src.constructor as new (n: number) => Src;
  const out = new Ctor(n);
  const nd = shape.length;
  const idx = new Array(nd).fill(0);
  let pos = 0;
  for (let i = 0; i < n; i++) {
    (out as Float32Array)[i] = (src as Float32Array)[pos];
    for (let d = nd - 1; d >= 0; d--) {
      idx[d]++;
      pos += stride[d];
      if (idx[d] < shape[d]) break;
      pos -= stride[d] * shape[d];
      idx[d] = 0;
    }
  }
  return out;
}

function makeTensor(storage: Storage, offset: number, shape: number[], stride: number[], fileName: string) {
  const t = { dtype: storage.dtype, shape } as TorchTensor;
  const settle = (data: TorchTensor["data"]) =>
    Object.defineProperty(t, "data", { value: data, enumerable: true, writable: true, configurable: true });
  Object.defineProperty(t, "data", {
    enumerable: true,
    configurable: true,
    get() {
      const data = materialise(t);
      settle(data);
      return data;
    },
    set(data) {
      settle(data);
    },
  });
  views.set(t, { storage, offset, stride, fileName });
  return t;
}

function intList(v: unknown, what: string): number[] {
  if (!Array.isArray(v) || !v.every((x) => typeof x === "number" && Number.isInteger(x) && x >= 0)) {
    throw new Error(`tensor ${what} is not a list of non-negative integers: ${brief(v)}`);
  }
  return v as number[];
}

function torchGlobals(fileName: string, created: TorchTensor[]): GlobalRegistry {
  const r: GlobalRegistry = new Map();
  const rebuild = (a: unknown[]) => {
    const storage = a[0] as Storage;
    if (!storage || typeof storage !== "object" || !("bytes" in storage)) {
      throw new Error("_rebuild_tensor_v2: first argument is not a storage");
    }
    const offset = a[1];
    if (typeof offset !== "number" || !Number.isInteger(offset) || offset < 0) {
      throw new Error(`_rebuild_tensor_v2: bad storage offset ${String(offset)}`);
    }
    const shape = intList(a[2], "size");
    const stride = intList(a[3], "stride");
    if (stride.length !== shape.length) {
      throw new Error(`_rebuild_tensor_v2: ${shape.length}-d size with ${stride.length}-d stride`);
    }
    const t = makeTensor(storage, offset, [...shape], [...stride], fileName);
    created.push(t);
    return t;
  };
  r.set("torch._utils._rebuild_tensor_v2", { call: rebuild });
  r.set("torch._utils._rebuild_tensor", { call: rebuild });
  const param: GlobalHandler = { call: (a) => a[0] };
  r.set("torch._utils._rebuild_parameter", param);
  r.set("torch._utils._rebuild_parameter_with_state", param);
  // Tensor subclasses: (inner rebuild function, subclass, its arguments, state) → the plain tensor.
  r.set("torch._tensor._rebuild_from_type_v2", {
    call: (a) => {
      const inner = a[0] instanceof PyGlobal ? r.get(a[0].fullName) : undefined;
      if (!inner?.call || !Array.isArray(a[2])) {
        throw new Error("_rebuild_from_type_v2 with an unknown rebuild");
      }
      return inner.call(a[2]);
    },
  });
  r.set("torch.Size", { call: (a) => a[0] });
  r.set("torch.device", { call: (a) => a.join(":") });
  return r;
}

function isModuleObject(v: unknown): v is { __class__: string; state?: unknown } {
  return isPyObject(v) && v.__class__.startsWith("__torch__.");
}

/** TorchScript's code/ listing declares which attributes are parameters and buffers, per class. */
function parseCodeStateNames(files: Map<string, string>): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const [path, text] of files) {
    const qualifier = path.replace(/\.py$/, "").split("/").join(".");
    const parts = text.split(/^class\s+/m).slice(1);
    for (const part of parts) {
      const name = /^(\w+)/.exec(part)?.[1];
      if (!name) continue;
      const names = new Set<string>();
      let found = false;
      for (const field of ["__parameters__", "__buffers__"]) {
        const m = new RegExp(`^\\s*${field}\\s*=\\s*\\[([^\\]]*)\\]`, "m").exec(part);
        if (!m) continue;
        found = true;
        for (const s of m[1].matchAll(/"([^"]*)"|'([^']*)'/g)) names.add(s[1] ?? s[2]);
      }
      if (found) out.set(`${qualifier}.${name}`, names);
    }
  }
  return out;
}

interface Walk {
  out: Map<string, TorchTensor>;
  seen: Set<object>;
  torchscript: boolean;
  fileName: string;
  /** containers entered so far: shared references can make the paths exponential in the pickle's size */
  visits: number;
}

/**
 * Containers one walk may enter. A real state dict is a few thousand; a pickle of lists that each hold
 * the previous one twice is small yet has 2^depth paths, each of which the walk would follow.
 */
const MAX_WALK_VISITS = 1_000_000;

function walk(v: unknown, key: string, w: Walk, depth = 0): void {
  if (typeof v !== "object" || v === null) return;
  if (isTorchTensor(v)) {
    const view = views.get(v)!;
    view.name ??= key;
    w.out.set(key, v);
    return;
  }
  if (ArrayBuffer.isView(v) || w.seen.has(v)) return;
  // the unpickler bounds how deep a value is built, but values built outside in (through the memo)
  // can still nest deeper; refuse here rather than overflow the stack
  if (depth > MAX_PICKLE_DEPTH) throw tooDeep(w.fileName);
  if (++w.visits > MAX_WALK_VISITS) {
    throw new Error(
      `${w.fileName}: pickle: its values are reached through more than ${MAX_WALK_VISITS} paths ` +
        "(shared references); that is no state dict",
    );
  }
  w.seen.add(v);
  const join = (k: string) => (key ? `${key}.${k}` : k);
  const next = depth + 1;
  if (w.torchscript) {
    // A module's state dict: its declared parameters and buffers, then its submodules' entries.
    if (isModuleObject(v) && v.state && typeof v.state === "object") {
      const allowed = moduleStateNames.get(v);
      for (const [k, x] of Object.entries(v.state)) {
        if (isTorchTensor(x)) {
          if (!allowed || allowed.has(k)) walk(x, join(k), w, next);
        } else if (isModuleObject(x)) walk(x, join(k), w, next);
      }
    }
  } else if (Array.isArray(v)) v.forEach((x, i) => walk(x, join(String(i)), w, next));
  else if (isPyObject(v)) {
    if (v.dictItems) walk(v.dictItems, key, w, next);
    if (v.listItems) walk(v.listItems, key, w, next);
    if (v.state && typeof v.state === "object") walk(v.state, key, w, next);
  } else {
    for (const [k, x] of Object.entries(v)) walk(x, join(k), w, next);
  }
  w.seen.delete(v);
}

function flatten(v: unknown, torchscript: boolean, fileName: string): Map<string, TorchTensor> {
  const w: Walk = { out: new Map(), seen: new Set(), torchscript, fileName, visits: 0 };
  walk(v, "", w);
  return w.out;
}

/**
 * The tensors under `root` (or under `root[key]`, e.g. "model" for a ViFi checkpoint), keyed by their
 * dotted paths relative to that point. TorchScript module objects yield their state dict.
 */
export function stateDict(root: unknown, key?: string | string[]): Map<string, TorchTensor> {
  let v = root;
  for (const k of key === undefined ? [] : typeof key === "string" ? [key] : key) {
    const holder = isPyObject(v) ? (v.dictItems ?? v.state) : v;
    if (typeof holder !== "object" || holder === null || !(k in holder)) {
      throw new Error(`stateDict: no key ${JSON.stringify(k)}`);
    }
    v = (holder as Record<string, unknown>)[k];
  }
  return flatten(v, isModuleObject(v), "stateDict");
}

/** The float tensors as f32 weights (the shape `Weights` in lib/models/config.ts uses), optionally re-keyed. */
export function floatWeights(
  tensors: Map<string, TorchTensor>,
  rename: (key: string) => string | undefined = (k) => k,
): Map<string, { shape: number[]; data: Float32Array }> {
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [k, t] of tensors) {
    if (t.dtype !== "f32" && t.dtype !== "f16" && t.dtype !== "bf16" && t.dtype !== "f64") continue;
    const name = rename(k);
    if (name !== undefined) out.set(name, { shape: t.shape, data: t.data as Float32Array });
  }
  return out;
}

/** Which zip entries a reader can see: name → (inflated) size without reading, and → bytes. */
type EntrySource = {
  names: string[];
  size(name: string): number | undefined;
  get(name: string): Uint8Array | undefined;
};

function readFromEntries(src: EntrySource, fileName: string): TorchFile {
  const pkls = src.names.filter((n) => n === "data.pkl" || n.endsWith("/data.pkl"));
  if (pkls.length === 0) {
    throw new Error(`${fileName}: not a torch archive (no data.pkl among ${src.names.length} entries)`);
  }
  const dataPkl = pkls.reduce((a, b) => (b.length < a.length ? b : a));
  const prefix = dataPkl.slice(0, -"data.pkl".length);
  const byteorderBytes = src.get(`${prefix}byteorder`);
  const byteorder = byteorderBytes ? new TextDecoder().decode(byteorderBytes).trim() : "little";
  if (byteorder !== "little" && byteorder !== "big") {
    throw new Error(`${fileName}: unknown byteorder ${JSON.stringify(byteorder)}`);
  }
  const torchscript = src.names.some((n) => n === `${prefix}constants.pkl` || n.startsWith(`${prefix}code/`));

  const created: TorchTensor[] = [];
  const load = (pklName: string) => {
    const bytes = src.get(pklName);
    if (!bytes) throw new Error(`${fileName}: missing ${pklName}`);
    return unpickle(bytes, {
      fileName,
      globals: torchGlobals(fileName, created),
      persistentLoad: storageLoader(src, prefix, pklName.slice(prefix.length, -".pkl".length), byteorder),
    });
  };

  const root = load(dataPkl);
  let constants: unknown;
  if (torchscript) {
    if (src.get(`${prefix}constants.pkl`)) constants = load(`${prefix}constants.pkl`);
    markDeclaredState(root, src, prefix);
  }
  const tensors = flatten(root, torchscript && isModuleObject(root), fileName);
  if (constants !== undefined) {
    for (const [k, t] of flatten(constants, false, fileName)) views.get(t)!.name ??= `constants.${k}`;
  }
  // Tensors outside the state dict (TorchScript attributes that are not buffers, say) are checked too,
  // so a damaged file fails here rather than on some later access.
  for (const t of created) {
    const v = views.get(t)!;
    checkBounds(t, v.name ?? `(not in the state dict, storage ${v.storage.key})`);
  }
  const out: TorchFile = { format: torchscript ? "torchscript" : "torch-zip", root, tensors };
  if (torchscript) out.constants = constants;
  return out;
}

/**
 * The persistent loader of one pickle (`stem`: "data" or "constants"): each `("storage", type, key, …)`
 * id becomes one Storage over its record, whose bytes are read on first use.
 */
function storageLoader(
  src: EntrySource,
  prefix: string,
  stem: string,
  byteorder: "little" | "big",
): (pid: unknown) => Storage {
  const storages = new Map<string, Storage>();
  return (pid) => {
    if (!Array.isArray(pid) || pid[0] !== "storage") {
      throw new Error(`unsupported persistent id ${brief(pid)}`);
    }
    const [, type, rawKey] = pid;
    const key = String(rawKey);
    const cached = storages.get(key);
    if (cached) return cached;
    const typeName = type instanceof PyGlobal ? type.name : String(type);
    const kind = STORAGE_TYPES[typeName];
    if (!kind) {
      throw new Error(
        `storage ${key} has unsupported type ${type instanceof PyGlobal ? type.fullName : typeName}`,
      );
    }
    const record = [`${prefix}${stem}/${key}`, `${prefix}data/${key}`, `${prefix}.data/${key}`].find((
      n,
    ) => src.size(n) !== undefined);
    if (!record) throw new Error(`storage ${key} has no record ${prefix}${stem}/${key}`);
    let bytes: Uint8Array | undefined;
    const s: Storage = {
      key,
      dtype: kind[0],
      size: src.size(record)!,
      get bytes() {
        return bytes ??= src.get(record)!;
      },
      littleEndian: byteorder === "little",
    };
    storages.set(key, s);
    return s;
  };
}

/** Records, per TorchScript module object under `root`, which attributes its code/ declares as state. */
function markDeclaredState(root: unknown, src: EntrySource, prefix: string): void {
  const decoder = new TextDecoder();
  const code = new Map<string, string>();
  for (const n of src.names) {
    if (!n.startsWith(`${prefix}code/`) || !n.endsWith(".py")) continue;
    const b = src.get(n);
    if (b) code.set(n.slice(`${prefix}code/`.length), decoder.decode(b));
  }
  const declared = parseCodeStateNames(code);
  // every module object once, with an explicit stack: module trees can be as deep as a pickle allows
  const seen = new Set<unknown>();
  const todo: unknown[] = [root];
  while (todo.length) {
    const v = todo.pop();
    if (!isModuleObject(v) || seen.has(v)) continue;
    seen.add(v);
    const names = declared.get(v.__class__);
    if (names) moduleStateNames.set(v, names);
    if (v.state && typeof v.state === "object") todo.push(...Object.values(v.state).reverse());
  }
}

function openZip(src: ByteSource, fileName: string): ZipArchive {
  // Before torch 1.6, torch.save wrote a bare pickle stream (magic number first), not a zip.
  const magic = src.read(0, 2);
  if (magic.length >= 2 && magic[0] === 0x80 && magic[1] <= 5) {
    throw new Error(
      `${fileName}: legacy (pre-1.6, non-zip) torch.save format; re-save it with a newer torch`,
    );
  }
  return readZip(src, fileName);
}

/** Read a torch.save zip or TorchScript archive whose records are stored (as torch writes them). */
export function readTorch(input: Uint8Array | ByteSource, fileName: string): TorchFile {
  const zip = openZip(toSource(input, fileName), fileName);
  return readFromEntries({
    names: zip.entries.map((e) => e.name),
    size: (n) => zip.byName.get(n)?.size,
    get: (n) => {
      const e = zip.byName.get(n);
      if (e && e.method !== 0) {
        throw new Error(
          `${fileName}: entry ${n} is deflate-compressed (torch never does that); use readTorchAsync`,
        );
      }
      return e && zip.read(e);
    },
  }, fileName);
}

export interface ReadTorchOptions {
  /**
   * Never read tensor data (`weights inspect`): stored records stay on disk, deflated storage
   * records are not inflated, and reading a tensor's `data` from those throws.
   */
  headersOnly?: boolean;
}

/** A storage record, as torch names them: `<archive>/data/<key>` (or `.data/` in TorchScript constants). */
const STORAGE_RECORD = /(^|\/)\.?data\/[^/]+$/;

/**
 * Like readTorch, but also accepts archives whose records were deflated by a zip tool. Stored records
 * are read when a tensor's data is first used; deflated ones are inflated here.
 */
export async function readTorchAsync(
  input: Uint8Array | ByteSource,
  fileName: string,
  opts: ReadTorchOptions = {},
): Promise<TorchFile> {
  const zip = openZip(toSource(input, fileName), fileName);
  const inflated = new Map<string, Uint8Array>();
  for (const e of zip.entries) {
    if (e.method === 0 || (opts.headersOnly && STORAGE_RECORD.test(e.name))) continue;
    inflated.set(e.name, await zip.readAsync(e));
  }
  return readFromEntries({
    names: zip.entries.map((e) => e.name),
    size: (n) => zip.byName.get(n)?.size,
    get: (n) => {
      const e = zip.byName.get(n);
      if (!e) return undefined;
      if (e.method === 0) return zip.read(e);
      const got = inflated.get(n);
      if (!got) throw new Error(`${fileName}: entry ${n} was not inflated (headers-only read)`);
      return got;
    },
  }, fileName);
}

// ---------------------------------------------------------------------------------------------------
// Writing

export interface WritableTensor {
  dtype: "f32" | "f16";
  shape: number[];
  data: Float32Array;
}

export interface WriteTorchOptions {
  /** nest the state dict under this key, e.g. "model" (ViFi-CLIP's checkpoint layout) */
  wrapIn?: string;
  /** more top-level entries (epoch, max_accuracy…); integral numbers are written as Python ints */
  extra?: Record<string, number | string>;
  /** the zip's top folder; torch ≥ 1.13 writes "archive" */
  archiveName?: string;
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** fp32 → fp16 bits, rounding to nearest even (as torch's .half()). */
export function floatToHalfBits(x: number): number {
  f32Scratch[0] = x;
  const b = u32Scratch[0];
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  let mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0);
  const e = exp - 112;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    let r = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    if (rem > half || (rem === half && r & 1)) r++;
    return sign | r;
  }
  let r = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  // A carry out of the mantissa correctly bumps the exponent, up to infinity.
  if (rem > 0x1000 || (rem === 0x1000 && r & 1)) r++;
  return sign | r;
}

function tensorBytes(key: string, t: WritableTensor): Uint8Array {
  const n = product(t.shape);
  if (t.data.length !== n) {
    throw new Error(
      `writeTorchStateDict: ${key} has ${t.data.length} values for shape [${t.shape.join(", ")}]`,
    );
  }
  if (t.dtype === "f16") {
    const out = new Uint8Array(n * 2);
    const dv = new DataView(out.buffer);
    for (let i = 0; i < n; i++) dv.setUint16(i * 2, floatToHalfBits(t.data[i]), true);
    return out;
  }
  if (t.dtype !== "f32") throw new Error(`writeTorchStateDict: ${key} has unsupported dtype ${t.dtype}`);
  if (HOST_LITTLE) return new Uint8Array(t.data.buffer, t.data.byteOffset, n * 4);
  const out = new Uint8Array(n * 4);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < n; i++) dv.setFloat32(i * 4, t.data[i], true);
  return out;
}

/**
 * A torch.save-compatible file: archive/data.pkl (protocol 2) holding an OrderedDict of tensors
 * (optionally under `wrapIn`, beside `extra`), one storage per tensor in archive/data/N, 64-byte aligned.
 */
export function writeTorchStateDict(
  tensors: Map<string, WritableTensor>,
  opts: WriteTorchOptions = {},
): Uint8Array {
  const archive = opts.archiveName ?? "archive";
  const rebuild = new PyGlobal("torch._utils", "_rebuild_tensor_v2");
  const orderedDict = new PyGlobal("collections", "OrderedDict");
  const records: [string, Uint8Array][] = [];
  const sd = new Map<string, unknown>();
  let i = 0;
  for (const [key, t] of tensors) {
    const storageKey = String(i++);
    const storageType = new PyGlobal("torch", t.dtype === "f16" ? "HalfStorage" : "FloatStorage");
    const numel = product(t.shape);
    records.push([`${archive}/data/${storageKey}`, tensorBytes(key, t)]);
    sd.set(
      key,
      new PyReduce(rebuild, [
        new PyPersistent(new PyTuple(["storage", storageType, storageKey, "cpu", numel])),
        0,
        new PyTuple(t.shape),
        new PyTuple(contiguousStrides(t.shape)),
        false,
        new PyReduce(orderedDict, []),
      ]),
    );
  }
  let root: unknown = sd;
  if (opts.wrapIn !== undefined && opts.extra && opts.wrapIn in opts.extra) {
    throw new Error(
      `writeTorchStateDict: extra entry ${JSON.stringify(opts.wrapIn)} would replace the state dict`,
    );
  }
  if (opts.wrapIn !== undefined) {
    root = { [opts.wrapIn]: sd, ...opts.extra };
  } else if (opts.extra) {
    for (const [k, x] of Object.entries(opts.extra)) sd.set(k, x);
  }
  const enc = new TextEncoder();
  return writeZip([
    [`${archive}/data.pkl`, pickle(root)],
    [`${archive}/byteorder`, enc.encode("little")],
    ...records,
    [`${archive}/version`, enc.encode("3\n")],
  ]);
}
