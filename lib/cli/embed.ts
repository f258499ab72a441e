// `deno task embed`: pooled, L2-normalised video embeddings (and class text embeddings) for retrieval,
// clustering or a linear probe outside vifi. One test view per video (segment-centre frames, centre
// crop); the file is safetensors so numpy/torch read it without vifi. Exit codes as predict.

import { parseArgs } from "node:util";
import { prepareVideo } from "../data/prepare.ts";
import { joinPath, readList, readVideoBytes } from "../data/lists.ts";
import { writeSafetensors } from "../io/safetensors.ts";
import { writeFileAtomic } from "../io/atomic-write.ts";
import { Tensor } from "../tensor/tensor.ts";
import { checkInputSize, LIMITS_USAGE } from "../video/limits.ts";
import { frozenModel, type ModelChoice, promptsFor } from "../predict/predict.ts";
import { intArg, reportError, UsageError } from "./args.ts";
import { labelsFrom, MODEL_OPTIONS, modelChoice } from "./model-options.ts";

const USAGE = `usage:
  deno task embed (VIDEO... | --list FILE --root DIR) --weights FILE [--out FILE.safetensors] [--frames T]
                  [--batch N] [--labels "a,b" | --labels-file CSV] [--template S] [--clip-weights FILE]
                  [--vocab FILE] [--tokenizer clip|bytes] [--head-width N] [--precision f32|f16|auto]
      writes "video" [N, E] (mean of the T projected frame embeddings, L2-normalised) and, with labels,
      "text" [C, E] (normalised class prompt embeddings) to --out (default embeddings.safetensors); the
      metadata holds "paths" and "labels" as JSON arrays
  --labels        class names separated by commas, CSV quoting for names with commas: '"a, b",c';
                  --labels-file: a label CSV (id,name); repeated names are refused
  --list/--root   an upstream list file ("<path> <label>" lines) and the folder (or .tar root) it is relative to
  ${LIMITS_USAGE}`;

export interface EmbedOptions extends ModelChoice {
  frames: number;
  batch?: number;
  labels?: string[];
  /** list-file entries are relative to this root (a folder, or a tar root as the loader treats it) */
  root?: string;
}

export interface Embeddings {
  /** [N, E] */
  video: Float32Array;
  /** [C, E] when labels were given */
  text?: Float32Array;
  dim: number;
  paths: string[];
  labels?: string[];
}

export async function embedVideos(paths: string[], opts: EmbedOptions): Promise<Embeddings> {
  const loaded = await frozenModel(opts);
  const { model, config } = loaded;
  const rt = model.clip.rt;
  try {
    const E = config.embedDim;
    const S = config.vision.resolution;
    const T = opts.frames;
    const batch = opts.batch ?? 4;
    const most = Math.min(batch, paths.length);
    checkInputSize(`a batch of ${most} video${most > 1 ? "s" : ""}`, most, T, S);
    // The model always pairs videos with classes; without labels one throwaway prompt stands in.
    const labels = opts.labels ?? ["video"];
    const { tokens } = await promptsFor(loaded, labels, {
      ...opts,
      template: opts.labels ? opts.template : "{name}",
    });
    const C = labels.length;
    const video = new Float32Array(paths.length * E);
    let text: Float32Array | undefined;
    const tarCache = new Map();
    for (let start = 0; start < paths.length; start += batch) {
      const part = paths.slice(start, start + batch);
      const frames = new Float32Array(part.length * T * 3 * S * S);
      for (let i = 0; i < part.length; i++) {
        let bytes: Uint8Array;
        try {
          bytes = opts.root !== undefined
            ? await readVideoBytes(opts.root, part[i], tarCache)
            : await Deno.readFile(part[i]);
        } catch (e) {
          throw new Error(`vifi: cannot read video ${part[i]}: ${(e as Error).message}`);
        }
        const path = opts.root !== undefined ? joinPath(opts.root, part[i]) : part[i];
        const prep = await prepareVideo({ path, mode: "test", frames: T, size: S, seed: 0 }, bytes);
        frames.set(prep.data, i * T * 3 * S * S);
      }
      const t = Tensor.from(rt, frames, [part.length, T, 3, S, S], "f32", "frames");
      try {
        const out = await model.embed(t, tokens, C);
        video.set(out.video, start * E);
        text ??= out.text;
      } finally {
        t.dispose();
      }
    }
    return { video, text: opts.labels ? text : undefined, dim: E, paths, labels: opts.labels };
  } finally {
    model.dispose();
  }
}

export function embeddingsFile(e: Embeddings, extra: Record<string, string> = {}): Uint8Array {
  const tensors = new Map([["video", {
    dtype: "F32" as const,
    shape: [e.paths.length, e.dim],
    data: e.video,
  }]]);
  if (e.text && e.labels) {
    tensors.set("text", { dtype: "F32", shape: [e.labels.length, e.dim], data: e.text });
  }
  const meta: Record<string, string> = {
    format: "vifi-embeddings",
    paths: JSON.stringify(e.paths),
    ...extra,
  };
  if (e.labels) meta.labels = JSON.stringify(e.labels);
  return writeSafetensors(tensors, meta);
}

export async function main(args: string[]): Promise<number> {
  try {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: {
        ...MODEL_OPTIONS,
        list: { type: "string" },
        root: { type: "string" },
        out: { type: "string", short: "o" },
        batch: { type: "string" },
      },
    });
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    const model = modelChoice(values);
    if (values.list !== undefined && positionals.length) {
      throw new UsageError("give VIDEO files or --list, not both");
    }
    if ((values.list === undefined) !== (values.root === undefined)) {
      throw new UsageError("--list and --root go together");
    }
    let paths = positionals;
    if (values.list !== undefined) paths = (await readList(values.list)).map((it) => it.path);
    if (!paths.length) throw new UsageError("no videos: give VIDEO files or --list FILE --root DIR");
    const out = values.out ?? "embeddings.safetensors";
    const frames = intArg(values.frames, "frames", 8, 1);
    const e = await embedVideos(paths, {
      ...model,
      frames,
      batch: intArg(values.batch, "batch", 4, 1),
      labels: await labelsFrom(values.labels, values["labels-file"]),
      root: values.root,
    });
    await writeFileAtomic(
      out,
      embeddingsFile(e, {
        weights: model.weights,
        frames: String(frames),
        ...(values.root ? { root: values.root } : {}),
      }),
    );
    console.log(
      `${out}: video [${e.paths.length}, ${e.dim}]` +
        (e.labels ? `, text [${e.labels.length}, ${e.dim}]` : ""),
    );
    return 0;
  } catch (e) {
    return reportError(e, USAGE);
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
