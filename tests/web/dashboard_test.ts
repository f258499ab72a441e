// Dashboard rendering through Hono's app.request, without a browser: escaping, the empty database,
// leaderboard tables against leaderboard()'s rows, well-formed SVG downloads, paging, live events.

import { assert, assertEquals } from "../data/assert.ts";
import { ResultsStore } from "../../lib/results/store.ts";
import { leaderboard } from "../../lib/results/leaderboard.ts";
import { createDashboard } from "../../web/server.tsx";
import { PROTOCOLS } from "../../web/pages/leaderboard.tsx";
import { CHARTS } from "../../web/pages/run.tsx";
import { fillSyntheticRuns } from "../../lib/cli/bench/dashboard.ts";
import { EVIL, fillFixtureRuns, xmlProblem } from "./fixtures.ts";
import { allowedHostsFor, CONTENT_SECURITY_POLICY } from "../../web/guard.ts";

function assertStringIncludes(text: string, part: string, msg = ""): void {
  if (!text.includes(part)) {
    throw new Error(
      `${msg ? msg + ": " : ""}expected to find ${JSON.stringify(part)} in ${
        JSON.stringify(text.slice(0, 400))
      }…`,
    );
  }
}

async function withStore(fn: (store: ResultsStore, path: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "vifi-web-test-" });
  const path = `${dir}/results.db`;
  const store = ResultsStore.open(path);
  try {
    await fn(store, path);
  } finally {
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
}

async function get(app: { request(p: string): Response | Promise<Response> }, path: string) {
  const res = await app.request(path);
  return { status: res.status, type: res.headers.get("content-type") ?? "", res, body: await res.text() };
}

const unescape = (s: string) =>
  s.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(
    /&amp;/g,
    "&",
  );

/** The text of every <script> element, which must hold no markup from user strings. */
function scripts(html: string): string[] {
  return [...html.matchAll(/<script\b[^>]*>([\s\S]*?)<\/script>/g)].map((m) => m[1]);
}

Deno.test("every user-supplied string is escaped on every page and chart", async () => {
  await withStore(async (store) => {
    const ids = fillFixtureRuns(store);
    const { app, close } = createDashboard({ store, path: "db" });
    try {
      const pages = [
        "/",
        "/runs",
        `/runs?ids=${ids.evil}`,
        `/run/${ids.evil}`,
        `/run/${ids.done}`,
        "/leaderboard/custom",
        "/leaderboard/base-to-novel",
        `/compare?id=${ids.done}&id=${ids.evil}`,
        `/run/${encodeURIComponent(EVIL)}`,
        `/leaderboard/${encodeURIComponent(EVIL)}`,
      ];
      for (const p of pages) {
        const { body } = await get(app, p);
        assert(!body.includes(EVIL), `${p}: the raw <script> name reached the page`);
        assert(!body.includes("<img src=x"), `${p}: a raw class name reached the page`);
        assert(!body.includes("<i>gpu</i>"), `${p}: a raw device name reached the page`);
        assert(!body.includes("alert(3)</script>") || !/<\/script><script>alert\(3\)/.test(body), p);
        // a user string inside an island's JSON must not be able to end the <script> element
        for (const s of scripts(body)) assert(!s.includes("<"), `${p}: "<" inside a script element`);
      }
      const run = await get(app, `/run/${ids.evil}`);
      assertStringIncludes(run.body, "&lt;script>alert(1)&lt;/script>");
      assertStringIncludes(unescape(run.body), `"note": "</script><script>alert(3)</script>"`);
      const custom = await get(app, "/leaderboard/custom");
      assertStringIncludes(custom.body, "&lt;script>alert(1)&lt;/script>");
      // the island's props still carry the exact name, as JSON escapes
      const json = scripts(custom.body).find((s) => s.includes("\\u003cscript\\u003e"));
      assert(json, "the island props hold the name as \\u003c escapes");
      assertEquals(JSON.parse(json).table.rows[0].label.startsWith(EVIL), true);
      for (const name of ["per-class", "confusion", "loss"]) {
        const svg = await get(app, `/run/${ids.evil}/chart/${name}.svg`);
        assertEquals(svg.status, 200, name);
        assert(!svg.body.includes("<img"), `${name}.svg holds a raw class name`);
        assert(!svg.body.includes(EVIL), `${name}.svg holds the raw run name`);
        assertEquals(xmlProblem(svg.body), null, `${name}.svg`);
      }
    } finally {
      close();
    }
  });
});

