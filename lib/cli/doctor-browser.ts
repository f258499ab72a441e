// `deno task doctor --browser`: every kernel check again, inside a browser's WebGPU. Deno's WebGPU is
// wgpu (WGSL compiled by naga); Chromium's is Dawn (WGSL compiled by Tint), and each refuses things the
// other accepts, so a kernel is only portable once both have compiled and run it. The page's script is
// lib/selftest/browser-entry.ts; ./browser-page.ts bundles it, serves it with the kernels from 127.0.0.1
// and opens it. Headless Chromium (driven by playwright-core) is only the default browser: with `serve`
// the server waits for any browser on this machine to open the address, e.g. Chrome on a machine with a
// real GPU.

import type { AdapterRow, CaseRow, PageMessage } from "../selftest/browser-run.ts";
import { sessionSeed } from "../random/rng.ts";
import {
  type BrowserPage,
  bundlePage,
  bundlePath,
  CHROMIUM,
  CHROMIUM_ARGS,
  openPage,
} from "./browser-page.ts";

export { CHROMIUM, CHROMIUM_ARGS };

const ENTRY = new URL("../selftest/browser-entry.ts", import.meta.url);

export interface BrowserDoctorOptions {
  seed?: number;
  /** run only the cases whose test name contains this */
  filter?: string;
  /** the browser to launch (default CHROMIUM); ignored with `serve` */
  executablePath?: string;
  /** do not launch a browser: print the address and wait for one to open it */
  serve?: boolean;
  /** give up when the page has said nothing for this long (default 5 min): a hung case is named */
  idleMs?: number;
  onMessage?: (m: PageMessage) => void;
  /** called with the page's address once the server listens */
  onListen?: (url: string) => void;
}

export interface BrowserReport {
  /** e.g. "Chromium 156.0.8078.114"; "served" when a browser of the user's opened the page; "no browser" */
  browser: string;
  adapter: AdapterRow | null;
  seed: number;
  checks: CaseRow[];
  /** the number of cases the page meant to run */
  expected: number;
  /** wall time from launch to the last row */
  ms: number;
  /** a failure outside the cases: the page could not start, crashed, hung or stopped early */
  error?: string;
  /** the browser console's errors and warnings (Dawn's warnings land here), the first 50 */
  console: string[];
  pass: boolean;
}

/** The page's script for the browser, built by `deno bundle` (esbuild underneath) into memory. */
export function bundleEntry(): Promise<string> {
  return bundlePage(ENTRY);
}

/** Where the page loads the bundle from (lib/cli/browser-page.ts serves it there). */
const BUNDLE_PATH = bundlePath(ENTRY);

const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>vifi kernel checks</title>
<p>vifi: running every kernel check on this browser's WebGPU; the results go to the terminal.</p>
<script type="module" src="${BUNDLE_PATH}"></script>
`;

/** Collects the page's messages; `finished` settles on "done", "fatal", a page failure or silence. */
class Collector {
  adapter: AdapterRow | null = null;
  expected = 0;
  rows: CaseRow[] = [];
  error?: string;
  private current = "before the first case";
  private timer?: ReturnType<typeof setTimeout>;
  private settle!: () => void;
  readonly finished = new Promise<void>((r) => (this.settle = r));

  constructor(private idleMs: number, private onMessage?: (m: PageMessage) => void) {}

  /** (Re)starts the silence timer; before the page has spoken the caller decides how long to wait. */
  arm(ms = this.idleMs): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(
      () => this.fail(`the page said nothing for ${+(ms / 1000).toFixed(1)} s (${this.current})`),
      ms,
    );
  }

  message(m: PageMessage): void {
    this.arm();
    this.onMessage?.(m);
    if (m.type === "adapter") {
      this.adapter = m.adapter;
      this.expected = m.cases;
      if (!m.cases) this.fail("no kernel check case matches the filter");
    } else if (m.type === "start") {
      this.current = `running ${m.test}`;
    } else if (m.type === "case") {
      this.rows.push(m.row);
      this.current = `after ${m.row.name} ${m.row.direction} ${m.row.dtype}: ${m.row.case}`;
    } else if (m.type === "done") {
      this.stop();
    } else {
      this.fail(`the page failed: ${m.message}`);
    }
  }

  /** the browser console's errors and warnings, the first 50 */
  readonly console: string[] = [];
  note(line: string): void {
    if (this.console.length < 50) this.console.push(line);
  }

  fail(why: string): void {
    this.error ??= why;
    this.stop();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.settle();
  }
}

/**
 * Serves the checks, opens them in headless Chromium (or waits for a browser, with `serve`), and
 * returns every case's row; `pass` only when every selected case ran and passed or was skipped.
 */
export async function runBrowserDoctor(opts: BrowserDoctorOptions = {}): Promise<BrowserReport> {
  const t0 = performance.now();
  const seed = opts.seed ?? sessionSeed();
  const col = new Collector(opts.idleMs ?? 300_000, opts.onMessage);
  const query: Record<string, string> = { seed: String(seed) };
  if (opts.filter) query.filter = opts.filter;
  const path = opts.executablePath ?? CHROMIUM;
  // Chromium's first WebGPU page starts its GPU process and compiles nothing yet: a minute is ample.
  if (!opts.serve) col.arm(60_000);
  let page: BrowserPage | null = null;
  try {
    page = await openPage({
      entries: [ENTRY],
      html: PAGE,
      query,
      launch: !opts.serve,
      executablePath: path,
      onMessage: (m) => col.message(m as PageMessage),
      onPageError: (why) => col.fail(why),
    });
  } catch (e) {
    // openPage names the browser when it cannot launch it; a failed bundle or load says what failed
    col.fail(String(e instanceof Error ? e.message : e).split("\n")[0].replace(/^vifi: /, ""));
  }
  try {
    if (page) {
      opts.onListen?.(page.url);
      if (opts.serve) col.arm(24 * 3600_000);
      await col.finished;
      for (const line of page.console.slice(0, 50)) col.note(line);
    }
  } finally {
    await page?.close();
  }
  const ran = col.rows.length;
  if (!col.error && ran < col.expected) col.error = `the page stopped after ${ran} of ${col.expected} cases`;
  return {
    browser: page?.browser ?? (opts.serve ? "served" : "no browser"),
    adapter: col.adapter,
    seed,
    checks: col.rows,
    expected: col.expected,
    ms: performance.now() - t0,
    error: col.error,
    console: col.console,
    pass: !col.error && col.adapter !== null && col.rows.every((r) => r.pass),
  };
}
