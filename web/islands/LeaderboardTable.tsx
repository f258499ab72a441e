/** @jsxImportSource npm:preact@11.2.0 */
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
// The leaderboard table: sortable by any column and filterable by dataset / variant / text. The server
// renders it with the view taken from the query string (so sorting and filtering also work as plain
// links and a GET form with JavaScript off); hydrated, the same controls update the table in place.
// Browser code: imports nothing from the server side but types.

import { Fragment, type VNode } from "npm:preact@11.2.0";
import { useComputed, useSignal } from "npm:@preact/signals@2.11.4";

export interface LeaderCell {
  ours: number | null;
  paper: number | null;
  delta: number | null;
  runIds: number[];
  partial: boolean;
  /** "2/3" splits or seeds, or "" */
  parts: string;
  notes: string[];
}

export interface LeaderRow {
  key: string;
  /** dataset, or experiment / evaluation for custom protocols */
  label: string;
  dataset: string;
  variant: string;
  cells: Record<string, LeaderCell>;
}

export interface LeaderTable {
  protocol: string;
  labelHeading: string;
  columns: { key: string; label: string }[];
  rows: LeaderRow[];
  datasets: string[];
  variants: string[];
}

export interface LeaderView {
  /** "label", "variant" or a column key (sorts by our value) */
  sort: string;
  dir: "asc" | "desc";
  dataset: string;
  variant: string;
  q: string;
  /** hide the paper's rows that have no run of ours */
  ours: boolean;
}

export const DEFAULT_VIEW: LeaderView = {
  sort: "label",
  dir: "asc",
  dataset: "",
  variant: "",
  q: "",
  ours: false,
};

export function viewRows(t: LeaderTable, v: LeaderView): LeaderRow[] {
  const q = v.q.trim().toLowerCase();
  const rows = t.rows.filter((r) =>
    (!v.dataset || r.dataset === v.dataset) && (!v.variant || r.variant === v.variant) &&
    (!q || `${r.label} ${r.variant}`.toLowerCase().includes(q)) &&
    (!v.ours || Object.values(r.cells).some((c) => c.ours !== null))
  );
  const sign = v.dir === "desc" ? -1 : 1;
  const text = (
    r: LeaderRow,
  ) => (v.sort === "variant" ? `${r.variant}\u0000${r.label}` : `${r.label}\u0000${r.variant}`);
  const isText = v.sort === "label" || v.sort === "variant" || !t.columns.some((c) => c.key === v.sort);
  return rows.sort((a, b) => {
    if (isText) return sign * (text(a) < text(b) ? -1 : text(a) > text(b) ? 1 : 0);
    const x = a.cells[v.sort]?.ours ?? null, y = b.cells[v.sort]?.ours ?? null;
    // rows without a number sit at the bottom whichever way the column is sorted
    if (x === null || y === null) return x === null ? (y === null ? 0 : 1) : -1;
    return sign * (x - y) || (text(a) < text(b) ? -1 : 1);
  });
}

export function viewQuery(v: LeaderView, patch: Partial<LeaderView> = {}): string {
  const w = { ...v, ...patch };
  const p = new URLSearchParams();
  if (w.sort !== DEFAULT_VIEW.sort) p.set("sort", w.sort);
  if (w.dir !== DEFAULT_VIEW.dir) p.set("dir", w.dir);
  if (w.dataset) p.set("dataset", w.dataset);
  if (w.variant) p.set("variant", w.variant);
  if (w.q) p.set("q", w.q);
  if (w.ours) p.set("ours", "1");
  const s = p.toString();
  return s ? `?${s}` : "?";
}

const f1 = (x: number | null) => (x === null ? "—" : x.toFixed(1));
const sgn = (x: number | null) => (x === null ? "" : `${x >= 0 ? "+" : ""}${x.toFixed(1)}`);

function runsHref(ids: number[]): string {
  return ids.length === 1 ? `/run/${ids[0]}` : `/runs?ids=${ids.join(",")}`;
}

