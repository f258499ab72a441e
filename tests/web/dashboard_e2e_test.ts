/// <reference lib="dom" />
// End to end: the demo trains into a temporary database, `deno task dashboard` serves it, and headless
// Chromium (playwright-core driving Debian's /usr/bin/chromium) sorts and filters a leaderboard through
// its island, opens the run page, zooms a chart, downloads SVG and PNG, and watches a new run appear on
// the runs page without a reload. Screenshots go to a temporary artifacts directory printed below.

import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { assert, assertEquals } from "../data/assert.ts";
import { ResultsStore } from "../../lib/results/store.ts";
import { EVIL, fillFixtureRuns } from "./fixtures.ts";
import { runCliEnv } from "../run_cli.ts";

const CHROMIUM = "/usr/bin/chromium";
const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) console.log(`dashboard e2e skipped: ${CHROMIUM} is absent (apt-get install chromium)`);

/** The demo, shortened, into `db`: the fine-tuned run's id, or why it could not run. */
async function demoInto(dir: string, db: string): Promise<{ run: number } | { problem: string }> {
  // its pretrained CLIP goes to a cache of its own, not the user's
  const r = await runCliEnv(
    { VIFI_CACHE: `${dir}/cache` },
    "demo",
    ...[
      "--dir",
      dir,
      "--pretrain-steps",
      "6",
      "--epochs",
      "2",
      "--clips-per-class",
      "3",
      "--db",
      db,
      "--json",
    ],
  );
  if (r.code === 0) return { run: JSON.parse(r.out).runs.fineTuned };
  return { problem: `demo exited ${r.code}: ${r.err.trim().split("\n").slice(-3).join(" | ")}` };
}

async function startDashboard(db: string): Promise<{ url: string; stop: () => Promise<void> }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "lib/cli/dashboard.ts", "--db", db, "--port", "0"],
    cwd: ROOT,
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  const deadline = Date.now() + 60_000;
  while (!/http:\/\/127\.0\.0\.1:\d+\//.test(text)) {
    if (Date.now() > deadline) throw new Error(`dashboard did not start: ${text}`);
    const { value, done } = await reader.read();
    if (done) throw new Error(`dashboard exited: ${text}`);
    text += value;
  }
  // keep draining stdout so the child never blocks on a full pipe
  (async () => {
    while (!(await reader.read()).done) { /* drain */ }
  })().catch(() => {});
  return {
    url: /http:\/\/127\.0\.0\.1:\d+/.exec(text)![0],
    stop: async () => {
      child.kill("SIGTERM");
      await child.status;
    },
  };
}

type Context = Awaited<
  ReturnType<typeof import("npm:playwright-core@1.65.1").chromium.launchPersistentContext>
>;
type Page = Awaited<ReturnType<Context["newPage"]>>;

/** What each part of the walk through the dashboard works with. */
interface Session {
  ctx: Context;
  page: Page;
  url: string;
  artifacts: string;
  /** resolves once every island on the page (or those matching `sel`) has hydrated */
  hydrated: (sel?: string) => Promise<unknown>;
}

/** The leaderboard: filter and sort through the island, without navigating. */
async function leaderboardIsland({ page, url, artifacts, hydrated }: Session): Promise<void> {
  await page.goto(`${url}/leaderboard/base-to-novel`);
  await hydrated();
  assertEquals(
    await page.evaluate(() => getComputedStyle(document.querySelector("header")!).backgroundColor),
    "rgb(29, 36, 48)",
    "the stylesheet applies under the CSP",
  );
  await page.evaluate(() => ((globalThis as unknown as { marker: number }).marker = 1));
  const count = () => page.locator(".count").textContent();
  const total = Number(/of (\d+) rows/.exec((await count()) ?? "")?.[1]);
  assert(total > 1, `rows: ${await count()}`);
  await page.selectOption("select[name=dataset]", "synthetic");
  // the demo's zero-shot (frozen) and fine-tuned (vifi) rows, or the fixture's one when the demo could not run
  const shown = Number(/^(\d+) of/.exec((await count()) ?? "")?.[1]);
  assert(shown >= 1 && shown < total && (await count()) === `${shown} of ${total} rows`, `${await count()}`);
  assertEquals(await page.locator("tbody td.label").allTextContents(), Array(shown).fill("synthetic"));
  assert(page.url().includes("dataset=synthetic"), "the address follows the filter");
  const synth = page.locator("tbody tr").first();
  assert(
    /^\d+\.\d\*?$/.test((await synth.locator("td.ours a").first().textContent()) ?? ""),
    "our Base value",
  );
  await page.selectOption("select[name=dataset]", "");
  await page.click("a[data-sort=label]"); // asc → desc
  const labels = await page.locator("tbody td.label").allTextContents();
  assertEquals(labels, [...labels].sort().reverse(), "sorted by dataset, descending");
  await page.click("a[data-sort=base]");
  const firstOurs = await page.locator("tbody tr").first().locator("td.ours").first().textContent();
  assert(firstOurs !== "—", `sorting by Base puts a row with our number first, got ${firstOurs}`);
  assertEquals(await page.evaluate(() => (globalThis as unknown as { marker?: number }).marker), 1);
  await page.screenshot({ path: `${artifacts}/leaderboard.png`, fullPage: true });
}

