// `deno task weights inspect FILE`: what a weight file is (container, naming, architecture, size,
// prompt tensors, what could not be mapped) before anything tries to train on it.
// `deno task weights download ViT-B/16`: OpenAI's release and the BPE vocabulary into the cache,
// verified against their SHA-256. Exit codes: 0 fine, 1 the file or download failed, 2 usage.

import { parseArgs } from "node:util";
import { WeightMappingError } from "../io/keymap.ts";
import { inspectWeights, type LoadedWeights } from "../io/weights.ts";
import { CLIP_RELEASES, defaultCacheDir, downloadClip, HashMismatchError } from "../io/download.ts";
import { visionTokens } from "../models/config.ts";
import { intArg, UsageError } from "./args.ts";

const USAGE = `usage:
  deno task weights inspect FILE [--json] [--non-strict] [--clip-weights FILE] [--head-width N]
      format, naming, architecture, parameter count, dtypes, prompt tensors and unmapped keys of a
      .pt / .pth / .safetensors file (OpenAI, ViFi-CLIP or Hugging Face naming)
  deno task weights download ${
  Object.keys(CLIP_RELEASES).join("|")
} [--cache DIR] [--base-url URL] [--no-vocab] [--json]
      OpenAI's CLIP release and the BPE vocabulary into DIR (default $VIFI_CACHE or ~/.cache/vifi),
      SHA-256 verified, resuming partial downloads`;

/** The JSON `inspect --json` prints. */
export function inspectSummary(file: string, w: LoadedWeights): Record<string, unknown> {
  const c = w.config;
  const noVocab = w.report.missing.includes("token_embedding.weight");
  return {
    file,
    format: w.format,
    naming: w.naming,
    arch: {
      embedDim: c.embedDim,
      vision: { ...c.vision, tokens: visionTokens(c.vision) },
      // without a token embedding the vocabulary size is CLIP's by assumption, not read from the file
      text: { ...c.text, vocab: noVocab ? null : c.text.vocab },
    },
    /** in the file (or its state dict), and how many of them became model tensors */
    tensors: Object.values(w.dtypes).reduce((a, b) => a + b, 0),
    mapped: w.weights.size + (w.prompts?.weights.size ?? 0),
    params: w.params,
    dtypes: w.dtypes,
    prompts: w.prompts ? { config: w.prompts.config, names: w.report.prompts } : null,
    report: w.report,
  };
}

function printInspect(s: Record<string, unknown>, w: LoadedWeights): void {
  const c = w.config;
  const r = w.report;
  const row = (k: string, v: string) => console.log(`${k.padEnd(10)}${v}`);
  const names = (list: string[], show = 8) =>
    list.slice(0, show).join(", ") + (list.length > show ? `, … (${list.length - show} more)` : "");
  row("file", String(s.file));
  row("format", w.format);
  row("naming", w.naming);
  row(
    "image",
    `width ${c.vision.width}, layers ${c.vision.layers}, heads ${c.vision.heads}, patch ${c.vision.patch}, ` +
      `resolution ${c.vision.resolution} (${visionTokens(c.vision)} tokens)`,
  );
  const vocab = r.missing.includes("token_embedding.weight")
    ? "? (no token_embedding.weight)"
    : `${c.text.vocab}`;
  row(
    "text",
    `width ${c.text.width}, layers ${c.text.layers}, heads ${c.text.heads}, context ${c.text.context}, vocab ${vocab}`,
  );
  row("embed", `${c.embedDim}`);
  row("tensors", `${s.tensors} in the file, ${s.mapped} mapped`);
  row("params", w.params.toLocaleString("en-US"));
  row("dtypes", Object.entries(w.dtypes).map(([d, n]) => `${d} ×${n}`).join(", ") || "—");
  if (w.prompts) {
    const p = w.prompts.config;
    row(
      "prompts",
      `${r.prompts.length} tensors: text ${p.textCtx} tokens × depth ${p.textDepth}, ` +
        `vision ${p.visionCtx} tokens × depth ${p.visionDepth}`,
    );
  } else row("prompts", "none");
  if (r.supplied.length) row("supplied", `${names(r.supplied)} (from --clip-weights)`);
  if (r.dropped.length) row("dropped", `${r.dropped.length}: ${names(r.dropped)}`);
  if (r.unexpected.length) row("unmapped", `${r.unexpected.length}: ${names(r.unexpected)}`);
  if (r.missing.length) row("missing", `${r.missing.length}: ${names(r.missing)}`);
  if (r.mismatched.length) {
    row(
      "shapes",
      `${r.mismatched.length} wrong: ${
        names(r.mismatched.map((m) => `${m.name} [${m.got}] (expected [${m.expected}])`))
      }`,
    );
  }
  if (r.missing.includes("token_embedding.weight") && w.naming === "vifi") {
    console.log(
      "note: ViFi-CLIP checkpoints have no token embedding; pass --clip-weights with an OpenAI CLIP file",
    );
  }
}

