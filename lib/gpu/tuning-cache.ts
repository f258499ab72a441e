// The tuning cache file of one adapter (see tuning.ts): where it lives ($VIFI_CACHE or ~/.cache/vifi,
// under tuning/), what it is keyed by, reading it back (a corrupt or stale file is ignored with one
// warning line) and writing it atomically. Deno only: tuning.ts imports it at run time, never in a browser.

import { writeFileAtomic } from "../io/atomic-write.ts";
import { defaultCacheDir } from "../io/download.ts";
import { readEnv } from "../io/env.ts";
import type { Gpu } from "./device.ts";
import type { Tuning, TuningEntry } from "./tuning.ts";

/** Bumped whenever the file layout or the meaning of a shape class changes. */
export const TUNING_SCHEMA = 1;

/**
 * vifi's version, from deno.json (read, not imported: the file is data to the import checker, and a
 * JSON import would pull it into every bundle). "unknown" where it cannot be read.
 */
const VIFI_VERSION: string = await (async () => {
  try {
    const res = await fetch(new URL("../../deno.json", import.meta.url));
    return String((await res.json()).version ?? "unknown");
  } catch {
    return "unknown";
  }
})();

/** What a measurement was taken on. Every field must match for a cache to be used. */
export interface TuningKey {
  schema: number;
  vifi: string;
  vendor: string;
  architecture: string;
  description: string;
  device: string;
  driver: string;
}

export interface TuningFile {
  key: TuningKey;
  choices: TuningEntry[];
}

/** The key of this adapter: what WebGPU tells about it, its driver where exposed, vifi's version. */
export function tuningKey(gpu: Gpu): TuningKey {
  const ai = gpu.adapter.info as unknown as Record<string, unknown>;
  // WebGPU has no driver field; some implementations put the driver's version in `driver` or in
  // `description` (llvmpipe: "llvmpipe (LLVM 15.0.7, 256 bits)"), which is part of the key anyway.
  const driver = typeof ai.driver === "string" ? ai.driver : "";
  return {
    schema: TUNING_SCHEMA,
    vifi: VIFI_VERSION,
    vendor: gpu.info.vendor,
    architecture: gpu.info.architecture,
    description: gpu.info.description,
    device: gpu.info.device,
    driver,
  };
}

/** FNV-1a, 32 bits: a short, stable, synchronous name for an adapter's file (not a security hash). */
function fnv1a(s: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, "0");
}

/**
 * The adapter's cache file. Named by the adapter alone (not driver or version), so a file measured
 * under an older driver or vifi is found, reported as stale and replaced by the next `deno task tune`.
 */
export function tuningPath(gpu: Gpu, cacheDir = defaultCacheDir()): string {
  const k = tuningKey(gpu);
  const slug = k.description.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "").slice(0, 40);
  return `${cacheDir}/tuning/${slug || "adapter"}-${
    fnv1a([k.vendor, k.architecture, k.description, k.device].join("|"))
  }.json`;
}

/** Why `file` cannot be used for `key`, or undefined when it can. */
export function staleReason(file: TuningFile, key: TuningKey): string | undefined {
  for (const f of Object.keys(key) as (keyof TuningKey)[]) {
    if (file.key[f] !== key[f]) {
      return `measured with ${f} ${JSON.stringify(file.key[f])}, this is ${JSON.stringify(key[f])}`;
    }
  }
  return undefined;
}

/** Parse a cache file's text; throws a one-line reason when it is not a tuning cache. */
export function parseTuningFile(text: string): TuningFile {
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch (e) {
    throw new Error(`not JSON (${e instanceof Error ? e.message : e})`);
  }
  const o = j as Partial<TuningFile>;
  if (!o || typeof o !== "object" || !o.key || typeof o.key !== "object" || !Array.isArray(o.choices)) {
    throw new Error("not a tuning cache (no key or choices)");
  }
  for (const c of o.choices) {
    const ok = c && typeof c.family === "string" && typeof c.shapeClass === "string" &&
      typeof c.candidate === "string" && c.candidate.length > 0;
    if (!ok) throw new Error(`a choice is malformed: ${JSON.stringify(c).slice(0, 80)}`);
  }
  return o as TuningFile;
}

export interface LoadResult {
  status: "loaded" | "missing" | "off" | "stale" | "corrupt";
  path?: string;
  /** choices taken from the file */
  loaded: number;
  /** why the file was ignored (stale, corrupt) */
  reason?: string;
}

/**
 * Read this adapter's tuning cache into `rt.tuning`. VIFI_TUNING=off skips it (tests set it so a
 * user's cache cannot change their results). A missing file is normal (untuned: heuristics decide);
 * a corrupt or stale one prints one warning line on stderr and is ignored. Never throws.
 */
export async function loadTuning(
  rt: { tuning: Tuning; gpu: Gpu },
  opts: { cacheDir?: string; warn?: (line: string) => void } = {},
): Promise<LoadResult> {
  if (typeof Deno === "undefined" || readEnv("VIFI_TUNING") === "off") return { status: "off", loaded: 0 };
  let path: string;
  try {
    path = tuningPath(rt.gpu, opts.cacheDir ?? defaultCacheDir());
  } catch {
    return { status: "off", loaded: 0 }; // no cache folder can be named (no HOME, no permission)
  }
  const warn = opts.warn ?? ((line: string) => console.warn(line));
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return { status: "missing", path, loaded: 0 };
    const reason = `unreadable (${e instanceof Error ? e.message : e})`;
    warn(`vifi: tuning cache ${path} ignored: ${reason}`);
    return { status: "corrupt", path, loaded: 0, reason };
  }
  let file: TuningFile;
  try {
    file = parseTuningFile(text);
  } catch (e) {
    const reason = e instanceof Error ? e.message : String(e);
    warn(`vifi: tuning cache ${path} ignored: ${reason}; run \`deno task tune\` to measure again`);
    return { status: "corrupt", path, loaded: 0, reason };
  }
  const reason = staleReason(file, tuningKey(rt.gpu));
  if (reason) {
    warn(`vifi: tuning cache ${path} ignored as stale: ${reason}; run \`deno task tune\` to measure again`);
    return { status: "stale", path, loaded: 0, reason };
  }
  for (const c of file.choices) {
    const { family, shapeClass, candidate, ...detail } = c;
    rt.tuning.set(family, shapeClass, candidate, detail);
  }
  return { status: "loaded", path, loaded: file.choices.length };
}

/** Write every choice in `rt.tuning` to this adapter's cache file (atomically); returns its path. */
export async function saveTuning(
  rt: { tuning: Tuning; gpu: Gpu },
  cacheDir = defaultCacheDir(),
): Promise<string> {
  const path = tuningPath(rt.gpu, cacheDir);
  await Deno.mkdir(`${cacheDir}/tuning`, { recursive: true });
  const file: TuningFile = { key: tuningKey(rt.gpu), choices: rt.tuning.records() };
  await writeFileAtomic(path, new TextEncoder().encode(JSON.stringify(file, null, 1) + "\n"));
  return path;
}
