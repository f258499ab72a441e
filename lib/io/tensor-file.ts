// Weight files as containers: which one a file is (from its first bytes: extensions lie, ViFi-CLIP
// ships .pth, OpenAI .pt, both zips), its tensors by stored name, dtype and shape, read lazily.
// Nothing here knows the model; lib/models/weights/ maps these tensors onto it.

import { readSafetensorsSource } from "./safetensors.ts";
import { type ByteSource, memorySource, openFileSource, toSource } from "./byte-source.ts";

/** A tensor as any reader returns it; only float data (Float32Array) can become a model weight. */
export interface SourceTensor {
  shape: number[];
  data: ArrayBufferView;
  /** the stored dtype as safetensors spells it; when given, float-ness is read from it, not from `data` */
  dtype?: string;
}

export type WeightFormat = "safetensors" | "torch-zip" | "torchscript" | "vifi-checkpoint";

export interface RawTensor extends SourceTensor {
  dtype: string;
}

export interface RawTensorFile {
  format: WeightFormat;
  tensors: Map<string, RawTensor>;
  /** a vifi checkpoint's parsed `vifi` metadata; a safetensors file's metadata otherwise */
  meta?: unknown;
}

/** The part of ./torch.ts's TorchFile the state-dict selection looks at. */
export interface TorchContents<T> {
  root: unknown;
  tensors: Map<string, T>;
}

export type Container = "safetensors" | "zip" | "pickle" | "unknown";

/** The container, from magic bytes (the first 9 are enough). */
export function sniffContainer(bytes: Uint8Array): Container {
  if (bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04) {
    return "zip";
  }
  // pickle protocol 2+ opens with PROTO; that is torch.save's pre-1.6 format
  if (bytes.length >= 2 && bytes[0] === 0x80 && bytes[1] >= 2 && bytes[1] <= 5) return "pickle";
  // a plausible header length (under 4 GiB) followed by the JSON header's `{`; a truncated file
  // still qualifies, so the safetensors reader gets to say what is wrong with it
  if (
    bytes.length >= 9 && bytes[8] === 0x7b && bytes[4] === 0 && bytes[5] === 0 && bytes[6] === 0 &&
    bytes[7] === 0
  ) {
    return "safetensors";
  }
  return "unknown";
}

function entriesOf(x: unknown): [string, unknown][] | undefined {
  if (x instanceof Map) return [...x.entries()].map(([k, v]) => [String(k), v]);
  if (x && typeof x === "object" && !Array.isArray(x) && !ArrayBuffer.isView(x)) return Object.entries(x);
  return undefined;
}

/**
 * A training checkpoint is a dict whose `model` (ViFi-CLIP) or `state_dict` (common elsewhere) entry
 * is the state dict; the optimizer state beside it is not weights. Tensors are found in that
 * sub-dict by identity with the reader's tensor objects, or failing that by a `model.` key prefix.
 */
export function selectStateDict<T>(file: TorchContents<T>, fileName: string): Map<string, T> {
  const top = entriesOf(file.root);
  const sub = top?.find(([k]) => k === "model") ?? top?.find(([k]) => k === "state_dict");
  if (!sub) return file.tensors;
  const byObject = new Map<unknown, string>();
  for (const [name, t] of file.tensors) byObject.set(t, name);
  const out = new Map<string, T>();
  for (const [k, v] of entriesOf(sub[1]) ?? []) {
    if (byObject.has(v)) out.set(k, v as T);
  }
  if (out.size) return out;
  const prefix = `${sub[0]}.`;
  for (const [name, t] of file.tensors) if (name.startsWith(prefix)) out.set(name.slice(prefix.length), t);
  if (!out.size) throw new Error(`vifi: ${fileName}: its "${sub[0]}" entry holds no tensors`);
  return out;
}

export interface ReadTensorFileOptions {
  /** read names, dtypes and shapes only; tensor data stays unread (deflated torch storages uninflated) */
  headersOnly?: boolean;
}

