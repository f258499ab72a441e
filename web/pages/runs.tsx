/** @jsxImportSource npm:preact@11.2.0 */
// The runs list (paged, filterable, live through the LiveRuns island) and the side-by-side comparison.

import type { VNode } from "npm:preact@11.2.0";
import type { RunDetail, RunStatus, RunSummary } from "../../lib/results/store.ts";
import { fmt1, formatDuration, Island, Page } from "../html.tsx";
import { LiveRuns, type RunRowData } from "../islands/LiveRuns.tsx";
import { LineChart } from "../charts.tsx";

export const STATUSES: RunStatus[] = ["running", "done", "failed", "interrupted"];

export function protocolLabel(p: RunSummary["protocol"]): string {
  return [
    p.kind,
    p.dataset,
    p.shots !== undefined ? `K=${p.shots}` : "",
    p.seed !== undefined ? `seed ${p.seed}` : "",
  ]
    .filter(Boolean).join(" · ");
}

/** The trainer's final metrics ({evals: {name: {top1, top5}}, best, …}) as one short line. */
export function metricsLine(m: unknown): string {
  if (m === null || m === undefined) return "";
  if (typeof m !== "object") return String(m);
  const o = m as Record<string, unknown>;
  const parts: string[] = [];
  if (o.evals && typeof o.evals === "object") {
    for (const [name, v] of Object.entries(o.evals as Record<string, unknown>)) {
      const e = v as { top1?: unknown; top5?: unknown };
      if (typeof e?.top1 === "number") {
        parts.push(
          `${name} ${e.top1.toFixed(1)}${typeof e.top5 === "number" ? ` / ${e.top5.toFixed(1)}` : ""}`,
        );
      }
    }
  }
  if (parts.length) return parts.join(" · ");
  const s = JSON.stringify(m);
  return s.length > 120 ? s.slice(0, 117) + "…" : s;
}

export function runRowData(r: RunSummary, now = Date.now()): RunRowData {
  const end = r.finishedAt ?? (r.status === "running" ? Math.max(r.heartbeatAt, now) : r.heartbeatAt);
  return {
    id: r.id,
    experiment: r.experiment,
    protocol: protocolLabel(r.protocol),
    variant: r.variant,
    device: r.device,
    status: r.status,
    startedAt: r.startedAt,
    durationMs: end - r.startedAt,
    metrics: metricsLine(r.metrics),
    error: r.error,
  };
}

export interface RunsQuery {
  page: number;
  per: number;
  status: string;
  experiment: string;
  ids: number[];
}

export function runsHref(q: RunsQuery, patch: Partial<RunsQuery> = {}): string {
  const w = { ...q, ...patch };
  const p = new URLSearchParams();
  if (w.page > 1) p.set("page", String(w.page));
  if (w.per !== 50) p.set("per", String(w.per));
  if (w.status) p.set("status", w.status);
  if (w.experiment) p.set("experiment", w.experiment);
  if (w.ids.length) p.set("ids", w.ids.join(","));
  const s = p.toString();
  return s ? `/runs?${s}` : "/runs";
}

export function RunsPage(
  { rows, total, query, experiments, empty, path }: {
    rows: RunSummary[];
    total: number;
    query: RunsQuery;
    experiments: string[];
    empty: boolean;
    path: string;
  },
): VNode {
  const pages = Math.max(1, Math.ceil(total / query.per));
  const filtered = !!(query.status || query.experiment || query.ids.length);
  return (
    <Page title="runs" here="/runs">
      <h1>Runs</h1>
      {empty
        ? (
          <div class="empty">
            <h2>No runs yet</h2>
            <p>
              <code>{path}</code> is empty. Start one with{" "}
              <code>deno task demo --db {path}</code>; it shows up here without a reload.
            </p>
          </div>
        )
        : null}
      <form class="filters" method="get" action="/runs">
        <label>
          status{" "}
          <select name="status">
            <option value="">any</option>
            {STATUSES.map((s) => <option key={s} value={s} selected={query.status === s}>{s}</option>)}
          </select>
        </label>
        <label>
          experiment{" "}
          <select name="experiment">
            <option value="">any</option>
            {experiments.map((e) => <option key={e} value={e} selected={query.experiment === e}>{e}</option>)}
          </select>
        </label>
        <label>
          per page{" "}
          <select name="per">
            {[20, 50, 100, 200].map((n) => <option key={n} value={n} selected={query.per === n}>{n}</option>)}
          </select>
        </label>
        <button type="submit">filter</button>
        {filtered && <a href="/runs">clear</a>}
      </form>
      {query.ids.length > 0 && <p>Runs {query.ids.join(", ")} (from a leaderboard cell).</p>}
      <form id="compare" method="get" action="/compare" class="filters">
        <button type="submit">compare the two ticked runs</button>
      </form>
      <Island
        name="LiveRuns"
        component={LiveRuns}
        props={{
          rows: rows.map((r) => runRowData(r)),
          prepend: query.page === 1 && !filtered,
          perPage: query.per,
          selected: [],
        }}
      />
      <Pager query={query} pages={pages} total={total} />
    </Page>
  );
}

