/** @jsxImportSource npm:preact@11.2.0 */
// The dashboard's Hono app: server-rendered pages over a ResultsStore, the islands bundle, SVG chart
// downloads, and a server-sent-event stream of run changes (one shared poll of the database per interval
// while anybody listens, so a hundred open tabs cost one query). Each group of routes is registered by
// its own function under web/routes/; this file only puts them together in order.

import { Hono } from "npm:hono@4.13.19";
import type { ResultsStore } from "../lib/results/store.ts";
import { setPredictNav } from "./html.tsx";
import { requestGuard, securityHeaders } from "./guard.ts";
import { PREDICT_CSP } from "./predict-browser.ts";
import { runEvents } from "./run-events.ts";
import { eventRoutes } from "./routes/events.ts";
import { leaderboardRoutes } from "./routes/leaderboard.tsx";
import { pageData } from "./routes/page-data.ts";
import { html, NotFound } from "./routes/respond.tsx";
import { runRoutes } from "./routes/run.tsx";
import { runsRoutes } from "./routes/runs.tsx";
import { staticRoutes } from "./routes/static.ts";

export { strictId } from "./routes/params.ts";

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

export function createDashboard(opts: DashboardOptions): Dashboard {
  const { store } = opts;
  const app = new Hono();
  // registered before securityHeaders so that it rewrites the policy after it: the predict page compiles
  // the page's ffmpeg.wasm when it runs in the browser (web/predict-browser.ts)
  if (opts.predict) {
    app.use("/predict/*", async (c, next) => {
      await next();
      c.res.headers.set("content-security-policy", PREDICT_CSP);
    });
  }
  // the guards and headers come first: every route below, and the not-found page, answers through them
  app.use("*", securityHeaders(), requestGuard(opts.allowedHosts));
  const events = runEvents(store, opts.pollMs ?? 1000);
  const data = pageData(store, opts.path ?? "(in memory)");

  leaderboardRoutes(app, data);
  runsRoutes(app, data);
  runRoutes(app, store);
  eventRoutes(app, store, events);
  staticRoutes(app, opts.islandsJs);
  if (opts.predict) {
    app.route("/predict", opts.predict);
    setPredictNav(true);
  }
  app.notFound(() => html(<NotFound what="No such page." />, 404));

  return { app, close: () => events.close() };
}