/**
 * Tensors of a weight file in whatever naming it uses, unmapped. Only the headers are read here;
 * each tensor's bytes are read from `input` when its `data` is first used.
 */
export async function readTensorFile(
  input: Uint8Array | ByteSource,
  fileName: string,
  opts: ReadTensorFileOptions = {},
): Promise<RawTensorFile> {
  const src = toSource(input, fileName);
  const bytes = src.read(0, 9);
  const container = sniffContainer(bytes);
  if (container === "safetensors") {
    const { tensors, metadata } = readSafetensorsSource(src, fileName);
    if (metadata.format === "vifi-checkpoint") {
      let meta: unknown = metadata.vifi;
      try {
        meta = JSON.parse(metadata.vifi);
      } catch { /* keep the raw string: the weights are still usable */ }
      // vifi's model keeps conv1 as the [W, 3·P·P] matrix its GEMM multiplies; files carry [W, 3, P, P]
      const conv = tensors.get("visual.conv1.weight");
      if (conv && conv.shape.length === 2) {
        const patch = Math.sqrt(conv.shape[1] / 3);
        if (Number.isInteger(patch)) conv.shape = [conv.shape[0], 3, patch, patch];
      }
      return { format: "vifi-checkpoint", tensors, meta };
    }
    return { format: "safetensors", tensors, meta: Object.keys(metadata).length ? metadata : undefined };
  }
  if (container === "zip") {
    // loaded on first use: safetensors users never pay for the pickle reader
    const { readTorchAsync } = await import("./torch.ts");
    let file: Awaited<ReturnType<typeof readTorchAsync>>;
    try {
      file = await readTorchAsync(src, fileName, opts);
    } catch (e) {
      // the zip and pickle readers name the file; the prefix makes their messages read like the rest
      const message = e instanceof Error ? e.message : String(e);
      throw new Error(message.startsWith("vifi: ") ? message : `vifi: ${message}`);
    }
    const tensors = new Map<string, RawTensor>();
    for (const [name, t] of selectStateDict(file, fileName)) {
      // torch converts `data` on first access; staying lazy means a training checkpoint's unused
      // tensors are never converted. Dtypes are spelled as safetensors spells them.
      tensors.set(name, {
        dtype: t.dtype.toUpperCase(),
        shape: t.shape,
        get data() {
          return t.data;
        },
      });
    }
    return { format: file.format, tensors };
  }
  if (container === "pickle") {
    throw new Error(
      `vifi: ${fileName} is a legacy (pre-1.6, non-zip) torch.save file; re-save it with a newer torch ` +
        "or convert it to safetensors",
    );
  }
  const head = [...bytes.subarray(0, 8)].map((b) => b.toString(16).padStart(2, "0")).join(" ");
  throw new Error(
    `vifi: ${fileName}: not a safetensors, PyTorch zip or TorchScript file (first bytes ${head || "none"})`,
  );
}

/** A weight file as a source: a local file is read on demand, an http(s) URL is fetched whole. */
export async function openWeightSource(path: string | URL): Promise<ByteSource & { close(): void }> {
  const url = path instanceof URL ? path : /^https?:\/\//.test(path) ? new URL(path) : undefined;
  if (url && url.protocol !== "file:") {
    const res = await fetch(url);
    if (!res.ok) throw new Error(`vifi: cannot fetch ${url}: HTTP ${res.status} ${res.statusText}`);
    return { ...memorySource(new Uint8Array(await res.arrayBuffer()), String(path)), close() {} };
  }
  const file = url ? decodeURIComponent(url.pathname) : String(path);
  try {
    return openFileSource(file);
  } catch (e) {
    const why = (e instanceof Error ? e.message : String(e)).replace(`vifi: cannot read ${file}: `, "");
    throw new Error(`vifi: cannot read weights ${path}: ${why}`);
  }
}
