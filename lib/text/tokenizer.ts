// CLIP's byte-level BPE tokenizer (docs/upstream.md §10), as openai/CLIP, X-CLIP and ViFi-CLIP use it, plus a
// byte-level fallback for small models trained from scratch. The ids must match the reference exactly:
// the text tower reads the embedding row of every id and pools at the EOT position.

import { BPE_VOCAB, defaultCacheDir } from "../io/download.ts";
import { cleanText, PY_SPACE } from "./clean.ts";

export { cleanText } from "./clean.ts";

/** 48,894 = 49,152 − 256 byte symbols − 2 specials: CLIP's vocabulary is sized to 49,408 with `</w>` forms. */
export const CLIP_MERGES = 49152 - 256 - 2;
export const CLIP_SOT = 49406;
export const CLIP_EOT = 49407;
export const CLIP_VOCAB_SIZE = 49408;
export const CLIP_CONTEXT = 77;

/**
 * The tokenizers a model can be trained with: CLIP's BPE, byte-level, or a closed word list
 * (lib/text/words.ts) for small models trained from scratch on a known vocabulary.
 */
export const TOKENIZER_KINDS = ["clip", "bytes", "words"] as const;
export type TokenizerKind = typeof TOKENIZER_KINDS[number];

export interface TokenizeOptions {
  /** keep the first `context` ids and make the last one EOT instead of throwing (CLIP's `truncate=True`) */
  truncate?: boolean;
}

/** What the text tower needs from a tokenizer. */
export interface TextTokenizer {
  readonly vocabSize: number;
  readonly sot: number;
  readonly eot: number;
  /** ids of the cleaned text, without SOT/EOT */
  encode(text: string): number[];
  /** `[n, context]` rows: SOT, ids, EOT, zero padding */
  tokenize(texts: string[], context?: number, options?: TokenizeOptions): Int32Array;
  /** text of the ids between SOT and the first EOT; padding after EOT is ignored */
  decode(ids: ArrayLike<number>): string;
}

/** A prompt whose SOT + ids + EOT do not fit the context. */
export class PromptTooLongError extends Error {
  constructor(readonly text: string, readonly tokens: number, readonly context: number) {
    super(
      `prompt ${JSON.stringify(text)} is ${tokens} tokens with SOT/EOT, over the context length ${context} ` +
        `(shorten it, or tokenize with truncate)`,
    );
    this.name = "PromptTooLongError";
  }
}

/** `[n, context]` rows SOT, ids, EOT, zero padding (any tokenizer's `tokenize`). */
export function packRows(
  t: TextTokenizer,
  texts: string[],
  context: number,
  options: TokenizeOptions,
): Int32Array {
  if (!Array.isArray(texts)) throw new TypeError("tokenize: expected an array of strings");
  if (!Number.isInteger(context) || context < 2) {
    throw new RangeError(`tokenize: bad context length ${context}`);
  }
  const out = new Int32Array(texts.length * context);
  texts.forEach((text, r) => {
    const ids = t.encode(text);
    if (ids.length + 2 > context && !options.truncate) {
      throw new PromptTooLongError(text, ids.length + 2, context);
    }
    const n = Math.min(ids.length, context - 2);
    const row = r * context;
    out[row] = t.sot;
    for (let i = 0; i < n; i++) out[row + 1 + i] = ids[i];
    out[row + 1 + n] = t.eot;
  });
  return out;
}

/**
 * GPT-2's reversible byte→character table: printable bytes stand for themselves, the other 68 take
 * U+0100.. in byte order, so every byte string is a string of visible, non-space characters.
 * Returns the bytes in the order CLIP numbers them (printable first) and each byte's character.
 */
function byteTable(): { order: number[]; char: string[] } {
  const printable = (b: number) => (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
  const order: number[] = [];
  const char: string[] = new Array(256);
  for (let b = 0; b < 256; b++) {
    if (printable(b)) {
      order.push(b);
      char[b] = String.fromCharCode(b);
    }
  }
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!printable(b)) {
      order.push(b);
      char[b] = String.fromCharCode(256 + n++);
    }
  }
  return { order, char };
}

