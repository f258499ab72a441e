// The site `deno task site` writes, served by a plain static file server (no harness routes) and used in
// headless Chromium as a visitor would (one launch for the file): a dropped video's top-5 equals Deno's
// predict within 1e-5 (the probabilities the page keeps on globalThis.vifiApp, and the table it shows);
// teaching two classes from their dropped videos lowers the loss the page draws, the learned prompts
// classify a held-out video as Deno's predict does with the downloaded prompts file, which
// lib/browser/prompt-file.ts reads; a second visit reads the weights from the browser's cache (the host
// sees one request for them); a browser without WebGPU is told so and cannot press Classify; no request
// leaves 127.0.0.1.

import type { Browser, Page } from "npm:playwright-core@1.65.1";
import { browserMissing, CHROMIUM, CHROMIUM_ARGS, offOrigin } from "../../lib/cli/browser-page.ts";
import { buildSite, SITE_PATHS } from "../../lib/cli/site.ts";
import { getRuntime } from "../../lib/gpu/runtime.ts";
import { clipConfig, initClipWeights } from "../../lib/models/config.ts";
import { ViFiClip } from "../../lib/models/vifi.ts";
import { saveCheckpoint } from "../../lib/train/checkpoint.ts";
import { generateSynthetic } from "../../lib/data/synthetic.ts";
import { prepareVideo } from "../../lib/data/prepare.ts";
import { runFfmpeg } from "../../lib/video/ffmpeg-wasm.ts";
import { frozenModel, predict, promptsFor } from "../../lib/predict/predict.ts";
import { promptOverlay, readPromptFile } from "../../lib/browser/prompt-file.ts";
import { clipProbabilities } from "../../lib/browser/prompt-tune.ts";
import { assert, assertEquals } from "../data/assert.ts";
import type { AppState } from "../../lib/browser/app/state.ts";

const FRAMES = 4, STEPS = 6;
// the tiny model reads 16 bytes of text: short names, and the template "{name}"
const LABELS = ["red", "blue", "green", "circle", "left", "up", "cat"];
const TEMPLATE = "{name}";

const skip = await browserMissing();
if (skip) console.log(`site page tests skipped: ${skip}`);

const TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  json: "application/json",
  wgsl: "text/plain; charset=utf-8",
  wasm: "application/wasm",
};

/** A static file server over `root`, as any host would be: files by path, nothing else. */
function serveStatic(root: string, served: string[]): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    let path = decodeURIComponent(new URL(req.url).pathname);
    served.push(`${req.method} ${path}`);
    if (path.endsWith("/")) path += "index.html";
    if (path.split("/").includes("..")) return new Response("bad path", { status: 400 });
    try {
      const body = await Deno.readFile(`${root}${path}`);
      const type = TYPES[path.split(".").pop()!] ?? "application/octet-stream";
      return new Response(body, { headers: { "content-type": type } });
    } catch {
      return new Response("not found", { status: 404 });
    }
  });
}

interface World {
  dir: string;
  checkpoint: string;
  /** other weights, also named tiny.safetensors */
  rebuilt: string;
  /** a video only ffmpeg.wasm decodes in the page */
  mkv: string;
  /** two videos of each of two classes, then a held-out one of each */
  teach: { name: string; videos: string[]; held: string }[];
}

