// One page of vifi in a real browser, for the commands and tests that need the browser's own WebGPU, video
// decoders and storage: page scripts bundled for the browser (`deno bundle --platform browser`), served from
// 127.0.0.1 (a secure context, so WebGPU and the Cache API are on) with kernels/*.wgsl and whatever files the
// caller adds (weights, videos), and opened in headless Chromium through playwright-core. Every request the
// page makes is recorded, whatever its host, so a test can show that nothing left 127.0.0.1; the page talks
// back by POSTing JSON to /report (or the caller evaluates in it through `page`).
//
// A bundle is served at the path its source has in the repository with .js (lib/browser/x.ts at
// /lib/browser/x.js), so the bundled lib/gpu/kernels.ts resolves "../../kernels/x.wgsl" against the bundle's
// own URL to /kernels/x.wgsl, which the server reads from the kernels/ folder beside this library (by URL: a
// checkout and a library imported over HTTP both work).

import type { Browser, BrowserContext, Page } from "npm:playwright-core@1.65.1";
import { KERNEL_FILE, kernelSource } from "../gpu/kernels.ts";

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

const ROOT = new URL("../../", import.meta.url);

/** A file the server hands out: bytes or text, with its content type (default application/octet-stream). */
export interface ServedFile {
  body: Uint8Array | string;
  type?: string;
}

export interface PageOptions {
  /** page scripts (repository .ts files), each bundled and served at its repository path with .js */
  entries: URL[];
  /** the document at "/" (default: one that loads every entry as a module, in order) */
  html?: string;
  /** more files by absolute path ("/weights/tiny.safetensors"); a function is asked on each request */
  files?: Record<string, ServedFile | (() => ServedFile | Promise<ServedFile>)>;
  /** the query string of the page's address */
  query?: Record<string, string>;
  /** each JSON body the page POSTs to /report, in arrival order */
  onMessage?: (m: unknown) => void;
  /** false: serve only, launch nothing (a browser of the user's opens `url`); default true */
  launch?: boolean;
  /** the browser to launch (default CHROMIUM) */
  executablePath?: string;
  /** the page crashed or threw an uncaught error (default: recorded in `errors` only) */
  onPageError?: (why: string) => void;
}

/** A served page, open in headless Chromium unless `launch: false`. */
export interface BrowserPage {
  /** the page's address, query included */
  url: string;
  /** e.g. "Chromium 156.0.8078.114"; "served" when nothing was launched */
  browser: string;
  /** the playwright page (null when nothing was launched): evaluate in it, reload it */
  page: Page | null;
  /** every URL the browser asked for, in order, whatever its host (data: and blob: included) */
  requests: string[];
  /** every path this server was asked for (method and path), in order */
  served: string[];
  /** the JSON bodies POSTed to /report, in order */
  messages: unknown[];
  /** the console's errors and warnings (Dawn's warnings land here), the first 100 */
  console: string[];
  /** uncaught page errors and crashes */
  errors: string[];
  /** resolves with the first message (already received or still to come) that `match` accepts */
  waitForMessage<T>(match: (m: unknown) => m is T, timeoutMs: number, what?: string): Promise<T>;
  /** opens `path` (default the page's own address) in the same browser context: same caches, same storage */
  goto(path?: string): Promise<void>;
  /** closes the browser and stops the server */
  close(): Promise<void>;
}