const BYTES = byteTable();
const BYTE_OF = new Map(BYTES.char.map((c, b) => [c, b]));

// Python `regex` alternatives in order; the text is already lower-case, so CLIP's IGNORECASE only
// matters for the contractions, which the `i` flag covers. Whitespace is Python's set, not JS's `\s`.
const PRE_TOKEN = new RegExp(
  `<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|\\p{L}+|\\p{N}|[^${PY_SPACE}\\p{L}\\p{N}]+`,
  "giu",
);

/** Word cache bound: prompts reuse few words, but a long-running process fed arbitrary text must not grow forever. */
const CACHE_LIMIT = 100_000;

const utf8 = new TextEncoder();
const utf8Lenient = new TextDecoder("utf-8", { fatal: false });

function gunzipIfNeeded(bytes: Uint8Array): Promise<Uint8Array> | Uint8Array {
  if (bytes[0] !== 0x1f || bytes[1] !== 0x8b) return bytes;
  const stream = new Blob([bytes as BlobPart]).stream().pipeThrough(new DecompressionStream("gzip"));
  return new Response(stream).bytes();
}

function parseMerge(line: string, where: string): [string, string] {
  const parts = line.split(" ");
  if (parts.length !== 2 || !parts[0] || !parts[1]) {
    throw new Error(`${where}: expected a merge rule "A B", got ${JSON.stringify(line.slice(0, 80))}`);
  }
  return [parts[0], parts[1]];
}

export class ClipTokenizer implements TextTokenizer {
  readonly vocabSize: number;
  private readonly cache = new Map<string, number[]>();

  private constructor(
    private readonly ids: Map<string, number>,
    private readonly symbols: string[],
    /** "A B" → rank; symbols never contain a space (byte 0x20 is U+0120 here) */
    private readonly ranks: Map<string, number>,
    readonly sot: number,
    readonly eot: number,
  ) {
    this.vocabSize = symbols.length;
  }

  /** CLIP's `bpe_simple_vocab_16e6.txt.gz` (or the same text uncompressed). */
  static async fromFile(path: string): Promise<ClipTokenizer> {
    return await ClipTokenizer.fromBytes(await Deno.readFile(path), path);
  }

  /** The vocabulary file's bytes, gzipped or not (a page fetches them; no file system needed). */
  static async fromBytes(bytes: Uint8Array, source = "BPE vocabulary"): Promise<ClipTokenizer> {
    return ClipTokenizer.fromMergesText(utf8Lenient.decode(await gunzipIfNeeded(bytes)), source);
  }

  /** The original vocabulary's text: a header line, then merge rules; the vocabulary is derived from them. */
  static fromMergesText(text: string, source = "BPE vocabulary"): ClipTokenizer {
    const lines = text.split("\n");
    if (lines.length < CLIP_MERGES + 1) {
      throw new Error(`${source}: ${lines.length} lines, need a header and ${CLIP_MERGES} merges`);
    }
    const symbols: string[] = BYTES.order.map((b) => BYTES.char[b]);
    for (let i = 0; i < 256; i++) symbols.push(symbols[i] + "</w>");
    const ranks = new Map<string, number>();
    for (let i = 0; i < CLIP_MERGES; i++) {
      const [a, b] = parseMerge(lines[i + 1], `${source}:${i + 2}`);
      ranks.set(`${a} ${b}`, i);
      symbols.push(a + b);
    }
    symbols.push("<|startoftext|>", "<|endoftext|>");
    // later duplicates would shadow earlier ids; CLIP's dict keeps the last, and so does Map
    const ids = new Map(symbols.map((s, i) => [s, i]));
    return new ClipTokenizer(ids, symbols, ranks, CLIP_SOT, CLIP_EOT);
  }

