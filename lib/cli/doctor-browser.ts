// `deno task doctor --browser`: every kernel check again, inside a browser's WebGPU. Deno's WebGPU is
// wgpu (WGSL compiled by naga); Chromium's is Dawn (WGSL compiled by Tint), and each refuses things the
// other accepts, so a kernel is only portable once both have compiled and run it. The page's script is
// lib/selftest/browser-entry.ts, bundled for the browser here; the server below hands it the bundle at
// the same path under the root as the source has in the repository, so the bundled lib/gpu/kernels.ts
// resolves "../../kernels/x.wgsl" to /kernels/x.wgsl, which the server reads from the kernels/ folder
// beside this library (by URL: it works for a checkout and for a library imported over HTTP). Headless
// Chromium (driven by playwright-core) is only the default browser: with `serve` the server waits for
// any browser on this machine to open the address, e.g. Chrome on a machine with a real GPU.

import type { AdapterRow, CaseRow, PageMessage } from "../selftest/browser-run.ts";
import { sessionSeed } from "../random/rng.ts";

/** Debian's Chromium, as .ci/run installs it. */
export const CHROMIUM = "/usr/bin/chromium";

/**
 * WebGPU is off by default in Chromium on Linux; this one switch turns it on, and in a headless
 * Chromium without a GPU the adapter is then SwiftShader's Vulkan on the CPU. The rest keep it from
 * phoning home or sandboxing itself out of a container.
 */
export const CHROMIUM_ARGS = [
  "--enable-unsafe-webgpu",
  "--no-sandbox",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

const ENTRY = new URL("../selftest/browser-entry.ts", import.meta.url);
/** Where the page loads the bundle from: the entry's own path with .js, so ../../kernels/ is /kernels/. */
const BUNDLE_PATH = "/lib/selftest/browser-entry.js";
const KERNELS = new URL("../../kernels/", import.meta.url);

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
export async function bundleEntry(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "vifi-doctor-browser-" });
  try {
    const out = `${dir}/entry.js`;
    const args = ["bundle", "--quiet", "--platform", "browser", "-o", out, ENTRY.href];
    const r = await new Deno.Command(Deno.execPath(), { args, stdout: "piped", stderr: "piped" }).output();
    if (!r.success) {
      throw new Error(`deno bundle failed (exit ${r.code}): ${new TextDecoder().decode(r.stderr).trim()}`);
    }
    return await Deno.readTextFile(out);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>vifi kernel checks</title>
<p>vifi: running every kernel check on this browser's WebGPU; the results go to the terminal.</p>
<script type="module" src="${BUNDLE_PATH}"></script>
`;

/** The page, its script, the kernels, and /report for the page's messages; 127.0.0.1 is a secure context. */
function serveChecks(bundle: string, onMessage: (m: PageMessage) => void): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const path = new URL(req.url).pathname;
    if (req.method === "POST" && path === "/report") {
      onMessage(await req.json() as PageMessage);
      return new Response(null, { status: 204 });
    }
    if (req.method !== "GET") return new Response("method not allowed", { status: 405 });
    if (path === "/favicon.ico") return new Response(null, { status: 204 });
    if (path === "/") return new Response(PAGE, { headers: { "content-type": "text/html; charset=utf-8" } });
    if (path === BUNDLE_PATH) {
      return new Response(bundle, { headers: { "content-type": "text/javascript; charset=utf-8" } });
    }
    const m = /^\/kernels\/([A-Za-z0-9_-]+\.wgsl)$/.exec(path);
    if (m) {
      const res = await fetch(new URL(m[1], KERNELS)).catch(() => null);
      if (!res?.ok) return new Response(`no kernel ${m[1]}`, { status: 404 });
      return new Response(await res.text(), { headers: { "content-type": "text/plain; charset=utf-8" } });
    }
    return new Response("not found", { status: 404 });
  });
}

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
  const bundle = await bundleEntry();
  const col = new Collector(opts.idleMs ?? 300_000, opts.onMessage);
  const server = serveChecks(bundle, (m) => col.message(m));
  const query = new URLSearchParams({ seed: String(seed) });
  if (opts.filter) query.set("filter", opts.filter);
  const url = `http://127.0.0.1:${server.addr.port}/?${query}`;
  opts.onListen?.(url);
  let browser = opts.serve ? "served" : "no browser";
  let close = async () => {};
  try {
    if (opts.serve) {
      col.arm(24 * 3600_000);
    } else {
      const path = opts.executablePath ?? CHROMIUM;
      const launched = await launchChromium(url, path, (why) => col.fail(why), (line) => col.note(line))
        .catch((e) => {
          col.fail(
            `cannot open the page in ${path}: ${String(e instanceof Error ? e.message : e).split("\n")[0]}`,
          );
          return null;
        });
      if (launched) {
        browser = launched.version;
        close = launched.close;
        // Chromium's first WebGPU page starts its GPU process and compiles nothing yet: a minute is ample.
        if (!col.adapter) col.arm(60_000);
      }
    }
    await col.finished;
  } finally {
    await close().catch(() => {});
    await server.shutdown();
  }
  const ran = col.rows.length;
  if (!col.error && ran < col.expected) col.error = `the page stopped after ${ran} of ${col.expected} cases`;
  return {
    browser,
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

async function launchChromium(
  url: string,
  executablePath: string,
  fail: (why: string) => void,
  note: (line: string) => void,
): Promise<{ version: string; close: () => Promise<void> }> {
  const { chromium } = await import("npm:playwright-core@1.65.1");
  const b = await chromium.launch({ executablePath, headless: true, args: CHROMIUM_ARGS });
  try {
    const page = await b.newPage();
    page.on("pageerror", (e) => fail(`page error: ${e.message}`));
    page.on("crash", () => fail("the page crashed"));
    // Uncaptured WebGPU errors reach the runtime's own list and fail their case; the console adds what
    // Dawn only warns about, and a script that failed to load.
    page.on("console", (m) => {
      if (m.type() === "error" || m.type() === "warning") note(`${m.type()}: ${m.text()}`);
    });
    await page.goto(url);
    return { version: `Chromium ${b.version()}`, close: () => b.close() };
  } catch (e) {
    await b.close().catch(() => {});
    throw e;
  }
}
