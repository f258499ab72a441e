// The predict page's "run in my browser" path, server side: what a page needs to run lib/browser/predict.ts
// on the visitor's GPU, all from the dashboard's own origin (nothing leaves the machine that serves it):
//   browser/js/predict.js        the page bundle (web/predict-browser-client.tsx), built on first need;
//                                served only to the predict page: it carries the model and is large
//   kernels/NAME.wgsl            the kernels, where the bundled lib/gpu/kernels.ts looks for them
//                                ("../../kernels/" from the bundle's own URL)
//   browser/weights-info?path=P  whether the page may have P (the server form's own rule, predict-weights.ts)
//                                and the URL to fetch it from, which names the file's size and mtime so
//                                the browser's cache (keyed by URL) never serves an older file's bytes
//   browser/weights?path=P&v=V   the weight file, streamed with its length (the page shows progress)
//   browser/ffmpeg-core.wasm     the decoder for what WebCodecs cannot give exactly (the server's ffmpeg)
//   browser/vocab                CLIP's BPE vocabulary, where this machine has it (models with CLIP's tokens)
// Paths are relative to wherever the predict routes are mounted.

import type { Context, Hono } from "npm:hono@4.13.19";
import { fileURLToPath } from "node:url";
import type { ResultsStore } from "../lib/results/store.ts";
import { BPE_VOCAB, defaultCacheDir } from "../lib/io/download.ts";
import { KERNEL_FILE, kernelSource } from "../lib/gpu/kernels.ts";
import { buildIslands } from "./bundle.ts";
import { CONTENT_SECURITY_POLICY } from "./guard.ts";
import { InputError } from "./predict-input.ts";
import { allowedWeights, ForbiddenError } from "./predict-weights.ts";

const ENTRY = new URL("./predict-browser-client.tsx", import.meta.url);

/** Where the page bundle is served, relative to the predict routes' mount point. */
export const BROWSER_JS = "browser/js/predict.js";

/**
 * The predict page's policy: the dashboard's, plus compiling WebAssembly (the page's ffmpeg.wasm decodes
 * what WebCodecs cannot give exactly). Still no inline or foreign script, and no eval of text.
 */
export const PREDICT_CSP = CONTENT_SECURITY_POLICY.replace(
  "script-src 'self'",
  "script-src 'self' 'wasm-unsafe-eval'",
);

export interface BrowserRoutesOptions {
  store: ResultsStore;
  weightsDir?: string;
  /** the page bundle's source; default: `deno bundle` of web/predict-browser-client.tsx, once */
  bundle?: () => Promise<string>;
  /** CLIP's BPE vocabulary file; default the download cache's copy, when there is one */
  vocab?: string;
}

export interface BrowserRoutes {
  /** starts building the page bundle (the predict page calls it as it renders, before the script is asked for) */
  warm(): void;
}

function bundler(opts: BrowserRoutesOptions): () => Promise<string> {
  let built: Promise<string> | undefined;
  return () => {
    built ??= (opts.bundle ?? (async () => (await buildIslands({ entry: ENTRY })).js))();
    // a failed build is tried again on the next request, not remembered
    built.catch(() => (built = undefined));
    return built;
  };
}

function vocabPath(opts: BrowserRoutesOptions): string | undefined {
  if (opts.vocab) return opts.vocab;
  try {
    return `${defaultCacheDir().replace(/\/+$/, "")}/${BPE_VOCAB.file}`;
  } catch {
    return undefined;
  }
}

async function fileResponse(path: string, type: string, cache: string): Promise<Response> {
  const file = await Deno.open(path, { read: true });
  const { size } = await file.stat();
  // the length lets the page show how much of a download has arrived
  return new Response(file.readable, {
    headers: { "content-type": type, "content-length": String(size), "cache-control": cache },
  });
}

/** The weights the page asked for, allowed by the server form's rule; a refusal is answered as JSON. */
async function askedWeights(
  c: Context,
  opts: BrowserRoutesOptions,
): Promise<{ path: string; version: string } | Response> {
  const asked = c.req.query("path") ?? "";
  try {
    if (asked.trim() === "") throw new InputError("choose a checkpoint or give a weights file path");
    const path = await allowedWeights(opts.store, opts.weightsDir, asked);
    const st = await Deno.stat(path);
    return { path, version: `${st.size}-${st.mtime?.getTime() ?? 0}` };
  } catch (e) {
    const error = (e instanceof Error ? e.message : String(e)).replace(/^vifi: /, "");
    const status = e instanceof ForbiddenError ? 403 : e instanceof InputError ? 400 : 404;
    return c.json({ error }, status);
  }
}

/** Registers the in-browser routes on the predict sub-app. */
export function browserRoutes(app: Hono, opts: BrowserRoutesOptions): BrowserRoutes {
  const bundle = bundler(opts);

  app.get(`/${BROWSER_JS}`, async (c) => {
    try {
      return c.body(await bundle(), 200, {
        "content-type": "text/javascript; charset=utf-8",
        "cache-control": "no-cache",
      });
    } catch (e) {
      return c.text(`the page bundle could not be built: ${(e as Error).message}`, 500);
    }
  });

  app.get("/kernels/:name", async (c) => {
    const name = c.req.param("name");
    // only names the kernels folder can hold: nothing else of the file system
    if (!KERNEL_FILE.test(name)) return c.text("not found", 404);
    try {
      const src = await kernelSource(name);
      return c.body(src, 200, { "content-type": "text/plain; charset=utf-8", "cache-control": "no-cache" });
    } catch {
      return c.text(`no kernel ${name}`, 404);
    }
  });

  app.get("/browser/weights-info", async (c) => {
    const got = await askedWeights(c, opts);
    if (got instanceof Response) return got;
    const query = new URLSearchParams({ path: c.req.query("path") ?? "", v: got.version });
    return c.json({ url: `weights?${query}`, bytes: Number(got.version.split("-")[0]) });
  });

  app.get("/browser/weights", async (c) => {
    const got = await askedWeights(c, opts);
    if (got instanceof Response) return got;
    if (c.req.query("v") !== got.version) {
      return c.json({ error: "the weights file has changed since the page asked for it; try again" }, 409);
    }
    // the URL names this version of the file: the browser may keep it as long as it likes
    return await fileResponse(got.path, "application/octet-stream", "private, max-age=31536000, immutable");
  });

  app.get("/browser/ffmpeg-core.wasm", async () =>
    await fileResponse(
      fileURLToPath(import.meta.resolve("npm:@ffmpeg/core@0.12.10/wasm")),
      "application/wasm",
      "private, max-age=86400",
    ));

  app.get("/browser/vocab", async (c) => {
    const path = vocabPath(opts);
    try {
      if (path) return await fileResponse(path, "application/octet-stream", "private, max-age=86400");
    } catch { /* answered below */ }
    return c.json({
      error:
        "this server has no CLIP BPE vocabulary (deno task weights download ViT-B/16 puts one in its cache)",
    }, 404);
  });

  return { warm: () => void bundle().catch(() => {}) };
}