Deno.test("an empty database gives friendly pages, not errors", async () => {
  await withStore(async (store) => {
    const { app, close } = createDashboard({ store, path: "/some/where.db" });
    try {
      for (const p of ["/", "/runs", ...PROTOCOLS.map((k) => `/leaderboard/${k.kind}`)]) {
        const r = await get(app, p);
        assertEquals(r.status, 200, p);
        assertStringIncludes(r.type, "text/html");
        assertStringIncludes(r.body, "No runs yet", p);
        assertStringIncludes(r.body, "deno task demo --db /some/where.db", p);
      }
      assertEquals((await get(app, "/run/1")).status, 404);
      assertEquals((await get(app, "/run/1/chart/loss.svg")).status, 404);
      assertEquals((await get(app, "/nowhere")).status, 404);
      assertEquals((await get(app, "/compare?id=1")).status, 400);
    } finally {
      close();
    }
  });
});

Deno.test("each leaderboard page shows exactly leaderboard()'s rows, ours beside the paper's", async () => {
  await withStore(async (store) => {
    fillFixtureRuns(store);
    fillSyntheticRuns(store, 300, 7);
    const { app, close } = createDashboard({ store });
    try {
      const all = leaderboard(store, { includePaper: true });
      for (const { kind } of PROTOCOLS) {
        const { body, status } = await get(app, `/leaderboard/${kind}`);
        assertEquals(status, 200);
        const rows = new Map<string, string>();
        for (const m of body.matchAll(/<tr data-key="([^"]*)">([\s\S]*?)<\/tr>/g)) {
          rows.set(unescape(m[1]), m[2]);
        }
        const expected = all.filter((r) => r.protocol === kind);
        const keys = new Set(
          expected.map((r) =>
            JSON.stringify([
              kind === "custom" ? `${r.experiment} / ${r.evalName}` : r.dataset ?? "?",
              r.variant,
            ])
          ),
        );
        assertEquals(rows.size, keys.size, `${kind}: one table row per (dataset, variant)`);
        for (const r of expected) {
          const key = JSON.stringify([
            kind === "custom" ? `${r.experiment} / ${r.evalName}` : r.dataset ?? "?",
            r.variant,
          ]);
          const html = rows.get(key);
          assert(html !== undefined, `${kind}: no row ${key}`);
          if (r.value !== null) {
            const ours = r.value.toFixed(1) + (r.partial ? "*" : "");
            const href = r.runIds.length === 1 ? `/run/${r.runIds[0]}` : `/runs?ids=${r.runIds.join(",")}`;
            assertStringIncludes(html, `href="${href}">${ours}</a>`, `${kind} ${key} ${r.metric}`);
          }
          if (r.paper !== null) assertStringIncludes(html, `>${r.paper.toFixed(1)}</td>`, `${kind} ${key}`);
          if (r.delta !== null) {
            assertStringIncludes(
              html,
              `${r.delta >= 0 ? "+" : ""}${r.delta.toFixed(1)}</td>`,
              `${kind} ${key}`,
            );
          }
        }
      }
      // the server applies the view from the query string, so filtering works with JavaScript off
      const filtered = await get(app, "/leaderboard/zero-shot?dataset=ucf&variant=vifi&sort=top1&dir=desc");
      const labels = [...filtered.body.matchAll(/<tr data-key="([^"]*)">/g)].map((m) =>
        JSON.parse(unescape(m[1]))
      );
      assert(labels.length > 0);
      assert(labels.every(([d, v]) => d === "ucf" && v === "vifi"), JSON.stringify(labels));
      assertStringIncludes(filtered.body, `aria-sort="descending"`);
    } finally {
      close();
    }
  });
});

