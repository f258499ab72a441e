/** @jsxImportSource npm:preact@11.2.0 */
// The leaderboard routes: the index of protocols at / and one protocol's table at /leaderboard/:protocol.

import type { Hono } from "npm:hono@4.13.19";
import type { ProtocolKind } from "../../lib/dsl/types.ts";
import {
  LeaderboardIndex,
  LeaderboardPage,
  pivotLeaderboard,
  PROTOCOLS,
  viewFromQuery,
} from "../pages/leaderboard.tsx";
import type { PageData } from "./page-data.ts";
import { html, NotFound } from "./respond.tsx";

export function leaderboardRoutes(app: Hono, { tables, allRuns, path }: PageData): void {
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
}
