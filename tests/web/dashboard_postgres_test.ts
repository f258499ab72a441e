// `deno task dashboard --db postgres://…` as a process, over a PostgreSQL database of this test's own
// (tests/results/backends.ts): the leaderboard pages show the store's rows, and a run that another
// connection starts (as a trainer on another machine would) arrives on the open event stream, its steps on
// the run's step stream as they are logged, and its end, all without a reload. Skipped, with the reason
// printed, where VIFI_TEST_POSTGRES is unset or its server does not answer (.ci/cluster.sh start gives one).

import { assert, assertEquals } from "../data/assert.ts";
import { ResultsStore, type StepRow } from "../../lib/results/store.ts";
import { leaderboard } from "../../lib/results/leaderboard.ts";
import { freshPostgres, postgresMissing } from "../results/backends.ts";
import { fillFixtureRuns } from "./fixtures.ts";
import { type DashboardProcess, startDashboard } from "./dashboard_process.ts";

const missing = postgresMissing();
if (missing) console.log(`skip: tests/web/dashboard_postgres_test.ts: ${missing}`);

/** A server-sent-event stream read until an event of `name` satisfies `want`; every event seen is kept. */
async function openEvents(url: string) {
  const res = await fetch(url);
  assertEquals(res.status, 200, url);
  assert((res.headers.get("content-type") ?? "").includes("text/event-stream"), url);
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  const seen: { event: string; data: unknown }[] = [];
  return {
    seen,
    async until(name: string, want: (data: unknown) => boolean, timeoutMs = 15_000): Promise<unknown> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        for (let end; (end = text.indexOf("\n\n")) >= 0;) {
          const block = text.slice(0, end);
          text = text.slice(end + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event === undefined || data === undefined) continue; // a keep-alive comment
          const parsed = JSON.parse(data);
          seen.push({ event, data: parsed });
          if (event === name && want(parsed)) return parsed;
        }
        const left = deadline - Date.now();
        if (left <= 0) {
          throw new Error(`no matching "${name}" event in ${timeoutMs} ms: ${JSON.stringify(seen)}`);
        }
        let timer: ReturnType<typeof setTimeout> | undefined;
        const next = await Promise.race([
          reader.read(),
          new Promise<null>((ok) => timer = setTimeout(() => ok(null), left)),
        ]);
        clearTimeout(timer);
        if (next === null) continue;
        if (next.done) throw new Error(`the stream ended: ${JSON.stringify(seen)}`);
        text += next.value;
      }
    },
    close: () => reader.cancel().catch(() => {}),
  };
}

const steps = (from: number, n: number): StepRow[] =>
  Array.from({ length: n }, (_, i) => ({ step: from + i, epoch: 0, loss: 3 / (from + i + 1.7), lr: 1e-3 }));

Deno.test({
  name:
    "the dashboard over PostgreSQL: leaderboards from the store, a run from another connection arrives live",
  ignore: missing !== null,
  // the store's PostgreSQL worker and the fetches' connections end with close() and cancel()
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const pg = freshPostgres();
    // the writer: this test's own connection, as a trainer's would be
    const store = ResultsStore.open(pg.url);
    let dash: DashboardProcess | undefined;
    try {
      const { done } = fillFixtureRuns(store);
      // a password in the URL (the test server trusts 127.0.0.1, so any will do) is never printed
      const withPassword = new URL(pg.url);
      withPassword.password = "s3cret-pw";
      dash = await startDashboard(["--db", withPassword.href, "--port", "0"]);
      const base = dash.base;
      assert(dash.out().includes("(database postgres://postgres:***@"), dash.out());

      await t.step("the leaderboard pages show the rows leaderboard() computes from PostgreSQL", async () => {
        const rows = leaderboard(store).filter((r) => r.value !== null);
        assert(rows.some((r) => r.protocol === "base-to-novel") && rows.some((r) => r.protocol === "custom"));
        for (const kind of ["base-to-novel", "custom"]) {
          const page = await (await fetch(`${base}/leaderboard/${kind}`)).text();
          const want = rows.filter((r) => r.protocol === kind);
          assertEquals([...page.matchAll(/<tr data-key=/g)].length > 0, true, `${kind}: no rows`);
          for (const r of want) {
            const cell = `href="/run/${r.runIds[0]}">${r.value!.toFixed(1)}${r.partial ? "*" : ""}</a>`;
            assert(page.includes(cell), `${kind} ${r.metric}: no ${cell}`);
          }
        }
        // the base-to-novel row of the fixture: base 40, novel 20, HM 26.7 from run `done`, one seed of 3 (*)
        const b2n = await (await fetch(`${base}/leaderboard/base-to-novel`)).text();
        for (const v of ["40.0", "20.0", "26.7"]) assert(b2n.includes(`href="/run/${done}">${v}*</a>`), v);
      });

      await t.step("a new run, its steps and its end arrive on the open streams", async () => {
        const runs = await openEvents(`${base}/api/runs/events`);
        try {
          const id = store.startRun({
            experiment: "appears-live",
            protocol: { kind: "custom" },
            variant: "both",
            config: {},
            commit: null,
            seed: 5,
            device: "pg test",
          });
          const has = (status: string) => (d: unknown) =>
            (d as { id: number; status: string }[]).some((r) => r.id === id && r.status === status);
          const row = (await runs.until("runs", has("running"))) as { id: number; experiment: string }[];
          assertEquals(row.find((r) => r.id === id)!.experiment, "appears-live");

          // steps logged before the stream opened come first (since=-1), then each batch as it is written
          store.logSteps(id, steps(0, 3));
          const stream = await openEvents(`${base}/api/run/${id}/steps?since=-1`);
          try {
            const got: StepRow[] = [];
            const upTo = (last: number) => (d: unknown) => {
              got.push(...(d as StepRow[]));
              return got.at(-1)?.step === last;
            };
            await stream.until("steps", upTo(2));
            store.logSteps(id, steps(3, 2));
            await stream.until("steps", upTo(4));
            store.logSteps(id, steps(5, 4));
            await stream.until("steps", upTo(8));
            // each step once, in order, with the values written (loss and lr exactly: float64 both ways)
            assertEquals(
              got.map((s) => [s.step, s.epoch, s.loss, s.lr]),
              steps(0, 9).map((s) => [s.step, 0, s.loss, s.lr]),
            );
          } finally {
            await stream.close();
          }
          store.finishRun(id, { status: "done", metrics: { evals: { own: { top1: 12.5, top5: 50 } } } });
          const end = (await runs.until("runs", has("done"))) as { id: number; metrics: string }[];
          assert(end.find((r) => r.id === id)!.metrics.includes("12.5"), JSON.stringify(end));
          // and the pages read it from the database: the run page draws its loss curve
          const svg = await fetch(`${base}/run/${id}/chart/loss.svg`);
          assertEquals(svg.status, 200);
          assert((await svg.text()).includes("<path"), "no loss curve");
        } finally {
          await runs.close();
        }
        const missing = await fetch(`${base}/api/run/99999/steps`);
        assertEquals(missing.status, 404);
        await missing.body?.cancel();
      });
      const { out } = dash;
      const status = await dash.stop();
      dash = undefined;
      assertEquals(status.code, 0, "the dashboard's exit code after SIGTERM");
      assert(!out().includes("s3cret-pw"), out());
    } finally {
      if (dash) await dash.stop();
      store.close();
      pg.drop();
    }
  },
});