  /** Hugging Face's `vocab.json` (text or parsed) and `merges.txt` (`#version` header, one "A B" per line). */
  static fromHf(vocabJson: string | Record<string, number>, mergesTxt: string): ClipTokenizer {
    const vocab: Record<string, number> = typeof vocabJson === "string" ? JSON.parse(vocabJson) : vocabJson;
    const ids = new Map<string, number>();
    const symbols: string[] = [];
    for (const [s, id] of Object.entries(vocab)) {
      if (!Number.isInteger(id) || id < 0) {
        throw new Error(`vocab.json: bad id ${id} for ${JSON.stringify(s)}`);
      }
      ids.set(s, id);
      symbols[id] = s;
    }
    for (let i = 0; i < symbols.length; i++) {
      if (symbols[i] === undefined) throw new Error(`vocab.json: no token has id ${i}`);
    }
    const ranks = new Map<string, number>();
    mergesTxt.split("\n").forEach((raw, i) => {
      const line = raw.replace(/\r$/, "");
      if (line === "" || (i === 0 && line.startsWith("#version"))) return;
      const [a, b] = parseMerge(line, `merges.txt:${i + 1}`);
      if (!ranks.has(`${a} ${b}`)) ranks.set(`${a} ${b}`, ranks.size);
    });
    const sot = ids.get("<|startoftext|>");
    const eot = ids.get("<|endoftext|>");
    if (sot === undefined || eot === undefined) {
      throw new Error("vocab.json: <|startoftext|> and <|endoftext|> are required");
    }
    for (const c of BYTES.char) {
      if (!ids.has(c) || !ids.has(c + "</w>")) {
        throw new Error(`vocab.json: not a CLIP byte-level vocabulary (no ${JSON.stringify(c)})`);
      }
    }
    return new ClipTokenizer(ids, symbols, ranks, sot, eot);
  }

  /** Drops the per-word cache (for benchmarks of first-time tokenisation). */
  clearCache(): void {
    this.cache.clear();
  }

  /** Symbols of one pre-token (already byte-mapped): merge the lowest-ranked adjacent pair everywhere, repeat. */
  private bpe(token: string): string[] {
    let word = Array.from(token);
    word[word.length - 1] += "</w>";
    while (word.length > 1) {
      let best = Infinity;
      let first = "";
      let second = "";
      for (let i = 0; i + 1 < word.length; i++) {
        const r = this.ranks.get(`${word[i]} ${word[i + 1]}`);
        if (r !== undefined && r < best) {
          best = r;
          first = word[i];
          second = word[i + 1];
        }
      }
      if (best === Infinity) break;
      const merged: string[] = [];
      for (let i = 0; i < word.length;) {
        if (word[i] === first && i + 1 < word.length && word[i + 1] === second) {
          merged.push(first + second);
          i += 2;
        } else merged.push(word[i++]);
      }
      word = merged;
    }
    return word;
  }

  private encodeWord(piece: string): number[] {
    const hit = this.cache.get(piece);
    if (hit) return hit;
    let ids: number[];
    if (piece === "<|startoftext|>") ids = [this.sot];
    else if (piece === "<|endoftext|>") ids = [this.eot];
    else {
      let mapped = "";
      for (const b of utf8.encode(piece)) mapped += BYTES.char[b];
      ids = this.bpe(mapped).map((s) => {
        const id = this.ids.get(s);
        if (id === undefined) {
          throw new Error(`BPE produced ${JSON.stringify(s)}, which the vocabulary lacks`);
        }
        return id;
      });
    }
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    this.cache.set(piece, ids);
    return ids;
  }

  encode(text: string): number[] {
    const out: number[] = [];
    for (const m of cleanText(text).matchAll(PRE_TOKEN)) {
      for (const id of this.encodeWord(m[0])) out.push(id);
    }
    return out;
  }

  tokenize(texts: string[], context = CLIP_CONTEXT, options: TokenizeOptions = {}): Int32Array {
    return packRows(this, texts, context, options);
  }