/** The run page: curves, embedding map, zoom, SVG and PNG downloads. */
async function runPageCharts({ page, url, artifacts, hydrated }: Session, demoRun: number): Promise<void> {
  await page.goto(`${url}/run/${demoRun}`);
  await hydrated();
  const lossPath = await page.locator("#chart-loss path").first().getAttribute("d");
  assert((lossPath?.split("L").length ?? 0) >= 5, `loss curve path: ${lossPath}`);
  assert(await page.locator("#chart-accuracy").isVisible(), "accuracy chart");
  const dots = await page.locator("#chart-embedding g.points circle").count();
  assert(dots >= 6, `embedding map points: ${dots}`);
  const box = await page.locator("#chart-embedding").boundingBox();
  assert(box && box.width > 100 && box.height > 100, "the embedding map is drawn");
  const before = await page.locator("#chart-loss").getAttribute("viewBox");
  await page.locator("figure[data-figure=loss] button[data-act=zoom-in]").click();
  const after = await page.locator("#chart-loss").getAttribute("viewBox");
  assert(before !== after, `zoom changed the viewBox (${before} → ${after})`);
  await page.screenshot({ path: `${artifacts}/run.png`, fullPage: true });
  await page.locator("figure[data-figure=loss] button[data-act=reset]").click();

  const [svgDl] = await Promise.all([
    page.waitForEvent("download"),
    page.locator("figure[data-figure=loss] a[data-download=svg]").click(),
  ]);
  await svgDl.saveAs(`${artifacts}/${svgDl.suggestedFilename()}`);
  const svg = await Deno.readTextFile(`${artifacts}/${svgDl.suggestedFilename()}`);
  assert(svg.startsWith("<?xml") && svg.includes("<svg xmlns="), "the downloaded SVG");
  const parsed = await page.evaluate((s: string) => {
    const d = new DOMParser().parseFromString(s, "image/svg+xml");
    return d.querySelector("parsererror") ? "parse error" : d.documentElement.nodeName;
  }, svg);
  assertEquals(parsed, "svg");
  const [pngDl] = await Promise.all([
    page.waitForEvent("download"),
    page.locator("figure[data-figure=embedding] button[data-act=png]").click(),
  ]);
  await pngDl.saveAs(`${artifacts}/${pngDl.suggestedFilename()}`);
  const png = await Deno.readFile(`${artifacts}/${pngDl.suggestedFilename()}`);
  assertEquals([...png.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47], "PNG signature");
  assert(png.length > 2000, `PNG of ${png.length} bytes`);
}

/** The runs page: the hostile name is text; a new run appears without a reload. */
async function runsPageLive({ page, url, artifacts, hydrated }: Session, store: ResultsStore): Promise<void> {
  await page.goto(`${url}/runs`);
  await hydrated();
  await page.waitForSelector(".live-runs[data-live='1']");
  assert((await page.textContent("body"))?.includes(EVIL), "the hostile run name shows as text");
  const newId = store.startRun({
    experiment: "appears-live",
    protocol: { kind: "custom" },
    variant: "both",
    config: {},
    commit: null,
    seed: 9,
    device: "e2e",
  });
  await page.waitForSelector(`tr[data-run="${newId}"]`, { timeout: 10_000 });
  store.finishRun(newId, { status: "failed", error: "stopped by the test" });
  await page.waitForSelector(`tr[data-run="${newId}"] td.status-failed`, { timeout: 10_000 });
  await page.screenshot({ path: `${artifacts}/runs.png`, fullPage: true });
}

