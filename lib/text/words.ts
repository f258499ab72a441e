// A closed-vocabulary word tokenizer: each word of a fixed list is one id, as CLIP's BPE gives common English
// words one token each. For small models trained from scratch on a known world (the synthetic demo), it
// spares the text tower learning to spell: "triangle" is one embedding row, not eight bytes to compose.
// The cleaning is CLIP's (lowercase, whitespace collapsed); words are runs of letters and digits, and each
// other non-space character (".", ",") is a word of its own. SOT and EOT are the last two rows of the
// model's token table, as for the byte-level tokenizer; a word outside the list is an error, never a
// silent unknown token.

import { cleanText } from "./clean.ts";
import { packRows, type TextTokenizer, type TokenizeOptions } from "./tokenizer.ts";

const WORD = /[\p{L}\p{N}]+|[^\s\p{L}\p{N}]/gu;

/** The words of `text` as the tokenizer splits them (after CLIP's cleaning). */
export function splitWords(text: string): string[] {
  return cleanText(text).match(WORD) ?? [];
}

/** A word the tokenizer's list does not hold. */
export class UnknownWordError extends Error {
  constructor(readonly word: string, readonly text: string, readonly source: string, count: number) {
    super(`vifi: ${JSON.stringify(word)} (in ${JSON.stringify(text)}) is not in ${source} (${count} words)`);
    this.name = "UnknownWordError";
  }
}

export class WordTokenizer implements TextTokenizer {
  readonly sot: number;
  readonly eot: number;
  private readonly ids: Map<string, number>;

  /**
   * `words` in id order; `vocabSize` the model's token table rows (default words + SOT + EOT); `source`
   * names the list in errors (e.g. its file).
   */
  constructor(
    readonly words: readonly string[],
    readonly vocabSize = words.length + 2,
    readonly source = "the word list",
  ) {
    if (words.length + 2 > vocabSize) {
      throw new RangeError(
        `vifi: ${source} has ${words.length} words; with SOT and EOT they need ${words.length + 2} ` +
          `token ids, but the model's token table has ${vocabSize} rows`,
      );
    }
    this.ids = new Map();
    words.forEach((w, i) => {
      if (splitWords(w).length !== 1 || splitWords(w)[0] !== w) {
        throw new Error(`vifi: ${source}: entry ${i + 1} ${JSON.stringify(w)} is not one lower-case word`);
      }
      if (this.ids.has(w)) throw new Error(`vifi: ${source}: ${JSON.stringify(w)} is listed twice`);
      this.ids.set(w, i);
    });
    this.sot = vocabSize - 2;
    this.eot = vocabSize - 1;
  }

  encode(text: string): number[] {
    return splitWords(text).map((w) => {
      const id = this.ids.get(w);
      if (id === undefined) throw new UnknownWordError(w, text, this.source, this.words.length);
      return id;
    });
  }

  tokenize(texts: string[], context = 16, options: TokenizeOptions = {}): Int32Array {
    return packRows(this, texts, context, options);
  }

  /** The words between SOT and the first EOT, spaced as written: no space before punctuation. */
  decode(ids: ArrayLike<number>): string {
    let s = "";
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (id === this.eot) break;
      const w = this.words[id];
      if (w === undefined) continue; // SOT and unused rows carry no text
      s += s === "" || !/^[\p{L}\p{N}]/u.test(w) ? w : ` ${w}`;
    }
    return s;
  }
}

/** The sorted, distinct words of `texts` (placeholders such as "{name}" dropped): a word list for them. */
export function wordsOf(texts: Iterable<string>): string[] {
  const set = new Set<string>();
  for (const t of texts) for (const w of splitWords(t.replace(/\{[^}]*\}/g, " "))) set.add(w);
  return [...set].sort();
}

/** Reads a word list: one word per line, blank lines skipped; errors name the file and line. */
export async function readWordList(path: string): Promise<WordList> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw new Error(`vifi: word list ${path}: ${e instanceof Error ? e.message : e}`);
  }
  const words: string[] = [];
  text.split("\n").forEach((line, i) => {
    const w = line.trim();
    if (w === "") return;
    const split = splitWords(w);
    if (split.length !== 1 || split[0] !== w) {
      throw new Error(`vifi: word list ${path}:${i + 1}: ${JSON.stringify(w)} is not one lower-case word`);
    }
    words.push(w);
  });
  if (words.length === 0) throw new Error(`vifi: word list ${path} has no words`);
  return { words, path };
}

export interface WordList {
  words: string[];
  path: string;
}
