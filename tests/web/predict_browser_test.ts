/// <reference lib="dom" />
// The dashboard's predict page, "run in my browser", end to end in headless Chromium (playwright-core and
// Debian's /usr/bin/chromium): with WebGPU (--enable-unsafe-webgpu: SwiftShader on the CPU) the page
// predicts with the tiny checkpoint in the page — the video is never POSTed, the weights come from the
// dashboard's own weights route and from the browser's cache after a reload — and its top-5 equals
// lib/predict/predict.ts's (what the server's form runs) within 1e-5, with the sampled frames, the time
// and the adapter shown; the big bundle is asked for by the predict page only. Launched without WebGPU,
// the page says so and the form's POST gets the server's answer. No request leaves 127.0.0.1.
// The first visit's, the reloaded page's and a second video's times are printed (the browser's own
// timings, not asserted: speed is a benchmark's business).

import type { Browser, BrowserContext, Page } from "npm:playwright-core@1.65.1";
import { assert, assertEquals } from "../data/assert.ts";
import { browserMissing, CHROMIUM, CHROMIUM_ARGS, offOrigin } from "../../lib/cli/browser-page.ts";
import { predict, type PredictResult } from "../../lib/predict/predict.ts";
import { ResultsStore } from "../../lib/results/store.ts";
import { predictRoutes } from "../../web/predict.tsx";
import { createDashboard } from "../../web/server.tsx";
import { shellLayout } from "../../web/html.tsx";
import { type Fixture, makeFixture } from "../cli/fixture.ts";

const skip = await browserMissing();
if (skip) console.log(`dashboard in-browser predict tests skipped: ${skip}`);

const LABELS = ["red", "blue", "up", "left", "circle", "green"];
const FRAMES = 4;
const TEMPLATE = "{name}";

interface Served {
  origin: string;
  /** "METHOD /path" of every request the dashboard answered */
  log: string[];
  fx: Fixture;
  close(): Promise<void>;
}

let served: Served | undefined;

/** The dashboard with its predict routes over a store holding one done run's tiny checkpoint. */
async function serve(): Promise<Served> {
  if (served) return served;
  const fx = await makeFixture();
  const store = ResultsStore.open(`${fx.dir}/results.db`);
  const run = store.startRun({
    experiment: "tiny",
    protocol: { kind: "fully-supervised", dataset: "synthetic" },
    variant: "vifi",
    config: {},
    commit: null,
    seed: 0,
    device: "test",
  });
  store.addCheckpoint(run, { epoch: 1, kind: "best", path: fx.checkpoint, top1: 50 });
  store.finishRun(run, { status: "done" });
  // as `deno task dashboard` mounts it: in the dashboard's shell, which brings "run in my browser"
  const routes = predictRoutes({ store, layout: shellLayout("/predict") });
  routes.warmBrowser();
  const dash = createDashboard({ store, predict: routes.app });
  const log: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    log.push(`${req.method} ${new URL(req.url).pathname}`);
    return dash.app.fetch(req);
  });
  served = {
    origin: `http://127.0.0.1:${server.addr.port}`,
    log,
    fx,
    async close() {
      await server.shutdown();
      routes.close();
      dash.close();
      store.close();
    },
  };
  return served;
}

/** The page's console errors and warnings and uncaught errors, for a failure's message. */
const pageLog: string[] = [];

async function launch(webgpu: boolean): Promise<{ browser: Browser; page: Page; requests: string[] }> {
  const { chromium } = await import("npm:playwright-core@1.65.1");
  const args = webgpu ? CHROMIUM_ARGS : CHROMIUM_ARGS.filter((a) => a !== "--enable-unsafe-webgpu");
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args });
  const context: BrowserContext = await browser.newContext();
  const requests: string[] = [];
  context.on("request", (r) => requests.push(r.url()));
  const page = await context.newPage();
  page.on("console", (m) => {
    if (m.type() === "error" || m.type() === "warning") pageLog.push(`${m.type()}: ${m.text()}`);
  });
  page.on("pageerror", (e) => pageLog.push(`page error: ${e.message}`));
  return { browser, page, requests };
}