/** Predict: the demo's stored checkpoint, one of its synthetic videos, three class names. */
async function predictFromCheckpoint({ page, url, artifacts }: Session, tmp: string): Promise<void> {
  await page.goto(`${url}/predict`);
  const options = await page.locator("select[name=checkpoint] option").evaluateAll((os) =>
    os.map((o) => (o as unknown as { value: string }).value).filter((v) => v.endsWith("last.safetensors"))
  );
  assert(options.length > 0, "the demo's checkpoint is offered");
  await page.selectOption("select[name=checkpoint]", options[0]);
  const video = [...Deno.readDirSync(`${tmp}/demo/data/videos`)].map((e) => e.name).sort()[0];
  await page.setInputFiles("input[name=video]", `${tmp}/demo/data/videos/${video}`);
  await page.fill(
    "input[name=labels]",
    "red circle moving left, blue square moving up, green triangle moving down",
  );
  await Promise.all([page.waitForLoadState("load"), page.click("button[type=submit]")]);
  // an error page (a refused post, a failed prediction) says why instead of timing out
  await page.waitForSelector("td.prob[data-prob], .error", { timeout: 120_000 });
  const refused = await page.locator(".error").count() ? await page.textContent(".error") : null;
  assertEquals(refused, null, "the prediction answered with an error");
  const probs =
    (await page.locator("td.prob").evaluateAll((ts) =>
      ts.map((t) => Number((t as unknown as { dataset: { prob: string } }).dataset.prob))
    )) as number[];
  assertEquals(probs.length, 3);
  assert(Math.abs(probs.reduce((a, b) => a + b, 0) - 1) < 1e-4, `probabilities ${probs}`);
  assert((await page.locator("img[src^='data:image/png']").count()) > 0, "frame thumbnails");
  await page.screenshot({ path: `${artifacts}/predict.png`, fullPage: true });
}

/** Without the islands bundle (as with JavaScript off) the content is all there. */
async function withoutIslands({ ctx, url, artifacts }: Session, demoRun: number): Promise<void> {
  const bare = await ctx.newPage();
  await bare.route("**/static/islands.js", (r) => r.abort());
  await bare.goto(`${url}/leaderboard/base-to-novel?dataset=synthetic&sort=base&dir=desc`);
  const synthetic = await bare.locator("tbody td.label").allTextContents();
  assert(synthetic.length >= 1 && synthetic.every((l) => l === "synthetic"), `rows ${synthetic}`);
  assertEquals(await bare.locator("[data-island][data-hydrated]").count(), 0);
  await bare.goto(`${url}/run/${demoRun}`);
  assert((await bare.locator("#chart-loss path").count()) > 0, "curves without JavaScript");
  assert(
    (await bare.locator("#chart-embedding circle").count()) >= 6,
    "embedding map without JavaScript",
  );
  await bare.screenshot({ path: `${artifacts}/run-no-js.png`, fullPage: true });
  await bare.close();
}

Deno.test({
  name: "dashboard in headless Chromium: islands sort, filter, zoom, download; runs update live",
  ignore: !hasChromium,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const tmp = await Deno.makeTempDir({ prefix: "vifi-dash-e2e-" });
    const artifacts = `${tmp}/artifacts`;
    await Deno.mkdir(artifacts);
    console.log(`artifacts (screenshots, downloads): ${artifacts}`);
    const db = `${tmp}/results.db`;
    const t0 = performance.now();
    const demo = await demoInto(`${tmp}/demo`, db);
    const store = ResultsStore.open(db);
    let demoRun: number;
    if ("problem" in demo) {
      // no adapter to train on: the dashboard is still tested, on runs written directly
      console.log(`demo could not run (${demo.problem}); using fixture runs instead`);
      demoRun = fillFixtureRuns(store).done;
    } else {
      demoRun = demo.run;
      console.log(`demo trained into ${db} in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
      fillFixtureRuns(store);
    }
    const server = await startDashboard(db);
    const { chromium } = await import("npm:playwright-core@1.65.1");
    const ctx = await chromium.launchPersistentContext(`${tmp}/profile`, {
      executablePath: CHROMIUM,
      headless: true,
      acceptDownloads: true,
      viewport: { width: 1300, height: 1000 },
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
      ],
    });
    const problems: string[] = [];
    const foreign: string[] = [];
    try {
      const page = await ctx.newPage();
      page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
      // the Content-Security-Policy allows nothing inline: a blocked script or style shows up here
      page.on("console", (m) => {
        if (/Content.Security.Policy/i.test(m.text())) problems.push(`CSP: ${m.text()}`);
      });
      page.on("dialog", (d) => {
        problems.push(`a dialog opened: ${d.message()}`);
        d.dismiss().catch(() => {});
      });
      page.on("request", (r) => {
        if (!r.url().startsWith(server.url) && !r.url().startsWith("blob:") && !r.url().startsWith("data:")) {
          foreign.push(r.url());
        }
      });
      const hydrated = (sel = "[data-island]") =>
        page.waitForFunction(
          (s: string) =>
            [...document.querySelectorAll<HTMLElement>(s)].every((e) => e.dataset.hydrated === "1"),
          sel,
        );

      const session: Session = { ctx, page, url: server.url, artifacts, hydrated };
      await leaderboardIsland(session);
      await runPageCharts(session, demoRun);
      await runsPageLive(session, store);
      if (!("problem" in demo)) await predictFromCheckpoint(session, tmp);
      await withoutIslands(session, demoRun);
      assertEquals(problems, []);
      assertEquals(foreign, [], "requests outside the dashboard");
    } finally {
      await ctx.close();
      await server.stop();
      store.close();
    }
  },
});
