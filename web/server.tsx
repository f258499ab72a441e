/** @jsxImportSource npm:preact@11.2.0 */
// The dashboard's Hono app: server-rendered pages over a ResultsStore, the islands bundle, SVG chart
// downloads, and a server-sent-event stream of run changes (one shared poll of the database per interval
// while anybody listens, so a hundred open tabs cost one query).

import { Hono } from "npm:hono@4.13.19";
import { streamSSE } from "npm:hono@4.13.19/streaming";
import type { VNode } from "npm:preact@11.2.0";
import type { ProtocolKind } from "../lib/dsl/types.ts";
import { leaderboard } from "../lib/results/leaderboard.ts";
import type { ResultsStore, RunSummary } from "../lib/results/store.ts";
import { svgDocument } from "./charts.tsx";
import { DASHBOARD_CSS, Page, renderPage, setPredictNav } from "./html.tsx";
import { requestGuard, securityHeaders } from "./guard.ts";
import type { RunRowData } from "./islands/LiveRuns.tsx";
import {
  LeaderboardIndex,
  LeaderboardPage,
  pivotLeaderboard,
  PROTOCOLS,
  viewFromQuery,
} from "./pages/leaderboard.tsx";
import { CHARTS, pickEval, runChart, RunPage } from "./pages/run.tsx";
import { ComparePage, runRowData, RunsPage, type RunsQuery, STATUSES } from "./pages/runs.tsx";

export interface DashboardOptions {
  store: ResultsStore;
  /** shown on empty pages */
  path?: string;
  /** the islands bundle; without it /static/islands.js is an empty script (pages still work, JS-free) */
  islandsJs?: string;
  /** how often the run-events stream polls the database; default 1000 ms */
  pollMs?: number;
  /** a sub-app to mount at /predict */
  predict?: Hono;
  /**
   * The Host values requests may carry (guard.ts's allowedHostsFor); anything else is refused with 403.
   * Read per request, so a server on port 0 can fill it in once it knows its port. Without it only
   * Origin is checked (against the request's own address).
   */
  allowedHosts?: () => readonly string[];
}

export interface Dashboard {
  app: Hono;
  /** stops the event poller and ends open event streams */
  close(): void;
}

function NotFound({ what }: { what: string }): VNode {
  return (
    <Page title="not found">
      <h1>Not found</h1>
      <p>{what}</p>
      <p>
        <a href="/">back to the leaderboards</a>
      </p>
    </Page>
  );
}

/**
 * A run or eval id exactly as the pages write it: decimal digits without a leading zero. Number() alone
 * would also take "0x3", "3.0", "03" and " 3", so one run would answer at many addresses.
 */
export function strictId(v: string | undefined): number | null {
  return v !== undefined && /^[1-9][0-9]{0,15}$/.test(v) ? Number(v) : null;
}

/**
 * `compute()`'s value, kept until store.changeStamp() changes (any commit, from this process or another).
 * Callers must not mutate what it returns: it is shared by every request until the next change.
 */
function cachedByStamp<T>(store: ResultsStore, compute: () => T): () => T {
  let stamp: string | undefined, value: T;
  return () => {
    const now = store.changeStamp();
    if (now !== stamp) value = compute(), stamp = now;
    return value;
  };
}

function intParam(v: string | undefined, def: number, lo: number, hi: number): number {
  const n = v === undefined ? NaN : Number(v);
  return Number.isInteger(n) ? Math.min(hi, Math.max(lo, n)) : def;
}

/** What an open runs page needs to know changed. */
function fingerprint(r: RunSummary): string {
  return `${r.status}|${r.heartbeatAt}|${r.finishedAt}|${JSON.stringify(r.metrics)}|${r.error}`;
}