async function inspect(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      json: { type: "boolean", default: false },
      "non-strict": { type: "boolean", default: false },
      "clip-weights": { type: "string" },
      "head-width": { type: "string" },
    },
  });
  if (positionals.length !== 1) throw new UsageError("inspect takes exactly one FILE");
  const file = positionals[0];
  const headWidth = values["head-width"] === undefined
    ? undefined
    : intArg(values["head-width"], "head-width", 0, 1);
  try {
    // headers only: a multi-gigabyte checkpoint is described without reading its tensors
    const w = await inspectWeights(file, {
      strict: !values["non-strict"],
      clipWeights: values["clip-weights"],
      headWidth,
    });
    const summary = inspectSummary(file, w);
    if (values.json) console.log(JSON.stringify(summary, null, 2));
    else printInspect(summary, w);
    return 0;
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    if (values.json) {
      const report = e instanceof WeightMappingError ? e.report : undefined;
      console.log(JSON.stringify({ file, error: message, report }, null, 2));
    } else {
      console.error(message);
      if (message.includes("head width")) {
        console.error("(--head-width sets the width of one attention head)");
      }
      if (e instanceof WeightMappingError) {
        console.error("(--non-strict shows the rest of the file; the tensors that fit still load that way)");
      }
    }
    return 1;
  }
}

async function download(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      cache: { type: "string" },
      "base-url": { type: "string" },
      "no-vocab": { type: "boolean", default: false },
      json: { type: "boolean", default: false },
    },
  });
  if (positionals.length !== 1) throw new UsageError("download takes exactly one model name");
  const name = positionals[0];
  if (!CLIP_RELEASES[name]) {
    throw new UsageError(
      `unknown model ${JSON.stringify(name)}; choose one of ${Object.keys(CLIP_RELEASES).join(", ")}`,
    );
  }
  if (values["base-url"]) {
    try {
      new URL(values["base-url"]);
    } catch {
      throw new UsageError(`--base-url ${JSON.stringify(values["base-url"])} is not a URL`);
    }
  }
  try {
    const cacheDir = values.cache ?? defaultCacheDir();
    const got = await downloadClip(name, {
      cacheDir,
      baseUrl: values["base-url"],
      vocab: !values["no-vocab"],
      progress: true,
      log: (m) => console.error(m),
    });
    if (values.json) console.log(JSON.stringify({ model: name, cache: cacheDir, ...got }, null, 2));
    else {
      for (const [what, r] of Object.entries(got)) {
        if (!r) continue;
        console.log(
          `${what.padEnd(8)}${r.path} (${r.cached ? "already cached" : "downloaded"}, sha256 ${r.sha256})`,
        );
      }
    }
    return 0;
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    if (values.json) {
      console.log(
        JSON.stringify({ model: name, error: message, hashMismatch: e instanceof HashMismatchError }),
      );
    } else console.error(message);
    return 1;
  }
}

export async function main(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  try {
    if (command === "inspect") return await inspect(rest);
    if (command === "download") return await download(rest);
    if (command === "-h" || command === "--help" || command === "help") {
      console.log(USAGE);
      return 0;
    }
    throw new UsageError(command ? `unknown command ${JSON.stringify(command)}` : "no command");
  } catch (e) {
    // parseArgs reports unknown flags as TypeErrors with a code; both are the user's to fix
    if (e instanceof UsageError || (e instanceof TypeError && "code" in e)) {
      console.error(`${e.message}\n\n${USAGE}`);
      return 2;
    }
    throw e;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
