// Every case of every kernel check in headless Chromium's WebGPU (Dawn, WGSL compiled by Tint; on a
// machine without a GPU the adapter is SwiftShader's Vulkan) with the same float64 references, tolerances
// and per-test random streams as tests/selftest/kernels_test.ts under Deno (wgpu and naga): a kernel that
// only one implementation accepts fails here. The driver (lib/cli/doctor-browser.ts) is tested first on
// a stand-in page that says what a broken page would, so a driver that passes everything cannot pass.

import { existsSync } from "node:fs";
import { assert, assertEquals } from "../data/assert.ts";
import { type BrowserReport, CHROMIUM, runBrowserDoctor } from "../../lib/cli/doctor-browser.ts";
import { type CaseRow, type PageMessage, runEveryCase, selectCases } from "../../lib/selftest/browser-run.ts";
import { sessionSeed } from "../../lib/random/rng.ts";
import { getRuntime } from "../../lib/gpu/runtime.ts";
import { checkLine } from "../../lib/cli/doctor.ts";

const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) {
  console.log(`browser kernel checks skipped: ${CHROMIUM} is absent (apt-get install chromium)`);
}
const seed = sessionSeed();

const row = (pass: boolean): CaseRow => ({
  name: "made-up",
  dtype: "f32",
  direction: "forward",
  case: "n=3",
  measure: "relative",
  err: pass ? 1e-8 : 0.5,
  rel_err: pass ? 1e-8 : 0.5,
  tol: 1e-5,
  pass,
  error: pass ? undefined : "relative error 0.5 ≥ tolerance 0.00001",
  ms: 1,
});
const adapter = {
  vendor: "made-up",
  architecture: "",
  description: "",
  features: [],
  f16: false,
  timestamps: false,
  limits: {},
};

/**
 * The driver in `serve` mode with this test standing in for the browser: it checks what the server
 * hands a page, then sends `messages` (stopping quietly once the driver has finished and gone).
 */
async function standIn(messages: PageMessage[], idleMs = 10_000): Promise<BrowserReport> {
  let served: Promise<void> = Promise.resolve();
  const report = await runBrowserDoctor({
    seed: 7,
    serve: true,
    idleMs,
    onListen: (url) => {
      const base = new URL(url);
      served = (async () => {
        assertEquals(base.searchParams.get("seed"), "7");
        const page = await (await fetch(base)).text();
        const src = /<script type="module" src="([^"]+)"/.exec(page)?.[1];
        assert(src, `the page loads a module: ${page}`);
        const js = await (await fetch(new URL(src, base))).text();
        assert(js.includes("../../kernels/"), "the bundle fetches its kernels relative to itself");
        // where the bundle's kernel URLs land, and nothing else of the file system
        const kernel = await fetch(new URL("../../kernels/quickgelu.wgsl", new URL(src, base)));
        assert(kernel.ok && (await kernel.text()).includes("fn "), "kernels/quickgelu.wgsl is served");
        for (const path of ["/kernels/../deno.json", "/kernels/x%2f..%2f..%2fdeno.json", "/deno.json"]) {
          const r = await fetch(new URL(path, base));
          await r.body?.cancel();
          assertEquals(r.status, 404, path);
        }
      })();
      (async () => {
        await served.catch(() => {});
        for (const m of messages) {
          const r = await fetch(new URL("/report", base), { method: "POST", body: JSON.stringify(m) });
          await r.body?.cancel();
        }
      })().catch(() => {/* the driver stopped listening: what the early-failure cases expect */});
    },
  });
  await served;
  return report;
}

Deno.test({
  name: "browser driver: a failing row, an early stop, silence and a page error all fail the run",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const start = (cases: number): PageMessage => ({ type: "adapter", adapter, cases });
    const ok = await standIn([start(1), { type: "case", index: 0, row: row(true) }, { type: "done", ms: 1 }]);
    assert(ok.pass && !ok.error && ok.checks.length === 1, `a passing run: ${JSON.stringify(ok)}`);
    assertEquals(ok.seed, 7);

    const failing = await standIn([start(1), { type: "case", index: 0, row: row(false) }, {
      type: "done",
      ms: 1,
    }]);
    assert(!failing.pass && !failing.error, "a failing row fails the run");
    assert(checkLine(failing.checks[0], true).includes("FAIL made-up forward f32"), "printed as FAIL");

    const early = await standIn([start(2), { type: "case", index: 0, row: row(true) }, {
      type: "done",
      ms: 1,
    }]);
    assert(!early.pass && early.error === "the page stopped after 1 of 2 cases", `${early.error}`);

    const silent = await standIn(
      [start(2), { type: "start", index: 0, test: "made-up forward f32: n=3" }],
      300,
    );
    assert(!silent.pass, "silence fails");
    assert(
      silent.error?.includes("running made-up forward f32: n=3"),
      `the hung case is named: ${silent.error}`,
    );

    const fatal = await standIn([{ type: "fatal", message: "no adapter" }]);
    assert(!fatal.pass && fatal.error === "the page failed: no adapter" && !fatal.adapter, `${fatal.error}`);

    const none = await standIn([start(0), { type: "done", ms: 1 }]);
    assert(!none.pass && /no kernel check case matches/.test(none.error ?? ""), `${none.error}`);
  },
});

Deno.test("the page's loop under Deno: every selected case, in order, reported as it runs", async () => {
  const filter = "quickgelu forward f32";
  const want = selectCases(filter).map((s) => s.test);
  assert(want.length >= 3, `cases for ${filter}: ${want.length}`);
  const seen: string[] = [];
  const rows = await runEveryCase(await getRuntime(), seed, (m) => {
    seen.push(m.type === "start" ? `start ${m.test}` : m.type);
  }, filter);
  assertEquals(seen, ["adapter", ...want.flatMap((t) => [`start ${t}`, "case"]), "done"]);
  const failed = rows.filter((r) => !r.pass);
  assert(failed.length === 0, failed.map((r) => checkLine(r, true)).join("\n"));
});

Deno.test({
  name: "every kernel check case in headless Chromium's WebGPU (Dawn/Tint)",
  ignore: !hasChromium,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    console.log(
      `browser kernel checks: seed ${seed} (replay with VIFI_SEED=${seed} deno task doctor --browser)`,
    );
    const r = await runBrowserDoctor({ seed });
    const a = r.adapter;
    console.log(
      `${r.browser}, adapter ${a ? `${a.vendor} ${a.architecture}` : "none"}: ${r.checks.length} of ` +
        `${r.expected} cases in ${(r.ms / 1000).toFixed(0)} s` +
        `, ${r.checks.filter((c) => c.skipped).length} skipped${a?.f16 ? "" : " (no shader-f16)"}`,
    );
    const failed = r.checks.filter((c) => !c.pass);
    const problems = [
      ...(r.error ? [`the run: ${r.error}`, ...r.console.map((l) => `  console ${l}`)] : []),
      ...failed.map((c) => checkLine(c, true)),
    ];
    assert(
      r.pass && problems.length === 0,
      `${failed.length} cases failed in Chromium:\n${problems.join("\n")}`,
    );
    assertEquals(r.checks.length, selectCases().length, "every case of every check ran");
  },
});
