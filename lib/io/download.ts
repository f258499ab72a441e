// Fetching OpenAI's CLIP releases and the BPE vocabulary into a local cache. OpenAI publishes each
// model under a folder named by the file's SHA-256, so the URL itself says what the bytes must hash
// to. Downloads go to `<file>.part`, resume with an HTTP Range request after an interruption, and
// become `<file>` only once the hash matches, so the cache never holds a file that was not verified.

import { readEnv } from "./env.ts";

export interface Release {
  /** file name on the server and in the cache */
  file: string;
  sha256: string;
}

/** OpenAI's published CLIP ViT checkpoints (TorchScript archives, fp16). */
export const CLIP_RELEASES: Readonly<Record<string, Release>> = {
  "ViT-B/16": {
    file: "ViT-B-16.pt",
    sha256: "5806e77cd80f8b59890b7e101eabd078d9fb84e6937f9e85e4ecb61988df416f",
  },
  "ViT-B/32": {
    file: "ViT-B-32.pt",
    sha256: "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af",
  },
  "ViT-L/14": {
    file: "ViT-L-14.pt",
    sha256: "b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836",
  },
};

export const CLIP_RELEASE_BASE = "https://openaipublic.azureedge.net/clip/models";

/** CLIP's byte-pair-encoding merges, the same bytes in openai/CLIP, X-CLIP and ViFi-CLIP. */
export const BPE_VOCAB: Release & { url: string } = {
  file: "bpe_simple_vocab_16e6.txt.gz",
  url: "https://github.com/openai/CLIP/raw/main/clip/bpe_simple_vocab_16e6.txt.gz",
  sha256: "924691ac288e54409236115652ad4aa250f48203de50a9e4722a6ecd48d6804a",
};

const SHA256_HEX = /^[0-9a-f]{64}$/;

/** The SHA-256 OpenAI's layout puts in the folder name (`…/<sha256>/<file>`), if the URL has one. */
export function sha256FromUrl(url: string): string | undefined {
  const parts = new URL(url).pathname.split("/").filter(Boolean);
  const folder = parts.at(-2)?.toLowerCase();
  return folder && SHA256_HEX.test(folder) ? folder : undefined;
}

/**
 * Where a release is fetched from. `baseUrl` stands for OpenAI's `…/clip/models` folder (a mirror,
 * or a test server): the model goes under `<baseUrl>/<sha256>/<file>` unless `baseUrl` already
 * ends in a SHA-256 folder, and the vocabulary is `<baseUrl>/bpe_simple_vocab_16e6.txt.gz`.
 */
export function releaseUrls(name: string, baseUrl?: string): { weights: string; vocab: string } {
  const release = CLIP_RELEASES[name];
  if (!release) {
    throw new Error(
      `vifi: no CLIP release called ${JSON.stringify(name)}; known: ${Object.keys(CLIP_RELEASES).join(", ")}`,
    );
  }
  if (!baseUrl) {
    return { weights: `${CLIP_RELEASE_BASE}/${release.sha256}/${release.file}`, vocab: BPE_VOCAB.url };
  }
  const base = baseUrl.replace(/\/+$/, "");
  const last = new URL(base).pathname.split("/").filter(Boolean).at(-1)?.toLowerCase() ?? "";
  const folder = SHA256_HEX.test(last) ? base : `${base}/${release.sha256}`;
  return { weights: `${folder}/${release.file}`, vocab: `${base}/${BPE_VOCAB.file}` };
}

/** `$VIFI_CACHE`, else `~/.cache/vifi`. */
export function defaultCacheDir(): string {
  // an unreadable variable (no env permission) falls through to the next choice
  const dir = readEnv("VIFI_CACHE");
  if (dir) return dir;
  const home = readEnv("HOME") ?? readEnv("USERPROFILE");
  if (!home) throw new Error("vifi: no cache folder: set VIFI_CACHE or HOME, or pass --cache");
  return `${home}/.cache/vifi`;
}

export async function sha256File(path: string): Promise<string> {
  return await sha256Hex(await Deno.readFile(path));
}

/** SHA-256 of bytes already in memory, as lowercase hex. */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

