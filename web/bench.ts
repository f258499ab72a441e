// `deno task bench`'s dashboard row: how long each leaderboard page takes to render (database query,
// aggregation, pivot, HTML) over a results database of thousands of runs, through the Hono app exactly
// as a browser request would. The target is under 200 ms per page at 5,000 runs.

import { ResultsStore, type StartRunInput } from "../lib/results/store.ts";
import type { ProtocolKind } from "../lib/dsl/types.ts";
import { createDashboard } from "./server.tsx";
import { PROTOCOLS } from "./pages/leaderboard.tsx";

export interface LeaderboardRenderResult {
  runs: number;
  /** median ms per page, by protocol */
  pages: Record<string, number>;
  /** the slowest page's median */
  worstMs: number;
  htmlBytes: Record<string, number>;
  fillMs: number;
}

const VARIANTS = ["both", "image", "text", "prompt"];
const CLASSES = Array.from({ length: 10 }, (_, i) => `class ${i}`);

function evalOf(name: string, top1: number, extra: Record<string, unknown> = {}) {
  return {
    name,
    clips: 1,
    crops: 1,
    top1,
    top5: Math.min(100, top1 + 20),
    count: 100,
    perClass: CLASSES.map((n) => ({ name: n, correct: Math.round(top1 / 10), total: 10 })),
    confusion: CLASSES.map((_, i) => CLASSES.map((_, j) => (i === j ? 5 : 0))),
    ...extra,
  };
}

/** Writes `runs` finished synthetic runs spread over every protocol, dataset, variant, split, seed and K. */
export function fillSyntheticRuns(store: ResultsStore, runs: number, seed = 1): void {
  let s = seed >>> 0;
  const rand = () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
  for (let i = 0; i < runs; i++) {
    const kind = PROTOCOLS[i % PROTOCOLS.length].kind as ProtocolKind;
    const variant = VARIANTS[Math.floor(i / 5) % VARIANTS.length];
    const acc = () => Math.round(rand() * 9000) / 100;
    const input: StartRunInput = {
      experiment: `exp-${kind}-${i % 40}`,
      protocol: { kind },
      variant,
      config: { i, lr: 1e-3 * rand(), note: "synthetic bench run" },
      commit: null,
      seed: i,
      device: "bench",
    };
    const evals: ReturnType<typeof evalOf>[] = [];
    const split = 1 + (i % 3);
    if (kind === "zero-shot") {
      const d = ["hmdb", "ucf", "k600"][Math.floor(i / 20) % 3];
      input.protocol.dataset = d;
      evals.push(evalOf(d, acc(), { dataset: d, split }));
    } else if (kind === "base-to-novel") {
      const d = ["k400", "hmdb", "ucf", "ssv2"][Math.floor(i / 20) % 4];
      input.protocol.dataset = d, input.protocol.seed = split;
      evals.push(evalOf("base", acc(), { subset: "base" }), evalOf("novel", acc(), { subset: "novel" }));
    } else if (kind === "few-shot") {
      const d = ["hmdb", "ucf", "ssv2"][Math.floor(i / 20) % 3];
      input.protocol.dataset = d, input.protocol.shots = [2, 4, 8, 16][Math.floor(i / 60) % 4];
      evals.push(evalOf(d, acc(), { dataset: d, split }));
    } else if (kind === "fully-supervised") {
      const d = ["k400", "ssv2"][Math.floor(i / 20) % 2];
      input.protocol.dataset = d;
      evals.push(evalOf("val", acc(), { dataset: d }));
    } else {
      evals.push(evalOf(`eval-${i % 3}`, acc()));
    }
    const id = store.startRun(input);
    for (const e of evals) store.addEval(id, e);
    store.finishRun(id, { status: "done", metrics: { evals: {} } });
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** Fills a temporary database with `runs` synthetic runs and times every leaderboard page (median of `reps`). */
export async function benchLeaderboardRender(runs = 5000, reps = 5): Promise<LeaderboardRenderResult> {
  const dir = await Deno.makeTempDir({ prefix: "vifi-dash-bench-" });
  const store = ResultsStore.open(`${dir}/results.db`);
  const dash = createDashboard({ store, path: `${dir}/results.db` });
  try {
    const t0 = performance.now();
    fillSyntheticRuns(store, runs);
    const fillMs = performance.now() - t0;
    const pages: Record<string, number> = {}, htmlBytes: Record<string, number> = {};
    for (const { kind } of PROTOCOLS) {
      const times: number[] = [];
      // one unmeasured request first: the first render pays for JIT warm-up and SQLite's page cache
      for (let r = 0; r <= reps; r++) {
        const t = performance.now();
        const res = await dash.app.request(`/leaderboard/${kind}`);
        const body = await res.text();
        const ms = performance.now() - t;
        if (res.status !== 200) throw new Error(`/leaderboard/${kind} answered ${res.status}`);
        htmlBytes[kind] = body.length;
        if (r > 0) times.push(ms);
      }
      pages[kind] = median(times);
    }
    return { runs, pages, worstMs: Math.max(...Object.values(pages)), htmlBytes, fillMs };
  } finally {
    dash.close();
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** The result as a `deno task bench` row (the fields lib/cli/bench.ts's BenchRow requires). */
export async function leaderboardBenchRow(runs = 5000) {
  const r = await benchLeaderboardRender(runs);
  return {
    op: "dashboard leaderboard page",
    shape: `${runs} runs, worst of ${Object.keys(r.pages).length} pages`,
    dtype: "-",
    ms: r.worstMs,
    ref: null,
    ref_ms: null,
    ratio: null,
  };
}

if (import.meta.main) {
  const runs = Number(Deno.args[0] ?? 5000);
  const r = await benchLeaderboardRender(runs);
  console.log(`filled ${r.runs} runs in ${r.fillMs.toFixed(0)} ms`);
  for (const [k, ms] of Object.entries(r.pages)) {
    console.log(`${k.padEnd(17)} ${ms.toFixed(1).padStart(7)} ms  ${r.htmlBytes[k]} bytes`);
  }
}
