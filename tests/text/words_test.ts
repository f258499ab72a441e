// The closed-vocabulary word tokenizer: ids, SOT/EOT at the top of the table, cleaning, refusals.
import { readWordList, splitWords, wordsOf, WordTokenizer } from "../../lib/text/words.ts";
import { PromptTooLongError } from "../../lib/text/tokenizer.ts";

function expectEqual<T>(got: T, want: T, what: string) {
  if (JSON.stringify(got) !== JSON.stringify(want)) {
    throw new Error(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
  }
}

function expectThrows(f: () => unknown, pattern: RegExp, what: string) {
  try {
    f();
  } catch (e) {
    const m = e instanceof Error ? e.message : String(e);
    if (!pattern.test(m)) throw new Error(`${what}: message ${JSON.stringify(m)} does not match ${pattern}`);
    return;
  }
  throw new Error(`${what}: did not throw`);
}

const WORDS = [".", "a", "circle", "moving", "of", "photo", "red", "up"];

Deno.test("words tokenizer: one id per word in list order, SOT and EOT the last two table rows", () => {
  const t = new WordTokenizer(WORDS, 16);
  expectEqual([t.sot, t.eot], [14, 15], "sot/eot");
  expectEqual(t.encode("a photo of a red circle moving up."), [1, 5, 4, 1, 6, 2, 3, 7, 0], "encode");
  const rows = t.tokenize(["red circle", "a photo."], 6);
  expectEqual(Array.from(rows), [14, 6, 2, 15, 0, 0, 14, 1, 5, 0, 15, 0], "tokenize rows");
  expectEqual(new WordTokenizer(WORDS).vocabSize, 10, "default table: words + 2");
});

Deno.test("words tokenizer: CLIP's cleaning (case, spacing) before splitting; punctuation is a word", () => {
  expectEqual(
    splitWords("  A   RED\tcircle,moving UP. "),
    ["a", "red", "circle", ",", "moving", "up", "."],
    "split",
  );
  const t = new WordTokenizer(WORDS);
  expectEqual(t.encode("A  Red CIRCLE."), t.encode("a red circle."), "case and spaces");
});

Deno.test("words tokenizer: decode inverts encode up to spacing before punctuation", () => {
  const t = new WordTokenizer(WORDS, 12);
  const text = "a photo of a red circle moving up.";
  expectEqual(t.decode(t.tokenize([text], 12)), text, "round trip");
  expectEqual(t.decode([t.sot, 6, t.eot, 2, 2]), "red", "stops at EOT");
});

Deno.test("words tokenizer refuses unknown words, long prompts, bad lists and small tables", () => {
  const t = new WordTokenizer(WORDS, 16, "the word list w.txt");
  expectThrows(() => t.encode("a blue circle"), /"blue".*not in the word list w\.txt \(8 words\)/, "unknown");
  try {
    t.tokenize(["a photo of a red circle moving up."], 8);
    throw new Error("a 11-token prompt fitted 8 positions");
  } catch (e) {
    if (!(e instanceof PromptTooLongError)) throw e;
  }
  expectThrows(() => new WordTokenizer(WORDS, 9), /8 words.*10 token ids.*9 rows/, "table too small");
  expectThrows(() => new WordTokenizer(["red", "red"]), /"red" is listed twice/, "duplicate");
  expectThrows(() => new WordTokenizer(["red circle"]), /entry 1 "red circle" is not one/, "two words");
  expectThrows(() => new WordTokenizer(["Red"]), /not one lower-case word/, "upper case");
});

Deno.test("wordsOf collects the sorted distinct words of templates, dropping placeholders", () => {
  expectEqual(wordsOf(["a photo of a {name}.", "a {c} {s}", "Red circle"]), [
    ".",
    "a",
    "circle",
    "of",
    "photo",
    "red",
  ], "words");
});

Deno.test("readWordList reads one word per line and names the file and line of a bad entry", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/ok.txt`, "red\n\ncircle\n");
    expectEqual((await readWordList(`${dir}/ok.txt`)).words, ["red", "circle"], "list");
    await Deno.writeTextFile(`${dir}/bad.txt`, "red\nblue square\n");
    let msg = "";
    await readWordList(`${dir}/bad.txt`).catch((e) => msg = e.message);
    if (!msg.includes("bad.txt:2") || !msg.includes("blue square")) throw new Error(`message: ${msg}`);
    await Deno.writeTextFile(`${dir}/empty.txt`, "\n\n");
    msg = "";
    await readWordList(`${dir}/empty.txt`).catch((e) => msg = e.message);
    if (!msg.includes("has no words")) throw new Error(`message: ${msg}`);
    msg = "";
    await readWordList(`${dir}/missing.txt`).catch((e) => msg = e.message);
    if (!msg.includes("missing.txt")) throw new Error(`message: ${msg}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