Deno.test("every chart download is well-formed standalone SVG, identical to the page's figure", async () => {
  await withStore(async (store) => {
    const { done } = fillFixtureRuns(store);
    const { app, close } = createDashboard({ store });
    try {
      const page = await get(app, `/run/${done}`);
      for (const name of CHARTS) {
        const r = await get(app, `/run/${done}/chart/${name}.svg`);
        assertEquals(r.status, 200, name);
        assertStringIncludes(r.type, "image/svg+xml");
        assert(
          r.body.startsWith(
            '<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg"',
          ),
          name,
        );
        assertEquals(xmlProblem(r.body), null, name);
        const inline = r.body.replace(/^<\?xml[^>]*>\n/, "").trim();
        assertStringIncludes(page.body, inline, `${name}: the download differs from the figure on the page`);
        assertStringIncludes(page.body, `/run/${done}/chart/${name}.svg`);
      }
      const scatter = await get(app, `/run/${done}/chart/embedding.svg`);
      assertEquals([...scatter.body.matchAll(/<circle cx/g)].length, 30 + 3, "30 points + 3 legend dots");
      const dl = await app.request(`/run/${done}/chart/loss.svg?download=1`);
      assertStringIncludes(dl.headers.get("content-disposition") ?? "", "attachment");
      await dl.body?.cancel();
      assertEquals((await get(app, `/run/${done}/chart/nope.svg`)).status, 404);
      assertEquals(xmlProblem('<svg><rect x="1" y="2"></svg>'), "</svg> does not close the open element");
      assertEquals(xmlProblem("<svg>a & b</svg>") !== null, true);
    } finally {
      close();
    }
  });
});

Deno.test("the runs list pages through thousands of runs, newest first", async () => {
  await withStore(async (store) => {
    fillSyntheticRuns(store, 2120, 3);
    const { app, close } = createDashboard({ store });
    try {
      const ids = (body: string) => [...body.matchAll(/<tr data-run="(\d+)">/g)].map((m) => Number(m[1]));
      const p1 = await get(app, "/runs");
      assertEquals(ids(p1.body), Array.from({ length: 50 }, (_, i) => 2120 - i));
      assertStringIncludes(p1.body, "page 1 of 43 (2120 runs)");
      assertStringIncludes(p1.body, `href="/runs?page=2" rel="next"`);
      const last = await get(app, "/runs?page=43");
      assertEquals(ids(last.body), Array.from({ length: 20 }, (_, i) => 20 - i));
      const clamped = await get(app, "/runs?page=999&per=200");
      assertStringIncludes(clamped.body, "page 11 of 11");
      assertEquals(ids(clamped.body).length, 120);
      const t0 = performance.now();
      await get(app, "/runs?page=20");
      const ms = performance.now() - t0;
      assert(ms < 500, `a runs page over 2,120 runs took ${ms.toFixed(0)} ms`);
    } finally {
      close();
    }
  });
});

Deno.test("the compare page puts two runs side by side and marks differing settings", async () => {
  await withStore(async (store) => {
    const { done, evil } = fillFixtureRuns(store);
    const { app, close } = createDashboard({ store });
    try {
      const r = await get(app, `/compare?id=${done}&id=${evil}`);
      assertEquals(r.status, 200);
      assertStringIncludes(r.body, `<tr class="diff"><td>train.lr</td><td>0.001</td><td>—</td></tr>`);
      assertStringIncludes(r.body, `data-chart="line"`);
    } finally {
      close();
    }
  });
});

Deno.test("the run-events stream reports a run's change without a reload", async () => {
  await withStore(async (store) => {
    const { running } = fillFixtureRuns(store);
    const { app, close } = createDashboard({ store, pollMs: 30 });
    try {
      const res = await app.request(`/api/runs/events?ids=${running}`);
      assertStringIncludes(res.headers.get("content-type") ?? "", "text/event-stream");
      const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
      let text = "";
      const until = async (pred: () => boolean) => {
        const deadline = Date.now() + 5000;
        while (!pred()) {
          if (Date.now() > deadline) throw new Error(`no matching event; got ${text}`);
          const { value, done } = await reader.read();
          if (done) throw new Error("stream ended");
          text += value;
        }
      };
      await until(() => text.includes(`"status":"running"`));
      store.finishRun(running, { status: "done", metrics: { evals: { hmdb: { top1: 42.5, top5: 80 } } } });
      await until(() => text.includes(`"status":"done"`));
      assertStringIncludes(text, "event: runs");
      assertStringIncludes(text, "hmdb 42.5 / 80.0");
      await reader.cancel();
    } finally {
      close();
    }
  });
});