/** One page script bundled for the browser by `deno bundle` (esbuild underneath), into memory. */
export async function bundlePage(entry: URL): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "vifi-page-" });
  try {
    const out = `${dir}/entry.js`;
    const args = ["bundle", "--quiet", "--platform", "browser", "-o", out, entry.href];
    const r = await new Deno.Command(Deno.execPath(), { args, stdout: "piped", stderr: "piped" }).output();
    if (!r.success) {
      throw new Error(
        `deno bundle ${entry.pathname} failed (exit ${r.code}): ` +
          new TextDecoder().decode(r.stderr).trim(),
      );
    }
    return await Deno.readTextFile(out);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** Where a bundle of `entry` is served: its repository path with .js (outside the repository: its name). */
export function bundlePath(entry: URL): string {
  const rel = entry.href.startsWith(ROOT.href)
    ? entry.href.slice(ROOT.href.length)
    : entry.pathname.split("/").pop()!;
  return `/${rel.replace(/\.tsx?$/, ".js")}`;
}

function defaultHtml(paths: string[]): string {
  return `<!doctype html>\n<meta charset="utf-8">\n<title>vifi</title>\n` +
    paths.map((p) => `<script type="module" src="${p}"></script>\n`).join("");
}

const text = (body: string, type: string) =>
  new Response(body, { headers: { "content-type": `${type}; charset=utf-8` } });

async function kernel(name: string): Promise<Response> {
  const src = await kernelSource(name).catch(() => null);
  if (src === null) return new Response(`no kernel ${name}`, { status: 404 });
  return text(src, "text/plain");
}

interface Served {
  server: Deno.HttpServer<Deno.NetAddr>;
  served: string[];
}

/** The page, its bundles, the kernels, the caller's files and /report, on 127.0.0.1 at a free port. */
function servePage(
  html: string,
  bundles: Map<string, string>,
  files: NonNullable<PageOptions["files"]>,
  onMessage: (m: unknown) => void,
): Served {
  const served: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const path = new URL(req.url).pathname;
    served.push(`${req.method} ${path}`);
    if (req.method === "POST" && path === "/report") {
      onMessage(await req.json());
      return new Response(null, { status: 204 });
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      return new Response("method not allowed", { status: 405 });
    }
    if (path === "/favicon.ico") return new Response(null, { status: 204 });
    if (path === "/") return text(html, "text/html");
    const js = bundles.get(path);
    if (js !== undefined) return text(js, "text/javascript");
    const file = Object.hasOwn(files, path) ? files[path] : undefined;
    if (file) {
      const f = typeof file === "function" ? await file() : file;
      const type = f.type ?? "application/octet-stream";
      const body = typeof f.body === "string" ? f.body : f.body as Uint8Array<ArrayBuffer>;
      // the length lets the page show how much of a download has arrived
      const length = typeof f.body === "string" ? new TextEncoder().encode(f.body).length : f.body.length;
      return new Response(body, { headers: { "content-type": type, "content-length": String(length) } });
    }
    // only names the kernels folder can hold: no "..", no encoded slashes, nothing else of the file system
    const name = path.startsWith("/kernels/") ? path.slice("/kernels/".length) : "";
    if (KERNEL_FILE.test(name)) return await kernel(name);
    return new Response("not found", { status: 404 });
  });
  return { server, served };
}

/** Messages in arrival order, with waiters for a message that matches. */
class Inbox {
  readonly all: unknown[] = [];
  private waiters: { match: (m: unknown) => boolean; done: (m: unknown) => void }[] = [];

  push(m: unknown): void {
    this.all.push(m);
    for (const w of [...this.waiters]) {
      if (w.match(m)) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.done(m);
      }
    }
  }

  wait<T>(match: (m: unknown) => m is T, timeoutMs: number, what: string, errors: string[]): Promise<T> {
    const seen = this.all.find(match);
    if (seen !== undefined) return Promise.resolve(seen as T);
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        const last = this.all.length
          ? ` (last message: ${JSON.stringify(this.all.at(-1)).slice(0, 300)})`
          : "";
        const errs = errors.length ? `; page errors: ${errors.join(" | ").slice(0, 600)}` : "";
        reject(new Error(`vifi: no ${what} from the page in ${timeoutMs / 1000} s${last}${errs}`));
      }, timeoutMs);
      const waiter = {
        match,
        done: (m: unknown) => {
          clearTimeout(timer);
          resolve(m as T);
        },
      };
      this.waiters.push(waiter);
    });
  }
}