/** Fills the predict form for `video` and submits it. */
async function submit(page: Page, fx: Fixture, video: string): Promise<void> {
  await page.selectOption("select[name=checkpoint]", fx.checkpoint);
  await page.setInputFiles("input[name=video]", video);
  await page.fill("input[name=labels]", LABELS.join(", "));
  await page.fill("input[name=template]", TEMPLATE);
  await page.fill("input[name=frames]", String(FRAMES));
  await page.click("form.predict-form button[type=submit]");
}

interface Shown {
  rows: { label: string; prob: number }[];
  frames: string[];
  text: string;
  timing: string;
  ms: number;
}

/** The top-5 rows, frame captions and text of the result section `sel`, once it is there. */
async function shown(page: Page, sel: string): Promise<Shown> {
  await page.waitForSelector(sel, { timeout: 240_000 });
  return await page.evaluate((sel) => {
    const s = document.querySelector(sel)!;
    return {
      rows: [...s.querySelectorAll("table.predictions tbody tr")].map((tr) => ({
        label: tr.querySelector("td.label")!.textContent ?? "",
        prob: Number(tr.querySelector("td.prob")!.getAttribute("data-prob")),
      })),
      frames: [...s.querySelectorAll("figcaption")].map((f) => f.textContent ?? ""),
      text: s.textContent ?? "",
      timing: s.querySelector(".timing")?.textContent ?? "",
      ms: Number(s.querySelector(".timing")?.getAttribute("data-ms") ?? NaN),
    };
  }, sel);
}

/** The frames the page showed for fx.videos[1], for the server's answer to be held to. */
let browserFrames: string[] | undefined;

const serverAnswers = new Map<string, Promise<PredictResult>>();
/** lib/predict/predict.ts on `video` with the form's options: what the server's form answers with. */
function serverPredict(fx: Fixture, video: string): Promise<PredictResult> {
  if (!serverAnswers.has(video)) {
    serverAnswers.set(
      video,
      predict(video, { weights: fx.checkpoint, labels: LABELS, frames: FRAMES, template: TEMPLATE, top: 5 }),
    );
  }
  return serverAnswers.get(video)!;
}

function sameTop5(got: Shown["rows"], want: PredictResult, tol: number, what: string): void {
  assertEquals(got.length, 5, `${what}: rows`);
  got.forEach((r, i) => {
    assertEquals(r.label, want.predictions[i].label, `${what}: row ${i}`);
    const d = Math.abs(r.prob - want.predictions[i].prob);
    assert(d <= tol, `${what}: row ${i} ${r.label}: ${r.prob} vs the server's ${want.predictions[i].prob}`);
  });
}

/** The browser's answer for a video, checked against the server's; `from` is where the weights came from. */
async function browserRun(page: Page, fx: Fixture, video: string, from: string): Promise<Shown> {
  const n = await page.evaluate(() =>
    Number(document.querySelector(".browser-result")?.getAttribute("data-run") ?? 0)
  );
  await submit(page, fx, video);
  const answer = `.browser-result[data-run="${n + 1}"]`;
  // the island's error, or its answer
  try {
    await page.waitForSelector(`${answer}, .in-browser .error`, { timeout: 120_000 });
  } catch (e) {
    const island = await page.textContent(".in-browser");
    throw new Error(`${(e as Error).message.split("\n")[0]}; the island: ${island}; ${pageLog.join(" | ")}`);
  }
  const error = await page.$(".in-browser .error");
  if (error) throw new Error(`the page: ${await error.textContent()}; ${pageLog.join(" | ")}`);
  const got = await shown(page, answer);
  sameTop5(got.rows, await serverPredict(fx, video), 1e-5, `${video} in the page`);
  assertEquals(got.frames.length, FRAMES, "one thumbnail per sampled frame");
  assert(got.text.includes(`(from ${from})`), `weights from ${from}: ${got.text}`);
  assert(got.text.includes("computed in this browser on"), got.text);
  assert(Number.isFinite(got.ms) && got.ms > 0, `time shown: ${got.ms}`);
  return got;
}

