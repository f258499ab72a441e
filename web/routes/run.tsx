/** @jsxImportSource npm:preact@11.2.0 */
// The routes of one run: its page at /run/:id (?eval= picks the eval shown) and each of its charts as an
// SVG file at /run/:id/chart/:name.svg, built by the same runChart as the page's figure.

import type { Hono } from "npm:hono@4.13.19";
import type { ResultsStore } from "../../lib/results/store.ts";
import { svgDocument } from "../charts.tsx";
import { type ChartName, CHARTS, EVAL_CHARTS, pickEval, runChart, RunPage } from "../pages/run.tsx";
import { strictId } from "./params.ts";
import { html, NotFound } from "./respond.tsx";

export function runRoutes(app: Hono, store: ResultsStore): void {
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
        ev && EVAL_CHARTS.includes(m[1] as ChartName) ? `-eval-${ev.id}` : ""
      }.svg"`;
    }
    return new Response(svgDocument(chart), { headers });
  });
}