/** A tiny random checkpoint (the model file) and synthetic videos of two classes. */
async function makeWorld(): Promise<World> {
  const rt = await getRuntime();
  const dir = await Deno.makeTempDir({ prefix: "vifi-site-" });
  const tiny = clipConfig("tiny");
  const model = ViFiClip.fromWeights(rt, tiny, initClipWeights(tiny, 5, { randomNorms: true }), "frozen");
  const checkpoint = `${dir}/tiny.safetensors`;
  await saveCheckpoint(checkpoint, model);
  model.dispose();
  // other weights under the same file name: a rebuilt site's model
  const other = ViFiClip.fromWeights(rt, tiny, initClipWeights(tiny, 6, { randomNorms: true }), "frozen");
  await Deno.mkdir(`${dir}/v2`);
  await saveCheckpoint(`${dir}/v2/tiny.safetensors`, other);
  other.dispose();
  const data = await generateSynthetic(`${dir}/data`, {
    seed: 3,
    clipsPerClass: 3,
    frames: 8,
    size: 32,
    colours: ["red", "blue"],
    shapes: ["circle"],
    motions: ["left"],
  });
  const teach = data.classes.map((c) => {
    const videos = data.clips.filter((v) => v.label === c.id).map((v) => `${dir}/data/${v.path}`);
    return { name: c.colour, videos: videos.slice(0, 2), held: videos[2] };
  });
  // the same H.264 stream in Matroska: WebCodecs' exact path takes MP4 only, so the page's ffmpeg.wasm decodes it
  const mkv = `${dir}/clip.mkv`;
  await Deno.writeFile(
    mkv,
    await runFfmpeg(await Deno.readFile(teach[0].held), "clip.mp4", (i, o) => [
      "-v",
      "error",
      "-i",
      i,
      "-c",
      "copy",
      "-f",
      "matroska",
      o,
    ]),
  );
  return { dir, checkpoint, rebuilt: `${dir}/v2/tiny.safetensors`, mkv, teach };
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assertEquals(a.length, b.length, "lengths");
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

const appState = (page: Page) =>
  page.evaluate(() => (globalThis as unknown as { vifiApp: AppState }).vifiApp);

async function waitReady(page: Page): Promise<AppState> {
  await page.waitForFunction("document.body.dataset.ready === 'true'", null, { timeout: 60_000 });
  return await appState(page);
}

/** Drops `video` on Classify with LABELS typed; the page's answer once it is shown. */
async function classify(page: Page, video: string): Promise<AppState["classify"]> {
  await page.fill("#classify-classes", LABELS.join("\n"));
  await page.setInputFiles("#classify-file", video);
  await page.click("#classify-run");
  await page.waitForFunction(
    "['done', 'error'].includes(document.getElementById('classify-result').dataset.state)",
    null,
    { timeout: 120_000 },
  );
  const c = (await appState(page)).classify;
  assertEquals(c.error, undefined, "classify error");
  return c;
}

async function checkClassify(page: Page, w: World, video: string, from: string, weights = w.checkpoint) {
  const got = await classify(page, video);
  const want = await predict(video, {
    weights,
    labels: LABELS,
    frames: FRAMES,
    template: TEMPLATE,
  });
  const d = maxAbsDiff(got.probs!, want.probs);
  console.log(
    `  classify: weights from ${got.weightsFrom}, ${got.decoder}, ms ${
      JSON.stringify(got.ms, (_, v) => typeof v === "number" ? +v.toFixed(0) : v)
    }; max |P_page − P_deno| ${d.toExponential(2)}; ${got.adapter}`,
  );
  assert(d < 1e-5, `the page's probabilities differ from Deno's by ${d}`);
  assertEquals(got.weightsFrom, from);
  const shown = await page.$$eval(
    "#classify-top tr",
    (rows) => rows.map((r) => r.getAttribute("data-label")),
  );
  assertEquals(shown, want.predictions.map((p) => p.label), "the top-5 the page shows");
  assertEquals(await page.$$eval("#classify-frames canvas", (c) => c.length), FRAMES, "frames shown");
  return got;
}

/** Teaches the two classes, classifies their held-out videos and downloads the prompts file. */
async function teach(page: Page, w: World) {
  await page.click("#tab-teach");
  for (const [i, c] of w.teach.entries()) {
    await page.locator(".teach-name").nth(i).fill(c.name);
    await page.locator(".teach-files").nth(i).setInputFiles(c.videos);
  }
  await page.click("#pane-teach details summary");
  await page.fill("#teach-steps", String(STEPS));
  await page.fill("#teach-lr", "0.01");
  await page.fill("#teach-batch", "4");
  await page.click("#teach-run");
  await page.waitForFunction(
    "['trained', 'error'].includes(document.getElementById('teach-result').dataset.state)",
    null,
    { timeout: 180_000 },
  );
  const t = (await appState(page)).teach;
  assertEquals(t.error, undefined, "teach error");
  const drawn = await page.$eval("#teach-loss polyline", (l) => l.getAttribute("points")!.split(" ").length);
  assertEquals(drawn, STEPS, "a point of the loss curve per step");
  const held: number[][] = [];
  for (const c of w.teach) {
    await page.evaluate(() => delete (globalThis as unknown as { vifiApp: AppState }).vifiApp.teach.probs);
    await page.setInputFiles("#teach-file", c.held);
    await page.waitForFunction("globalThis.vifiApp.teach.probs !== undefined", null, { timeout: 60_000 });
    held.push((await appState(page)).teach.probs!);
  }
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#teach-download")]);
  const bytes = await Deno.readFile((await download.path())!);
  return { losses: t.losses, held, bytes, name: download.suggestedFilename(), msPerStep: t.msPerStep! };
}

/** A long run stopped after a few steps: it ends there, with those steps' prompts, and says it stopped. */
async function stopEarly(page: Page): Promise<number> {
  await page.fill("#teach-steps", "500");
  await page.click("#teach-run");
  await page.waitForFunction("globalThis.vifiApp.teach.losses.length >= 2", null, { timeout: 120_000 });
  await page.click("#teach-stop");
  await page.waitForFunction(
    "['trained', 'error'].includes(document.getElementById('teach-result').dataset.state)",
    null,
    { timeout: 60_000 },
  );
  const t = (await appState(page)).teach;
  assertEquals(t.error, undefined, "teach error");
  assert(
    t.stopped && t.losses.length >= 2 && t.losses.length < 500,
    `stopped after ${t.losses.length} steps`,
  );
  assert(/^stopped: /.test(await page.textContent("#teach-status") ?? ""), "the page says it stopped");
  return t.losses.length;
}

/** The downloaded file read by prompt-file.ts, and Deno's predict path with it on the held-out videos. */
async function checkPromptsFile(w: World, r: Awaited<ReturnType<typeof teach>>) {
  const file = readPromptFile(r.bytes, r.name);
  assertEquals(file.classes, w.teach.map((c) => c.name));
  assertEquals(file.training?.steps, STEPS);
  assertEquals(file.training?.finalLoss, r.losses.at(-1));
  assertEquals(file.weights, "tiny.safetensors");
  const loaded = await frozenModel({ weights: w.checkpoint, prompts: promptOverlay(file, r.name) });
  try {
    const { tokens } = await promptsFor(loaded, file.classes, { template: file.template });
    for (const [i, c] of w.teach.entries()) {
      const prep = await prepareVideo({ path: c.held, mode: "test", frames: FRAMES, size: 32, seed: 0 });
      const deno = await clipProbabilities(loaded.model, prep.data, FRAMES, tokens, file.classes.length);
      const d = maxAbsDiff(r.held[i], deno);
      assert(d < 1e-4, `held-out ${c.name}: the page's learned probabilities differ from Deno's by ${d}`);
    }
  } finally {
    loaded.model.dispose();
  }
}

Deno.test({
  name: "the static site: classify as Deno does, teach two classes, the cache on a second visit, no WebGPU",
  ignore: skip !== undefined,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const w = await makeWorld();
    const out = `${w.dir}/site`;
    const m = await buildSite({ out, weights: w.checkpoint, frames: FRAMES, template: TEMPLATE });
    assertEquals(m.model.file, `${SITE_PATHS.model}/tiny.safetensors`);
    const served: string[] = [];
    const server = serveStatic(out, served);
    const origin = `http://127.0.0.1:${server.addr.port}`;
    const { chromium } = await import("npm:playwright-core@1.65.1");
    let browser: Browser | undefined;
    try {
      browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
      const context = await browser.newContext({ acceptDownloads: true });
      const requests: string[] = [];
      context.on("request", (r) => requests.push(r.url()));
      const page = await context.newPage();
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(e.message));
      await page.goto(`${origin}/`);
      const app = await waitReady(page);
      assertEquals(app.error, undefined, "the page failed to start");
      assert(app.webgpu?.available, `WebGPU in the page: ${JSON.stringify(app.webgpu)}`);

      await t.step("classify: Deno's top-5 and probabilities", async () => {
        const mp4 = await checkClassify(page, w, w.teach[0].held, "network");
        assertEquals(mp4.decoder, "webcodecs");
        // the site's own ffmpeg.wasm, fetched from its folder, for a video WebCodecs cannot take exactly
        const mkv = await checkClassify(page, w, w.mkv, "memory");
        assertEquals(mkv.decoder, "ffmpeg.wasm");
      });
      await t.step("teach: the loss falls; the downloaded prompts predict as the page does", async () => {
        const r = await teach(page, w);
        console.log(
          `  teach: loss ${r.losses.map((l) => l.toFixed(4)).join(" ")} (${
            r.msPerStep.toFixed(0)
          } ms/step); ` +
            `held-out P ${r.held.map((p) => p.map((x) => x.toFixed(3)).join("/")).join(", ")}`,
        );
        assertEquals(r.losses.length, STEPS);
        assert(r.losses.at(-1)! < r.losses[0], `the loss did not fall: ${r.losses}`);
        await checkPromptsFile(w, r);
        console.log(`  Stop: the run ended after ${await stopEarly(page)} of 500 steps`);
      });
      await t.step("a second visit reads the weights from the cache", async () => {
        await page.reload();
        await waitReady(page);
        await checkClassify(page, w, w.teach[1].held, "cache");
        const gets = served.filter((s) => s === `GET /${m.model.file}`).length;
        assertEquals(gets, 1, "the host saw one request for the weights");
        assert(served.includes(`GET /${m.ffmpegWasm}`), "ffmpeg.wasm came from the site");
      });
      await t.step(
        "a rebuilt site's other model under the same name is not read from the old cache",
        async () => {
          const m2 = await buildSite({ out, weights: w.rebuilt, frames: FRAMES, template: TEMPLATE });
          assertEquals(m2.model.file, m.model.file);
          assert(m2.model.sha256 !== m.model.sha256, "other weights, another digest");
          await page.reload();
          await waitReady(page);
          await checkClassify(page, w, w.teach[1].held, "network", w.rebuilt);
        },
      );
      await t.step("without WebGPU the page says so and cannot classify", async () => {
        const bare = await context.newPage();
        await bare.addInitScript(() => Object.defineProperty(navigator, "gpu", { value: undefined }));
        await bare.goto(`${origin}/`);
        const a = await waitReady(bare);
        assert(a.webgpu && !a.webgpu.available, JSON.stringify(a.webgpu));
        const banner = await bare.textContent("#gpu");
        assert(/cannot run the model here: this page has no WebGPU/.test(banner ?? ""), `banner: ${banner}`);
        await bare.setInputFiles("#classify-file", w.teach[0].held);
        assert(await bare.isDisabled("#classify-run"), "Classify is offered without WebGPU");
        await bare.close();
      });
      assertEquals(offOrigin(requests, origin), [], "requests that left 127.0.0.1");
      assertEquals(errors, [], "page errors");
    } finally {
      await browser?.close().catch(() => {});
      await server.shutdown();
      await Deno.remove(w.dir, { recursive: true }).catch(() => {});
    }
  },
});
