// The library in a page (headless Chromium, its WebGPU and WebCodecs; one launch for the whole file): the tiny
// model's and the demo architecture's (synthetic-words, its saved word list) predictions in the page equal
// Deno's lib/predict/predict.ts within 1e-5 for the same checkpoint and videos; the page's model input equals the server's prepareVideo (what `deno task video --transformed`
// dumps) value for value, with WebCodecs and with the page's ffmpeg.wasm; the weights come from the
// browser's cache on the second visit (the server sees one weights request), with progress to the file's
// size both times; no request leaves 127.0.0.1; without WebGPU the page is told why in one line.

import { existsSync } from "node:fs";
import { assert, assertEquals } from "../data/assert.ts";
import { browserMissing, type BrowserPage, offOrigin, openPage } from "../../lib/cli/browser-page.ts";
import { predict } from "../../lib/predict/predict.ts";
import { prepareVideo } from "../../lib/data/prepare.ts";
import { type Fixture, makeFixture } from "../cli/fixture.ts";
import { clipConfig, initClipWeights } from "../../lib/models/config.ts";
import { ViFiClip } from "../../lib/models/vifi.ts";
import { saveCheckpoint } from "../../lib/train/checkpoint.ts";
import { taggedVideos } from "./videos.ts";
import { loadTokenizer } from "../../lib/text/tokenizer.ts";
import { dataDir } from "../data/assert.ts";

const ENTRY = new URL("../../lib/browser/entry.ts", import.meta.url);
const MOD = new URL("../../mod.ts", import.meta.url);
const LABELS = ["red", "blue", "green", "up", "left", "down", "circle"];
const TEMPLATE = "a {name} video";
const T = 4;

const skip = await browserMissing();
if (skip) console.log(`browser predict tests skipped: ${skip}`);

interface PageRun {
  probs: number[];
  top: { label: string; prob: number }[];
  input: number[];
  shape: number[];
  frames: { width: number; height: number; index: number; alpha: number }[];
  weightsFrom: string;
  decoder: string;
  fallback?: string;
  ms: Record<string, number>;
  adapter: { vendor: string; architecture: string; description: string };
  stages: string[];
  lastWeights: number[] | null;
}