function Pager({ query, pages, total }: { query: RunsQuery; pages: number; total: number }): VNode {
  const p = query.page;
  return (
    <nav class="pager" aria-label="pages">
      {p > 1 ? <a href={runsHref(query, { page: 1 })}>« first</a> : <span class="muted">« first</span>}
      {p > 1
        ? <a href={runsHref(query, { page: p - 1 })} rel="prev">‹ previous</a>
        : <span class="muted">‹ previous</span>}
      <span class="page-of">page {p} of {pages} ({total} runs)</span>
      {p < pages
        ? <a href={runsHref(query, { page: p + 1 })} rel="next">next ›</a>
        : <span class="muted">next ›</span>}
      {p < pages ? <a href={runsHref(query, { page: pages })}>last »</a> : <span class="muted">last »</span>}
    </nav>
  );
}

/** Flattened config: "train.lr" → "0.001". */
export function flatten(v: unknown, prefix = "", out = new Map<string, string>()): Map<string, string> {
  if (v !== null && typeof v === "object" && !Array.isArray(v)) {
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      flatten(x, prefix ? `${prefix}.${k}` : k, out);
    }
  } else out.set(prefix || "(value)", JSON.stringify(v) ?? "undefined");
  return out;
}

/** One run's side of the comparison: its facts and every eval's result. */
function CompareSummary({ r }: { r: RunDetail }): VNode {
  return (
    <table>
      <tbody>
        <tr>
          <th>run</th>
          <td>
            <a href={`/run/${r.id}`}>{r.id}</a> {r.experiment}
          </td>
        </tr>
        <tr>
          <th>status</th>
          <td class={`status-${r.status}`}>{r.status}</td>
        </tr>
        <tr>
          <th>protocol</th>
          <td>{protocolLabel(r.protocol)}</td>
        </tr>
        <tr>
          <th>variant</th>
          <td>{r.variant}</td>
        </tr>
        <tr>
          <th>device</th>
          <td>{r.device}</td>
        </tr>
        <tr>
          <th>duration</th>
          <td>{formatDuration((r.finishedAt ?? r.heartbeatAt) - r.startedAt)}</td>
        </tr>
        <tr>
          <th>final metrics</th>
          <td>{metricsLine(r.metrics)}</td>
        </tr>
        {r.evals.map((e) => (
          <tr>
            <th>{e.name}</th>
            <td>top-1 {fmt1(e.top1)} · top-5 {fmt1(e.top5)} ({e.count} videos)</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** Both configurations, flattened, key by key; the keys whose values differ are marked. */
function ConfigDiff({ a, b }: { a: RunDetail; b: RunDetail }): VNode {
  const fa = flatten(a.config), fb = flatten(b.config);
  const keys = [...new Set([...fa.keys(), ...fb.keys()])].sort();
  const differing = keys.filter((k) => fa.get(k) !== fb.get(k));
  return (
    <>
      <h2>Configuration ({differing.length} differing of {keys.length})</h2>
      <table class="config-diff">
        <thead>
          <tr>
            <th>key</th>
            <th>run {a.id}</th>
            <th>run {b.id}</th>
          </tr>
        </thead>
        <tbody>
          {keys.map((k) => (
            <tr class={fa.get(k) !== fb.get(k) ? "diff" : undefined}>
              <td>{k}</td>
              <td>{fa.get(k) ?? "—"}</td>
              <td>{fb.get(k) ?? "—"}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

export function ComparePage(
  { a, b, lossA, lossB }: {
    a: RunDetail;
    b: RunDetail;
    lossA: [number, number][];
    lossB: [number, number][];
  },
): VNode {
  return (
    <Page title={`compare ${a.id} and ${b.id}`} here="/runs">
      <h1>Run {a.id} vs run {b.id}</h1>
      <div class="side">
        <div>
          <CompareSummary r={a} />
        </div>
        <div>
          <CompareSummary r={b} />
        </div>
      </div>
      <figure>
        <LineChart
          id="chart-compare-loss"
          title="training loss"
          xLabel="step"
          yLabel="loss"
          series={[{ name: `run ${a.id}`, points: lossA }, { name: `run ${b.id}`, points: lossB }]}
        />
      </figure>
      <ConfigDiff a={a} b={b} />
    </Page>
  );
}
