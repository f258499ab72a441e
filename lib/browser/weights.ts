// Weights in a page: a safetensors (or any weight file lib/models/weights/load.ts reads) fetched from a URL
// with progress as it streams, kept in the browser's Cache API under its URL so the next visit reads it from
// the disk instead of the network, and the model built from those bytes with no file system on the way.
// The Cache API rather than OPFS: it keys by URL, stores a Response as it is, and exists in every browser
// with WebGPU, in pages and workers alike.

import type { Runtime } from "../gpu/runtime.ts";
import { type LoadedModel, loadModel } from "../models/load.ts";

/** The cache the weights are kept in (one entry per URL). */
export const WEIGHTS_CACHE = "vifi-weights-v1";

/** Bytes so far and the total (0 when the server did not say), as a download or cache read goes. */
export type Progress = (loaded: number, total: number) => void;

export interface FetchedWeights {
  bytes: Uint8Array;
  /** "cache": read from the Cache API; "network": downloaded now (and stored) */
  from: "cache" | "network";
  /** the absolute URL, the cache key */
  url: string;
  ms: number;
}

/** The body read chunk by chunk into one array, with progress after each chunk. */
async function readBody(res: Response, url: string, onProgress?: Progress): Promise<Uint8Array> {
  // a compressed transfer's length is not the body's: read it as a body of unknown length
  const encoding = res.headers.get("content-encoding");
  const total = encoding && encoding !== "identity" ? 0 : Number(res.headers.get("content-length") ?? 0) || 0;
  if (!res.body) return new Uint8Array(await res.arrayBuffer());
  const reader = res.body.getReader();
  // a known length is read in place; otherwise chunks are gathered and joined once at the end
  let buf = new Uint8Array(total);
  const parts: Uint8Array[] = [];
  let loaded = 0;
  onProgress?.(0, total);
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (total && loaded + value.length <= buf.length) buf.set(value, loaded);
    else parts.push(value);
    loaded += value.length;
    onProgress?.(loaded, total);
  }
  if (total && loaded !== total) {
    throw new Error(`vifi: ${url}: the server said ${total} bytes but sent ${loaded}`);
  }
  if (!total) {
    buf = new Uint8Array(loaded);
    let at = 0;
    for (const p of parts) buf.set(p, (at += p.length) - p.length);
  }
  return buf;
}

/**
 * The file at `url`, from the browser's cache when an earlier visit stored it, else downloaded (with
 * progress) and stored for the next visit. Where the Cache API is missing (not a secure context), the
 * file is downloaded every time.
 */
export async function fetchWeights(url: string | URL, onProgress?: Progress): Promise<FetchedWeights> {
  const t0 = performance.now();
  const href = new URL(url, globalThis.location?.href).href;
  const cache = "caches" in globalThis ? await caches.open(WEIGHTS_CACHE) : undefined;
  const hit = await cache?.match(href);
  if (hit) {
    const bytes = await readBody(hit, href, onProgress);
    return { bytes, from: "cache", url: href, ms: performance.now() - t0 };
  }
  const res = await fetch(href);
  if (!res.ok) throw new Error(`vifi: cannot fetch weights ${href}: HTTP ${res.status} ${res.statusText}`);
  const bytes = await readBody(res, href, onProgress);
  // stored as fetched, so a later visit gets the same bytes and length; a full disk is not an error here
  await cache?.put(
    href,
    new Response(bytes as Uint8Array<ArrayBuffer>, {
      headers: {
        "content-type": res.headers.get("content-type") ?? "application/octet-stream",
        "content-length": String(bytes.length),
      },
    }),
  ).catch(() => {});
  return { bytes, from: "network", url: href, ms: performance.now() - t0 };
}

/** Forgets the stored copy of `url` (or every stored weight file); true when something was removed. */
export async function forgetWeights(url?: string | URL): Promise<boolean> {
  if (!("caches" in globalThis)) return false;
  if (url === undefined) return await caches.delete(WEIGHTS_CACHE);
  const cache = await caches.open(WEIGHTS_CACHE);
  return await cache.delete(new URL(url, globalThis.location?.href).href);
}

/** An inference-only model from a weight file's bytes (`name` appears in errors). */
export async function modelFromBytes(rt: Runtime, bytes: Uint8Array, name: string): Promise<LoadedModel> {
  return await loadModel(rt, { weights: { bytes, name }, variant: "frozen" });
}