function Cell({ c }: { c: LeaderCell | undefined; key?: string }): VNode {
  if (!c) {
    return (
      <>
        <td class="num muted">—</td>
        <td class="num muted">—</td>
        <td class="num" />
      </>
    );
  }
  const title = [c.parts && `parts ${c.parts}`, ...c.notes].filter(Boolean).join("; ");
  return (
    <>
      <td class="num ours" title={title || undefined}>
        {c.ours === null
          ? <span class="muted">—</span>
          : c.runIds.length
          ? <a href={runsHref(c.runIds)}>{f1(c.ours)}{c.partial ? "*" : ""}</a>
          : <span>{f1(c.ours)}</span>}
      </td>
      <td class="num paper">{f1(c.paper)}</td>
      <td class={`num delta ${c.delta === null ? "" : c.delta >= 0 ? "pos" : "neg"}`}>{sgn(c.delta)}</td>
    </>
  );
}

/** The dataset / variant / text filters: a GET form with JavaScript off, live controls once hydrated. */
function Filters(
  { table, v, count, set }: {
    table: LeaderTable;
    v: LeaderView;
    /** rows the view shows */
    count: number;
    set: (patch: Partial<LeaderView>) => void;
  },
): VNode {
  return (
    <form class="filters" method="get" onSubmit={(e) => e.preventDefault()}>
      <label>
        dataset{" "}
        <select name="dataset" onChange={(e) => set({ dataset: (e.target as HTMLSelectElement).value })}>
          <option value="">all</option>
          {table.datasets.map((d) => <option key={d} value={d} selected={v.dataset === d}>{d}</option>)}
        </select>
      </label>
      <label>
        variant{" "}
        <select name="variant" onChange={(e) => set({ variant: (e.target as HTMLSelectElement).value })}>
          <option value="">all</option>
          {table.variants.map((d) => <option key={d} value={d} selected={v.variant === d}>{d}</option>)}
        </select>
      </label>
      <label>
        contains{" "}
        <input
          type="search"
          name="q"
          value={v.q}
          onInput={(e) => set({ q: (e.target as HTMLInputElement).value })}
        />
      </label>
      <label>
        <input
          type="checkbox"
          name="ours"
          value="1"
          checked={v.ours}
          onChange={(e) => set({ ours: (e.target as HTMLInputElement).checked })}
        />{" "}
        only rows with our runs
      </label>
      <input type="hidden" name="sort" value={v.sort} />
      <input type="hidden" name="dir" value={v.dir} />
      <noscript>
        <button type="submit">apply</button>
      </noscript>
      <span class="count" data-count={count}>
        {count} of {table.rows.length} rows
      </span>
    </form>
  );
}

export function LeaderboardTable(
  { table, view: initial }: { table: LeaderTable; view: LeaderView },
): VNode {
  const view = useSignal<LeaderView>(initial);
  const rows = useComputed(() => viewRows(table, view.value));
  const set = (patch: Partial<LeaderView>) => {
    view.value = { ...view.value, ...patch };
    // keep the address in step, so a reload or a shared link shows the same view
    if (typeof history !== "undefined") history.replaceState(null, "", viewQuery(view.value));
  };
  const v = view.value;
  const sortLink = (key: string, label: string, cls?: string, span?: number) => {
    const on = v.sort === key;
    const dir = on && v.dir === "asc" ? "desc" : "asc";
    return (
      <th
        class={cls}
        colSpan={span}
        aria-sort={on ? (v.dir === "asc" ? "ascending" : "descending") : undefined}
      >
        <a
          href={viewQuery(v, { sort: key, dir })}
          data-sort={key}
          onClick={(e) => {
            e.preventDefault();
            set({ sort: key, dir });
          }}
        >
          {label}
          {on ? (v.dir === "asc" ? " ▲" : " ▼") : ""}
        </a>
      </th>
    );
  };
  return (
    <section class="leaderboard" data-protocol={table.protocol}>
      <Filters table={table} v={v} count={rows.value.length} set={set} />
      <table class="lb">
        <thead>
          <tr>
            {sortLink("label", table.labelHeading)}
            {sortLink("variant", "variant")}
            {table.columns.map((c) => sortLink(c.key, c.label, "num", 3))}
          </tr>
          <tr>
            <th />
            <th />
            {table.columns.map((c) => (
              <Fragment key={c.key}>
                <th class="num">ours</th>
                <th class="num">paper</th>
                <th class="num">Δ</th>
              </Fragment>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.value.map((r) => (
            <tr key={r.key} data-key={r.key}>
              <td class="label">{r.label}</td>
              <td class="variant">{r.variant}</td>
              {table.columns.map((c) => <Cell key={c.key} c={r.cells[c.key]} />)}
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
