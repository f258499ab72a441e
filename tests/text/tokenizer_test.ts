// CLIP tokenizer against the docs/upstream.md §10 vectors and every shipped class name, the Hugging Face file
// layout, the byte-level fallback and `deno task tokenize` as a separate process. Needs the reference
// vocabulary next to the checkout; without it the vocabulary tests are skipped with a printed reason.

import { deepStrictEqual as assertEquals, match as assertMatch, ok as assert } from "node:assert/strict";
import {
  ByteTokenizer,
  CLIP_EOT,
  CLIP_MERGES,
  CLIP_SOT,
  ClipTokenizer,
  loadTokenizer,
  PromptTooLongError,
} from "../../lib/text/tokenizer.ts";
import { cleanText, htmlUnescape } from "../../lib/text/clean.ts";
import { parseLabelCsv } from "../../lib/data/labels.ts";

const DATA = new URL("../../../shared/reference/vificlip-data/", import.meta.url);
const VOCAB = decodeURIComponent(new URL("clip/bpe_simple_vocab_16e6.txt.gz", DATA).pathname);
const LABELS = decodeURIComponent(new URL("labels/", DATA).pathname);
const CLI = decodeURIComponent(new URL("../../lib/cli/tokenize.ts", import.meta.url).pathname);

const haveVocab = await Deno.stat(VOCAB).then(() => true, () => false);
const haveLabels = await Deno.stat(LABELS).then(() => true, () => false);
if (!haveVocab) console.warn(`tokenizer tests skipped: no reference vocabulary at ${VOCAB}`);
if (!haveLabels) console.warn(`label tests skipped: no reference label CSVs in ${LABELS}`);

let cached: Promise<ClipTokenizer> | undefined;
const clip = () => (cached ??= ClipTokenizer.fromFile(VOCAB));

async function labelFiles(): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  const names = [];
  for await (const e of Deno.readDir(LABELS)) if (e.isFile && e.name.endsWith(".csv")) names.push(e.name);
  for (const name of names.sort()) out.set(name, parseLabelCsv(await Deno.readTextFile(LABELS + name), name));
  return out;
}

/** docs/upstream.md §10 test vectors, SOT/EOT included */
const VECTORS: [string, number[]][] = [
  ["a photo of a", [49406, 320, 1125, 539, 320, 49407]],
  ["abseiling", [49406, 596, 567, 3299, 49407]],
  ["a photo of a abseiling.", [49406, 320, 1125, 539, 320, 596, 567, 3299, 269, 49407]],
  ["ApplyEyeMakeup", [49406, 882, 75, 693, 693, 5853, 49407]],
  ["brush hair", [49406, 8594, 2225, 49407]],
  ["Pouring something into something", [49406, 16098, 2006, 1095, 2006, 49407]],
  ["wood burning (art)", [49406, 1704, 8405, 263, 794, 264, 49407]],
  ["X ".repeat(16) + "brush hair.", [49406, ...new Array(16).fill(343), 8594, 2225, 269, 49407]],
  ["Hello, World! It's 2023.", [49406, 3306, 267, 1002, 256, 585, 568, 273, 271, 273, 274, 269, 49407]],
];

// node:assert has no "return the error" forms; these keep the tests free of remote modules
// deno-lint-ignore no-explicit-any
function assertThrows<E extends Error>(fn: () => unknown, cls: new (...a: any[]) => E): E {
  try {
    fn();
  } catch (e) {
    if (e instanceof cls) return e;
    throw new Error(`expected ${cls.name}, got ${e}`);
  }
  throw new Error(`expected ${cls.name}, nothing was thrown`);
}