Deno.test({
  name: "dashboard predict page: in the browser with WebGPU, the server's top-5, no upload, cached weights",
  ignore: skip !== undefined,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const { origin, log, fx } = await serve();
    const { browser, page, requests } = await launch(true);
    try {
      // another page of the dashboard does not load the predict page's bundle
      await page.goto(`${origin}/runs`);
      await page.waitForLoadState("load");
      assert(!requests.some((u) => u.includes("/browser/js/")), "the runs page asked for the model bundle");

      await page.goto(`${origin}/predict`);
      await page.waitForSelector("[data-webgpu=present]", { timeout: 120_000 });
      const adapter = (await page.textContent(".webgpu .adapter")) ?? "";
      assert(adapter.length > 0, "no adapter named");
      assertEquals(await page.isChecked("input[name=where][value=browser]"), true, "browser is the default");

      const first = await browserRun(page, fx, fx.videos[0], "network");
      const again = await browserRun(page, fx, fx.videos[1], "memory");
      browserFrames = again.frames;
      const frames = (await serverPredict(fx, fx.videos[1])).frames;
      assertEquals(frames, FRAMES, "the server sampled the form's frame count");

      // a new visit: the weights come from the browser's cache, the model is built again
      await page.reload();
      await page.waitForSelector("[data-webgpu=present]", { timeout: 120_000 });
      const cached = await browserRun(page, fx, fx.videos[0], "cache");
      await page.screenshot({ path: `${fx.dir}/predict-in-browser.png`, fullPage: true });

      assert(!log.some((l) => l.startsWith("POST ")), `a POST reached the server: ${log.join(", ")}`);
      const downloads = log.filter((l) => l === "GET /predict/browser/weights");
      assertEquals(downloads.length, 1, "the weights were downloaded once, then read from the cache");
      assert(log.some((l) => l.startsWith("GET /predict/kernels/")), "the kernels came from the dashboard");
      assertEquals(offOrigin(requests, origin), [], "requests off 127.0.0.1");
      console.log(JSON.stringify({
        screenshot: `${fx.dir}/predict-in-browser.png`,
        adapter,
        firstPredictionMs: Math.round(first.ms),
        secondVideoMs: Math.round(again.ms),
        reloadFirstPredictionMs: Math.round(cached.ms),
        timings: [first.timing, again.timing, cached.timing],
      }));
    } finally {
      await browser.close().catch(() => {});
    }
  },
});

Deno.test({
  name: "dashboard predict page: without WebGPU the page says so and the server's form answers",
  ignore: skip !== undefined,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const { origin, log, fx } = await serve();
    const { browser, page, requests } = await launch(false);
    try {
      await page.goto(`${origin}/predict`);
      await page.waitForSelector("[data-webgpu=absent]", { timeout: 120_000 });
      const said = (await page.textContent("[data-webgpu=absent]")) ?? "";
      assert(/WebGPU/.test(said) && said.includes("predictions run on the server"), said);
      assertEquals(await page.locator("input[name=where]").count(), 0, "no browser choice offered");
      const posts = log.filter((l) => l === "POST /predict").length;
      await submit(page, fx, fx.videos[1]);
      const got = await shown(page, ".predict-result:not(.browser-result)");
      assertEquals(log.filter((l) => l === "POST /predict").length, posts + 1, "the form was posted");
      sameTop5(got.rows, await serverPredict(fx, fx.videos[1]), 1e-6, "the server's answer");
      assertEquals(got.frames.length, FRAMES, "one thumbnail per sampled frame");
      if (browserFrames) assertEquals(got.frames, browserFrames, "the server sampled the page's frames");
      // the page after the server's answer still says why it did not run in the browser
      await page.waitForSelector("[data-webgpu=absent]", { timeout: 60_000 });
      assertEquals(offOrigin(requests, origin), [], "requests off 127.0.0.1");
    } finally {
      await browser.close().catch(() => {});
    }
  },
});

Deno.test({
  name: "dashboard predict page: close the server",
  ignore: skip !== undefined,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await served?.close();
    served = undefined;
  },
});
