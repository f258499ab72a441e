/** @jsxImportSource npm:preact@11.2.0 */
// Leaderboard pages: lib/results/leaderboard.ts's rows pivoted into one table per protocol, with the
// columns the paper's tables use (Base / Novel / HM, K = 2…32, top-1 / top-5).

import type { VNode } from "npm:preact@11.2.0";
import type { ProtocolKind } from "../../lib/dsl/types.ts";
import type { LeaderboardRow } from "../../lib/results/leaderboard.ts";
import { Island, Page } from "../html.tsx";
import {
  DEFAULT_VIEW,
  LeaderboardTable,
  type LeaderCell,
  type LeaderRow,
  type LeaderTable,
  type LeaderView,
} from "../islands/LeaderboardTable.tsx";

export const PROTOCOLS: { kind: ProtocolKind; title: string }[] = [
  { kind: "zero-shot", title: "Zero-shot" },
  { kind: "base-to-novel", title: "Base-to-novel" },
  { kind: "few-shot", title: "Few-shot" },
  { kind: "fully-supervised", title: "Fully supervised" },
  { kind: "custom", title: "Custom" },
];

const METRIC_LABEL: Record<string, string> = {
  top1: "top-1",
  top5: "top-5",
  base: "Base",
  novel: "Novel",
  hm: "HM",
};
const METRIC_RANK: Record<string, number> = { base: 0, novel: 1, hm: 2, top1: 3, top5: 4 };

function columnOf(r: LeaderboardRow): { key: string; label: string; rank: number } {
  if (r.protocol === "few-shot") {
    const k = r.shots ?? 0;
    return {
      key: `K${k}${r.metric === "top1" ? "" : `-${r.metric}`}`,
      label: `K=${k}`,
      rank: k * 10 + METRIC_RANK[r.metric],
    };
  }
  return { key: r.metric, label: METRIC_LABEL[r.metric] ?? r.metric, rank: METRIC_RANK[r.metric] ?? 9 };
}

function partsText(r: LeaderboardRow): string {
  if (r.expectedParts !== null) return `${r.parts.filter((p) => p !== null).length}/${r.expectedParts}`;
  return r.parts.length ? r.parts.map((p) => p ?? "-").join(",") : "";
}

/** One row per (dataset or experiment/eval, variant); one column group per metric / K. */
export function pivotLeaderboard(protocol: ProtocolKind, rows: LeaderboardRow[]): LeaderTable {
  const columns = new Map<string, { key: string; label: string; rank: number }>();
  const out = new Map<string, LeaderRow>();
  for (const r of rows) {
    if (r.protocol !== protocol) continue;
    const label = protocol === "custom" ? `${r.experiment ?? "?"} / ${r.evalName ?? "?"}` : r.dataset ?? "?";
    const key = JSON.stringify([label, r.variant]);
    const col = columnOf(r);
    columns.set(col.key, col);
    let row = out.get(key);
    if (!row) {
      row = { key, label, dataset: r.dataset ?? "?", variant: r.variant, cells: {} };
      out.set(key, row);
    }
    const cell: LeaderCell = {
      ours: r.value,
      paper: r.paper,
      delta: r.delta,
      runIds: r.runIds,
      partial: r.partial,
      parts: partsText(r),
      notes: r.notes,
    };
    row.cells[col.key] = cell;
  }
  const list = [...out.values()];
  return {
    protocol,
    labelHeading: protocol === "custom" ? "experiment / evaluation" : "dataset",
    columns: [...columns.values()].sort((a, b) => a.rank - b.rank).map(({ key, label }) => ({ key, label })),
    rows: list,
    datasets: [...new Set(list.map((r) => r.dataset))].sort(),
    variants: [...new Set(list.map((r) => r.variant))].sort(),
  };
}

export function viewFromQuery(q: (name: string) => string | undefined): LeaderView {
  const dir = q("dir");
  return {
    sort: q("sort") || DEFAULT_VIEW.sort,
    dir: dir === "desc" ? "desc" : "asc",
    dataset: q("dataset") ?? "",
    variant: q("variant") ?? "",
    q: q("q") ?? "",
    ours: q("ours") === "1",
  };
}

function ProtocolTabs({ here, counts }: { here?: string; counts: Record<string, number> }): VNode {
  return (
    <nav class="filters protocols">
      {PROTOCOLS.map((p) => (
        <a href={`/leaderboard/${p.kind}`} class={here === p.kind ? "here" : undefined}>
          {here === p.kind ? <b>{p.title}</b> : p.title}{" "}
          <span class="muted">({counts[p.kind] ?? 0} ours)</span>
        </a>
      ))}
    </nav>
  );
}

export function EmptyDatabase({ path }: { path: string }): VNode {
  return (
    <div class="empty">
      <h2>No runs yet</h2>
      <p>
        The results database <code>{path}</code> holds no runs. Train something and this page fills in, live:
      </p>
      <pre>deno task demo --db {path}</pre>
      <p>
        or any experiment with <code>deno task train EXPERIMENT --db {path}</code>.
      </p>
    </div>
  );
}

export function LeaderboardIndex(
  { counts, runCount, path }: { counts: Record<string, number>; runCount: number; path: string },
): VNode {
  return (
    <Page title="leaderboards" here="/">
      <h1>Leaderboards</h1>
      {runCount === 0 ? <EmptyDatabase path={path} /> : (
        <>
          <p>
            {runCount} runs in{" "}
            <code>{path}</code>. Only finished runs count; within a cell the most recently finished run wins.
            Pick a protocol:
          </p>
          <ProtocolTabs counts={counts} />
        </>
      )}
    </Page>
  );
}

export function LeaderboardPage(
  { table, view, counts, empty, path }: {
    table: LeaderTable;
    view: LeaderView;
    counts: Record<string, number>;
    empty: boolean;
    path: string;
  },
): VNode {
  const title = PROTOCOLS.find((p) => p.kind === table.protocol)?.title ?? table.protocol;
  return (
    <Page title={`${title} leaderboard`} here="/">
      <h1>{title} leaderboard</h1>
      <ProtocolTabs here={table.protocol} counts={counts} />
      {empty && <EmptyDatabase path={path} />}
      <p class="muted">
        ours = the latest finished run per cell (averaged over splits / seeds as the paper does; * = some
        missing). Click a number for its runs, a heading to sort.
      </p>
      {table.rows.length === 0
        ? <p>No rows for this protocol.</p>
        : <Island name="LeaderboardTable" component={LeaderboardTable} props={{ table, view }} />}
    </Page>
  );
}