/** predictInPage on the video at `video` (a path on the page's server), its numbers as plain arrays. */
function pagePredict(
  p: BrowserPage,
  weights: string,
  video: string,
  decoder = "auto",
  labels = LABELS,
  /** null: predictInPage's own default template */
  template: string | null = TEMPLATE,
): Promise<PageRun> {
  return p.page!.evaluate(async (a) => {
    // deno-lint-ignore no-explicit-any
    const vifi = (globalThis as any).vifi;
    const bytes = new Uint8Array(await (await fetch(a.video)).arrayBuffer());
    const stages: string[] = [];
    let lastWeights: number[] | null = null;
    const r = await vifi.predictInPage({
      weights: a.weights,
      classes: a.labels,
      template: a.template ?? undefined,
      video: bytes,
      videoName: a.video,
      frames: a.T,
      decoder: a.decoder,
    }, (stage: string, loaded?: number, total?: number) => {
      if (stages.at(-1) !== stage) stages.push(stage);
      if (stage === "weights") lastWeights = [loaded!, total!];
    });
    return {
      probs: Array.from(r.probs as Float32Array),
      top: r.predictions,
      input: Array.from(r.input.data as Float32Array),
      shape: r.input.shape,
      // deno-lint-ignore no-explicit-any
      frames: r.frames.map((f: any) => ({
        width: f.width,
        height: f.height,
        index: f.index,
        alpha: f.data[3],
      })),
      weightsFrom: r.weightsFrom,
      decoder: r.decoder,
      fallback: r.decoderFallback,
      ms: r.ms,
      adapter: r.adapter,
      stages,
      lastWeights,
    };
  }, { weights, video, labels, template, T, decoder });
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assertEquals(a.length, b.length, "lengths");
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Without WebGPU (navigator.gpu hidden) the page is told why, in one line, and nothing is fetched. */
async function checkWithoutWebGpu(p: BrowserPage): Promise<void> {
  const noGpu = await p.page!.evaluate(async () => {
    // deno-lint-ignore no-explicit-any
    const vifi = (globalThis as any).vifi;
    Object.defineProperty(navigator, "gpu", { value: undefined, configurable: true });
    try {
      const status = await vifi.pageWebGpu();
      const error = await vifi.predictInPage({
        weights: "/nothing",
        classes: ["a"],
        video: new Uint8Array(1),
      })
        .then(() => "no error", (e: Error) => e.message);
      return { status, error };
    } finally {
      delete (navigator as unknown as Record<string, unknown>).gpu;
    }
  });
  assert(!noGpu.status.available && /no WebGPU/.test(noGpu.status.why), JSON.stringify(noGpu.status));
  assert(/^vifi: this page has no WebGPU \(.*\); it needs/.test(noGpu.error), noGpu.error);
  assert(!noGpu.error.includes("\n"), "one line");
  assert(!p.served.includes("GET /nothing"), "no weights were fetched without WebGPU");
  // deno-lint-ignore no-explicit-any
  const withGpu = await p.page!.evaluate(() => (globalThis as any).vifi.pageWebGpu());
  assert(withGpu.available && withGpu.adapter.vendor, `WebGPU is back: ${JSON.stringify(withGpu)}`);
}

/** CLIP's BPE built in the page from the fetched, gunzipped vocabulary tokenises as the server's does. */
async function checkClipTokenizer(p: BrowserPage, vocab: string): Promise<void> {
  const texts = [
    "a photo of a dog.",
    "Ünïcödé café — déjà vu",
    "riding a bike 123",
    "playing_guitar!!",
  ];
  const inPage = await p.page!.evaluate(async (texts) => {
    // deno-lint-ignore no-explicit-any
    const tok = await (globalThis as any).vifi.clipTokenizerFrom("/clip/bpe.txt.gz");
    return texts.map((t: string) => tok.encode(t) as number[]);
  }, texts);
  const server = await loadTokenizer({ vocab });
  assertEquals(inPage, texts.map((t) => server.encode(t)), "CLIP tokens in the page");
}

/** A checkpoint of the demo's architecture (synthetic-words, 64² frames) carrying its word-list tokenizer. */
async function demoCheckpoint(f: Fixture): Promise<string> {
  const cfg = clipConfig("synthetic-words");
  const model = ViFiClip.fromWeights(f.rt, cfg, initClipWeights(cfg, 11, { randomNorms: true }), "frozen");
  const path = `${f.dir}/synthetic-words.safetensors`;
  const experiment = { model: { tokenizer: "words", vocab: `${f.dir}/data/words.txt` } };
  await saveCheckpoint(path, model, { experiment });
  model.dispose();
  return path;
}

// words of the fixture's list (its two colours, one shape, two motions)
const DEMO_LABELS = ["red circle moving left", "blue circle moving up", "red circle going up", "blue object"];

/** The demo's architecture and tokenizer (the saved words; the default template) in the page, as in Deno. */
async function checkDemoModel(p: BrowserPage, checkpoint: string, video: string): Promise<number[]> {
  const want = await predict(video, { weights: checkpoint, labels: DEMO_LABELS, frames: T });
  const got = await pagePredict(
    p,
    "/weights/words.safetensors",
    "/videos/0.mp4",
    "auto",
    DEMO_LABELS,
    null,
  );
  const d = maxAbsDiff(got.probs, want.probs);
  assert(d < 1e-5, `synthetic-words: probabilities differ from Deno's by ${d}`);
  assertEquals(got.shape, [T, 3, 64, 64], "the demo's 64² input");
  assertEquals(got.weightsFrom, "network");
  console.log(`synthetic-words (demo architecture), first prediction: ms ${JSON.stringify(got.ms)}`);
  return got.probs;
}

/** Two predictions started together with different models run in turn: each gets its own model's answer. */
async function checkConcurrent(p: BrowserPage, tinyProbs: number[], demoProbs: number[]): Promise<void> {
  // the kept model (the demo's) is in use by the first when the second asks for another
  const [demo, tiny] = await Promise.all([
    pagePredict(p, "/weights/words.safetensors", "/videos/0.mp4", "auto", DEMO_LABELS, null),
    pagePredict(p, "/weights/tiny.safetensors", "/videos/1.mp4"),
  ]);
  assertEquals(maxAbsDiff(tiny.probs, tinyProbs), 0, "the tiny model's answer, started beside another");
  assertEquals(maxAbsDiff(demo.probs, demoProbs), 0, "the demo model's answer, started beside another");
}

/** Before the page says where ffmpeg.wasm is, a video that needs it is refused saying so; then it is told. */
async function configureFfmpeg(p: BrowserPage): Promise<void> {
  const refused = await p.page!.evaluate(async () => {
    // deno-lint-ignore no-explicit-any
    const vifi = (globalThis as any).vifi;
    const bytes = new Uint8Array(await (await fetch("/videos/0.mp4")).arrayBuffer());
    const job = { path: "0.mp4", mode: "test", frames: 2, seed: 0 };
    return await vifi.prepareVideoInPage(job, bytes, { decoder: "ffmpeg.wasm" }).then(
      () => "no error",
      (e: Error) => e.message,
    );
  });
  assertEquals(
    refused,
    "0.mp4: needs ffmpeg.wasm (ffmpeg.wasm was asked for); call useFfmpegWasm(url) with this site's " +
      "ffmpeg-core.wasm first",
  );
  await p.page!.evaluate(() => {
    // deno-lint-ignore no-explicit-any
    (globalThis as any).vifi.useFfmpegWasm("/ffmpeg-core.wasm");
  });
}

let fx: Fixture | undefined;

Deno.test({
  name: "predict in the page: Deno's probabilities and input, the browser's cache, nothing off 127.0.0.1",
  ignore: skip !== undefined,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    fx ??= await makeFixture();
    // two synthetic clips and a stream tagged BT.709 full range (ffmpeg converts it with those: so must the page)
    const tagged = `${fx.dir}/tagged-bt709-full.mp4`;
    await Deno.writeFile(tagged, (await taggedVideos()).tagged);
    const videos = [...fx.videos.slice(0, 2), tagged];
    const ffmpegWasm = await Deno.readFile(new URL(import.meta.resolve("npm:@ffmpeg/core@0.12.10/wasm")));
    const files: Parameters<typeof openPage>[0]["files"] = {
      "/weights/tiny.safetensors": { body: await Deno.readFile(fx.checkpoint) },
      "/weights/words.safetensors": { body: await Deno.readFile(await demoCheckpoint(fx)) },
      "/ffmpeg-core.wasm": { body: ffmpegWasm, type: "application/wasm" },
    };
    for (const [i, v] of videos.entries()) {
      files[`/videos/${i}.mp4`] = { body: await Deno.readFile(v), type: "video/mp4" };
    }
    const vocab = `${dataDir}clip/bpe_simple_vocab_16e6.txt.gz`;
    const hasVocab = existsSync(vocab);
    if (hasVocab) files["/clip/bpe.txt.gz"] = { body: await Deno.readFile(vocab) };
    else console.log(`the page's CLIP tokenizer is not checked: ${vocab} is absent`);
    const p = await openPage({ entries: [ENTRY], files });
    try {
      await p.page!.waitForFunction("globalThis.vifi !== undefined", null, { timeout: 60_000 });
      await checkWithoutWebGpu(p);
      await configureFfmpeg(p);
      const weightsSize = (await Deno.stat(fx.checkpoint)).size;
      const runs: PageRun[] = [];
      for (const [i, video] of videos.entries()) {
        const want = await predict(video, {
          weights: fx.checkpoint,
          labels: LABELS,
          frames: T,
          template: TEMPLATE,
        });
        const prep = await prepareVideo({ path: video, mode: "test", frames: T, size: 32, seed: 0 });
        for (const decoder of ["auto", "ffmpeg.wasm"]) {
          const got = await pagePredict(p, "/weights/tiny.safetensors", `/videos/${i}.mp4`, decoder);
          runs.push(got);
          const what = `video ${i}, ${got.decoder}${got.fallback ? ` (${got.fallback})` : ""}`;
          console.log(
            `${what}: weights from ${got.weightsFrom}; ms ${
              JSON.stringify(got.ms, (_, v) => typeof v === "number" ? +v.toFixed(1) : v)
            }`,
          );
          assertEquals(got.shape, prep.shape, `${what}: input shape`);
          assertEquals(
            maxAbsDiff(got.input, prep.data),
            0,
            `${what}: the page's input differs from prepareVideo's`,
          );
          const d = maxAbsDiff(got.probs, want.probs);
          assert(d < 1e-5, `${what}: probabilities differ from Deno's by ${d}`);
          assertEquals(got.top.map((x) => x.label), want.predictions.map((x) => x.label), `${what}: top-5`);
          assertEquals(got.frames.length, T);
          assert(got.frames.every((f) => f.width === 32 && f.alpha === 255), `${what}: frames`);
        }
      }
      assertEquals(
        runs[0].decoder,
        "webcodecs",
        `Chromium's WebCodecs decodes the synthetic H.264 exactly: ${runs[0].fallback}`,
      );
      assertEquals(runs[1].decoder, "ffmpeg.wasm");
      assertEquals(runs[4].decoder, "webcodecs", `the BT.709 full-range stream too: ${runs[4].fallback}`);
      assertEquals(runs[0].weightsFrom, "network");
      assertEquals(runs[0].stages, ["weights", "model", "video", "predict"]);
      assertEquals(
        runs[0].lastWeights,
        [weightsSize, weightsSize],
        "the download's progress ends at the file's size",
      );
      assertEquals(runs[1].stages, ["video", "predict"], "a kept model is not loaded again");
      assert(runs.slice(1).every((r) => r.weightsFrom === "memory"), "the model is kept between predictions");

      const demoProbs = await checkDemoModel(p, `${fx.dir}/synthetic-words.safetensors`, videos[0]);
      await checkConcurrent(p, runs[2].probs, demoProbs);

      // a second visit: a fresh page in the same browser context reads the weights from the Cache API
      await p.goto();
      await p.page!.waitForFunction("globalThis.vifi !== undefined", null, { timeout: 60_000 });
      const again = await pagePredict(p, "/weights/tiny.safetensors", "/videos/0.mp4");
      assertEquals(again.weightsFrom, "cache");
      assertEquals(again.lastWeights, [weightsSize, weightsSize], "the cache read reports progress too");
      assert(maxAbsDiff(again.probs, runs[0].probs) === 0, "the cached weights predict the same");
      console.log(`second visit: ms ${JSON.stringify(again.ms)}; adapter ${JSON.stringify(again.adapter)}`);
      const weightGets = p.served.filter((s) => s === "GET /weights/tiny.safetensors").length;
      assertEquals(weightGets, 1, "the server saw one weights request");

      if (hasVocab) await checkClipTokenizer(p, vocab);

      const origin = new URL(p.url).origin;
      assert(p.requests.length > 5, `requests were recorded: ${p.requests.length}`);
      assertEquals(offOrigin(p.requests, origin), [], "requests that left 127.0.0.1");
      assertEquals(p.errors, [], "page errors");
    } finally {
      await p.close();
    }
  },
});

