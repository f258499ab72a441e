/** @jsxImportSource npm:preact@11.2.0 */
// The runs routes: the filtered, paged list at /runs and two runs side by side at /compare.

import type { Hono } from "npm:hono@4.13.19";
import type { RunSummary } from "../../lib/results/store.ts";
import { Page } from "../html.tsx";
import { ComparePage, RunsPage, type RunsQuery, STATUSES } from "../pages/runs.tsx";
import type { PageData } from "./page-data.ts";
import { idList, intParam, strictId } from "./params.ts";
import { html, NotFound } from "./respond.tsx";

/** The runs page's query, each parameter clamped or dropped when it is not one the page offers. */
function runsQuery(query: (name: string) => string | undefined): RunsQuery {
  const status = query("status") ?? "";
  return {
    page: intParam(query("page"), 1, 1, 1e9),
    per: intParam(query("per"), 50, 1, 500),
    status: STATUSES.includes(status as RunSummary["status"]) ? status : "",
    experiment: query("experiment") ?? "",
    ids: idList(query("ids")),
  };
}

/** The runs the query selects, before paging. */
function filterRuns(all: RunSummary[], query: RunsQuery): RunSummary[] {
  let runs = all;
  if (query.status) runs = runs.filter((r) => r.status === query.status);
  if (query.experiment) runs = runs.filter((r) => r.experiment === query.experiment);
  if (query.ids.length) {
    const want = new Set(query.ids);
    runs = runs.filter((r) => want.has(r.id));
  }
  return runs;
}

export function runsRoutes(app: Hono, { store, allRuns, path }: PageData): void {
  app.get("/runs", (c) => {
    const query = runsQuery((n) => c.req.query(n));
    const { runs: all, experiments } = allRuns();
    const runs = filterRuns(all, query);
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
}
