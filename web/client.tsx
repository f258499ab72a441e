/** @jsxImportSource npm:preact@11.2.0 */
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
// The browser entry point, bundled at start-up: hydrate each server-rendered island with the props the
// server embedded next to it. Nothing else on a page runs JavaScript.

import { type ComponentType, h, hydrate } from "npm:preact@11.2.0";
import { LeaderboardTable } from "./islands/LeaderboardTable.tsx";
import { ChartTools } from "./islands/ChartTools.tsx";
import { LiveRuns } from "./islands/LiveRuns.tsx";

// deno-lint-ignore no-explicit-any
const ISLANDS: Record<string, ComponentType<any>> = { LeaderboardTable, ChartTools, LiveRuns };

for (const el of document.querySelectorAll<HTMLElement>("[data-island]")) {
  const component = ISLANDS[el.dataset.island ?? ""];
  const root = el.querySelector<HTMLElement>(":scope > [data-root]");
  const json = el.querySelector(":scope > script[type='application/json']")?.textContent;
  if (!component || !root || json === undefined || json === null) continue;
  hydrate(h(component, JSON.parse(json)), root);
  el.dataset.hydrated = "1";
}