async function fileSize(path: string): Promise<number | undefined> {
  try {
    return (await Deno.stat(path)).size;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
}

export type Progress = (received: number, total: number | undefined) => void;

export interface DownloadOptions {
  /** lower-case hex SHA-256 the bytes must have */
  sha256: string;
  onProgress?: Progress;
  /** notes for the user (resuming, restarting); default: none */
  log?: (message: string) => void;
  /** tries before giving up on a connection that keeps failing (default 5) */
  attempts?: number;
}

export interface DownloadResult {
  path: string;
  bytes: number;
  sha256: string;
  /** already in the cache with the right hash; nothing was fetched */
  cached: boolean;
  /** continued a partial download (from an earlier run or a dropped connection) */
  resumed: boolean;
}

export class HashMismatchError extends Error {
  constructor(readonly url: string, readonly expected: string, readonly actual: string) {
    super(
      `vifi: ${url} does not have the expected SHA-256 (expected ${expected}, got ${actual}); ` +
        "the download was deleted. A proxy or mirror may have served the wrong file.",
    );
    this.name = "HashMismatchError";
  }
}

class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/** Parse `bytes start-end/total` (total may be `*`). */
function contentRange(header: string | null): { start: number; total?: number } | undefined {
  const m = header && /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(header.trim());
  return m ? { start: Number(m[1]), total: m[3] === "*" ? undefined : Number(m[3]) } : undefined;
}

/**
 * Download `url` to `dest`, verified. Resumes `dest.part` where it stopped (Range request; a server
 * that ignores the range sends the whole file and we start over), retries dropped connections, and
 * renames to `dest` only when the SHA-256 matches. A mismatch deletes the partial file and throws
 * HashMismatchError — after one fresh retry when the mismatch followed a resume, since the old
 * partial file may have been from another version of the file.
 */
export async function downloadVerified(
  url: string,
  dest: string,
  opts: DownloadOptions,
): Promise<DownloadResult> {
  const expected = opts.sha256.toLowerCase();
  if (!SHA256_HEX.test(expected)) throw new Error(`vifi: ${JSON.stringify(opts.sha256)} is not a SHA-256`);
  const log = opts.log ?? (() => {});
  if ((await fileSize(dest)) !== undefined) {
    const actual = await sha256File(dest);
    if (actual === expected) {
      return { path: dest, bytes: (await fileSize(dest))!, sha256: actual, cached: true, resumed: false };
    }
    log(`${dest} is in the cache but its SHA-256 is ${actual}, not ${expected}; downloading it again`);
    await Deno.remove(dest);
  }
  const part = `${dest}.part`;
  const attempts = opts.attempts ?? 5;
  let resumed = false, freshRetryUsed = false, lastError: unknown;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    let madeProgress = false;
    try {
      const complete = await fetchInto(url, part, opts.onProgress, log, (r) => {
        resumed ||= r;
        madeProgress = true;
      });
      if (!complete) {
        lastError = new Error("the connection closed before the whole file arrived");
        continue;
      }
    } catch (e) {
      lastError = e;
      if (e instanceof HttpError && e.status < 500) throw e; // 404 and friends will not get better
      if (!madeProgress && attempt < attempts) await new Promise((r) => setTimeout(r, 500 * attempt));
      continue;
    }
    const actual = await sha256File(part);
    if (actual === expected) {
      await Deno.rename(part, dest);
      return { path: dest, bytes: (await fileSize(dest))!, sha256: actual, cached: false, resumed };
    }
    await Deno.remove(part);
    if (resumed && !freshRetryUsed) {
      freshRetryUsed = true;
      resumed = false;
      log("the resumed download does not verify; downloading it again from the start");
      attempt--; // the fresh try is on top of the connection retries
      continue;
    }
    throw new HashMismatchError(url, expected, actual);
  }
  throw new Error(
    `vifi: cannot download ${url} after ${attempts} attempts: ${
      lastError instanceof Error ? lastError.message : lastError
    } (the partial file ${part} is kept; run again to resume)`,
  );
}

/**
 * One request into `part`, appending when the server honours the range. Returns whether the body
 * arrived whole (false when it ended short of the announced length).
 */
