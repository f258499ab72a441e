// manifest.json of a site `deno task site` writes (lib/cli/site.ts): what the page loads, by paths relative
// to the site, and what it suggests. The page reads it first; the command writes it last.

export interface SiteManifest {
  format: "vifi-site";
  version: 1;
  model: {
    /** the weight file, relative to the site */
    file: string;
    /** the architecture's name, when the file says it */
    name: string | null;
    bytes: number;
    /** SHA-256 of the file, hex: the page asks for the file with it, so a rebuilt site is not read from an old cache */
    sha256: string;
    resolution: number | null;
    /** "clip" | "words" | "bytes": how class names become tokens */
    tokenizer: string;
  };
  /** class names the page fills in at first */
  classes: string[];
  /** frames per video */
  frames: number;
  /** the class prompt with {name}; null: as `deno task predict` chooses */
  template: string | null;
  /** CLIP's BPE vocabulary, when the model reads CLIP tokens */
  vocab: string | null;
  /** ffmpeg.wasm, for videos WebCodecs cannot decode exactly; null when the site left it out */
  ffmpegWasm: string | null;
  /** every file of the site but the manifest, with its size in bytes */
  files: Record<string, number>;
  builtAt: string;
}

/** The site's manifest, fetched from beside the page; a missing or foreign one is a one-line error. */
export async function loadManifest(url = "manifest.json"): Promise<SiteManifest> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`vifi: cannot read the site's ${url}: HTTP ${res.status}`);
  const m = await res.json() as Partial<SiteManifest>;
  if (m?.format !== "vifi-site" || !m.model?.file) {
    throw new Error(`vifi: ${url} is not a vifi site manifest (deno task site writes one)`);
  }
  return m as SiteManifest;
}

/**
 * The URL the page reads the model from: the file with its digest as the query. Any static host ignores the
 * query, while the browser's cache (keyed by URL) keeps a new model file apart from the one an earlier
 * build of the site left there under the same name.
 */
export function modelUrl(m: SiteManifest): string {
  return `${m.model.file}?v=${m.model.sha256.slice(0, 16)}`;
}