  /** CLIP's decode (symbols → bytes → UTF-8, `</w>` → space) between SOT and the first EOT, trimmed. */
  decode(ids: ArrayLike<number>): string {
    const bytes: number[] = [];
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (id === this.eot) break;
      if (id === this.sot) continue;
      const s = this.symbols[id];
      if (s === undefined) {
        throw new RangeError(`decode: id ${id} outside the vocabulary (${this.vocabSize})`);
      }
      for (const c of s) {
        const b = BYTE_OF.get(c);
        if (b === undefined) { for (const x of utf8.encode(c)) bytes.push(x); }
        else bytes.push(b);
      }
    }
    return utf8Lenient.decode(new Uint8Array(bytes)).replaceAll("</w>", " ").trim();
  }
}

/**
 * Byte-level tokenizer without merges, for tiny models trained from scratch: ids 0..255 are the UTF-8
 * bytes of the cleaned text, SOT and EOT are the last two ids of the vocabulary (size ≥ 258). EOT being
 * the largest id keeps CLIP's pooling rule (argmax of the ids) valid. Text is cleaned exactly like CLIP's,
 * so the same prompt strings can be used with either.
 */
export class ByteTokenizer implements TextTokenizer {
  readonly sot: number;
  readonly eot: number;

  constructor(readonly vocabSize = 258) {
    if (!Number.isInteger(vocabSize) || vocabSize < 258) {
      throw new RangeError(`ByteTokenizer: vocabulary size ${vocabSize} < 258 (256 bytes + SOT + EOT)`);
    }
    this.sot = vocabSize - 2;
    this.eot = vocabSize - 1;
  }

  encode(text: string): number[] {
    return Array.from(utf8.encode(cleanText(text)));
  }

  tokenize(texts: string[], context = CLIP_CONTEXT, options: TokenizeOptions = {}): Int32Array {
    return packRows(this, texts, context, options);
  }

  decode(ids: ArrayLike<number>): string {
    const bytes: number[] = [];
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (id === this.eot) break;
      if (id >= 0 && id < 256) bytes.push(id); // SOT and unused ids between 256 and SOT carry no text
    }
    return utf8Lenient.decode(new Uint8Array(bytes));
  }
}

export interface LoadTokenizerOptions {
  /** the `.txt.gz` vocabulary, or a folder holding Hugging Face's vocab.json + merges.txt */
  vocab?: string;
  /** where `deno task weights download` put the vocabulary (default: defaultCacheDir()) */
  cacheDir?: string;
}

const HOW_TO_GET =
  "run `deno task weights download ViT-B/16` to fetch it into the cache, or pass --vocab FILE (bpe_simple_vocab_16e6.txt.gz)";

/** CLIP's tokenizer from an explicit path, else from the vifi cache. */
export async function loadTokenizer(opts: LoadTokenizerOptions = {}): Promise<ClipTokenizer> {
  let path = opts.vocab;
  if (!path) {
    let dir = opts.cacheDir;
    if (!dir) {
      try {
        dir = defaultCacheDir();
      } catch (e) {
        throw new Error(`no CLIP BPE vocabulary: ${(e as Error).message}; ${HOW_TO_GET}`);
      }
    }
    path = `${dir.replace(/\/+$/, "")}/${BPE_VOCAB.file}`;
  }
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new Error(`no CLIP BPE vocabulary at ${path}; ${HOW_TO_GET}`);
    }
    throw e;
  }
  if (info.isDirectory) {
    const [vocab, merges] = await Promise.all([
      Deno.readTextFile(`${path}/vocab.json`),
      Deno.readTextFile(`${path}/merges.txt`),
    ]).catch((e) => {
      throw new Error(
        `${path}: a vocabulary folder needs vocab.json and merges.txt (${(e as Error).message})`,
      );
    });
    return ClipTokenizer.fromHf(vocab, merges);
  }
  return ClipTokenizer.fromFile(path);
}
