// `deno task site OUT`: the page people use (lib/browser/app/) as a folder any static host serves — the
// HTML, the page's script bundled for the browser, the kernels at the path that bundle fetches them from,
// the model file, ffmpeg.wasm for videos WebCodecs cannot decode exactly, CLIP's BPE vocabulary when the
// model reads CLIP tokens, and manifest.json saying what the page loads. Every path in it is relative, so
// the folder works at a host's root or under any sub-path; nothing the page fetches is on another host.

import { parseArgs } from "node:util";
import { basename } from "node:path";
import { bundlePage } from "./browser-page.ts";
import { intArg, reportError, UsageError } from "./args.ts";
import { describeWeights } from "../models/weights/describe.ts";
import { isCheckpointMeta } from "../models/weights/checkpoint-meta.ts";
import { CLIP_VOCAB_SIZE } from "../text/tokenizer.ts";
import { BPE_VOCAB, defaultCacheDir, sha256Hex } from "../io/download.ts";
import { readLabelCsv } from "../data/labels.ts";
import type { SiteManifest } from "../browser/app/manifest.ts";

const DEFAULT_WEIGHTS = "runs/demo/train/best.safetensors";

const USAGE = `usage:
  deno task site OUT [--weights FILE] [--vocab FILE] [--labels-file CSV] [--frames T] [--template S]
                     [--no-ffmpeg]
      writes a self-contained static site to OUT (created; files already there are replaced): index.html,
      the page's script, kernels/*.wgsl, the model file, ffmpeg.wasm and manifest.json. Serve the folder
      with any static host (over https, or from localhost, for WebGPU); the page classifies videos and
      learns new classes on the visitor's GPU, and talks to nothing but that host.
  --weights       the model file (default: the demo's checkpoint, ${DEFAULT_WEIGHTS})
  --vocab         CLIP's bpe_simple_vocab_16e6.txt.gz, for a model that reads CLIP's BPE tokens (default: the
                  cache folder's copy)
  --labels-file   a label CSV (id,name): the class names the page suggests (default with the demo's
                  weights: its dataset's labels.csv)
  --frames        frames per video (default 8)
  --template      prompt per class with {name} (default: as deno task predict chooses)
  --no-ffmpeg     leave ffmpeg.wasm (32 MB) out: the page then decodes H.264 MP4 with WebCodecs only`;

const DEMO_LABELS = "runs/demo/data/labels.csv";

/** Where each part lives in the site; the bundle's depth decides where it looks for kernels/. */
export const SITE_PATHS = {
  html: "index.html",
  /** two folders deep: lib/gpu/kernels.ts fetches "../../kernels/x.wgsl" relative to the script */
  script: "assets/js/app.js",
  kernels: "kernels",
  model: "model",
  ffmpegWasm: "ffmpeg/ffmpeg-core.wasm",
  vocab: `clip/${BPE_VOCAB.file}`,
  manifest: "manifest.json",
} as const;

export interface SiteOptions {
  out: string;
  weights?: string;
  vocab?: string;
  labelsFile?: string;
  frames?: number;
  template?: string;
  ffmpeg?: boolean;
}

const ROOT = new URL("../../", import.meta.url);