export function createDashboard(opts: DashboardOptions): Dashboard {
  const { store } = opts;
  const path = opts.path ?? "(in memory)";
  const pollMs = opts.pollMs ?? 1000;
  const app = new Hono();
  app.use("*", securityHeaders(), requestGuard(opts.allowedHosts));
  const html = (vnode: VNode, status: 200 | 404 | 400 = 200) =>
    new Response(renderPage(vnode), { status, headers: { "content-type": "text/html; charset=utf-8" } });

  // ---- run-change events: one poller shared by every listener ----
  type Listener = (rows: RunRowData[]) => void;
  const listeners = new Set<Listener>();
  let timer: ReturnType<typeof setInterval> | undefined;
  let last = new Map<number, string>();
  // a poll of an unchanged database costs one pragma, not a read of every run
  let polled: string | undefined;
  const snapshot = () => {
    polled = store.changeStamp();
    const runs = store.listRuns();
    const next = new Map<number, string>();
    const changed: RunSummary[] = [];
    for (const r of runs) {
      const f = fingerprint(r);
      next.set(r.id, f);
      if (last.get(r.id) !== f) changed.push(r);
    }
    last = next;
    return { runs, changed };
  };
  const tick = () => {
    let changed: RunSummary[];
    try {
      if (store.changeStamp() === polled) return;
      changed = snapshot().changed;
    } catch (e) {
      console.error(`dashboard: polling the database failed: ${e instanceof Error ? e.message : e}`);
      return;
    }
    if (!changed.length) return;
    const rows = changed.map((r) => runRowData(r));
    for (const l of listeners) l(rows);
  };
  const subscribe = (l: Listener) => {
    if (listeners.size === 0) {
      snapshot(); // the baseline: only changes from now on are news
      timer = setInterval(tick, pollMs);
    }
    listeners.add(l);
    return () => {
      listeners.delete(l);
      if (listeners.size === 0 && timer !== undefined) clearInterval(timer), timer = undefined;
    };
  };
  const closers = new Set<() => void>();

  // ---- what the pages are computed from, recomputed only when the database has changed ----
  // (aggregating 5,000 runs takes ~150 ms; twenty browsers asking at once would queue behind each other)
  const tables = cachedByStamp(store, () => {
    const rows = leaderboard(store, { includePaper: true });
    const counts: Record<string, number> = {};
    for (const r of rows) if (r.value !== null) counts[r.protocol] = (counts[r.protocol] ?? 0) + 1;
    return { rows, counts };
  });
  const allRuns = cachedByStamp(store, () => {
    const runs = store.listRuns();
    return { runs, experiments: [...new Set(runs.map((r) => r.experiment))].sort() };
  });

  // ---- pages ----

  app.get("/", () => {
    const { counts } = tables();
    const runCount = allRuns().runs.length;
    return html(<LeaderboardIndex counts={counts} runCount={runCount} path={path} />);
  });

  app.get("/leaderboard", (c) => c.redirect("/"));
  app.get("/leaderboard/:protocol", (c) => {
    const kind = c.req.param("protocol") as ProtocolKind;
    if (!PROTOCOLS.some((p) => p.kind === kind)) {
      return html(<NotFound what={`There is no "${kind}" protocol.`} />, 404);
    }
    const { rows, counts } = tables();
    const empty = allRuns().runs.length === 0;
    return html(
      <LeaderboardPage
        table={pivotLeaderboard(kind, rows)}
        view={viewFromQuery((n) => c.req.query(n))}
        counts={counts}
        empty={empty}
        path={path}
      />,
    );
  });

  app.get("/runs", (c) => {
    const status = c.req.query("status") ?? "";
    const query: RunsQuery = {
      page: intParam(c.req.query("page"), 1, 1, 1e9),
      per: intParam(c.req.query("per"), 50, 1, 500),
      status: STATUSES.includes(status as RunSummary["status"]) ? status : "",
      experiment: c.req.query("experiment") ?? "",
      ids: (c.req.query("ids") ?? "").split(",").map(strictId).filter((n) => n !== null),
    };
    const { runs: all, experiments } = allRuns();
    let runs = all;
    if (query.status) runs = runs.filter((r) => r.status === query.status);
    if (query.experiment) runs = runs.filter((r) => r.experiment === query.experiment);
    if (query.ids.length) {
      const want = new Set(query.ids);
      runs = runs.filter((r) => want.has(r.id));
    }
    const pages = Math.max(1, Math.ceil(runs.length / query.per));
    query.page = Math.min(query.page, pages);
    const page = runs.slice((query.page - 1) * query.per, query.page * query.per);
    return html(
      <RunsPage
        rows={page}
        total={runs.length}
        query={query}
        experiments={experiments}
        empty={all.length === 0}
        path={path}
      />,
    );
  });

  app.get("/compare", (c) => {
    const ids = c.req.queries("id")?.map(strictId).filter((n) => n !== null) ?? [];
    if (ids.length !== 2) {
      return html(
        <Page title="compare" here="/runs">
          <h1>Compare runs</h1>
          <p>
            Tick exactly two runs on the <a href="/runs">runs page</a> and press compare (got {ids.length}).
          </p>
        </Page>,
        400,
      );
    }
    const [a, b] = ids.map((id) => store.getRun(id));
    if (!a || !b) return html(<NotFound what={`No run ${!a ? ids[0] : ids[1]}.`} />, 404);
    const loss = (id: number) => store.stepMetrics(id).map((s) => [s.step, s.loss] as [number, number]);
    return html(<ComparePage a={a} b={b} lossA={loss(a.id)} lossB={loss(b.id)} />);
  });

  const evalParam = strictId;

  app.get("/run/:id", (c) => {
    const id = strictId(c.req.param("id"));
    const run = id !== null ? store.getRun(id) : null;
    if (!run) return html(<NotFound what={`No run ${c.req.param("id")}.`} />, 404);
    const raw = c.req.query("eval");
    const asked = evalParam(raw);
    const ev = raw !== undefined && asked === null ? null : pickEval(run, asked);
    if (raw !== undefined && !ev) return html(<NotFound what={`Run ${id} has no eval ${raw}.`} />, 404);
    return html(<RunPage store={store} run={run} ev={ev} />);
  });

  app.get("/run/:id/chart/:file", (c) => {
    const id = strictId(c.req.param("id"));
    const m = /^([a-z-]+)\.svg$/.exec(c.req.param("file"));
    const run = id !== null ? store.getRun(id) : null;
    if (!run || !m || !(CHARTS as readonly string[]).includes(m[1])) return c.text("no such chart\n", 404);
    const ev = pickEval(run, evalParam(c.req.query("eval")));
    const chart = runChart(store, run, m[1], ev);
    if (!chart) return c.text(`run ${id} has no data for the ${m[1]} chart\n`, 404);
    const headers: Record<string, string> = { "content-type": "image/svg+xml; charset=utf-8" };
    if (c.req.query("download") !== undefined) {
      headers["content-disposition"] = `attachment; filename="run-${id}-${m[1]}${
        ev && ["per-class", "confusion", "embedding"].includes(m[1]) ? `-eval-${ev.id}` : ""
      }.svg"`;
    }
    return new Response(svgDocument(chart), { headers });
  });

  // ---- live updates ----
  app.get("/api/runs/events", (c) => {
    const ids = new Set(
      (c.req.query("ids") ?? "").split(",").map(strictId).filter((n) => n !== null),
    );
    return streamSSE(c, async (stream) => {
      let queue: RunRowData[][] = [];
      let wake: (() => void) | null = null;
      let open = true;
      const unsubscribe = subscribe((rows) => {
        queue.push(rows);
        wake?.();
      });
      const end = () => {
        open = false;
        wake?.();
      };
      closers.add(end);
      stream.onAbort(end);
      try {
        // the page's own rows as they are now: anything that changed between rendering and connecting
        if (ids.size) {
          const now = store.listRuns().filter((r) => ids.has(r.id)).map((r) => runRowData(r));
          await stream.writeSSE({ event: "runs", data: JSON.stringify(now) });
        }
        while (open) {
          if (!queue.length) {
            await new Promise<void>((ok) => {
              wake = ok;
              // a comment now and then finds clients that went away without closing
              setTimeout(ok, 15_000);
            });
            wake = null;
            if (!queue.length && open) await stream.write(": keep-alive\n\n");
            continue;
          }
          const batch = queue.flat();
          queue = [];
          await stream.writeSSE({ event: "runs", data: JSON.stringify(batch) });
        }
      } finally {
        unsubscribe();
        closers.delete(end);
      }
    });
  });

  const js = opts.islandsJs ?? "/* islands bundle not built */\n";
  app.get("/static/islands.js", () =>
    new Response(js, {
      headers: { "content-type": "text/javascript; charset=utf-8", "cache-control": "no-cache" },
    }));

  app.get("/static/dashboard.css", () =>
    new Response(DASHBOARD_CSS, {
      headers: { "content-type": "text/css; charset=utf-8", "cache-control": "no-cache" },
    }));

  if (opts.predict) {
    app.route("/predict", opts.predict);
    setPredictNav(true);
  }

  app.notFound(() => html(<NotFound what="No such page." />, 404));

  return {
    app,
    close() {
      for (const end of [...closers]) end();
      if (timer !== undefined) clearInterval(timer), timer = undefined;
      listeners.clear();
    },
  };
}
