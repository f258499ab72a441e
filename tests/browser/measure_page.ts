// Times predictInPage in headless Chromium (not a test: timings are measurements, printed as JSON):
//   deno run -A tests/browser/measure_page.ts --weights CKPT --labels labels.csv VIDEO... [--frames 8]
//     [--chromium PATH]
// First visit (a fresh browser context: the weights come over the network, every pipeline compiles), the
// per-video latency with the model kept (the later videos), then a second visit (the weights from the Cache
// API, the pipelines compile again in the new page). Each stage's wall milliseconds come from the page.

import { parseArgs } from "node:util";
import { basename } from "node:path";
import { CHROMIUM, openPage, type ServedFile } from "../../lib/cli/browser-page.ts";
import { readLabelCsv } from "../../lib/data/labels.ts";

const ENTRY = new URL("../../lib/browser/entry.ts", import.meta.url);

interface Timed {
  ms: Record<string, number>;
  sinceLoad: number;
  weightsFrom: string;
  decoder: string;
  top: string;
  adapter: string;
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    options: {
      weights: { type: "string" },
      labels: { type: "string" },
      frames: { type: "string", default: "8" },
      chromium: { type: "string", default: CHROMIUM },
    },
    allowPositionals: true,
  });
  if (!values.weights || !values.labels || positionals.length === 0) {
    console.error("usage: measure_page.ts --weights CKPT --labels labels.csv VIDEO... [--frames 8]");
    Deno.exit(2);
  }
  const classes = await readLabelCsv(values.labels);
  const wasm = await Deno.readFile(new URL(import.meta.resolve("npm:@ffmpeg/core@0.12.10/wasm")));
  const files: Record<string, ServedFile> = {
    "/weights/model.safetensors": { body: await Deno.readFile(values.weights) },
    "/ffmpeg-core.wasm": { body: wasm, type: "application/wasm" },
  };
  const paths = positionals.map((_, i) => `/videos/${i}.mp4`);
  for (const [i, v] of positionals.entries()) files[paths[i]] = { body: await Deno.readFile(v) };
  const t0 = performance.now();
  const p = await openPage({ entries: [ENTRY], files, executablePath: values.chromium });
  const launchMs = performance.now() - t0;
  const run = async (video: string): Promise<Timed> => {
    await p.page!.waitForFunction("globalThis.vifi !== undefined", null, { timeout: 60_000 });
    return await p.page!.evaluate(async (a) => {
      // deno-lint-ignore no-explicit-any
      const vifi = (globalThis as any).vifi;
      vifi.useFfmpegWasm("/ffmpeg-core.wasm");
      const bytes = new Uint8Array(await (await fetch(a.video)).arrayBuffer());
      const r = await vifi.predictInPage({
        weights: a.weights,
        classes: a.classes,
        video: bytes,
        frames: a.frames,
      });
      return {
        ms: r.ms,
        sinceLoad: performance.now(),
        weightsFrom: r.weightsFrom,
        decoder: r.decoder,
        top: `${r.predictions[0].label} ${r.predictions[0].prob.toFixed(3)}`,
        adapter: `${r.adapter.vendor} ${r.adapter.architecture}`,
      };
    }, { video, weights: "/weights/model.safetensors", classes, frames: Number(values.frames) });
  };
  try {
    const first = await run(paths[0]);
    const rest: Timed[] = [];
    for (const v of paths.slice(1)) rest.push(await run(v));
    await p.goto();
    const second = await run(paths[0]);
    const totals = rest.map((r) => r.ms.total).sort((a, b) => a - b);
    console.log(JSON.stringify(
      {
        browser: p.browser,
        adapter: first.adapter,
        weights: `${basename(values.weights)} (${(await Deno.stat(values.weights)).size} bytes)`,
        frames: Number(values.frames),
        launchAndLoadMs: +launchMs.toFixed(0),
        firstVisit: first,
        secondVisit: second,
        perVideo: {
          videos: rest.length,
          medianMs: totals.length ? +totals[totals.length >> 1].toFixed(1) : null,
          minMs: totals.length ? +totals[0].toFixed(1) : null,
          maxMs: totals.length ? +totals[totals.length - 1].toFixed(1) : null,
          decoders: [...new Set(rest.map((r) => r.decoder))],
          // median of each stage over the videos
          stagesMs: Object.fromEntries(
            ["video", "predict"].map((k) => {
              const v = rest.map((r) => r.ms[k]).sort((a, b) => a - b);
              return [k, v.length ? v[v.length >> 1] : null];
            }),
          ),
        },
        offOrigin: p.requests.filter((u) => !u.startsWith(new URL(p.url).origin) && !/^(data|blob):/.test(u)),
      },
      (_, v) => typeof v === "number" ? +v.toFixed(1) : v,
      2,
    ));
  } finally {
    await p.close();
  }
}

if (import.meta.main) await main();