async function exists(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/** The model file, what the page needs to know of it, and whether it needs CLIP's vocabulary. */
async function describeModel(path: string) {
  const d = await describeWeights(path);
  if (!d.load.nonStrict.ok && !d.load.strict.ok) {
    throw new Error(`vifi: site: the page cannot load ${path} alone: ${d.load.nonStrict.error}`);
  }
  const meta = isCheckpointMeta(d.meta) ? d.meta : undefined;
  const tokenizer = meta?.model.tokenizer?.kind ??
    (d.arch.text.vocab === CLIP_VOCAB_SIZE ? "clip" : "bytes");
  return {
    name: meta?.model.config.name ?? null,
    resolution: meta?.model.config.vision.resolution ?? d.arch.vision.resolution,
    tokenizer,
  };
}

async function vocabFile(o: SiteOptions): Promise<string> {
  const path = o.vocab ?? `${defaultCacheDir()}/${BPE_VOCAB.file}`;
  if (!(await exists(path))) {
    throw new Error(
      `vifi: site: the model reads CLIP's BPE tokens and ${path} is absent: pass --vocab ` +
        `(bpe_simple_vocab_16e6.txt.gz; deno task weights download ViT-B/16 fetches it)`,
    );
  }
  return path;
}

/** Writes `bytes` at `rel` under `out`, recording its size. */
async function put(out: string, files: Record<string, number>, rel: string, bytes: Uint8Array | string) {
  const path = `${out}/${rel}`;
  await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
  if (typeof bytes === "string") bytes = new TextEncoder().encode(bytes);
  await Deno.writeFile(path, bytes);
  files[rel] = bytes.length;
}

export type { SiteManifest };

/** Builds the site in `o.out`; returns its manifest. */
export async function buildSite(o: SiteOptions): Promise<SiteManifest> {
  if (ROOT.protocol !== "file:") {
    throw new Error("vifi: site: run deno task site from a checkout (it copies kernels/ from disk)");
  }
  const demo = o.weights === undefined;
  const weights = o.weights ?? DEFAULT_WEIGHTS;
  if (!(await exists(weights))) {
    throw new Error(
      demo
        ? `vifi: site: no weights: the demo's checkpoint ${weights} is absent; run deno task demo or pass --weights`
        : `vifi: site: --weights ${weights} is not a file`,
    );
  }
  const model = await describeModel(weights);
  const frames = o.frames ?? 8;
  const labelsFile = o.labelsFile ?? (demo && await exists(DEMO_LABELS) ? DEMO_LABELS : undefined);
  const classes = labelsFile ? await readLabelCsv(labelsFile) : [];
  const vocab = model.tokenizer === "clip" ? await vocabFile(o) : undefined;

  const out = o.out.replace(/\/+$/, "") || ".";
  await Deno.mkdir(out, { recursive: true });
  const files: Record<string, number> = {};
  const html = await Deno.readTextFile(new URL("lib/browser/app/index.html", ROOT));
  await put(out, files, SITE_PATHS.html, html);
  await put(out, files, SITE_PATHS.script, await bundlePage(new URL("lib/browser/app/main.ts", ROOT)));
  for await (const e of Deno.readDir(new URL("kernels/", ROOT))) {
    if (!e.isFile || !e.name.endsWith(".wgsl")) continue;
    await put(
      out,
      files,
      `${SITE_PATHS.kernels}/${e.name}`,
      await Deno.readFile(new URL(`kernels/${e.name}`, ROOT)),
    );
  }
  // the file keeps its name (the page shows it, the prompts file records it), in a folder of its own
  const modelRel = `${SITE_PATHS.model}/${basename(weights)}`;
  const modelBytes = await Deno.readFile(weights);
  await put(out, files, modelRel, modelBytes);
  const sha256 = await sha256Hex(modelBytes);
  const withFfmpeg = o.ffmpeg !== false;
  if (withFfmpeg) {
    const wasm = await Deno.readFile(new URL(import.meta.resolve("npm:@ffmpeg/core@0.12.10/wasm")));
    await put(out, files, SITE_PATHS.ffmpegWasm, wasm);
  }
  if (vocab) await put(out, files, SITE_PATHS.vocab, await Deno.readFile(vocab));
  const manifest: SiteManifest = {
    format: "vifi-site",
    version: 1,
    model: { file: modelRel, bytes: files[modelRel], sha256, ...model },
    classes,
    frames,
    template: o.template ?? null,
    vocab: vocab ? SITE_PATHS.vocab : null,
    ffmpegWasm: withFfmpeg ? SITE_PATHS.ffmpegWasm : null,
    files,
    builtAt: new Date().toISOString(),
  };
  await put(out, {}, SITE_PATHS.manifest, JSON.stringify(manifest, null, 2) + "\n");
  return manifest;
}

export async function main(args: string[]): Promise<number> {
  try {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: {
        weights: { type: "string" },
        vocab: { type: "string" },
        "labels-file": { type: "string" },
        frames: { type: "string" },
        template: { type: "string" },
        "no-ffmpeg": { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    });
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    if (positionals.length !== 1) throw new UsageError("expected exactly one OUT folder");
    if (values.template !== undefined && !values.template.includes("{name}")) {
      throw new UsageError(`--template ${JSON.stringify(values.template)} has no {name}`);
    }
    const t0 = performance.now();
    const m = await buildSite({
      out: positionals[0],
      weights: values.weights,
      vocab: values.vocab,
      labelsFile: values["labels-file"],
      frames: intArg(values.frames, "frames", 8, 1),
      template: values.template,
      ffmpeg: !values["no-ffmpeg"],
    });
    const total = Object.values(m.files).reduce((a, b) => a + b, 0);
    const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;
    console.log(
      `${positionals[0]}: ${Object.keys(m.files).length + 1} files, ${mb(total)} (model ${m.model.file} ` +
        `${mb(m.model.bytes)}${m.ffmpegWasm ? `, ffmpeg.wasm ${mb(m.files[m.ffmpegWasm])}` : ""}); ` +
        `${m.classes.length} suggested classes; built in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
    console.log(
      `serve it with any static host, e.g. deno run -A jsr:@std/http/file-server ${positionals[0]}`,
    );
    return 0;
  } catch (e) {
    return reportError(e, USAGE);
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