async function fetchInto(
  url: string,
  part: string,
  onProgress: Progress | undefined,
  log: (m: string) => void,
  started: (resumed: boolean) => void,
): Promise<boolean> {
  const have = (await fileSize(part)) ?? 0;
  const res = await fetch(url, { headers: have ? { Range: `bytes=${have}-` } : {} });
  if (res.status === 416 && have) {
    // the part already holds everything (or more than) the server has: let the hash decide
    await res.body?.cancel();
    started(true);
    return true;
  }
  if (!res.ok || !res.body) {
    await res.body?.cancel();
    throw new HttpError(res.status, `vifi: ${url}: HTTP ${res.status} ${res.statusText}`);
  }
  let offset = 0;
  let total: number | undefined;
  const length = res.headers.get("content-length");
  const encoded = res.headers.get("content-encoding");
  if (res.status === 206) {
    const range = contentRange(res.headers.get("content-range"));
    if (!range || range.start !== have) {
      await res.body.cancel();
      await Deno.remove(part).catch(() => {});
      throw new Error(
        `unusable partial response (Content-Range ${res.headers.get("content-range")}); starting over`,
      );
    }
    offset = have;
    total = range.total;
    if (have) log(`resuming ${url} at byte ${have}`);
  } else {
    if (have) log(`the server ignored the range request; downloading ${url} from the start`);
    total = length && !encoded ? Number(length) : undefined;
  }
  started(offset > 0);
  const file = await Deno.open(part, {
    write: true,
    create: true,
    append: offset > 0,
    truncate: offset === 0,
  });
  let received = offset;
  try {
    onProgress?.(received, total);
    for await (const chunk of res.body) {
      await writeAll(file, chunk);
      received += chunk.length;
      onProgress?.(received, total);
    }
  } finally {
    file.close();
  }
  return total === undefined || received >= total;
}

async function writeAll(file: Deno.FsFile, chunk: Uint8Array): Promise<void> {
  for (let done = 0; done < chunk.length;) done += await file.write(chunk.subarray(done));
}

function mb(n: number): string {
  return (n / 1e6).toFixed(1);
}

/**
 * A progress display on stderr: a redrawn bar on a terminal, one line per 10 % otherwise (logs and
 * CI would otherwise fill with carriage returns).
 */
export function stderrProgress(label: string, opts: { tty?: boolean } = {}): Progress & { done(): void } {
  const tty = opts.tty ?? Deno.stderr.isTerminal();
  const enc = new TextEncoder();
  const write = (s: string) => Deno.stderr.writeSync(enc.encode(s));
  const t0 = performance.now();
  let first: number | undefined, lastDraw = 0, lastStep = -1, drawn = false;
  const fn = (received: number, total: number | undefined) => {
    first ??= received;
    const now = performance.now();
    if (tty) {
      if (now - lastDraw < 100 && received !== total) return;
      lastDraw = now;
      const rate = (received - first) / Math.max((now - t0) / 1000, 1e-3);
      const width = 30;
      const frac = total ? Math.min(received / total, 1) : 0;
      const bar = total
        ? `[${"#".repeat(Math.round(frac * width)).padEnd(width, "-")}] ${
          (frac * 100).toFixed(0).padStart(3)
        }% `
        : "";
      write(`\r${label} ${bar}${mb(received)}${total ? `/${mb(total)}` : ""} MB ${mb(rate)} MB/s   `);
      drawn = true;
    } else {
      // unknown totals get a line per 50 MB instead of per 10 %
      const step = total ? Math.floor((received / total) * 10) : Math.floor(received / 50e6);
      if (step === lastStep) return;
      lastStep = step;
      write(`${label}: ${total ? `${step * 10}% ` : ""}${mb(received)}${total ? `/${mb(total)}` : ""} MB\n`);
    }
  };
  return Object.assign(fn, {
    done() {
      if (tty && drawn) write("\n");
    },
  });
}

export interface ClipDownload {
  weights: DownloadResult;
  vocab?: DownloadResult;
}

/** Fetch a CLIP release (and, unless `vocab: false`, the BPE vocabulary) into `cacheDir`. */
export async function downloadClip(
  name: string,
  opts: {
    cacheDir?: string;
    baseUrl?: string;
    vocab?: boolean;
    progress?: boolean;
    log?: (m: string) => void;
  } = {},
): Promise<ClipDownload> {
  const release = CLIP_RELEASES[name];
  const urls = releaseUrls(name, opts.baseUrl);
  const sha = sha256FromUrl(urls.weights);
  if (!sha) throw new Error(`vifi: cannot verify ${urls.weights}: its path has no SHA-256 folder`);
  if (sha !== release.sha256) {
    opts.log?.(`note: verifying ${release.file} against the SHA-256 in its URL (${sha}), not OpenAI's`);
  }
  const dir = opts.cacheDir ?? defaultCacheDir();
  await Deno.mkdir(dir, { recursive: true });
  const get = async (url: string, file: string, sha256: string) => {
    const bar = opts.progress ? stderrProgress(file) : undefined;
    try {
      return await downloadVerified(url, `${dir}/${file}`, { sha256, onProgress: bar, log: opts.log });
    } finally {
      bar?.done();
    }
  };
  const weights = await get(urls.weights, release.file, sha);
  const vocab = opts.vocab === false ? undefined : await get(urls.vocab, BPE_VOCAB.file, BPE_VOCAB.sha256);
  return { weights, vocab };
}