/**
 * Bundles the entries, serves the page and opens it in headless Chromium (unless `launch: false`). The
 * caller closes it. A browser that cannot be launched is an error naming the executable; the server is
 * stopped first.
 */
export async function openPage(opts: PageOptions): Promise<BrowserPage> {
  const bundles = new Map<string, string>();
  for (const entry of opts.entries) bundles.set(bundlePath(entry), await bundlePage(entry));
  const inbox = new Inbox();
  const { server, served } = servePage(
    opts.html ?? defaultHtml([...bundles.keys()]),
    bundles,
    opts.files ?? {},
    (m) => {
      inbox.push(m);
      opts.onMessage?.(m);
    },
  );
  const query = opts.query ? `?${new URLSearchParams(opts.query)}` : "";
  const base = `http://127.0.0.1:${server.addr.port}`;
  const requests: string[] = [];
  const consoleLines: string[] = [];
  const errors: string[] = [];
  const pageError = (why: string) => {
    errors.push(why);
    opts.onPageError?.(why);
  };
  let browser: Browser | null = null;
  let page: Page | null = null;
  if (opts.launch !== false) {
    const path = opts.executablePath ?? CHROMIUM;
    try {
      ({ browser, page } = await launch(path, requests, consoleLines, pageError));
    } catch (e) {
      await server.shutdown();
      throw new Error(
        `vifi: cannot launch ${path}: ${String(e instanceof Error ? e.message : e).split("\n")[0]}`,
      );
    }
  }
  const self: BrowserPage = {
    url: `${base}/${query}`,
    browser: browser ? `Chromium ${browser.version()}` : "served",
    page,
    requests,
    served,
    messages: inbox.all,
    console: consoleLines,
    errors,
    waitForMessage: (match, timeoutMs, what = "matching message") =>
      inbox.wait(match, timeoutMs, what, errors),
    async goto(path) {
      if (!page) throw new Error("vifi: goto needs a launched browser");
      await page.goto(path === undefined ? self.url : new URL(path, base).href);
    },
    async close() {
      await browser?.close().catch(() => {});
      await server.shutdown();
    },
  };
  if (page) {
    try {
      await page.goto(self.url);
    } catch (e) {
      await self.close();
      throw e;
    }
  }
  return self;
}

/** Why a page cannot be opened here (no Chromium at `executablePath`, no playwright-core), or undefined. */
export async function browserMissing(executablePath = CHROMIUM): Promise<string | undefined> {
  try {
    await Deno.stat(executablePath);
  } catch {
    return `${executablePath} is absent (apt-get install chromium)`;
  }
  try {
    await import("npm:playwright-core@1.65.1");
    return undefined;
  } catch (e) {
    return `playwright-core cannot be imported (${(e as Error).message.split("\n")[0]})`;
  }
}

async function launch(
  executablePath: string,
  requests: string[],
  consoleLines: string[],
  fail: (why: string) => void,
): Promise<{ browser: Browser; page: Page }> {
  const { chromium } = await import("npm:playwright-core@1.65.1");
  const browser = await chromium.launch({ executablePath, headless: true, args: CHROMIUM_ARGS });
  try {
    const context: BrowserContext = await browser.newContext();
    // the context sees its pages', workers' and service workers' requests, before any is sent
    context.on("request", (r) => requests.push(r.url()));
    const page = await context.newPage();
    page.on("pageerror", (e) => fail(`page error: ${e.message}`));
    page.on("crash", () => fail("the page crashed"));
    page.on("console", (m) => {
      if ((m.type() === "error" || m.type() === "warning") && consoleLines.length < 100) {
        consoleLines.push(`${m.type()}: ${m.text()}`);
      }
    });
    return { browser, page };
  } catch (e) {
    await browser.close().catch(() => {});
    throw e;
  }
}

/** The requested URLs that are not on `origin` (data: and blob: URLs stay in the page, so they count as on it). */
export function offOrigin(requests: string[], origin: string): string[] {
  return requests.filter((u) => !u.startsWith(`${origin}/`) && !/^(data|blob):/.test(u));
}