Deno.test("run and eval ids are strict: only the decimal form names a run", async () => {
  await withStore(async (store) => {
    const { done } = fillFixtureRuns(store);
    assertEquals(done, 1);
    const ev = store.getRun(done)!.evals[0].id;
    const { app, close } = createDashboard({ store });
    try {
      assertEquals((await get(app, "/run/1")).status, 200);
      assertEquals((await get(app, `/run/1?eval=${ev}`)).status, 200);
      for (const alias of ["0x1", "1.0", "01", "%201", "1e0", "+1", "0b1", "1%20"]) {
        const page = await get(app, `/run/${alias}`);
        assertEquals(page.status, 404, `/run/${alias}`);
        assertEquals((await get(app, `/run/${alias}/chart/loss.svg`)).status, 404, `chart of ${alias}`);
        assertEquals((await get(app, `/run/1?eval=${alias.replace("1", String(ev))}`)).status, 404, alias);
        assertEquals((await get(app, `/compare?id=${alias}&id=2`)).status, 400, `compare ${alias}`);
        const ids = [...(await get(app, `/runs?ids=${alias}`)).body.matchAll(/<tr data-run="(\d+)">/g)];
        assertEquals(ids.length, 3, `/runs?ids=${alias} filtered as if it named run 1`);
      }
    } finally {
      close();
    }
  });
});

Deno.test("Host and Origin: only the addresses the dashboard was started on are served", async () => {
  await withStore(async (store) => {
    fillFixtureRuns(store);
    const allowed = allowedHostsFor("127.0.0.1", 8123);
    const { app, close } = createDashboard({ store, allowedHosts: () => allowed });
    const req = async (path: string, headers: Record<string, string>, method = "GET") => {
      const res = await app.request(path, { method, headers });
      return { status: res.status, body: await res.text() };
    };
    try {
      for (const host of ["127.0.0.1:8123", "localhost:8123", "LOCALHOST:8123"]) {
        assertEquals((await req("/runs", { host })).status, 200, host);
      }
      // DNS rebinding: a foreign name that resolves here; a right name on the wrong port; no Host at all
      for (const host of ["evil.example:8123", "evil.example", "127.0.0.1:8124", "127.0.0.1", "localhost."]) {
        const r = await req("/runs", { host });
        assertEquals(r.status, 403, host);
        assertStringIncludes(r.body, "is not an address this dashboard was started on");
        assert(!r.body.includes("synthetic-b2n"), "a refused request still got data");
      }
      assertEquals((await req("/", {})).status, 403, "no Host header");
      const ok = { host: "127.0.0.1:8123" };
      assertEquals((await req("/runs", { ...ok, origin: "http://127.0.0.1:8123" })).status, 200);
      assertEquals((await req("/runs", { ...ok, origin: "http://localhost:8123" })).status, 200);
      for (
        const origin of ["http://evil.example", "https://127.0.0.1:8123", "http://localhost:3000", "null"]
      ) {
        const get = await req("/runs", { ...ok, origin });
        assertEquals(get.status, 403, `GET from ${origin}`);
        const post = await req("/runs", { ...ok, origin }, "POST");
        assertEquals(post.status, 403, `POST from ${origin}`);
        assertStringIncludes(post.body, "from another site");
      }
      // a same-origin POST passes the guard (and meets the router: there is no POST /runs)
      assertEquals((await req("/runs", { ...ok, origin: "http://127.0.0.1:8123" }, "POST")).status, 404);
      const cross = await req("/runs", { ...ok, "sec-fetch-site": "cross-site" }, "POST");
      assertEquals(cross.status, 403, "a cross-site POST without Origin");
    } finally {
      close();
    }
    // without a list of hosts an Origin must still be the request's own address
    const open = createDashboard({ store });
    try {
      const r = await open.app.request("/runs", { headers: { origin: "http://evil.example" } });
      assertEquals(r.status, 403);
      await r.body?.cancel();
    } finally {
      open.close();
    }
  });
});

Deno.test("allowedHostsFor: loopback names, the --host given, brackets for IPv6, every address for 0.0.0.0", () => {
  assertEquals(allowedHostsFor("127.0.0.1", 8000), ["127.0.0.1:8000", "localhost:8000"]);
  assertEquals(allowedHostsFor("::1", 9), ["127.0.0.1:9", "localhost:9", "[::1]:9"]);
  assertEquals(allowedHostsFor("10.1.2.3", 80), [
    "127.0.0.1:80",
    "127.0.0.1",
    "localhost:80",
    "localhost",
    "10.1.2.3:80",
    "10.1.2.3",
  ]);
  const any = allowedHostsFor("0.0.0.0", 8000);
  for (const i of Deno.networkInterfaces()) {
    assert(any.includes(i.address.includes(":") ? `[${i.address}]:8000` : `${i.address}:8000`), i.address);
  }
});

