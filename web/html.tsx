/** @jsxImportSource npm:preact@11.2.0 */
// The page shell and the island convention shared by every dashboard page. An island is rendered on the
// server like any component, inside <div data-island=NAME>, with its props as JSON next to it; the client
// bundle (web/client.tsx) hydrates exactly those roots, so everything outside them is plain HTML that
// works with JavaScript off.

import type { ComponentChildren, ComponentType, VNode } from "npm:preact@11.2.0";
import { renderToString } from "npm:preact-render-to-string@6.8.2";

/**
 * JSON that is safe inside a <script> element: "</script>" or "<!--" in a run name must not end the
 * element or start a comment, so every "<", ">" and "&" becomes a \u escape (still the same JSON).
 */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[<>&\u2028\u2029]/g,
    (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

export function Island<P extends Record<string, unknown>>(
  { name, component: Component, props }: { name: string; component: ComponentType<P>; props: P },
): VNode {
  return (
    <div data-island={name}>
      <script type="application/json" dangerouslySetInnerHTML={{ __html: scriptJson(props) }} />
      <div data-root="">
        <Component {...props} />
      </div>
    </div>
  );
}

const NAV: [string, string][] = [
  ["/", "Leaderboards"],
  ["/runs", "Runs"],
];

/** The dashboard's one stylesheet, served as /static/dashboard.css (the CSP allows no inline style). */
export const DASHBOARD_CSS = `
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#1d2430;background:#fafbfc}
header{background:#1d2430;color:#fff;padding:.5rem 1rem;display:flex;gap:1.2rem;align-items:baseline}
header a{color:#cfe1ff;text-decoration:none}header a.here{color:#fff;font-weight:600}
header .brand{font-weight:700;color:#fff}
main{padding:1rem 1.5rem;max-width:1400px}
table{border-collapse:collapse;margin:.5rem 0}th,td{padding:.2rem .55rem;border-bottom:1px solid #e3e6ea;text-align:left}
th{background:#f0f2f5;font-weight:600}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.pos{color:#137333}.neg{color:#b3261e}.muted{color:#6b7380}
.status-running{color:#0b57d0}.status-done{color:#137333}.status-failed{color:#b3261e}.status-interrupted{color:#a56200}
.charts{display:flex;flex-wrap:wrap;gap:1rem}
figure{margin:0;background:#fff;border:1px solid #e3e6ea;padding:.5rem}figcaption{font-weight:600}
figure svg{display:block;max-width:100%;height:auto}
.tools{display:flex;gap:.4rem;align-items:center;margin-top:.3rem}
pre.config{background:#fff;border:1px solid #e3e6ea;padding:.6rem;max-height:28rem;overflow:auto}
.filters{display:flex;gap:.8rem;align-items:center;flex-wrap:wrap;margin:.5rem 0}
.pager{display:flex;gap:.6rem;align-items:center;margin:.5rem 0}
.notice{background:#fff8e1;border:1px solid #f2d27a;padding:.4rem .8rem;display:inline-block}
.empty{background:#fff;border:1px dashed #b9c0ca;padding:1.5rem;max-width:48rem}
.side{display:grid;grid-template-columns:1fr 1fr;gap:1rem}.diff{background:#fff3cd}
.thumbnails figure{display:inline-block;margin:2px;padding:2px}
`;

export function Page(
  { title, here, children }: { title: string; here?: string; children: ComponentChildren },
): VNode {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{`vifi · ${title}`}</title>
        <link rel="stylesheet" href="/static/dashboard.css" />
      </head>
      <body>
        <header>
          <span class="brand">vifi</span>
          {navEntries().map(([href, label]) => (
            <a href={href} class={here === href ? "here" : undefined}>{label}</a>
          ))}
        </header>
        <main>{children}</main>
        <script type="module" src="/static/islands.js"></script>
      </body>
    </html>
  );
}

let predictNav = false;
/** The predict page is optional (its module may be missing); the nav names it only once mounted. */
export function setPredictNav(on: boolean): void {
  predictNav = on;
}
function navEntries(): [string, string][] {
  return predictNav ? [...NAV, ["/predict", "Predict"]] : NAV;
}

export function renderPage(vnode: VNode): string {
  return "<!doctype html>" + renderToString(vnode);
}

export const fmt1 = (x: number | null | undefined): string =>
  x === null || x === undefined || !Number.isFinite(x) ? "—" : x.toFixed(1);
export const signed1 = (x: number | null | undefined): string =>
  x === null || x === undefined ? "" : `${x >= 0 ? "+" : ""}${x.toFixed(1)}`;

export function formatDuration(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms) || ms < 0) return "—";
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

export function formatTime(ms: number | null): string {
  if (ms === null) return "—";
  return new Date(ms).toISOString().replace("T", " ").slice(0, 19);
}

/** A layout for sub-apps that render their own bodies (predict.tsx), in the dashboard's shell. */
export function shellLayout(here: string): (title: string, body: VNode) => VNode {
  // sub-apps title their pages "vifi · …"; Page adds that prefix itself
  return (title, body) => <Page title={title.replace(/^vifi · /, "")} here={here}>{body}</Page>;
}