async function assertRejects(fn: () => Promise<unknown>): Promise<Error> {
  try {
    await fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error("expected a rejection");
}

const noSpace = (s: string) => s.replace(/\s+/g, "");

Deno.test({
  name: "ClipTokenizer: docs/upstream.md §10 vectors, zero padding to 77",
  ignore: !haveVocab,
  fn: async () => {
    const tok = await clip();
    assertEquals(tok.vocabSize, 49408);
    assertEquals([tok.sot, tok.eot], [CLIP_SOT, CLIP_EOT]);
    const rows = tok.tokenize(VECTORS.map(([t]) => t));
    assertEquals(rows.length, VECTORS.length * 77);
    VECTORS.forEach(([text, ids], r) => {
      const row = Array.from(rows.subarray(r * 77, (r + 1) * 77));
      assertEquals(row, [...ids, ...new Array(77 - ids.length).fill(0)], text);
      assertEquals(tok.encode(text), ids.slice(1, -1), text);
    });
    // the EOT position the text tower pools at
    assertEquals(rows.subarray(2 * 77, 3 * 77).indexOf(CLIP_EOT), 9);
    assertEquals(rows.subarray(7 * 77, 8 * 77).indexOf(CLIP_EOT), 20);
  },
});

Deno.test({
  name: "ClipTokenizer: clean-up (entities, curly quotes, NFC, width, whitespace) before BPE",
  ignore: !haveVocab,
  fn: async () => {
    const tok = await clip();
    const same = (a: string, b: string) => assertEquals(tok.encode(a), tok.encode(b), `${a} vs ${b}`);
    same("  Brush\t\n HAIR ", "brush hair");
    same("massaging person’s head", "massaging person's head");
    same("rock &amp; roll", "rock & roll");
    same("rock &amp;amp; roll", "rock & roll");
    same("it&#39;s &quot;x&quot; &#x41;", `it's "x" a`);
    same("caf\u0065\u0301", "caf\u00e9");
    same("ＡＢＣ　ｄｅｆ", "abc def");
    same("e\ufb03cient", "efficient");
    same("a&nbsp;b", "a b");
    // the special strings survive clean-up and map to their ids, as CLIP's word cache does
    assertEquals(tok.encode("x <|endoftext|>"), [343, CLIP_EOT]);
    // digits are split one by one, contractions are their own pieces
    assertEquals(tok.decode(tok.encode("it's 42")), "it 's 4 2");
    assertEquals(tok.decode(tok.tokenize(["héllo wörld ☕"])), "héllo wörld ☕");
  },
});

Deno.test("cleanText / htmlUnescape: Python's html.unescape and CLIP's whitespace rules", () => {
  assertEquals(
    htmlUnescape("&amp;lt; &lt &copy2 &#65 &#x1F600; &#0; &#128; &#1; &bogus; &"),
    "&lt; < ©2 A 😀 \ufffd €  &bogus; &", // &#1; is an invalid code point: dropped, not replaced
  );
  assertEquals(htmlUnescape("&apos &apos;"), "&apos '");
  assertEquals(cleanText("  A\u00a0B\u2003C\x1c D\r\nE  "), "a b c d e"); // U+001C is removed by ftfy, not read as a space
  assertEquals(cleanText("\x1b[31mred\x1b[0m"), "red");
  assertEquals(cleanText("“Quoted” ‘x’"), `"quoted" 'x'`);
  assertEquals(cleanText("\ufeffbom"), "bom");
  assertEquals(cleanText("x < y &amp;amp; z"), "x < y & z"); // markup-looking text: only CLIP's two passes
});

Deno.test({
  name: "ClipTokenizer: every class of every label CSV, bare and in the template, round-trips through decode",
  ignore: !haveVocab || !haveLabels,
  fn: async () => {
    const tok = await clip();
    const files = await labelFiles();
    assertEquals(files.size, 16);
    let total = 0;
    for (const [file, names] of files) {
      const prompts = names.flatMap((n) => [n, `a photo of a ${n}.`]);
      const rows = tok.tokenize(prompts);
      prompts.forEach((p, i) => {
        const row = rows.subarray(i * 77, (i + 1) * 77);
        const ids = tok.encode(p);
        assertEquals(row.indexOf(CLIP_EOT), ids.length + 1, `${file}: ${p}`);
        const text = tok.decode(row);
        assertEquals(noSpace(text), noSpace(p.toLowerCase()), `${file}: ${p}`);
        assertEquals(tok.encode(text), ids, `${file}: re-encoding ${JSON.stringify(text)}`);
      });
      total += names.length;
    }
    assert(total > 2000, `only ${total} class names`);
  },
});

Deno.test({
  name: "ClipTokenizer: over-long prompts throw naming the text; truncate keeps 76 and ends in EOT",
  ignore: !haveVocab,
  fn: async () => {
    const tok = await clip();
    const fits = "a ".repeat(75).trim(); // 75 ids + SOT + EOT = 77
    assertEquals(tok.tokenize([fits])[76], CLIP_EOT);
    const long = "the quick brown fox " + "x ".repeat(80);
    const err = assertThrows(() => tok.tokenize(["ok", long]), PromptTooLongError);
    assert(err.message.includes(JSON.stringify(long)), err.message);
    assertEquals([err.tokens, err.context], [86, 77]);
    const row = tok.tokenize([long], 77, { truncate: true });
    assertEquals(row.length, 77);
    assertEquals(Array.from(row.subarray(0, 76)), [CLIP_SOT, ...tok.encode(long).slice(0, 75)]);
    assertEquals(row[76], CLIP_EOT);
    assertThrows(() => tok.tokenize(["a photo of a"], 5), PromptTooLongError);
    assertEquals(Array.from(tok.tokenize(["a photo of a"], 8)), [...VECTORS[0][1], 0, 0]);
  },
});

/** Hugging Face's files rebuilt from the original merges, written independently of the library. */
async function writeHfFiles(dir: string): Promise<void> {
  const gz = (await Deno.open(VOCAB)).readable.pipeThrough(new DecompressionStream("gzip"));
  const lines = (await new Response(gz).text()).split("\n").slice(1, CLIP_MERGES + 1);
  const bs: number[] = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const cs = bs.slice();
  for (let b = 0, n = 0; b < 256; b++) if (!bs.includes(b)) bs.push(b), cs.push(256 + n++);
  const base = cs.map((c) => String.fromCharCode(c));
  const tokens = [...base, ...base.map((s) => s + "</w>"), ...lines.map((l) => l.replace(" ", ""))];
  tokens.push("<|startoftext|>", "<|endoftext|>");
  // key order differs from id order in HF's file; the loader must go by the ids
  const entries = tokens.map((t, i) => [t, i] as const).reverse();
  await Deno.writeTextFile(`${dir}/vocab.json`, JSON.stringify(Object.fromEntries(entries)));
  await Deno.writeTextFile(`${dir}/merges.txt`, `#version: 0.2\n${lines.join("\n")}\n`);
}

Deno.test({
  name: "ClipTokenizer.fromHf: vocab.json + merges.txt give the same ids; loadTokenizer finds files",
  ignore: !haveVocab,
  fn: async () => {
    const tok = await clip();
    const dir = await Deno.makeTempDir({ prefix: "vifi-hf-vocab-" });
    try {
      await writeHfFiles(dir);
      const hf = ClipTokenizer.fromHf(
        await Deno.readTextFile(`${dir}/vocab.json`),
        await Deno.readTextFile(`${dir}/merges.txt`),
      );
      const fromDir = await loadTokenizer({ vocab: dir });
      const texts = VECTORS.map(([t]) => t);
      if (haveLabels) {
        for (const n of parseLabelCsv(await Deno.readTextFile(LABELS + "kinetics_600_labels.csv"), "k600")) {
          texts.push(`a photo of a ${n}.`);
        }
      }
      texts.push("héllo wörld ☕ — 日本語 emoji 😀");
      const want = tok.tokenize(texts);
      assertEquals(hf.tokenize(texts), want);
      assertEquals(fromDir.tokenize(texts), want);
      assertEquals(hf.vocabSize, 49408);

      // the cache lookup and the explicit path
      await Deno.copyFile(VOCAB, `${dir}/bpe_simple_vocab_16e6.txt.gz`);
      assertEquals((await loadTokenizer({ cacheDir: dir })).tokenize(texts), want);
      assertEquals((await loadTokenizer({ vocab: VOCAB })).tokenize(texts), want);
      const err = await assertRejects(() => loadTokenizer({ cacheDir: `${dir}/nowhere` }));
      assertMatch((err as Error).message, /deno task weights download ViT-B\/16.*--vocab/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("ByteTokenizer: bytes of the cleaned text, SOT/EOT at the top of the vocabulary, round trip", () => {
  const tok = new ByteTokenizer(260);
  assertEquals([tok.sot, tok.eot, tok.vocabSize], [258, 259, 260]);
  assertEquals(tok.encode("Hi  é"), [104, 105, 32, 0xc3, 0xa9]);
  const texts = ["A photo of a Café ☕.", "  brush\thair ", ""];
  const rows = tok.tokenize(texts, 32);
  assertEquals(Array.from(rows.subarray(64, 96)), [258, 259, ...new Array(30).fill(0)]);
  assertEquals(texts.map((_, i) => tok.decode(rows.subarray(i * 32, (i + 1) * 32))), [
    "a photo of a café ☕.",
    "brush hair",
    "",
  ]);
  assertThrows(() => tok.tokenize(["x".repeat(31)], 32), PromptTooLongError);
  assertEquals(tok.tokenize(["x".repeat(31)], 32, { truncate: true })[31], 259);
  assertEquals(new ByteTokenizer().eot, 257);
  assertThrows(() => new ByteTokenizer(257), RangeError);
});

async function runCli(args: string[], stdin?: string, env?: Record<string, string>) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, ...args],
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    env,
  }).spawn();
  if (stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
  }
  const { code, stdout, stderr } = await child.output();
  return { code, out: new TextDecoder().decode(stdout), err: new TextDecoder().decode(stderr) };
}

Deno.test({
  name: "deno task tokenize: arguments, stdin lines, exit codes",
  ignore: !haveVocab,
  fn: async () => {
    const want = (i: number) => JSON.stringify(VECTORS[i][1]);
    const a = await runCli(["--vocab", VOCAB, "a photo of a", "Hello, World! It's 2023."]);
    assertEquals(a.code, 0, a.err);
    assertEquals(a.out, `${want(0)}\n${want(8)}\n`);

    const b = await runCli(["--vocab", VOCAB], "abseiling\r\nbrush hair\n\nwood burning (art)\n");
    assertEquals(b.code, 0, b.err);
    assertEquals(b.out.split("\n"), [want(1), want(4), "[49406,49407]", want(6), ""]);

    const long = "word ".repeat(100);
    const c = await runCli(["--vocab", VOCAB, long]);
    assertEquals(c.code, 1);
    assert(c.err.includes("over the context length 77"), c.err);
    const d = await runCli(["--vocab", VOCAB, "--truncate", long]);
    assertEquals(d.code, 0, d.err);
    assertEquals(JSON.parse(d.out).length, 77);

    const e = await runCli(["--vocab", VOCAB, "--nope"]);
    assertEquals(e.code, 2);
    assert(e.err.includes("usage:"), e.err);

    const empty = await Deno.makeTempDir({ prefix: "vifi-empty-cache-" });
    try {
      const f = await runCli(["x"], undefined, { VIFI_CACHE: empty });
      assertEquals(f.code, 1);
      assert(f.err.includes("deno task weights download ViT-B/16"), f.err);
    } finally {
      await Deno.remove(empty);
    }
  },
});