Deno.test("every response carries the CSP, nosniff and DENY headers; pages hold nothing inline the CSP blocks", async () => {
  await withStore(async (store) => {
    const { done, running } = fillFixtureRuns(store);
    const { app, close } = createDashboard({ store, islandsJs: "/* test */" });
    try {
      const paths = [
        "/",
        "/runs",
        `/run/${done}`,
        `/run/${done}/chart/loss.svg`,
        "/leaderboard/base-to-novel",
        "/nowhere",
        "/run/0x1",
        "/static/islands.js",
        "/static/dashboard.css",
        `/compare?id=${done}`,
      ];
      for (const p of paths) {
        const res = await app.request(p);
        const body = await res.text();
        assertEquals(res.headers.get("content-security-policy"), CONTENT_SECURITY_POLICY, p);
        assertEquals(res.headers.get("x-content-type-options"), "nosniff", p);
        assertEquals(res.headers.get("x-frame-options"), "DENY", p);
        if (!(res.headers.get("content-type") ?? "").includes("text/html")) continue;
        assert(!/<style/i.test(body), `${p}: an inline <style>`);
        // inside tags only: escaped user text may well read "onerror="
        assert(!/<[a-z][^<>]*\sstyle=/i.test(body), `${p}: a style attribute`);
        assert(!/<[a-z][^<>]*\son[a-z]+=/i.test(body), `${p}: an inline event handler`);
        for (const m of body.matchAll(/<script\b([^>]*)>/g)) {
          assert(/type="application\/json"|src="\/static\/islands\.js"/.test(m[1]), `${p}: <script${m[1]}>`);
        }
      }
      assertStringIncludes(await (await app.request("/static/dashboard.css")).text(), "font:14px");
      const refused = await app.request("/", { headers: { origin: "http://evil.example" } });
      assertEquals(refused.headers.get("x-frame-options"), "DENY", "a refusal");
      await refused.body?.cancel();
      const events = await app.request(`/api/runs/events?ids=${running}`);
      assertEquals(events.headers.get("content-security-policy"), CONTENT_SECURITY_POLICY, "event stream");
      await events.body?.cancel();
    } finally {
      close();
    }
  });
});

Deno.test("pages follow the database: a run written by another process shows without a restart", async () => {
  await withStore(async (store, path) => {
    fillSyntheticRuns(store, 30, 5);
    const { app, close } = createDashboard({ store });
    const other = ResultsStore.open(path);
    try {
      const before = await get(app, "/runs");
      const custom = await get(app, "/leaderboard/custom");
      assertStringIncludes(before.body, "(30 runs)");
      // the same pages again come from the cache; then another connection commits a finished run
      assertEquals((await get(app, "/runs")).body, before.body);
      const id = other.startRun({
        experiment: "late-arrival",
        protocol: { kind: "custom" },
        variant: "both",
        config: {},
        commit: null,
        seed: 1,
        device: "test",
      });
      other.addEval(id, {
        name: "late-eval",
        clips: 1,
        crops: 1,
        top1: 12.5,
        top5: 50,
        count: 4,
        perClass: [{ name: "a", correct: 1, total: 2 }, { name: "b", correct: 0, total: 2 }],
        confusion: [[1, 1], [2, 0]],
      });
      other.finishRun(id, { status: "done" });
      assertStringIncludes((await get(app, "/runs")).body, "(31 runs)");
      assertStringIncludes((await get(app, "/")).body, "31");
      const after = await get(app, "/leaderboard/custom");
      assert(after.body !== custom.body && after.body.includes("late-arrival"), "the leaderboard is stale");
      // and a write through the dashboard's own connection too
      store.finishRun(id, { status: "failed", error: "changed my mind" });
      assert(!(await get(app, "/leaderboard/custom")).body.includes("late-arrival"), "stale after own write");
    } finally {
      other.close();
      close();
    }
  });
});
