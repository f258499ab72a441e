// The dashboard's static files: the islands bundle and the one stylesheet, both served with no-cache (the
// browser asks again on every load).

import type { Hono } from "npm:hono@4.13.19";
import { DASHBOARD_CSS } from "../html.tsx";

/** `islandsJs` is the bundle; without it /static/islands.js is an empty script (pages still work, JS-free). */
export function staticRoutes(app: Hono, islandsJs: string | undefined): void {
  const js = islandsJs ?? "/* islands bundle not built */\n";
  app.get("/static/islands.js", () =>
    new Response(js, {
      headers: { "content-type": "text/javascript; charset=utf-8", "cache-control": "no-cache" },
    }));

  app.get("/static/dashboard.css", () =>
    new Response(DASHBOARD_CSS, {
      headers: { "content-type": "text/css; charset=utf-8", "cache-control": "no-cache" },
    }));
}