Deno.test({
  name: "mod.ts as one bundle in a page: it loads and its ops run on kernels from the page's origin",
  ignore: skip !== undefined,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const p = await openPage({ entries: [MOD] });
    try {
      // mod.ts as one bundle in the page: it loads without Deno, and its ops fetch their kernels from here
      const mod = await p.page!.evaluate(async () => {
        const m = await import("/mod.js");
        const rt = await m.getRuntime();
        const x = m.Tensor.from(rt, new Float32Array([-3, -0.5, 0, 1, 2.5]), [5], "f32", "x");
        return {
          exports: Object.keys(m).length,
          y: Array.from(await (await m.quickGelu(x)).read() as Float32Array),
        };
      });
      assert(mod.exports > 50, `mod.ts exports ${mod.exports} names in the page`);
      const gelu = [-3, -0.5, 0, 1, 2.5].map((v) => v / (1 + Math.exp(-1.702 * v)));
      assert(maxAbsDiff(mod.y, gelu) < 1e-6, `mod.ts quickGelu in the page: ${mod.y} vs ${gelu}`);
      assert(p.served.includes("GET /kernels/quickgelu.wgsl"), "the kernel came from the page's origin");
      assertEquals(offOrigin(p.requests, new URL(p.url).origin), [], "requests that left 127.0.0.1");
      assertEquals(p.errors, [], "page errors");
    } finally {
      await p.close();
    }
  },
});
