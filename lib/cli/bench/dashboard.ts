// `deno task bench`'s dashboard rows: how long each leaderboard page takes to render (database query,
// aggregation, pivot, HTML) over a results database of thousands of runs, through the Hono app exactly
// as a browser request would (target: under 200 ms per page at 5,000 runs); and a load test of the real
// dashboard process on loopback, 20 concurrent clients over 5,000 runs (target: p95 under 300 ms for
// every kind of page).

import { ResultsStore, type StartRunInput } from "../../results/store.ts";
import type { ProtocolKind } from "../../dsl/types.ts";
import { VARIANTS } from "../../models/vifi.ts";
import { createDashboard } from "../../../web/server.tsx";
import { PROTOCOLS } from "../../../web/pages/leaderboard.tsx";

export interface LeaderboardRenderResult {
  runs: number;
  /** median ms per page, by protocol */
  pages: Record<string, number>;
  /** the slowest page's median */
  worstMs: number;
  htmlBytes: Record<string, number>;
  fillMs: number;
}

/** the variants a run trains (a frozen model is only evaluated) */
const TRAINED = VARIANTS.filter((v) => v !== "frozen");
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
    const variant = TRAINED[Math.floor(i / 5) % TRAINED.length];
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
  try {
    const t0 = performance.now();
    fillSyntheticRuns(store, runs);
    const fillMs = performance.now() - t0;
    const pages: Record<string, number> = {}, htmlBytes: Record<string, number> = {};
    for (const { kind } of PROTOCOLS) {
      const times: number[] = [];
      // one unmeasured request first: the first render pays for JIT warm-up and SQLite's page cache
      for (let r = 0; r <= reps; r++) {
        // a fresh dashboard each time: its cache would otherwise answer every request after the first,
        // and this row is about computing the page (what the first request after a change costs)
        const dash = createDashboard({ store, path: `${dir}/results.db` });
        const t = performance.now();
        const res = await dash.app.request(`/leaderboard/${kind}`);
        const body = await res.text();
        const ms = performance.now() - t;
        dash.close();
        if (res.status !== 200) throw new Error(`/leaderboard/${kind} answered ${res.status}`);
        htmlBytes[kind] = body.length;
        if (r > 0) times.push(ms);
      }
      pages[kind] = median(times);
    }
    return { runs, pages, worstMs: Math.max(...Object.values(pages)), htmlBytes, fillMs };
  } finally {
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

// ---- load test: the real `deno task dashboard` process under concurrent clients ----

export interface LoadOptions {
  runs?: number;
  clients?: number;
  /** requests per page kind */
  requests?: number;
  /** the whole test gives up after this long */
  budgetMs?: number;
}

export interface PageLoad {
  kind: string;
  requests: number;
  p50: number;
  p95: number;
  max: number;
}

function percentile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/** Starts lib/cli/dashboard.ts on a free loopback port; resolves once it listens. */
async function startDashboardProcess(db: string, deadline: number) {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("../dashboard.ts", import.meta.url).pathname,
      "--db",
      db,
      "--port",
      "0",
    ],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let out = "", err = "";
  const dec = new TextDecoder();
  const pump = async (s: ReadableStream<Uint8Array>, add: (t: string) => void) => {
    for await (const c of s) add(dec.decode(c));
  };
  const drained = Promise.all([pump(child.stdout, (t) => (out += t)), pump(child.stderr, (t) => (err += t))]);
  while (!/http:\/\/127\.0\.0\.1:\d+\//.test(out)) {
    if (Date.now() > deadline) {
      child.kill("SIGTERM");
      throw new Error(`the dashboard did not start: ${err.trim().split("\n").slice(-3).join(" | ")}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: /http:\/\/127\.0\.0\.1:\d+/.exec(out)![0],
    async stop() {
      child.kill("SIGTERM");
      await child.status;
      await drained;
    },
  };
}

/**
 * A results database of `runs` finished runs (each with a checkpoint) served by the real dashboard
 * process on 127.0.0.1; `clients` concurrent clients fetch `requests` pages of each kind (leaderboards,
 * the runs list, a run page, /predict) and the latencies' p50 / p95 are reported per kind.
 */
export async function benchDashboardLoad(
  o: LoadOptions = {},
): Promise<{ fillMs: number; pages: PageLoad[] }> {
  const runs = o.runs ?? 5000, clients = o.clients ?? 20, requests = o.requests ?? 200;
  const deadline = Date.now() + (o.budgetMs ?? 300_000);
  const dir = await Deno.makeTempDir({ prefix: "vifi-dash-load-" });
  try {
    const t0 = performance.now();
    const store = ResultsStore.open(`${dir}/results.db`);
    try {
      fillSyntheticRuns(store, runs);
      store.transaction(() => {
        for (let id = 1; id <= runs; id++) {
          store.addCheckpoint(id, { epoch: 1, kind: "best", path: `${dir}/ckpt/run-${id}/best.safetensors` });
        }
      });
    } finally {
      store.close();
    }
    const fillMs = performance.now() - t0;
    const server = await startDashboardProcess(`${dir}/results.db`, deadline);
    try {
      let seed = 12345;
      const rand = (n: number) => 1 + ((seed = (seed * 1664525 + 1013904223) >>> 0) % n);
      const kinds: [string, (i: number) => string][] = [
        ["leaderboards", (i) => (i % 6 === 0 ? "/" : `/leaderboard/${PROTOCOLS[i % 6 - 1].kind}`)],
        ["runs", (i) => `/runs?page=${1 + (i % 100)}`],
        ["run page", () => `/run/${rand(runs)}`],
        ["predict", () => "/predict"],
      ];
      const pages: PageLoad[] = [];
      for (const [kind, path] of kinds) {
        const get = async (i: number) => {
          const t = performance.now();
          const res = await fetch(server.url + path(i), { signal: AbortSignal.timeout(30_000) });
          await res.arrayBuffer();
          if (res.status !== 200) throw new Error(`${path(i)} answered ${res.status}`);
          return performance.now() - t;
        };
        await get(0); // the first render of each kind fills the caches
        const times: number[] = [];
        let next = 0;
        await Promise.all(Array.from({ length: clients }, async () => {
          while (next < requests) {
            if (Date.now() > deadline) throw new Error(`the load test ran out of time at ${kind}`);
            times.push(await get(next++));
          }
        }));
        times.sort((a, b) => a - b);
        pages.push({
          kind,
          requests: times.length,
          p50: percentile(times, 0.5),
          p95: percentile(times, 0.95),
          max: times.at(-1)!,
        });
      }
      return { fillMs, pages };
    } finally {
      await server.stop();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** The load test as `deno task bench` rows: ms is each page kind's p95 (the target is under 300 ms). */
export async function dashboardLoadRows(runs = 5000) {
  const r = await benchDashboardLoad({ runs });
  return r.pages.map((p) => ({
    op: `dashboard load ${p.kind}`,
    shape: `${runs} runs, 20 clients, ${p.requests} requests: p50 ${p.p50.toFixed(1)} ms, p95`,
    dtype: "-",
    ms: p.p95,
    ref: null,
    ref_ms: null,
    ratio: null,
  }));
}

if (import.meta.main) {
  const runs = Number(Deno.args[0] ?? 5000);
  const r = await benchLeaderboardRender(runs);
  console.log(`filled ${r.runs} runs in ${r.fillMs.toFixed(0)} ms`);
  for (const [k, ms] of Object.entries(r.pages)) {
    console.log(`${k.padEnd(17)} ${ms.toFixed(1).padStart(7)} ms  ${r.htmlBytes[k]} bytes`);
  }
  const load = await benchDashboardLoad({ runs });
  console.log(`load test: ${runs} runs (filled in ${load.fillMs.toFixed(0)} ms), 20 concurrent clients`);
  for (const p of load.pages) {
    console.log(
      `${p.kind.padEnd(13)} ${p.requests} requests  p50 ${p.p50.toFixed(1).padStart(6)} ms  ` +
        `p95 ${p.p95.toFixed(1).padStart(6)} ms  max ${p.max.toFixed(1).padStart(6)} ms`,
    );
  }
}
