// `deno task weights inspect FILE`: what a weight file is (container, naming, architecture, size,
// prompt tensors, what could not be mapped) before anything tries to train on it.
// `deno task weights download ViT-B/16`: OpenAI's release and the BPE vocabulary into the cache,
// verified against their SHA-256. Exit codes: 0 fine, 1 the file or download failed, 2 usage.

import { parseArgs } from "node:util";
import { describeWeights, type WeightsDescription } from "../models/weights/describe.ts";
import { CLIP_RELEASES, defaultCacheDir, downloadClip, HashMismatchError } from "../io/download.ts";
import { intArg, UsageError } from "./args.ts";

const USAGE = `usage:
  deno task weights inspect FILE [--json] [--non-strict] [--clip-weights FILE] [--head-width N]
      format, naming, architecture, parameter count, dtypes, prompt tensors, dropped and unmapped keys
      of a .pt / .pth / .safetensors file (OpenAI, ViFi-CLIP or Hugging Face naming), what else loading
      it needs and whether a strict / non-strict load accepts it; exit 0 whenever the file can be read
  deno task weights download ${
  Object.keys(CLIP_RELEASES).join("|")
} [--cache DIR] [--base-url URL] [--no-vocab] [--json]
      OpenAI's CLIP release and the BPE vocabulary into DIR (default $VIFI_CACHE or ~/.cache/vifi),
      SHA-256 verified, resuming partial downloads`;

/** The JSON `inspect --json` prints: the description, with the file it describes. */
export function inspectSummary(file: string, d: WeightsDescription): Record<string, unknown> {
  const { meta: _meta, ...rest } = d;
  return { file, ...rest };
}

const show = (x: number | null) => x === null ? "?" : String(x);

function printInspect(file: string, d: WeightsDescription): void {
  const r = d.report;
  const v = d.arch.vision, t = d.arch.text;
  const row = (k: string, value: string) => console.log(`${k.padEnd(10)}${value}`);
  const names = (list: string[], count = 8) =>
    list.slice(0, count).join(", ") + (list.length > count ? `, … (${list.length - count} more)` : "");
  row("file", file);
  row("format", d.format);
  row("naming", d.naming ?? "unknown");
  row(
    "image",
    `width ${show(v.width)}, layers ${v.layers}, heads ${show(v.heads)}, patch ${show(v.patch)}, ` +
      `resolution ${show(v.resolution)} (${show(v.tokens)} tokens)`,
  );
  row(
    "text",
    `width ${show(t.width)}, layers ${t.layers}, heads ${show(t.heads)}, context ${show(t.context)}, ` +
      `vocab ${show(t.vocab)}`,
  );
  row("embed", show(d.arch.embedDim));
  for (const u of d.unknown) row("unknown", u);
  row("tensors", `${d.tensors} in the file, ${d.mapped} mapped`);
  row("params", d.params.toLocaleString("en-US"));
  row("dtypes", Object.entries(d.dtypes).map(([k, n]) => `${k} ×${n}`).join(", ") || "—");
  if (d.prompts) {
    const p = d.prompts.config;
    row(
      "prompts",
      `${d.prompts.names.length} tensors` +
        (p
          ? `: text ${p.textCtx} tokens × depth ${p.textDepth}, vision ${p.visionCtx} tokens × depth ${p.visionDepth}`
          : ""),
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
  for (const n of d.needs) row("needs", n);
  const verdict = (x: { ok: boolean }) => x.ok ? "yes" : "no";
  row("loads", `strict ${verdict(d.load.strict)}, non-strict ${verdict(d.load.nonStrict)}`);
}

async function inspect(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      json: { type: "boolean", default: false },
      // accepted for old scripts: inspect always describes, and says what both loads would do
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
    const d = await describeWeights(file, { clipWeights: values["clip-weights"], headWidth });
    if (values.json) console.log(JSON.stringify(inspectSummary(file, d), null, 2));
    else printInspect(file, d);
    return 0;
  } catch (e) {
    // only a file that cannot be read as weights at all gets here
    const message = e instanceof Error ? e.message : String(e);
    if (values.json) console.log(JSON.stringify({ file, error: message }, null, 2));
    else console.error(message);
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
